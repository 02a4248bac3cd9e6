//! The namespace controller (`namespace`): empties a namespace being
//! deleted and then releases it.
//!
//! Upstream (`pkg/controller/namespace/deletion/namespaced_resources_deleter.go`):
//! for a namespace with `deletionTimestamp` whose `spec.finalizers` still
//! holds `kubernetes`, discover every namespaced resource that can be listed
//! and deleted, delete its objects (`deletecollection` when served, else one
//! by one), count what remains (and which finalizers hold it), record the
//! five deletion conditions in `status.conditions`, and once nothing
//! remains remove `kubernetes` through `namespaces/<n>/finalize`; the
//! apiserver then deletes the namespace. While content remains the key is
//! re-queued.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Namespace, NamespaceCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, DynamicObject, ListParams, PostParams};
use kube::discovery::verbs;
use k8s_openapi::jiff;
use kube::Api;

use super::garbagecollector::discovery::{self, DiscoveredResource};
use crate::controllers::Ctx;
use crate::runtime::{run_workers, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "namespace";
/// The finalizer this controller owns in `spec.finalizers`.
pub const FINALIZER_KUBERNETES: &str = "kubernetes";

pub const DISCOVERY_FAILURE: &str = "NamespaceDeletionDiscoveryFailure";
pub const GV_PARSING_FAILURE: &str = "NamespaceDeletionGroupVersionParsingFailure";
pub const CONTENT_FAILURE: &str = "NamespaceDeletionContentFailure";
pub const CONTENT_REMAINING: &str = "NamespaceContentRemaining";
pub const FINALIZERS_REMAINING: &str = "NamespaceFinalizersRemaining";

/// Upstream's `conditionTypes` order with the "ok" reason and message.
const CONDITIONS: [(&str, &str, &str); 5] = [
    (DISCOVERY_FAILURE, "ResourcesDiscovered", "All resources successfully discovered"),
    (GV_PARSING_FAILURE, "ParsedGroupVersions", "All legacy kube types successfully parsed"),
    (CONTENT_FAILURE, "ContentDeleted", "All content successfully deleted, may be waiting on finalization"),
    (CONTENT_REMAINING, "ContentRemoved", "All content successfully removed"),
    (FINALIZERS_REMAINING, "ContentRemoved", "All content successfully removed"),
];

/// What one deletion pass observed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DeletionReport {
    /// Discovery failed (message).
    pub discovery_error: Option<String>,
    /// Per-resource deletion errors (messages).
    pub delete_errors: Vec<String>,
    /// Objects still present, by `resource.group` (core: `resource.`).
    pub remaining: BTreeMap<String, usize>,
    /// Objects still present, by finalizer.
    pub finalizers: BTreeMap<String, usize>,
}

impl DeletionReport {
    /// Nothing left and nothing failed: the namespace can be finalized.
    pub fn done(&self) -> bool {
        self.discovery_error.is_none() && self.delete_errors.is_empty() && self.remaining.values().all(|n| *n == 0)
    }
}

/// The failing conditions a report calls for (type, reason, message);
/// types not listed get upstream's "ok" variant.
pub fn failing_conditions(report: &DeletionReport) -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    if let Some(e) = &report.discovery_error {
        out.push((DISCOVERY_FAILURE, "DiscoveryFailed", e.clone()));
    }
    if !report.delete_errors.is_empty() {
        let mut msgs = report.delete_errors.clone();
        msgs.sort();
        out.push((
            CONTENT_FAILURE,
            "ContentDeletionFailed",
            format!("Failed to delete all resource types, {} remaining: {}", msgs.len(), msgs.join(", ")),
        ));
    }
    let mut remaining: Vec<String> = report
        .remaining
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(gr, n)| format!("{gr} has {n} resource instances"))
        .collect();
    if !remaining.is_empty() {
        remaining.sort();
        out.push((CONTENT_REMAINING, "SomeResourcesRemain", format!("Some resources are remaining: {}", remaining.join(", "))));
    }
    let mut finalizers: Vec<String> = report
        .finalizers
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(f, n)| format!("{f} in {n} resource instances"))
        .collect();
    if !finalizers.is_empty() {
        finalizers.sort();
        out.push((FINALIZERS_REMAINING, "SomeFinalizerRemain", format!("Some finalizers are remaining: {}", finalizers.join(", "))));
    }
    out
}

/// Upstream `updateConditions`: every managed condition type present, the
/// transition time moving only when the status flips. Returns whether
/// anything changed.
pub fn update_conditions(conditions: &mut Vec<NamespaceCondition>, report: &DeletionReport, now: jiff::Timestamp) -> bool {
    let failing = failing_conditions(report);
    let mut changed = false;
    for (ty, ok_reason, ok_message) in CONDITIONS {
        let (status, reason, message) = match failing.iter().find(|(t, _, _)| *t == ty) {
            Some((_, reason, message)) => ("True", reason.to_string(), message.clone()),
            None => ("False", ok_reason.to_string(), ok_message.to_string()),
        };
        match conditions.iter_mut().find(|c| c.type_ == ty) {
            None => {
                conditions.push(NamespaceCondition {
                    type_: ty.to_string(),
                    status: status.to_string(),
                    reason: Some(reason),
                    message: Some(message),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(c) => {
                if c.status != status || c.reason.as_deref() != Some(reason.as_str()) || c.message.as_deref() != Some(message.as_str()) {
                    if c.status != status {
                        c.last_transition_time = Some(Time(now));
                    }
                    c.status = status.to_string();
                    c.reason = Some(reason);
                    c.message = Some(message);
                    changed = true;
                }
            }
        }
    }
    changed
}

/// Upstream's GroupResource-ish key used in messages: `resource.group`
/// (the core group leaves `resource.`).
pub fn remaining_key(r: &DiscoveredResource) -> String {
    format!("{}.{}", r.resource.plural, r.resource.group)
}

/// Whether this controller has work on `ns`.
pub fn needs_deletion(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        && ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).is_some_and(|f| f.iter().any(|x| x == FINALIZER_KUBERNETES))
}

struct State {
    client: kube::Client,
    namespaces: crate::runtime::Informer<Namespace>,
}

/// Deletes the namespace's content once and reports what is left.
async fn delete_content(client: &kube::Client, namespace: &str) -> DeletionReport {
    let mut report = DeletionReport::default();
    let resources = match discovery::discover(client).await {
        Ok(r) => r,
        Err(err) => {
            report.discovery_error = Some(format!("{err:#}"));
            return report;
        }
    };
    for r in resources.all.iter().filter(|r| r.namespaced && r.supports(verbs::LIST) && r.supports(verbs::DELETE)) {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &r.resource);
        let dp = DeleteParams::background();
        if r.supports(verbs::DELETE_COLLECTION) {
            if let Err(err) = api.delete_collection(&dp, &ListParams::default()).await {
                report.delete_errors.push(format!("{}: {err}", r.group_resource()));
                continue;
            }
        }
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            Err(err) => {
                report.delete_errors.push(format!("{}: {err}", r.group_resource()));
                continue;
            }
        };
        let mut left = 0;
        for obj in &list.items {
            left += 1;
            for f in obj.metadata.finalizers.iter().flatten() {
                *report.finalizers.entry(f.clone()).or_default() += 1;
            }
            if !r.supports(verbs::DELETE_COLLECTION) && obj.metadata.deletion_timestamp.is_none() {
                if let Some(name) = &obj.metadata.name {
                    if let Err(err) = api.delete(name, &dp).await {
                        if !crate::runtime::owner::is_not_found(&err) {
                            report.delete_errors.push(format!("{}: {err}", r.group_resource()));
                        }
                    }
                }
            }
        }
        if left > 0 {
            report.remaining.insert(remaining_key(r), left);
        }
    }
    report
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(ns) = state.namespaces.get("", &key.name) else { return Ok(None) };
    if !needs_deletion(&ns) {
        return Ok(None);
    }
    let api: Api<Namespace> = Api::all(state.client.clone());
    let report = delete_content(&state.client, &key.name).await;
    // Record the conditions on the freshest copy.
    if let Some(mut current) = api.get_opt(&key.name).await.context("getting namespace")? {
        let status = current.status.get_or_insert_with(Default::default);
        let conditions = status.conditions.get_or_insert_with(Vec::new);
        if update_conditions(conditions, &report, jiff::Timestamp::now()) {
            match api.replace_status(&key.name, &PostParams::default(), &current).await {
                Ok(_) => {}
                Err(err) if crate::runtime::owner::is_not_found(&err) => return Ok(None),
                Err(err) if crate::runtime::owner::is_conflict(&err) => return Ok(Some(Duration::from_millis(200))),
                Err(err) => return Err(err).context("updating namespace status conditions"),
            }
        }
    } else {
        return Ok(None);
    }
    if !report.done() {
        tracing::info!(namespace = %key.name, remaining = ?report.remaining, errors = ?report.delete_errors, "namespace content remains");
        return Ok(Some(Duration::from_secs(2)));
    }
    // Finalize: drop `kubernetes` from spec.finalizers.
    let Some(mut current) = api.get_opt(&key.name).await.context("getting namespace")? else { return Ok(None) };
    if let Some(spec) = current.spec.as_mut() {
        if let Some(f) = spec.finalizers.as_mut() {
            f.retain(|x| x != FINALIZER_KUBERNETES);
        }
    }
    match api.replace_subresource("finalize", &key.name, &PostParams::default(), &current).await {
        Ok(_) => {
            tracing::info!(namespace = %key.name, "namespace content removed; finalized");
            Ok(None)
        }
        Err(err) if crate::runtime::owner::is_not_found(&err) => Ok(None),
        Err(err) => Err(err).context("finalizing namespace"),
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let namespaces = ctx.informers.get::<Namespace>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _guard = namespaces.add_handler({
        let q = queue.clone();
        move |change| {
            if needs_deletion(change.object()) {
                q.add(ObjectKey::of(&**change.object()));
            }
        }
    });
    namespaces.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), namespaces });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn messages_match_upstream() {
        let report = DeletionReport {
            discovery_error: None,
            delete_errors: vec!["b: x".into(), "a: y".into()],
            remaining: BTreeMap::from([("pods.".to_string(), 2), ("configmaps.".to_string(), 0), ("jobs.batch".to_string(), 1)]),
            finalizers: BTreeMap::from([("example.com/f".to_string(), 1)]),
        };
        let got = failing_conditions(&report);
        assert_eq!(
            got,
            vec![
                (CONTENT_FAILURE, "ContentDeletionFailed", "Failed to delete all resource types, 2 remaining: a: y, b: x".to_string()),
                (CONTENT_REMAINING, "SomeResourcesRemain", "Some resources are remaining: jobs.batch has 1 resource instances, pods. has 2 resource instances".to_string()),
                (FINALIZERS_REMAINING, "SomeFinalizerRemain", "Some finalizers are remaining: example.com/f in 1 resource instances".to_string()),
            ]
        );
        assert!(!report.done());
        assert!(DeletionReport::default().done());
    }

    #[test]
    fn conditions_transition_only_on_status_flip() {
        let mut conds = Vec::new();
        let busy = DeletionReport { remaining: BTreeMap::from([("pods.".to_string(), 1)]), ..Default::default() };
        assert!(update_conditions(&mut conds, &busy, ts(10)));
        assert_eq!(conds.len(), 5);
        let remaining = conds.iter().find(|c| c.type_ == CONTENT_REMAINING).cloned();
        assert_eq!(remaining.as_ref().map(|c| c.status.as_str()), Some("True"));
        assert!(!update_conditions(&mut conds, &busy, ts(20)), "no change, no write");
        let busier = DeletionReport { remaining: BTreeMap::from([("pods.".to_string(), 2)]), ..Default::default() };
        assert!(update_conditions(&mut conds, &busier, ts(30)));
        let c = conds.iter().find(|c| c.type_ == CONTENT_REMAINING).cloned();
        assert_eq!(c.and_then(|c| c.last_transition_time), Some(Time(ts(10))), "message change keeps the time");
        assert!(update_conditions(&mut conds, &DeletionReport::default(), ts(40)));
        let c = conds.iter().find(|c| c.type_ == CONTENT_REMAINING).cloned();
        assert_eq!(c.as_ref().map(|c| (c.status.as_str(), c.reason.as_deref())), Some(("False", Some("ContentRemoved"))));
        assert_eq!(c.and_then(|c| c.last_transition_time), Some(Time(ts(40))));
    }

    #[test]
    fn needs_deletion_requires_timestamp_and_finalizer() {
        let mut ns = Namespace { spec: Some(k8s_openapi::api::core::v1::NamespaceSpec { finalizers: Some(vec!["kubernetes".into()]) }), ..Default::default() };
        assert!(!needs_deletion(&ns));
        ns.metadata.deletion_timestamp = Some(Time(ts(1)));
        assert!(needs_deletion(&ns));
        ns.spec = Some(Default::default());
        assert!(!needs_deletion(&ns));
    }
}
