//! Pure StatefulSet rules (upstream `stateful_set_utils.go` and the
//! decision part of `stateful_set_control.go`): stable identities,
//! claims from volumeClaimTemplates, and the ordered plan of pod actions
//! for one sync.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimVolumeSource, Pod, PodTemplateSpec, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;

use crate::controllers::history::HASH_LABEL;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::pod_util;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// `(parent, ordinal)` from `<parent>-<ordinal>`.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i32)> {
    let (parent, ord) = name.rsplit_once('-')?;
    if ord.is_empty() || !ord.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, ord.parse().ok()?))
}

/// Whether `pod` is one of `set`'s ordinals by name.
pub fn is_member(set: &StatefulSet, pod: &CachedPod) -> bool {
    let set_name = set.metadata.name.as_deref().unwrap_or("");
    pod.metadata.name.as_deref().and_then(parent_and_ordinal).is_some_and(|(p, _)| p == set_name)
}

pub fn ordinal(pod: &CachedPod) -> Option<i32> {
    pod.metadata.name.as_deref().and_then(parent_and_ordinal).map(|(_, o)| o)
}

pub fn start_ordinal(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.ordinals.as_ref()).and_then(|o| o.start).unwrap_or(0)
}

pub fn replicas(set: &StatefulSet) -> i32 {
    set.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

pub fn revision_of(pod: &CachedPod) -> &str {
    pod.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).map(String::as_str).unwrap_or("")
}

/// `<claim-template>-<set>-<ordinal>`.
pub fn claim_name(template: &str, set: &str, ordinal: i32) -> String {
    format!("{template}-{set}-{ordinal}")
}

/// The claims pod `ordinal` needs (upstream `getPersistentVolumeClaims`):
/// template metadata, plus the set's matchLabels, in the set's namespace.
pub fn claims_for(set: &StatefulSet, ordinal: i32) -> Vec<PersistentVolumeClaim> {
    let name = set.metadata.name.clone().unwrap_or_default();
    let Some(spec) = set.spec.as_ref() else { return Vec::new() };
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|t| {
            let tname = t.metadata.name.clone().unwrap_or_default();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            for (k, v) in spec.selector.match_labels.iter().flatten() {
                labels.insert(k.clone(), v.clone());
            }
            PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some(claim_name(&tname, &name, ordinal)),
                    namespace: set.metadata.namespace.clone(),
                    labels: Some(labels),
                    annotations: t.metadata.annotations.clone(),
                    ..ObjectMeta::default()
                },
                spec: t.spec.clone(),
                status: None,
            }
        })
        .collect()
}

/// Upstream `newStatefulSetPod` + `setPodRevision`: the pod for `ordinal`
/// from `template`, with its stable identity and claims mounted.
pub fn new_pod(set: &StatefulSet, template: &PodTemplateSpec, ordinal: i32, revision: &str, owner: OwnerReference) -> Pod {
    let set_name = set.metadata.name.clone().unwrap_or_default();
    let ns = set.metadata.namespace.clone().unwrap_or_default();
    let mut pod = pod_util::pod_from_template(template, &ns, &set_name, Some(owner));
    let name = format!("{set_name}-{ordinal}");
    pod.metadata.generate_name = None;
    pod.metadata.name = Some(name.clone());
    let labels = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(POD_NAME_LABEL.into(), name.clone());
    labels.insert(POD_INDEX_LABEL.into(), ordinal.to_string());
    labels.insert(HASH_LABEL.into(), revision.to_string());
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.hostname = Some(name.clone());
    spec.subdomain = set.spec.as_ref().and_then(|s| s.service_name.clone()).filter(|s| !s.is_empty());
    let mut volumes: Vec<Volume> = spec.volumes.take().unwrap_or_default();
    for claim in claims_for(set, ordinal) {
        let template_name = claim
            .metadata
            .name
            .as_deref()
            .and_then(|n| n.strip_suffix(&format!("-{set_name}-{ordinal}")))
            .unwrap_or_default()
            .to_string();
        volumes.retain(|v| v.name != template_name);
        volumes.push(Volume {
            name: template_name,
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.metadata.name.clone().unwrap_or_default(),
                read_only: None,
            }),
            ..Volume::default()
        });
    }
    spec.volumes = (!volumes.is_empty()).then_some(volumes);
    pod
}

/// Upstream `identityMatches` (labels only: hostname/subdomain are immutable).
pub fn identity_matches(set: &StatefulSet, pod: &CachedPod) -> bool {
    let Some(ord) = ordinal(pod) else { return false };
    let labels = pod.metadata.labels.as_ref();
    let name = pod.metadata.name.as_deref().unwrap_or("");
    is_member(set, pod)
        && pod.metadata.namespace == set.metadata.namespace
        && labels.and_then(|l| l.get(POD_NAME_LABEL)).map(String::as_str) == Some(name)
        && labels.and_then(|l| l.get(POD_INDEX_LABEL)) == Some(&ord.to_string())
}

fn is_created(pod: &CachedPod) -> bool {
    !pod_util::phase(pod).is_empty()
}
fn is_terminating(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}
fn running_and_ready(pod: &CachedPod) -> bool {
    pod_util::phase(pod) == "Running" && pod_util::is_ready(pod)
}
fn healthy(pod: &CachedPod) -> bool {
    running_and_ready(pod) && !is_terminating(pod)
}

/// One action of a sync, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Create pod `ordinal` (and its claims) at the current or update revision.
    Create { ordinal: i32, update_revision: bool },
    /// Delete a pod: failed/succeeded (to recreate), condemned (scale down)
    /// or outdated (rolling update).
    Delete { name: String, condemned: bool },
    /// Restore identity labels on an existing pod.
    FixIdentity { name: String },
}

/// The plan of a sync plus the status counted from the pods.
#[derive(Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub status: StatefulSetStatus,
}

fn parallel(set: &StatefulSet) -> bool {
    set.spec.as_ref().and_then(|s| s.pod_management_policy.as_deref()) == Some("Parallel")
}

fn strategy(set: &StatefulSet) -> (String, Option<i32>) {
    let s = set.spec.as_ref().and_then(|s| s.update_strategy.as_ref());
    let type_ = s.and_then(|s| s.type_.clone()).unwrap_or_else(|| "RollingUpdate".into());
    let partition = s.and_then(|s| s.rolling_update.as_ref()).map(|r| r.partition.unwrap_or(0));
    (type_, partition)
}

/// Upstream `newVersionedStatefulSetPod`'s choice: ordinals below the
/// partition stay at the current revision.
pub fn uses_update_revision(set: &StatefulSet, ordinal: i32) -> bool {
    let (type_, partition) = strategy(set);
    let start = start_ordinal(set);
    let current_replicas = set.status.as_ref().and_then(|s| s.current_replicas).unwrap_or(0);
    let keep_current = match partition {
        None => type_ == "RollingUpdate" && ordinal < start + current_replicas,
        Some(p) => ordinal < start + p,
    };
    !keep_current
}

/// Upstream `updateStatefulSet`'s decisions over the claimed pods.
pub fn plan(set: &StatefulSet, pods: &[Arc<CachedPod>], current: &str, update: &str, now: Timestamp) -> Plan {
    let min_ready = set.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let mut status = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(current.to_string()),
        update_revision: Some(update.to_string()),
        collision_count: set.status.as_ref().and_then(|s| s.collision_count),
        ..StatefulSetStatus::default()
    };
    let (mut ready, mut available, mut current_n, mut updated_n) = (0, 0, 0, 0);
    let start = start_ordinal(set);
    let count = replicas(set).max(0);
    let mut slots: Vec<Option<&CachedPod>> = vec![None; count as usize];
    let mut condemned: Vec<&CachedPod> = Vec::new();
    for pod in pods {
        status.replicas += 1;
        if running_and_ready(pod) {
            ready += 1;
            if pod_util::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if is_created(pod) && !is_terminating(pod) {
            if revision_of(pod) == current {
                current_n += 1;
            }
            if revision_of(pod) == update {
                updated_n += 1;
            }
        }
        match ordinal(pod) {
            Some(o) if o >= start && o < start + count => slots[(o - start) as usize] = Some(pod),
            _ => condemned.push(pod),
        }
    }
    let nz = |v: i32| (v != 0).then_some(v);
    status.ready_replicas = nz(ready);
    status.available_replicas = Some(available);
    status.current_replicas = nz(current_n);
    status.updated_replicas = nz(updated_n);
    let mut plan = Plan { steps: Vec::new(), status };
    if set.metadata.deletion_timestamp.is_some() {
        return plan;
    }
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p).unwrap_or(i32::MAX)));
    let first_unhealthy: Option<&str> =
        slots.iter().flatten().chain(condemned.iter()).find(|p| !healthy(p)).and_then(|p| p.metadata.name.as_deref());
    let monotonic = !parallel(set);
    for (i, slot) in slots.iter().enumerate() {
        let ordinal = start + i as i32;
        let Some(pod) = slot else {
            plan.steps.push(Step::Create { ordinal, update_revision: uses_update_revision(set, ordinal) });
            if monotonic {
                return plan;
            }
            continue;
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        if matches!(pod_util::phase(pod), "Failed" | "Succeeded") {
            if !is_terminating(pod) {
                plan.steps.push(Step::Delete { name, condemned: false });
            }
            if monotonic {
                return plan;
            }
            continue;
        }
        if is_terminating(pod) && monotonic {
            return plan;
        }
        if !healthy(pod) && monotonic {
            return plan;
        }
        if monotonic && !pod_util::is_available(pod, min_ready, now) {
            return plan;
        }
        if !identity_matches(set, pod) {
            plan.steps.push(Step::FixIdentity { name });
        }
    }
    for pod in &condemned {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if is_terminating(pod) {
            if monotonic {
                return plan;
            }
            continue;
        }
        if !running_and_ready(pod) && monotonic && first_unhealthy != Some(name.as_str()) {
            return plan;
        }
        plan.steps.push(Step::Delete { name, condemned: true });
        if monotonic {
            return plan;
        }
    }
    let (type_, partition) = strategy(set);
    if type_ == "OnDelete" {
        return plan;
    }
    let update_min = partition.unwrap_or(0).max(0) as usize;
    let max_unavailable = set
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref())
        .and_then(|r| r.max_unavailable.as_ref())
        .map(|m| crate::controllers::deployment::util::scaled_value(m, count, false).unwrap_or(1).max(1));
    let Some(max_unavailable) = max_unavailable else {
        // Upstream default: replace the highest outdated pod, one at a time,
        // stopping at any unhealthy pod.
        for i in (update_min..slots.len()).rev() {
            let Some(pod) = slots[i] else { return plan };
            if revision_of(pod) != update && !is_terminating(pod) {
                plan.steps.push(Step::Delete { name: pod.metadata.name.clone().unwrap_or_default(), condemned: false });
                return plan;
            }
            if !healthy(pod) {
                return plan;
            }
        }
        return plan;
    };
    // maxUnavailable (upstream's MaxUnavailableStatefulSet): replace up to
    // maxUnavailable outdated pods at once, highest ordinals first.
    let mut unavailable = slots.iter().skip(update_min).filter(|s| s.is_none_or(|p| !healthy(p))).count() as i32;
    for i in (update_min..slots.len()).rev() {
        let Some(pod) = slots[i] else { continue };
        if revision_of(pod) != update && !is_terminating(pod) {
            if healthy(pod) {
                if unavailable >= max_unavailable {
                    return plan;
                }
                unavailable += 1;
            }
            plan.steps.push(Step::Delete { name: pod.metadata.name.clone().unwrap_or_default(), condemned: false });
        }
    }
    plan
}

/// Upstream `completeRollingUpdate`: once every pod is updated and ready,
/// the update revision becomes current.
pub fn complete_rolling_update(set: &StatefulSet, status: &mut StatefulSetStatus) {
    let (type_, _) = strategy(set);
    if type_ == "RollingUpdate"
        && status.updated_replicas.unwrap_or(0) == status.replicas
        && status.ready_replicas.unwrap_or(0) == status.replicas
    {
        status.current_replicas = status.updated_replicas;
        status.current_revision = status.update_revision.clone();
    }
}

#[cfg(test)]
mod tests;
