//! Parsing a resource request's path and method into what it asks for, as
//! upstream's `RequestInfoFactory`: verb, group/version, namespace, resource,
//! name, subresource. Pure; authorization (later) and handlers consume it.

use axum::http::Method;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: &'static str,
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parse `/api/v1/...` or `/apis/<group>/<version>/...`. `None` when the path
/// is not a resource path (discovery and other endpoints are routed before).
pub fn parse(method: &Method, path: &str, watch_param: bool) -> Option<RequestInfo> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|p| !p.is_empty()).collect();
    let (group, version, mut rest) = match parts.as_slice() {
        ["api", version, rest @ ..] => (String::new(), version.to_string(), rest),
        ["apis", group, version, rest @ ..] => (group.to_string(), version.to_string(), rest),
        _ => return None,
    };
    let mut legacy_watch = false;
    if rest.first() == Some(&"watch") {
        legacy_watch = true;
        rest = &rest[1..];
    }
    let mut info = RequestInfo { group, version, ..Default::default() };
    if rest.first() == Some(&"namespaces") && rest.len() > 1 {
        info.namespace = Some(rest[1].to_string());
        // namespaces/<ns>/<resource>... unless the third part is a namespace subresource.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let resource = rest.first()?;
    info.resource = resource.to_string();
    info.name = rest.get(1).map(|s| s.to_string());
    info.subresource = rest.get(2).map(|s| s.to_string());
    if rest.len() > 3 {
        return None;
    }
    if info.resource == "namespaces" && info.name.is_some() {
        // For namespaces/<name> the "namespace" is the object's name.
        info.namespace = None;
    }
    info.verb = match *method {
        Method::GET | Method::HEAD => match (&info.name, legacy_watch || watch_param) {
            (_, true) => "watch",
            (Some(_), false) => "get",
            (None, false) => "list",
        },
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => {
            if info.name.is_some() {
                "delete"
            } else {
                "deletecollection"
            }
        }
        _ => return None,
    };
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: Method, path: &str, want: (&str, &str, Option<&str>, &str, Option<&str>, Option<&str>)) {
        let info = parse(&method, path, false).unwrap_or_else(|| panic!("{path} did not parse"));
        let got = (
            info.verb,
            info.group.as_str(),
            info.namespace.as_deref(),
            info.resource.as_str(),
            info.name.as_deref(),
            info.subresource.as_deref(),
        );
        assert_eq!(got, want, "{method} {path}");
    }

    #[test]
    fn paths() {
        check(Method::GET, "/api/v1/pods", ("list", "", None, "pods", None, None));
        check(Method::GET, "/api/v1/namespaces/default/pods", ("list", "", Some("default"), "pods", None, None));
        check(Method::GET, "/api/v1/namespaces/default/pods/web", ("get", "", Some("default"), "pods", Some("web"), None));
        check(Method::POST, "/api/v1/namespaces/default/pods/web/binding", ("create", "", Some("default"), "pods", Some("web"), Some("binding")));
        check(Method::GET, "/api/v1/namespaces/kube-system", ("get", "", None, "namespaces", Some("kube-system"), None));
        check(Method::PUT, "/api/v1/namespaces/ns1/status", ("update", "", None, "namespaces", Some("ns1"), Some("status")));
        check(Method::PUT, "/api/v1/namespaces/ns1/finalize", ("update", "", None, "namespaces", Some("ns1"), Some("finalize")));
        check(Method::GET, "/apis/apps/v1/namespaces/a/deployments/d/scale", ("get", "apps", Some("a"), "deployments", Some("d"), Some("scale")));
        check(Method::DELETE, "/apis/apps/v1/namespaces/a/deployments", ("deletecollection", "apps", Some("a"), "deployments", None, None));
        check(Method::GET, "/api/v1/watch/namespaces/a/pods", ("watch", "", Some("a"), "pods", None, None));
        check(Method::GET, "/api/v1/nodes/n1", ("get", "", None, "nodes", Some("n1"), None));
        check(Method::POST, "/api/v1/namespaces", ("create", "", None, "namespaces", None, None));
    }

    #[test]
    fn non_resource_paths() {
        assert!(parse(&Method::GET, "/version", false).is_none());
        assert!(parse(&Method::GET, "/api/v1", false).is_none());
        assert!(parse(&Method::GET, "/api/v1/namespaces/a/pods/b/c/d", false).is_none());
    }
}
