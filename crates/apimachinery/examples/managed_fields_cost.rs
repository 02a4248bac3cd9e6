//! CPU cost of managedFields tracking for one write, the part of a create
//! or update the API server spends in `managed::update_in_place`.
//!
//! `cargo run --release -p apimachinery --example managed_fields_cost`
//! prints the median over 7 rounds of the time per call for a create (no
//! previous object) and an update (one label changed) of a Pod as a
//! Deployment creates it.

use std::time::Instant;

use apimachinery::managed::{update_in_place, Manager};
use apimachinery::patch::k8s_meta::for_type;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

const CALLS: usize = 20_000;

fn pod() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "web-7d4b9c-x2x9z", "generateName": "web-7d4b9c-", "namespace": "bench",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                "uid": "3f1c2a8e-0000-4000-8000-000000000001", "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "containers": [{
                "name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"
            }],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "securityContext": {}, "schedulerName": "default-scheduler", "enableServiceLinks": true,
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0, "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"}
    })
}

fn median_micros(mut round: impl FnMut() -> f64) -> f64 {
    let mut samples: Vec<f64> = (0..7).map(|_| round()).collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let meta = for_type::<Pod>();
    let manager = Manager::new("kube-controller-manager", "v1", "2026-11-22T00:00:00Z");
    let template = pod();
    let create = median_micros(|| {
        let start = Instant::now();
        for _ in 0..CALLS {
            let mut new = template.clone();
            update_in_place(None, &mut new, &manager, &meta);
            std::hint::black_box(&new);
        }
        start.elapsed().as_secs_f64() * 1e6 / CALLS as f64
    });
    let clone_only = median_micros(|| {
        let start = Instant::now();
        for _ in 0..CALLS {
            std::hint::black_box(template.clone());
        }
        start.elapsed().as_secs_f64() * 1e6 / CALLS as f64
    });
    let mut old = template.clone();
    update_in_place(None, &mut old, &manager, &meta);
    let mut edited = old.clone();
    edited["metadata"]["labels"]["tier"] = json!("front");
    let update = median_micros(|| {
        let start = Instant::now();
        for _ in 0..CALLS {
            let mut new = edited.clone();
            update_in_place(Some(&old), &mut new, &manager, &meta);
            std::hint::black_box(&new);
        }
        start.elapsed().as_secs_f64() * 1e6 / CALLS as f64
    });
    println!("managed fields, Pod create: {:.2} µs per call (incl. {clone_only:.2} µs copying the input)", create);
    println!("managed fields, Pod update (one label): {:.2} µs per call", update);
}
