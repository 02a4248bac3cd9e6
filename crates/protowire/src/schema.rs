//! The embedded wire schema and the Kubernetes knowledge that the `.proto` files do not
//! carry: which apiVersion/kind is which message, which messages have a custom JSON form,
//! and which fields are Go structs embedded `json:",inline"`.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::ProtoError;

/// FileDescriptorSet compiled by build.rs from `proto/k8s.io/**/generated.proto`.
static DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/k8s.fds"));

static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(DESCRIPTOR_SET).map_err(|e| e.to_string()));

pub(crate) fn pool() -> Result<&'static DescriptorPool, ProtoError> {
    POOL.as_ref().map_err(|e| ProtoError::Schema(e.clone()))
}

pub(crate) fn message(full_name: &str) -> Result<MessageDescriptor, ProtoError> {
    pool()?
        .get_message_by_name(full_name)
        .ok_or_else(|| ProtoError::Schema(format!("message {full_name} is missing")))
}

pub(crate) const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const META_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";

/// API group -> the `<name>` in the proto package `k8s.io.api.<name>.<version>`.
const GROUPS: &[(&str, &str)] = &[
    ("", "core"),
    ("admissionregistration.k8s.io", "admissionregistration"),
    ("apps", "apps"),
    ("authentication.k8s.io", "authentication"),
    ("authorization.k8s.io", "authorization"),
    ("autoscaling", "autoscaling"),
    ("batch", "batch"),
    ("certificates.k8s.io", "certificates"),
    ("coordination.k8s.io", "coordination"),
    ("discovery.k8s.io", "discovery"),
    ("events.k8s.io", "events"),
    ("flowcontrol.apiserver.k8s.io", "flowcontrol"),
    ("networking.k8s.io", "networking"),
    ("node.k8s.io", "node"),
    ("policy", "policy"),
    ("rbac.authorization.k8s.io", "rbac"),
    ("resource.k8s.io", "resource"),
    ("scheduling.k8s.io", "scheduling"),
    ("storage.k8s.io", "storage"),
];

/// Kinds from meta/v1 that Go registers into every group version
/// (`metav1.AddToGroupVersion`), e.g. a `DeleteOptions` body sent with `apiVersion: apps/v1`.
const META_KINDS: &[&str] = &[
    "CreateOptions",
    "DeleteOptions",
    "GetOptions",
    "ListOptions",
    "PatchOptions",
    "Status",
    "UpdateOptions",
    "WatchEvent",
];

/// The message for a top-level object of this apiVersion and kind.
pub(crate) fn kind_message(api_version: &str, kind: &str) -> Result<MessageDescriptor, ProtoError> {
    let unknown = || ProtoError::UnknownKind {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let pool = pool()?;
    let package = if group == "meta.k8s.io" {
        Some(META_V1.to_owned())
    } else {
        GROUPS
            .iter()
            .find(|(g, _)| *g == group)
            .map(|(_, name)| format!("k8s.io.api.{name}.{version}"))
    };
    let direct = package
        .and_then(|p| pool.get_message_by_name(&format!("{p}.{kind}")))
        // Only objects (they carry metadata) are bodies; never a nested type like PodSpec.
        .filter(|m| m.get_field_by_name("metadata").is_some());
    let found = direct.or_else(|| {
        (version == "v1" && META_KINDS.contains(&kind))
            .then(|| pool.get_message_by_name(&format!("{META_V1}.{kind}")))
            .flatten()
    });
    found.ok_or_else(unknown)
}

/// Messages whose JSON form is not an object of their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// meta/v1 Time `{seconds, nanos}`: RFC 3339 string at second precision.
    Time,
    /// meta/v1 MicroTime: RFC 3339 string with 6 fractional digits.
    MicroTime,
    /// meta/v1 Duration `{duration}` (nanoseconds): Go duration string such as `1h0m0s`.
    Duration,
    /// meta/v1 FieldsV1 `{Raw}`: the JSON document held in Raw.
    FieldsV1,
    /// runtime RawExtension `{raw}`: the embedded object (JSON, or a nested protobuf body).
    RawExtension,
    /// intstr IntOrString `{type, intVal, strVal}`: a JSON number or string.
    IntOrString,
    /// resource Quantity `{string}`: the canonical string.
    Quantity,
    /// A protobuf wrapper for a Go `[]string` type (`{repeated string items}`), such as
    /// authentication ExtraValue or meta Verbs: a JSON array.
    StringList,
}

pub(crate) fn special(desc: &MessageDescriptor) -> Option<Special> {
    match desc.full_name() {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => Some(Special::Time),
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => Some(Special::MicroTime),
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => Some(Special::Duration),
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => Some(Special::FieldsV1),
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => Some(Special::RawExtension),
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => Some(Special::IntOrString),
        "k8s.io.apimachinery.pkg.api.resource.Quantity"
        | "k8s.io.apimachinery.pkg.api.resource.QuantityValue" => Some(Special::Quantity),
        _ if is_string_list(desc) => Some(Special::StringList),
        _ => None,
    }
}

fn is_string_list(desc: &MessageDescriptor) -> bool {
    let mut fields = desc.fields();
    match (fields.next(), fields.next()) {
        (Some(f), None) => f.name() == "items" && f.is_list() && f.kind() == Kind::String,
        _ => false,
    }
}

/// Fields holding a Go struct embedded with `json:",inline"`: go-to-protobuf gives them a
/// field of their own (named after the type), while JSON merges their fields into the
/// parent object. proto/generate.py lists them (`inline:` lines) when regenerating.
const INLINE_FIELDS: &[&str] = &[
    "k8s.io.api.admissionregistration.v1.NamedRuleWithOperations.ruleWithOperations",
    "k8s.io.api.admissionregistration.v1.RuleWithOperations.rule",
    "k8s.io.api.core.v1.ConfigMapEnvSource.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapKeySelector.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapProjection.localObjectReference",
    "k8s.io.api.core.v1.ConfigMapVolumeSource.localObjectReference",
    "k8s.io.api.core.v1.EphemeralContainer.ephemeralContainerCommon",
    "k8s.io.api.core.v1.PersistentVolumeSpec.persistentVolumeSource",
    "k8s.io.api.core.v1.Probe.handler",
    "k8s.io.api.core.v1.SecretEnvSource.localObjectReference",
    "k8s.io.api.core.v1.SecretKeySelector.localObjectReference",
    "k8s.io.api.core.v1.SecretProjection.localObjectReference",
    "k8s.io.api.core.v1.Volume.volumeSource",
    "k8s.io.api.networking.v1.IngressRule.ingressRuleValue",
    "k8s.io.api.resource.v1.DeviceAllocationConfiguration.deviceConfiguration",
    "k8s.io.api.resource.v1.DeviceClaimConfiguration.deviceConfiguration",
    "k8s.io.api.resource.v1.DeviceClassConfiguration.deviceConfiguration",
];

pub(crate) fn is_inline(field: &FieldDescriptor) -> bool {
    INLINE_FIELDS.contains(&field.full_name())
}

/// String fields that are Go pointers and where `""` means something different from
/// absent (`storageClassName: ""` asks for no storage class; absent asks for the default).
/// Every other empty string is dropped: Go writes unset non-pointer strings as `""`.
const KEEP_EMPTY_STRING: &[&str] = &[
    "k8s.io.api.core.v1.PersistentVolumeClaimSpec.storageClassName",
    "k8s.io.api.core.v1.PersistentVolumeClaimSpec.volumeAttributesClassName",
];

pub(crate) fn keeps_empty_string(field: &FieldDescriptor) -> bool {
    KEEP_EMPTY_STRING.contains(&field.full_name())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn every_listed_field_exists() {
        let pool = pool().expect("schema");
        for name in INLINE_FIELDS.iter().chain(KEEP_EMPTY_STRING) {
            let (message, field) = name.rsplit_once('.').expect("dotted");
            let desc = pool
                .get_message_by_name(message)
                .unwrap_or_else(|| panic!("{message}"));
            let field = desc
                .get_field_by_name(field)
                .unwrap_or_else(|| panic!("{name}"));
            if INLINE_FIELDS.contains(name) {
                assert!(
                    matches!(field.kind(), Kind::Message(_)) && !field.is_list(),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn string_lists_are_the_known_wrappers() {
        let pool = pool().expect("schema");
        let mut found: Vec<String> = pool
            .all_messages()
            .filter(|m| special(m) == Some(Special::StringList))
            .map(|m| m.full_name().to_owned())
            .collect();
        found.sort();
        assert_eq!(
            found,
            [
                "k8s.io.api.authentication.v1.ExtraValue",
                "k8s.io.api.authorization.v1.ExtraValue",
                "k8s.io.api.certificates.v1.ExtraValue",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs",
            ]
        );
    }

    #[test]
    fn kinds_resolve_to_messages() {
        let cases = [
            ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
            ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
            (
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                "k8s.io.api.rbac.v1.ClusterRole",
            ),
            (
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                "k8s.io.api.authorization.v1.SelfSubjectAccessReview",
            ),
            (
                "authentication.k8s.io/v1",
                "SelfSubjectReview",
                "k8s.io.api.authentication.v1.SelfSubjectReview",
            ),
            (
                "authentication.k8s.io/v1",
                "TokenRequest",
                "k8s.io.api.authentication.v1.TokenRequest",
            ),
            (
                "autoscaling/v2",
                "HorizontalPodAutoscaler",
                "k8s.io.api.autoscaling.v2.HorizontalPodAutoscaler",
            ),
            (
                "scheduling.k8s.io/v1",
                "PriorityClass",
                "k8s.io.api.scheduling.v1.PriorityClass",
            ),
            (
                "apps/v1",
                "DeleteOptions",
                "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions",
            ),
            (
                "meta.k8s.io/v1",
                "Status",
                "k8s.io.apimachinery.pkg.apis.meta.v1.Status",
            ),
        ];
        for (api_version, kind, want) in cases {
            let got = kind_message(api_version, kind).expect(kind);
            assert_eq!(got.full_name(), want);
        }
        for (api_version, kind) in [
            ("v1", "PodSpec"),
            ("v1", "Nope"),
            ("example.com/v1", "Widget"),
            ("apps/v9", "Deployment"),
        ] {
            assert!(
                matches!(
                    kind_message(api_version, kind),
                    Err(ProtoError::UnknownKind { .. })
                ),
                "{api_version} {kind}"
            );
        }
    }
}
