//! DefaultBinder: `POST pods/<name>/binding` with a v1 Binding targeting the
//! node (upstream `defaultbinder`).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Binding, ObjectReference, Pod};
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use crate::framework::{BindPlugin, CycleState, Plugin, PluginArgs, Status};

pub const NAME: &str = "DefaultBinder";

pub struct DefaultBinder {
    client: Option<kube::Client>,
}

/// The Binding object for `pod` → `node`.
pub fn binding_for(pod: &Pod, node: &str) -> Binding {
    Binding {
        metadata: ObjectMeta {
            name: pod.metadata.name.clone(),
            namespace: pod.metadata.namespace.clone(),
            uid: pod.metadata.uid.clone(),
            ..Default::default()
        },
        target: ObjectReference { kind: Some("Node".into()), name: Some(node.to_string()), ..Default::default() },
    }
}

impl Plugin for DefaultBinder {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl BindPlugin for DefaultBinder {
    async fn bind(&self, _: &CycleState, pod: &Pod, node: &str) -> Status {
        let Some(client) = self.client.clone() else { return Status::error("DefaultBinder has no API client") };
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let body = binding_for(pod, node);
        let api: Api<Pod> = Api::namespaced(client, ns);
        match api.create_subresource::<Binding, serde_json::Value>("binding", name, &PostParams::default(), &body).await {
            Ok(_) => Status::success(),
            Err(e) => Status::error(format!("binding pod {ns}/{name} to node {node}: {e}")),
        }
    }
}

pub fn new(args: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(DefaultBinder { client: args.client.clone() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::pod;

    #[test]
    fn binding_shape() {
        let b = binding_for(&pod("p").build(), "n1");
        let v = serde_json::to_value(&b).unwrap_or_default();
        assert_eq!(v["metadata"]["name"], "p");
        assert_eq!(v["metadata"]["uid"], "uid-p");
        assert_eq!(v["target"]["kind"], "Node");
        assert_eq!(v["target"]["name"], "n1");
    }
}
