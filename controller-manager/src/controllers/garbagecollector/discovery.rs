//! Which resources the garbage collector (and the namespace controller)
//! handle, from the API's discovery documents: every resource that can be
//! listed, watched and deleted, at its group's preferred version.

use std::collections::HashMap;

use anyhow::Context;
use kube::discovery::{verbs, ApiCapabilities, ApiResource, Discovery, Scope};

/// One discovered resource.
#[derive(Debug, Clone)]
pub struct DiscoveredResource {
    pub resource: ApiResource,
    pub namespaced: bool,
    pub verbs: Vec<String>,
}

impl DiscoveredResource {
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// `plural.group` (upstream's GroupResource string).
    pub fn group_resource(&self) -> String {
        if self.resource.group.is_empty() {
            self.resource.plural.clone()
        } else {
            format!("{}.{}", self.resource.plural, self.resource.group)
        }
    }
}

/// Resources upstream's collector ignores (`ignoredResources`): events are
/// high-volume and never owners.
pub fn ignored_by_gc(group: &str, plural: &str) -> bool {
    matches!((group, plural), ("", "events") | ("events.k8s.io", "events"))
}

/// The discovered resources plus a kind lookup for owner references.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub all: Vec<DiscoveredResource>,
    by_kind: HashMap<(String, String), usize>,
    by_group_kind: HashMap<(String, String), usize>,
}

impl Resources {
    pub fn new(all: Vec<DiscoveredResource>) -> Resources {
        let mut by_kind = HashMap::new();
        let mut by_group_kind = HashMap::new();
        for (i, r) in all.iter().enumerate() {
            by_kind.insert((r.resource.api_version.clone(), r.resource.kind.clone()), i);
            by_group_kind.entry((r.resource.group.clone(), r.resource.kind.clone())).or_insert(i);
        }
        Resources { all, by_kind, by_group_kind }
    }

    /// The resource serving `kind` of `api_version`; falls back to the
    /// group's preferred version (owner references may name an older one).
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<&DiscoveredResource> {
        if let Some(i) = self.by_kind.get(&(api_version.to_string(), kind.to_string())) {
            return self.all.get(*i);
        }
        let group = api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
        self.by_group_kind.get(&(group.to_string(), kind.to_string())).and_then(|i| self.all.get(*i))
    }

    /// Resources that can be listed, watched and deleted.
    pub fn deletable(&self) -> impl Iterator<Item = &DiscoveredResource> {
        self.all
            .iter()
            .filter(|r| r.supports(verbs::LIST) && r.supports(verbs::WATCH) && r.supports(verbs::DELETE))
    }
}

fn entry(ar: ApiResource, caps: ApiCapabilities) -> DiscoveredResource {
    DiscoveredResource { resource: ar, namespaced: caps.scope == Scope::Namespaced, verbs: caps.operations }
}

/// Runs discovery (all groups, preferred versions).
pub async fn discover(client: &kube::Client) -> anyhow::Result<Resources> {
    let discovery = Discovery::new(client.clone()).run().await.context("API discovery")?;
    let mut all = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            all.push(entry(ar, caps));
        }
    }
    Ok(Resources::new(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(group: &str, version: &str, kind: &str, plural: &str) -> DiscoveredResource {
        let api_version = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
        DiscoveredResource {
            resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced: true,
            verbs: vec!["list".into(), "watch".into(), "delete".into()],
        }
    }

    #[test]
    fn kind_lookup_falls_back_to_the_preferred_version() {
        let r = Resources::new(vec![res("apps", "v1", "ReplicaSet", "replicasets"), res("", "v1", "Pod", "pods")]);
        assert_eq!(r.for_kind("apps/v1", "ReplicaSet").map(|d| d.resource.plural.as_str()), Some("replicasets"));
        assert_eq!(r.for_kind("apps/v1beta2", "ReplicaSet").map(|d| d.resource.plural.as_str()), Some("replicasets"));
        assert_eq!(r.for_kind("v1", "Pod").map(|d| d.group_resource()), Some("pods".to_string()));
        assert!(r.for_kind("v1", "Nope").is_none());
        assert_eq!(r.deletable().count(), 2);
        assert!(ignored_by_gc("", "events"));
        assert!(!ignored_by_gc("", "pods"));
    }
}
