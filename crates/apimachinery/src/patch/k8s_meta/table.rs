//! Patch strategies of the built-in types, transcribed from upstream's Go
//! struct tags (`patchStrategy:"..." patchMergeKey:"..."`) in k8s.io/api,
//! k8s.io/apimachinery and kube-aggregator. k8s-openapi's schemas do not carry
//! `x-kubernetes-patch-strategy`, so this table is the source of truth.
//!
//! A field not listed has no strategy: its lists are replaced whole (e.g.
//! `tolerations`, node `taints`, `args`, `command`, `envFrom`).

use crate::patch::meta::PatchStrategy;

/// The tag value of one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tag {
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`.
    Merge(&'static str),
    /// `patchStrategy:"merge"` on a list of scalars.
    MergeScalars,
    /// `patchStrategy:"retainKeys"`.
    RetainKeys,
    /// `patchStrategy:"merge,retainKeys" patchMergeKey:"<key>"`.
    MergeRetainKeys(&'static str),
}

/// (definition name, JSON field name, tag).
pub(crate) const TABLE: &[(&str, &str, Tag)] = &[
    // k8s.io/apimachinery/pkg/apis/meta/v1
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "finalizers",
        Tag::MergeScalars,
    ),
    (
        "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        "ownerReferences",
        Tag::Merge("uid"),
    ),
    // k8s.io/api/core/v1: pods
    (
        "io.k8s.api.core.v1.PodSpec",
        "volumes",
        Tag::MergeRetainKeys("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "initContainers",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "containers",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "ephemeralContainers",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "imagePullSecrets",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "hostAliases",
        Tag::Merge("ip"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "topologySpreadConstraints",
        Tag::Merge("topologyKey"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "schedulingGates",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.PodSpec",
        "resourceClaims",
        Tag::MergeRetainKeys("name"),
    ),
    (
        "io.k8s.api.core.v1.PodStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    ("io.k8s.api.core.v1.PodStatus", "podIPs", Tag::Merge("ip")),
    ("io.k8s.api.core.v1.PodStatus", "hostIPs", Tag::Merge("ip")),
    (
        "io.k8s.api.core.v1.PodStatus",
        "resourceClaimStatuses",
        Tag::MergeRetainKeys("name"),
    ),
    (
        "io.k8s.api.core.v1.Container",
        "ports",
        Tag::Merge("containerPort"),
    ),
    ("io.k8s.api.core.v1.Container", "env", Tag::Merge("name")),
    (
        "io.k8s.api.core.v1.Container",
        "volumeMounts",
        Tag::Merge("mountPath"),
    ),
    (
        "io.k8s.api.core.v1.Container",
        "volumeDevices",
        Tag::Merge("devicePath"),
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "ports",
        Tag::Merge("containerPort"),
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "env",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "volumeMounts",
        Tag::Merge("mountPath"),
    ),
    (
        "io.k8s.api.core.v1.EphemeralContainer",
        "volumeDevices",
        Tag::Merge("devicePath"),
    ),
    // k8s.io/api/core/v1: everything else
    (
        "io.k8s.api.core.v1.ServiceSpec",
        "ports",
        Tag::Merge("port"),
    ),
    (
        "io.k8s.api.core.v1.ServiceStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    ("io.k8s.api.core.v1.NodeSpec", "podCIDRs", Tag::MergeScalars),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.core.v1.NodeStatus",
        "addresses",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.core.v1.NamespaceStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.core.v1.PersistentVolumeClaimStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.core.v1.ReplicationControllerStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.core.v1.ServiceAccount",
        "secrets",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.core.v1.ComponentStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    // k8s.io/api/apps/v1
    (
        "io.k8s.api.apps.v1.DeploymentSpec",
        "strategy",
        Tag::RetainKeys,
    ),
    (
        "io.k8s.api.apps.v1.DeploymentStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.apps.v1.ReplicaSetStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.apps.v1.StatefulSetStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    (
        "io.k8s.api.apps.v1.DaemonSetStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    // k8s.io/api/batch/v1
    (
        "io.k8s.api.batch.v1.JobStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    // k8s.io/api/autoscaling/v2
    (
        "io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    // k8s.io/api/policy/v1
    (
        "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
        "conditions",
        Tag::Merge("type"),
    ),
    // k8s.io/api/admissionregistration/v1
    (
        "io.k8s.api.admissionregistration.v1.MutatingWebhookConfiguration",
        "webhooks",
        Tag::Merge("name"),
    ),
    (
        "io.k8s.api.admissionregistration.v1.ValidatingWebhookConfiguration",
        "webhooks",
        Tag::Merge("name"),
    ),
    // k8s.io/api/storage/v1
    (
        "io.k8s.api.storage.v1.CSINodeSpec",
        "drivers",
        Tag::Merge("name"),
    ),
    // k8s.io/api/resource
    (
        "io.k8s.api.resource.v1alpha3.ResourceClaimStatus",
        "reservedFor",
        Tag::Merge("uid"),
    ),
    (
        "io.k8s.api.resource.v1beta1.ResourceClaimStatus",
        "reservedFor",
        Tag::Merge("uid"),
    ),
    (
        "io.k8s.api.resource.v1beta2.ResourceClaimStatus",
        "reservedFor",
        Tag::Merge("uid"),
    ),
    // k8s.io/kube-aggregator
    (
        "io.k8s.kube-aggregator.pkg.apis.apiregistration.v1.APIServiceStatus",
        "conditions",
        Tag::Merge("type"),
    ),
];

/// (strategy, retainKeys) of `field` in `definition`.
pub(crate) fn lookup(definition: &str, field: &str) -> (PatchStrategy, bool) {
    let tag = TABLE
        .iter()
        .find(|(d, f, _)| *d == definition && *f == field)
        .map(|(_, _, tag)| *tag);
    match tag {
        None => (PatchStrategy::Default, false),
        Some(Tag::Merge(key)) => (PatchStrategy::merge_by(key), false),
        Some(Tag::MergeScalars) => (PatchStrategy::merge_primitives(), false),
        Some(Tag::RetainKeys) => (PatchStrategy::Default, true),
        Some(Tag::MergeRetainKeys(key)) => (PatchStrategy::merge_by(key), true),
    }
}

/// Every tagged field as OpenAPI extensions: (definition, field,
/// `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`).
pub fn openapi_extensions() -> impl Iterator<Item = (&'static str, &'static str, &'static str, Option<&'static str>)> {
    TABLE.iter().map(|(definition, field, tag)| {
        let (strategy, key) = match tag {
            Tag::Merge(key) => ("merge", Some(*key)),
            Tag::MergeScalars => ("merge", None),
            Tag::RetainKeys => ("retainKeys", None),
            Tag::MergeRetainKeys(key) => ("merge,retainKeys", Some(*key)),
        };
        (*definition, *field, strategy, key)
    })
}
