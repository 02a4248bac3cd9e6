//! Per-attempt plugin state, as upstream's `framework.CycleState`: PreFilter
//! and PreScore write typed data under the plugin's key; Filter and Score
//! read it. Cloned (deeply) for preemption's what-if runs.

use std::any::Any;

/// Data a plugin keeps for one scheduling attempt.
pub trait StateData: Any + Send + Sync {
    fn clone_box(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Send + Sync + Clone> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// A handful of entries per cycle, read once per node per plugin: a small
/// vector with linear lookup beats hashing here.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Plugins whose PreFilter returned Skip: their Filter is not run.
    pub skip_filter: SkipSet,
    /// Plugins whose PreScore returned Skip: their Score is not run.
    pub skip_score: SkipSet,
}

/// A small set of plugin names.
#[derive(Debug, Clone, Default)]
pub struct SkipSet(Vec<&'static str>);

impl SkipSet {
    pub fn insert(&mut self, name: &'static str) {
        if !self.contains(name) {
            self.0.push(name);
        }
    }
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self.data.iter().map(|(k, v)| (*k, v.as_ref().clone_box())).collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    pub fn new() -> CycleState {
        CycleState::default()
    }

    pub fn write<T: StateData>(&mut self, key: &'static str, value: T) {
        match self.data.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    pub fn read<T: 'static>(&self, key: &'static str) -> Option<&T> {
        self.data.iter().find(|(k, _)| *k == key).and_then(|(_, v)| v.as_ref().as_any().downcast_ref::<T>())
    }

    /// Keeps only the entries whose key satisfies `keep`.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.data.retain(|(k, _)| keep(k));
    }

    pub fn read_mut<T: 'static>(&mut self, key: &'static str) -> Option<&mut T> {
        self.data.iter_mut().find(|(k, _)| *k == key).and_then(|(_, v)| v.as_mut().as_any_mut().downcast_mut::<T>())
    }
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState").field("keys", &self.data.iter().map(|(k, _)| *k).collect::<Vec<_>>()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_drops_other_keys() {
        let mut s = CycleState::new();
        s.write("A", 1u32);
        s.write("B", 2u32);
        s.write("C", 3u32);
        s.retain(|k| k != "B");
        assert_eq!((s.read::<u32>("A"), s.read::<u32>("B"), s.read::<u32>("C")), (Some(&1), None, Some(&3)));
    }
}
