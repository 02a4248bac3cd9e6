//! The resources this server implements, in discovery order.

use std::sync::Arc;

use k8s_openapi::api::{
    admissionregistration::v1 as admreg, authentication::v1 as authn, authorization::v1 as authz, apps::v1 as apps, autoscaling::v1 as as1, autoscaling::v2 as as2,
    batch::v1 as batch, certificates::v1 as certs, coordination::v1 as coord, core::v1 as core,
    discovery::v1 as disc, events::v1 as events, networking::v1 as net, node::v1 as node, policy::v1 as policy,
    rbac::v1 as rbac, scheduling::v1 as sched, storage::v1 as storage,
};
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::{de::DeserializeOwned, Serialize};

use super::codec::Typed;
use super::{ResourceDef, SubresourceDef, SCALE, STATUS, VERBS_ALL};
use crate::strategy::{self, NameRule, PlainStrategy, Strategy};
use crate::table::printer_for;

/// Tells at compile time whether a `k8s-openapi` scope is namespaced.
pub trait ScopeInfo {
    const NAMESPACED: bool;
}
impl ScopeInfo for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl ScopeInfo for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

struct Builder(ResourceDef);

fn def<T>() -> Builder
where
    T: Resource + Serialize + DeserializeOwned + schemars::JsonSchema + 'static,
    T::Scope: ScopeInfo,
{
    Builder(ResourceDef {
        group: T::GROUP,
        version: T::VERSION,
        kind: T::KIND,
        list_kind: format!("{}List", T::KIND),
        plural: T::URL_PATH_SEGMENT,
        singular: T::KIND.to_lowercase(),
        namespaced: <T::Scope as ScopeInfo>::NAMESPACED,
        short_names: &[],
        categories: &[],
        verbs: VERBS_ALL,
        subresources: Vec::new(),
        selectable_fields: &[],
        storage_name: T::URL_PATH_SEGMENT,
        conversion: None,
        codec: Arc::new(Typed::<T>::new()),
        strategy: Arc::new(PlainStrategy::new()),
        printer: printer_for(T::GROUP, T::URL_PATH_SEGMENT),
    })
}

impl Builder {
    fn short(mut self, names: &'static [&'static str]) -> Self {
        self.0.short_names = names;
        self
    }
    fn all(mut self) -> Self {
        self.0.categories = &["all"];
        self
    }
    fn status(mut self) -> Self {
        self.0.subresources.push(STATUS);
        self
    }
    fn scale(mut self) -> Self {
        self.0.subresources.push(SCALE);
        self
    }
    fn sub(mut self, s: SubresourceDef) -> Self {
        self.0.subresources.push(s);
        self
    }
    fn fields(mut self, f: &'static [&'static str]) -> Self {
        self.0.selectable_fields = f;
        self
    }
    fn verbs(mut self, v: &'static [&'static str]) -> Self {
        self.0.verbs = v;
        self
    }
    fn strategy(mut self, s: impl Strategy + 'static) -> Self {
        self.0.strategy = Arc::new(s);
        self
    }
    fn storage(mut self, name: &'static str) -> Self {
        self.0.storage_name = name;
        self
    }
    fn convert(mut self, c: super::Conversion) -> Self {
        self.0.conversion = Some(c);
        self
    }
    fn build(self) -> ResourceDef {
        self.0
    }
}

const fn sub(name: &'static str, group: &'static str, version: &'static str, kind: &'static str, verbs: &'static [&'static str]) -> SubresourceDef {
    SubresourceDef { name, group, version, kind, verbs }
}

const GET: &[&str] = &["get"];
const CREATE: &[&str] = &["create"];
const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// Strategy for kinds with a status subresource and generation tracking.
const fn with_status() -> PlainStrategy {
    PlainStrategy::new().with_status()
}

pub fn all() -> Vec<ResourceDef> {
    vec![
        // core/v1
        def::<core::Binding>().verbs(CREATE).build_binding(),
        def::<core::ComponentStatus>().short(&["cs"]).verbs(&["get", "list"]).build(),
        def::<core::ConfigMap>().short(&["cm"]).strategy(PlainStrategy::new().validate_with(strategy::config::validate_configmap)).build(),
        def::<core::Endpoints>().short(&["ep"]).build(),
        def::<core::Event>().short(&["ev"]).fields(&[
            "involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
            "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
            "reason", "reportingComponent", "source", "type",
        ]).strategy(PlainStrategy::new().names(NameRule::PathSegment)).build(),
        def::<core::LimitRange>().short(&["limits"]).build(),
        def::<core::Namespace>().short(&["ns"]).status().sub(sub("finalize", "", "v1", "Namespace", &["update"]))
            .fields(&["status.phase"]).strategy(strategy::NamespaceStrategy).build(),
        def::<core::Node>().short(&["no"]).status().sub(sub("proxy", "", "v1", "NodeProxyOptions", &["create", "delete", "get", "patch", "update"]))
            .fields(&["spec.unschedulable"]).strategy(strategy::NodeStrategy).build(),
        def::<core::PersistentVolumeClaim>().short(&["pvc"]).status().strategy(with_status().defaults(|o| {
            strategy::defaults::set_default(o, &["spec", "volumeMode"], serde_json::json!("Filesystem"));
        }).validate_with(strategy::config::validate_pvc).initial_status(|| serde_json::json!({"phase": "Pending"}))).build(),
        def::<core::PersistentVolume>().short(&["pv"]).status().strategy(with_status().defaults(|o| {
            strategy::defaults::set_default(o, &["spec", "persistentVolumeReclaimPolicy"], serde_json::json!("Retain"));
            strategy::defaults::set_default(o, &["spec", "volumeMode"], serde_json::json!("Filesystem"));
        }).validate_with(strategy::config::validate_pv).initial_status(|| serde_json::json!({"phase": "Pending"}))).build(),
        def::<core::Pod>().short(&["po"]).all().status()
            .sub(sub("binding", "", "v1", "Binding", CREATE))
            .sub(sub("eviction", "policy", "v1", "Eviction", CREATE))
            .sub(sub("ephemeralcontainers", "", "v1", "Pod", GET_PATCH_UPDATE))
            .sub(sub("log", "", "v1", "Pod", GET))
            .sub(sub("exec", "", "v1", "PodExecOptions", &["create", "get"]))
            .sub(sub("attach", "", "v1", "PodAttachOptions", &["create", "get"]))
            .sub(sub("portforward", "", "v1", "PodPortForwardOptions", &["create", "get"]))
            .sub(sub("proxy", "", "v1", "PodProxyOptions", &["create", "delete", "get", "patch", "update"]))
            .fields(&[
                "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
            ])
            .strategy(strategy::PodStrategy).build(),
        def::<core::PodTemplate>().build(),
        def::<core::ReplicationController>().short(&["rc"]).all().status().scale().fields(&["status.replicas"])
            .strategy(strategy::RcStrategy).build(),
        def::<core::ResourceQuota>().short(&["quota"]).status().strategy(with_status()).build(),
        def::<core::Secret>().fields(&["type"]).strategy(
            PlainStrategy::new()
                .defaults(strategy::config::default_secret)
                .validate_with(strategy::config::validate_secret)
                .validate_update_with(|n, o| strategy::immutable(n, o, &["type"], "type").into_iter().collect()),
        ).build(),
        def::<core::ServiceAccount>().short(&["sa"]).sub(sub("token", "authentication.k8s.io", "v1", "TokenRequest", CREATE)).build(),
        def::<core::Service>().short(&["svc"]).all().status().sub(sub("proxy", "", "v1", "ServiceProxyOptions", &["create", "delete", "get", "patch", "update"]))
            .fields(&["spec.clusterIP", "spec.type"]).strategy(strategy::ServiceStrategy).build(),
        // apps/v1
        def::<apps::ControllerRevision>().build(),
        def::<apps::DaemonSet>().short(&["ds"]).all().status().strategy(strategy::DaemonSetStrategy).build(),
        def::<apps::Deployment>().short(&["deploy"]).all().status().scale().strategy(strategy::DeploymentStrategy).build(),
        def::<apps::ReplicaSet>().short(&["rs"]).all().status().scale().fields(&["status.replicas"]).strategy(strategy::ReplicaSetStrategy).build(),
        def::<apps::StatefulSet>().short(&["sts"]).all().status().scale().strategy(strategy::StatefulSetStrategy).build(),
        // autoscaling
        def::<as2::HorizontalPodAutoscaler>().short(&["hpa"]).all().status().strategy(with_status().generation()).build(),
        def::<as1::HorizontalPodAutoscaler>().short(&["hpa"]).all().status().strategy(with_status().generation())
            .storage("horizontalpodautoscalers").convert(super::convert::HPA_V1).build(),
        // batch/v1
        def::<batch::CronJob>().short(&["cj"]).all().status().strategy(strategy::CronJobStrategy).build(),
        def::<batch::Job>().all().status().fields(&["status.successful"]).strategy(strategy::JobStrategy).build(),
        // certificates.k8s.io/v1
        def::<certs::CertificateSigningRequest>().short(&["csr"]).status().sub(sub("approval", "certificates.k8s.io", "v1", "CertificateSigningRequest", GET_PATCH_UPDATE))
            .fields(&["spec.signerName"]).strategy(with_status()).build(),
        // coordination.k8s.io/v1
        def::<coord::Lease>().build(),
        // discovery.k8s.io/v1
        def::<disc::EndpointSlice>().build(),
        // events.k8s.io/v1
        def::<events::Event>().short(&["ev"]).storage("events").convert(super::convert::EVENTS_K8S_IO).strategy(PlainStrategy::new().names(NameRule::PathSegment)).build(),
        // networking.k8s.io/v1
        def::<net::IngressClass>().build(),
        def::<net::Ingress>().short(&["ing"]).status().strategy(with_status().generation()).build(),
        def::<net::NetworkPolicy>().short(&["netpol"]).strategy(PlainStrategy::new().generation()).build(),
        // node.k8s.io/v1
        def::<node::RuntimeClass>().build(),
        // policy/v1
        def::<policy::PodDisruptionBudget>().short(&["pdb"]).status().strategy(with_status().generation()).build(),
        // rbac.authorization.k8s.io/v1
        def::<rbac::ClusterRoleBinding>().strategy(PlainStrategy::new().names(NameRule::PathSegment).validate_with(strategy::config::validate_binding).validate_update_with(|n, o| strategy::immutable(n, o, &["roleRef"], "roleRef").into_iter().collect())).build(),
        def::<rbac::ClusterRole>().strategy(PlainStrategy::new().names(NameRule::PathSegment)).build(),
        def::<rbac::RoleBinding>().strategy(PlainStrategy::new().names(NameRule::PathSegment).validate_with(strategy::config::validate_binding).validate_update_with(|n, o| strategy::immutable(n, o, &["roleRef"], "roleRef").into_iter().collect())).build(),
        def::<rbac::Role>().strategy(PlainStrategy::new().names(NameRule::PathSegment)).build(),
        // scheduling.k8s.io/v1
        def::<sched::PriorityClass>().short(&["pc"]).build(),
        // storage.k8s.io/v1
        def::<storage::CSIDriver>().build(),
        def::<storage::CSINode>().build(),
        def::<storage::StorageClass>().short(&["sc"]).strategy(PlainStrategy::new().defaults(|o| {
            strategy::defaults::set_default(o, &["reclaimPolicy"], serde_json::json!("Delete"));
            strategy::defaults::set_default(o, &["volumeBindingMode"], serde_json::json!("Immediate"));
        })).build(),
        def::<storage::VolumeAttachment>().status().strategy(with_status()).build(),
        // Reviews: computed, never stored.
        def::<authn::SelfSubjectReview>().verbs(CREATE).build(),
        def::<authn::TokenReview>().verbs(CREATE).build(),
        def::<authz::LocalSubjectAccessReview>().verbs(CREATE).build(),
        def::<authz::SelfSubjectAccessReview>().verbs(CREATE).build(),
        def::<authz::SelfSubjectRulesReview>().verbs(CREATE).build(),
        def::<authz::SubjectAccessReview>().verbs(CREATE).build(),
        // admissionregistration.k8s.io/v1
        def::<admreg::MutatingWebhookConfiguration>().build(),
        def::<admreg::ValidatingWebhookConfiguration>().build(),
    ]
}

impl Builder {
    /// `bindings` is create-only and not stored (it binds a pod).
    fn build_binding(self) -> ResourceDef {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_is_unique_and_scoped() {
        let defs = all();
        let mut seen = std::collections::HashSet::new();
        for d in &defs {
            assert!(seen.insert((d.group, d.version, d.plural)), "duplicate {}/{}", d.group, d.plural);
        }
        let pods = defs.iter().find(|d| d.plural == "pods").unwrap();
        assert!(pods.namespaced);
        let nodes = defs.iter().find(|d| d.plural == "nodes").unwrap();
        assert!(!nodes.namespaced);
        let mut storage = std::collections::HashSet::new();
        for d in defs.iter().filter(|d| d.conversion.is_none()) {
            assert!(storage.insert(d.storage_name), "storage name {} shared", d.storage_name);
        }
    }
}
