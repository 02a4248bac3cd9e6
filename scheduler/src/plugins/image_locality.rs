//! ImageLocality: favours nodes that already have the pod's images, by size
//! scaled by how widely the image is spread (so one node holding a popular
//! image is not favoured over others). Between 23 MB and 1000 MB per
//! container the score grows linearly. Default weight 1.

use std::sync::Arc;

use crate::cache::{normalized_image_name, NodeInfo, Snapshot};
use crate::framework::{CycleState, Plugin, PluginArgs, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::podinfo::PodInfo;

pub const NAME: &str = "ImageLocality";
const MB: i64 = 1024 * 1024;
const MIN_THRESHOLD: i64 = 23 * MB;
const MAX_CONTAINER_THRESHOLD: i64 = 1000 * MB;

pub struct ImageLocality;

/// Upstream `calculatePriority`.
pub fn calculate_priority(sum: i64, num_containers: usize) -> i64 {
    let max = MAX_CONTAINER_THRESHOLD * num_containers.max(1) as i64;
    let sum = sum.clamp(MIN_THRESHOLD, max.max(MIN_THRESHOLD));
    if max <= MIN_THRESHOLD {
        return 0;
    }
    MAX_NODE_SCORE * (sum - MIN_THRESHOLD) / (max - MIN_THRESHOLD)
}

impl Plugin for ImageLocality {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

/// The pod's normalised image names (one per container, init first) and the container count.
#[derive(Clone)]
struct PreScoreState {
    images: Vec<String>,
    containers: usize,
}

fn images_of(pod: &PodInfo) -> PreScoreState {
    let mut st = PreScoreState { images: Vec::new(), containers: 0 };
    if let Some(spec) = pod.pod.spec.as_ref() {
        for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
            st.containers += 1;
            if let Some(image) = c.image.as_deref() {
                st.images.push(normalized_image_name(image));
            }
        }
    }
    st
}

impl PreScorePlugin for ImageLocality {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[Arc<NodeInfo>], _: &Snapshot) -> Status {
        state.write(NAME, images_of(pod));
        Status::success()
    }
}

impl ScorePlugin for ImageLocality {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> Result<i64, Status> {
        let owned;
        let st = match state.read::<PreScoreState>(NAME) {
            Some(s) => s,
            None => {
                owned = images_of(pod);
                &owned
            }
        };
        if node.image_sizes.is_empty() {
            return Ok(calculate_priority(0, st.containers));
        }
        let total = snapshot.num_nodes().max(1) as f64;
        let mut sum = 0i64;
        for name in &st.images {
            if let Some(size) = node.image_sizes.get(name) {
                let spread = snapshot.image_counts.get(name).copied().unwrap_or(1) as f64 / total;
                sum += (*size as f64 * spread) as i64;
            }
        }
        Ok(calculate_priority(sum, st.containers))
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(ImageLocality))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listers::Listers;
    use crate::testutil::{node, pod};

    #[test]
    fn score_table() {
        let big = 300 * MB;
        let snap = Snapshot::from_nodes(
            vec![node("a").image("app:1", big).info(), node("b").info(), node("c").image("app:1", big).image("small:1", MB).info()],
            Listers::default(),
        );
        let p = pod("p").image("app:1").info();
        let scores: Vec<i64> = snap.nodes.iter().map(|n| ImageLocality.score(&CycleState::new(), &p, n, &snap).unwrap_or(-1)).collect();
        // 300MB * 2/3 = 200MB → 100 * (200-23)/(1000-23) = 18.
        assert_eq!(scores, [18, 0, 18]);
        assert_eq!(calculate_priority(MB, 1), 0);
        assert_eq!(calculate_priority(2000 * MB, 1), 100);
    }
}
