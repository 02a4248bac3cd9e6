//! `hostPorts` (baseline, v1.0+): no container port may set a non-zero
//! `hostPort`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, pluralize, Forbidden};

pub(super) fn host_ports(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let mut bad = Vec::new();
    // Upstream keeps the ports as a set of strings: deduplicated and sorted
    // as text ("10" < "8080" < "9").
    let mut ports = BTreeSet::new();
    for c in containers(spec) {
        let mut valid = true;
        for p in c.ports {
            if let Some(hp) = p.host_port.filter(|hp| *hp != 0) {
                valid = false;
                ports.insert(hp.to_string());
            }
        }
        if !valid {
            bad.push(c.name);
        }
    }
    (!bad.is_empty()).then(|| {
        let ports: Vec<String> = ports.into_iter().collect();
        Forbidden::new(
            "hostPort",
            format!(
                "{} {} {} {}",
                containers_phrase(&bad),
                pluralize("uses", "use", bad.len()),
                pluralize("hostPort", "hostPorts", ports.len()),
                ports.join(", ")
            ),
        )
    })
}
