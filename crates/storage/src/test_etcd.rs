//! [`TestEtcd`]: a throw-away single-member etcd for tests and benchmarks.
//!
//! Not behind `cfg(test)` so other crates' tests can use it. It needs the
//! `etcd` binary (Debian: `apt-get install etcd-server`); when it is missing
//! [`TestEtcd::start`] returns an error saying so, and tests should fail, not
//! skip.
//!
//! etcd runs under a tiny `sh` guardian whose stdin is a pipe from this
//! process: when the pipe closes (the `TestEtcd` is dropped, or this process
//! dies, even by `kill -9`, or never drops a `static`), the guardian kills
//! etcd, waits for it and removes the data directory. So no etcd outlives
//! the test run.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// How long etcd may take to become healthy.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts when a freshly picked port was taken in the meantime.
const START_ATTEMPTS: usize = 3;

/// The guardian: `$1` = our temp dir, the rest = etcd's argv. It runs etcd
/// in the background and exits when etcd exits. A helper blocks on the
/// inherited stdin pipe; at EOF (drop, or death of this process) it marks the
/// stop and kills etcd, and the guardian then deletes the temp dir.
const GUARDIAN: &str = r#"dir="$1"; shift
exec 3<&0
"$@" >"$dir/etcd.log" 2>&1 </dev/null &
pid=$!
( cat <&3 >/dev/null; touch "$dir/stop"; kill "$pid" 2>/dev/null ) &
wait "$pid"
if [ -e "$dir/stop" ]; then rm -rf "$dir"; fi
"#;

/// A running etcd. Dropping it stops etcd and deletes its data.
#[derive(Debug)]
pub struct TestEtcd {
    guardian: Child,
    /// Closing this tells the guardian to stop etcd.
    stdin: Option<ChildStdin>,
    dir: PathBuf,
    endpoint: String,
}

impl TestEtcd {
    /// Start etcd on free loopback ports and wait until it is healthy.
    pub fn start() -> Result<TestEtcd, String> {
        Self::start_with(&[])
    }

    /// [`TestEtcd::start`] with extra etcd flags (`--backend-batch-limit=100`).
    pub fn start_with(extra_flags: &[String]) -> Result<TestEtcd, String> {
        let binary = find_etcd()?;
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(&binary, extra_flags) {
                Ok(etcd) => return Ok(etcd),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The client URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    fn start_once(binary: &Path, extra_flags: &[String]) -> Result<TestEtcd, String> {
        let dir = tempfile::Builder::new()
            .prefix("test-etcd-")
            .tempdir()
            .map_err(|e| format!("creating a temp dir for etcd: {e}"))?
            .keep();
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let data_dir = dir.join("data");
        let mut guardian = Command::new("sh")
            .arg("-c")
            .arg(GUARDIAN)
            .arg("test-etcd")
            .arg(&dir)
            .arg(binary)
            .arg("--name=default")
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=default={peer_url}"))
            .args(extra_flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let stdin = guardian.stdin.take();
        let mut etcd = TestEtcd {
            guardian,
            stdin,
            dir,
            endpoint: client_url,
        };
        etcd.wait_healthy(client_port)?;
        Ok(etcd)
    }

    fn wait_healthy(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut delay = Duration::from_millis(20);
        while Instant::now() < deadline {
            if health(port) {
                return Ok(());
            }
            if matches!(self.guardian.try_wait(), Ok(Some(_))) {
                break; // etcd exited (the guardian exits with it)
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
        }
        let log = std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        Err(format!(
            "etcd at {} did not become healthy; last log lines:\n{tail}",
            self.endpoint
        ))
    }
}

impl Drop for TestEtcd {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.guardian.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `etcd` from `PATH`, else `/usr/bin/etcd`.
fn find_etcd() -> Result<PathBuf, String> {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file());
    let fallback = PathBuf::from("/usr/bin/etcd");
    from_path
        .or_else(|| fallback.is_file().then_some(fallback))
        .ok_or_else(|| {
            "the `etcd` binary was not found in PATH or at /usr/bin/etcd; \
             install it with `apt-get install etcd-server`"
                .to_owned()
        })
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))
}

/// Whether etcd's `/health` endpoint says `"health":"true"`.
fn health(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let request = format!("GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.contains("\"health\":\"true\"")
}
