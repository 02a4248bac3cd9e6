//! Which service account each controller runs as under
//! `--use-service-account-credentials` (upstream's names): RBAC binds
//! `system:controller:<account>` to `kube-system/<account>`, so every
//! controller holds exactly its own role. Shared informers keep using the
//! controller-manager's own identity (`list`/`watch` on everything).

/// The account of a controller, by its `--controllers` name.
pub fn service_account_for(controller: &str) -> &'static str {
    match controller {
        "replicaset" => "replicaset-controller",
        "replicationcontroller" => "replication-controller",
        "deployment" => "deployment-controller",
        "statefulset" => "statefulset-controller",
        "daemonset" => "daemon-set-controller",
        "garbage-collector" => "generic-garbage-collector",
        "namespace" => "namespace-controller",
        "serviceaccount" => "service-account-controller",
        "root-ca-cert-publisher" => "root-ca-cert-publisher",
        "endpoint" => "endpoint-controller",
        "endpointslice" => "endpointslice-controller",
        "endpointslice-mirroring" => "endpointslicemirroring-controller",
        "pod-garbage-collector" => "pod-garbage-collector",
        "node-lifecycle" | "taint-eviction-controller" | "node-ipam" => "node-controller",
        "job" => "job-controller",
        "cronjob" => "cronjob-controller",
        "ttl-after-finished" => "ttl-after-finished-controller",
        "persistentvolume-binder" => "persistent-volume-binder",
        "pvc-protection" => "pvc-protection-controller",
        "pv-protection" => "pv-protection-controller",
        "resourcequota" => "resourcequota-controller",
        "disruption" => "disruption-controller",
        "csrsigning" | "csrapproving" | "csrcleaner" => "certificate-controller",
        "horizontalpodautoscaling" => "horizontal-pod-autoscaler",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every registered controller has an account with a bootstrap role.
    #[test]
    fn every_controller_has_a_bootstrap_role() {
        let roles: Vec<String> = rbac::bootstrap_cluster_roles().into_iter().filter_map(|r| r.metadata.name).collect();
        for registration in crate::controllers::REGISTRY {
            let account = service_account_for(registration.name);
            assert!(!account.is_empty(), "{} has no service account", registration.name);
            let role = format!("{}{account}", rbac::CONTROLLER_ROLE_PREFIX);
            assert!(roles.contains(&role), "{} runs as {account}, but there is no {role}", registration.name);
        }
    }
}
