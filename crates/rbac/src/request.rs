//! The inputs and output of an RBAC check. They mirror the apiserver's
//! `UserInfo`, `Attributes` and `Decision` so this crate stays independent of
//! it; the apiserver converts field by field.

use std::collections::BTreeMap;

/// Group every member of which is a superuser. The apiserver short-circuits
/// it before RBAC; the bootstrap policy also binds `cluster-admin` to it.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Group of every authenticated user.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// Group of every unauthenticated request.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// Group of every service account.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// Prefix of a service account's user name: `system:serviceaccount:<ns>:<name>`.
pub const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";
/// The API group of the RBAC kinds.
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// Annotation that opts a bootstrap object in (`"true"`) or out (`"false"`)
/// of reconciliation at start-up.
pub const AUTOUPDATE_ANNOTATION: &str = "rbac.authorization.kubernetes.io/autoupdate";
/// Label key (and value) put on every bootstrap object.
pub const BOOTSTRAPPING_LABEL: &str = "kubernetes.io/bootstrapping";
pub const BOOTSTRAPPING_LABEL_VALUE: &str = "rbac-defaults";

/// The user name a service account authenticates as.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}")
}

/// An authenticated identity (upstream `user.Info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl User {
    /// A user with a name and groups (no uid, no extra).
    pub fn new(name: impl Into<String>, groups: &[&str]) -> Self {
        User {
            name: name.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// What is asked (upstream `authorizer.Attributes` minus the user).
/// `path: Some(..)` makes it a non-resource request (`/healthz`, `/api`, ...);
/// then only `verb` and `path` count and only ClusterRoleBindings apply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub verb: String,
    pub api_group: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// Empty for cluster-scoped requests (only ClusterRoleBindings apply).
    pub namespace: String,
    pub path: Option<String>,
}

impl Request {
    /// A resource request, cluster-wide until [`Request::in_namespace`].
    pub fn resource(verb: &str, api_group: &str, resource: &str) -> Self {
        Request {
            verb: verb.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            ..Default::default()
        }
    }

    /// A non-resource request such as `get /healthz`.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Request {
            verb: verb.into(),
            path: Some(path.into()),
            ..Default::default()
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.into();
        self
    }

    pub fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    pub fn subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.into();
        self
    }

    pub fn is_resource_request(&self) -> bool {
        self.path.is_none()
    }

    /// The namespace RBAC evaluates in: non-resource requests are cluster-wide.
    pub(crate) fn effective_namespace(&self) -> &str {
        if self.is_resource_request() {
            &self.namespace
        } else {
            ""
        }
    }
}

/// RBAC never denies: a request no rule allows gets `NoOpinion`, so the
/// next authorizer in the chain (if any) decides. The reason of a
/// `NoOpinion` is empty unless a binding could not be resolved (a missing
/// role): then it is `RBAC: <errors>`, as upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow(String),
    NoOpinion(String),
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::NoOpinion(r) => r,
        }
    }
}
