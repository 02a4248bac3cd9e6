//! The endpoints controller (`endpoint`): an `Endpoints` object per Service
//! with a selector, listing the selected pods' addresses and ports.
//!
//! Upstream (`pkg/controller/endpoint/endpoints_controller.go`):
//! - a pod is listed when it has an IP, is not terminal for its restart
//!   policy and, unless `publishNotReadyAddresses`, not being deleted
//!   (`ShouldPodBeInEndpoints`);
//! - ready pods (or all, with `publishNotReadyAddresses`) go to
//!   `addresses`, the others to `notReadyAddresses`;
//! - a named `targetPort` is resolved per pod against its container ports;
//!   a pod that does not expose it is left out of that port;
//! - the hostname is set for pods whose `spec.hostname` is set and whose
//!   `spec.subdomain` is the Service's name;
//! - Endpoints carry the Service's labels (plus `service.kubernetes.io/headless`
//!   for headless Services) and `endpoints.kubernetes.io/last-change-trigger-time`;
//!   more than 1000 addresses are truncated with
//!   `endpoints.kubernetes.io/over-capacity: truncated`.
//!
//! The pure helpers here (pod inclusion, port resolution, hostname) are
//! shared with the EndpointSlice controllers.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort, EndpointSubset, Endpoints, ObjectReference, Service, ServicePort,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::{run_workers, Change, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "endpoint";
pub const TRIGGER_TIME_ANNOTATION: &str = "endpoints.kubernetes.io/last-change-trigger-time";
pub const OVER_CAPACITY_ANNOTATION: &str = "endpoints.kubernetes.io/over-capacity";
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";
pub const MAX_ADDRESSES: usize = 1000;

/// Whether the Service is managed by the endpoint controllers: it has a
/// selector and is not the apiserver's own `default/kubernetes`.
pub fn selects_pods(svc: &Service) -> bool {
    let is_master = svc.metadata.namespace.as_deref() == Some("default") && svc.metadata.name.as_deref() == Some("kubernetes");
    !is_master && svc.spec.as_ref().and_then(|s| s.selector.as_ref()).is_some_and(|s| !s.is_empty())
        && svc.spec.as_ref().and_then(|s| s.type_.as_deref()) != Some("ExternalName")
}

/// The Service selector matches these labels (a plain map subset).
pub fn selector_matches(svc: &Service, labels: Option<&BTreeMap<String, String>>) -> bool {
    let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return false };
    if sel.is_empty() {
        return false;
    }
    sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

pub fn publish_not_ready(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.publish_not_ready_addresses).unwrap_or(false)
}

/// Upstream `ShouldPodBeInEndpoints`.
pub fn should_be_in_endpoints(pod: &CachedPod, include_terminating: bool) -> bool {
    let Some(status) = pod.status.as_ref() else { return false };
    let has_ip = status.pod_ip.as_deref().is_some_and(|ip| !ip.is_empty()) || status.pod_ips.as_ref().is_some_and(|ips| !ips.is_empty());
    if !has_ip {
        return false;
    }
    if !include_terminating && pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let phase = status.phase.as_deref().unwrap_or("");
    match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
        Some("Never") => phase != "Failed" && phase != "Succeeded",
        Some("OnFailure") => phase != "Succeeded",
        _ => true,
    }
}

/// The pod's primary IP.
pub fn pod_ip(pod: &CachedPod) -> Option<String> {
    let status = pod.status.as_ref()?;
    status
        .pod_ip
        .clone()
        .filter(|ip| !ip.is_empty())
        .or_else(|| status.pod_ips.as_ref()?.first().map(|p| p.ip.clone()))
}

/// Upstream `podutil.FindPort`: the container port a Service port targets
/// on this pod. An int target port is used as is (the port itself when
/// unset); a name is looked up among the containers' ports with the same
/// protocol.
pub fn find_port(pod: &CachedPod, port: &ServicePort) -> Option<i32> {
    match &port.target_port {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => {
            if let Ok(n) = name.parse::<i32>() {
                return Some(n);
            }
            let protocol = port.protocol.as_deref().unwrap_or("TCP");
            pod.spec.as_ref()?.containers.iter().flat_map(|c| c.ports.iter().flatten()).find_map(|cp| {
                (cp.name.as_deref() == Some(name.as_str()) && cp.protocol.as_deref().unwrap_or("TCP") == protocol).then_some(cp.container_port)
            })
        }
    }
}

/// The hostname published for a pod (`spec.hostname` when the pod's
/// subdomain is the Service's name).
pub fn hostname(pod: &CachedPod, svc: &Service) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let host = spec.hostname.as_ref().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref() && svc.metadata.namespace == pod.metadata.namespace).then(|| host.clone())
}

pub fn pod_reference(pod: &CachedPod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// Labels the endpoints objects carry: the Service's, plus the headless
/// marker.
pub fn endpoints_labels(svc: &Service) -> BTreeMap<String, String> {
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    if is_headless(svc) {
        labels.insert(HEADLESS_LABEL.into(), String::new());
    } else {
        labels.remove(HEADLESS_LABEL);
    }
    labels
}

/// The desired `subsets` for a Service and its selected pods, repacked as
/// upstream's `RepackSubsets`: one subset per distinct port set, addresses
/// sorted by IP. Returns the subsets and whether addresses were truncated.
pub fn desired_subsets(svc: &Service, pods: &[Arc<CachedPod>]) -> (Vec<EndpointSubset>, bool) {
    let include_terminating = publish_not_ready(svc);
    let ports: Vec<ServicePort> = svc.spec.as_ref().and_then(|s| s.ports.clone()).unwrap_or_default();
    // port set -> (ready addresses, not ready addresses)
    type Addrs = (BTreeMap<String, EndpointAddress>, BTreeMap<String, EndpointAddress>);
    let mut groups: BTreeMap<Vec<(String, i32, String)>, Addrs> = BTreeMap::new();
    for pod in pods {
        if !should_be_in_endpoints(pod, include_terminating) {
            continue;
        }
        let Some(ip) = pod_ip(pod) else { continue };
        let address = EndpointAddress {
            ip: ip.clone(),
            hostname: hostname(pod, svc),
            node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            target_ref: Some(pod_reference(pod)),
        };
        let ready = include_terminating || crate::runtime::pod_util::is_ready(pod);
        let mut resolved: Vec<(String, i32, String)> = Vec::new();
        for p in &ports {
            if let Some(n) = find_port(pod, p) {
                resolved.push((p.name.clone().unwrap_or_default(), n, p.protocol.clone().unwrap_or_else(|| "TCP".into())));
            }
        }
        if resolved.is_empty() && !(ports.is_empty() && is_headless(svc)) {
            continue;
        }
        resolved.sort();
        let entry = groups.entry(resolved).or_default();
        if ready {
            entry.0.insert(ip, address);
        } else {
            entry.1.insert(ip, address);
        }
    }
    let mut truncated = false;
    let mut budget = MAX_ADDRESSES;
    let mut subsets = Vec::new();
    for (ports, (ready, not_ready)) in groups {
        let mut take = |m: BTreeMap<String, EndpointAddress>| -> Vec<EndpointAddress> {
            let n = m.len().min(budget);
            if n < m.len() {
                truncated = true;
            }
            budget -= n;
            m.into_values().take(n).collect()
        };
        let addresses = take(ready);
        let not_ready = take(not_ready);
        if addresses.is_empty() && not_ready.is_empty() {
            continue;
        }
        subsets.push(EndpointSubset {
            addresses: (!addresses.is_empty()).then_some(addresses),
            not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
            ports: (!ports.is_empty()).then(|| {
                ports
                    .into_iter()
                    .map(|(name, port, protocol)| EndpointPort {
                        name: (!name.is_empty()).then_some(name),
                        port,
                        protocol: Some(protocol),
                        app_protocol: None,
                    })
                    .collect()
            }),
        });
    }
    (subsets, truncated)
}

/// The Endpoints to write, or `None` when `current` is already right
/// (ignoring the trigger-time annotation, as upstream).
pub fn desired_endpoints(svc: &Service, pods: &[Arc<CachedPod>], current: Option<&Endpoints>, trigger: Timestamp) -> Option<Endpoints> {
    let (subsets, truncated) = desired_subsets(svc, pods);
    let labels = endpoints_labels(svc);
    let mut annotations = current.and_then(|c| c.metadata.annotations.clone()).unwrap_or_default();
    if truncated {
        annotations.insert(OVER_CAPACITY_ANNOTATION.into(), "truncated".into());
    } else {
        annotations.remove(OVER_CAPACITY_ANNOTATION);
    }
    if let Some(cur) = current {
        let same_subsets = cur.subsets.clone().unwrap_or_default() == subsets;
        let same_labels = cur.metadata.labels.clone().unwrap_or_default() == labels;
        let mut cur_ann = cur.metadata.annotations.clone().unwrap_or_default();
        cur_ann.remove(TRIGGER_TIME_ANNOTATION);
        let mut new_ann = annotations.clone();
        new_ann.remove(TRIGGER_TIME_ANNOTATION);
        if same_subsets && same_labels && cur_ann == new_ann {
            return None;
        }
    }
    annotations.insert(TRIGGER_TIME_ANNOTATION.into(), trigger.to_string());
    let mut out = current.cloned().unwrap_or_default();
    out.metadata.name = svc.metadata.name.clone();
    out.metadata.namespace = svc.metadata.namespace.clone();
    out.metadata.labels = Some(labels);
    out.metadata.annotations = Some(annotations);
    out.subsets = (!subsets.is_empty()).then_some(subsets);
    Some(out)
}

/// Services in `pod`'s namespace selecting it.
pub fn services_for_pod(services: &crate::runtime::Informer<Service>, pod: &CachedPod) -> Vec<ObjectKey> {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    services
        .list_namespace(&ns)
        .iter()
        .filter(|svc| selector_matches(svc, pod.metadata.labels.as_ref()))
        .map(|svc| ObjectKey::of(&**svc))
        .collect()
}

/// Enqueue the Services selecting a pod, before and after a change.
pub fn pod_handler(services: crate::runtime::Informer<Service>, queue: WorkQueue<ObjectKey>) -> impl Fn(&Change<CachedPod>) + Send + Sync + 'static {
    move |change| {
        let mut keys: BTreeSet<ObjectKey> = services_for_pod(&services, change.object()).into_iter().collect();
        if let Some(old) = change.old() {
            keys.extend(services_for_pod(&services, old));
        }
        for k in keys {
            queue.add(k);
        }
    }
}

struct State {
    client: kube::Client,
    services: crate::runtime::Informer<Service>,
    pods: crate::runtime::Informer<CachedPod>,
    endpoints: crate::runtime::Informer<Endpoints>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let api: Api<Endpoints> = Api::namespaced(state.client.clone(), &key.namespace);
    let svc = state.services.get(&key.namespace, &key.name);
    let Some(svc) = svc else {
        // Service gone: its Endpoints go too (unless they are manual ones
        // the apiserver's GC will handle; upstream deletes them as well).
        if state.endpoints.get(&key.namespace, &key.name).is_some() {
            match api.delete(&key.name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(err) if crate::runtime::owner::is_not_found(&err) => {}
                Err(err) => return Err(err).context("deleting endpoints of a deleted service"),
            }
        }
        return Ok(None);
    };
    if !selects_pods(&svc) {
        return Ok(None);
    }
    let pods: Vec<Arc<CachedPod>> = state
        .pods
        .list_namespace(&key.namespace)
        .into_iter()
        .filter(|p| selector_matches(&svc, p.metadata.labels.as_ref()))
        .collect();
    let current = state.endpoints.get(&key.namespace, &key.name);
    let Some(desired) = desired_endpoints(&svc, &pods, current.as_deref(), Timestamp::now()) else { return Ok(None) };
    let result = if current.is_some() {
        api.replace(&key.name, &PostParams::default(), &desired).await
    } else {
        let mut d = desired;
        d.metadata.resource_version = None;
        api.create(&PostParams::default(), &d).await
    };
    match result {
        Ok(_) => Ok(None),
        Err(err) if crate::runtime::owner::is_conflict(&err) => Err(err).context("endpoints changed concurrently"),
        Err(kube::Error::Api(e)) if e.code == 403 && e.message.contains("terminat") => Ok(None),
        Err(err) => Err(err).with_context(|| format!("writing endpoints {key}")),
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let services = ctx.informers.get::<Service>();
    let pods = ctx.informers.get::<CachedPod>();
    let endpoints = ctx.informers.get::<Endpoints>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = services.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g2 = pods.add_handler(pod_handler(services.clone(), queue.clone()));
    let _g3 = endpoints.add_handler({
        let q = queue.clone();
        move |c| {
            if matches!(c, Change::Deleted(_)) {
                q.add(ObjectKey::of(&**c.object()));
            }
        }
    });
    services.wait_synced().await?;
    pods.wait_synced().await?;
    endpoints.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), services, pods, endpoints });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::core::v1::{Container, ContainerPort, PodCondition, PodSpec, PodStatus, ServiceSpec};

    pub fn svc(selector: &[(&str, &str)], ports: Vec<ServicePort>) -> Service {
        Service {
            metadata: kube::api::ObjectMeta { name: Some("web".into()), namespace: Some("ns".into()), ..Default::default() },
            spec: Some(ServiceSpec {
                selector: Some(selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ports: Some(ports),
                cluster_ip: Some("10.0.0.1".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    pub fn port(name: &str, port: i32, target: Option<IntOrString>) -> ServicePort {
        ServicePort { name: Some(name.into()), port, target_port: target, protocol: Some("TCP".into()), ..Default::default() }
    }

    pub fn pod(name: &str, ip: &str, ready: bool, container_ports: &[(&str, i32)]) -> Arc<CachedPod> {
        Arc::new(CachedPod::from(Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                labels: Some(BTreeMap::from([("app".to_string(), "web".to_string())])),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                containers: vec![Container {
                    name: "c".into(),
                    ports: Some(
                        container_ports
                            .iter()
                            .map(|(n, p)| ContainerPort { name: Some(n.to_string()), container_port: *p, protocol: Some("TCP".into()), ..Default::default() })
                            .collect(),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus {
                phase: Some("Running".into()),
                pod_ip: (!ip.is_empty()).then(|| ip.to_string()),
                conditions: Some(vec![PodCondition { type_: "Ready".into(), status: if ready { "True" } else { "False" }.into(), ..Default::default() }]),
                ..Default::default()
            }),
        }))
    }

    fn ips(addrs: &Option<Vec<EndpointAddress>>) -> Vec<&str> {
        addrs.iter().flatten().map(|a| a.ip.as_str()).collect()
    }

    #[test]
    fn ready_and_not_ready_addresses() {
        let s = svc(&[("app", "web")], vec![port("http", 80, Some(IntOrString::Int(8080)))]);
        let pods = vec![pod("a", "10.1.0.2", true, &[]), pod("b", "10.1.0.1", false, &[]), pod("c", "", true, &[])];
        let (subsets, truncated) = desired_subsets(&s, &pods);
        assert!(!truncated);
        assert_eq!(subsets.len(), 1);
        assert_eq!(ips(&subsets[0].addresses), vec!["10.1.0.2"]);
        assert_eq!(ips(&subsets[0].not_ready_addresses), vec!["10.1.0.1"]);
        assert_eq!(subsets[0].ports.as_ref().map(|p| p[0].port), Some(8080));
        // publishNotReadyAddresses puts everything in addresses.
        let mut s2 = s.clone();
        if let Some(spec) = s2.spec.as_mut() {
            spec.publish_not_ready_addresses = Some(true);
        }
        let (subsets, _) = desired_subsets(&s2, &pods);
        assert_eq!(ips(&subsets[0].addresses), vec!["10.1.0.1", "10.1.0.2"]);
    }

    #[test]
    fn named_ports_resolve_per_pod() {
        let s = svc(&[("app", "web")], vec![port("http", 80, Some(IntOrString::String("web".into())))]);
        let pods = vec![pod("a", "10.1.0.1", true, &[("web", 8080)]), pod("b", "10.1.0.2", true, &[("web", 9090)]), pod("c", "10.1.0.3", true, &[("other", 1)])];
        let (subsets, _) = desired_subsets(&s, &pods);
        let got: Vec<(i32, Vec<&str>)> = subsets.iter().map(|ss| (ss.ports.as_ref().map(|p| p[0].port).unwrap_or(0), ips(&ss.addresses))).collect();
        assert_eq!(got, vec![(8080, vec!["10.1.0.1"]), (9090, vec!["10.1.0.2"])]);
    }

    #[test]
    fn inclusion_rules() {
        let mut terminating = (*pod("a", "10.1.0.1", true, &[])).clone();
        terminating.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH));
        assert!(!should_be_in_endpoints(&terminating, false));
        assert!(should_be_in_endpoints(&terminating, true));
        let mut done = (*pod("a", "10.1.0.1", true, &[])).clone();
        if let Some(s) = done.status.as_mut() {
            s.phase = Some("Succeeded".into());
        }
        assert!(should_be_in_endpoints(&done, false), "restartPolicy Always keeps it");
        if let Some(s) = done.spec.as_mut() {
            s.restart_policy = Some("OnFailure".into());
        }
        assert!(!should_be_in_endpoints(&done, false));
        assert!(!should_be_in_endpoints(&pod("a", "", true, &[]), false));
    }

    #[test]
    fn no_rewrite_when_unchanged() {
        let s = svc(&[("app", "web")], vec![port("http", 80, None)]);
        let pods = vec![pod("a", "10.1.0.1", true, &[])];
        let first = desired_endpoints(&s, &pods, None, Timestamp::UNIX_EPOCH);
        let Some(first) = first else { panic!("expected endpoints") };
        assert!(first.metadata.annotations.as_ref().is_some_and(|a| a.contains_key(TRIGGER_TIME_ANNOTATION)));
        assert!(desired_endpoints(&s, &pods, Some(&first), Timestamp::UNIX_EPOCH).is_none());
        assert!(desired_endpoints(&s, &[], Some(&first), Timestamp::UNIX_EPOCH).is_some());
        assert!(!selects_pods(&svc(&[], vec![])));
        let mut master = s.clone();
        master.metadata.namespace = Some("default".into());
        master.metadata.name = Some("kubernetes".into());
        assert!(!selects_pods(&master));
    }
}
