//! Scheduling-failure diagnosis and the messages users see (pure), as
//! upstream's `framework.Diagnosis` and `FitError.Error()`:
//!
//! `0/3 nodes are available: 1 node(s) had untolerated taint {k: v}, 2 Insufficient cpu. preemption: ...`
//!
//! Every node's rejection reasons are counted, rendered `"<count> <reason>"`,
//! sorted as strings and joined by ", "; nodes never evaluated count with the
//! "absent" status. A PreFilter rejection replaces the per-node histogram; a
//! PostFilter (preemption) message is appended.

use std::collections::{BTreeSet, HashMap};

use crate::framework::NodeStatuses;

/// Upstream `ErrNoNodesAvailable`.
pub const NO_NODES_AVAILABLE: &str = "no nodes available to schedule pods";

/// Why a pod did not fit.
#[derive(Debug, Clone, Default)]
pub struct Diagnosis {
    pub statuses: NodeStatuses,
    /// Plugins that rejected the pod (the queue moves the pod back on
    /// events those plugins care about).
    pub unschedulable_plugins: BTreeSet<String>,
    pub pre_filter_msg: String,
    pub post_filter_msg: String,
}

#[derive(Debug, Clone, Default)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
}

impl FitError {
    /// Upstream `FitError.Error()`.
    pub fn message(&self) -> String {
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        let d = &self.diagnosis;
        if !d.pre_filter_msg.is_empty() {
            msg.push_str(&format!(" {}.", d.pre_filter_msg));
        } else {
            let mut counts: HashMap<&str, usize> = HashMap::new();
            for status in d.statuses.map.values() {
                for r in &status.reasons {
                    *counts.entry(r.as_str()).or_insert(0) += 1;
                }
            }
            if d.statuses.map.len() < self.num_all_nodes {
                let absent = self.num_all_nodes - d.statuses.map.len();
                for r in &d.statuses.absent.reasons {
                    *counts.entry(r.as_str()).or_insert(0) += absent;
                }
            }
            let mut parts: Vec<String> = counts.into_iter().map(|(r, c)| format!("{c} {r}")).collect();
            parts.sort();
            if !parts.is_empty() {
                msg.push_str(&format!(" {}.", parts.join(", ")));
            }
        }
        if !d.post_filter_msg.is_empty() {
            msg.push_str(&format!(" {}", d.post_filter_msg));
            if !d.post_filter_msg.ends_with('.') {
                msg.push('.');
            }
        }
        msg
    }
}

/// Upstream truncates event notes to 1024 bytes (`truncateMessage`).
pub fn truncate_message(msg: &str) -> String {
    const LIMIT: usize = 1024;
    if msg.len() <= LIMIT {
        return msg.to_string();
    }
    let mut end = LIMIT - 3;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &msg[..end])
}

/// The "Scheduled" event's note.
pub fn scheduled_message(namespace: &str, name: &str, node: &str) -> String {
    format!("Successfully assigned {namespace}/{name} to {node}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::{Code, Status};

    fn statuses(list: &[(&str, Status)]) -> NodeStatuses {
        NodeStatuses { map: list.iter().map(|(n, s)| (n.to_string(), s.clone())).collect(), ..Default::default() }
    }

    #[test]
    fn fit_error_messages() {
        let taint = Status::unresolvable("node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
        let cpu = Status::unschedulable("Insufficient cpu");
        let cpu_mem = Status::with_reasons(Code::Unschedulable, vec!["Insufficient cpu".into(), "Insufficient memory".into()]);
        let cases: Vec<(&str, FitError, &str)> = vec![
            (
                "issue example",
                FitError {
                    num_all_nodes: 3,
                    diagnosis: Diagnosis {
                        statuses: statuses(&[("cp", taint.clone()), ("w1", cpu.clone()), ("w2", cpu.clone())]),
                        post_filter_msg: "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.".into(),
                        ..Default::default()
                    },
                },
                "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
            ),
            (
                "several reasons per node, sorted as strings",
                FitError { num_all_nodes: 2, diagnosis: Diagnosis { statuses: statuses(&[("a", cpu_mem), ("b", cpu)]), ..Default::default() } },
                "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
            ),
            (
                "prefilter message replaces the histogram",
                FitError {
                    num_all_nodes: 5,
                    diagnosis: Diagnosis { pre_filter_msg: "node(s) didn't match pod topology spread constraints".into(), ..Default::default() },
                },
                "0/5 nodes are available: node(s) didn't match pod topology spread constraints.",
            ),
            (
                "absent nodes",
                FitError {
                    num_all_nodes: 4,
                    diagnosis: Diagnosis {
                        statuses: NodeStatuses {
                            map: [("a".to_string(), taint)].into_iter().collect(),
                            absent: Status::unresolvable("Preemption is not helpful for scheduling"),
                        },
                        ..Default::default()
                    },
                },
                "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Preemption is not helpful for scheduling.",
            ),
            ("no reasons", FitError { num_all_nodes: 0, diagnosis: Diagnosis::default() }, "0/0 nodes are available:"),
        ];
        for (name, err, want) in cases {
            assert_eq!(err.message(), want, "{name}");
        }
    }

    #[test]
    fn truncates() {
        assert_eq!(truncate_message("short"), "short");
        let long = "x".repeat(2000);
        assert_eq!(truncate_message(&long).len(), 1024);
    }
}
