//! The request chain's security stages as plug points: authentication
//! (who is asking), authorization (may they do this), admission (what a
//! write must look like). The secure-access issue fills these in (x509,
//! tokens, RBAC, NodeRestriction, quota, ...); today the server runs on plain
//! HTTP on loopback with an insecure authenticator and an allow-all
//! authorizer, and says so in every review response.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use axum::http::{Extensions, HeaderMap};
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

/// What one authenticator made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Credentials of this kind, valid.
    User(UserInfo),
    /// Credentials of this kind, invalid (expired, unknown, tampered...).
    Rejected(String),
    /// No credentials of this kind.
    NotMine,
}

/// Finds the identity behind a request.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, headers: &HeaderMap, extensions: &Extensions) -> AuthOutcome;
}

impl<T: Authenticator + ?Sized> Authenticator for std::sync::Arc<T> {
    fn authenticate(&self, headers: &HeaderMap, extensions: &Extensions) -> AuthOutcome {
        (**self).authenticate(headers, extensions)
    }
}

/// Upstream's union: the first authenticator that accepts wins; if none
/// does and one rejected, the request is rejected (401).
pub struct Union(pub Vec<Box<dyn Authenticator>>);

impl Authenticator for Union {
    fn authenticate(&self, headers: &HeaderMap, extensions: &Extensions) -> AuthOutcome {
        let mut rejected = None;
        for a in &self.0 {
            match a.authenticate(headers, extensions) {
                AuthOutcome::User(u) => return AuthOutcome::User(u),
                AuthOutcome::Rejected(r) => rejected = Some(r),
                AuthOutcome::NotMine => {}
            }
        }
        rejected.map_or(AuthOutcome::NotMine, AuthOutcome::Rejected)
    }
}

/// Requests on the explicitly enabled insecure loopback port are the
/// unsecured superuser, as upstream's old insecure port.
pub struct InsecurePortAuthenticator;

impl Authenticator for InsecurePortAuthenticator {
    fn authenticate(&self, _headers: &HeaderMap, extensions: &Extensions) -> AuthOutcome {
        if extensions.get::<crate::tls::InsecurePort>().is_none() {
            return AuthOutcome::NotMine;
        }
        AuthOutcome::User(UserInfo {
            name: "system:unsecured".into(),
            groups: vec!["system:masters".into(), "system:authenticated".into()],
            ..Default::default()
        })
    }
}

/// x509 client certificates verified by the TLS layer: CN = user, O = groups.
pub struct X509Authenticator;

impl Authenticator for X509Authenticator {
    fn authenticate(&self, _headers: &HeaderMap, extensions: &Extensions) -> AuthOutcome {
        match extensions.get::<crate::tls::ClientCert>() {
            Some(c) => {
                let mut groups = c.groups.clone();
                groups.push("system:authenticated".into());
                AuthOutcome::User(UserInfo { name: c.user.clone(), groups, ..Default::default() })
            }
            None => AuthOutcome::NotMine,
        }
    }
}

/// The `Authorization: Bearer <token>` of a request, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim()).filter(|t| !t.is_empty())
}

/// Upstream's static token file: CSV lines `token,user,uid[,"group1,group2"]`.
pub struct TokenFileAuthenticator {
    tokens: HashMap<String, UserInfo>,
}

impl TokenFileAuthenticator {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading token file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("token file {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields = split_csv(line);
            if fields.len() < 3 {
                return Err(format!("line {}: want at least token,user,uid", n + 1));
            }
            let mut groups: Vec<String> = fields.get(3).map(|g| g.split(',').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string).collect()).unwrap_or_default();
            groups.push("system:authenticated".into());
            tokens.insert(fields[0].clone(), UserInfo { name: fields[1].clone(), uid: fields[2].clone(), groups, ..Default::default() });
        }
        Ok(TokenFileAuthenticator { tokens })
    }
}

fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|f| f.trim().to_string()).collect()
}

impl Authenticator for TokenFileAuthenticator {
    fn authenticate(&self, headers: &HeaderMap, _extensions: &Extensions) -> AuthOutcome {
        let Some(token) = bearer_token(headers) else { return AuthOutcome::NotMine };
        match self.tokens.get(token) {
            Some(u) => AuthOutcome::User(u.clone()),
            None => AuthOutcome::Rejected("invalid bearer token".into()),
        }
    }
}

/// Paths anonymous requests may reach (upstream's system:public-info-viewer).
pub fn is_public_path(path: &str) -> bool {
    matches!(path, "/version" | "/version/" | "/healthz" | "/livez" | "/readyz")
        || path.starts_with("/healthz/")
        || path.starts_with("/livez/")
        || path.starts_with("/readyz/")
}

pub fn anonymous() -> UserInfo {
    UserInfo { name: "system:anonymous".into(), groups: vec!["system:unauthenticated".into()], ..Default::default() }
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
    fn token_file_lines() {
        let a = TokenFileAuthenticator::parse("# comment\nt1,alice,1\nt2,bob,2,\"dev,ops\"\n").unwrap();
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer t2".parse().unwrap());
        match a.authenticate(&h, &Extensions::new()) {
            AuthOutcome::User(u) => {
                assert_eq!(u.name, "bob");
                assert_eq!(u.groups, vec!["dev", "ops", "system:authenticated"]);
            }
            other => panic!("{other:?}"),
        }
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(matches!(a.authenticate(&h, &Extensions::new()), AuthOutcome::Rejected(_)));
        assert_eq!(a.authenticate(&HeaderMap::new(), &Extensions::new()), AuthOutcome::NotMine);
        assert!(TokenFileAuthenticator::parse("just-a-token").is_err());
    }

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
