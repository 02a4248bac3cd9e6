//! The API server under test, run as a child process of the harness (as an
//! operator would run it), on a free loopback port, with its log in a file.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use hyper::{Method, StatusCode};
use tokio::process::{Child, Command};

use crate::client;

/// How long start-up may take before we call it a hang.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a SIGTERM'd server may take to exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Readiness polling interval (the resolution of the cold-start figure).
const READY_POLL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
pub enum Backend {
    Embedded,
    Etcd { endpoint: String },
}

pub struct ApiServer {
    bin: PathBuf,
    name: String,
    data_dir: PathBuf,
    backend: Backend,
    log: PathBuf,
    child: Option<Child>,
    pub addr: SocketAddr,
}

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

impl ApiServer {
    /// Start a server and wait until `/readyz` says 200. Returns the server
    /// and the time from spawn to ready.
    pub async fn start(bin: &Path, name: &str, data_dir: &Path, backend: Backend, log_dir: &Path) -> anyhow::Result<(ApiServer, Duration)> {
        let mut server = ApiServer {
            bin: bin.to_path_buf(),
            name: name.to_string(),
            data_dir: data_dir.to_path_buf(),
            backend,
            log: log_dir.join(format!("apiserver-{name}.log")),
            child: None,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        };
        let took = server.launch().await?;
        Ok((server, took))
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Spawn (on a fresh free port; a few tries if the port was taken in
    /// between) and wait for readiness.
    async fn launch(&mut self) -> anyhow::Result<Duration> {
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_port()?;
            self.addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log)
                .with_context(|| format!("opening {}", self.log.display()))?;
            let log_err = log.try_clone().context("duplicating the log file handle")?;
            let log_len_before = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
            let mut command = Command::new(&self.bin);
            // Plain HTTP on 127.0.0.1 (`--port` is an alias); no HTTPS listener.
            command
                .arg("--insecure-port")
                .arg(port.to_string())
                .arg("--secure-port")
                .arg("0")
                .arg("--data-dir")
                .arg(&self.data_dir);
            if let Backend::Etcd { endpoint } = &self.backend {
                command.arg("--storage-backend").arg("etcd3").arg("--etcd-servers").arg(endpoint);
            }
            command.stdin(Stdio::null()).stdout(Stdio::from(log)).stderr(Stdio::from(log_err)).kill_on_drop(true);
            let started = Instant::now();
            let child = command.spawn().with_context(|| format!("starting {}", self.bin.display()))?;
            self.child = Some(child);
            match self.wait_ready().await {
                Ok(()) => return Ok(started.elapsed()),
                Err(e) => {
                    self.kill().await;
                    let tail = log_tail(&self.log, log_len_before);
                    if tail.contains("Address already in use") {
                        last_error = Some(e);
                        continue;
                    }
                    return Err(e.context(format!("apiserver {} did not start; log tail:\n{tail}", self.name)));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no attempt made")).context("no free port found"))
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().context("polling the apiserver process")? {
                    bail!("the apiserver exited with {status} before it was ready");
                }
            }
            if let Ok((StatusCode::OK, _)) = client::once(self.addr, Method::GET, "/readyz", Duration::from_secs(2)).await {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("/readyz not OK after {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// SIGTERM and wait for a clean exit. Returns how long the exit took.
    pub async fn stop(&mut self) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else { return Ok(Duration::ZERO) };
        let Some(pid) = child.id() else { return Ok(Duration::ZERO) };
        let started = Instant::now();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await
            .context("running kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {pid} failed: {status}");
        }
        match tokio::time::timeout(STOP_TIMEOUT, child.wait()).await {
            Ok(Ok(exit)) => {
                let took = started.elapsed();
                if !exit.success() {
                    bail!("apiserver {} exited with {exit} after SIGTERM", self.name);
                }
                Ok(took)
            }
            Ok(Err(e)) => Err(e).context("waiting for the apiserver to exit"),
            Err(_) => {
                let _ = child.kill().await;
                bail!("apiserver {} did not exit within {STOP_TIMEOUT:?} of SIGTERM (killed)", self.name)
            }
        }
    }

    /// Start again on the same data directory; returns spawn-to-ready time.
    pub async fn restart(&mut self) -> anyhow::Result<Duration> {
        if self.child.is_some() {
            self.stop().await?;
        }
        self.launch().await
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    pub fn memory(&self) -> anyhow::Result<Memory> {
        let pid = self.pid().context("the apiserver is not running")?;
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok(Memory { rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
    }

    /// Counts of WARN and ERROR lines in the server's log with a few
    /// distinct examples (server problems worth reporting).
    pub fn log_problems(&self) -> LogProblems {
        let text = std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let mut problems = LogProblems::default();
        for line in text.lines() {
            let plain = strip_ansi(line);
            if plain.contains("health check failed") || plain.contains("serving the insecure port") {
                // Our own readiness polling during start-up, and the notice
                // that plain HTTP is unauthenticated (expected here).
                continue;
            }
            let level = if plain.contains(" WARN ") {
                &mut problems.warn
            } else if plain.contains(" ERROR ") || plain.contains("panicked") {
                &mut problems.error
            } else {
                continue;
            };
            *level += 1;
            // Drop the timestamp so equal messages collapse.
            let message = plain.split_once(' ').map(|(_, m)| m.trim().to_string()).unwrap_or(plain);
            let message: String = message.chars().take(200).collect();
            if problems.examples.len() < 5 && !problems.examples.contains(&message) {
                problems.examples.push(message);
            }
        }
        problems
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

#[derive(Debug, Default)]
pub struct LogProblems {
    pub warn: usize,
    pub error: usize,
    pub examples: Vec<String>,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free loopback port")?;
    Ok(listener.local_addr().context("reading the bound port")?.port())
}

/// The last 30 lines written to `path` after byte offset `from`.
fn log_tail(path: &Path, from: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = (from as usize).min(bytes.len());
    let text = String::from_utf8_lossy(&bytes[start..]);
    let lines: Vec<String> = text.lines().map(strip_ansi).collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
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

/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ).
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at state.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// Busy and total CPU seconds of the whole machine, from `/proc/stat`.
pub fn machine_cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<f64> = line.split_whitespace().filter_map(|x| x.parse().ok()).collect();
    let total: f64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some(((total - idle) / USER_HZ, total / USER_HZ))
}

/// The pid of the process whose command line contains `needle` (e.g. the
/// etcd listening on a given URL), if exactly one does.
pub fn find_pid(program: &str, needle: &str) -> Option<u32> {
    let mut found = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_program = args.first().is_some_and(|a| a.rsplit('/').next() == Some(program));
        if is_program && args.iter().any(|a| a.contains(needle)) {
            if found.is_some() {
                return None;
            }
            found = Some(pid);
        }
    }
    found
}

/// CPU used between two points, in cores: the API server, etcd (when one
/// is involved), this harness and everything else on the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub apiserver: Option<f64>,
    pub etcd: Option<f64>,
    pub harness: Option<f64>,
    pub other: Option<f64>,
}

impl CpuUse {
    pub fn render(&self) -> String {
        let f = |x: Option<f64>| x.map_or("–".to_string(), |x| format!("{x:.2}"));
        format!("{} / {} / {} / {}", f(self.apiserver), f(self.etcd), f(self.harness), f(self.other))
    }
}

pub struct CpuMeter {
    at: Instant,
    apiserver: Option<(u32, f64)>,
    etcd: Option<(u32, f64)>,
    harness: Option<f64>,
    machine: Option<(f64, f64)>,
}

impl CpuMeter {
    pub fn start(apiserver: Option<u32>, etcd: Option<u32>) -> CpuMeter {
        let sample = |pid: Option<u32>| pid.and_then(|p| Some((p, process_cpu_seconds(&p.to_string())?)));
        CpuMeter {
            at: Instant::now(),
            apiserver: sample(apiserver),
            etcd: sample(etcd),
            harness: process_cpu_seconds("self"),
            machine: machine_cpu_seconds(),
        }
    }

    pub fn finish(&self) -> CpuUse {
        let wall = self.at.elapsed().as_secs_f64().max(f64::EPSILON);
        let of = |before: Option<(u32, f64)>| {
            before.and_then(|(pid, b)| process_cpu_seconds(&pid.to_string()).map(|a| (a - b) / wall))
        };
        let apiserver = of(self.apiserver);
        let etcd = of(self.etcd);
        let harness = match (self.harness, process_cpu_seconds("self")) {
            (Some(b), Some(a)) => Some((a - b) / wall),
            _ => None,
        };
        let busy = match (self.machine, machine_cpu_seconds()) {
            (Some((b0, _)), Some((b1, _))) => Some((b1 - b0) / wall),
            _ => None,
        };
        let other = busy.map(|busy| (busy - apiserver.unwrap_or(0.0) - etcd.unwrap_or(0.0) - harness.unwrap_or(0.0)).max(0.0));
        CpuUse { apiserver, etcd, harness, other }
    }
}
