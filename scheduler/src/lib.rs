//! ferrokube's kube-scheduler.
//!
//! Pure core: [`queue`] (active/backoff/unschedulable), [`podinfo`] (the
//! pod being scheduled, and the compact record the cache keeps of every
//! assigned pod), [`cache`] (NodeInfo aggregates, assume/forget,
//! incremental snapshot), [`framework`]
//! (extension-point traits, cycle state, runner, registry), [`plugins`]
//! (upstream's defaults), [`algorithm`] (filter/score/select with
//! `percentageOfNodesToScore`), [`preemption`], [`events`] (FitError
//! messages), [`config`] (KubeSchedulerConfiguration).
//! Shell: [`scheduler`] (informers, the loop, asynchronous binding),
//! [`strip`] (what is dropped from watched objects before they are kept) and
//! [`recorder`] (events, status patches, victim deletion).

pub mod algorithm;
pub mod cache;
pub mod config;
pub mod events;
pub mod framework;
pub mod listers;
pub mod plugins;
pub mod podinfo;
pub mod preemption;
pub mod quantity;
pub mod queue;
pub mod recorder;
pub mod resources;
pub mod scheduler;
pub mod strip;

#[cfg(test)]
mod testutil;
