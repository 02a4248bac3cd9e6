//! A bound pod's simulated status, as a pure function of the pod and the
//! time.
//!
//! [`PodFacts::from_pod`] keeps only what the state machine needs (a few
//! hundred bytes instead of the whole Pod, so that 150,000 pods fit in
//! little memory); [`plan`] says, for a moment `now`, which status the pod
//! should show, whether it should now be deleted, and when to look again.
//!
//! The states are the kubelet's (`pkg/kubelet/kubelet_pods.go`
//! `generateAPIPodStatus`, `status/generate.go`):
//! - **Pending** until the containers start: the API server created the
//!   pod Pending and the scheduler added `PodScheduled`. With a start-up
//!   delay the node first acknowledges it (`startTime`, `hostIP`,
//!   containers waiting with reason `ContainerCreating`).
//! - **Running**: `startTime`, `hostIP(s)`, `podIP(s)`, conditions
//!   `PodReadyToStartContainers`, `Initialized`, `ContainersReady` and
//!   `Ready` (false with reason `ContainersNotReady` until every container
//!   is ready), init containers terminated `Completed`, containers running
//!   with `startedAt` (and `lastState` after a restart).
//! - **Succeeded / Failed**: containers terminated (`Completed` or `Error`
//!   with their exit codes); `Ready`/`ContainersReady` false and
//!   `Initialized` true, all with reason `PodCompleted`.
//! - **Graceful deletion**: once the API server set `deletionTimestamp`,
//!   the containers stop after the grace period or the simulator's
//!   `--termination-duration`, whichever is shorter; the pod then gets
//!   terminated containers and a terminal phase, and is deleted for good
//!   with `gracePeriodSeconds: 0` (and a uid precondition), as the kubelet
//!   does once a pod's containers are gone.
//!
//! Which containers exit, when and how is [`crate::convention`].

use std::net::Ipv4Addr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus, HostIP, Pod, PodCondition, PodIP,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::convention::{lifetimes, Lifetime, RestartPolicy, MIN_RESTART_PERIOD};
use crate::node_status::stable_hex;

/// Where the pod's status stands, coarsely: enough to tell whether what
/// the API shows is what the simulation wants now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// As the API server and scheduler left it.
    Pending,
    /// Pending, acknowledged by the node: containers `ContainerCreating`.
    Creating,
    Running { restarts: u32, ready: u16, terminated: u16 },
    Succeeded,
    Failed,
}

impl Stage {
    pub fn is_terminal(self) -> bool {
        matches!(self, Stage::Succeeded | Stage::Failed)
    }
}

/// An init container: completes at once, or runs alongside (a sidecar,
/// `restartPolicy: Always`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitContainer {
    pub name: String,
    pub image: String,
    pub sidecar: bool,
}

/// A regular container and its simulated life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub life: Lifetime,
}

/// A requested graceful deletion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deletion {
    /// When the DELETE came in (`deletionTimestamp - deletionGracePeriodSeconds`).
    pub requested_at: Timestamp,
    pub grace: Duration,
}

/// What the status in the API currently says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    pub stage: Stage,
    pub start_time: Option<Timestamp>,
    pub pod_ip: Option<Ipv4Addr>,
}

/// Everything the simulation needs from a Pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodFacts {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub node_name: String,
    pub restart_policy: RestartPolicy,
    pub host_network: bool,
    pub init_containers: Vec<InitContainer>,
    pub containers: Vec<Container>,
    pub deletion: Option<Deletion>,
    pub observed: Observed,
}

impl PodFacts {
    /// The facts of a pod bound to a node; `None` for an unbound pod.
    pub fn from_pod(pod: &Pod, job_pod_duration: Duration) -> Option<PodFacts> {
        let spec = pod.spec.as_ref()?;
        let node_name = spec.node_name.clone().filter(|n| !n.is_empty())?;
        let meta = &pod.metadata;
        let lives = lifetimes(pod, job_pod_duration);
        let containers = spec
            .containers
            .iter()
            .zip(lives)
            .map(|(c, life)| Container { name: c.name.clone(), image: c.image.clone().unwrap_or_default(), life })
            .collect();
        let init_containers = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| InitContainer {
                name: c.name.clone(),
                image: c.image.clone().unwrap_or_default(),
                sidecar: c.restart_policy.as_deref() == Some("Always"),
            })
            .collect();
        let deletion = meta.deletion_timestamp.as_ref().map(|t| {
            let grace = meta.deletion_grace_period_seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
            let grace = Duration::from_secs(grace);
            Deletion { requested_at: sub(t.0, grace), grace }
        });
        Some(PodFacts {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            node_name,
            restart_policy: RestartPolicy::from_spec(spec.restart_policy.as_deref()),
            host_network: spec.host_network.unwrap_or(false),
            init_containers,
            containers,
            deletion,
            observed: observe(pod.status.as_ref()),
        })
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// Reads the coarse [`Observed`] state out of a status.
pub fn observe(status: Option<&PodStatus>) -> Observed {
    let Some(status) = status else {
        return Observed { stage: Stage::Pending, start_time: None, pod_ip: None };
    };
    let statuses = status.container_statuses.iter().flatten();
    let stage = match status.phase.as_deref() {
        Some("Succeeded") => Stage::Succeeded,
        Some("Failed") => Stage::Failed,
        Some("Running") => Stage::Running {
            restarts: statuses.clone().map(|c| u32::try_from(c.restart_count).unwrap_or(0)).sum(),
            ready: count(statuses.clone().filter(|c| c.ready)),
            terminated: count(statuses.filter(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some()))),
        },
        _ if status.container_statuses.as_ref().is_some_and(|c| !c.is_empty()) => Stage::Creating,
        _ => Stage::Pending,
    };
    Observed {
        stage,
        start_time: status.start_time.as_ref().map(|t| t.0),
        pod_ip: status.pod_ip.as_deref().and_then(|ip| ip.parse().ok()),
    }
}

fn count<T>(it: impl Iterator<Item = T>) -> u16 {
    u16::try_from(it.count()).unwrap_or(u16::MAX)
}

/// Where the pod runs: the node's address and the pod's (none when the
/// node's range is exhausted; host-network pods use the node's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub host_ip: Ipv4Addr,
    pub pod_ip: Option<Ipv4Addr>,
}

/// Inputs that come from the simulator rather than the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// When the node acknowledged the pod (`status.startTime`): the
    /// status's, or when the simulator first saw it.
    pub accepted: Timestamp,
    /// When the containers start(ed): `accepted` plus the start-up delay.
    pub start: Timestamp,
    pub placement: Placement,
    /// Cap on the time from a graceful DELETE to the final delete.
    pub termination: Duration,
}

/// What to do for a pod now.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// A status to write (`pods/status`), when it differs from the API's.
    pub status: Option<PodStatus>,
    /// The stage the pod is in after this plan.
    pub stage: Stage,
    /// Delete the pod (grace 0, uid precondition) after writing the status.
    pub delete: bool,
    /// When the pod's status will next change by itself.
    pub wake_at: Option<Timestamp>,
}

/// How long to wait before trying again when the node has no free pod
/// address.
pub const NO_ADDRESS_RETRY: Duration = Duration::from_secs(5);

/// The state machine: what the pod should show at `now`.
pub fn plan(facts: &PodFacts, ctx: &Context, now: Timestamp) -> Plan {
    let observed = facts.observed.stage;
    let idle = |wake_at| Plan { status: None, stage: observed, delete: false, wake_at };
    if let Some(del) = facts.deletion {
        let finalize = add(del.requested_at, del.grace.min(ctx.termination));
        if now < finalize {
            return idle(Some(finalize));
        }
        let status = match observed {
            Stage::Running { .. } | Stage::Creating => Some(killed_status(facts, ctx, finalize)),
            _ => None,
        };
        let stage = if status.is_some() { Stage::Succeeded } else { observed };
        return Plan { status, stage, delete: true, wake_at: None };
    }
    if observed.is_terminal() {
        return idle(None);
    }
    if now < ctx.start {
        if observed == Stage::Pending {
            let status = creating_status(facts, ctx);
            return Plan { status: Some(status), stage: Stage::Creating, delete: false, wake_at: Some(ctx.start) };
        }
        return idle(Some(ctx.start));
    }
    let pod_ip = if facts.host_network { Some(ctx.placement.host_ip) } else { ctx.placement.pod_ip };
    let Some(pod_ip) = pod_ip else {
        return idle(Some(add(now, NO_ADDRESS_RETRY)));
    };
    let containers: Vec<ContainerNow> =
        facts.containers.iter().map(|c| container_at(&c.life, facts.restart_policy, ctx.start, now)).collect();
    let stage = stage_of(&containers);
    let wake_at = containers.iter().filter_map(|c| c.next).min();
    let status = (stage != observed).then(|| running_or_done_status(facts, ctx, pod_ip, &containers, stage));
    Plan { status, stage, delete: false, wake_at }
}

/// One container at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ContainerNow {
    /// Start of the current run.
    started_at: Timestamp,
    /// `Some((exit code, finished at))` once it exited for good.
    exited: Option<(i32, Timestamp)>,
    /// The previous run, after a restart: `(exit code, started, finished)`.
    last: Option<(i32, Timestamp, Timestamp)>,
    restarts: u32,
    ready: bool,
    /// When `ready` last changed (or the run started).
    changed_at: Timestamp,
    /// The next moment this container changes by itself.
    next: Option<Timestamp>,
}

fn container_at(life: &Lifetime, policy: RestartPolicy, start: Timestamp, now: Timestamp) -> ContainerNow {
    let elapsed = since(start, now);
    let mut c = ContainerNow {
        started_at: start,
        exited: None,
        last: None,
        restarts: 0,
        ready: false,
        changed_at: start,
        next: None,
    };
    if let Some(run) = life.run_for {
        if policy.restarts(life.exit_code) {
            let period = run.max(MIN_RESTART_PERIOD);
            let cycles = (elapsed.as_nanos() / period.as_nanos()).min(u128::from(u32::MAX)) as u32;
            c.started_at = add(start, period * cycles);
            c.restarts = cycles;
            if cycles > 0 {
                c.last = Some((life.exit_code, add(start, period * (cycles - 1)), c.started_at));
            }
            c.next = Some(add(c.started_at, period));
        } else if elapsed >= run {
            let finished = add(start, run);
            c.exited = Some((life.exit_code, finished));
            c.changed_at = finished;
            return c;
        } else {
            c.next = Some(add(start, run));
        }
    }
    let ready_at = add(c.started_at, life.ready_after);
    c.ready = now >= ready_at;
    c.changed_at = if c.ready { ready_at } else { c.started_at };
    if !c.ready {
        c.next = Some(c.next.map_or(ready_at, |n| n.min(ready_at)));
    }
    c
}

fn stage_of(containers: &[ContainerNow]) -> Stage {
    if !containers.is_empty() && containers.iter().all(|c| c.exited.is_some()) {
        return if containers.iter().all(|c| c.exited.is_some_and(|(code, _)| code == 0)) {
            Stage::Succeeded
        } else {
            Stage::Failed
        };
    }
    Stage::Running {
        restarts: containers.iter().map(|c| c.restarts).sum(),
        ready: count(containers.iter().filter(|c| c.ready)),
        terminated: count(containers.iter().filter(|c| c.exited.is_some())),
    }
}

fn running_or_done_status(
    facts: &PodFacts,
    ctx: &Context,
    pod_ip: Ipv4Addr,
    containers: &[ContainerNow],
    stage: Stage,
) -> PodStatus {
    let start = ctx.start;
    let statuses: Vec<ContainerStatus> = facts
        .containers
        .iter()
        .zip(containers)
        .map(|(spec, now)| {
            let id = container_id(&facts.uid, &spec.name, now.restarts);
            let state = match now.exited {
                Some((code, finished)) => terminated(code, now.started_at, finished, &id),
                None => ContainerState {
                    running: Some(ContainerStateRunning { started_at: Some(Time(now.started_at)) }),
                    ..ContainerState::default()
                },
            };
            let last_state = now.last.map(|(code, s, f)| {
                terminated(code, s, f, &container_id(&facts.uid, &spec.name, now.restarts.saturating_sub(1)))
            });
            container_status(&spec.name, &spec.image, &id, state, last_state, now.ready, now.restarts, now.exited.is_none())
        })
        .collect();
    let terminal = stage.is_terminal();
    let finished = containers.iter().filter_map(|c| c.exited.map(|(_, f)| f)).max().unwrap_or(start);
    let unready: Vec<&str> =
        facts.containers.iter().zip(containers).filter(|(_, c)| !c.ready).map(|(s, _)| s.name.as_str()).collect();
    let ready_changed = containers.iter().map(|c| c.changed_at).max().unwrap_or(start);
    let (ready_status, ready_reason, ready_message, ready_time) = if terminal {
        ("False", Some("PodCompleted"), None, finished)
    } else if unready.is_empty() {
        ("True", None, None, ready_changed)
    } else {
        (
            "False",
            Some("ContainersNotReady"),
            Some(format!("containers with unready status: [{}]", unready.join(" "))),
            ready_changed,
        )
    };
    let conditions = vec![
        condition("PodReadyToStartContainers", if terminal { "False" } else { "True" }, None, None, if terminal {
            finished
        } else {
            start
        }),
        condition("Initialized", "True", terminal.then_some("PodCompleted"), None, start),
        condition("Ready", ready_status, ready_reason, ready_message.clone(), ready_time),
        condition("ContainersReady", ready_status, ready_reason, ready_message, ready_time),
    ];
    PodStatus {
        phase: Some(
            match stage {
                Stage::Succeeded => "Succeeded",
                Stage::Failed => "Failed",
                _ => "Running",
            }
            .to_string(),
        ),
        conditions: Some(conditions),
        host_ip: Some(ctx.placement.host_ip.to_string()),
        host_ips: Some(vec![HostIP { ip: ctx.placement.host_ip.to_string() }]),
        pod_ip: Some(pod_ip.to_string()),
        pod_ips: Some(vec![PodIP { ip: pod_ip.to_string() }]),
        start_time: Some(Time(ctx.accepted)),
        init_container_statuses: init_statuses(facts, start),
        container_statuses: Some(statuses),
        ..PodStatus::default()
    }
}

/// Acknowledged, containers being created (no pod IP yet: the sandbox is
/// not up).
fn creating_status(facts: &PodFacts, ctx: &Context) -> PodStatus {
    let waiting = |name: &str, image: &str, init: bool| {
        let state = ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(if init { "PodInitializing" } else { "ContainerCreating" }.to_string()),
                message: None,
            }),
            ..ContainerState::default()
        };
        let mut s = container_status(name, image, "", state, None, false, 0, false);
        s.container_id = None;
        s
    };
    let names: Vec<&str> = facts.containers.iter().map(|c| c.name.as_str()).collect();
    let message = format!("containers with unready status: [{}]", names.join(" "));
    let has_init = facts.init_containers.iter().any(|c| !c.sidecar);
    PodStatus {
        phase: Some("Pending".to_string()),
        conditions: Some(vec![
            condition("PodReadyToStartContainers", "False", None, None, ctx.accepted),
            if has_init {
                condition("Initialized", "False", Some("ContainersNotInitialized"), None, ctx.accepted)
            } else {
                condition("Initialized", "True", None, None, ctx.accepted)
            },
            condition("Ready", "False", Some("ContainersNotReady"), Some(message.clone()), ctx.accepted),
            condition("ContainersReady", "False", Some("ContainersNotReady"), Some(message), ctx.accepted),
        ]),
        host_ip: Some(ctx.placement.host_ip.to_string()),
        host_ips: Some(vec![HostIP { ip: ctx.placement.host_ip.to_string() }]),
        start_time: Some(Time(ctx.accepted)),
        init_container_statuses: (!facts.init_containers.is_empty())
            .then(|| facts.init_containers.iter().map(|c| waiting(&c.name, &c.image, false)).collect()),
        container_statuses: Some(facts.containers.iter().map(|c| waiting(&c.name, &c.image, has_init)).collect()),
        ..PodStatus::default()
    }
}

/// The status of a pod whose containers were stopped by a graceful
/// deletion at `at`: all terminated with code 0, phase Succeeded (since
/// 1.27 the kubelet puts deleted pods in a terminal phase before they go).
fn killed_status(facts: &PodFacts, ctx: &Context, at: Timestamp) -> PodStatus {
    let start = ctx.start.min(at);
    let statuses = facts
        .containers
        .iter()
        .map(|c| {
            let id = container_id(&facts.uid, &c.name, 0);
            container_status(&c.name, &c.image, &id, terminated(0, start, at, &id), None, false, 0, false)
        })
        .collect();
    PodStatus {
        phase: Some("Succeeded".to_string()),
        conditions: Some(vec![
            condition("PodReadyToStartContainers", "False", None, None, at),
            condition("Initialized", "True", Some("PodCompleted"), None, start),
            condition("Ready", "False", Some("PodCompleted"), None, at),
            condition("ContainersReady", "False", Some("PodCompleted"), None, at),
        ]),
        container_statuses: Some(statuses),
        ..PodStatus::default()
    }
}

fn init_statuses(facts: &PodFacts, start: Timestamp) -> Option<Vec<ContainerStatus>> {
    if facts.init_containers.is_empty() {
        return None;
    }
    Some(
        facts
            .init_containers
            .iter()
            .map(|c| {
                let id = container_id(&facts.uid, &c.name, 0);
                if c.sidecar {
                    let state = ContainerState {
                        running: Some(ContainerStateRunning { started_at: Some(Time(start)) }),
                        ..ContainerState::default()
                    };
                    container_status(&c.name, &c.image, &id, state, None, true, 0, true)
                } else {
                    container_status(&c.name, &c.image, &id, terminated(0, start, start, &id), None, false, 0, false)
                }
            })
            .collect(),
    )
}

fn terminated(code: i32, started: Timestamp, finished: Timestamp, id: &str) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            container_id: Some(id.to_string()),
            exit_code: code,
            reason: Some(if code == 0 { "Completed" } else { "Error" }.to_string()),
            started_at: Some(Time(started)),
            finished_at: Some(Time(finished)),
            ..ContainerStateTerminated::default()
        }),
        ..ContainerState::default()
    }
}

#[allow(clippy::too_many_arguments)]
fn container_status(
    name: &str,
    image: &str,
    id: &str,
    state: ContainerState,
    last_state: Option<ContainerState>,
    ready: bool,
    restarts: u32,
    started: bool,
) -> ContainerStatus {
    ContainerStatus {
        name: name.to_string(),
        image: image.to_string(),
        image_id: format!("sha256:{}", stable_hex(image, 64)),
        container_id: Some(id.to_string()),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ready,
        restart_count: i32::try_from(restarts).unwrap_or(i32::MAX),
        started: Some(started),
        ..ContainerStatus::default()
    }
}

fn condition(type_: &str, status: &str, reason: Option<&str>, message: Option<String>, at: Timestamp) -> PodCondition {
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.map(str::to_string),
        message,
        last_transition_time: Some(Time(at)),
        ..PodCondition::default()
    }
}

/// `containerd://<64 hex>`, stable per pod uid, container and run.
fn container_id(uid: &str, name: &str, run: u32) -> String {
    format!("containerd://{}", stable_hex(&format!("{uid}/{name}/{run}"), 64))
}

/// `t + d`, saturating at `t` on overflow.
pub fn add(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok()).unwrap_or(t)
}

fn sub(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d).ok().and_then(|d| t.checked_sub(d).ok()).unwrap_or(t)
}

/// `now - then`, zero when `then` is later.
pub fn since(then: Timestamp, now: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests;
