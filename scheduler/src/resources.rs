//! Resource arithmetic: a pod's effective requests as upstream's
//! `resourcehelper.PodRequests` (regular containers summed, init containers
//! taken as a maximum, restartable "sidecar" init containers added to both,
//! pod overhead on top) and the "non-zero" variant used for scoring
//! (a container without a cpu/memory request counts as 100m / 200Mi).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity;

/// Upstream `DefaultMilliCPURequest`.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream `DefaultMemoryRequest` (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

pub const CPU: &str = "cpu";
pub const MEMORY: &str = "memory";
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
pub const PODS: &str = "pods";

/// Upstream `framework.Resource`: cpu in millicores, the rest in units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    pub milli_cpu: i64,
    pub memory: i64,
    pub ephemeral_storage: i64,
    /// Only meaningful for allocatable: the `pods` capacity.
    pub allowed_pod_number: i64,
    /// Extended resources, hugepages, and anything else by name.
    pub scalar: BTreeMap<String, i64>,
}

impl Resource {
    /// From a `ResourceList` (`requests`, `allocatable`).
    pub fn from_list(list: Option<&BTreeMap<String, Quantity>>) -> Resource {
        let mut r = Resource::default();
        for (name, q) in list.into_iter().flatten() {
            r.set(name, q);
        }
        r
    }

    fn set(&mut self, name: &str, q: &Quantity) {
        match name {
            CPU => self.milli_cpu = quantity::milli_value(q),
            MEMORY => self.memory = quantity::value(q),
            EPHEMERAL_STORAGE => self.ephemeral_storage = quantity::value(q),
            PODS => self.allowed_pod_number = quantity::value(q),
            other => {
                self.scalar.insert(other.to_string(), quantity::value(q));
            }
        }
    }

    /// The amount of resource `name` (cpu in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            CPU => self.milli_cpu,
            MEMORY => self.memory,
            EPHEMERAL_STORAGE => self.ephemeral_storage,
            PODS => self.allowed_pod_number,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }

    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu += other.milli_cpu;
        self.memory += other.memory;
        self.ephemeral_storage += other.ephemeral_storage;
        self.allowed_pod_number += other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) += v;
        }
    }

    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu -= other.milli_cpu;
        self.memory -= other.memory;
        self.ephemeral_storage -= other.ephemeral_storage;
        self.allowed_pod_number -= other.allowed_pod_number;
        for (k, v) in &other.scalar {
            *self.scalar.entry(k.clone()).or_insert(0) -= v;
        }
    }

    /// Element-wise maximum.
    pub fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        self.allowed_pod_number = self.allowed_pod_number.max(other.allowed_pod_number);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_insert(0);
            *e = (*e).max(*v);
        }
    }

    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0 && self.memory == 0 && self.ephemeral_storage == 0 && self.scalar.values().all(|v| *v == 0)
    }
}

fn container_requests(c: &Container, non_zero: bool) -> Resource {
    let mut r = Resource::from_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()));
    if non_zero {
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref());
        if requests.is_none_or(|m| !m.contains_key(CPU)) {
            r.milli_cpu = DEFAULT_MILLI_CPU_REQUEST;
        }
        if requests.is_none_or(|m| !m.contains_key(MEMORY)) {
            r.memory = DEFAULT_MEMORY_REQUEST;
        }
    }
    r
}

fn is_restartable(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// Upstream `resourcehelper.PodRequests`; with `non_zero`, missing cpu/memory
/// requests of each container are replaced by the scheduler's defaults.
pub fn pod_requests(pod: &Pod, non_zero: bool) -> Resource {
    let Some(spec) = pod.spec.as_ref() else { return Resource::default() };
    let mut reqs = Resource::default();
    for c in &spec.containers {
        reqs.add(&container_requests(c, non_zero));
    }
    let mut sidecars = Resource::default();
    let mut init_max = Resource::default();
    for c in spec.init_containers.iter().flatten() {
        let own = container_requests(c, non_zero);
        let effective = if is_restartable(c) {
            reqs.add(&own);
            sidecars.add(&own);
            sidecars.clone()
        } else {
            let mut tmp = own;
            tmp.add(&sidecars);
            tmp
        };
        init_max.max_with(&effective);
    }
    reqs.max_with(&init_max);
    if let Some(overhead) = spec.overhead.as_ref() {
        reqs.add(&Resource::from_list(Some(overhead)));
    }
    reqs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn container(cpu: Option<&str>, mem: Option<&str>, restart_always: bool) -> Container {
        let mut requests = BTreeMap::new();
        if let Some(c) = cpu {
            requests.insert(CPU.to_string(), Quantity(c.into()));
        }
        if let Some(m) = mem {
            requests.insert(MEMORY.to_string(), Quantity(m.into()));
        }
        Container {
            name: "c".into(),
            resources: Some(ResourceRequirements { requests: Some(requests), ..Default::default() }),
            restart_policy: restart_always.then(|| "Always".to_string()),
            ..Default::default()
        }
    }

    fn pod(containers: Vec<Container>, init: Vec<Container>, overhead_cpu: Option<&str>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers,
                init_containers: Some(init),
                overhead: overhead_cpu.map(|c| BTreeMap::from([(CPU.to_string(), Quantity(c.into()))])),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn requests_table() {
        let cases: Vec<(&str, Pod, bool, i64, i64)> = vec![
            ("sum of regular", pod(vec![container(Some("100m"), Some("1Ki"), false), container(Some("200m"), None, false)], vec![], None), false, 300, 1024),
            ("init max wins", pod(vec![container(Some("100m"), None, false)], vec![container(Some("500m"), None, false)], None), false, 500, 0),
            ("regular sum wins", pod(vec![container(Some("600m"), None, false)], vec![container(Some("500m"), None, false)], None), false, 600, 0),
            (
                "sidecar adds to regular and later inits",
                pod(vec![container(Some("100m"), None, false)], vec![container(Some("200m"), None, true), container(Some("250m"), None, false)], None),
                false,
                450,
                0,
            ),
            ("overhead", pod(vec![container(Some("100m"), None, false)], vec![], Some("50m")), false, 150, 0),
            ("non-zero defaults", pod(vec![container(None, None, false)], vec![], None), true, 100, DEFAULT_MEMORY_REQUEST),
            ("zero without non-zero", pod(vec![container(None, None, false)], vec![], None), false, 0, 0),
        ];
        for (name, p, nz, cpu, mem) in cases {
            let r = pod_requests(&p, nz);
            assert_eq!((r.milli_cpu, r.memory), (cpu, mem), "{name}");
        }
    }
}
