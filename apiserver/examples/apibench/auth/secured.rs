//! The API server as deployed for authentication: HTTPS on a secure port
//! with the PKI it generates in `--pki-dir` (client CA, serving
//! certificate, service-account key), a static token file, and the
//! Node,RBAC authorizer; plus the loopback insecure port (the unsecured
//! superuser) for loading objects and as the no-auth reference. A child of
//! the harness (killed on drop, and with the harness's process group).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use tokio::process::{Child, Command};

use crate::client;

const READY_TIMEOUT: Duration = Duration::from_secs(120);

pub struct SecuredServer {
    child: Option<Child>,
    pub secure: SocketAddr,
    pub insecure: SocketAddr,
    pub pki_dir: PathBuf,
    log: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free loopback port")?;
    Ok(listener.local_addr().context("reading the bound port")?.port())
}

impl SecuredServer {
    /// Start with its data and PKI under `dir` and wait for `/readyz`.
    pub async fn start(bin: &Path, dir: &Path, token_file: &Path, log: PathBuf) -> anyhow::Result<SecuredServer> {
        let pki_dir = dir.join("pki");
        let mut last_error = None;
        for _ in 0..3 {
            let (secure, insecure) = (free_port()?, free_port()?);
            if secure == insecure {
                continue;
            }
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("opening {}", log.display()))?;
            let err = out.try_clone().context("duplicating the log file handle")?;
            let log_len_before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let mut command = Command::new(bin);
            command
                .arg("--bind-address")
                .arg("127.0.0.1")
                .arg("--secure-port")
                .arg(secure.to_string())
                .arg("--insecure-port")
                .arg(insecure.to_string())
                .arg("--pki-dir")
                .arg(&pki_dir)
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("--token-auth-file")
                .arg(token_file)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(err))
                .kill_on_drop(true);
            let child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
            let mut server = SecuredServer {
                child: Some(child),
                secure: SocketAddr::from((Ipv4Addr::LOCALHOST, secure)),
                insecure: SocketAddr::from((Ipv4Addr::LOCALHOST, insecure)),
                pki_dir: pki_dir.clone(),
                log: log.clone(),
            };
            match server.wait_ready().await {
                Ok(()) => return Ok(server),
                Err(e) => {
                    drop(server);
                    let tail = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default())
                        .get(log_len_before as usize..)
                        .unwrap_or("")
                        .lines()
                        .rev()
                        .take(30)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("\n");
                    if tail.contains("Address already in use") {
                        last_error = Some(e);
                        continue;
                    }
                    return Err(e.context(format!("the secured apiserver did not start; log tail:\n{tail}")));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")).context("no free ports found"))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("polling the apiserver process")? {
                    bail!("the apiserver exited with {status} before it was ready");
                }
            }
            if let Ok((StatusCode::OK, _)) = client::once(self.insecure, Method::GET, "/readyz", Duration::from_secs(2)).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("/readyz not OK after {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// WARN / ERROR lines of the log (our own readiness polling and the
    /// insecure-port notice aside): count and up to three examples.
    pub fn log_problems(&self) -> (usize, Vec<String>) {
        let text = String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned();
        let mut count = 0;
        let mut examples: Vec<String> = Vec::new();
        for line in text.lines() {
            let plain: String = strip_ansi(line);
            if plain.contains("health check failed") || plain.contains("serving the insecure port") {
                continue;
            }
            if plain.contains(" WARN ") || plain.contains(" ERROR ") || plain.contains("panicked") {
                count += 1;
                let message: String = plain.split_once(' ').map_or(plain.as_str(), |(_, m)| m.trim()).chars().take(200).collect();
                if examples.len() < 3 && !examples.contains(&message) {
                    examples.push(message);
                }
            }
        }
        (count, examples)
    }
}

impl Drop for SecuredServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
