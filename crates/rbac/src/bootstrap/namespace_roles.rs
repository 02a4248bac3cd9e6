//! Upstream `namespace_policy.go`: Roles and RoleBindings in `kube-system`
//! and `kube-public`.

use k8s_openapi::api::rbac::v1::{Role, RoleBinding};

use super::{events_rule, named, role, role_binding, rule, service_account, user, READ};

const SYSTEM: &str = "kube-system";
const PUBLIC: &str = "kube-public";
const LEGACY: &str = "";
const COORDINATION: &str = "coordination.k8s.io";

pub(super) fn roles() -> Vec<Role> {
    let leader_locking = || {
        vec![
            rule(
                &["watch", "create", "get", "list", "update"],
                &[COORDINATION],
                &["leases"],
            ),
            rule(
                &["watch", "create", "get", "list", "update"],
                &[COORDINATION],
                &["leasecandidates"],
            ),
        ]
    };
    vec![
        role(
            "system:controller:bootstrap-signer",
            PUBLIC,
            vec![
                rule(READ, &[LEGACY], &["configmaps"]),
                named(&["update"], &[LEGACY], &["configmaps"], &["cluster-info"]),
                events_rule(),
            ],
        ),
        // extension apiservers read the client CA and request-header config
        role(
            "extension-apiserver-authentication-reader",
            SYSTEM,
            vec![named(
                READ,
                &[LEGACY],
                &["configmaps"],
                &["extension-apiserver-authentication"],
            )],
        ),
        role(
            "system::leader-locking-kube-controller-manager",
            SYSTEM,
            leader_locking(),
        ),
        role(
            "system::leader-locking-kube-scheduler",
            SYSTEM,
            leader_locking(),
        ),
        role(
            "system:controller:bootstrap-signer",
            SYSTEM,
            vec![rule(READ, &[LEGACY], &["secrets"])],
        ),
        role(
            "system:controller:cloud-provider",
            SYSTEM,
            vec![rule(
                &["create", "get", "list", "watch"],
                &[LEGACY],
                &["configmaps"],
            )],
        ),
        role(
            "system:controller:token-cleaner",
            SYSTEM,
            vec![
                rule(&["delete", "get", "list", "watch"], &[LEGACY], &["secrets"]),
                events_rule(),
            ],
        ),
    ]
}

pub(super) fn role_bindings() -> Vec<RoleBinding> {
    vec![
        role_binding(
            "system:controller:bootstrap-signer",
            PUBLIC,
            "system:controller:bootstrap-signer",
            vec![service_account(SYSTEM, "bootstrap-signer")],
        ),
        role_binding(
            "system::extension-apiserver-authentication-reader",
            SYSTEM,
            "extension-apiserver-authentication-reader",
            vec![
                user("system:kube-controller-manager"),
                user("system:kube-scheduler"),
            ],
        ),
        role_binding(
            "system::leader-locking-kube-controller-manager",
            SYSTEM,
            "system::leader-locking-kube-controller-manager",
            vec![
                user("system:kube-controller-manager"),
                service_account(SYSTEM, "kube-controller-manager"),
                service_account(SYSTEM, "leader-election-controller"),
            ],
        ),
        role_binding(
            "system::leader-locking-kube-scheduler",
            SYSTEM,
            "system::leader-locking-kube-scheduler",
            vec![
                user("system:kube-scheduler"),
                service_account(SYSTEM, "kube-scheduler"),
            ],
        ),
        role_binding(
            "system:controller:bootstrap-signer",
            SYSTEM,
            "system:controller:bootstrap-signer",
            vec![service_account(SYSTEM, "bootstrap-signer")],
        ),
        role_binding(
            "system:controller:cloud-provider",
            SYSTEM,
            "system:controller:cloud-provider",
            vec![service_account(SYSTEM, "cloud-provider")],
        ),
        role_binding(
            "system:controller:token-cleaner",
            SYSTEM,
            "system:controller:token-cleaner",
            vec![service_account(SYSTEM, "token-cleaner")],
        ),
    ]
}
