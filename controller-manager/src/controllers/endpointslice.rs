//! The EndpointSlice controller (`endpointslice`): `discovery.k8s.io/v1`
//! EndpointSlices for every Service with a selector.
//!
//! Upstream (`pkg/controller/endpointslice/reconciler.go` and
//! `endpointslice/util`):
//! - every pod with an IP that is not terminal goes in (terminating pods
//!   too) with conditions `serving` = pod Ready, `terminating` = being
//!   deleted, `ready` = serving and not terminating, or always true with
//!   `publishNotReadyAddresses`;
//! - endpoints are grouped by address type and resolved port set (named
//!   target ports are resolved per pod) and packed at most 100 per slice;
//! - slices carry the Service's labels plus `kubernetes.io/service-name`
//!   and `endpointslice.kubernetes.io/managed-by:
//!   endpointslice-controller.k8s.io`, a controller reference to the
//!   Service and `endpoints.kubernetes.io/last-change-trigger-time`;
//! - a Service without endpoints keeps one empty placeholder slice.
//!
//! Existing slices of the same group are reused in name order (updated
//! only when their content differs); surplus slices are deleted. Upstream
//! additionally minimises churn by filling partially full slices; this
//! packing is deterministic instead.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use crate::runtime::cached_pod::CachedPod;
use super::endpoints::{self, find_port, hostname, pod_ip, pod_reference, selector_matches, should_be_in_endpoints};
use crate::controllers::Ctx;
use crate::runtime::{run_workers, Change, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "endpointslice";
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// `--max-endpoints-per-slice` (upstream default 100).
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;

/// Slices are grouped by address type and port set.
pub type GroupKey = (String, Vec<EndpointPortKey>);

/// A comparable port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndpointPortKey {
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub app_protocol: Option<String>,
}

impl EndpointPortKey {
    pub fn to_port(&self) -> EndpointPort {
        EndpointPort {
            name: Some(self.name.clone()),
            port: Some(self.port),
            protocol: Some(self.protocol.clone()),
            app_protocol: self.app_protocol.clone(),
        }
    }

    pub fn of(p: &EndpointPort) -> EndpointPortKey {
        EndpointPortKey {
            name: p.name.clone().unwrap_or_default(),
            port: p.port.unwrap_or(0),
            protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            app_protocol: p.app_protocol.clone(),
        }
    }
}

pub fn address_type(ip: &str) -> &'static str {
    if ip.contains(':') {
        "IPv6"
    } else {
        "IPv4"
    }
}

/// The Service's primary address type (for the placeholder slice).
pub fn service_address_type(svc: &Service) -> String {
    let family = svc.spec.as_ref().and_then(|s| s.ip_families.as_ref()).and_then(|f| f.first().cloned());
    match family.as_deref() {
        Some("IPv6") => "IPv6".into(),
        _ => "IPv4".into(),
    }
}

/// The endpoint for one pod (upstream `podToEndpoint`).
pub fn pod_endpoint(svc: &Service, pod: &CachedPod, zone: Option<String>) -> Option<Endpoint> {
    let ip = pod_ip(pod)?;
    let serving = crate::runtime::pod_util::is_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let ready = endpoints::publish_not_ready(svc) || (serving && !terminating);
    Some(Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions { ready: Some(ready), serving: Some(serving), terminating: Some(terminating) }),
        hostname: hostname(pod, svc),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        zone,
        target_ref: Some(pod_reference(pod)),
        ..Default::default()
    })
}

/// Desired endpoints by group, each sorted by address.
pub fn desired_groups(svc: &Service, pods: &[Arc<CachedPod>], zone_of: impl Fn(&str) -> Option<String>) -> BTreeMap<GroupKey, Vec<Endpoint>> {
    let ports = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    let mut groups: BTreeMap<GroupKey, Vec<Endpoint>> = BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, true) {
            continue;
        }
        let zone = pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).and_then(&zone_of);
        let Some(ep) = pod_endpoint(svc, pod, zone) else { continue };
        let mut keys = Vec::new();
        for p in &ports {
            if let Some(n) = find_port(pod, p) {
                keys.push(EndpointPortKey {
                    name: p.name.clone().unwrap_or_default(),
                    port: n,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    app_protocol: p.app_protocol.clone(),
                });
            }
        }
        let ty = address_type(&ep.addresses[0]).to_string();
        groups.entry((ty, keys)).or_default().push(ep);
    }
    for eps in groups.values_mut() {
        eps.sort_by(|a, b| a.addresses.cmp(&b.addresses));
    }
    groups
}

/// Metadata every slice of one Service gets.
#[derive(Debug, Clone)]
pub struct SliceMeta {
    pub namespace: String,
    pub service_name: String,
    pub labels: BTreeMap<String, String>,
    pub owner: Option<OwnerReference>,
    pub managed_by: String,
}

/// Upstream `setEndpointSliceLabels`: the Service's labels minus reserved
/// ones, plus service name, manager and headless marker.
pub fn slice_labels(svc: &Service, managed_by: &str) -> BTreeMap<String, String> {
    let mut labels = endpoints::endpoints_labels(svc);
    labels.insert(SERVICE_NAME_LABEL.into(), svc.metadata.name.clone().unwrap_or_default());
    labels.insert(MANAGED_BY_LABEL.into(), managed_by.into());
    labels
}

/// Create / update / delete steps.
#[derive(Debug, Default)]
pub struct SlicePlan {
    pub create: Vec<EndpointSlice>,
    pub update: Vec<EndpointSlice>,
    pub delete: Vec<String>,
}

impl SlicePlan {
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

fn group_of(slice: &EndpointSlice) -> GroupKey {
    let mut ports: Vec<EndpointPortKey> = slice.ports.iter().flatten().map(EndpointPortKey::of).collect();
    ports.sort();
    (slice.address_type.clone(), ports)
}

/// Packs `desired` into slices, reusing `existing` (the slices this
/// manager owns for the Service). `placeholder_type`: the address type of
/// the empty slice kept when there is no endpoint at all.
pub fn plan_slices(
    meta: &SliceMeta,
    mut desired: BTreeMap<GroupKey, Vec<Endpoint>>,
    existing: &[Arc<EndpointSlice>],
    placeholder_type: &str,
    max_per_slice: usize,
    trigger: Timestamp,
) -> SlicePlan {
    // Group keys compare with sorted ports; slices keep the Service's order.
    let mut sorted_desired: BTreeMap<GroupKey, (Vec<EndpointPortKey>, Vec<Endpoint>)> = BTreeMap::new();
    if desired.values().all(Vec::is_empty) {
        desired.clear();
        desired.insert((placeholder_type.to_string(), Vec::new()), Vec::new());
    }
    for ((ty, ports), eps) in desired {
        let mut key = ports.clone();
        key.sort();
        let entry = sorted_desired.entry((ty, key)).or_insert_with(|| (ports, Vec::new()));
        entry.1.extend(eps);
    }
    let mut by_group: BTreeMap<GroupKey, Vec<Arc<EndpointSlice>>> = BTreeMap::new();
    for s in existing {
        by_group.entry(group_of(s)).or_default().push(s.clone());
    }
    for v in by_group.values_mut() {
        v.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    }
    let mut plan = SlicePlan::default();
    let trigger = trigger.to_string();
    for (key, (ports, eps)) in &sorted_desired {
        let chunks: Vec<&[Endpoint]> = if eps.is_empty() { vec![&[][..]] } else { eps.chunks(max_per_slice.max(1)).collect() };
        let current = by_group.remove(key).unwrap_or_default();
        for (i, chunk) in chunks.iter().enumerate() {
            let ports: Vec<EndpointPort> = ports.iter().map(EndpointPortKey::to_port).collect();
            match current.get(i) {
                Some(cur) => {
                    let same = cur.endpoints == chunk.to_vec()
                        && cur.metadata.labels.as_ref() == Some(&meta.labels)
                        && cur.ports.clone().unwrap_or_default() == ports;
                    if !same {
                        let mut s = (**cur).clone();
                        s.endpoints = chunk.to_vec();
                        s.ports = Some(ports);
                        s.metadata.labels = Some(meta.labels.clone());
                        s.metadata.annotations.get_or_insert_with(BTreeMap::new).insert(endpoints::TRIGGER_TIME_ANNOTATION.into(), trigger.clone());
                        plan.update.push(s);
                    }
                }
                None => plan.create.push(EndpointSlice {
                    metadata: kube::api::ObjectMeta {
                        generate_name: Some(slice_prefix(&meta.service_name)),
                        namespace: Some(meta.namespace.clone()),
                        labels: Some(meta.labels.clone()),
                        annotations: Some(BTreeMap::from([(endpoints::TRIGGER_TIME_ANNOTATION.to_string(), trigger.clone())])),
                        owner_references: meta.owner.clone().map(|o| vec![o]),
                        ..Default::default()
                    },
                    address_type: key.0.clone(),
                    endpoints: chunk.to_vec(),
                    ports: Some(ports),
                }),
            }
        }
        for extra in current.iter().skip(chunks.len()) {
            plan.delete.extend(extra.metadata.name.clone());
        }
    }
    for slices in by_group.values() {
        plan.delete.extend(slices.iter().filter_map(|s| s.metadata.name.clone()));
    }
    plan
}

/// `generateName` prefix: the Service name (trimmed) and a dash.
pub fn slice_prefix(service: &str) -> String {
    let max = 63 - 6;
    let trimmed: String = service.chars().take(max).collect();
    format!("{trimmed}-")
}

/// Slices of `service` in `namespace` managed by `managed_by`.
pub fn owned_slices(slices: &crate::runtime::Informer<EndpointSlice>, namespace: &str, service: &str, managed_by: &str) -> Vec<Arc<EndpointSlice>> {
    slices.list_namespace(namespace).into_iter().filter(|s| is_managed(s, service, managed_by)).collect()
}

pub fn is_managed(s: &EndpointSlice, service: &str, managed_by: &str) -> bool {
    let labels = s.metadata.labels.as_ref();
    labels.and_then(|l| l.get(SERVICE_NAME_LABEL)).map(String::as_str) == Some(service)
        && labels.and_then(|l| l.get(MANAGED_BY_LABEL)).map(String::as_str) == Some(managed_by)
}

/// Carries out a plan.
pub async fn apply_plan(client: &kube::Client, namespace: &str, plan: SlicePlan) -> anyhow::Result<()> {
    let api: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
    for s in plan.create {
        match api.create(&PostParams::default(), &s).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("terminat") => return Ok(()),
            Err(err) => return Err(err).context("creating EndpointSlice"),
        }
    }
    for s in plan.update {
        let name = s.metadata.name.clone().unwrap_or_default();
        api.replace(&name, &PostParams::default(), &s).await.with_context(|| format!("updating EndpointSlice {namespace}/{name}"))?;
    }
    for name in plan.delete {
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(err) if crate::runtime::owner::is_not_found(&err) => {}
            Err(err) => return Err(err).with_context(|| format!("deleting EndpointSlice {namespace}/{name}")),
        }
    }
    Ok(())
}

struct State {
    client: kube::Client,
    services: crate::runtime::Informer<Service>,
    pods: crate::runtime::Informer<CachedPod>,
    nodes: crate::runtime::Informer<Node>,
    slices: crate::runtime::Informer<EndpointSlice>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let existing = owned_slices(&state.slices, &key.namespace, &key.name, MANAGED_BY);
    let Some(svc) = state.services.get(&key.namespace, &key.name) else {
        // The garbage collector removes slices of deleted Services (owner references).
        return Ok(None);
    };
    if !endpoints::selects_pods(&svc) {
        let plan = SlicePlan { delete: existing.iter().filter_map(|s| s.metadata.name.clone()).collect(), ..Default::default() };
        apply_plan(&state.client, &key.namespace, plan).await?;
        return Ok(None);
    }
    let pods: Vec<Arc<CachedPod>> = state
        .pods
        .list_namespace(&key.namespace)
        .into_iter()
        .filter(|p| selector_matches(&svc, p.metadata.labels.as_ref()))
        .collect();
    let nodes = state.nodes.clone();
    let zone_of = move |node: &str| nodes.get("", node).and_then(|n| n.metadata.labels.as_ref()?.get(ZONE_LABEL).cloned());
    let groups = desired_groups(&svc, &pods, zone_of);
    let meta = SliceMeta {
        namespace: key.namespace.clone(),
        service_name: key.name.clone(),
        labels: slice_labels(&svc, MANAGED_BY),
        owner: Some(crate::runtime::owner::controller_ref(&*svc)),
        managed_by: MANAGED_BY.into(),
    };
    let plan = plan_slices(&meta, groups, &existing, &service_address_type(&svc), MAX_ENDPOINTS_PER_SLICE, Timestamp::now());
    if plan.is_empty() {
        return Ok(None);
    }
    tracing::debug!(service = %key, create = plan.create.len(), update = plan.update.len(), delete = plan.delete.len(), "reconciling endpoint slices");
    apply_plan(&state.client, &key.namespace, plan).await?;
    Ok(None)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let services = ctx.informers.get::<Service>();
    let pods = ctx.informers.get::<CachedPod>();
    let nodes = ctx.informers.get::<Node>();
    let slices = ctx.informers.get::<EndpointSlice>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = services.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g2 = pods.add_handler(endpoints::pod_handler(services.clone(), queue.clone()));
    let _g3 = slices.add_handler({
        let q = queue.clone();
        move |c: &Change<EndpointSlice>| {
            let s = c.object();
            let labels = s.metadata.labels.as_ref();
            if labels.and_then(|l| l.get(MANAGED_BY_LABEL)).map(String::as_str) == Some(MANAGED_BY) {
                if let Some(svc) = labels.and_then(|l| l.get(SERVICE_NAME_LABEL)) {
                    q.add(ObjectKey::new(s.metadata.namespace.clone().unwrap_or_default(), svc.clone()));
                }
            }
        }
    });
    services.wait_synced().await?;
    pods.wait_synced().await?;
    nodes.wait_synced().await?;
    slices.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), services, pods, nodes, slices });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::endpoints::tests::{pod, port, svc};
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn meta() -> SliceMeta {
        SliceMeta { namespace: "ns".into(), service_name: "web".into(), labels: BTreeMap::new(), owner: None, managed_by: MANAGED_BY.into() }
    }

    #[test]
    fn conditions_follow_readiness_and_termination() {
        let s = svc(&[("app", "web")], vec![port("http", 80, Some(IntOrString::Int(8080)))]);
        let mut term = (*pod("t", "10.0.0.3", true, &[])).clone();
        term.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH));
        let pods = vec![pod("a", "10.0.0.1", true, &[]), pod("b", "10.0.0.2", false, &[]), Arc::new(term)];
        let groups = desired_groups(&s, &pods, |_| Some("z1".into()));
        assert_eq!(groups.len(), 1);
        let eps = groups.values().next().cloned().unwrap_or_default();
        let conds: Vec<(bool, bool, bool)> = eps
            .iter()
            .map(|e| {
                let c = e.conditions.clone().unwrap_or_default();
                (c.ready.unwrap_or(false), c.serving.unwrap_or(false), c.terminating.unwrap_or(false))
            })
            .collect();
        assert_eq!(conds, vec![(true, true, false), (false, false, false), (false, true, true)]);
        assert_eq!(eps[0].zone.as_deref(), Some("z1"));
        let labels = slice_labels(&s, MANAGED_BY);
        assert_eq!(labels.get(SERVICE_NAME_LABEL).map(String::as_str), Some("web"));
        assert_eq!(labels.get(MANAGED_BY_LABEL).map(String::as_str), Some(MANAGED_BY));
    }

    #[test]
    fn packs_at_most_max_per_slice_and_reuses() {
        let s = svc(&[("app", "web")], vec![port("http", 80, None)]);
        let pods: Vec<Arc<CachedPod>> = (0..5).map(|i| pod(&format!("p{i}"), &format!("10.0.0.{i}"), true, &[])).collect();
        let plan = plan_slices(&meta(), desired_groups(&s, &pods, |_| None), &[], "IPv4", 2, Timestamp::UNIX_EPOCH);
        assert_eq!(plan.create.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(), vec![2, 2, 1]);
        // Give them names and feed them back: nothing to do.
        let existing: Vec<Arc<EndpointSlice>> = plan
            .create
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                s.metadata.name = Some(format!("web-{i}"));
                Arc::new(s)
            })
            .collect();
        let again = plan_slices(&meta(), desired_groups(&s, &pods, |_| None), &existing, "IPv4", 2, Timestamp::UNIX_EPOCH);
        assert!(again.is_empty(), "{again:?}");
        // Fewer pods: one slice updated, one deleted.
        let fewer = plan_slices(&meta(), desired_groups(&s, &pods[..3], |_| None), &existing, "IPv4", 2, Timestamp::UNIX_EPOCH);
        assert_eq!(fewer.update.len(), 1);
        assert_eq!(fewer.delete, vec!["web-2".to_string()]);
        // No pods: one empty placeholder remains (the first slice is reused as it).
        let none = plan_slices(&meta(), desired_groups(&s, &[], |_| None), &existing, "IPv4", 2, Timestamp::UNIX_EPOCH);
        assert_eq!(none.create.len(), 1);
        assert!(none.create[0].endpoints.is_empty());
        assert_eq!(none.delete.len(), 3);
    }

    #[test]
    fn named_ports_split_groups() {
        let s = svc(&[("app", "web")], vec![port("http", 80, Some(IntOrString::String("web".into())))]);
        let pods = vec![pod("a", "10.0.0.1", true, &[("web", 8080)]), pod("b", "10.0.0.2", true, &[("web", 9090)])];
        let plan = plan_slices(&meta(), desired_groups(&s, &pods, |_| None), &[], "IPv4", 100, Timestamp::UNIX_EPOCH);
        let mut ports: Vec<i32> = plan.create.iter().filter_map(|s| s.ports.as_ref()?.first()?.port).collect();
        ports.sort();
        assert_eq!(ports, vec![8080, 9090]);
        assert_eq!(slice_prefix("web"), "web-");
    }
}
