//! The node agent's library: node and pod status logic shared by the
//! kubelet and the node simulator, and the simulator itself.
//!
//! Pure modules (no I/O; time is a parameter): [`node_status`] (the Node a
//! kubelet registers and its conditions), [`lease`] (node heartbeats),
//! [`pod_status`] (a bound pod's status as a function of time),
//! [`convention`] (how simulated containers live and exit), [`ipam`] (pod
//! and node addresses), [`units`] (durations, quantities).
//! The imperative shell: [`simulator`] (the `node-simulator` binary's
//! engine: registration, heartbeats, pod watch, status writes).

pub mod convention;
pub mod ipam;
pub mod lease;
pub mod node_status;
pub mod pod_status;
pub mod units;
pub mod simulator;
