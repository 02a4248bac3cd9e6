//! Apply conflicts and upstream's wording of them
//! (`fieldmanager/internal/conflict.go`).

use super::entries::{identity, Operation};
use super::path::go_quote;

/// One field an applier wants to set to a value another manager owns with a
/// different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager.
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    pub subresource: Option<String>,
    /// The field, rendered as upstream does: `.spec.replicas`,
    /// `.spec.containers[name="nginx"].image`, `.metadata.finalizers[="a"]`.
    pub path: String,
}

impl Conflict {
    /// Upstream `printManager`: `"m"`, `"m" with subresource "status"`, and
    /// for updaters ` using <apiVersion>`.
    pub fn manager_description(&self) -> String {
        let mut out = go_quote(&self.manager);
        if let Some(sub) = self.subresource.as_deref().filter(|s| !s.is_empty()) {
            out.push_str(&format!(" with subresource {}", go_quote(sub)));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }

    /// The message of this conflict's `StatusCause` (reason
    /// `FieldManagerConflict`, field [`Conflict::path`]).
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_description())
    }

    fn identity(&self) -> String {
        identity(
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }
}

/// The 409 `Status` message for a failed apply, as upstream's
/// `getConflictMessage`.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_description(),
            only.path
        );
    }
    // Grouped by manager identity, sorted; paths in their given order.
    let mut groups: Vec<(String, &Conflict, Vec<&str>)> = Vec::new();
    for conflict in conflicts {
        let id = conflict.identity();
        match groups.iter_mut().find(|(g, _, _)| *g == id) {
            Some((_, _, paths)) => paths.push(&conflict.path),
            None => groups.push((id, conflict, vec![&conflict.path])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    for (_, first, paths) in groups {
        lines.push(format!("conflicts with {}:", first.manager_description()));
        lines.extend(paths.into_iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
