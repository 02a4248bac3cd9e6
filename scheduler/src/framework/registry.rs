//! Plugin name → constructor (upstream `runtime.Registry`).

use std::collections::HashMap;
use std::sync::Arc;

use super::Plugin;

/// What a constructor gets: the plugin's `pluginConfig` args (if any) and the
/// API client for plugins that write (binder, volume binding). Tests pass no
/// client.
#[derive(Clone, Default)]
pub struct PluginArgs {
    pub args: Option<serde_json::Value>,
    pub client: Option<kube::Client>,
}

pub type Factory = fn(&PluginArgs) -> anyhow::Result<Arc<dyn Plugin>>;

#[derive(Default, Clone)]
pub struct Registry {
    factories: HashMap<&'static str, Factory>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn register(&mut self, name: &'static str, factory: Factory) {
        self.factories.insert(name, factory);
    }

    pub fn get(&self, name: &str) -> Option<Factory> {
        self.factories.get(name).copied()
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.factories.keys().copied().collect();
        v.sort();
        v
    }
}
