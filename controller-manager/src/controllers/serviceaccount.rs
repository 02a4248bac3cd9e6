//! The service-account controller (`serviceaccount`): every active
//! namespace has a `default` ServiceAccount, re-created when deleted.
//!
//! Upstream (`pkg/controller/serviceaccount/serviceaccounts_controller.go`)
//! syncs a namespace when it appears or when one of the ensured accounts
//! is deleted; terminating namespaces are left alone.

use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::PostParams;
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::{run_workers, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "serviceaccount";
/// Accounts ensured in every namespace (`--service-account-names`... upstream: `default`).
pub const ENSURED: &[&str] = &["default"];

/// The accounts to create in `ns` given the names that exist.
pub fn missing(ns: &Namespace, existing: &[String]) -> Vec<&'static str> {
    let active = ns.metadata.deletion_timestamp.is_none()
        && ns.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|p| p == "Active");
    if !active {
        return Vec::new();
    }
    ENSURED.iter().copied().filter(|n| !existing.iter().any(|e| e == n)).collect()
}

struct State {
    client: kube::Client,
    namespaces: crate::runtime::Informer<Namespace>,
    accounts: crate::runtime::Informer<ServiceAccount>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(ns) = state.namespaces.get("", &key.name) else { return Ok(None) };
    let existing: Vec<String> = state.accounts.list_namespace(&key.name).iter().filter_map(|sa| sa.metadata.name.clone()).collect();
    let api: Api<ServiceAccount> = Api::namespaced(state.client.clone(), &key.name);
    for name in missing(&ns, &existing) {
        let sa = ServiceAccount {
            metadata: kube::api::ObjectMeta { name: Some(name.to_string()), ..Default::default() },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &sa).await {
            Ok(_) => tracing::info!(namespace = %key.name, name, "created service account"),
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            // The namespace is terminating (NamespaceLifecycle refuses creates).
            Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("terminat") => {}
            Err(err) => return Err(err).with_context(|| format!("creating service account {}/{name}", key.name)),
        }
    }
    Ok(None)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let namespaces = ctx.informers.get::<Namespace>();
    let accounts = ctx.informers.get::<ServiceAccount>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = namespaces.add_handler({
        let q = queue.clone();
        move |change| {
            if let crate::runtime::Change::Applied { new, .. } = change {
                q.add(ObjectKey::new("", new.metadata.name.clone().unwrap_or_default()));
            }
        }
    });
    let _g2 = accounts.add_handler({
        let q = queue.clone();
        move |change| {
            if let crate::runtime::Change::Deleted(sa) = change {
                if sa.metadata.name.as_deref().is_some_and(|n| ENSURED.contains(&n)) {
                    q.add(ObjectKey::new("", sa.metadata.namespace.clone().unwrap_or_default()));
                }
            }
        }
    });
    namespaces.wait_synced().await?;
    accounts.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), namespaces, accounts });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_table() {
        let ns = |phase: Option<&str>, deleting: bool| {
            let mut n = Namespace {
                status: phase.map(|p| k8s_openapi::api::core::v1::NamespaceStatus { phase: Some(p.into()), conditions: None }),
                ..Default::default()
            };
            if deleting {
                n.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
            }
            n
        };
        let cases = [
            (ns(Some("Active"), false), vec![], vec!["default"]),
            (ns(None, false), vec![], vec!["default"]),
            (ns(Some("Active"), false), vec!["default".to_string()], vec![]),
            (ns(Some("Terminating"), false), vec![], vec![]),
            (ns(Some("Active"), true), vec![], vec![]),
        ];
        for (i, (n, existing, want)) in cases.into_iter().enumerate() {
            assert_eq!(missing(&n, &existing), want, "case {i}");
        }
    }
}
