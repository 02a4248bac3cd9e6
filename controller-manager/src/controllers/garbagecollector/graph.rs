//! The pure core of the garbage collector: the ownerReferences graph and
//! the decisions upstream's `garbagecollector.go` takes over it.
//!
//! Upstream keeps a `uidToNode` graph fed by one informer per deletable
//! resource (`graph_builder.go`). Changes enqueue work:
//! - *attempt to delete* an object whose owners may be gone
//!   (`attemptToDeleteItem`): delete it when no owner is left ("solid"),
//!   trim dangling references when some owner remains, delete it in the
//!   foreground when an owner waits for its dependents;
//! - *attempt to orphan* the dependents of an owner deleted with the
//!   `orphan` finalizer: drop the reference from every dependent, then the
//!   finalizer;
//! - an owner with the `foregroundDeletion` finalizer keeps it until no
//!   dependent with `blockOwnerDeletion: true` remains.
//!
//! Here the graph is plain data; the shell feeds it watch events, turns
//! [`Work`] into queue keys and carries out [`Decision`]s through the API.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// `metadata.finalizers` entry asking to orphan dependents.
pub const FINALIZER_ORPHAN: &str = "orphan";
/// `metadata.finalizers` entry asking to delete dependents first.
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// Identity of an object in the graph. Strings most objects share (API
/// version, kind, namespace) come from the graph's [`Interner`]; the uid is
/// one allocation shared by the node, its key and the dependents index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity {
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    pub namespace: Option<Arc<str>>,
    pub name: Box<str>,
    pub uid: Arc<str>,
}

/// One `ownerReferences` entry as the graph keeps it: the strings interned
/// (the pods of one ReplicaSet all name the same owner), `controller`
/// dropped (no decision reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub api_version: Arc<str>,
    pub kind: Arc<str>,
    pub name: Arc<str>,
    pub uid: Arc<str>,
    pub block_owner_deletion: bool,
}

/// What the graph knows about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub identity: Identity,
    pub owners: Box<[Owner]>,
    /// `metadata.deletionTimestamp` is set.
    pub deleting: bool,
    pub finalizers: Vec<String>,
}

impl Node {
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Upstream `isDeletingDependents`: being deleted in the foreground.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.has_finalizer(FINALIZER_FOREGROUND)
    }

    /// Being deleted with the `orphan` finalizer still present.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.has_finalizer(FINALIZER_ORPHAN)
    }
}

/// Work the graph asks for after a change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// Check the object's owners (and, for an owner deleting in the
    /// foreground, its blocking dependents).
    AttemptToDelete(String),
    /// Orphan the dependents of this owner, then drop its `orphan` finalizer.
    AttemptToOrphan(String),
}

/// Shared copies of the strings many graph nodes repeat. Entries no node
/// uses any more are dropped when the set has doubled since the last sweep.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
    sweep_at: usize,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(s) {
            return shared.clone();
        }
        if self.strings.len() >= self.sweep_at {
            self.strings.retain(|s| Arc::strong_count(s) > 1);
            self.sweep_at = (self.strings.len() * 2).max(1024);
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(shared.clone());
        shared
    }

    pub fn owner(&mut self, r: &OwnerReference) -> Owner {
        Owner {
            api_version: self.get(&r.api_version),
            kind: self.get(&r.kind),
            name: self.get(&r.name),
            uid: self.get(&r.uid),
            block_owner_deletion: r.block_owner_deletion == Some(true),
        }
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strings.is_empty()
    }
}

/// The ownership graph: nodes by uid plus a reverse index owner uid →
/// dependent uids. The reverse index is kept even while the owner itself is
/// not (or no longer) observed, as upstream's "virtual" nodes.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<Arc<str>, Node>,
    dependents: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
    /// Strings shared by the nodes (see [`Identity`], [`Owner`]).
    pub strings: Interner,
}

impl Graph {
    pub fn node(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Observed dependents of `owner_uid`.
    pub fn dependents(&self, owner_uid: &str) -> Vec<&Node> {
        self.dependents
            .get(owner_uid)
            .map(|set| set.iter().filter_map(|uid| self.nodes.get(uid)).collect())
            .unwrap_or_default()
    }

    /// Dependents whose reference to `owner_uid` has `blockOwnerDeletion: true`.
    pub fn blocking_dependents(&self, owner_uid: &str) -> Vec<&Node> {
        self.dependents(owner_uid)
            .into_iter()
            .filter(|d| d.owners.iter().any(|r| &*r.uid == owner_uid && r.block_owner_deletion))
            .collect()
    }

    /// An object was added or updated. Returns the work it triggers.
    pub fn observe(&mut self, node: Node) -> Vec<Work> {
        let uid = node.identity.uid.clone();
        let old = self.nodes.get(&uid);
        let mut work = BTreeSet::new();
        let old_owner_uids: BTreeSet<Arc<str>> = old.iter().flat_map(|o| o.owners.iter().map(|r| r.uid.clone())).collect();
        let new_owner_uids: BTreeSet<Arc<str>> = node.owners.iter().map(|r| r.uid.clone()).collect();
        let owners_changed = old.is_none_or(|o| o.owners != node.owners);
        let was_deleting = old.is_some_and(|o| o.deleting);
        for removed in old_owner_uids.difference(&new_owner_uids) {
            if let Some(set) = self.dependents.get_mut(removed) {
                set.remove(&uid);
                if set.is_empty() {
                    self.dependents.remove(removed);
                }
            }
            // An owner waiting for its dependents may now be unblocked.
            if self.nodes.get(removed).is_some_and(Node::deleting_dependents) {
                work.insert(Work::AttemptToDelete(removed.to_string()));
            }
        }
        for added in &new_owner_uids {
            self.dependents.entry(added.clone()).or_default().insert(uid.clone());
        }
        // An object with owners is (re)checked when it appears or its
        // references change: its owners may already be gone.
        if !node.owners.is_empty() && owners_changed {
            work.insert(Work::AttemptToDelete(uid.to_string()));
        }
        if node.orphaning() {
            work.insert(Work::AttemptToOrphan(uid.to_string()));
        }
        if node.deleting_dependents() {
            work.insert(Work::AttemptToDelete(uid.to_string()));
            for dep in self.dependents.get(&uid).into_iter().flatten() {
                work.insert(Work::AttemptToDelete(dep.to_string()));
            }
        }
        // A dependent that started deleting may unblock an owner.
        if node.deleting && !was_deleting {
            for owner in &new_owner_uids {
                if self.nodes.get(owner).is_some_and(Node::deleting_dependents) {
                    work.insert(Work::AttemptToDelete(owner.to_string()));
                }
            }
        }
        self.nodes.insert(uid, node);
        work.into_iter().collect()
    }

    /// An object was deleted. Its dependents are rechecked; an owner
    /// deleting in the foreground may be unblocked.
    pub fn forget(&mut self, uid: &str) -> Vec<Work> {
        let mut work = BTreeSet::new();
        if let Some(node) = self.nodes.remove(uid) {
            for r in &node.owners {
                if let Some(set) = self.dependents.get_mut(&r.uid) {
                    set.remove(uid);
                    if set.is_empty() {
                        self.dependents.remove(&r.uid);
                    }
                }
                if self.nodes.get(&r.uid).is_some_and(Node::deleting_dependents) {
                    work.insert(Work::AttemptToDelete(r.uid.to_string()));
                }
            }
        }
        for dep in self.dependents.get(uid).into_iter().flatten() {
            work.insert(Work::AttemptToDelete(dep.to_string()));
        }
        work.into_iter().collect()
    }
}

/// What the collector found about one owner reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner exists with the referenced uid and is not deleting in the
    /// foreground.
    Solid,
    /// The owner is gone (or a different object now has its name).
    Dangling,
    /// The owner exists and is being deleted in the foreground.
    WaitingForDependentsDeletion,
}

/// Upstream's `DeletionPropagation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Orphan => "Orphan",
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
        }
    }
}

/// What to do with an object whose owners were classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// At least one owner remains and every reference is fine.
    Keep,
    /// Some owner remains: drop the references with these uids.
    RemoveOwnerReferences(Vec<String>),
    /// No owner remains: delete the object with this propagation.
    Delete(Propagation),
}

/// Upstream `attemptToDeleteItem` after classification. `states` pairs each
/// owner reference with what was found; `has_dependents`: whether the object
/// itself owns something (then an owner waiting for its dependents makes
/// the object go away in the foreground too).
pub fn decide(node: &Node, states: &[(Owner, OwnerState)], has_dependents: bool) -> Decision {
    if states.is_empty() {
        return Decision::Keep;
    }
    let of = |s: OwnerState| states.iter().filter(move |(_, st)| *st == s).map(|(r, _)| r.uid.to_string());
    let solid = of(OwnerState::Solid).count();
    let dangling: Vec<String> = of(OwnerState::Dangling).collect();
    let waiting: Vec<String> = of(OwnerState::WaitingForDependentsDeletion).collect();
    if solid > 0 {
        if dangling.is_empty() && waiting.is_empty() {
            return Decision::Keep;
        }
        let mut uids = dangling;
        uids.extend(waiting);
        return Decision::RemoveOwnerReferences(uids);
    }
    if !waiting.is_empty() && has_dependents {
        return Decision::Delete(Propagation::Foreground);
    }
    let policy = if node.has_finalizer(FINALIZER_ORPHAN) {
        Propagation::Orphan
    } else if node.has_finalizer(FINALIZER_FOREGROUND) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    Decision::Delete(policy)
}

/// What to do with an owner deleting in the foreground
/// (`processDeletingDependentsItem`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForegroundStep {
    /// No blocking dependent left: remove the `foregroundDeletion` finalizer.
    RemoveFinalizer,
    /// Delete these dependents (uids) that are not yet being deleted.
    DeleteDependents(Vec<String>),
    /// Blocking dependents are all being deleted already: wait.
    Wait,
}

pub fn foreground_step(graph: &Graph, owner_uid: &str) -> ForegroundStep {
    let blocking = graph.blocking_dependents(owner_uid);
    if blocking.is_empty() {
        return ForegroundStep::RemoveFinalizer;
    }
    let to_delete: Vec<String> = graph
        .dependents(owner_uid)
        .into_iter()
        .filter(|d| !d.deleting)
        .map(|d| d.identity.uid.to_string())
        .collect();
    if to_delete.is_empty() {
        ForegroundStep::Wait
    } else {
        ForegroundStep::DeleteDependents(to_delete)
    }
}

/// The owner references left after dropping `uids`.
pub fn without_owners(owners: &[OwnerReference], uids: &[String]) -> Vec<OwnerReference> {
    owners.iter().filter(|r| !uids.contains(&r.uid)).cloned().collect()
}

/// The finalizers left after dropping `name`.
pub fn without_finalizer(finalizers: &[String], name: &str) -> Vec<String> {
    finalizers.iter().filter(|f| *f != name).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_oref(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: format!("owner-{uid}"),
            uid: uid.into(),
            block_owner_deletion: block.then_some(true),
            controller: None,
        }
    }

    fn oref(uid: &str, block: bool) -> Owner {
        Interner::default().owner(&full_oref(uid, block))
    }

    fn node(uid: &str, owners: Vec<Owner>) -> Node {
        Node {
            identity: Identity {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("default".into()),
                name: format!("obj-{uid}").into(),
                uid: uid.into(),
            },
            owners: owners.into(),
            deleting: false,
            finalizers: vec![],
        }
    }

    fn deleting(mut n: Node, finalizer: &str) -> Node {
        n.deleting = true;
        n.finalizers.push(finalizer.into());
        n
    }

    #[test]
    fn decide_table() {
        use OwnerState::*;
        let plain = node("d", vec![]);
        let orphan = { let mut n = node("d", vec![]); n.finalizers.push(FINALIZER_ORPHAN.into()); n };
        let fg = { let mut n = node("d", vec![]); n.finalizers.push(FINALIZER_FOREGROUND.into()); n };
        type Case<'a> = (&'a str, &'a Node, Vec<(&'a str, OwnerState)>, bool, Decision);
        let cases: Vec<Case> = vec![
            ("no owners", &plain, vec![], false, Decision::Keep),
            ("one solid", &plain, vec![("a", Solid)], false, Decision::Keep),
            ("all dangling", &plain, vec![("a", Dangling), ("b", Dangling)], false, Decision::Delete(Propagation::Background)),
            ("solid + dangling", &plain, vec![("a", Solid), ("b", Dangling)], false, Decision::RemoveOwnerReferences(vec!["b".into()])),
            ("solid + waiting", &plain, vec![("a", Solid), ("b", WaitingForDependentsDeletion)], false, Decision::RemoveOwnerReferences(vec!["b".into()])),
            ("waiting, no dependents", &plain, vec![("a", WaitingForDependentsDeletion)], false, Decision::Delete(Propagation::Background)),
            ("waiting, with dependents", &plain, vec![("a", WaitingForDependentsDeletion)], true, Decision::Delete(Propagation::Foreground)),
            ("dangling, orphan finalizer", &orphan, vec![("a", Dangling)], false, Decision::Delete(Propagation::Orphan)),
            ("dangling, foreground finalizer", &fg, vec![("a", Dangling)], false, Decision::Delete(Propagation::Foreground)),
        ];
        for (name, n, states, has_deps, want) in cases {
            let states: Vec<_> = states.into_iter().map(|(uid, s)| (oref(uid, false), s)).collect();
            assert_eq!(decide(n, &states, has_deps), want, "{name}");
        }
    }

    #[test]
    fn observe_and_forget_enqueue_the_right_work() {
        let mut g = Graph::default();
        assert_eq!(g.observe(node("owner", vec![])), vec![]);
        assert_eq!(g.observe(node("dep", vec![oref("owner", true)])), vec![Work::AttemptToDelete("dep".into())]);
        // An unchanged update triggers nothing.
        assert_eq!(g.observe(node("dep", vec![oref("owner", true)])), vec![]);
        assert_eq!(g.dependents("owner").len(), 1);
        // Owner deleted: its dependents are rechecked.
        assert_eq!(g.forget("owner"), vec![Work::AttemptToDelete("dep".into())]);
        // Orphaning owner.
        let mut g = Graph::default();
        g.observe(node("dep", vec![oref("o", false)]));
        assert_eq!(g.observe(deleting(node("o", vec![]), FINALIZER_ORPHAN)), vec![Work::AttemptToOrphan("o".into())]);
        // Foreground owner: itself and its dependents.
        let mut g = Graph::default();
        g.observe(node("dep", vec![oref("o", true)]));
        assert_eq!(
            g.observe(deleting(node("o", vec![]), FINALIZER_FOREGROUND)),
            vec![Work::AttemptToDelete("dep".into()), Work::AttemptToDelete("o".into())]
        );
        // The dependent going away unblocks the owner.
        assert_eq!(g.forget("dep"), vec![Work::AttemptToDelete("o".into())]);
    }

    #[test]
    fn reference_removal_updates_index_and_unblocks() {
        let mut g = Graph::default();
        g.observe(deleting(node("o", vec![]), FINALIZER_FOREGROUND));
        g.observe(node("dep", vec![oref("o", true)]));
        assert_eq!(foreground_step(&g, "o"), ForegroundStep::DeleteDependents(vec!["dep".into()]));
        let work = g.observe(node("dep", vec![]));
        assert_eq!(work, vec![Work::AttemptToDelete("o".into())]);
        assert_eq!(foreground_step(&g, "o"), ForegroundStep::RemoveFinalizer);
    }

    #[test]
    fn foreground_steps() {
        let mut g = Graph::default();
        g.observe(deleting(node("o", vec![]), FINALIZER_FOREGROUND));
        assert_eq!(foreground_step(&g, "o"), ForegroundStep::RemoveFinalizer);
        g.observe(node("nb", vec![oref("o", false)]));
        // Non-blocking dependents do not hold the owner.
        assert_eq!(foreground_step(&g, "o"), ForegroundStep::RemoveFinalizer);
        g.observe(deleting(node("b", vec![oref("o", true)]), "x"));
        // A blocking dependent already deleting: the non-blocking one is still deleted.
        assert_eq!(foreground_step(&g, "o"), ForegroundStep::DeleteDependents(vec!["nb".into()]));
        g.forget("nb");
        assert_eq!(foreground_step(&g, "o"), ForegroundStep::Wait);
    }

    #[test]
    fn interner_shares_strings_and_sweeps_unused_ones() {
        let mut strings = Interner::default();
        let a = strings.get("apps/v1");
        let b = strings.get("apps/v1");
        assert!(Arc::ptr_eq(&a, &b));
        let owner = strings.owner(&full_oref("u1", true));
        assert!(owner.block_owner_deletion);
        assert!(Arc::ptr_eq(&owner.uid, &strings.get("u1")));
        drop(owner);
        // Past the sweep threshold, strings no one holds are dropped.
        for i in 0..2000 {
            strings.get(&format!("s{i}"));
        }
        assert!(strings.len() < 2000);
        assert!(Arc::ptr_eq(&a, &strings.get("apps/v1")));
    }

    #[test]
    fn trimming_helpers() {
        let owners = vec![full_oref("a", false), full_oref("b", true)];
        assert_eq!(without_owners(&owners, &["a".into()]), vec![full_oref("b", true)]);
        assert_eq!(without_finalizer(&["orphan".into(), "x".into()], "orphan"), vec!["x".to_string()]);
    }
}
