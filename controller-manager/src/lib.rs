//! The controller-manager: level-triggered reconcilers that make the
//! declarative API come alive. Each controller lives in `controllers/<name>.rs`,
//! watches the API through kube-rs reflectors (never storage) and is
//! registered in [`controllers::REGISTRY`] under upstream's name, so
//! `--controllers` selects them as upstream does (`*`, `foo`, `-foo`).

pub mod controllers;
pub mod credentials;
pub mod runtime;
pub mod selection;

pub use controllers::{Ctx, REGISTRY};
