//! Workload controllers' objects (apps/v1, batch/v1): template defaulting,
//! selector/template agreement, immutable selectors, generation tracking.

use serde_json::{json, Map, Value};

use super::{defaults, defaults::set_default, immutable, keep_old_status, pod::validate_pod_spec, strip_status, Strategy};
use crate::error::FieldError;

/// Validation shared by every kind with `spec.selector` + `spec.template`.
fn validate_selector_and_template(obj: &Value, template_path: &str, require_selector: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let selector = obj.pointer("/spec/selector");
    let template_labels = obj
        .pointer(&format!("/spec/{}/metadata/labels", template_path.replace('.', "/")))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let empty_selector = selector.is_none_or(|s| {
        s.get("matchLabels").and_then(Value::as_object).is_none_or(Map::is_empty)
            && s.get("matchExpressions").and_then(Value::as_array).is_none_or(Vec::is_empty)
    });
    if require_selector && empty_selector {
        errs.push(FieldError::required("spec.selector", ""));
    }
    if !empty_selector {
        if let Some(sel) = selector {
            let matches = selector_matches(sel, &template_labels);
            match matches {
                Ok(true) => {}
                Ok(false) => errs.push(FieldError::invalid(
                    format!("spec.{template_path}.metadata.labels"),
                    &Value::String(format!("map[string]string{}", go_map(&template_labels))),
                    "`selector` does not match template `labels`",
                )),
                Err(m) => errs.push(FieldError::invalid("spec.selector", sel, &m)),
            }
        }
    }
    let claims: Vec<&str> = obj
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|c| c.pointer("/metadata/name").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    if let Some(spec) = obj.pointer(&format!("/spec/{}/spec", template_path.replace('.', "/"))) {
        errs.extend(super::pod::validate_pod_spec_with_claims(spec, &format!("spec.{template_path}.spec"), &claims));
    }
    errs
}

fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> Result<bool, String> {
    let typed: k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector =
        serde_json::from_value(selector.clone()).map_err(|e| e.to_string())?;
    let parsed = apimachinery::selector::labels::LabelSelector::from_k8s(&typed).map_err(|e| e.to_string())?;
    Ok(parsed.matches(labels))
}

/// Renders labels as Go's `%v` of a map does: `{"app":"web"}` style used in messages.
fn go_map(labels: &Map<String, Value>) -> String {
    let items: Vec<String> =
        labels.iter().map(|(k, v)| format!("{k:?}:{:?}", v.as_str().unwrap_or_default())).collect();
    format!("{{{}}}", items.join(", "))
}

fn validate_replicas(obj: &Value) -> Vec<FieldError> {
    match obj.pointer("/spec/replicas").and_then(Value::as_i64) {
        Some(n) if n < 0 => vec![FieldError::invalid("spec.replicas", &json!(n), "must be greater than or equal to 0")],
        _ => Vec::new(),
    }
}

fn selector_immutable(new: &Value, old: &Value) -> Vec<FieldError> {
    immutable(new, old, &["spec", "selector"], "spec.selector").into_iter().collect()
}

macro_rules! workload_strategy {
    ($name:ident, defaults = $defaults:expr, validate = $validate:expr, update = $update:expr) => {
        pub struct $name;
        impl Strategy for $name {
            fn default(&self, obj: &mut Value) {
                let f: fn(&mut Value) = $defaults;
                f(obj);
            }
            fn prepare_for_create(&self, obj: &mut Value) {
                strip_status(obj);
            }
            fn prepare_for_update(&self, new: &mut Value, old: &Value) {
                keep_old_status(new, old);
            }
            fn validate(&self, obj: &Value) -> Vec<FieldError> {
                let f: fn(&Value) -> Vec<FieldError> = $validate;
                f(obj)
            }
            fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
                let f: fn(&Value, &Value) -> Vec<FieldError> = $update;
                f(new, old)
            }
            fn tracks_generation(&self) -> bool {
                true
            }
        }
    };
}

workload_strategy!(
    DeploymentStrategy,
    defaults = |obj| {
        set_default(obj, &["spec", "replicas"], json!(1));
        let strategy_type = obj.pointer("/spec/strategy/type").and_then(Value::as_str).unwrap_or("RollingUpdate").to_string();
        set_default(obj, &["spec", "strategy", "type"], json!(strategy_type));
        if strategy_type == "RollingUpdate" {
            set_default(obj, &["spec", "strategy", "rollingUpdate", "maxUnavailable"], json!("25%"));
            set_default(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"], json!("25%"));
        }
        set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        set_default(obj, &["spec", "progressDeadlineSeconds"], json!(600));
        defaults::pod_template(obj, &["spec", "template"]);
    },
    validate = |obj| {
        let mut errs = validate_replicas(obj);
        errs.extend(validate_selector_and_template(obj, "template", true));
        if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
            && obj.pointer("/spec/strategy/rollingUpdate").is_some()
        {
            errs.push(FieldError::forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"));
        }
        if let Some(p) = obj.pointer("/spec/template/spec/restartPolicy").and_then(Value::as_str) {
            if p != "Always" {
                errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", &json!(p), &["Always"]));
            }
        }
        errs
    },
    update = selector_immutable
);

workload_strategy!(
    ReplicaSetStrategy,
    defaults = |obj| {
        set_default(obj, &["spec", "replicas"], json!(1));
        defaults::pod_template(obj, &["spec", "template"]);
    },
    validate = |obj| {
        let mut errs = validate_replicas(obj);
        errs.extend(validate_selector_and_template(obj, "template", true));
        errs
    },
    update = selector_immutable
);

workload_strategy!(
    ReplicationControllerStrategy,
    defaults = |obj| {
        set_default(obj, &["spec", "replicas"], json!(1));
        // The selector defaults to the template's labels.
        if obj.pointer("/spec/selector").is_none_or(|s| s.as_object().is_none_or(Map::is_empty)) {
            if let Some(labels) = obj.pointer("/spec/template/metadata/labels").cloned() {
                obj["spec"]["selector"] = labels;
            }
        }
        defaults::pod_template(obj, &["spec", "template"]);
    },
    validate = |obj| {
        let mut errs = validate_replicas(obj);
        if let Some(spec) = obj.pointer("/spec/template/spec") {
            errs.extend(validate_pod_spec(spec, "spec.template.spec"));
        }
        errs
    },
    update = |_, _| Vec::new()
);

workload_strategy!(
    StatefulSetStrategy,
    defaults = |obj| {
        set_default(obj, &["spec", "replicas"], json!(1));
        set_default(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
        let ty = obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str).unwrap_or("RollingUpdate").to_string();
        set_default(obj, &["spec", "updateStrategy", "type"], json!(ty));
        if ty == "RollingUpdate" {
            set_default(obj, &["spec", "updateStrategy", "rollingUpdate", "partition"], json!(0));
        }
        set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        set_default(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], json!("Retain"));
        set_default(obj, &["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], json!("Retain"));
        if let Some(templates) = obj.pointer_mut("/spec/volumeClaimTemplates").and_then(Value::as_array_mut) {
            for t in templates {
                set_default(t, &["apiVersion"], json!("v1"));
                set_default(t, &["kind"], json!("PersistentVolumeClaim"));
                set_default(t, &["spec", "volumeMode"], json!("Filesystem"));
                set_default(t, &["status", "phase"], json!("Pending"));
            }
        }
        defaults::pod_template(obj, &["spec", "template"]);
    },
    validate = |obj| {
        let mut errs = validate_replicas(obj);
        errs.extend(validate_selector_and_template(obj, "template", true));
        errs
    },
    update = |new, old| {
        // Upstream forbids changing anything but replicas, ordinals, template,
        // updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds.
        let mut n = new.get("spec").cloned().unwrap_or(Value::Null);
        let o = old.get("spec").cloned().unwrap_or(Value::Null);
        for key in ["replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy", "minReadySeconds", "revisionHistoryLimit"] {
            match o.get(key) {
                Some(v) => n[key] = v.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove(key);
                    }
                }
            }
        }
        if n != o {
            return vec![FieldError::forbidden("spec", "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")];
        }
        Vec::new()
    }
);

workload_strategy!(
    DaemonSetStrategy,
    defaults = |obj| {
        let ty = obj.pointer("/spec/updateStrategy/type").and_then(Value::as_str).unwrap_or("RollingUpdate").to_string();
        set_default(obj, &["spec", "updateStrategy", "type"], json!(ty));
        if ty == "RollingUpdate" {
            set_default(obj, &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], json!(1));
            set_default(obj, &["spec", "updateStrategy", "rollingUpdate", "maxSurge"], json!(0));
        }
        set_default(obj, &["spec", "revisionHistoryLimit"], json!(10));
        defaults::pod_template(obj, &["spec", "template"]);
    },
    validate = |obj| validate_selector_and_template(obj, "template", true),
    update = selector_immutable
);

workload_strategy!(
    JobStrategy,
    defaults = |obj| job_defaults(obj),
    validate = |obj| {
        let mut errs = Vec::new();
        if let Some(spec) = obj.pointer("/spec/template/spec") {
            errs.extend(validate_pod_spec(spec, "spec.template.spec"));
            match spec.get("restartPolicy").and_then(Value::as_str) {
                Some("OnFailure") | Some("Never") => {}
                other => errs.push(FieldError::not_supported(
                    "spec.template.spec.restartPolicy",
                    &json!(other.unwrap_or("")),
                    &["OnFailure", "Never"],
                )),
            }
        }
        for key in ["parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"] {
            if let Some(n) = obj.pointer(&format!("/spec/{key}")).and_then(Value::as_i64) {
                if n < 0 {
                    errs.push(FieldError::invalid(format!("spec.{key}"), &json!(n), "must be greater than or equal to 0"));
                }
            }
        }
        errs
    },
    update = |new, old| {
        let mut errs: Vec<FieldError> = selector_immutable(new, old);
        errs.extend(immutable(new, old, &["spec", "completions"], "spec.completions"));
        errs.extend(immutable(new, old, &["spec", "completionMode"], "spec.completionMode"));
        let suspended = old.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false);
        if !suspended {
            errs.extend(immutable(new, old, &["spec", "template"], "spec.template"));
        }
        errs
    }
);

/// Job defaults, including the generated selector and template labels
/// upstream adds on create (`batch.kubernetes.io/controller-uid`).
fn job_defaults(obj: &mut Value) {
    let parallelism_missing = obj.pointer("/spec/parallelism").is_none_or(Value::is_null);
    let completions_missing = obj.pointer("/spec/completions").is_none_or(Value::is_null);
    if completions_missing && parallelism_missing {
        set_default(obj, &["spec", "completions"], json!(1));
    }
    set_default(obj, &["spec", "parallelism"], json!(1));
    set_default(obj, &["spec", "backoffLimit"], json!(6));
    set_default(obj, &["spec", "completionMode"], json!("NonIndexed"));
    set_default(obj, &["spec", "suspend"], json!(false));
    set_default(obj, &["spec", "manualSelector"], Value::Null);
    set_default(obj, &["spec", "podReplacementPolicy"], json!("TerminatingOrFailed"));
    let manual = obj.pointer("/spec/manualSelector").and_then(Value::as_bool).unwrap_or(false);
    let uid = obj.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    if !manual && !uid.is_empty() && obj.pointer("/spec/selector").is_none_or(Value::is_null) {
        obj["spec"]["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
        set_default(obj, &["spec", "template", "metadata", "labels"], json!({}));
        if let Some(labels) = obj.pointer_mut("/spec/template/metadata/labels").and_then(Value::as_object_mut) {
            for (k, v) in [
                ("batch.kubernetes.io/controller-uid", &uid),
                ("batch.kubernetes.io/job-name", &name),
                ("controller-uid", &uid),
                ("job-name", &name),
            ] {
                labels.entry(k.to_string()).or_insert(json!(v));
            }
        }
    }
    defaults::pod_template(obj, &["spec", "template"]);
}

workload_strategy!(
    CronJobStrategy,
    defaults = |obj| {
        set_default(obj, &["spec", "concurrencyPolicy"], json!("Allow"));
        set_default(obj, &["spec", "suspend"], json!(false));
        set_default(obj, &["spec", "successfulJobsHistoryLimit"], json!(3));
        set_default(obj, &["spec", "failedJobsHistoryLimit"], json!(1));
        defaults::pod_template(obj, &["spec", "jobTemplate", "spec", "template"]);
    },
    validate = |obj| {
        let mut errs = Vec::new();
        match obj.pointer("/spec/schedule").and_then(Value::as_str) {
            None | Some("") => errs.push(FieldError::required("spec.schedule", "")),
            Some(s) => {
                if let Err(m) = crate::strategy::workloads::validate_cron(s) {
                    errs.push(FieldError::invalid("spec.schedule", &json!(s), &m));
                }
            }
        }
        if let Some(spec) = obj.pointer("/spec/jobTemplate/spec/template/spec") {
            errs.extend(validate_pod_spec(spec, "spec.jobTemplate.spec.template.spec"));
        }
        errs
    },
    update = |_, _| Vec::new()
);

/// Light syntax check of a cron schedule: a macro or five fields.
pub fn validate_cron(schedule: &str) -> Result<(), String> {
    let s = schedule.trim();
    let s = match s.strip_prefix("TZ=").or_else(|| s.strip_prefix("CRON_TZ=")) {
        Some(_) => return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into()),
        None => s,
    };
    if s.starts_with('@') {
        return match s {
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly" => Ok(()),
            _ if s.starts_with("@every ") => Ok(()),
            _ => Err(format!("unrecognized descriptor: {s}")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected exactly 5 fields, found {}: {s}", fields.len()));
    }
    let ok = fields.iter().all(|f| f.chars().all(|c| c.is_ascii_alphanumeric() || "*/,-?".contains(c)));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid cron expression: {s}"))
    }
}

pub use ReplicationControllerStrategy as RcStrategy;
