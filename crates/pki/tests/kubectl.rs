//! The real kubectl reads our kubeconfig, trusts our serving certificate and
//! presents our client certificate, which our verifier accepts.
//!
//! Skipped (with a message) when kubectl is not installed; set
//! `FERROKUBE_KUBECTL` to use another binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pki::{apiserver_sans, Ca, Kubeconfig, Validity};

const DEFAULT_KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

fn kubectl_bin() -> Option<PathBuf> {
    let path = std::env::var_os("FERROKUBE_KUBECTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_KUBECTL));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("skipping: kubectl not found at {}", path.display());
        None
    }
}

fn kubectl(bin: &Path, home: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .env_clear()
        .env("HOME", home)
        .env("PATH", "/usr/bin:/bin")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap()
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn hour() -> Validity {
    Validity::from_now(Duration::from_secs(3600))
}

#[test]
fn kubectl_reads_the_kubeconfig() {
    let Some(bin) = kubectl_bin() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::generate("kubernetes").unwrap();
    let admin = ca
        .issue_client("kubernetes-admin", &["system:masters".into()], hour())
        .unwrap();
    let config = Kubeconfig::new("ferrokube", "https://127.0.0.1:6443", ca.cert_pem())
        .with_client_cert("kubernetes-admin", &admin.cert_pem, &admin.key_pem)
        .with_token("robot", "abc.def");
    let path = tmp.path().join("admin.conf");
    config.write(&path).unwrap();

    let name = stdout_ok(&kubectl(
        &bin,
        tmp.path(),
        &path,
        &["config", "view", "--raw", "-o", "jsonpath={.users[0].name}"],
    ));
    assert_eq!(name, "kubernetes-admin");

    let cert_data = stdout_ok(&kubectl(
        &bin,
        tmp.path(),
        &path,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[0].user.client-certificate-data}",
        ],
    ));
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(cert_data.trim())
        .unwrap();
    assert_eq!(decoded, admin.cert_pem.as_bytes());

    let token = stdout_ok(&kubectl(
        &bin,
        tmp.path(),
        &path,
        &[
            "config",
            "view",
            "--raw",
            "-o",
            "jsonpath={.users[1].user.token}",
        ],
    ));
    assert_eq!(token, "abc.def");

    let contexts = stdout_ok(&kubectl(
        &bin,
        tmp.path(),
        &path,
        &["config", "get-contexts"],
    ));
    let current: Vec<&str> = contexts.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "{contexts}");
    assert!(
        current[0].contains("kubernetes-admin@ferrokube")
            && current[0].contains("ferrokube")
            && current[0].contains("kubernetes-admin"),
        "{contexts}"
    );
    assert!(contexts.contains("robot@ferrokube"), "{contexts}");

    let current = stdout_ok(&kubectl(
        &bin,
        tmp.path(),
        &path,
        &["config", "current-context"],
    ));
    assert_eq!(current.trim(), "kubernetes-admin@ferrokube");
}

/// A one-route HTTPS server on loopback built from `pki::tls::server_config`
/// that answers every request with the client identity it verified.
struct WhoAmIServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WhoAmIServer {
    fn start(cert_pem: &str, key_pem: &str, client_ca_pem: &str) -> WhoAmIServer {
        let mut config = pki::tls::server_config(cert_pem, key_pem, Some(client_ca_pem)).unwrap();
        // This little server speaks HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming().take(20) {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                if req.is_empty() {
                    continue;
                }
                let identity = tls
                    .conn
                    .peer_certificates()
                    .and_then(|chain| pki::identity_from_cert_der(&chain[0]).ok());
                let body = match identity {
                    Some((user, groups)) => serde_json::json!({"user": user, "groups": groups}),
                    None => serde_json::json!({"user": null}),
                }
                .to_string();
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    body.len(),
                    body
                );
                let _ = tls.write_all(resp.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        WhoAmIServer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for WhoAmIServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn kubectl_does_mutual_tls_with_our_certificates() {
    let Some(bin) = kubectl_bin() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let ca = Ca::generate("kubernetes").unwrap();
    let (dns, ips) = apiserver_sans(
        &["node-1".into()],
        &[],
        "10.96.0.1".parse().unwrap(),
        "cluster.local",
    );
    let serving = ca
        .issue_serving("kube-apiserver", &dns, &ips, hour())
        .unwrap();
    let admin = ca
        .issue_client(
            "kubernetes-admin",
            &["system:masters".into(), "devs".into()],
            hour(),
        )
        .unwrap();
    let server = WhoAmIServer::start(&serving.cert_pem, &serving.key_pem, ca.cert_pem());

    // By IP (127.0.0.1 SAN) and by name (localhost SAN).
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("https://{host}:{}", server.port);
        let path = tmp.path().join(format!("{host}.conf"));
        Kubeconfig::new("ferrokube", &url, ca.cert_pem())
            .with_client_cert("kubernetes-admin", &admin.cert_pem, &admin.key_pem)
            .write(&path)
            .unwrap();
        let out = stdout_ok(&kubectl(
            &bin,
            tmp.path(),
            &path,
            &["get", "--raw", "/whoami", "--request-timeout=20s"],
        ));
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["user"], "kubernetes-admin", "{host}");
        assert_eq!(
            v["groups"],
            serde_json::json!(["system:masters", "devs"]),
            "{host}"
        );
    }

    // kubectl refuses a server whose certificate comes from another CA.
    let other = Ca::generate("kubernetes").unwrap();
    let path = tmp.path().join("other.conf");
    Kubeconfig::new(
        "ferrokube",
        &format!("https://127.0.0.1:{}", server.port),
        other.cert_pem(),
    )
    .with_client_cert("kubernetes-admin", &admin.cert_pem, &admin.key_pem)
    .write(&path)
    .unwrap();
    let out = kubectl(
        &bin,
        tmp.path(),
        &path,
        &["get", "--raw", "/whoami", "--request-timeout=20s"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
}
