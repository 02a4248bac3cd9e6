#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The RBAC core end to end: the bootstrap policy (aggregated as the
//! controller would) plus user bindings, checked request by request.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use rbac::{
    aggregate, bootstrap_cluster_role_bindings, bootstrap_cluster_roles, bootstrap_role_bindings,
    bootstrap_roles, compact_string, covers, reconcile, reconcile_cluster_role_binding,
    reconcile_role, reconcile_role_binding, BindingChange, Decision, RbacIndex, Request, User,
    AUTOUPDATE_ANNOTATION, BOOTSTRAPPING_LABEL,
};
use serde_json::{json, Value};

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("valid object")
}

fn role(ns: &str, name: &str, rules: Value) -> Role {
    from(json!({"metadata": {"name": name, "namespace": ns}, "rules": rules}))
}

fn cluster_role(name: &str, labels: Value, rules: Value) -> ClusterRole {
    from(json!({"metadata": {"name": name, "labels": labels}, "rules": rules}))
}

fn role_binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Value) -> RoleBinding {
    from(json!({
        "metadata": {"name": name, "namespace": ns},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
        "subjects": subjects,
    }))
}

fn cluster_role_binding(name: &str, role: &str, subjects: Value) -> ClusterRoleBinding {
    from(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": subjects,
    }))
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    from(json!({"verbs": verbs, "apiGroups": groups, "resources": resources}))
}

/// The bootstrap ClusterRoles with the aggregated ones' rules filled in.
fn aggregated_bootstrap_roles(extra: Vec<ClusterRole>) -> Vec<ClusterRole> {
    let mut roles = bootstrap_cluster_roles();
    roles.extend(extra);
    let aggregated = aggregate(&roles);
    for (name, rules) in aggregated {
        if let Some(r) = roles
            .iter_mut()
            .find(|r| r.metadata.name.as_deref() == Some(name.as_str()))
        {
            r.rules = Some(rules);
        }
    }
    roles
}

fn user(name: &str, groups: &[&str]) -> User {
    User::new(name, groups)
}

fn authenticated(name: &str) -> User {
    user(name, &["system:authenticated"])
}

fn service_account(ns: &str, name: &str) -> User {
    user(
        &format!("system:serviceaccount:{ns}:{name}"),
        &[
            "system:serviceaccounts",
            &format!("system:serviceaccounts:{ns}"),
            "system:authenticated",
        ],
    )
}

struct World {
    index: RbacIndex,
}

impl World {
    fn new() -> World {
        let cluster_roles = aggregated_bootstrap_roles(vec![cluster_role(
            "pod-reader",
            json!({}),
            json!([{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["pods"]}]),
        )]);
        let mut crbs = bootstrap_cluster_role_bindings();
        crbs.push(cluster_role_binding(
            "readers",
            "pod-reader",
            json!([{"kind": "Group", "name": "readers"}]),
        ));
        let mut roles = bootstrap_roles();
        roles.push(role(
            "dev",
            "cm-one",
            json!([{"verbs": ["get", "update"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cm1"]}]),
        ));
        roles.push(role(
            "dev",
            "log-reader",
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}]),
        ));
        roles.push(role(
            "dev",
            "any-scale",
            json!([{"verbs": ["get", "update"], "apiGroups": ["*"], "resources": ["*/scale"]}]),
        ));
        let mut rbs = bootstrap_role_bindings();
        rbs.push(role_binding(
            "dev",
            "train-view",
            "ClusterRole",
            "view",
            json!([{"kind": "User", "name": "train"}]),
        ));
        rbs.push(role_binding(
            "default",
            "sa-edit",
            "ClusterRole",
            "edit",
            json!([{"kind": "ServiceAccount", "name": "user1"}]),
        ));
        rbs.push(role_binding(
            "dev",
            "alice-cm",
            "Role",
            "cm-one",
            json!([{"kind": "User", "name": "alice"}]),
        ));
        rbs.push(role_binding(
            "dev",
            "bob-logs",
            "Role",
            "log-reader",
            json!([{"kind": "User", "name": "bob"}]),
        ));
        rbs.push(role_binding(
            "dev",
            "bob-scale",
            "Role",
            "any-scale",
            json!([{"kind": "User", "name": "bob"}]),
        ));
        rbs.push(role_binding(
            "dev",
            "ghost",
            "ClusterRole",
            "missing",
            json!([{"kind": "User", "name": "ghost"}]),
        ));
        rbs.push(role_binding(
            "dev",
            "ghost-role",
            "Role",
            "nope",
            json!([{"kind": "User", "name": "ghost"}]),
        ));
        // a Role from another namespace is not visible from here
        rbs.push(role_binding(
            "prod",
            "alice-cm",
            "Role",
            "cm-one",
            json!([{"kind": "User", "name": "alice"}]),
        ));
        World {
            index: RbacIndex::new(&roles, &rbs, &cluster_roles, &crbs),
        }
    }
}

#[track_caller]
fn check(index: &RbacIndex, user: &User, request: Request, expected: &str) {
    let got = index.authorize(user, &request);
    let (allowed, reason) = match expected.strip_prefix("allow") {
        Some(rest) => (true, rest.trim_start_matches(": ")),
        None => (
            false,
            expected
                .strip_prefix("no opinion")
                .unwrap_or(expected)
                .trim_start_matches(": "),
        ),
    };
    assert_eq!(
        got.is_allowed(),
        allowed,
        "{} {request:?}: {got:?}",
        user.name
    );
    if !reason.is_empty() {
        assert_eq!(got.reason(), reason, "{} {request:?}", user.name);
    } else if !allowed {
        assert_eq!(
            got,
            Decision::NoOpinion(String::new()),
            "{} {request:?}",
            user.name
        );
    }
}

fn r(verb: &str, group: &str, resource: &str) -> Request {
    Request::resource(verb, group, resource)
}

#[test]
fn authorization_table() {
    let w = World::new();
    let i = &w.index;
    let train = authenticated("train");

    // view in one namespace only, read only, no secrets
    check(i, &train, r("list", "", "pods").in_namespace("dev"),
        "allow: RBAC: allowed by RoleBinding \"train-view/dev\" of ClusterRole \"view\" to User \"train\"");
    check(
        i,
        &train,
        r("get", "", "pods").in_namespace("dev").named("web-0"),
        "allow",
    );
    check(
        i,
        &train,
        r("watch", "apps", "deployments").in_namespace("dev"),
        "allow",
    );
    check(
        i,
        &train,
        r("get", "", "pods").in_namespace("dev").subresource("log"),
        "allow",
    );
    check(
        i,
        &train,
        r("list", "", "pods").in_namespace("prod"),
        "no opinion",
    );
    check(i, &train, r("list", "", "pods"), "no opinion");
    check(
        i,
        &train,
        r("create", "", "pods").in_namespace("dev"),
        "no opinion",
    );
    check(
        i,
        &train,
        r("get", "", "secrets").in_namespace("dev"),
        "no opinion",
    );
    check(
        i,
        &train,
        r("create", "", "pods")
            .in_namespace("dev")
            .subresource("exec"),
        "no opinion",
    );
    // what every authenticated user gets
    check(i, &train, r("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
        "allow: RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole \"system:basic-user\" to Group \"system:authenticated\"");
    check(i, &train, Request::non_resource("get", "/healthz"),
        "allow: RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole \"system:discovery\" to Group \"system:authenticated\"");
    check(i, &train, Request::non_resource("get", "/api/v1"), "allow");
    check(i, &train, Request::non_resource("get", "/apis"), "allow");
    check(
        i,
        &train,
        Request::non_resource("post", "/api/v1"),
        "no opinion",
    );
    check(
        i,
        &train,
        Request::non_resource("get", "/metrics"),
        "no opinion",
    );
    check(
        i,
        &train,
        Request::non_resource("get", "/healthz/etcd"),
        "no opinion",
    );

    // unauthenticated: public info only
    let anonymous = user("system:anonymous", &["system:unauthenticated"]);
    check(i, &anonymous, Request::non_resource("get", "/version"),
        "allow: RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole \"system:public-info-viewer\" to Group \"system:unauthenticated\"");
    check(
        i,
        &anonymous,
        Request::non_resource("get", "/api"),
        "no opinion",
    );
    check(
        i,
        &anonymous,
        r("create", "authorization.k8s.io", "selfsubjectaccessreviews"),
        "no opinion",
    );

    // a service account bound in its own namespace (subject namespace defaulted)
    let sa = service_account("default", "user1");
    check(i, &sa, r("create", "apps", "deployments").in_namespace("default"),
        "allow: RBAC: allowed by RoleBinding \"sa-edit/default\" of ClusterRole \"edit\" to ServiceAccount \"user1/default\"");
    check(
        i,
        &sa,
        r("get", "", "secrets").in_namespace("default").named("s"),
        "allow",
    );
    check(
        i,
        &sa,
        r("update", "apps", "deployments")
            .in_namespace("default")
            .named("d")
            .subresource("scale"),
        "allow",
    );
    check(
        i,
        &sa,
        r("create", "rbac.authorization.k8s.io", "rolebindings").in_namespace("default"),
        "no opinion",
    );
    check(
        i,
        &sa,
        r("update", "", "resourcequotas").in_namespace("default"),
        "no opinion",
    );
    check(
        i,
        &sa,
        r("create", "apps", "deployments").in_namespace("dev"),
        "no opinion",
    );
    check(
        i,
        &sa,
        Request::non_resource("get", "/.well-known/openid-configuration"),
        "allow",
    );
    check(
        i,
        &service_account("other", "user1"),
        r("create", "apps", "deployments").in_namespace("default"),
        "no opinion",
    );
    check(
        i,
        &user("system:serviceaccount:default:user1", &[]),
        r("list", "", "pods").in_namespace("default"),
        "allow",
    );

    // a ClusterRoleBinding to a group: every namespace and cluster-wide
    let carol = user("carol", &["readers"]);
    check(i, &carol, r("list", "", "pods"),
        "allow: RBAC: allowed by ClusterRoleBinding \"readers\" of ClusterRole \"pod-reader\" to Group \"readers\"");
    check(
        i,
        &carol,
        r("get", "", "pods").in_namespace("anywhere").named("p"),
        "allow",
    );
    check(
        i,
        &carol,
        r("get", "", "pods")
            .in_namespace("anywhere")
            .subresource("log"),
        "no opinion",
    );
    check(
        i,
        &carol,
        r("delete", "", "pods").in_namespace("anywhere"),
        "no opinion",
    );

    // resourceNames
    let alice = authenticated("alice");
    check(
        i,
        &alice,
        r("get", "", "configmaps").in_namespace("dev").named("cm1"),
        "allow: RBAC: allowed by RoleBinding \"alice-cm/dev\" of Role \"cm-one\" to User \"alice\"",
    );
    check(
        i,
        &alice,
        r("update", "", "configmaps")
            .in_namespace("dev")
            .named("cm1"),
        "allow",
    );
    check(
        i,
        &alice,
        r("get", "", "configmaps").in_namespace("dev").named("cm2"),
        "no opinion",
    );
    check(
        i,
        &alice,
        r("list", "", "configmaps").in_namespace("dev"),
        "no opinion",
    );
    check(
        i,
        &alice,
        r("create", "", "configmaps").in_namespace("dev"),
        "no opinion",
    );
    check(
        i,
        &alice,
        r("delete", "", "configmaps")
            .in_namespace("dev")
            .named("cm1"),
        "no opinion",
    );
    // the binding in prod names a Role that only exists in dev
    check(
        i,
        &alice,
        r("get", "", "configmaps").in_namespace("prod").named("cm1"),
        "no opinion: RBAC: role.rbac.authorization.k8s.io \"cm-one\" not found",
    );

    // subresources
    let bob = authenticated("bob");
    check(
        i,
        &bob,
        r("get", "", "pods")
            .in_namespace("dev")
            .named("p")
            .subresource("log"),
        "allow",
    );
    check(
        i,
        &bob,
        r("get", "", "pods").in_namespace("dev").named("p"),
        "no opinion",
    );
    check(
        i,
        &bob,
        r("get", "", "pods")
            .in_namespace("dev")
            .named("p")
            .subresource("exec"),
        "no opinion",
    );
    check(
        i,
        &bob,
        r("update", "apps", "statefulsets")
            .in_namespace("dev")
            .named("s")
            .subresource("scale"),
        "allow",
    );
    check(
        i,
        &bob,
        r("update", "apps", "statefulsets")
            .in_namespace("dev")
            .named("s"),
        "no opinion",
    );

    // unresolvable bindings say so; they never allow
    let ghost = authenticated("ghost");
    check(i, &ghost, r("get", "", "pods").in_namespace("dev"),
        "no opinion: RBAC: [clusterrole.rbac.authorization.k8s.io \"missing\" not found, role.rbac.authorization.k8s.io \"nope\" not found]");
    check(i, &ghost, Request::non_resource("get", "/healthz"), "allow");

    // system:masters (the apiserver short-circuits it, but the binding exists)
    let admin = user(
        "kubernetes-admin",
        &["system:masters", "system:authenticated"],
    );
    check(i, &admin, r("delete", "", "nodes").named("n1"),
        "allow: RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"");
    check(
        i,
        &admin,
        Request::non_resource("put", "/anything"),
        "allow",
    );

    // control-plane identities
    let scheduler = user("system:kube-scheduler", &["system:authenticated"]);
    check(
        i,
        &scheduler,
        r("create", "", "pods")
            .in_namespace("dev")
            .named("p")
            .subresource("binding"),
        "allow",
    );
    check(
        i,
        &scheduler,
        r("update", "coordination.k8s.io", "leases")
            .in_namespace("kube-system")
            .named("kube-scheduler"),
        "allow",
    );
    check(
        i,
        &scheduler,
        r("update", "coordination.k8s.io", "leases")
            .in_namespace("dev")
            .named("other"),
        "no opinion",
    );
    // any lease in kube-system through the namespaced leader-locking Role
    check(i, &scheduler, r("update", "coordination.k8s.io", "leases").in_namespace("kube-system").named("other"),
        "allow: RBAC: allowed by RoleBinding \"system::leader-locking-kube-scheduler/kube-system\" of Role \"system::leader-locking-kube-scheduler\" to User \"system:kube-scheduler\"");
    check(
        i,
        &scheduler,
        r("update", "", "persistentvolumes").named("pv"),
        "allow",
    );
    let kcm = user("system:kube-controller-manager", &["system:authenticated"]);
    check(i, &kcm, r("watch", "apps", "deployments"), "allow");
    check(
        i,
        &kcm,
        r("create", "apps", "deployments").in_namespace("dev"),
        "no opinion",
    );
    check(i, &kcm, r("update", "coordination.k8s.io", "leasecandidates").in_namespace("kube-system"),
        "allow: RBAC: allowed by RoleBinding \"system::leader-locking-kube-controller-manager/kube-system\" of Role \"system::leader-locking-kube-controller-manager\" to User \"system:kube-controller-manager\"");
    let deploy = service_account("kube-system", "deployment-controller");
    check(i, &deploy, r("update", "apps", "deployments").in_namespace("dev").named("d").subresource("status"),
        "allow: RBAC: allowed by ClusterRoleBinding \"system:controller:deployment-controller\" of ClusterRole \"system:controller:deployment-controller\" to ServiceAccount \"deployment-controller/kube-system\"");
    check(
        i,
        &deploy,
        r("create", "apps", "replicasets").in_namespace("dev"),
        "allow",
    );
    check(
        i,
        &deploy,
        r("create", "", "pods").in_namespace("dev"),
        "no opinion",
    );
    let hpa = service_account("kube-system", "horizontal-pod-autoscaler");
    check(
        i,
        &hpa,
        r("update", "apps", "deployments")
            .in_namespace("dev")
            .named("d")
            .subresource("scale"),
        "allow",
    );
    let proxy = user("system:kube-proxy", &["system:authenticated"]);
    check(
        i,
        &proxy,
        r("watch", "discovery.k8s.io", "endpointslices"),
        "allow",
    );
    check(i, &proxy, r("list", "", "secrets"), "no opinion");

    // node bootstrap and certificate rotation
    let bootstrapper = user(
        "system:bootstrap:abcdef",
        &["system:bootstrappers", "system:authenticated"],
    );
    check(
        i,
        &bootstrapper,
        r(
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
        ),
        "allow",
    );
    check(
        i,
        &bootstrapper,
        r(
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
        )
        .subresource("nodeclient"),
        "allow",
    );
    check(
        i,
        &bootstrapper,
        r(
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
        )
        .subresource("selfnodeclient"),
        "no opinion",
    );
    let node = user("system:node:n1", &["system:nodes", "system:authenticated"]);
    check(
        i,
        &node,
        r(
            "create",
            "certificates.k8s.io",
            "certificatesigningrequests",
        )
        .subresource("selfnodeclient"),
        "allow",
    );
    // system:node is bound to nobody (the Node authorizer's job)
    check(
        i,
        &node,
        r("get", "", "secrets").in_namespace("dev").named("s"),
        "no opinion",
    );
}

#[test]
fn rules_for_self_subject_rules_review() {
    let w = World::new();
    let train = authenticated("train");
    let dev = w.index.rules_for(&train, "dev");
    assert!(!dev.incomplete);
    let has_pods = |rules: &rbac::SubjectRules| {
        rules.resource_rules.iter().any(|r| {
            r.resources
                .as_deref()
                .unwrap_or(&[])
                .iter()
                .any(|x| x == "pods")
                && r.verbs.iter().any(|v| v == "list")
        })
    };
    assert!(has_pods(&dev));
    assert!(dev.resource_rules.iter().any(|r| r.resources.as_deref()
        == Some(
            &[
                "selfsubjectaccessreviews".to_string(),
                "selfsubjectrulesreviews".to_string()
            ][..]
        )));
    assert!(dev.non_resource_rules.iter().any(|r| r
        .non_resource_urls
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .any(|u| u == "/api/*")));
    let prod = w.index.rules_for(&train, "prod");
    assert!(!has_pods(&prod));
    assert!(prod.resource_rules.len() < dev.resource_rules.len());
    // cluster-wide rules come first
    assert_eq!(
        prod.resource_rules[..],
        dev.resource_rules[..prod.resource_rules.len()]
    );

    let ghost = w.index.rules_for(&authenticated("ghost"), "dev");
    assert!(ghost.incomplete);
    assert!(ghost
        .evaluation_error
        .contains("clusterrole.rbac.authorization.k8s.io \"missing\" not found"));
}

fn rules_of<'a>(aggregated: &'a [(String, Vec<PolicyRule>)], name: &str) -> &'a [PolicyRule] {
    aggregated
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r.as_slice())
        .unwrap_or(&[])
}

#[test]
fn aggregation_builds_view_edit_admin() {
    let roles = bootstrap_cluster_roles();
    let aggregated = aggregate(&roles);
    let names: Vec<&str> = aggregated.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["admin", "edit", "view"]);

    let bootstrap_rules = |name: &str| {
        roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
            .and_then(|r| r.rules.clone())
            .unwrap_or_default()
    };
    let (view, edit, admin) = (
        rules_of(&aggregated, "view"),
        rules_of(&aggregated, "edit"),
        rules_of(&aggregated, "admin"),
    );
    assert_eq!(view, bootstrap_rules("system:aggregate-to-view").as_slice());
    // edit = aggregate-to-edit then view (selected roles sorted by name: "system:aggregate-to-edit" < "view")
    let mut expected_edit = bootstrap_rules("system:aggregate-to-edit");
    expected_edit.extend(view.iter().cloned());
    assert_eq!(edit, expected_edit.as_slice());
    // admin = edit then aggregate-to-admin ("edit" < "system:aggregate-to-admin")
    let mut expected_admin = edit.to_vec();
    expected_admin.extend(bootstrap_rules("system:aggregate-to-admin"));
    assert_eq!(admin, expected_admin.as_slice());

    // view ⊂ edit ⊂ admin, strictly
    assert_eq!(covers(edit, view), Ok(()));
    assert_eq!(covers(admin, edit), Ok(()));
    assert!(covers(view, edit).is_err());
    assert!(covers(edit, admin).is_err());

    // a custom role labelled into view reaches all three; order of input does not matter
    let crontab = cluster_role(
        "crontab-view",
        json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
        json!([{"verbs": ["get", "list", "watch"], "apiGroups": ["stable.example.com"], "resources": ["crontabs"]}]),
    );
    let mut with_custom = roles.clone();
    with_custom.push(crontab);
    let a = aggregate(&with_custom);
    with_custom.reverse();
    let b = aggregate(&with_custom);
    assert_eq!(a, b);
    let get_crontabs = Request::resource("get", "stable.example.com", "crontabs").in_namespace("x");
    for name in ["view", "edit", "admin"] {
        assert!(
            rbac::rules_allow(rules_of(&a, name), &get_crontabs),
            "{name}"
        );
    }
    // duplicates across sources are kept once
    let dup = cluster_role(
        "dup",
        json!({"rbac.authorization.k8s.io/aggregate-to-view": "true"}),
        json!([{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["namespaces"]}]),
    );
    let mut with_dup = roles.clone();
    with_dup.push(dup);
    assert_eq!(rules_of(&aggregate(&with_dup), "view").len(), view.len());

    // an aggregated role whose selector matches nothing has no rules
    let lonely: ClusterRole = from(json!({
        "metadata": {"name": "lonely"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"nobody": "true"}}]},
        "rules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
    }));
    assert_eq!(aggregate(&[lonely]), vec![("lonely".to_string(), vec![])]);
}

#[test]
fn escalation_prevention() {
    let cluster_roles = aggregated_bootstrap_roles(vec![]);
    let rbs = vec![role_binding(
        "team",
        "editor",
        "ClusterRole",
        "edit",
        json!([{"kind": "User", "name": "editor"}]),
    )];
    let crbs = bootstrap_cluster_role_bindings();
    let index = RbacIndex::new(&Vec::<Role>::new(), &rbs, &cluster_roles, &crbs);
    let editor = authenticated("editor");

    let cluster_admin = cluster_roles
        .iter()
        .find(|r| r.metadata.name.as_deref() == Some("cluster-admin"))
        .and_then(|r| r.rules.clone())
        .unwrap_or_default();
    let err = index
        .confirm_no_escalation(&editor, "team", &cluster_admin)
        .expect_err("edit cannot grant cluster-admin");
    assert_eq!(
        err,
        "user \"editor\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}"
    );

    // a subset of edit can be granted in the namespace, not elsewhere
    let subset = vec![
        rule(&["get", "list"], &[""], &["pods", "pods/log"]),
        rule(&["create", "delete"], &["apps"], &["deployments"]),
    ];
    assert_eq!(
        index.confirm_no_escalation(&editor, "team", &subset),
        Ok(())
    );
    let err = index
        .confirm_no_escalation(&editor, "other", &subset)
        .expect_err("no rights in other");
    assert!(
        err.ends_with(
            "{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\" \"list\"]}\n\
         {APIGroups:[\"\"], Resources:[\"pods/log\"], Verbs:[\"get\" \"list\"]}\n\
         {APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"create\" \"delete\"]}"
        ),
        "{err}"
    );

    // edit holds no RBAC rights, so it cannot grant role creation
    let rbac_rule = rule(&["create"], &["rbac.authorization.k8s.io"], &["roles"]);
    let err = index
        .confirm_no_escalation(&editor, "team", &[rbac_rule])
        .expect_err("edit lacks rbac");
    assert!(err.ends_with("{APIGroups:[\"rbac.authorization.k8s.io\"], Resources:[\"roles\"], Verbs:[\"create\"]}"), "{err}");

    // the rules of the referenced role, for a binding's check
    let edit_ref = &rbs[0].role_ref;
    let edit_rules = index.role_ref_rules(edit_ref, "team").expect("edit exists");
    assert_eq!(
        index.confirm_no_escalation(&editor, "team", &edit_rules),
        Ok(())
    );
    let admin_ref = k8s_openapi::api::rbac::v1::RoleRef {
        name: "admin".into(),
        ..edit_ref.clone()
    };
    let admin_rules = index
        .role_ref_rules(&admin_ref, "team")
        .expect("admin exists");
    let err = index
        .confirm_no_escalation(&editor, "team", &admin_rules)
        .expect_err("edit cannot bind admin");
    assert!(
        err.contains(
            "{APIGroups:[\"rbac.authorization.k8s.io\"], Resources:[\"rolebindings\"], Verbs:["
        ),
        "{err}"
    );
    let ghost_ref = k8s_openapi::api::rbac::v1::RoleRef {
        name: "ghost".into(),
        ..edit_ref.clone()
    };
    assert_eq!(
        index.role_ref_rules(&ghost_ref, "team").map(|r| r.len()),
        Err("clusterrole.rbac.authorization.k8s.io \"ghost\" not found".to_string())
    );
}

fn find<'a, T>(items: &'a [T], name: &str, meta: impl Fn(&T) -> &Option<String>) -> &'a T {
    items
        .iter()
        .find(|i| meta(i).as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{name} in bootstrap policy"))
}

#[test]
fn reconciliation_keeps_user_edits() {
    let defaults = bootstrap_cluster_roles();
    let basic = find(&defaults, "system:basic-user", |r| &r.metadata.name);

    // missing: create
    assert_eq!(reconcile(None, basic).as_ref(), Some(basic));
    // identical: nothing to do
    assert_eq!(reconcile(Some(basic), basic), None);

    // the user added a rule and a label and removed one of ours: ours comes back, theirs stays
    let mut edited = basic.clone();
    let extra = rule(&["get"], &[""], &["namespaces"]);
    let mut rules = vec![extra.clone()];
    rules.push(
        basic
            .rules
            .as_ref()
            .map(|r| r[0].clone())
            .expect("basic-user rules"),
    );
    edited.rules = Some(rules);
    edited.metadata.labels = Some([("team".to_string(), "infra".to_string())].into());
    edited.metadata.annotations = None;
    let fixed = reconcile(Some(&edited), basic).expect("update");
    let fixed_rules = fixed.rules.clone().unwrap_or_default();
    assert_eq!(fixed_rules[0], extra);
    assert_eq!(
        covers(&fixed_rules, basic.rules.as_deref().unwrap_or(&[])),
        Ok(())
    );
    let labels = fixed.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("team").map(String::as_str), Some("infra"));
    assert_eq!(
        labels.get(BOOTSTRAPPING_LABEL).map(String::as_str),
        Some("rbac-defaults")
    );
    assert_eq!(
        fixed
            .metadata
            .annotations
            .unwrap_or_default()
            .get(AUTOUPDATE_ANNOTATION)
            .map(String::as_str),
        Some("true")
    );
    // and it is stable
    assert_eq!(
        reconcile(
            Some(&reconcile(Some(&edited), basic).expect("update")),
            basic
        ),
        None
    );

    // autoupdate=false: hands off, even with rules missing
    let mut protected = edited.clone();
    protected.metadata.annotations =
        Some([(AUTOUPDATE_ANNOTATION.to_string(), "false".to_string())].into());
    assert_eq!(reconcile(Some(&protected), basic), None);

    // aggregated roles: the aggregated rules stay, nothing to do
    let aggregated = aggregated_bootstrap_roles(vec![]);
    let view_default = find(&defaults, "view", |r| &r.metadata.name);
    let view_stored = find(&aggregated, "view", |r| &r.metadata.name);
    assert_eq!(reconcile(Some(view_stored), view_default), None);
    // a lost aggregation rule is restored
    let mut no_agg = view_stored.clone();
    no_agg.aggregation_rule = None;
    assert_eq!(
        reconcile(Some(&no_agg), view_default).and_then(|r| r.aggregation_rule),
        view_default.aggregation_rule
    );

    // namespaced roles
    let roles = bootstrap_roles();
    let reader = find(&roles, "extension-apiserver-authentication-reader", |r| {
        &r.metadata.name
    });
    let mut emptied = reader.clone();
    emptied.rules = None;
    let refilled = reconcile_role(Some(&emptied), reader)
        .and_then(|r| r.rules)
        .unwrap_or_default();
    assert_eq!(
        covers(&refilled, reader.rules.as_deref().unwrap_or(&[])),
        Ok(())
    );
    assert_eq!(reconcile_role(Some(reader), reader), None);
}

#[test]
fn binding_reconciliation() {
    let defaults = bootstrap_cluster_role_bindings();
    let admin = find(&defaults, "cluster-admin", |b| &b.metadata.name);
    assert_eq!(
        reconcile_cluster_role_binding(None, admin),
        Some(BindingChange::Create(admin.clone()))
    );
    assert_eq!(reconcile_cluster_role_binding(Some(admin), admin), None);

    // extra subjects stay; missing ones come back
    let mut edited = admin.clone();
    edited.subjects = Some(vec![from(
        json!({"kind": "User", "name": "me", "apiGroup": "rbac.authorization.k8s.io"}),
    )]);
    let Some(BindingChange::Update(fixed)) = reconcile_cluster_role_binding(Some(&edited), admin)
    else {
        panic!("expected an update")
    };
    let names: Vec<String> = fixed
        .subjects
        .unwrap_or_default()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["me", "system:masters"]);

    // another roleRef: recreate (roleRef is immutable)
    let mut other = admin.clone();
    other.role_ref.name = "view".into();
    assert_eq!(
        reconcile_cluster_role_binding(Some(&other), admin),
        Some(BindingChange::Recreate(admin.clone()))
    );
    // unless protected
    other.metadata.annotations =
        Some([(AUTOUPDATE_ANNOTATION.to_string(), "false".to_string())].into());
    assert_eq!(reconcile_cluster_role_binding(Some(&other), admin), None);

    let rbs = bootstrap_role_bindings();
    let rb = find(&rbs, "system::leader-locking-kube-scheduler", |b| {
        &b.metadata.name
    });
    let mut fewer = rb.clone();
    fewer.subjects = Some(
        fewer
            .subjects
            .unwrap_or_default()
            .into_iter()
            .take(1)
            .collect(),
    );
    let change = reconcile_role_binding(Some(&fewer), rb).expect("subject added");
    assert_eq!(change.object().subjects, rb.subjects);
}

#[test]
fn bootstrap_policy_is_consistent() {
    let roles = bootstrap_cluster_roles();
    let crbs = bootstrap_cluster_role_bindings();
    let ns_roles = bootstrap_roles();
    let rbs = bootstrap_role_bindings();

    let role_names: BTreeSet<String> = roles
        .iter()
        .filter_map(|r| r.metadata.name.clone())
        .collect();
    assert_eq!(role_names.len(), roles.len(), "unique ClusterRole names");
    let crb_names: BTreeSet<String> = crbs
        .iter()
        .filter_map(|b| b.metadata.name.clone())
        .collect();
    assert_eq!(
        crb_names.len(),
        crbs.len(),
        "unique ClusterRoleBinding names"
    );
    for b in &crbs {
        assert!(
            role_names.contains(&b.role_ref.name),
            "{:?} binds a missing role",
            b.metadata.name
        );
    }
    for b in &rbs {
        let ns = &b.metadata.namespace;
        assert!(
            ns_roles.iter().any(
                |r| r.metadata.name.as_deref() == Some(b.role_ref.name.as_str())
                    && &r.metadata.namespace == ns
            ),
            "{:?} binds a missing role",
            b.metadata.name
        );
    }
    let metas = roles
        .iter()
        .map(|r| &r.metadata)
        .chain(crbs.iter().map(|b| &b.metadata))
        .chain(ns_roles.iter().map(|r| &r.metadata))
        .chain(rbs.iter().map(|b| &b.metadata));
    for m in metas {
        assert_eq!(
            m.labels
                .as_ref()
                .and_then(|l| l.get(BOOTSTRAPPING_LABEL))
                .map(String::as_str),
            Some("rbac-defaults"),
            "{:?}",
            m.name
        );
        assert_eq!(
            m.annotations
                .as_ref()
                .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
                .map(String::as_str),
            Some("true"),
            "{:?}",
            m.name
        );
    }
    // rule fields are sorted, as upstream's builder leaves them
    for r in roles
        .iter()
        .flat_map(|r| r.rules.iter().flatten())
        .chain(ns_roles.iter().flat_map(|r| r.rules.iter().flatten()))
    {
        for list in [
            Some(&r.verbs),
            r.api_groups.as_ref(),
            r.resources.as_ref(),
            r.resource_names.as_ref(),
            r.non_resource_urls.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            assert!(
                list.windows(2).all(|w| w[0] <= w[1]),
                "unsorted {}",
                compact_string(r)
            );
        }
    }
    for name in [
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:aggregate-to-admin",
        "system:aggregate-to-edit",
        "system:aggregate-to-view",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "system:node",
        "system:node-proxier",
        "system:kube-scheduler",
        "system:volume-scheduler",
        "system:kube-controller-manager",
        "system:node-bootstrapper",
        "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
        "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        "system:certificates.k8s.io:kube-apiserver-client-approver",
        "system:auth-delegator",
        "system:monitoring",
        "system:heapster",
    ] {
        assert!(role_names.contains(name), "missing {name}");
    }
    for controller in [
        "deployment-controller",
        "replicaset-controller",
        "replication-controller",
        "statefulset-controller",
        "daemon-set-controller",
        "job-controller",
        "cronjob-controller",
        "endpoint-controller",
        "endpointslice-controller",
        "endpointslicemirroring-controller",
        "generic-garbage-collector",
        "namespace-controller",
        "node-controller",
        "pod-garbage-collector",
        "persistent-volume-binder",
        "resourcequota-controller",
        "disruption-controller",
        "ttl-after-finished-controller",
        "certificate-controller",
        "horizontal-pod-autoscaler",
        "service-account-controller",
        "root-ca-cert-publisher",
        "clusterrole-aggregation-controller",
    ] {
        let name = format!("system:controller:{controller}");
        assert!(role_names.contains(&name), "missing role {name}");
        let b = find(&crbs, &name, |b| &b.metadata.name);
        let s = &b.subjects.as_ref().expect("subjects")[0];
        assert_eq!(
            (s.kind.as_str(), s.namespace.as_deref(), s.name.as_str()),
            ("ServiceAccount", Some("kube-system"), controller)
        );
    }
    // round-trips through JSON as the apiserver will store it
    for r in &roles {
        let v = serde_json::to_value(r).expect("serialize");
        let back: ClusterRole = serde_json::from_value(v).expect("deserialize");
        assert_eq!(&back, r);
    }
}

#[test]
fn index_accepts_shared_objects() {
    use std::sync::Arc;
    let crs: Vec<Arc<ClusterRole>> = aggregated_bootstrap_roles(vec![])
        .into_iter()
        .map(Arc::new)
        .collect();
    let rbs = vec![Arc::new(role_binding(
        "dev",
        "v",
        "ClusterRole",
        "view",
        json!([{"kind": "Group", "name": "devs"}]),
    ))];
    let index = RbacIndex::new(
        &Vec::<Arc<Role>>::new(),
        &rbs,
        &crs,
        &Vec::<Arc<ClusterRoleBinding>>::new(),
    );
    let dev = user("d", &["devs"]);
    check(
        &index,
        &dev,
        r("get", "", "configmaps").in_namespace("dev"),
        "allow: RBAC: allowed by RoleBinding \"v/dev\" of ClusterRole \"view\" to Group \"devs\"",
    );
    check(
        &index,
        &dev,
        Request::non_resource("get", "/healthz"),
        "no opinion",
    );
}

#[test]
fn thousand_role_bindings_thousand_checks() {
    let cluster_roles = aggregated_bootstrap_roles(vec![]);
    let crbs = bootstrap_cluster_role_bindings();
    let rbs: Vec<RoleBinding> = (0..1000)
        .map(|i| {
            role_binding(
                &format!("ns-{}", i % 100),
                &format!("rb-{i}"),
                "ClusterRole",
                if i % 2 == 0 { "view" } else { "edit" },
                json!([{"kind": "User", "name": format!("user-{i}")}, {"kind": "Group", "name": format!("group-{}", i % 10)}]),
            )
        })
        .collect();
    let built = Instant::now();
    let index = RbacIndex::new(&Vec::<Role>::new(), &rbs, &cluster_roles, &crbs);
    let build_time = built.elapsed();

    let started = Instant::now();
    let mut allowed = 0;
    for i in 0..1000 {
        let u = authenticated(&format!("user-{i}"));
        // own namespace: allowed; a write in odd (edit) bindings; another namespace: not
        let verb = if i % 2 == 0 { "list" } else { "create" };
        if index
            .authorize(
                &u,
                &Request::resource(verb, "", "pods").in_namespace(&format!("ns-{}", i % 100)),
            )
            .is_allowed()
        {
            allowed += 1;
        }
        let elsewhere =
            Request::resource("list", "", "pods").in_namespace(&format!("ns-{}", (i + 1) % 100));
        assert!(
            !index.authorize(&u, &elsewhere).is_allowed(),
            "user-{i} outside its namespace"
        );
    }
    let check_time = started.elapsed();
    assert_eq!(allowed, 1000);
    eprintln!("index build for 1000 RoleBindings: {build_time:?}; 2000 checks: {check_time:?}");
    assert!(
        build_time < Duration::from_secs(1),
        "build took {build_time:?}"
    );
    assert!(
        check_time < Duration::from_secs(1),
        "checks took {check_time:?}"
    );
}
