//! `KubeSchedulerConfiguration` (`kubescheduler.config.k8s.io/v1`), the
//! subset we honour: profiles with `schedulerName`, per-extension-point and
//! `multiPoint` `enabled`/`disabled` plugin sets (with score weights),
//! `pluginConfig` args, and `percentageOfNodesToScore` (global and per
//! profile). Merging follows upstream's defaulting: the default plugin set is
//! expressed as `multiPoint`; a profile's `multiPoint` disables/adds to it;
//! plugins enabled at a specific point come first at that point, and a
//! point's `disabled` list (or `*`) removes multiPoint plugins there.

use std::collections::HashMap;

use anyhow::{bail, Context};
use serde::Deserialize;

pub const DEFAULT_SCHEDULER_NAME: &str = "default-scheduler";
pub const API_VERSION: &str = "kubescheduler.config.k8s.io/v1";

/// The extension points, in cycle order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    PreFilter,
    Filter,
    PostFilter,
    PreScore,
    Score,
    Reserve,
    Permit,
    PreBind,
    Bind,
}

impl Point {
    pub const ALL: [Point; 9] =
        [Point::PreFilter, Point::Filter, Point::PostFilter, Point::PreScore, Point::Score, Point::Reserve, Point::Permit, Point::PreBind, Point::Bind];
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginRef {
    pub name: String,
    #[serde(default)]
    pub weight: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginSet {
    #[serde(default)]
    pub enabled: Vec<PluginRef>,
    #[serde(default)]
    pub disabled: Vec<PluginRef>,
}

impl PluginSet {
    fn disables(&self, name: &str) -> bool {
        self.disabled.iter().any(|d| d.name == "*" || d.name == name)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plugins {
    #[serde(default)]
    pub multi_point: PluginSet,
    #[serde(default)]
    pub pre_filter: PluginSet,
    #[serde(default)]
    pub filter: PluginSet,
    #[serde(default)]
    pub post_filter: PluginSet,
    #[serde(default)]
    pub pre_score: PluginSet,
    #[serde(default)]
    pub score: PluginSet,
    #[serde(default)]
    pub reserve: PluginSet,
    #[serde(default)]
    pub permit: PluginSet,
    #[serde(default)]
    pub pre_bind: PluginSet,
    #[serde(default)]
    pub bind: PluginSet,
}

impl Plugins {
    pub fn point(&self, p: Point) -> &PluginSet {
        match p {
            Point::PreFilter => &self.pre_filter,
            Point::Filter => &self.filter,
            Point::PostFilter => &self.post_filter,
            Point::PreScore => &self.pre_score,
            Point::Score => &self.score,
            Point::Reserve => &self.reserve,
            Point::Permit => &self.permit,
            Point::PreBind => &self.pre_bind,
            Point::Bind => &self.bind,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginConfig {
    pub name: String,
    #[serde(default)]
    pub args: serde_json::Value,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawProfile {
    #[serde(default)]
    pub scheduler_name: Option<String>,
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub plugins: Option<Plugins>,
    #[serde(default)]
    pub plugin_config: Vec<PluginConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawConfig {
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub percentage_of_nodes_to_score: Option<i32>,
    #[serde(default)]
    pub profiles: Vec<RawProfile>,
}

/// Upstream's default plugins (1.33 `getDefaultPlugins`), as multiPoint with
/// score weights. Only the plugins implemented here are listed.
pub fn default_multi_point() -> Vec<(String, i64)> {
    [
        ("PrioritySort", 0),
        ("NodeUnschedulable", 0),
        ("NodeName", 0),
        ("TaintToleration", 3),
        ("NodeAffinity", 2),
        ("NodePorts", 0),
        ("NodeResourcesFit", 1),
        ("VolumeRestrictions", 0),
        ("VolumeBinding", 0),
        ("PodTopologySpread", 2),
        ("InterPodAffinity", 2),
        ("DefaultPreemption", 0),
        ("NodeResourcesBalancedAllocation", 1),
        ("ImageLocality", 1),
        ("DefaultBinder", 0),
    ]
    .into_iter()
    .map(|(n, w)| (n.to_string(), w))
    .collect()
}

/// One resolved profile: the plugins enabled at each point, in order, with
/// score weights, and the args per plugin.
#[derive(Debug, Clone)]
pub struct Profile {
    pub scheduler_name: String,
    /// `None`: use the global setting (or adaptive).
    pub percentage_of_nodes_to_score: Option<i32>,
    /// multiPoint plugins after the profile's multiPoint changes.
    pub multi_point: Vec<(String, i64)>,
    pub plugins: Plugins,
    pub args: HashMap<String, serde_json::Value>,
}

impl Profile {
    /// The default profile (no config file).
    pub fn default_profile(scheduler_name: &str) -> Profile {
        Profile {
            scheduler_name: scheduler_name.to_string(),
            percentage_of_nodes_to_score: None,
            multi_point: default_multi_point(),
            plugins: Plugins::default(),
            args: HashMap::new(),
        }
    }

    /// Plugins at `point`: those enabled there explicitly first, then the
    /// multiPoint ones that `implements(name, point)`, minus the point's
    /// disabled ones. Each with its score weight (0 → 1).
    pub fn plugins_at(&self, point: Point, implements: impl Fn(&str, Point) -> bool) -> Vec<(String, i64)> {
        let set = self.plugins.point(point);
        let mut out: Vec<(String, i64)> = Vec::new();
        for e in &set.enabled {
            if !out.iter().any(|(n, _)| *n == e.name) {
                let mp = self.multi_point.iter().find(|(n, _)| *n == e.name).map(|(_, w)| *w).unwrap_or(0);
                out.push((e.name.clone(), e.weight.unwrap_or(mp)));
            }
        }
        for (name, w) in &self.multi_point {
            if set.disables(name) || out.iter().any(|(n, _)| n == name) || !implements(name, point) {
                continue;
            }
            out.push((name.clone(), *w));
        }
        for (_, w) in out.iter_mut() {
            if *w == 0 {
                *w = 1;
            }
        }
        out
    }
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub percentage_of_nodes_to_score: Option<i32>,
    pub profiles: Vec<Profile>,
}

impl Config {
    pub fn default_with_name(scheduler_name: &str) -> Config {
        Config { percentage_of_nodes_to_score: None, profiles: vec![Profile::default_profile(scheduler_name)] }
    }

    /// Parses a KubeSchedulerConfiguration YAML document.
    pub fn parse(yaml: &str) -> anyhow::Result<Config> {
        let raw: RawConfig = serde_yaml_ng::from_str(yaml).context("parsing KubeSchedulerConfiguration")?;
        if let Some(v) = raw.api_version.as_deref() {
            if v != API_VERSION {
                bail!("unsupported apiVersion {v:?}: expected {API_VERSION}");
            }
        }
        if let Some(k) = raw.kind.as_deref() {
            if k != "KubeSchedulerConfiguration" {
                bail!("unsupported kind {k:?}: expected KubeSchedulerConfiguration");
            }
        }
        validate_percentage(raw.percentage_of_nodes_to_score)?;
        let mut profiles = Vec::new();
        let raw_profiles = if raw.profiles.is_empty() { vec![RawProfile::default()] } else { raw.profiles };
        for rp in raw_profiles {
            validate_percentage(rp.percentage_of_nodes_to_score)?;
            let name = rp.scheduler_name.clone().unwrap_or_else(|| DEFAULT_SCHEDULER_NAME.to_string());
            if profiles.iter().any(|p: &Profile| p.scheduler_name == name) {
                bail!("duplicate profile with schedulerName {name:?}");
            }
            let plugins = rp.plugins.unwrap_or_default();
            let mut multi_point: Vec<(String, i64)> =
                default_multi_point().into_iter().filter(|(n, _)| !plugins.multi_point.disables(n)).collect();
            for e in &plugins.multi_point.enabled {
                match multi_point.iter_mut().find(|(n, _)| *n == e.name) {
                    Some(entry) => entry.1 = e.weight.unwrap_or(entry.1),
                    None => multi_point.push((e.name.clone(), e.weight.unwrap_or(0))),
                }
            }
            let args = rp.plugin_config.into_iter().map(|pc| (pc.name, pc.args)).collect();
            profiles.push(Profile { scheduler_name: name, percentage_of_nodes_to_score: rp.percentage_of_nodes_to_score, multi_point, plugins, args });
        }
        Ok(Config { percentage_of_nodes_to_score: raw.percentage_of_nodes_to_score, profiles })
    }
}

fn validate_percentage(p: Option<i32>) -> anyhow::Result<()> {
    if let Some(p) = p {
        if !(0..=100).contains(&p) {
            bail!("percentageOfNodesToScore: Invalid value: {p}: not in valid range [0-100]");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn all(_: &str, _: Point) -> bool {
        true
    }

    #[test]
    fn defaults_without_profiles() {
        let c = Config::parse("apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\n").unwrap();
        assert_eq!(c.profiles.len(), 1);
        assert_eq!(c.profiles[0].scheduler_name, "default-scheduler");
        let score = c.profiles[0].plugins_at(Point::Score, all);
        assert!(score.contains(&("TaintToleration".to_string(), 3)));
        assert!(score.contains(&("NodeName".to_string(), 1)));
    }

    #[test]
    fn profiles_enable_disable_and_weights() {
        let yaml = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
- schedulerName: packer
  percentageOfNodesToScore: 70
  plugins:
    multiPoint:
      disabled:
      - name: ImageLocality
    score:
      enabled:
      - name: NodeResourcesFit
        weight: 5
      disabled:
      - name: NodeResourcesBalancedAllocation
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
"#;
        let c = Config::parse(yaml).unwrap();
        assert_eq!(c.percentage_of_nodes_to_score, Some(30));
        let packer = &c.profiles[1];
        assert_eq!(packer.percentage_of_nodes_to_score, Some(70));
        let score = packer.plugins_at(Point::Score, all);
        assert_eq!(score[0], ("NodeResourcesFit".to_string(), 5));
        assert!(!score.iter().any(|(n, _)| n == "ImageLocality" || n == "NodeResourcesBalancedAllocation"));
        assert!(packer.args.contains_key("NodeResourcesFit"));
        let filter = packer.plugins_at(Point::Filter, all);
        assert!(filter.iter().any(|(n, _)| n == "NodeResourcesFit"));
    }

    #[test]
    fn disable_all_at_a_point() {
        let yaml = "profiles:\n- plugins:\n    score:\n      disabled:\n      - name: '*'\n";
        let c = Config::parse(yaml).unwrap();
        assert!(c.profiles[0].plugins_at(Point::Score, all).is_empty());
        assert!(!c.profiles[0].plugins_at(Point::Filter, all).is_empty());
    }

    #[test]
    fn rejects_bad_input() {
        assert!(Config::parse("apiVersion: v2\n").is_err());
        assert!(Config::parse("percentageOfNodesToScore: 101\n").is_err());
        assert!(Config::parse("profiles:\n- schedulerName: a\n- schedulerName: a\n").is_err());
    }
}
