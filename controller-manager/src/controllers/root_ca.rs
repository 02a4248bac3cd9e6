//! The root CA publisher (`root-ca-cert-publisher`): a ConfigMap
//! `kube-root-ca.crt` with key `ca.crt` (the `--root-ca-file` bundle) in
//! every namespace, restored when edited or deleted.
//!
//! Upstream (`pkg/controller/certificates/rootcacertpublisher/publisher.go`)
//! syncs a namespace on namespace add/update and on any change to its
//! `kube-root-ca.crt`; terminating namespaces are skipped; the ConfigMap
//! carries the `kubernetes.io/description` annotation.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::PostParams;
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::{run_workers, Change, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "root-ca-cert-publisher";
pub const CONFIGMAP_NAME: &str = "kube-root-ca.crt";
pub const DATA_KEY: &str = "ca.crt";
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// What to do about one namespace's ConfigMap.
#[derive(Debug, PartialEq)]
pub enum Plan {
    Nothing,
    Create(ConfigMap),
    /// Replace data and annotation on the existing object.
    Update(ConfigMap),
}

pub fn plan(ns: &Namespace, existing: Option<&ConfigMap>, ca: &str) -> Plan {
    if ns.metadata.deletion_timestamp.is_some() || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating") {
        return Plan::Nothing;
    }
    let data = BTreeMap::from([(DATA_KEY.to_string(), ca.to_string())]);
    match existing {
        None => Plan::Create(ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(CONFIGMAP_NAME.into()),
                namespace: ns.metadata.name.clone(),
                annotations: Some(BTreeMap::from([(DESCRIPTION_ANNOTATION.to_string(), DESCRIPTION.to_string())])),
                ..Default::default()
            },
            data: Some(data),
            ..Default::default()
        }),
        Some(cm) => {
            let annotated = cm.metadata.annotations.as_ref().and_then(|a| a.get(DESCRIPTION_ANNOTATION)).map(String::as_str) == Some(DESCRIPTION);
            if cm.data.as_ref() == Some(&data) && annotated {
                return Plan::Nothing;
            }
            let mut cm = cm.clone();
            cm.data = Some(data);
            cm.binary_data = None;
            cm.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(DESCRIPTION_ANNOTATION.into(), DESCRIPTION.into());
            Plan::Update(cm)
        }
    }
}

struct State {
    client: kube::Client,
    ca: String,
    namespaces: crate::runtime::Informer<Namespace>,
    configmaps: crate::runtime::Informer<ConfigMap>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(ns) = state.namespaces.get("", &key.name) else { return Ok(None) };
    let existing = state.configmaps.get(&key.name, CONFIGMAP_NAME);
    let api: Api<ConfigMap> = Api::namespaced(state.client.clone(), &key.name);
    match plan(&ns, existing.as_deref(), &state.ca) {
        Plan::Nothing => Ok(None),
        Plan::Create(cm) => match api.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("terminat") => Ok(None),
            Err(err) => Err(err).with_context(|| format!("creating {}/{CONFIGMAP_NAME}", key.name)),
        },
        Plan::Update(cm) => match api.replace(CONFIGMAP_NAME, &PostParams::default(), &cm).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(err) => Err(err).with_context(|| format!("updating {}/{CONFIGMAP_NAME}", key.name)),
        },
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let Some(path) = ctx.settings.root_ca_file.clone() else {
        tracing::warn!("root-ca-cert-publisher: no --root-ca-file; not publishing {CONFIGMAP_NAME}");
        futures::future::pending::<()>().await;
        return Ok(());
    };
    let ca = tokio::fs::read_to_string(&path).await.with_context(|| format!("reading --root-ca-file {}", path.display()))?;
    let namespaces = ctx.informers.get::<Namespace>();
    let configmaps = ctx.informers.get::<ConfigMap>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = namespaces.add_handler({
        let q = queue.clone();
        move |change| {
            if let Change::Applied { new, .. } = change {
                q.add(ObjectKey::new("", new.metadata.name.clone().unwrap_or_default()));
            }
        }
    });
    let _g2 = configmaps.add_handler({
        let q = queue.clone();
        move |change| {
            let cm = change.object();
            if cm.metadata.name.as_deref() == Some(CONFIGMAP_NAME) {
                q.add(ObjectKey::new("", cm.metadata.namespace.clone().unwrap_or_default()));
            }
        }
    });
    namespaces.wait_synced().await?;
    configmaps.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), ca, namespaces, configmaps });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, terminating: bool) -> Namespace {
        let mut n = Namespace::default();
        n.metadata.name = Some(name.into());
        if terminating {
            n.status = Some(k8s_openapi::api::core::v1::NamespaceStatus { phase: Some("Terminating".into()), conditions: None });
        }
        n
    }

    #[test]
    fn plan_table() {
        let Plan::Create(created) = plan(&ns("a", false), None, "CA") else { panic!("expected create") };
        assert_eq!(created.metadata.namespace.as_deref(), Some("a"));
        assert_eq!(created.data.as_ref().and_then(|d| d.get(DATA_KEY)).map(String::as_str), Some("CA"));
        assert_eq!(plan(&ns("a", false), Some(&created), "CA"), Plan::Nothing);
        let Plan::Update(updated) = plan(&ns("a", false), Some(&created), "CA2") else { panic!("expected update") };
        assert_eq!(updated.data.as_ref().and_then(|d| d.get(DATA_KEY)).map(String::as_str), Some("CA2"));
        let mut edited = created.clone();
        edited.metadata.annotations = None;
        assert!(matches!(plan(&ns("a", false), Some(&edited), "CA"), Plan::Update(_)));
        assert_eq!(plan(&ns("a", true), None, "CA"), Plan::Nothing);
    }
}
