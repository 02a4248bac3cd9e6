#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Scheduling-cycle cost over a 5,000-node snapshot (no API server):
//! `cargo test --release -p scheduler --test throughput -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Container, Node, NodeStatus, Pod, PodSpec, ResourceRequirements, TopologySpreadConstraint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ObjectMeta;
use scheduler::algorithm::{schedule_pod, SearchState};
use scheduler::cache::{Cache, Snapshot};
use scheduler::config::Profile;
use scheduler::framework::{CycleState, Framework};
use scheduler::listers::Listers;
use scheduler::plugins::in_tree_registry;
use scheduler::podinfo::PodInfo;

fn node(i: usize) -> Node {
    let alloc: BTreeMap<String, Quantity> =
        [("cpu", "32"), ("memory", "128Gi"), ("pods", "110")].iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect();
    Node {
        metadata: ObjectMeta {
            name: Some(format!("node-{i}")),
            labels: Some([("kubernetes.io/hostname".to_string(), format!("node-{i}")), ("topology.kubernetes.io/zone".to_string(), format!("z{}", i % 3))].into()),
            ..Default::default()
        },
        spec: None,
        status: Some(NodeStatus { allocatable: Some(alloc), ..Default::default() }),
    }
}

fn pod(i: usize) -> Pod {
    Pod {
        metadata: ObjectMeta { name: Some(format!("p-{i}")), namespace: Some("default".into()), labels: Some([("app".to_string(), "bench".to_string())].into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container {
                name: "c".into(),
                image: Some("pause".into()),
                resources: Some(ResourceRequirements { requests: Some([("cpu".to_string(), Quantity("100m".into()))].into()), ..Default::default() }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    }
}

#[test]
#[ignore = "benchmark"]
fn cycles_per_second_with_5000_nodes() {
    let only = std::env::var("ONLY").ok();
    for (name, yaml) in [
        ("default", "profiles:\n- schedulerName: default-scheduler\n"),
        ("no score", "profiles:\n- plugins:\n    score:\n      disabled:\n      - name: '*'\n"),
        ("fit only", "profiles:\n- plugins:\n    multiPoint:\n      disabled:\n      - name: '*'\n      enabled:\n      - name: NodeResourcesFit\n      - name: DefaultBinder\n"),
    ] {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let config = scheduler::config::Config::parse(yaml).unwrap();
        run(name, &config.profiles[0]);
    }
}

/// Upstream scheduler_perf `TopologySpreading`: two DoNotSchedule
/// constraints of maxSkew 5 by hostname and by zone.
fn spread_pod(i: usize) -> Pod {
    let mut p = pod(i);
    let c = |key: &str| TopologySpreadConstraint {
        max_skew: 5,
        topology_key: key.into(),
        when_unsatisfiable: "DoNotSchedule".into(),
        label_selector: Some(LabelSelector { match_labels: Some([("app".to_string(), "bench".to_string())].into()), ..Default::default() }),
        ..Default::default()
    };
    p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![c("kubernetes.io/hostname"), c("topology.kubernetes.io/zone")]);
    p
}

#[test]
#[ignore = "benchmark"]
fn spread_cycles_per_second_with_5000_nodes() {
    let config = scheduler::config::Config::parse("profiles:\n- schedulerName: default-scheduler\n").unwrap();
    run_with("spread", &config.profiles[0], spread_pod);
}

fn run(name: &str, profile: &Profile) {
    run_with(name, profile, pod)
}

fn run_with(name: &str, profile: &Profile, pod: fn(usize) -> Pod) {
    let fwk = Framework::new(profile, &in_tree_registry(), None).unwrap();
    let mut cache = Cache::new();
    for i in 0..5000 {
        cache.add_or_update_node(node(i));
    }
    let mut snap = Snapshot::new(Listers::default());
    let mut search = SearchState::new(42);
    let n = 2000;
    let start = Instant::now();
    for i in 0..n {
        cache.update_snapshot(&mut snap);
        let p = Arc::new(pod(i));
        let info = PodInfo::new(p.clone());
        let r = schedule_pod(&fwk, &mut CycleState::new(), &info, &snap, &mut search, None).unwrap();
        let mut assumed = (*p).clone();
        assumed.spec.as_mut().unwrap().node_name = Some(r.suggested_host.clone());
        cache.assume_pod(Arc::new(assumed), &r.suggested_host);
    }
    let elapsed = start.elapsed();
    println!("{name}: {n} pods over 5000 nodes in {elapsed:?}: {:.0} pods/s", n as f64 / elapsed.as_secs_f64());
}
