//! Node IPAM (`node-ipam`): gives every node a `spec.podCIDR` carved out of
//! `--cluster-cidr` with `--node-cidr-mask-size` (upstream's
//! `RangeAllocator`, IPv4). Off when `--cluster-cidr` is empty. CIDRs
//! already on nodes are marked used first; a node without one gets the
//! lowest free subnet. Exhaustion is reported as a `CIDRNotAvailable` event.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::controllers::Ctx;
use crate::runtime::{run_workers, EventRecorder, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "node-ipam";

/// An IPv4 CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.trim().split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Some(Cidr { base: u32::from(ip) & mask, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

/// The first IPv4 CIDR of a (possibly dual-stack, comma-separated) list.
pub fn cluster_cidr(flag: &str) -> Option<Cidr> {
    flag.split(',').find_map(Cidr::parse)
}

/// Index of `sub` inside `cluster` at `mask`, if it is one of its subnets.
fn index_of(cluster: Cidr, mask: u8, sub: Cidr) -> Option<u64> {
    if sub.prefix != mask || mask < cluster.prefix {
        return None;
    }
    let cluster_mask = if cluster.prefix == 0 { 0 } else { u32::MAX << (32 - cluster.prefix) };
    if sub.base & cluster_mask != cluster.base {
        return None;
    }
    Some(u64::from((sub.base - cluster.base) >> (32 - u32::from(mask))))
}

/// The lowest free subnet, given the CIDRs in use.
pub fn allocate(cluster: Cidr, mask: u8, used: &[String]) -> Option<Cidr> {
    if mask < cluster.prefix || mask > 32 {
        return None;
    }
    let taken: BTreeSet<u64> = used.iter().filter_map(|c| Cidr::parse(c)).filter_map(|c| index_of(cluster, mask, c)).collect();
    let count: u64 = 1u64 << (mask - cluster.prefix);
    let free = (0..count).find(|i| !taken.contains(i))?;
    let size_shift = 32 - u32::from(mask);
    let base = cluster.base.checked_add(u32::try_from(free).ok()?.checked_shl(size_shift).unwrap_or(0))?;
    Some(Cidr { base, prefix: mask })
}

struct State {
    client: kube::Client,
    cluster: Cidr,
    mask: u8,
    nodes: crate::runtime::Informer<Node>,
    recorder: EventRecorder,
    /// Serialises allocations (the cache lags our own writes).
    allocated: tokio::sync::Mutex<Vec<String>>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(node) = state.nodes.get("", &key.name) else { return Ok(None) };
    if node.spec.as_ref().and_then(|s| s.pod_cidr.as_ref()).is_some_and(|c| !c.is_empty()) {
        return Ok(None);
    }
    let mut allocated = state.allocated.lock().await;
    let mut used: Vec<String> = state.nodes.list().iter().filter_map(|n| n.spec.as_ref()?.pod_cidr.clone()).collect();
    used.extend(allocated.iter().cloned());
    let Some(cidr) = allocate(state.cluster, state.mask, &used) else {
        state.recorder.warning(&*node, "CIDRNotAvailable", format!("Node {} status is now: CIDRNotAvailable", key.name));
        return Ok(Some(std::time::Duration::from_secs(30)));
    };
    let api: Api<Node> = Api::all(state.client.clone());
    let patch = json!({"spec": {"podCIDR": cidr.to_string(), "podCIDRs": [cidr.to_string()]}});
    api.patch(&key.name, &PatchParams::default(), &Patch::Merge(&patch)).await.with_context(|| format!("setting podCIDR on node {}", key.name))?;
    tracing::info!(node = %key.name, cidr = %cidr, "allocated pod CIDR");
    allocated.push(cidr.to_string());
    Ok(None)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let Some(cluster) = cluster_cidr(&ctx.settings.cluster_cidr) else {
        if !ctx.settings.cluster_cidr.is_empty() {
            anyhow::bail!("--cluster-cidr {:?} has no IPv4 CIDR", ctx.settings.cluster_cidr);
        }
        tracing::info!("node-ipam: no --cluster-cidr; not allocating pod CIDRs");
        futures::future::pending::<()>().await;
        return Ok(());
    };
    let nodes = ctx.informers.get::<Node>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g = nodes.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    nodes.wait_synced().await?;
    let state = Arc::new(State {
        client: ctx.client.clone(),
        cluster,
        mask: ctx.settings.node_cidr_mask_size,
        nodes,
        recorder: EventRecorder::new(ctx.client.clone(), "node-ipam-controller"),
        allocated: tokio::sync::Mutex::new(Vec::new()),
    });
    // One worker: allocations must not race.
    run_workers(NAME, queue, 1, move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_table() {
        let cluster = cluster_cidr("10.244.0.0/16,fd00::/48").unwrap_or(Cidr { base: 0, prefix: 0 });
        assert_eq!(cluster.to_string(), "10.244.0.0/16");
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(allocate(cluster, 24, &[]).map(|c| c.to_string()), Some("10.244.0.0/24".into()));
        assert_eq!(allocate(cluster, 24, &s(&["10.244.0.0/24", "10.244.2.0/24"])).map(|c| c.to_string()), Some("10.244.1.0/24".into()));
        assert_eq!(allocate(cluster, 24, &s(&["192.168.0.0/24"])).map(|c| c.to_string()), Some("10.244.0.0/24".into()));
        let tiny = Cidr::parse("10.0.0.0/31").unwrap_or(Cidr { base: 0, prefix: 0 });
        assert_eq!(allocate(tiny, 32, &s(&["10.0.0.0/32", "10.0.0.1/32"])), None);
        assert_eq!(allocate(cluster, 8, &[]), None, "mask smaller than the cluster prefix");
    }
}
