//! The admission chain, run on every write after defaulting: mutating
//! `admit` hooks first, then validation, then validating hooks, as upstream.
//! Plugins are kept in upstream's order; the secure-access issue adds
//! LimitRanger, ServiceAccount, NodeRestriction, PodSecurity, ResourceQuota...

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

#[async_trait]
pub trait AdmissionPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// May change the object.
    async fn admit(&self, _ctx: &Ctx, _op: Operation, _obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        Ok(())
    }

    /// May only accept or reject.
    async fn validate(&self, _ctx: &Ctx, _op: Operation, _obj: &Value, _old: Option<&Value>) -> ApiResult<()> {
        Ok(())
    }
}

/// The default chain.
pub fn default_chain() -> Vec<std::sync::Arc<dyn AdmissionPlugin>> {
    vec![std::sync::Arc::new(NamespaceLifecycle)]
}

/// No new objects in namespaces that are missing or terminating.
pub struct NamespaceLifecycle;

#[async_trait]
impl AdmissionPlugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, _obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        let (Operation::Create, Some(namespace)) = (op, ctx.namespace()) else { return Ok(()) };
        let Some(ns_def) = ctx.state.registry.get("", "v1", "namespaces") else { return Ok(()) };
        crate::handlers::await_consistent(ctx).await?;
        let key = ns_def.object_key(&ctx.state.root, None, namespace);
        match ctx.state.cache.get(ns_def, &key) {
            None => Err(ApiError::not_found("", "namespaces", namespace)),
            Some(ns) if ns.value().pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null()) => Err(ApiError::forbidden(
                ctx.def.group,
                ctx.def.plural,
                "",
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Run every plugin's `admit`.
pub async fn admit(ctx: &Ctx, op: Operation, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    for plugin in &ctx.state.admission {
        let span = tracing::debug_span!("admit", plugin = plugin.name());
        let _e = span.enter();
        drop(_e);
        plugin.admit(ctx, op, obj, old).await?;
    }
    Ok(())
}

/// Run every plugin's `validate`.
pub async fn validate(ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    for plugin in &ctx.state.admission {
        plugin.validate(ctx, op, obj, old).await?;
    }
    Ok(())
}
