//! `sysctls` (baseline): only namespaced sysctls isolated from other pods
//! may be set in `spec.securityContext.sysctls`. The safe list grew with
//! the policy version:
//!
//! - v1.0: `kernel.shm_rmid_forced`, `net.ipv4.ip_local_port_range`,
//!   `net.ipv4.tcp_syncookies`, `net.ipv4.ping_group_range`,
//!   `net.ipv4.ip_unprivileged_port_start`
//! - v1.27: + `net.ipv4.ip_local_reserved_ports`
//! - v1.29: + `net.ipv4.tcp_keepalive_time`, `net.ipv4.tcp_fin_timeout`,
//!   `net.ipv4.tcp_keepalive_intvl`, `net.ipv4.tcp_keepalive_probes`
//! - v1.32: + `net.ipv4.tcp_rmem`, `net.ipv4.tcp_wmem`

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Forbidden;

/// (sysctl, first policy minor version it is safe at).
const SAFE: &[(&str, u64)] = &[
    ("kernel.shm_rmid_forced", 0),
    ("net.ipv4.ip_local_port_range", 0),
    ("net.ipv4.tcp_syncookies", 0),
    ("net.ipv4.ping_group_range", 0),
    ("net.ipv4.ip_unprivileged_port_start", 0),
    ("net.ipv4.ip_local_reserved_ports", 27),
    ("net.ipv4.tcp_keepalive_time", 29),
    ("net.ipv4.tcp_fin_timeout", 29),
    ("net.ipv4.tcp_keepalive_intvl", 29),
    ("net.ipv4.tcp_keepalive_probes", 29),
    ("net.ipv4.tcp_rmem", 32),
    ("net.ipv4.tcp_wmem", 32),
];

fn safe(name: &str, minor: u64) -> bool {
    SAFE.iter().any(|(n, since)| *n == name && *since <= minor)
}

pub(super) fn sysctls(_: &ObjectMeta, spec: &PodSpec, minor: u64) -> Option<Forbidden> {
    // In spec order, duplicates kept (upstream appends to a slice).
    let forbidden: Vec<&str> = spec
        .security_context
        .iter()
        .flat_map(|sc| sc.sysctls.iter().flatten())
        .map(|s| s.name.as_str())
        .filter(|n| !safe(n, minor))
        .collect();
    (!forbidden.is_empty()).then(|| Forbidden::new("forbidden sysctls", forbidden.join(", ")))
}
