//! The scheduling framework: extension-point traits, per-cycle state,
//! statuses, the plugin registry and the runner that drives a profile's
//! plugins through a cycle (upstream `pkg/scheduler/framework`).

pub mod cycle_state;
pub mod interface;
pub mod registry;
pub mod runner;
pub mod status;

pub use cycle_state::CycleState;
pub use interface::*;
pub use registry::{PluginArgs, Registry};
pub use runner::Framework;
pub use status::{Code, NodeStatuses, Status};
