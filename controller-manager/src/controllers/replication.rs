//! The ReplicationController controller: the ReplicaSet controller over
//! [`ReplicationController`]s, viewed as ReplicaSets (upstream does the same
//! with a conversion layer). The RC's map selector becomes `matchLabels`
//! (defaulted to the template's labels when empty, as the apiserver does).

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::replicaset::{self, Kind};
use crate::controllers::Ctx;

impl Kind for ReplicationController {
    const CONTROLLER: &'static str = "replicationcontroller";
    const COMPONENT: &'static str = "replication-controller";

    fn view(&self) -> ReplicaSet {
        let spec = self.spec.clone().unwrap_or_default();
        let template_labels = spec.template.as_ref().and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.clone());
        let selector = spec.selector.clone().filter(|s| !s.is_empty()).or(template_labels);
        let status = self.status.as_ref().map(|s| ReplicaSetStatus {
            replicas: s.replicas,
            fully_labeled_replicas: s.fully_labeled_replicas,
            ready_replicas: s.ready_replicas,
            available_replicas: s.available_replicas,
            observed_generation: s.observed_generation,
            conditions: s.conditions.as_ref().map(|cs| {
                cs.iter()
                    .map(|c| k8s_openapi::api::apps::v1::ReplicaSetCondition {
                        type_: c.type_.clone(),
                        status: c.status.clone(),
                        reason: c.reason.clone(),
                        message: c.message.clone(),
                        last_transition_time: c.last_transition_time.clone(),
                    })
                    .collect()
            }),
            terminating_replicas: None,
        });
        ReplicaSet {
            metadata: self.metadata.clone(),
            spec: Some(ReplicaSetSpec {
                replicas: spec.replicas,
                min_ready_seconds: spec.min_ready_seconds,
                selector: selector.map(|m| LabelSelector { match_labels: Some(m), match_expressions: None }).unwrap_or_default(),
                template: spec.template,
            }),
            status,
        }
    }
}

/// Entry point of the `replicationcontroller` controller.
pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    replicaset::run_kind::<ReplicationController>(ctx).await
}
