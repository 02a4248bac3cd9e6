use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ComponentStatus, ConfigMap, Namespace, Node, PersistentVolumeClaim, Pod, ReplicationController,
    Service, ServiceAccount,
};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::CSINode;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use schemars::JsonSchema;

use super::index::{SchemaIndex, TypeRef};
use super::table::{Tag, TABLE};
use super::*;
use crate::patch::meta::{PatchMeta, PatchStrategy};

/// Walks `path` from `meta` and checks the last field's strategy and
/// retainKeys flag.
fn check(meta: &dyn PatchMeta, path: &[&str], strategy: PatchStrategy, retain_keys: bool) {
    let Some((first, rest)) = path.split_first() else {
        panic!("empty path");
    };
    let mut field = meta.field(first);
    for name in rest {
        field = field.child.field(name);
    }
    assert_eq!(
        (field.strategy, field.retain_keys),
        (strategy, retain_keys),
        "{path:?}"
    );
}

fn merge(key: &str) -> PatchStrategy {
    PatchStrategy::merge_by(key)
}

#[test]
fn workloads() {
    let none = PatchStrategy::Default;
    let d = for_type::<Deployment>();
    assert_eq!(d.definition_name(), Some("io.k8s.api.apps.v1.Deployment"));
    let pod_spec = ["spec", "template", "spec"];
    let at = |rest: &[&'static str]| -> Vec<&'static str> {
        pod_spec.iter().chain(rest).copied().collect()
    };
    check(&d, &at(&["containers"]), merge("name"), false);
    check(&d, &at(&["initContainers"]), merge("name"), false);
    check(&d, &at(&["ephemeralContainers"]), merge("name"), false);
    check(&d, &at(&["containers", "env"]), merge("name"), false);
    check(
        &d,
        &at(&["containers", "ports"]),
        merge("containerPort"),
        false,
    );
    check(
        &d,
        &at(&["containers", "volumeMounts"]),
        merge("mountPath"),
        false,
    );
    check(
        &d,
        &at(&["containers", "volumeDevices"]),
        merge("devicePath"),
        false,
    );
    check(&d, &at(&["containers", "args"]), none.clone(), false);
    check(&d, &at(&["containers", "envFrom"]), none.clone(), false);
    check(
        &d,
        &at(&["ephemeralContainers", "env"]),
        merge("name"),
        false,
    );
    check(&d, &at(&["volumes"]), merge("name"), true);
    check(&d, &at(&["imagePullSecrets"]), merge("name"), false);
    check(&d, &at(&["hostAliases"]), merge("ip"), false);
    check(&d, &at(&["tolerations"]), none.clone(), false);
    check(
        &d,
        &at(&["topologySpreadConstraints"]),
        merge("topologyKey"),
        false,
    );
    check(&d, &at(&["resourceClaims"]), merge("name"), true);
    check(&d, &at(&["schedulingGates"]), merge("name"), false);
    check(&d, &["spec", "strategy"], none.clone(), true);
    check(&d, &["status", "conditions"], merge("type"), false);
    check(
        &d,
        &["metadata", "finalizers"],
        PatchStrategy::merge_primitives(),
        false,
    );
    check(&d, &["metadata", "ownerReferences"], merge("uid"), false);
    check(&d, &["metadata", "managedFields"], none.clone(), false);
    check(&d, &["metadata", "labels", "app"], none.clone(), false);
    check(
        &d,
        &["spec", "template", "metadata", "finalizers"],
        PatchStrategy::merge_primitives(),
        false,
    );
    check(&d, &["spec", "noSuchField", "x"], none.clone(), false);

    check(
        &for_type::<StatefulSet>(),
        &["spec", "template", "spec", "containers"],
        merge("name"),
        false,
    );
    check(
        &for_type::<StatefulSet>(),
        &["spec", "volumeClaimTemplates"],
        none.clone(),
        false,
    );
    check(
        &for_type::<StatefulSet>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<DaemonSet>(),
        &["spec", "template", "spec", "volumes"],
        merge("name"),
        true,
    );
    check(
        &for_type::<DaemonSet>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<ReplicaSet>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<Job>(),
        &["spec", "template", "spec", "containers"],
        merge("name"),
        false,
    );
    check(
        &for_type::<Job>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    let cron = for_type::<CronJob>();
    check(
        &cron,
        &[
            "spec",
            "jobTemplate",
            "spec",
            "template",
            "spec",
            "containers",
            "env",
        ],
        merge("name"),
        false,
    );
    check(&cron, &["status", "active"], none, false);
}

#[test]
fn core_types() {
    let none = PatchStrategy::Default;
    let pod = for_type::<Pod>();
    check(&pod, &["spec", "containers"], merge("name"), false);
    check(&pod, &["status", "conditions"], merge("type"), false);
    check(&pod, &["status", "podIPs"], merge("ip"), false);
    check(&pod, &["status", "containerStatuses"], none.clone(), false);
    let node = for_type::<Node>();
    check(&node, &["spec", "taints"], none.clone(), false);
    check(
        &node,
        &["spec", "podCIDRs"],
        PatchStrategy::merge_primitives(),
        false,
    );
    check(&node, &["status", "conditions"], merge("type"), false);
    check(&node, &["status", "addresses"], merge("type"), false);
    check(&node, &["status", "images"], none.clone(), false);
    let svc = for_type::<Service>();
    check(&svc, &["spec", "ports"], merge("port"), false);
    check(&svc, &["spec", "externalIPs"], none.clone(), false);
    check(&svc, &["status", "conditions"], merge("type"), false);
    check(
        &for_type::<Namespace>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<PersistentVolumeClaim>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<ServiceAccount>(),
        &["secrets"],
        merge("name"),
        false,
    );
    check(
        &for_type::<ServiceAccount>(),
        &["imagePullSecrets"],
        none.clone(),
        false,
    );
    let cm = for_type::<ConfigMap>();
    check(&cm, &["data", "key"], none.clone(), false);
    check(&cm, &["metadata", "ownerReferences"], merge("uid"), false);
    check(
        &for_type::<HorizontalPodAutoscaler>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<PodDisruptionBudget>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    check(
        &for_type::<MutatingWebhookConfiguration>(),
        &["webhooks"],
        merge("name"),
        false,
    );
    check(
        &for_type::<APIService>(),
        &["status", "conditions"],
        merge("type"),
        false,
    );
    // A list of strings under a map of lists: items are scalars.
    check(&pod, &["spec", "containers", "command"], none, false);
}

fn add<T: JsonSchema>(generator: &mut schemars::SchemaGenerator) {
    generator.subschema_for::<T>();
}

/// Every table entry names a real list (or, for retainKeys, object) field of
/// a real definition, so a typo cannot silently disable a strategy.
#[test]
fn table_matches_schemas() {
    let mut generator = schemars::SchemaGenerator::default();
    add::<Pod>(&mut generator);
    add::<Service>(&mut generator);
    add::<Node>(&mut generator);
    add::<Namespace>(&mut generator);
    add::<PersistentVolumeClaim>(&mut generator);
    add::<ReplicationController>(&mut generator);
    add::<ServiceAccount>(&mut generator);
    add::<ComponentStatus>(&mut generator);
    add::<Deployment>(&mut generator);
    add::<ReplicaSet>(&mut generator);
    add::<StatefulSet>(&mut generator);
    add::<DaemonSet>(&mut generator);
    add::<Job>(&mut generator);
    add::<HorizontalPodAutoscaler>(&mut generator);
    add::<PodDisruptionBudget>(&mut generator);
    add::<MutatingWebhookConfiguration>(&mut generator);
    add::<ValidatingWebhookConfiguration>(&mut generator);
    add::<CSINode>(&mut generator);
    add::<k8s_openapi::api::resource::v1alpha3::ResourceClaim>(&mut generator);
    add::<k8s_openapi::api::resource::v1beta1::ResourceClaim>(&mut generator);
    add::<k8s_openapi::api::resource::v1beta2::ResourceClaim>(&mut generator);
    add::<APIService>(&mut generator);
    let index = SchemaIndex::build(generator.definitions());
    for (definition, field, tag) in TABLE {
        let def = index
            .defs
            .iter()
            .find(|d| d.name == *definition)
            .unwrap_or_else(|| panic!("no definition {definition}"));
        let ty = def
            .properties
            .get(*field)
            .unwrap_or_else(|| panic!("no field {definition}.{field}"));
        match tag {
            Tag::RetainKeys => assert!(
                matches!(ty, TypeRef::Def(_)),
                "{definition}.{field} is {ty:?}"
            ),
            _ => assert!(
                matches!(ty, TypeRef::Array(_)),
                "{definition}.{field} is {ty:?}"
            ),
        }
    }
}
