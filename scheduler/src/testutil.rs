//! Builders for unit tests: `pod("p").cpu("1").node("n1").build()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerImage, ContainerPort, Node, NodeSpec, NodeStatus, Pod, PodSpec, PodStatus, ResourceRequirements, Taint, Toleration,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::cache::NodeInfo;
use crate::podinfo::PodInfo;

pub struct PodBuilder(pub Pod);

pub fn pod(name: &str) -> PodBuilder {
    PodBuilder(Pod {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), uid: Some(format!("uid-{name}")), ..Default::default() },
        spec: Some(PodSpec { containers: vec![Container { name: "c".into(), image: Some("pause".into()), ..Default::default() }], ..Default::default() }),
        status: Some(PodStatus::default()),
    })
}

impl PodBuilder {
    fn spec(&mut self) -> &mut PodSpec {
        self.0.spec.as_mut().unwrap()
    }
    fn request(mut self, res: &str, q: &str) -> Self {
        let c = &mut self.spec().containers[0];
        c.resources
            .get_or_insert_with(ResourceRequirements::default)
            .requests
            .get_or_insert_with(BTreeMap::new)
            .insert(res.into(), Quantity(q.into()));
        self
    }
    pub fn cpu(self, q: &str) -> Self {
        self.request("cpu", q)
    }
    pub fn mem(self, q: &str) -> Self {
        self.request("memory", q)
    }
    pub fn node(mut self, n: &str) -> Self {
        self.spec().node_name = Some(n.into());
        self
    }
    pub fn priority(mut self, p: i32) -> Self {
        self.spec().priority = Some(p);
        self
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0.metadata.labels.get_or_insert_with(BTreeMap::new).insert(k.into(), v.into());
        self
    }
    pub fn node_selector(mut self, k: &str, v: &str) -> Self {
        self.spec().node_selector.get_or_insert_with(BTreeMap::new).insert(k.into(), v.into());
        self
    }
    pub fn toleration(mut self, t: Toleration) -> Self {
        self.spec().tolerations.get_or_insert_with(Vec::new).push(t);
        self
    }
    pub fn host_port(mut self, port: i32) -> Self {
        self.spec().containers[0].ports.get_or_insert_with(Vec::new).push(ContainerPort {
            container_port: port,
            host_port: Some(port),
            ..Default::default()
        });
        self
    }
    pub fn image(mut self, image: &str) -> Self {
        self.spec().containers[0].image = Some(image.into());
        self
    }
    pub fn affinity(mut self, a: Affinity) -> Self {
        self.spec().affinity = Some(a);
        self
    }
    pub fn with(mut self, f: impl FnOnce(&mut Pod)) -> Self {
        f(&mut self.0);
        self
    }
    pub fn build(self) -> Pod {
        self.0
    }
    pub fn info(self) -> PodInfo {
        PodInfo::new(Arc::new(self.0))
    }
}

pub struct NodeBuilder(pub Node);

pub fn node(name: &str) -> NodeBuilder {
    let mut alloc = BTreeMap::new();
    alloc.insert("pods".to_string(), Quantity("110".into()));
    NodeBuilder(Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([("kubernetes.io/hostname".to_string(), name.to_string())])),
            ..Default::default()
        },
        spec: Some(NodeSpec::default()),
        status: Some(NodeStatus { allocatable: Some(alloc), ..Default::default() }),
    })
}

impl NodeBuilder {
    fn alloc(mut self, res: &str, q: &str) -> Self {
        self.0.status.as_mut().unwrap().allocatable.as_mut().unwrap().insert(res.into(), Quantity(q.into()));
        self
    }
    pub fn cpu(self, q: &str) -> Self {
        self.alloc("cpu", q)
    }
    pub fn mem(self, q: &str) -> Self {
        self.alloc("memory", q)
    }
    pub fn pods(self, q: &str) -> Self {
        self.alloc("pods", q)
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.0.metadata.labels.get_or_insert_with(BTreeMap::new).insert(k.into(), v.into());
        self
    }
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> Self {
        self.0.spec.as_mut().unwrap().taints.get_or_insert_with(Vec::new).push(Taint {
            key: key.into(),
            value: (!value.is_empty()).then(|| value.into()),
            effect: effect.into(),
            time_added: None,
        });
        self
    }
    pub fn unschedulable(mut self) -> Self {
        self.0.spec.as_mut().unwrap().unschedulable = Some(true);
        self
    }
    pub fn image(mut self, name: &str, size: i64) -> Self {
        self.0.status.as_mut().unwrap().images.get_or_insert_with(Vec::new).push(ContainerImage { names: Some(vec![name.into()]), size_bytes: Some(size) });
        self
    }
    pub fn build(self) -> Node {
        self.0
    }
    pub fn info(self) -> NodeInfo {
        NodeInfo::new(Arc::new(self.0))
    }
}

/// A NodeInfo with these pods on it.
pub fn node_with(n: NodeBuilder, pods: Vec<Pod>) -> NodeInfo {
    let mut info = n.info();
    for p in pods {
        info.add_pod(PodInfo::new(Arc::new(p)).record);
    }
    info
}

/// A deterministic xorshift generator for randomized tests: each call
/// returns a number below `n`.
pub fn rng(seed: u64) -> impl FnMut(u64) -> usize {
    let mut x = seed;
    move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n) as usize
    }
}
