//! Strategies for kinds with little behaviour of their own.

use serde_json::{json, Value};

use super::{keep_old_status, strip_status, NameRule, Strategy};
use crate::error::FieldError;

type Defaulter = fn(&mut Value);
type Validator = fn(&Value) -> Vec<FieldError>;
type UpdateValidator = fn(&Value, &Value) -> Vec<FieldError>;

/// A strategy described by data: status handling, name rule, optional
/// defaulting and validation functions.
pub struct PlainStrategy {
    pub has_status: bool,
    pub name_rule: NameRule,
    pub generation: bool,
    pub defaulter: Option<Defaulter>,
    pub validator: Option<Validator>,
    pub update_validator: Option<UpdateValidator>,
    /// The status a new object starts with (status subresource kinds).
    pub initial_status: Option<fn() -> Value>,
}

impl PlainStrategy {
    pub const fn new() -> Self {
        PlainStrategy { has_status: false, name_rule: NameRule::Subdomain, generation: false, defaulter: None, validator: None, update_validator: None, initial_status: None }
    }
    pub const fn with_status(mut self) -> Self {
        self.has_status = true;
        self
    }
    pub const fn names(mut self, rule: NameRule) -> Self {
        self.name_rule = rule;
        self
    }
    pub const fn generation(mut self) -> Self {
        self.generation = true;
        self
    }
    pub const fn defaults(mut self, f: Defaulter) -> Self {
        self.defaulter = Some(f);
        self
    }
    pub const fn validate_with(mut self, f: Validator) -> Self {
        self.validator = Some(f);
        self
    }
    pub const fn initial_status(mut self, f: fn() -> Value) -> Self {
        self.initial_status = Some(f);
        self
    }
    pub const fn validate_update_with(mut self, f: UpdateValidator) -> Self {
        self.update_validator = Some(f);
        self
    }
}

impl Default for PlainStrategy {
    fn default() -> Self {
        Self::new()
    }
}

impl Strategy for PlainStrategy {
    fn name_rule(&self) -> NameRule {
        self.name_rule
    }
    fn default(&self, obj: &mut Value) {
        if let Some(f) = self.defaulter {
            f(obj);
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        if self.has_status {
            strip_status(obj);
        }
        if let Some(f) = self.initial_status {
            obj["status"] = f();
        }
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if self.has_status {
            keep_old_status(new, old);
        }
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        self.validator.map(|f| f(obj)).unwrap_or_default()
    }
    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        self.update_validator.map(|f| f(new, old)).unwrap_or_default()
    }
    fn tracks_generation(&self) -> bool {
        self.generation
    }
}

/// Namespaces: the `kubernetes` finalizer, `Active` phase and the
/// `kubernetes.io/metadata.name` label.
pub struct NamespaceStrategy;

pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Namespaces that exist from the first start and may not be deleted.
pub const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl Strategy for NamespaceStrategy {
    fn name_rule(&self) -> NameRule {
        NameRule::Label
    }

    fn default(&self, obj: &mut Value) {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        if !name.is_empty() {
            super::defaults::set_default(obj, &["metadata", "labels"], json!({}));
            obj["metadata"]["labels"][NAME_LABEL] = json!(name);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Active"});
        obj["spec"] = json!({"finalizers": ["kubernetes"]});
    }

    fn check_delete(&self, obj: &Value) -> Result<(), String> {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        if PROTECTED_NAMESPACES.contains(&name) {
            return Err("this namespace may not be deleted".into());
        }
        Ok(())
    }

    fn mark_deleting(&self, obj: &mut Value) {
        obj["status"] = json!({"phase": "Terminating"});
    }

    fn holds_deletion(&self, obj: &Value) -> bool {
        obj.pointer("/spec/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty())
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
        match old.get("spec") {
            Some(spec) => new["spec"] = spec.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("spec");
                }
            }
        }
    }
}

/// Nodes: `spec` is user-writable (taints, unschedulable, podCIDR once);
/// status comes from the node agent.
pub struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn prepare_for_create(&self, _obj: &mut Value) {
        // A node agent registers its node with status in the create; keep it.
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let old_cidr = old.pointer("/spec/podCIDR").and_then(Value::as_str).unwrap_or("");
        let new_cidr = new.pointer("/spec/podCIDR").and_then(Value::as_str).unwrap_or("");
        if !old_cidr.is_empty() && old_cidr != new_cidr {
            return vec![FieldError::forbidden("spec.podCIDRs", "node updates may not change podCIDR except from \"\" to valid")];
        }
        Vec::new()
    }
}
