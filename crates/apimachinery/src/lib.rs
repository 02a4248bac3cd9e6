//! Pure API machinery; see ARCHITECTURE.md.
//!
//! - [`selector::labels`]: label selector grammar (`?labelSelector=`) and
//!   `metav1.LabelSelector` conversion.
//! - [`selector::fields`]: field selector grammar (`?fieldSelector=`).
//! - [`patch::strategic`]: strategic merge patch (apply and two-way diff).
//! - [`patch::k8s_meta`]: per-field patch strategies for the built-in
//!   Kubernetes types, derived from k8s-openapi schemas plus a static table.
//! - [`managed`]: field ownership (`metadata.managedFields`) and server-side
//!   apply (merge, prune, conflicts).
//!
//! Invariant: nothing here does I/O or holds global state; every function is a
//! pure transformation of its inputs.

pub mod gofmt;
pub mod managed;
pub mod patch;
pub mod quantity;
pub mod selector;
