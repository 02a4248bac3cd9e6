//! Pure Deployment helpers (upstream `pkg/controller/deployment/util`):
//! pod-template-hash, rolling-update arithmetic, revisions and annotations,
//! new/old ReplicaSet selection, conditions and status. No I/O; `now` is a
//! parameter.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const ROLLBACK_TO: &str = "deprecated.deployment.rollback.to";
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Upstream caps the revision-history annotation at this many characters.
pub const MAX_REV_HISTORY_CHARS: usize = 2000;

pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub const FOUND_NEW_RS: &str = "FoundNewReplicaSet";
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub const FAILED_RS_CREATE: &str = "FailedRSCreate";
pub const PAUSED: &str = "DeploymentPaused";
pub const RESUMED: &str = "DeploymentResumed";
pub const MIN_AVAILABLE: &str = "MinimumReplicasAvailable";
pub const MIN_UNAVAILABLE: &str = "MinimumReplicasUnavailable";

// ---------------------------------------------------------------- hashing

/// Upstream `rand.SafeEncodeString`: each byte mapped into an alphabet
/// without vowels (no accidental words) or look-alike characters.
pub fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes().map(|b| ALPHANUMS[b as usize % ALPHANUMS.len()] as char).collect()
}

/// 32-bit FNV-1a.
pub fn fnv32a(chunks: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for chunk in chunks {
        for b in *chunk {
            h ^= u32::from(*b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// Upstream `controller.ComputeHash`: FNV-32a over the template (here its
/// canonical JSON; upstream hashes a Go dump, so values differ but the
/// shape is the same), then the collision count as 4 little-endian bytes,
/// rendered as the decimal sum through [`safe_encode`].
pub fn compute_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    let json = serde_json::to_vec(template).unwrap_or_default();
    let sum = match collision_count {
        Some(c) => fnv32a(&[&json, &(c as u32).to_le_bytes()]),
        None => fnv32a(&[&json]),
    };
    safe_encode(&sum.to_string())
}

fn without_hash(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(meta) = t.metadata.as_mut() {
        if let Some(labels) = meta.labels.as_mut() {
            labels.remove(POD_TEMPLATE_HASH);
            if labels.is_empty() {
                meta.labels = None;
            }
        }
    }
    t
}

/// Upstream `EqualIgnoreHash`: templates equal apart from the
/// pod-template-hash label.
pub fn equal_ignore_hash(a: &PodTemplateSpec, b: &PodTemplateSpec) -> bool {
    without_hash(a) == without_hash(b)
}

// ---------------------------------------------------------------- arithmetic

/// Upstream `GetScaledValueFromIntOrPercent`.
pub fn scaled_value(v: &IntOrString, total: i32, round_up: bool) -> Result<i32, String> {
    match v {
        IntOrString::Int(i) => Ok(*i),
        IntOrString::String(s) => {
            let pct: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("invalid value for IntOrString: invalid value {s:?}"))?;
            let x = pct as f64 * f64::from(total) / 100.0;
            Ok(if round_up { x.ceil() } else { x.floor() } as i32)
        }
    }
}

/// `spec.replicas` (defaulted to 1).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn is_rolling(d: &Deployment) -> bool {
    d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate")
        == "RollingUpdate"
}

fn rolling_params(d: &Deployment) -> (IntOrString, IntOrString) {
    let ru = d.spec.as_ref().and_then(|s| s.strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let pct = || IntOrString::String("25%".into());
    (
        ru.and_then(|r| r.max_surge.clone()).unwrap_or_else(pct),
        ru.and_then(|r| r.max_unavailable.clone()).unwrap_or_else(pct),
    )
}

/// Upstream `ResolveFenceposts`: surge rounds up, unavailable rounds down;
/// if both resolve to 0, unavailable becomes 1.
pub fn resolve_fenceposts(max_surge: &IntOrString, max_unavailable: &IntOrString, desired: i32) -> (i32, i32) {
    let surge = scaled_value(max_surge, desired, true).unwrap_or(0);
    let mut unavailable = scaled_value(max_unavailable, desired, false).unwrap_or(0);
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    (surge, unavailable)
}

/// Upstream `MaxSurge` (0 unless RollingUpdate).
pub fn max_surge(d: &Deployment) -> i32 {
    if !is_rolling(d) {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(&s, &u, replicas(d)).0
}

/// Upstream `MaxUnavailable` (0 unless RollingUpdate with replicas > 0;
/// never more than replicas).
pub fn max_unavailable(d: &Deployment) -> i32 {
    if !is_rolling(d) || replicas(d) == 0 {
        return 0;
    }
    let (s, u) = rolling_params(d);
    resolve_fenceposts(&s, &u, replicas(d)).1.min(replicas(d))
}

pub fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}
fn rs_status<T: Default>(rs: &ReplicaSet, f: impl Fn(&k8s_openapi::api::apps::v1::ReplicaSetStatus) -> T) -> T {
    rs.status.as_ref().map(f).unwrap_or_default()
}
pub fn rs_available(rs: &ReplicaSet) -> i32 {
    rs_status(rs, |s| s.available_replicas.unwrap_or(0))
}
pub fn rs_ready(rs: &ReplicaSet) -> i32 {
    rs_status(rs, |s| s.ready_replicas.unwrap_or(0))
}
pub fn rs_actual(rs: &ReplicaSet) -> i32 {
    rs_status(rs, |s| s.replicas)
}

/// Sum of `spec.replicas`.
pub fn replica_count<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i32 {
    sets.into_iter().map(rs_replicas).sum()
}

/// Upstream `NewRSNewReplicas`: how big the new ReplicaSet may be now.
pub fn new_rs_new_replicas(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    if !is_rolling(d) {
        return replicas(d);
    }
    let (s, _) = rolling_params(d);
    let surge = scaled_value(&s, replicas(d), true).unwrap_or(0);
    let current = replica_count(all.iter().copied());
    let max_total = replicas(d) + surge;
    if current >= max_total {
        return rs_replicas(new_rs);
    }
    let up = (max_total - current).min(replicas(d) - rs_replicas(new_rs));
    rs_replicas(new_rs) + up
}

/// Upstream `reconcileOldReplicaSets` budget: how many old pods may go now.
pub fn max_scaled_down(d: &Deployment, all: &[&ReplicaSet], new_rs: &ReplicaSet) -> i32 {
    let min_available = replicas(d) - max_unavailable(d);
    let new_unavailable = rs_replicas(new_rs) - rs_available(new_rs);
    replica_count(all.iter().copied()) - min_available - new_unavailable
}

// ---------------------------------------------------------------- revisions

pub fn annotation<'a>(meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// The `deployment.kubernetes.io/revision` of a ReplicaSet (0 if absent).
pub fn revision(rs: &ReplicaSet) -> i64 {
    annotation(&rs.metadata, REVISION).and_then(|v| v.parse().ok()).unwrap_or(0)
}

pub fn max_revision<'a>(sets: impl IntoIterator<Item = &'a ReplicaSet>) -> i64 {
    sets.into_iter().map(revision).max().unwrap_or(0)
}

fn annotations_mut(meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &mut BTreeMap<String, String> {
    meta.annotations.get_or_insert_with(BTreeMap::new)
}

fn skip_copy(key: &str) -> bool {
    matches!(key, LAST_APPLIED | REVISION | REVISION_HISTORY | DESIRED_REPLICAS | MAX_REPLICAS | ROLLBACK_TO)
}

/// Upstream `SetNewReplicaSetAnnotations`: copy the deployment's
/// annotations, bump the revision (recording the old one in
/// revision-history), and for a new RS the replicas annotations.
/// Returns whether anything changed.
pub fn set_new_rs_annotations(d: &Deployment, rs: &mut ReplicaSet, new_revision: i64, exists: bool) -> bool {
    let mut changed = false;
    for (k, v) in d.metadata.annotations.iter().flatten() {
        if skip_copy(k) {
            continue;
        }
        let anns = annotations_mut(&mut rs.metadata);
        if anns.get(k) != Some(v) {
            anns.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    let old = annotation(&rs.metadata, REVISION).map(str::to_string);
    let old_int = match &old {
        Some(v) => match v.parse::<i64>() {
            Ok(i) => i,
            Err(_) => return changed,
        },
        None => 0,
    };
    if old_int < new_revision {
        annotations_mut(&mut rs.metadata).insert(REVISION.into(), new_revision.to_string());
        changed = true;
        if let Some(old) = old {
            let anns = annotations_mut(&mut rs.metadata);
            let mut history: Vec<String> = anns
                .get(REVISION_HISTORY)
                .map(|h| h.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect())
                .unwrap_or_default();
            history.push(old);
            while history.len() > 1 && history.join(",").len() > MAX_REV_HISTORY_CHARS {
                history.remove(0);
            }
            anns.insert(REVISION_HISTORY.into(), history.join(","));
        }
    }
    if !exists && set_replicas_annotations(rs, replicas(d), replicas(d) + max_surge(d)) {
        changed = true;
    }
    changed
}

/// Sets desired-replicas / max-replicas; returns whether they changed.
pub fn set_replicas_annotations(rs: &mut ReplicaSet, desired: i32, max: i32) -> bool {
    let anns = annotations_mut(&mut rs.metadata);
    let mut changed = false;
    for (k, v) in [(DESIRED_REPLICAS, desired), (MAX_REPLICAS, max)] {
        let v = v.to_string();
        if anns.get(k) != Some(&v) {
            anns.insert(k.into(), v);
            changed = true;
        }
    }
    changed
}

pub fn replicas_annotations_need_update(rs: &ReplicaSet, desired: i32, max: i32) -> bool {
    annotation(&rs.metadata, DESIRED_REPLICAS) != Some(desired.to_string().as_str())
        || annotation(&rs.metadata, MAX_REPLICAS) != Some(max.to_string().as_str())
}

pub fn desired_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, DESIRED_REPLICAS)?.parse().ok()
}

fn max_annotation(rs: &ReplicaSet) -> Option<i32> {
    annotation(&rs.metadata, MAX_REPLICAS)?.parse().ok()
}

// ---------------------------------------------------------------- selection

fn created(rs: &ReplicaSet) -> Option<Timestamp> {
    rs.metadata.creation_timestamp.as_ref().map(|t| t.0)
}

/// Upstream `ReplicaSetsByCreationTimestamp` (oldest first, then name).
pub fn by_creation(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    created(a).cmp(&created(b)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// Upstream `ReplicaSetsByRevision` (lowest first, then creation).
pub fn by_revision(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    revision(a).cmp(&revision(b)).then_with(|| by_creation(a, b))
}

/// Upstream `ReplicaSetsBySizeNewer`: biggest first, ties newest first.
pub fn by_size_newer(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(b, a))
}

/// Upstream `ReplicaSetsBySizeOlder`: biggest first, ties oldest first.
pub fn by_size_older(a: &ReplicaSet, b: &ReplicaSet) -> Ordering {
    rs_replicas(b).cmp(&rs_replicas(a)).then_with(|| by_creation(a, b))
}

/// Upstream `FindNewReplicaSet`: the oldest RS whose template equals the
/// deployment's (ignoring the hash label). Index into `sets`.
pub fn find_new(d: &Deployment, sets: &[ReplicaSet]) -> Option<usize> {
    let template = &d.spec.as_ref()?.template;
    let mut idx: Vec<usize> = (0..sets.len()).collect();
    idx.sort_by(|&a, &b| by_creation(&sets[a], &sets[b]));
    idx.into_iter().find(|&i| sets[i].spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| equal_ignore_hash(t, template)))
}

/// Upstream `FindActiveOrLatest`: the only active RS, or the newest when none
/// is active; `None` when several are active.
pub fn find_active_or_latest<'a>(new_rs: Option<&'a ReplicaSet>, old: &[&'a ReplicaSet]) -> Option<&'a ReplicaSet> {
    if new_rs.is_none() && old.is_empty() {
        return None;
    }
    let mut old: Vec<&ReplicaSet> = old.to_vec();
    old.sort_by(|a, b| by_creation(b, a));
    let active: Vec<&ReplicaSet> = old.iter().copied().chain(new_rs).filter(|r| rs_replicas(r) > 0).collect();
    match active.len() {
        0 => new_rs.or_else(|| old.first().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// Upstream `IsSaturated`.
pub fn is_saturated(d: &Deployment, rs: Option<&ReplicaSet>) -> bool {
    let Some(rs) = rs else { return false };
    let Some(desired) = desired_annotation(rs) else { return false };
    rs_replicas(rs) == replicas(d) && desired == replicas(d) && rs_available(rs) == replicas(d)
}

/// Upstream `GetProportion` (+ `getReplicaSetFraction`): this RS's share
/// of a scaling event, rounded half away from zero.
pub fn proportion(rs: &ReplicaSet, d: &Deployment, to_add: i32, added: i32) -> i32 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let fraction = if replicas(d) == 0 {
        -rs_replicas(rs)
    } else {
        let max_now = replicas(d) + max_surge(d);
        let before = match max_annotation(rs) {
            Some(v) if v != 0 => v,
            _ => d.status.as_ref().and_then(|s| s.replicas).unwrap_or(0),
        };
        if before == 0 {
            0
        } else {
            (f64::from(rs_replicas(rs)) * f64::from(max_now) / f64::from(before)).round() as i32 - rs_replicas(rs)
        }
    };
    let allowed = to_add - added;
    if to_add > 0 {
        fraction.min(allowed)
    } else {
        fraction.max(allowed)
    }
}

/// Upstream proportional scaling in `scale()`: the new sizes of the active
/// sets (by name) when the deployment was resized mid-rollout.
pub fn proportional_sizes(d: &Deployment, active: &[&ReplicaSet]) -> Vec<(String, i32)> {
    let total = replica_count(active.iter().copied());
    let allowed = if replicas(d) > 0 { replicas(d) + max_surge(d) } else { 0 };
    let to_add = allowed - total;
    let mut sets: Vec<&ReplicaSet> = active.to_vec();
    match to_add.cmp(&0) {
        Ordering::Greater => sets.sort_by(|a, b| by_size_newer(a, b)),
        Ordering::Less => sets.sort_by(|a, b| by_size_older(a, b)),
        Ordering::Equal => {}
    }
    let mut added = 0;
    let mut sizes: Vec<(String, i32)> = Vec::new();
    for rs in &sets {
        let name = rs.metadata.name.clone().unwrap_or_default();
        if to_add != 0 {
            let p = proportion(rs, d, to_add, added);
            sizes.push((name, rs_replicas(rs) + p));
            added += p;
        } else {
            sizes.push((name, rs_replicas(rs)));
        }
    }
    if to_add != 0 {
        if let Some(first) = sizes.first_mut() {
            first.1 = (first.1 + to_add - added).max(0);
        }
    }
    sizes
}

// ---------------------------------------------------------------- conditions

pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == type_)
}

pub fn new_condition(type_: &str, status: &str, reason: &str, message: String, now: Timestamp) -> DeploymentCondition {
    DeploymentCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Upstream `SetDeploymentCondition`: no-op when status and reason are
/// unchanged; keeps lastTransitionTime when only the reason changes.
pub fn set_condition(status: &mut DeploymentStatus, mut c: DeploymentCondition) {
    if let Some(cur) = condition(status, &c.type_) {
        if cur.status == c.status && cur.reason == c.reason {
            return;
        }
        if cur.status == c.status {
            c.last_transition_time = cur.last_transition_time.clone();
        }
    }
    let mut conds: Vec<DeploymentCondition> =
        status.conditions.take().unwrap_or_default().into_iter().filter(|x| x.type_ != c.type_).collect();
    conds.push(c);
    status.conditions = Some(conds);
}

pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(conds) = status.conditions.as_mut() {
        conds.retain(|c| c.type_ != type_);
        if conds.is_empty() {
            status.conditions = None;
        }
    }
}

/// `progressDeadlineSeconds` set and not MaxInt32.
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    d.spec.as_ref()?.progress_deadline_seconds.filter(|s| *s != i32::MAX)
}

// ---------------------------------------------------------------- status

fn n(s: &DeploymentStatus, f: fn(&DeploymentStatus) -> Option<i32>) -> i32 {
    f(s).unwrap_or(0)
}
pub fn st_replicas(s: &DeploymentStatus) -> i32 {
    n(s, |s| s.replicas)
}
pub fn st_updated(s: &DeploymentStatus) -> i32 {
    n(s, |s| s.updated_replicas)
}
pub fn st_ready(s: &DeploymentStatus) -> i32 {
    n(s, |s| s.ready_replicas)
}
pub fn st_available(s: &DeploymentStatus) -> i32 {
    n(s, |s| s.available_replicas)
}

fn nonzero(v: i32) -> Option<i32> {
    (v != 0).then_some(v)
}

/// Upstream `calculateStatus`: counts from the sets plus the `Available`
/// condition.
pub fn calculate_status(all: &[&ReplicaSet], new_rs: Option<&ReplicaSet>, d: &Deployment, now: Timestamp) -> DeploymentStatus {
    let available: i32 = all.iter().map(|r| rs_available(r)).sum();
    let total = replica_count(all.iter().copied());
    let unavailable = (total - available).max(0);
    let old = d.status.clone().unwrap_or_default();
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: nonzero(all.iter().map(|r| rs_actual(r)).sum()),
        updated_replicas: nonzero(new_rs.map(rs_actual).unwrap_or(0)),
        ready_replicas: nonzero(all.iter().map(|r| rs_ready(r)).sum()),
        available_replicas: nonzero(available),
        unavailable_replicas: nonzero(unavailable),
        collision_count: old.collision_count,
        conditions: old.conditions.clone(),
        terminating_replicas: None,
    };
    if available >= replicas(d) - max_unavailable(d) {
        set_condition(&mut status, new_condition("Available", "True", MIN_AVAILABLE, "Deployment has minimum availability.".into(), now));
    } else {
        set_condition(
            &mut status,
            new_condition("Available", "False", MIN_UNAVAILABLE, "Deployment does not have minimum availability.".into(), now),
        );
    }
    status
}

/// Upstream `DeploymentComplete`.
pub fn complete(d: &Deployment, s: &DeploymentStatus) -> bool {
    let r = replicas(d);
    st_updated(s) == r && st_replicas(s) == r && st_available(s) == r && s.observed_generation >= d.metadata.generation
}

/// Upstream `DeploymentProgressing`: any sign of progress since the last status.
pub fn progressing(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old = st_replicas(&old) - st_updated(&old);
    let new_old = st_replicas(new) - st_updated(new);
    st_updated(new) > st_updated(&old)
        || new_old < old_old
        || st_ready(new) > st_ready(&old)
        || st_available(new) > st_available(&old)
}

/// Upstream `DeploymentTimedOut`.
pub fn timed_out(d: &Deployment, s: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else { return false };
    let Some(c) = condition(s, "Progressing") else { return false };
    match c.reason.as_deref() {
        Some(NEW_RS_AVAILABLE) => false,
        Some(TIMED_OUT) => true,
        _ => c.last_update_time.as_ref().is_some_and(|t| t.0 + SignedDuration::from_secs(i64::from(deadline)) < now),
    }
}

/// Upstream `syncRolloutStatus` conditions step: the Progressing condition
/// after this sync (given the freshly calculated `status`).
pub fn update_progress(d: &Deployment, status: &mut DeploymentStatus, new_rs: Option<&ReplicaSet>, now: Timestamp) {
    if progress_deadline(d).is_none() {
        remove_condition(status, "Progressing");
    }
    let current = d.status.as_ref().and_then(|s| condition(s, "Progressing")).cloned();
    let is_complete = st_replicas(status) == st_updated(status) && current.as_ref().is_some_and(|c| c.reason.as_deref() == Some(NEW_RS_AVAILABLE));
    if progress_deadline(d).is_none() || is_complete {
        return;
    }
    let name = d.metadata.name.clone().unwrap_or_default();
    let subject = |what: &str| match new_rs.and_then(|r| r.metadata.name.as_ref()) {
        Some(rs) => format!("ReplicaSet {rs:?} {what}"),
        None => format!("Deployment {name:?} {what}"),
    };
    if complete(d, status) {
        set_condition(status, new_condition("Progressing", "True", NEW_RS_AVAILABLE, subject("has successfully progressed."), now));
    } else if progressing(d, status) {
        let mut c = new_condition("Progressing", "True", RS_UPDATED, subject("is progressing."), now);
        if let Some(cur) = &current {
            if cur.status == "True" {
                c.last_transition_time = cur.last_transition_time.clone();
            }
            remove_condition(status, "Progressing");
        }
        set_condition(status, c);
    } else if timed_out(d, status, now) {
        set_condition(status, new_condition("Progressing", "False", TIMED_OUT, subject("has timed out progressing."), now));
    }
}

/// Upstream `requeueStuckDeployment`: when to look again for a deadline.
pub fn requeue_stuck(d: &Deployment, new: &DeploymentStatus, now: Timestamp) -> Option<std::time::Duration> {
    let deadline = progress_deadline(d)?;
    let cur = d.status.as_ref().and_then(|s| condition(s, "Progressing"))?;
    if complete(d, new) || cur.reason.as_deref() == Some(TIMED_OUT) {
        return None;
    }
    let at = cur.last_update_time.as_ref()?.0 + SignedDuration::from_secs(i64::from(deadline));
    let after = std::time::Duration::try_from(at.duration_since(now)).unwrap_or_default();
    Some(if after < std::time::Duration::from_secs(1) { std::time::Duration::from_secs(1) } else { after + std::time::Duration::from_secs(1) })
}

#[cfg(test)]
mod tests;
