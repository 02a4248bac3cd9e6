//! `hostNamespaces` (baseline, v1.0+): sharing the host's network, PID or
//! IPC namespace is forbidden (`spec.hostNetwork`, `spec.hostPID`,
//! `spec.hostIPC` must be unset or false).

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Forbidden;

pub(super) fn host_namespaces(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let set = [
        (spec.host_network, "hostNetwork=true"),
        (spec.host_pid, "hostPID=true"),
        (spec.host_ipc, "hostIPC=true"),
    ];
    let found: Vec<&str> = set
        .iter()
        .filter(|(v, _)| *v == Some(true))
        .map(|(_, s)| *s)
        .collect();
    (!found.is_empty()).then(|| Forbidden::new("host namespaces", found.join(", ")))
}
