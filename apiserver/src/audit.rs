//! Audit log: one `audit.k8s.io/v1` Event per request as a JSON line, at the
//! level the policy's first matching rule gives (None, Metadata, Request,
//! RequestResponse). Secrets, ConfigMaps' data and TokenRequests/Reviews are
//! never logged beyond Metadata, whatever the policy says.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::auth::UserInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    non_resource_ur_ls: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
    rules: Vec<Rule>,
}

/// What a rule is matched against.
pub struct Subject<'a> {
    pub user: &'a UserInfo,
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub namespace: &'a str,
    pub path: &'a str,
    pub is_resource: bool,
}

impl Policy {
    /// Everything at Metadata (when a log path is given without a policy).
    pub fn metadata_for_all() -> Self {
        Policy { rules: vec![Rule { level: Level::Metadata, users: vec![], user_groups: vec![], verbs: vec![], resources: vec![], namespaces: vec![], non_resource_ur_ls: vec![] }] }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        serde_yaml_ng::from_str(text).map_err(|e| format!("invalid audit policy: {e}"))
    }

    pub fn level(&self, s: &Subject<'_>) -> Level {
        let level = self.rules.iter().find(|r| rule_matches(r, s)).map_or(Level::None, |r| r.level);
        let sensitive = matches!(s.resource, "secrets" | "configmaps" | "tokenreviews" | "serviceaccounts") && s.group.is_empty()
            || s.group == "authentication.k8s.io";
        if sensitive { level.min(Level::Metadata) } else { level }
    }
}

fn rule_matches(r: &Rule, s: &Subject<'_>) -> bool {
    let any = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
    if !any(&r.users, &s.user.name) || !(r.user_groups.is_empty() || s.user.groups.iter().any(|g| r.user_groups.contains(g))) || !any(&r.verbs, s.verb) {
        return false;
    }
    if s.is_resource {
        if !r.non_resource_ur_ls.is_empty() && r.resources.is_empty() {
            return false;
        }
        let resource_ok = r.resources.is_empty() || r.resources.iter().any(|g| g.group == s.group && (g.resources.is_empty() || g.resources.iter().any(|x| x == s.resource)));
        resource_ok && any(&r.namespaces, s.namespace)
    } else {
        if !r.resources.is_empty() || !r.namespaces.is_empty() {
            return false;
        }
        r.non_resource_ur_ls.is_empty()
            || r.non_resource_ur_ls.iter().any(|p| p.strip_suffix('*').map_or(p == s.path, |prefix| s.path.starts_with(prefix)))
    }
}

/// The audit sink: events are queued and written by one task.
pub struct AuditLog {
    policy: Policy,
    tx: mpsc::Sender<Vec<u8>>,
}

impl AuditLog {
    pub async fn open(path: &Path, policy: Policy) -> std::io::Result<Arc<Self>> {
        let mut file = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await?;
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(10_000);
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if let Err(e) = file.write_all(&line).await {
                    tracing::error!(error = %e, "writing the audit log failed");
                }
            }
            let _ = file.flush().await;
        });
        Ok(Arc::new(AuditLog { policy, tx }))
    }
}

/// Middleware (after authentication): log each request at its level.
pub async fn middleware(State(log): State<Arc<AuditLog>>, req: Request, next: Next) -> Response {
    let received = jiff::Timestamp::now();
    let method = req.method().clone();
    let uri = req.uri().to_string();
    let path = req.uri().path().to_string();
    let user = req.extensions().get::<UserInfo>().cloned().unwrap_or_else(crate::auth::anonymous);
    let is_watch = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let info = crate::request::parse(&method, &path, is_watch);
    let verb = info.as_ref().map(|i| i.verb.to_string()).unwrap_or_else(|| method.as_str().to_lowercase());
    let subject = Subject {
        user: &user,
        verb: &verb,
        group: info.as_ref().map_or("", |i| i.group.as_str()),
        resource: info.as_ref().map_or("", |i| i.resource.as_str()),
        namespace: info.as_ref().and_then(|i| i.namespace.as_deref()).unwrap_or(""),
        path: &path,
        is_resource: info.is_some(),
    };
    let level = log.policy.level(&subject);
    if level == Level::None {
        return next.run(req).await;
    }
    let user_agent = req.headers().get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (req, request_object) = if level >= Level::Request && matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, 3 << 20).await.unwrap_or_default();
        let obj: Option<Value> = serde_json::from_slice(&bytes).ok();
        (Request::from_parts(parts, Body::from(bytes)), obj)
    } else {
        (req, None)
    };
    let response = next.run(req).await;
    let code = response.status().as_u16();
    let (response, response_object) = if level == Level::RequestResponse && !is_watch {
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
        let obj: Option<Value> = serde_json::from_slice(&bytes).ok();
        (Response::from_parts(parts, Body::from(bytes)), obj)
    } else {
        (response, None)
    };
    let mut event = json!({
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": format!("{level:?}"),
        "auditID": uuid::Uuid::new_v4().to_string(),
        "stage": "ResponseComplete",
        "requestURI": uri,
        "verb": verb,
        "user": user.to_json(),
        "userAgent": user_agent,
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": received.to_string(),
        "stageTimestamp": jiff::Timestamp::now().to_string(),
    });
    if let Some(i) = &info {
        let mut object_ref = json!({"resource": i.resource, "apiVersion": i.version});
        if !i.group.is_empty() {
            object_ref["apiGroup"] = json!(i.group);
        }
        if let Some(ns) = &i.namespace {
            object_ref["namespace"] = json!(ns);
        }
        if let Some(n) = &i.name {
            object_ref["name"] = json!(n);
        }
        if let Some(sr) = &i.subresource {
            object_ref["subresource"] = json!(sr);
        }
        event["objectRef"] = object_ref;
    }
    if let Some(o) = request_object {
        event["requestObject"] = o;
    }
    if let Some(o) = response_object {
        event["responseObject"] = o;
    }
    let mut line = serde_json::to_vec(&event).unwrap_or_default();
    line.push(b'\n');
    if log.tx.try_send(line).is_err() {
        tracing::warn!("audit queue full; event dropped");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(user: &'a UserInfo, verb: &'a str, group: &'a str, resource: &'a str) -> Subject<'a> {
        Subject { user, verb, group, resource, namespace: "default", path: "/api/v1/namespaces/default/x", is_resource: true }
    }

    #[test]
    fn policy_levels_and_secret_safety() {
        let policy = Policy::parse(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  users: [system:kube-proxy]\n- level: RequestResponse\n  resources:\n  - group: \"\"\n    resources: [pods, secrets]\n- level: Metadata\n",
        )
        .unwrap();
        let alice = UserInfo { name: "alice".into(), ..Default::default() };
        let proxy = UserInfo { name: "system:kube-proxy".into(), ..Default::default() };
        assert_eq!(policy.level(&subject(&alice, "create", "", "pods")), Level::RequestResponse);
        assert_eq!(policy.level(&subject(&alice, "create", "", "secrets")), Level::Metadata, "secrets never beyond Metadata");
        assert_eq!(policy.level(&subject(&alice, "get", "apps", "deployments")), Level::Metadata);
        assert_eq!(policy.level(&subject(&proxy, "get", "", "pods")), Level::None);
    }
}
