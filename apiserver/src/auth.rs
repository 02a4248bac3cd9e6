//! The request chain's security stages as plug points: authentication
//! (who is asking), authorization (may they do this), admission (what a
//! write must look like). The secure-access issue fills these in (x509,
//! tokens, RBAC, NodeRestriction, quota, ...); today the server runs on plain
//! HTTP on loopback with an insecure authenticator and an allow-all
//! authorizer, and says so in every review response.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::request::RequestInfo;

/// An authenticated identity (upstream's `user.Info`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// Finds the identity behind a request; `None` = not authenticated.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap) -> Option<UserInfo>;
}

/// The plain-HTTP loopback port: every request is the unsecured superuser,
/// as upstream's old insecure port.
pub struct InsecureAuthenticator;

impl Authenticator for InsecureAuthenticator {
    fn authenticate(&self, _headers: &HeaderMap) -> Option<UserInfo> {
        Some(UserInfo {
            name: "system:unsecured".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            ..Default::default()
        })
    }
}

/// What is being asked (upstream's `authorizer.Attributes`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    /// Set for non-resource requests (`/healthz`, `/version`, ...).
    pub path: Option<String>,
}

impl Attributes {
    pub fn from_request(info: &RequestInfo) -> Self {
        Attributes {
            verb: info.verb.to_string(),
            group: info.group.clone(),
            version: info.version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone().unwrap_or_default(),
            namespace: info.namespace.clone().unwrap_or_default(),
            name: info.name.clone().unwrap_or_default(),
            path: None,
        }
    }

    /// From a SubjectAccessReview's `spec.resourceAttributes` / `nonResourceAttributes`.
    pub fn from_review(spec: &Value) -> Self {
        let s = |v: Option<&Value>, k: &str| v.and_then(|x| x.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(nr) = spec.get("nonResourceAttributes") {
            return Attributes { verb: s(Some(nr), "verb"), path: Some(s(Some(nr), "path")), ..Default::default() };
        }
        let ra = spec.get("resourceAttributes");
        Attributes {
            verb: s(ra, "verb"),
            group: s(ra, "group"),
            version: s(ra, "version"),
            resource: s(ra, "resource"),
            subresource: s(ra, "subresource"),
            namespace: s(ra, "namespace"),
            name: s(ra, "name"),
            path: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { reason: String },
    Deny { reason: String },
    NoOpinion,
}

pub trait Authorizer: Send + Sync {
    fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision;
}

/// Allows everything (until RBAC is enforced).
pub struct AlwaysAllow;

impl Authorizer for AlwaysAllow {
    fn authorize(&self, _user: &UserInfo, _attrs: &Attributes) -> Decision {
        Decision::Allow { reason: "the API server runs with the always-allow authorizer (RBAC is not enforced yet)".into() }
    }
}

/// Upstream's 403 text: `pods is forbidden: User "u" cannot create resource
/// "pods" in API group "" in the namespace "default"`.
pub fn forbidden_message(user: &UserInfo, a: &Attributes, reason: &str) -> String {
    let resource = if a.subresource.is_empty() { a.resource.clone() } else { format!("{}/{}", a.resource, a.subresource) };
    let what = if a.group.is_empty() { resource.clone() } else { format!("{resource}.{}", a.group) };
    let named = if a.name.is_empty() { String::new() } else { format!(" \"{}\"", a.name) };
    let scope = if a.namespace.is_empty() { "at the cluster scope".to_string() } else { format!("in the namespace \"{}\"", a.namespace) };
    let mut msg = format!(
        "{what}{named} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
        user.name, a.verb, a.group
    );
    if !reason.is_empty() {
        msg.push_str(&format!(": {reason}"));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_text_matches_upstream() {
        let user = UserInfo { name: "train".into(), ..Default::default() };
        let a = Attributes { verb: "create".into(), resource: "pods".into(), namespace: "default".into(), ..Default::default() };
        assert_eq!(
            forbidden_message(&user, &a, ""),
            "pods is forbidden: User \"train\" cannot create resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let a = Attributes { verb: "list".into(), group: "apps".into(), resource: "deployments".into(), ..Default::default() };
        assert_eq!(
            forbidden_message(&user, &a, ""),
            "deployments.apps is forbidden: User \"train\" cannot list resource \"deployments\" in API group \"apps\" at the cluster scope"
        );
    }
}
