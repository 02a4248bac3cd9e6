//! Which objects a list or watch wants, and how an event looks to a filtered
//! watcher: an object that starts matching is ADDED, one that stops matching
//! is DELETED, as upstream's cacher does.

use apimachinery::selector::fields::FieldSelector;
use apimachinery::selector::labels::LabelSelector;

use super::{CacheEvent, CachedObject, EventType, WatchOut};

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub labels: Option<LabelSelector>,
    pub fields: Option<FieldSelector>,
}

impl Filter {
    pub fn matches(&self, obj: &CachedObject) -> bool {
        if let Some(ns) = &self.namespace {
            if &obj.namespace != ns {
                return false;
            }
        }
        if let Some(name) = &self.name {
            if &obj.name != name {
                return false;
            }
        }
        if let Some(sel) = &self.labels {
            if !sel.matches(&obj.labels) {
                return false;
            }
        }
        if let Some(sel) = &self.fields {
            if !sel.matches(|f| obj.field(f)) {
                return false;
            }
        }
        true
    }

    /// The event this filter's watcher should see, if any.
    pub fn translate(&self, ev: &CacheEvent) -> Option<WatchOut> {
        let now = self.matches(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.matches(p));
        let kind = match ev.kind {
            EventType::Added if now => EventType::Added,
            EventType::Modified if now && before => EventType::Modified,
            EventType::Modified if now => EventType::Added,
            EventType::Modified if before => EventType::Deleted,
            EventType::Deleted if before || now => EventType::Deleted,
            _ => return None,
        };
        Some(WatchOut { kind, object: ev.object.clone() })
    }
}
