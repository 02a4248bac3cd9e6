//! A real cluster for integration tests: the `apiserver` binary on a free
//! loopback port over HTTPS, with a generated PKI, RBAC and the embedded
//! store in a temp dir; one kubeconfig per component identity; component
//! binaries spawned from the same target directory; the real kubectl.
//! Everything is killed and removed when the [`Cluster`] drops.
//!
//! The binaries must be built first (`hack/test.sh` builds the workspace;
//! by hand: `cargo build -p apiserver -p scheduler ...`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// kubectl used as the oracle.
pub const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A running cluster (the API server; components are [`Cluster::spawn`]ed).
pub struct Cluster {
    apiserver: Process,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts the API server with default flags and waits until it serves.
    pub async fn start() -> Cluster {
        Self::start_with(&[]).await
    }

    /// Same, with extra apiserver flags.
    pub async fn start_with(extra_args: &[&str]) -> Cluster {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(extra_args).await {
                Ok(c) => return c,
                Err(e) => last = e,
            }
        }
        panic!("apiserver did not start: {last}");
    }

    async fn try_start(extra_args: &[&str]) -> Result<Cluster, String> {
        let port = free_port();
        let dir = tempfile::Builder::new().prefix("ferrokube-cluster").tempdir().map_err(|e| e.to_string())?;
        let pki = dir.path().join("pki");
        let data = dir.path().join("data");
        let kubeconfigs = dir.path().join("kubeconfigs");
        let mut args: Vec<String> = vec![
            "--secure-port".into(),
            port.to_string(),
            "--bind-address".into(),
            "127.0.0.1".into(),
            "--pki-dir".into(),
            pki.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
            "--write-kubeconfigs".into(),
            kubeconfigs.display().to_string(),
        ];
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let apiserver = Process::spawn(dir.path(), "apiserver", &args)?;
        let mut cluster = Cluster { apiserver, port, dir };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = cluster.apiserver.exited() {
                return Err(format!("apiserver exited with {status}: {}", cluster.apiserver.log_tail()));
            }
            if cluster.kubeconfig("admin").exists() {
                if let Ok(client) = cluster.try_admin_client().await {
                    let ready: Result<String, _> = client.request_text(http_get("/readyz")).await;
                    if ready.map(|t| t.trim() == "ok").unwrap_or(false) {
                        return Ok(cluster);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!("not ready within {READY_TIMEOUT:?}: {}", cluster.apiserver.log_tail()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// The cluster's temp directory (PKI in `pki/`, store in `data/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The generated PKI directory (kubeadm layout: `ca.crt`, `ca.key`, ...).
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// The kubeconfig of one identity: `admin`, `scheduler`,
    /// `controller-manager`, `proxy`, `node-simulator`.
    pub fn kubeconfig(&self, name: &str) -> PathBuf {
        self.dir.path().join("kubeconfigs").join(format!("{name}.conf"))
    }

    async fn try_admin_client(&self) -> anyhow::Result<kube::Client> {
        component::client_from_kubeconfig(&component::ClientOptions::new(Some(self.kubeconfig("admin")))).await
    }

    /// A client with the admin (system:masters) identity.
    pub async fn admin_client(&self) -> kube::Client {
        self.client("admin").await
    }

    /// A client with the identity of `kubeconfig(name)`.
    pub async fn client(&self, name: &str) -> kube::Client {
        component::client_from_kubeconfig(&component::ClientOptions::new(Some(self.kubeconfig(name))))
            .await
            .expect("client from kubeconfig")
    }

    /// Spawns `target/<profile>/<binary> args...` with its output in
    /// `<dir>/<binary>-<n>.log`; killed when the returned handle drops.
    pub fn spawn(&self, binary: &str, args: &[&str]) -> Process {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Process::spawn(self.dir.path(), binary, &args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The scheduler, the controller-manager (without leader election,
    /// signing with the cluster CA) and a node simulator with `nodes`
    /// nodes, as `hack/up.sh` runs them. Killed when the handles drop.
    pub fn spawn_components(&self, nodes: usize) -> Vec<Process> {
        let pki = self.pki_dir();
        let path = |p: PathBuf| p.display().to_string();
        let (ca_crt, ca_key) = (path(pki.join("ca.crt")), path(pki.join("ca.key")));
        let (cm, sched, sim) =
            (path(self.kubeconfig("controller-manager")), path(self.kubeconfig("scheduler")), path(self.kubeconfig("node-simulator")));
        let nodes = nodes.to_string();
        vec![
            self.spawn(
                "controller-manager",
                &[
                    "--kubeconfig", &cm, "--leader-elect=false",
                    "--cluster-signing-cert-file", &ca_crt, "--cluster-signing-key-file", &ca_key, "--root-ca-file", &ca_crt,
                    "--cluster-cidr", "10.244.0.0/16", "--allocate-node-cidrs",
                ],
            ),
            self.spawn("scheduler", &["--kubeconfig", &sched, "--leader-elect=false"]),
            self.spawn("node-simulator", &["--kubeconfig", &sim, "--nodes", &nodes]),
        ]
    }

    /// Runs the real kubectl 1.33 with the admin kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_as("admin", args)
    }

    /// kubectl (admin) that must succeed; returns its stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {}: {}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Polls `kubectl args` until it succeeds with a stdout that satisfies
    /// `check`; panics with the last output after `timeout`.
    pub fn kubectl_until(&self, timeout: Duration, args: &[&str], check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.kubectl(args);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            if out.status.success() && check(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("kubectl {} never satisfied the check; last output:\n{text}\n{}", args.join(" "), String::from_utf8_lossy(&out.stderr));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// `kubectl apply -f` of a manifest written to a fresh file.
    pub fn kubectl_apply(&self, yaml: &str) -> String {
        let path = (0..).map(|n| self.dir().join(format!("manifest-{n}.yaml"))).find(|p| !p.exists()).expect("a free name");
        std::fs::write(&path, yaml).expect("write manifest");
        self.kubectl_ok(&["apply", "-f", &path.display().to_string()])
    }

    /// Runs the real kubectl 1.33 with the kubeconfig of `identity`.
    pub fn kubectl_as(&self, identity: &str, args: &[&str]) -> Output {
        let home = self.dir.path().join("kubectl-home");
        std::fs::create_dir_all(&home).expect("kubectl home");
        Command::new(KUBECTL)
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .env("KUBECONFIG", self.kubeconfig(identity))
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// The API server's log, last lines.
    pub fn apiserver_log_tail(&self) -> String {
        self.apiserver.log_tail()
    }
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::builder().method("GET").uri(path).body(Vec::new()).expect("request")
}

/// A spawned binary, killed (with its process group) on drop.
pub struct Process {
    child: Child,
    pub binary: String,
    log: PathBuf,
}

impl Process {
    fn spawn(dir: &Path, binary: &str, args: &[String]) -> Result<Process, String> {
        let exe = binary_path(binary);
        if !exe.exists() {
            return Err(format!("{} is not built; run `cargo build -p <crate>` (hack/test.sh builds the workspace)", exe.display()));
        }
        let log = unique_log(dir, binary);
        let out = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(&exe)
            .args(args)
            .env("RUST_LOG", std::env::var("HARNESS_RUST_LOG").unwrap_or_else(|_| "info".into()))
            // Scratch files (e.g. service-account token files) live and die
            // with the cluster's directory, even when the process is killed.
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", exe.display()))?;
        Ok(Process { child, binary: binary.to_string(), log })
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Last 40 lines of the process's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// The whole log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL now (a crash, for failover tests).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // A failing test shows what each process said last.
            eprintln!("----- last lines of {} ({}) -----\n{}", self.binary, self.log.display(), self.log_tail());
        }
    }
}

/// `target/<profile>/<binary>`, found next to the running test executable
/// (`target/<profile>/deps/<test>-<hash>`).
pub fn binary_path(binary: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(binary)
}

fn unique_log(dir: &Path, binary: &str) -> PathBuf {
    (0..)
        .map(|n| dir.join(format!("{binary}-{n}.log")))
        .find(|p| !p.exists())
        .expect("a free log name")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// Polls `check` every 100 ms until it returns `Some`, or panics with
/// `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
