//! End-to-end harness: the real `apiserver` binary on a free loopback port
//! and the real kubectl binaries as the oracle.
//!
//! * [`Server`] starts `apiserver --port P --data-dir D`, waits for
//!   `GET /readyz` = 200, and kills the process (and removes `D`) on drop.
//! * [`Kubectl`] runs one exact kubectl minor (`kubectl.1.32`, `kubectl.1.33`)
//!   with its own `HOME`, `TMPDIR` and kubeconfig, a clean environment and a
//!   hard timeout; the whole process group is killed when it runs over.
//! * [`Case`] + [`Kubectl::check_all`] are the table-driven `check(cmd, expect)`.
//!
//! Patterns in [`Case::out`] / [`Case::err`]:
//! * `"text"`: the stream contains `text`;
//! * `"!text"`: the stream does not contain `text`;
//! * `"~a b c"`: some line has the whitespace-separated fields `a b c`
//!   next to each other (table rows, `describe` lines: spacing-insensitive);
//! * `">a|b|c"`: `a`, `b` and `c` occur in this order.
//!
//! In commands and patterns `{fx}` is the fixtures directory, `{tmp}` the
//! kubectl's scratch directory and `{v}` its minor version (`1.33`).

#![allow(dead_code)]

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The kubectl minors every table runs with.
pub const VERSIONS: [&str; 2] = ["1.32", "1.33"];
const KUBECTL_DIR: &str = "/usr/lib/google-cloud-sdk/bin";
/// Upper bound for one kubectl invocation.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(30);
const READY_TIMEOUT: Duration = Duration::from_secs(15);

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

// ---------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------

pub struct Server {
    child: Child,
    pub port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the real binary on a free port; retries if the port was taken
    /// between probing and binding.
    pub fn start() -> Server {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start() {
                Ok(s) => return s,
                Err(e) => last = e,
            }
        }
        panic!("apiserver did not start: {last}");
    }

    fn try_start() -> Result<Server, String> {
        let port = free_port();
        let dir = tempfile::Builder::new().prefix("ferrokube-e2e-server").tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        let log = dir.path().join("apiserver.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_apiserver"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawn apiserver: {e}"))?;
        let mut server = Server { child, port, log, dir };
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("apiserver exited with {status}: {}", server.log_tail()));
            }
            if http_status(port, "/readyz") == Some(200) {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("/readyz not 200 within {READY_TIMEOUT:?}: {}", server.log_tail()))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A kubectl of one minor version (`"1.33"`) pointed at this server.
    pub fn kubectl(&self, version: &str) -> Kubectl {
        Kubectl::new(version, &self.url(), self.log.clone())
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// `GET path` over a fresh connection; the status code, if any answer came.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------
// kubectl
// ---------------------------------------------------------------------------

/// What one kubectl run produced. `code` is `None` when it was killed.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

pub struct Kubectl {
    pub version: String,
    bin: PathBuf,
    home: tempfile::TempDir,
    server_log: PathBuf,
}

impl Kubectl {
    fn new(version: &str, url: &str, server_log: PathBuf) -> Kubectl {
        let bin = Path::new(KUBECTL_DIR).join(format!("kubectl.{version}"));
        assert!(bin.exists(), "{} is not installed", bin.display());
        let home = tempfile::Builder::new().prefix(&format!("ferrokube-e2e-kubectl-{version}-")).tempdir().expect("tempdir");
        std::fs::create_dir_all(home.path().join(".kube")).expect("mkdir .kube");
        std::fs::create_dir_all(home.path().join("tmp")).expect("mkdir tmp");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: ferrokube\n  cluster:\n    server: {url}\n\
             contexts:\n- name: e2e\n  context:\n    cluster: ferrokube\n    user: e2e\n    namespace: default\n\
             current-context: e2e\nusers:\n- name: e2e\n  user: {{}}\n"
        );
        std::fs::write(home.path().join(".kube").join("config"), kubeconfig).expect("write kubeconfig");
        Kubectl { version: version.to_string(), bin, home, server_log }
    }

    /// Scratch directory (also `HOME`): files written here vanish with the test.
    pub fn tmp(&self) -> &Path {
        self.home.path()
    }

    /// Expands `{fx}`, `{tmp}` and `{v}`.
    pub fn expand(&self, s: &str) -> String {
        s.replace("{fx}", &fixtures().display().to_string())
            .replace("{tmp}", &self.tmp().display().to_string())
            .replace("{v}", &self.version)
    }

    fn command(&self, args: &[String], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()))
            .env("HOME", self.tmp())
            .env("KUBECONFIG", self.tmp().join(".kube").join("config"))
            .env("TMPDIR", self.tmp().join("tmp"))
            .env("LANG", "C.UTF-8")
            .current_dir(self.tmp())
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, self.expand(v));
        }
        cmd
    }

    /// Runs `kubectl <line>` (shell-like quoting, placeholders expanded).
    pub fn run(&self, line: &str) -> Output {
        self.run_env(line, &[])
    }

    pub fn run_env(&self, line: &str, env: &[(&str, &str)]) -> Output {
        self.run_full(line, env, None, KUBECTL_TIMEOUT)
    }

    /// Runs with `stdin` fed to the process (`apply -f -`).
    pub fn run_stdin(&self, line: &str, stdin: &str) -> Output {
        self.run_full(line, &[], Some(stdin), KUBECTL_TIMEOUT)
    }

    pub fn run_full(&self, line: &str, env: &[(&str, &str)], stdin: Option<&str>, timeout: Duration) -> Output {
        let args = self.args(line);
        let mut cmd = self.command(&args, env);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin piped");
            let input = input.to_string();
            std::thread::spawn(move || {
                let _ = pipe.write_all(input.as_bytes());
            });
        }
        let out = drain(child.stdout.take().expect("stdout piped"));
        let err = drain(child.stderr.take().expect("stderr piped"));
        let (status, timed_out) = wait_or_kill(&mut child, timeout);
        Output { code: status.and_then(|s| s.code()), stdout: join(out), stderr: join(err), timed_out }
    }

    /// Starts `kubectl <line>` in the background (watches, `wait`); killed on drop.
    pub fn spawn(&self, line: &str) -> Background {
        let args = self.args(line);
        let mut cmd = self.command(&args, &[]);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", self.bin.display()));
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            pump(child.stdout.take().expect("stdout piped"), stdout.clone()),
            pump(child.stderr.take().expect("stderr piped"), stderr.clone()),
        ];
        Background { child: Some(child), stdout, stderr, readers, line: line.to_string() }
    }

    fn args(&self, line: &str) -> Vec<String> {
        split_words(line).into_iter().map(|w| self.expand(&w)).collect()
    }

    /// Runs every case in order; panics with one report listing every mismatch.
    pub fn check_all(&self, cases: &[Case]) {
        let failures: Vec<String> = cases.iter().filter_map(|c| self.check(c)).collect();
        if !failures.is_empty() {
            panic!(
                "{} of {} kubectl {} cases failed:\n\n{}\n\n--- apiserver log (tail) ---\n{}",
                failures.len(),
                cases.len(),
                self.version,
                failures.join("\n\n"),
                self.server_log_tail()
            );
        }
    }

    /// `check(cmd, expect)`: `None` when the run matches, else a report.
    pub fn check(&self, case: &Case) -> Option<String> {
        let out = self.run_env(case.cmd, case.env);
        self.verdict(case.cmd, case, &out)
    }

    /// Compares `out` (of running `cmd`) with the code and patterns of `case`.
    pub fn verdict(&self, cmd: &str, case: &Case, out: &Output) -> Option<String> {
        let mut problems = Vec::new();
        if out.timed_out {
            problems.push(format!("timed out after {KUBECTL_TIMEOUT:?}"));
        }
        if out.code != Some(case.code) {
            problems.push(format!("exit code {:?}, want {}", out.code, case.code));
        }
        for p in case.out {
            if let Some(why) = mismatch(&self.expand(p), &out.stdout) {
                problems.push(format!("stdout {why}"));
            }
        }
        for p in case.err {
            if let Some(why) = mismatch(&self.expand(p), &out.stderr) {
                problems.push(format!("stderr {why}"));
            }
        }
        if problems.is_empty() {
            return None;
        }
        let mut report = format!("$ kubectl.{} {}\n", self.version, cmd);
        for p in &problems {
            let _ = writeln!(report, "  - {p}");
        }
        let _ = write!(report, "  stdout:\n{}\n  stderr:\n{}", indent(&out.stdout), indent(&out.stderr));
        Some(report)
    }

    pub fn server_log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.server_log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Writes an executable `#!/bin/sh` script into the scratch dir (an EDITOR).
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.tmp().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
        path
    }

    /// Copies a fixtures sub-directory into the scratch dir (to edit it there).
    pub fn copy_fixtures(&self, rel: &str) -> PathBuf {
        let to = self.tmp().join(rel);
        copy_dir(&fixtures().join(rel), &to);
        to
    }
}

fn indent(s: &str) -> String {
    let s = if s.len() > 4000 {
        let mut cut = 4000;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n…({} bytes)", &s[..cut], s.len())
    } else {
        s.to_string()
    };
    s.lines().map(|l| format!("    | {l}")).collect::<Vec<_>>().join("\n")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture");
        }
    }
}

/// One `check(cmd, expect)` row.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub cmd: &'static str,
    pub code: i32,
    pub out: &'static [&'static str],
    pub err: &'static [&'static str],
    pub env: &'static [(&'static str, &'static str)],
}

/// Exit 0 and these stdout patterns.
pub const fn ok(cmd: &'static str, out: &'static [&'static str]) -> Case {
    Case { cmd, code: 0, out, err: &[], env: &[] }
}

/// Exit 0, patterns on stdout and on stderr.
pub const fn ok2(cmd: &'static str, out: &'static [&'static str], err: &'static [&'static str]) -> Case {
    Case { cmd, code: 0, out, err, env: &[] }
}

/// Exit 1 and these stderr patterns.
pub const fn fails(cmd: &'static str, err: &'static [&'static str]) -> Case {
    Case { cmd, code: 1, out: &[], err, env: &[] }
}

/// Why `pattern` does not match `text` (see the module docs), if it does not.
pub fn mismatch(pattern: &str, text: &str) -> Option<String> {
    if let Some(absent) = pattern.strip_prefix('!') {
        return text.contains(absent).then(|| format!("contains {absent:?}"));
    }
    if let Some(row) = pattern.strip_prefix('~') {
        let want: Vec<&str> = row.split_whitespace().collect();
        let found = text.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.windows(want.len()).any(|w| w == want.as_slice())
        });
        return (!found).then(|| format!("has no line with fields {want:?}"));
    }
    if let Some(seq) = pattern.strip_prefix('>') {
        let mut rest = text;
        for part in seq.split('|') {
            match rest.find(part) {
                Some(i) => rest = &rest[i + part.len()..],
                None => return Some(format!("lacks {part:?} after the earlier parts of {seq:?}")),
            }
        }
        return None;
    }
    (!text.contains(pattern)).then(|| format!("lacks {pattern:?}"))
}

/// Splits a command line like a POSIX shell would for simple cases:
/// whitespace separates words, `'…'` is literal, `"…"` allows `\"` and `\\`.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"') | Some('\\')) => cur.push(chars.next().unwrap_or('\\')),
                        c => cur.push(c),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

// ---------------------------------------------------------------------------
// Child process plumbing
// ---------------------------------------------------------------------------

fn drain<R: Read + Send + 'static>(mut r: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

fn join(h: JoinHandle<Vec<u8>>) -> String {
    String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
}

fn pump<R: Read + Send + 'static>(mut r: R, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap_or_else(|p| p.into_inner()).push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

/// Kills the whole process group of `child` (kubectl and e.g. its EDITOR).
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", child.id())).stderr(Stdio::null()).status();
    let _ = child.kill();
}

fn wait_or_kill(child: &mut Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return (Some(status), false),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                kill_group(child);
                return (child.wait().ok(), true);
            }
        }
    }
}

/// A kubectl running in the background; its output accumulates as it comes.
pub struct Background {
    child: Option<Child>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    pub line: String,
}

impl Background {
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Polls until `pred(stdout, stderr)` holds; false on timeout.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&str, &str) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.stdout(), &self.stderr()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pred(&self.stdout(), &self.stderr())
    }

    /// Waits up to `timeout` for the process to exit by itself, then kills it.
    pub fn finish(mut self, timeout: Duration) -> Output {
        let mut child = self.child.take().expect("child present until finish");
        let (status, timed_out) = wait_or_kill(&mut child, timeout);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Output { code: status.and_then(|s| s.code()), stdout: self.stdout(), stderr: self.stderr(), timed_out }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&mut child);
            let _ = child.wait();
        }
    }
}
