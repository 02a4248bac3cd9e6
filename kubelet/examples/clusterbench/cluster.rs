//! The cluster under test: the release `apiserver` over HTTPS on a free
//! loopback port (generated PKI, RBAC, embedded store in a scratch dir, one
//! kubeconfig per component identity) and the component binaries, all
//! children of this process (so in the process group `hack/bench-cluster.sh`
//! kills on exit), with their logs in the log dir.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the binaries are and where scratch data and logs go.
#[derive(Debug, Clone)]
pub struct Env {
    pub bin_dir: PathBuf,
    pub scratch: PathBuf,
    pub logs: PathBuf,
}

/// One spawned binary; SIGKILLed on drop.
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// CPU seconds (user + system) so far, from `/proc/<pid>/stat`.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.pid().and_then(cpu_seconds)
    }

    /// Peak resident memory (`VmHWM`) in MiB.
    pub fn peak_rss_mib(&self) -> Option<f64> {
        self.pid().and_then(|pid| status_kib(pid, "VmHWM:")).map(|k| k as f64 / 1024.0)
    }

    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// The API server plus the kubeconfigs it wrote.
pub struct Cluster {
    pub apiserver: Proc,
    dir: PathBuf,
    env: Env,
    label: String,
}

impl Cluster {
    /// Starts a fresh API server (new scratch dir) and waits for `/readyz`.
    pub async fn start(env: &Env, label: &str) -> anyhow::Result<Cluster> {
        let dir = env.scratch.join(label);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let args: Vec<String> = vec![
            "--secure-port".into(),
            port.to_string(),
            "--bind-address".into(),
            "127.0.0.1".into(),
            "--pki-dir".into(),
            dir.join("pki").display().to_string(),
            "--data-dir".into(),
            dir.join("data").display().to_string(),
            "--write-kubeconfigs".into(),
            dir.join("kubeconfigs").display().to_string(),
        ];
        let apiserver = spawn(env, label, "apiserver", &args, &dir)?;
        let mut cluster = Cluster { apiserver, dir, env: env.clone(), label: label.to_string() };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if cluster.apiserver.exited() {
                bail!("apiserver exited: {}", cluster.apiserver.log_tail());
            }
            if cluster.kubeconfig("admin").exists() {
                // `/readyz` (not just serving): RBAC and the caches are up,
                // so components started next are not refused.
                if cluster.raw_get("/readyz").await.is_ok_and(|t| t.trim() == "ok") {
                    return Ok(cluster);
                }
            }
            if Instant::now() > deadline {
                bail!("apiserver not ready after {READY_TIMEOUT:?}: {}", cluster.apiserver.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn kubeconfig(&self, identity: &str) -> PathBuf {
        self.dir.join("kubeconfigs").join(format!("{identity}.conf"))
    }

    pub fn pki(&self, file: &str) -> String {
        self.dir.join("pki").join(file).display().to_string()
    }

    /// A client with the identity of `kubeconfig(identity)`.
    pub async fn client(&self, identity: &str) -> anyhow::Result<kube::Client> {
        component::client_from_kubeconfig(&component::ClientOptions::new(Some(self.kubeconfig(identity)))).await
    }

    /// Spawns a component binary (`scheduler`, `node-simulator`, ...).
    pub fn spawn(&self, binary: &str, args: &[String]) -> anyhow::Result<Proc> {
        spawn(&self.env, &self.label, binary, args, &self.dir)
    }

    pub fn scheduler(&self) -> anyhow::Result<Proc> {
        self.spawn("scheduler", &["--kubeconfig".into(), self.kubeconfig("scheduler").display().to_string(), "--leader-elect=false".into()])
    }

    pub fn simulator(&self, nodes: usize, extra: &[&str]) -> anyhow::Result<Proc> {
        let mut args = vec![
            "--kubeconfig".to_string(),
            self.kubeconfig("node-simulator").display().to_string(),
            "--nodes".into(),
            nodes.to_string(),
            "--pod-cidr-base".into(),
            "10.0.0.0/8".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.spawn("node-simulator", &args)
    }

    pub fn controller_manager(&self) -> anyhow::Result<Proc> {
        let args: Vec<String> = [
            "--kubeconfig",
            &self.kubeconfig("controller-manager").display().to_string(),
            "--leader-elect=false",
            "--cluster-signing-cert-file",
            &self.pki("ca.crt"),
            "--cluster-signing-key-file",
            &self.pki("ca.key"),
            "--root-ca-file",
            &self.pki("ca.crt"),
            "--cluster-cidr",
            "10.0.0.0/8",
            "--allocate-node-cidrs",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        self.spawn("controller-manager", &args)
    }

    /// `kubectl get --raw <path>` as admin (no HTTP client crate needed here).
    pub async fn raw_get(&self, path: &str) -> anyhow::Result<String> {
        let out = Command::new(KUBECTL)
            .args(["get", "--raw", path])
            .env("KUBECONFIG", self.kubeconfig("admin"))
            .env("HOME", &self.dir)
            .stdin(Stdio::null())
            .output()
            .await
            .context("running kubectl")?;
        if !out.status.success() {
            bail!("kubectl get --raw {path}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The API server is killed by its own drop; the store goes with the dir.
        let _ = self.apiserver.child.start_kill();
        let _ = std::fs::remove_dir_all(self.dir.join("data"));
    }
}

pub const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

fn spawn(env: &Env, label: &str, binary: &str, args: &[String], dir: &Path) -> anyhow::Result<Proc> {
    let exe = env.bin_dir.join(binary);
    if !exe.exists() {
        bail!("{} is not built (cargo build --release -p apiserver -p scheduler -p controller-manager -p kubelet)", exe.display());
    }
    let log = env.logs.join(format!("{label}-{binary}.log"));
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("duplicating a log handle")?;
    let child = Command::new(&exe)
        .args(args)
        .env("RUST_LOG", std::env::var("BENCH_RUST_LOG").unwrap_or_else(|_| "info".into()))
        .env("TMPDIR", dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {}", exe.display()))?;
    Ok(Proc { name: binary.to_string(), child, log })
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr().context("local addr")?.port())
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// utime + stime of a process in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// All CPU time of the machine (user+nice+system+irq+softirq+steal) in
/// seconds, from `/proc/stat`, to attribute what the measured processes did not use.
pub fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = v.first()? + v.get(1)? + v.get(2)? + v.get(5).unwrap_or(&0.0) + v.get(6).unwrap_or(&0.0) + v.get(7).unwrap_or(&0.0);
    Some(busy / clock_ticks())
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU of a set of processes over a window, in cores.
pub struct CpuWindow {
    start: Instant,
    before: Vec<(String, Option<u32>, Option<f64>)>,
    machine_before: Option<f64>,
    self_before: Option<f64>,
}

impl CpuWindow {
    pub fn start(procs: &[&Proc]) -> CpuWindow {
        CpuWindow {
            start: Instant::now(),
            before: procs.iter().map(|p| (p.name.clone(), p.pid(), p.cpu_seconds())).collect(),
            machine_before: machine_busy_seconds(),
            self_before: cpu_seconds(std::process::id()),
        }
    }

    /// `(name, cores)` for each process, then `harness` and `other`.
    pub fn finish(&self) -> Vec<(String, f64)> {
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let mut out = Vec::new();
        let mut accounted = 0.0;
        for (name, pid, before) in &self.before {
            let used = match (pid.and_then(cpu_seconds), before) {
                (Some(after), Some(before)) => after - before,
                _ => 0.0,
            };
            accounted += used;
            out.push((name.clone(), used / secs));
        }
        let harness = match (cpu_seconds(std::process::id()), self.self_before) {
            (Some(a), Some(b)) => a - b,
            _ => 0.0,
        };
        accounted += harness;
        out.push(("harness".into(), harness / secs));
        if let (Some(a), Some(b)) = (machine_busy_seconds(), self.machine_before) {
            out.push(("other".into(), ((a - b) - accounted).max(0.0) / secs));
        }
        out
    }
}

/// `1.23 apiserver, 0.40 scheduler, ...` (cores).
pub fn format_cpu(cpu: &[(String, f64)]) -> String {
    cpu.iter().map(|(n, c)| format!("{n} {c:.2}")).collect::<Vec<_>>().join(", ")
}
