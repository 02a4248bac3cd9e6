//! ControllerRevision helpers shared by the StatefulSet and DaemonSet
//! controllers (upstream `pkg/controller/history`): the revision's data is
//! a patch replacing `spec.template`; revisions are named
//! `<parent>-<hash>`, carry the `controller-revision-hash` label, are
//! ordered by `revision` and pruned beyond `revisionHistoryLimit` unless a
//! live pod still references them.

use std::collections::{BTreeMap, HashSet};

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use kube::api::PostParams;
use kube::Api;
use serde_json::{json, Value};

use crate::controllers::deployment::util::safe_encode;
use crate::runtime::owner;

/// Label on revisions (and on pods) naming their revision.
pub const HASH_LABEL: &str = "controller-revision-hash";

/// JSON with object keys sorted recursively (Go's `json.Marshal` of a map).
pub fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Upstream `getPatch`: `{"spec":{"template":{...,"$patch":"replace"}}}`.
pub fn template_patch(template: &PodTemplateSpec) -> Value {
    let mut t = serde_json::to_value(template).unwrap_or(Value::Null);
    if let Some(m) = t.as_object_mut() {
        m.insert("$patch".into(), json!("replace"));
    }
    canonical(&json!({"spec": {"template": t}}))
}

/// The template a revision's data replaces `spec.template` with.
pub fn template_of(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut t = revision.data.as_ref()?.0.get("spec")?.get("template")?.clone();
    if let Some(m) = t.as_object_mut() {
        m.remove("$patch");
    }
    serde_json::from_value(t).ok()
}

/// 32-bit FNV-1 (upstream `fnv.New32`, used for revision hashes).
pub fn fnv32(chunks: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for chunk in chunks {
        for b in *chunk {
            h = h.wrapping_mul(0x0100_0193);
            h ^= u32::from(*b);
        }
    }
    h
}

/// Upstream `HashControllerRevision`: FNV-1 of the data, then the collision
/// count in decimal, safe-encoded.
pub fn hash_revision(data: &Value, collision_count: Option<i32>) -> String {
    let raw = serde_json::to_vec(&canonical(data)).unwrap_or_default();
    let sum = match collision_count {
        Some(c) => fnv32(&[&raw, c.to_string().as_bytes()]),
        None => fnv32(&[&raw]),
    };
    safe_encode(&sum.to_string())
}

/// Upstream `ControllerRevisionName`: `<prefix>-<hash>`, prefix cut to 223.
pub fn revision_name(prefix: &str, hash: &str) -> String {
    let prefix: String = prefix.chars().take(223).collect();
    format!("{prefix}-{hash}")
}

/// Upstream `NewControllerRevision` (StatefulSet flavour).
pub fn new_revision(
    parent: OwnerReference,
    namespace: &str,
    template_labels: Option<&BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: Option<i32>,
) -> ControllerRevision {
    let hash = hash_revision(&data, collision_count);
    let mut labels = template_labels.cloned().unwrap_or_default();
    labels.insert(HASH_LABEL.into(), hash.clone());
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision_name(&parent.name, &hash)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            owner_references: Some(vec![parent]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(data)),
        revision,
    }
}

/// Upstream `EqualRevision`: same data (the hash label is a shortcut).
pub fn equal_revision(a: &ControllerRevision, b: &ControllerRevision) -> bool {
    let data = |r: &ControllerRevision| r.data.as_ref().map(|d| canonical(&d.0));
    data(a) == data(b)
}

/// Upstream `SortControllerRevisions`: revision, creation, name.
pub fn sort(revisions: &mut [ControllerRevision]) {
    revisions.sort_by(|a, b| {
        a.revision
            .cmp(&b.revision)
            .then_with(|| a.metadata.creation_timestamp.as_ref().map(|t| t.0).cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0)))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
}

/// Upstream `NextRevision` over sorted revisions.
pub fn next_revision(sorted: &[ControllerRevision]) -> i64 {
    sorted.last().map(|r| r.revision + 1).unwrap_or(1)
}

/// Names of the oldest revisions to delete: beyond `limit`, never a live one.
pub fn to_prune(sorted: &[ControllerRevision], live: &HashSet<String>, limit: i32) -> Vec<String> {
    let history: Vec<&ControllerRevision> =
        sorted.iter().filter(|r| !live.contains(r.metadata.name.as_deref().unwrap_or(""))).collect();
    let excess = history.len() as i64 - i64::from(limit.max(0));
    history.iter().take(excess.max(0) as usize).filter_map(|r| r.metadata.name.clone()).collect()
}

/// Upstream `CreateControllerRevision`: create, and on a name clash with a
/// different revision raise the collision count and retry.
pub async fn create(
    api: &Api<ControllerRevision>,
    parent: OwnerReference,
    namespace: &str,
    template_labels: Option<&BTreeMap<String, String>>,
    data: Value,
    revision: i64,
    collision_count: &mut i32,
) -> anyhow::Result<ControllerRevision> {
    for _ in 0..100 {
        let cr = new_revision(parent.clone(), namespace, template_labels, data.clone(), revision, Some(*collision_count));
        let name = cr.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &cr).await {
            Ok(created) => return Ok(created),
            Err(e) if owner::is_conflict(&e) => {
                let existing = api.get(&name).await?;
                if equal_revision(&existing, &cr) {
                    return Ok(existing);
                }
                *collision_count += 1;
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("creating controller revision {name}"))),
        }
    }
    anyhow::bail!("too many controller revision hash collisions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naming_hashing_pruning() {
        let t = PodTemplateSpec::default();
        let data = template_patch(&t);
        assert_eq!(data, json!({"spec": {"template": {"$patch": "replace"}}}));
        let h = hash_revision(&data, Some(0));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)) && !h.is_empty());
        assert_ne!(h, hash_revision(&data, Some(1)));
        let parent = OwnerReference { name: "web".into(), uid: "u".into(), ..Default::default() };
        let r = new_revision(parent, "ns", None, data, 1, Some(0));
        assert_eq!(r.metadata.name.as_deref(), Some(format!("web-{h}").as_str()));
        assert_eq!(template_of(&r), Some(t));
        let mk = |name: &str, rev: i64| ControllerRevision {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            data: None,
            revision: rev,
        };
        let mut revs = vec![mk("c", 3), mk("a", 1), mk("b", 2), mk("d", 4)];
        sort(&mut revs);
        assert_eq!(next_revision(&revs), 5);
        let live: HashSet<String> = ["a".to_string(), "d".to_string()].into();
        assert_eq!(to_prune(&revs, &live, 1), vec!["b".to_string()]);
        assert!(to_prune(&revs, &live, 2).is_empty());
        assert_eq!(fnv32(&[b""]), 0x811c_9dc5);
    }
}
