#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use k8s_openapi::api::apps::v1::DaemonSetSpec;
use k8s_openapi::api::core::v1::{NodeSpec, PodTemplateSpec};
use serde_json::json;

fn node(name: &str, labels: &[(&str, &str)], taints: &[(&str, &str)]) -> Node {
    Node {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            ..Default::default()
        },
        spec: Some(NodeSpec {
            taints: Some(taints.iter().map(|(k, e)| Taint { key: k.to_string(), effect: e.to_string(), ..Default::default() }).collect()),
            ..Default::default()
        }),
        status: None,
    }
}

fn ds(spec: serde_json::Value) -> DaemonSet {
    DaemonSet {
        spec: Some(DaemonSetSpec { template: serde_json::from_value::<PodTemplateSpec>(json!({"spec": spec})).unwrap(), ..Default::default() }),
        ..Default::default()
    }
}

#[test]
fn should_run_table() {
    let plain = ds(json!({"containers": []}));
    let selective = ds(json!({"containers": [], "nodeSelector": {"role": "edge"}}));
    let affinity = ds(json!({"containers": [], "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]}]}]}}}}));
    let tolerant = ds(json!({"containers": [], "tolerations": [{"key": "dedicated", "operator": "Exists"}]}));
    let pinned = ds(json!({"containers": [], "nodeName": "other"}));
    let cases = [
        (&plain, node("n", &[], &[]), (true, true)),
        (&plain, node("n", &[], &[("dedicated", "NoSchedule")]), (false, true)),
        (&plain, node("n", &[], &[("dedicated", "NoExecute")]), (false, false)),
        // automatic tolerations
        (&plain, node("n", &[], &[("node.kubernetes.io/not-ready", "NoExecute")]), (true, true)),
        (&plain, node("n", &[], &[("node.kubernetes.io/unschedulable", "NoSchedule")]), (true, true)),
        (&plain, node("n", &[], &[("node.kubernetes.io/network-unavailable", "NoSchedule")]), (false, true)),
        (&selective, node("n", &[("role", "edge")], &[]), (true, true)),
        (&selective, node("n", &[("role", "core")], &[]), (false, false)),
        (&affinity, node("n", &[("zone", "b")], &[]), (true, true)),
        (&affinity, node("n", &[("zone", "c")], &[]), (false, false)),
        (&tolerant, node("n", &[], &[("dedicated", "NoExecute")]), (true, true)),
        (&pinned, node("n", &[], &[]), (false, false)),
    ];
    for (i, (ds, node, want)) in cases.iter().enumerate() {
        assert_eq!(should_run(ds, node), *want, "case {i}");
    }
    let host_net = ds(json!({"containers": [], "hostNetwork": true}));
    assert_eq!(should_run(&host_net, &node("n", &[], &[("node.kubernetes.io/network-unavailable", "NoSchedule")])), (true, true));
}

#[test]
fn pinning_and_target_node() {
    let a = pin_to_node(None, "n1");
    let spec = PodSpec { affinity: Some(a), ..Default::default() };
    let cached = |s: &PodSpec| crate::runtime::cached_pod::PodSpec::from(s.clone());
    assert_eq!(target_node(Some(&cached(&spec))).as_deref(), Some("n1"));
    let mut spec2 = spec.clone();
    spec2.affinity = Some(pin_to_node(spec2.affinity.take(), "n2"));
    assert_eq!(target_node(Some(&cached(&spec2))).as_deref(), Some("n2"));
    let bound = PodSpec { node_name: Some("n3".into()), ..Default::default() };
    assert_eq!(target_node(Some(&cached(&bound))).as_deref(), Some("n3"));
    let mut s = PodSpec::default();
    add_daemon_tolerations(&mut s);
    add_daemon_tolerations(&mut s);
    assert_eq!(s.tolerations.unwrap().len(), 6);
}
