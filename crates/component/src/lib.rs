//! What every ferrokube component shares: a kube client built from a
//! kubeconfig (`--kubeconfig`, `$KUBECONFIG`, `~/.kube/config`, in-cluster),
//! leader election on a `coordination.k8s.io/v1` Lease, tracing set-up and
//! shutdown on SIGINT/SIGTERM.
//!
//! Components talk to the cluster only through the API (never storage), so
//! this crate depends on `kube`, never on `storage` or `apiserver`.

pub mod client;
pub mod leader;
pub mod service_account;
pub mod shutdown;
pub mod telemetry;

pub use client::{client_from_kubeconfig, config_from_options, ClientOptions};

pub use leader::{run_as_leader, LeaderElection, Leadership};
