//! How a simulated container's life is decided, since nothing runs.
//!
//! **Annotations** (on the pod; they win over everything else):
//! - `sim.ferrokube.io/exit-after: "<duration>"` (`500ms`, `5s`, `2m`, or
//!   seconds): every regular container exits this long after it starts.
//!   `"never"` keeps them running whatever the restart policy.
//! - `sim.ferrokube.io/exit-code: "<int>"`: the exit code when they exit
//!   (default 0).
//!
//! **Without annotations**:
//! - a pod with `restartPolicy: Never` or `OnFailure` (every Job's pod) or
//!   owned by a Job runs a *finite* workload: each container exits after
//!   the `sleep N` in its command/args when there is one, else after
//!   `--job-pod-duration` (default 2 s), with the code of an `exit N` in its
//!   command/args, else 0. `sleep infinity` or `tail -f` mean "never exits".
//! - any other pod (`restartPolicy: Always`, the default) runs until deleted.
//!
//! **What an exit leads to** follows the restart policy, as on a real node:
//! `Never` leaves the container terminated; `OnFailure` leaves it
//! terminated on code 0 and restarts it otherwise; `Always` restarts it.
//! A restart is immediate (no crash-loop back-off) and counts in
//! `restartCount`. The pod is `Succeeded` when every container exited 0
//! and none will restart, `Failed` when at least one exited non-zero.
//!
//! **Readiness**: a container is ready once it has run for its readiness
//! probe's `initialDelaySeconds` (or its startup probe's, if longer); with
//! no probe it is ready as soon as it starts. Init containers complete at
//! once; restartable init containers (sidecars) run and are ready.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::units::parse_duration;

/// Pod annotation: how long containers run before exiting.
pub const EXIT_AFTER_ANNOTATION: &str = "sim.ferrokube.io/exit-after";
/// Pod annotation: the exit code containers exit with.
pub const EXIT_CODE_ANNOTATION: &str = "sim.ferrokube.io/exit-code";

/// The restart policy, as it matters to the simulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn from_spec(value: Option<&str>) -> RestartPolicy {
        match value {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            _ => RestartPolicy::Always,
        }
    }

    /// Whether a container that exited with `code` is started again.
    pub fn restarts(self, code: i32) -> bool {
        match self {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => code != 0,
            RestartPolicy::Never => false,
        }
    }
}

/// One regular container's simulated life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifetime {
    /// How long it runs per start; `None` runs until the pod is deleted.
    pub run_for: Option<Duration>,
    pub exit_code: i32,
    /// How long after a start it becomes ready.
    pub ready_after: Duration,
}

/// The shortest run of a container that restarts (so that a zero duration
/// cannot turn into a tight write loop).
pub const MIN_RESTART_PERIOD: Duration = Duration::from_secs(1);

/// Decides every regular container's [`Lifetime`], in spec order.
pub fn lifetimes(pod: &Pod, job_pod_duration: Duration) -> Vec<Lifetime> {
    let annotations = pod.metadata.annotations.as_ref();
    let annotation = |key: &str| annotations.and_then(|a| a.get(key)).map(|s| s.trim().to_string());
    let exit_after = annotation(EXIT_AFTER_ANNOTATION);
    let exit_code_annotation = annotation(EXIT_CODE_ANNOTATION).and_then(|s| s.parse::<i32>().ok());
    let spec = pod.spec.as_ref();
    let policy = RestartPolicy::from_spec(spec.and_then(|s| s.restart_policy.as_deref()));
    let owned_by_job =
        pod.metadata.owner_references.iter().flatten().any(|o| o.kind == "Job" && o.api_version.starts_with("batch/"));
    let finite = policy != RestartPolicy::Always || owned_by_job;
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    containers
        .iter()
        .map(|c| {
            let words = command_words(c);
            let run_for = match exit_after.as_deref() {
                Some("never") => None,
                Some(text) => parse_duration(text).ok().or(finite.then_some(job_pod_duration)),
                None if !finite => None,
                None => match sleep_of(&words) {
                    Some(Sleep::Forever) => None,
                    Some(Sleep::For(d)) => Some(d),
                    None => Some(job_pod_duration),
                },
            };
            let exit_code = exit_code_annotation.or_else(|| exit_of(&words)).unwrap_or(0);
            Lifetime { run_for, exit_code, ready_after: ready_after(c) }
        })
        .collect()
}

/// Readiness probe's initial delay, or the startup probe's when longer.
fn ready_after(c: &Container) -> Duration {
    let delay = |p: Option<&k8s_openapi::api::core::v1::Probe>| {
        p.and_then(|p| p.initial_delay_seconds).and_then(|s| u64::try_from(s).ok()).unwrap_or(0)
    };
    Duration::from_secs(delay(c.readiness_probe.as_ref()).max(delay(c.startup_probe.as_ref())))
}

/// The container's command and args split into shell-ish words
/// (`sh -c "sleep 5; exit 1"` gives `sh -c sleep 5 exit 1`).
fn command_words(c: &Container) -> Vec<String> {
    c.command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .flat_map(|part| part.split(|ch: char| ch.is_whitespace() || ch == ';' || ch == '&' || ch == '|'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

enum Sleep {
    For(Duration),
    Forever,
}

fn sleep_of(words: &[String]) -> Option<Sleep> {
    if words.windows(2).any(|w| w[0] == "tail" && w[1] == "-f") {
        return Some(Sleep::Forever);
    }
    let i = words.iter().position(|w| w == "sleep")?;
    let arg = words.get(i + 1)?;
    if arg == "infinity" || arg == "inf" {
        return Some(Sleep::Forever);
    }
    parse_duration(arg).ok().map(Sleep::For)
}

fn exit_of(words: &[String]) -> Option<i32> {
    let i = words.iter().position(|w| w == "exit")?;
    words.get(i + 1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    fn check(pod_json: serde_json::Value, want: &[(Option<u64>, i32, u64)]) {
        let got: Vec<_> = lifetimes(&pod(pod_json.clone()), Duration::from_secs(2))
            .into_iter()
            .map(|l| (l.run_for.map(|d| d.as_millis() as u64), l.exit_code, l.ready_after.as_secs()))
            .collect();
        assert_eq!(got, want, "{pod_json}");
    }

    #[test]
    fn conventions() {
        let c = |extra: serde_json::Value| {
            let mut base = json!({"name": "c", "image": "busybox"});
            if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            base
        };
        // long-running by default
        check(json!({"spec": {"containers": [c(json!({}))]}}), &[(None, 0, 0)]);
        // a Job's pod: finite with the default duration
        check(json!({"spec": {"restartPolicy": "Never", "containers": [c(json!({}))]}}), &[(Some(2000), 0, 0)]);
        check(
            json!({"metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "j", "uid": "u"}]},
                   "spec": {"restartPolicy": "OnFailure", "containers": [c(json!({}))]}}),
            &[(Some(2000), 0, 0)],
        );
        // command conventions
        check(
            json!({"spec": {"restartPolicy": "Never", "containers": [
                c(json!({"command": ["sh", "-c", "sleep 5; exit 3"]})),
                c(json!({"name": "d", "command": ["sleep"], "args": ["infinity"]})),
                c(json!({"name": "e", "args": ["tail", "-f", "/dev/null"]})),
                c(json!({"name": "f", "command": ["perl", "-e", "print 1"]})),
            ]}}),
            &[(Some(5000), 3, 0), (None, 0, 0), (None, 0, 0), (Some(2000), 0, 0)],
        );
        // sleep in a long-running pod does not make it finite
        check(json!({"spec": {"containers": [c(json!({"command": ["sleep", "5"]}))]}}), &[(None, 0, 0)]);
        // annotations win
        check(
            json!({"metadata": {"annotations": {"sim.ferrokube.io/exit-after": "1500ms", "sim.ferrokube.io/exit-code": "1"}},
                   "spec": {"containers": [c(json!({"command": ["sh", "-c", "exit 7"]}))]}}),
            &[(Some(1500), 1, 0)],
        );
        check(
            json!({"metadata": {"annotations": {"sim.ferrokube.io/exit-after": "never"}},
                   "spec": {"restartPolicy": "Never", "containers": [c(json!({}))]}}),
            &[(None, 0, 0)],
        );
        // readiness from probes
        check(
            json!({"spec": {"containers": [c(json!({
                "readinessProbe": {"initialDelaySeconds": 5, "httpGet": {"port": 80}},
                "startupProbe": {"initialDelaySeconds": 8, "httpGet": {"port": 80}}}))]}}),
            &[(None, 0, 8)],
        );
    }

    #[test]
    fn restart_policies() {
        let cases = [
            (RestartPolicy::Always, 0, true),
            (RestartPolicy::Always, 1, true),
            (RestartPolicy::OnFailure, 0, false),
            (RestartPolicy::OnFailure, 1, true),
            (RestartPolicy::Never, 1, false),
        ];
        for (p, code, want) in cases {
            assert_eq!(p.restarts(code), want, "{p:?} {code}");
        }
        assert_eq!(RestartPolicy::from_spec(None), RestartPolicy::Always);
        assert_eq!(RestartPolicy::from_spec(Some("Never")), RestartPolicy::Never);
    }
}
