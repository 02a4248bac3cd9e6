//! Patching JSON objects.
//!
//! - [`meta`]: the [`meta::PatchMeta`] trait that tells a patch how each list
//!   and map field merges, plus schema-less implementations.
//! - [`strategic`]: strategic merge patch (apply and two-way diff).
//! - [`k8s_meta`]: [`meta::PatchMeta`] for the built-in Kubernetes types.

pub mod k8s_meta;
pub mod meta;
pub mod strategic;
