//! The EndpointSlice mirroring controller (`endpointslice-mirroring`):
//! Services without a selector whose Endpoints are written by hand get
//! mirrored EndpointSlices, managed by
//! `endpointslicemirroring-controller.k8s.io`.
//!
//! Upstream (`pkg/controller/endpointslicemirroring`): skips Endpoints
//! labelled `endpointslice.kubernetes.io/skip-mirror: "true"` and Services
//! with a selector; each subset's addresses become endpoints (`ready` for
//! `addresses`, not ready for `notReadyAddresses`) grouped by the subset's
//! ports; at most 1000 addresses are mirrored; labels are the Endpoints'
//! plus `kubernetes.io/service-name` and the manager label.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{EndpointAddress, Endpoints, Service};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::jiff::Timestamp;

use super::endpointslice::{self, address_type, EndpointPortKey, GroupKey, SliceMeta, SlicePlan};
use crate::controllers::Ctx;
use crate::runtime::{run_workers, Change, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "endpointslice-mirroring";
pub const MANAGED_BY: &str = "endpointslicemirroring-controller.k8s.io";
pub const SKIP_MIRROR_LABEL: &str = "endpointslice.kubernetes.io/skip-mirror";
pub const MAX_MIRRORED: usize = 1000;

/// Whether these Endpoints of this Service are mirrored.
pub fn should_mirror(svc: &Service, ep: &Endpoints) -> bool {
    let no_selector = svc.spec.as_ref().and_then(|s| s.selector.as_ref()).is_none_or(|s| s.is_empty());
    let is_master = svc.metadata.namespace.as_deref() == Some("default") && svc.metadata.name.as_deref() == Some("kubernetes");
    let skip = ep.metadata.labels.as_ref().and_then(|l| l.get(SKIP_MIRROR_LABEL)).map(String::as_str) == Some("true");
    no_selector && !is_master && !skip
}

fn endpoint(addr: &EndpointAddress, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![addr.ip.clone()],
        conditions: Some(EndpointConditions { ready: Some(ready), serving: Some(ready), terminating: Some(false) }),
        hostname: addr.hostname.clone(),
        node_name: addr.node_name.clone(),
        target_ref: addr.target_ref.clone(),
        ..Default::default()
    }
}

/// Desired endpoints by group from the Endpoints' subsets.
pub fn desired_groups(ep: &Endpoints) -> BTreeMap<GroupKey, Vec<Endpoint>> {
    let mut groups: BTreeMap<GroupKey, Vec<Endpoint>> = BTreeMap::new();
    let mut budget = MAX_MIRRORED;
    for subset in ep.subsets.iter().flatten() {
        let ports: Vec<EndpointPortKey> = subset
            .ports
            .iter()
            .flatten()
            .map(|p| EndpointPortKey {
                name: p.name.clone().unwrap_or_default(),
                port: p.port,
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let all = subset.addresses.iter().flatten().map(|a| (a, true)).chain(subset.not_ready_addresses.iter().flatten().map(|a| (a, false)));
        for (addr, ready) in all {
            if budget == 0 {
                break;
            }
            budget -= 1;
            groups.entry((address_type(&addr.ip).to_string(), ports.clone())).or_default().push(endpoint(addr, ready));
        }
    }
    for eps in groups.values_mut() {
        eps.sort_by(|a, b| a.addresses.cmp(&b.addresses));
        eps.dedup_by(|a, b| a.addresses == b.addresses);
    }
    groups
}

pub fn mirrored_labels(ep: &Endpoints, service: &str) -> BTreeMap<String, String> {
    let mut labels = ep.metadata.labels.clone().unwrap_or_default();
    labels.insert(endpointslice::SERVICE_NAME_LABEL.into(), service.into());
    labels.insert(endpointslice::MANAGED_BY_LABEL.into(), MANAGED_BY.into());
    labels
}

struct State {
    client: kube::Client,
    services: crate::runtime::Informer<Service>,
    endpoints: crate::runtime::Informer<Endpoints>,
    slices: crate::runtime::Informer<EndpointSlice>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let existing = endpointslice::owned_slices(&state.slices, &key.namespace, &key.name, MANAGED_BY);
    let svc = state.services.get(&key.namespace, &key.name);
    let ep = state.endpoints.get(&key.namespace, &key.name);
    let (Some(svc), Some(ep)) = (svc, ep) else {
        let plan = SlicePlan { delete: existing.iter().filter_map(|s| s.metadata.name.clone()).collect(), ..Default::default() };
        endpointslice::apply_plan(&state.client, &key.namespace, plan).await?;
        return Ok(None);
    };
    if !should_mirror(&svc, &ep) {
        let plan = SlicePlan { delete: existing.iter().filter_map(|s| s.metadata.name.clone()).collect(), ..Default::default() };
        endpointslice::apply_plan(&state.client, &key.namespace, plan).await?;
        return Ok(None);
    }
    let meta = SliceMeta {
        namespace: key.namespace.clone(),
        service_name: key.name.clone(),
        labels: mirrored_labels(&ep, &key.name),
        owner: Some(crate::runtime::owner::controller_ref(&*svc)),
        managed_by: MANAGED_BY.into(),
    };
    let groups = desired_groups(&ep);
    let mut plan = endpointslice::plan_slices(&meta, groups.clone(), &existing, &endpointslice::service_address_type(&svc), endpointslice::MAX_ENDPOINTS_PER_SLICE, Timestamp::now());
    if groups.is_empty() {
        // Mirroring keeps no placeholder: empty Endpoints mirror to nothing.
        plan.create.clear();
        plan.update.clear();
        plan.delete = existing.iter().filter_map(|s| s.metadata.name.clone()).collect();
    }
    if !plan.is_empty() {
        endpointslice::apply_plan(&state.client, &key.namespace, plan).await?;
    }
    Ok(None)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let services = ctx.informers.get::<Service>();
    let endpoints = ctx.informers.get::<Endpoints>();
    let slices = ctx.informers.get::<EndpointSlice>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = services.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g2 = endpoints.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g3 = slices.add_handler({
        let q = queue.clone();
        move |c: &Change<EndpointSlice>| {
            let s = c.object();
            let labels = s.metadata.labels.as_ref();
            if labels.and_then(|l| l.get(endpointslice::MANAGED_BY_LABEL)).map(String::as_str) == Some(MANAGED_BY) {
                if let Some(svc) = labels.and_then(|l| l.get(endpointslice::SERVICE_NAME_LABEL)) {
                    q.add(ObjectKey::new(s.metadata.namespace.clone().unwrap_or_default(), svc.clone()));
                }
            }
        }
    });
    services.wait_synced().await?;
    endpoints.wait_synced().await?;
    slices.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), services, endpoints, slices });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EndpointPort, EndpointSubset, ServiceSpec};

    fn addr(ip: &str) -> EndpointAddress {
        EndpointAddress { ip: ip.into(), ..Default::default() }
    }

    #[test]
    fn mirrors_subsets_by_ports() {
        let ep = Endpoints {
            metadata: kube::api::ObjectMeta { name: Some("ext".into()), ..Default::default() },
            subsets: Some(vec![
                EndpointSubset {
                    addresses: Some(vec![addr("10.0.0.2"), addr("10.0.0.1")]),
                    not_ready_addresses: Some(vec![addr("10.0.0.3")]),
                    ports: Some(vec![EndpointPort { name: Some("http".into()), port: 80, protocol: Some("TCP".into()), app_protocol: None }]),
                },
                EndpointSubset { addresses: Some(vec![addr("fd00::1")]), not_ready_addresses: None, ports: None },
            ]),
        };
        let groups = desired_groups(&ep);
        assert_eq!(groups.len(), 2);
        let v4 = groups.iter().find(|((t, _), _)| t == "IPv4").map(|(_, e)| e.clone()).unwrap_or_default();
        let got: Vec<(String, bool)> = v4.iter().map(|e| (e.addresses[0].clone(), e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))).collect();
        assert_eq!(got, vec![("10.0.0.1".into(), true), ("10.0.0.2".into(), true), ("10.0.0.3".into(), false)]);
        assert_eq!(mirrored_labels(&ep, "ext").get(endpointslice::MANAGED_BY_LABEL).map(String::as_str), Some(MANAGED_BY));
    }

    #[test]
    fn mirror_rules() {
        let svc = |selector: bool| Service {
            metadata: kube::api::ObjectMeta { name: Some("ext".into()), namespace: Some("ns".into()), ..Default::default() },
            spec: Some(ServiceSpec { selector: selector.then(|| BTreeMap::from([("a".to_string(), "b".to_string())])), ..Default::default() }),
            status: None,
        };
        let mut ep = Endpoints::default();
        assert!(should_mirror(&svc(false), &ep));
        assert!(!should_mirror(&svc(true), &ep));
        ep.metadata.labels = Some(BTreeMap::from([(SKIP_MIRROR_LABEL.to_string(), "true".to_string())]));
        assert!(!should_mirror(&svc(false), &ep));
    }
}
