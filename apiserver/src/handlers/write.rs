//! CREATE, UPDATE, DELETE and DELETECOLLECTION, plus the optimistic
//! read-modify-write loop (`guaranteed_update`) that patches and
//! subresources share.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::meta::{self, meta_str};
use super::{json_response, Ctx};
use crate::admission::{self, Operation};
use crate::codec::stamp::stamp_resource_version;
use crate::error::{ApiError, ApiResult};
use storage::StorageError;

const GENERATE_NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
const MAX_UPDATE_RETRIES: usize = 16;

fn generated_name(base: &str) -> String {
    let base = if base.len() > 58 { &base[..58] } else { base };
    let suffix: String = (0..5)
        .map(|_| GENERATE_NAME_ALPHABET[rand_index(GENERATE_NAME_ALPHABET.len())] as char)
        .collect();
    format!("{base}{suffix}")
}

fn rand_index(n: usize) -> usize {
    (uuid::Uuid::new_v4().as_u128() % n as u128) as usize
}

/// Everything a create does before storing, shared with create-on-update,
/// server-side apply and subresources that create.
pub async fn prepare_create(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    meta::apply_namespace(ctx, obj)?;
    meta::stamp_create(ctx, obj);
    ctx.def.strategy.prepare_for_create(obj);
    stamp_requester(ctx, obj);
    ctx.def.strategy.default(obj);
    admission::admit(ctx, Operation::Create, obj, None).await?;
    let mut errs = meta::validate_meta(&ctx.def, obj);
    errs.extend(ctx.def.strategy.validate(obj));
    meta::invalid_if_any(&ctx.def, obj, errs)?;
    admission::validate(ctx, Operation::Create, obj, None).await?;
    super::fields::track(ctx, None, obj);
    Ok(())
}

/// A CertificateSigningRequest records who asked for it (upstream's CSR
/// strategy): signers and approvers decide on that, never on the body.
fn stamp_requester(ctx: &Ctx, obj: &mut Value) {
    if ctx.def.group != "certificates.k8s.io" || ctx.def.plural != "certificatesigningrequests" {
        return;
    }
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return };
    let user = &ctx.user;
    spec.insert("username".into(), json!(user.name));
    for (key, value) in [("uid", json!(user.uid)), ("groups", json!(user.groups)), ("extra", json!(user.extra))] {
        let empty = value.as_str() == Some("") || value.as_array().is_some_and(Vec::is_empty) || value.as_object().is_some_and(|m| m.is_empty());
        if empty {
            spec.remove(key);
        } else {
            spec.insert(key.into(), value);
        }
    }
}

/// A stored object, and its JSON when the stored bytes gave it for free.
pub struct Written {
    pub object: Value,
    json: Option<Vec<u8>>,
}

impl Written {
    pub fn response(self, code: StatusCode, warnings: &[String]) -> Response {
        match self.json {
            Some(json) => super::raw_json_response(code, json, warnings),
            None => json_response(code, &self.object, warnings),
        }
    }
}

/// Store a prepared object; returns it with its resourceVersion.
pub async fn store_create(ctx: &Ctx, mut obj: Value, dry_run: bool) -> ApiResult<Written> {
    let name = meta_str(&obj, "name").to_string();
    crate::allocator::on_create(ctx, &mut obj, dry_run).await?;
    if dry_run {
        return Ok(Written { object: obj, json: None });
    }
    let key = ctx.key(&name);
    let stored = meta::encode_for_storage(&ctx.def, &obj);
    match ctx.state.store.create(&key, stored.clone()).await {
        Ok(kv) => {
            // Stored bytes are the served form unless the kind converts.
            let json = match ctx.def.conversion {
                None => stamp_resource_version(&stored, kv.mod_revision),
                Some(_) => None,
            };
            crate::cache::object::set_resource_version(&mut obj, kv.mod_revision);
            Ok(Written { object: obj, json })
        }
        Err(StorageError::AlreadyExists { .. }) => {
            crate::allocator::release(ctx, &obj).await;
            Err(ApiError::already_exists(ctx.def.group, ctx.def.plural, &name))
        }
        Err(e) => {
            crate::allocator::release(ctx, &obj).await;
            Err(e.into())
        }
    }
}

pub async fn create(ctx: Ctx) -> ApiResult<Response> {
    let body = meta::decode_object(&ctx)?;
    let dry_run = ctx.params.dry_run()?;
    let mut obj = Some(body.value);
    let generate = obj.as_ref().map(|o| meta_str(o, "generateName").to_string()).unwrap_or_default();
    let explicit = obj.as_ref().map(|o| meta_str(o, "name").to_string()).unwrap_or_default();
    let generated = explicit.is_empty() && !generate.is_empty();
    let mut last_err = ApiError::internal("create made no attempt");
    for attempt in 0..8 {
        // Only a generated name may need another attempt with the body.
        let mut candidate = match (generated, &mut obj) {
            (true, Some(body)) => body.clone(),
            (_, body) => match body.take() {
                Some(body) => body,
                None => break,
            },
        };
        if generated {
            meta::meta_mut(&mut candidate).insert("name".into(), json!(generated_name(&generate)));
        }
        prepare_create(&ctx, &mut candidate).await?;
        match store_create(&ctx, candidate, dry_run).await {
            // A generated name collided: try another one.
            Err(e @ ApiError::AlreadyExists { .. }) if generated && attempt < 7 => {
                last_err = e;
            }
            Err(e) => return Err(e),
            Ok(created) => return Ok(created.response(StatusCode::CREATED, &body.warnings)),
        }
    }
    Err(last_err)
}

/// Which rules an update follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    /// The main resource: spec and metadata; status is kept.
    Main,
    /// The status subresource: status only.
    Status,
    /// A subresource that prepared the complete new object itself.
    Raw,
}

/// The outcome of an update.
pub struct Updated {
    pub object: Value,
    pub created: bool,
}

/// Read-modify-write with optimistic concurrency. `mutate` turns the current
/// object (`None` if absent) into the desired one; a resourceVersion it
/// leaves in the result is a precondition (409 on mismatch), otherwise
/// conflicts are retried against the fresh object.
pub async fn guaranteed_update<F>(ctx: &Ctx, name: &str, kind: UpdateKind, dry_run: bool, mut mutate: F) -> ApiResult<Updated>
where
    F: FnMut(Option<&Value>) -> ApiResult<Value>,
{
    let key = ctx.key(name);
    for attempt in 0..MAX_UPDATE_RETRIES {
        // First try the watch cache's copy (as upstream's cached "suggestion"):
        // the conditional write below catches staleness, and any doubt falls
        // back to reading storage.
        let cached = if attempt == 0 { cached_kv(ctx, &key) } else { None };
        let from_cache = cached.is_some();
        let current = match cached {
            Some(kv) => Some(kv),
            None => ctx.state.store.get(&key).await?,
        };
        let Some(kv) = current else {
            let mut obj = mutate(None)?;
            if !allows_create_on_update(ctx) {
                return Err(ctx.not_found(name));
            }
            if meta::body_resource_version(&obj)?.is_some() {
                return Err(ctx.not_found(name));
            }
            prepare_create(ctx, &mut obj).await?;
            let created = store_create(ctx, obj, dry_run).await?;
            return Ok(Updated { object: created.object, created: true });
        };
        let old = meta::decode_stored(&ctx.def, &kv)?;
        let mut new = mutate(Some(&old))?;
        let precondition = meta::body_resource_version(&new)?;
        if let Some(rv) = precondition {
            if rv != kv.mod_revision && from_cache {
                continue;
            }
            if rv != kv.mod_revision {
                return Err(ApiError::conflict(
                    ctx.def.group,
                    ctx.def.plural,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                ));
            }
        }
        let body_name = meta_str(&new, "name").to_string();
        if !body_name.is_empty() && body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        meta::meta_mut(&mut new).insert("name".into(), json!(name));
        prepare_update(ctx, kind, &mut new, &old)?;
        admission::admit(ctx, Operation::Update, &mut new, Some(&old)).await?;
        admission::validate(ctx, Operation::Update, &new, Some(&old)).await?;
        super::fields::track(ctx, Some(&old), &mut new);
        if same_ignoring_rv(&new, &old) {
            return Ok(Updated { object: old, created: false });
        }
        crate::allocator::on_update(ctx, &mut new, &old, dry_run).await?;
        if dry_run {
            return Ok(Updated { object: new, created: false });
        }
        if finalized(ctx, &new) {
            return match ctx.state.store.delete(&key, Some(kv.mod_revision)).await {
                Ok((rev, _)) => {
                    crate::allocator::release(ctx, &new).await;
                    crate::cache::object::set_resource_version(&mut new, rev);
                    Ok(Updated { object: new, created: false })
                }
                Err(StorageError::Conflict { .. } | StorageError::NotFound { .. }) if precondition.is_none() || from_cache => continue,
                Err(StorageError::Conflict { .. }) => Err(conflict(ctx, name)),
                Err(StorageError::NotFound { .. }) => Err(ctx.not_found(name)),
                Err(e) => Err(e.into()),
            };
        }
        match ctx.state.store.update(&key, meta::encode_for_storage(&ctx.def, &new), kv.mod_revision).await {
            Ok(stored) => {
                crate::cache::object::set_resource_version(&mut new, stored.mod_revision);
                return Ok(Updated { object: new, created: false });
            }
            Err(StorageError::Conflict { .. } | StorageError::NotFound { .. }) if precondition.is_none() || from_cache => continue,
            Err(StorageError::Conflict { .. }) => return Err(conflict(ctx, name)),
            Err(StorageError::NotFound { .. }) => return Err(ctx.not_found(name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict(ctx, name))
}

/// The watch cache's copy of `key` as a storage key-value.
fn cached_kv(ctx: &Ctx, key: &str) -> Option<storage::KeyValue> {
    let obj = ctx.state.cache.get(&ctx.def, key)?;
    Some(storage::KeyValue { key: key.to_string(), value: obj.json.clone(), create_revision: 0, mod_revision: obj.revision })
}

fn conflict(ctx: &Ctx, name: &str) -> ApiError {
    ApiError::conflict(
        ctx.def.group,
        ctx.def.plural,
        name,
        "the object has been modified; please apply your changes to the latest version and try again",
    )
}

fn prepare_update(ctx: &Ctx, kind: UpdateKind, new: &mut Value, old: &Value) -> ApiResult<()> {
    meta::apply_namespace(ctx, new)?;
    match kind {
        UpdateKind::Main => {
            meta::carry_update_meta(new, old);
            ctx.def.strategy.prepare_for_update(new, old);
            ctx.def.strategy.default(new);
            meta::set_generation(ctx, new, old);
            let mut errs = meta::validate_meta(&ctx.def, new);
            errs.extend(ctx.def.strategy.validate(new));
            errs.extend(ctx.def.strategy.validate_update(new, old));
            meta::invalid_if_any(&ctx.def, new, errs)
        }
        UpdateKind::Status => {
            ctx.def.strategy.prepare_for_status_update(new, old);
            let errs = ctx.def.strategy.validate_status_update(new, old);
            meta::invalid_if_any(&ctx.def, new, errs)
        }
        UpdateKind::Raw => {
            meta::carry_update_meta(new, old);
            meta::set_generation(ctx, new, old);
            Ok(())
        }
    }
}

/// Whether two objects are equal but for `metadata.resourceVersion`
/// (compared in place: no copies).
fn same_ignoring_rv(a: &Value, b: &Value) -> bool {
    let (Value::Object(a), Value::Object(b)) = (a, b) else { return a == b };
    let same_meta = |x: Option<&Value>, y: Option<&Value>| match (x, y) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let significant = |m: &serde_json::Map<String, Value>| m.keys().filter(|k| *k != "resourceVersion").count();
            significant(x) == significant(y)
                && x.iter().filter(|(k, _)| *k != "resourceVersion").all(|(k, v)| y.get(k) == Some(v))
        }
        (x, y) => x == y,
    };
    a.len() == b.len()
        && a.iter().all(|(k, v)| if k == "metadata" { same_meta(Some(v), b.get(k)) } else { b.get(k) == Some(v) })
}

/// A deleted object whose last finalizer is gone goes away on this write.
fn finalized(ctx: &Ctx, obj: &Value) -> bool {
    let deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
    let finalizers = obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
    deleting && !finalizers && !ctx.def.strategy.holds_deletion(obj) && ctx.def.strategy.graceful_delete_seconds(obj, None).is_none_or(|_| {
        // Pods in graceful deletion stay until the node agent deletes them.
        obj.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) == Some(0)
    })
}

fn allows_create_on_update(ctx: &Ctx) -> bool {
    let is_apply = ctx
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/apply-patch"));
    is_apply || matches!((ctx.def.group, ctx.def.plural), ("", "endpoints") | ("", "events") | ("coordination.k8s.io", "leases") | ("discovery.k8s.io", "endpointslices"))
}

pub async fn update(ctx: Ctx) -> ApiResult<Response> {
    let body = meta::decode_object(&ctx)?;
    let dry_run = ctx.params.dry_run()?;
    let name = ctx.name().to_string();
    let value = body.value;
    let updated = guaranteed_update(&ctx, &name, UpdateKind::Main, dry_run, |_| Ok(value.clone())).await?;
    let code = if updated.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(code, &updated.object, &body.warnings))
}

/// `DeleteOptions` from the body and query.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub grace_period: Option<i64>,
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<i64>,
    pub dry_run: bool,
}

pub fn delete_options(ctx: &Ctx) -> ApiResult<DeleteOptions> {
    let mut opts = DeleteOptions { dry_run: ctx.params.dry_run()?, grace_period: ctx.params.int("gracePeriodSeconds")?, ..Default::default() };
    opts.propagation = ctx.params.get("propagationPolicy").map(str::to_string);
    if ctx.params.get("orphanDependents") == Some("true") {
        opts.propagation.get_or_insert_with(|| "Orphan".into());
    }
    if !ctx.body.iter().all(u8::is_ascii_whitespace) {
        let body: Value = serde_json::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions body: {e}")))?;
        if let Some(g) = body.get("gracePeriodSeconds").and_then(Value::as_i64) {
            opts.grace_period = Some(g);
        }
        if let Some(p) = body.get("propagationPolicy").and_then(Value::as_str) {
            opts.propagation = Some(p.to_string());
        }
        if body.get("orphanDependents").and_then(Value::as_bool) == Some(true) {
            opts.propagation.get_or_insert_with(|| "Orphan".into());
        }
        if let Some(uid) = body.pointer("/preconditions/uid").and_then(Value::as_str) {
            opts.precondition_uid = Some(uid.to_string());
        }
        if let Some(rv) = body.pointer("/preconditions/resourceVersion").and_then(Value::as_str) {
            opts.precondition_rv = rv.parse().ok();
        }
        if let Some(d) = body.get("dryRun").and_then(Value::as_array) {
            opts.dry_run |= d.iter().any(|x| x == "All");
        }
    }
    if let Some(p) = &opts.propagation {
        if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
            return Err(ApiError::invalid("", "DeleteOptions", "", vec![crate::error::FieldError::not_supported(
                "propagationPolicy",
                &json!(p),
                &["Foreground", "Background", "Orphan"],
            )]));
        }
    }
    if opts.grace_period.is_some_and(|g| g < 0) {
        opts.grace_period = Some(0);
    }
    Ok(opts)
}

/// Delete one object; returns the object as the response carries it.
pub async fn delete_object(ctx: &Ctx, name: &str, opts: &DeleteOptions) -> ApiResult<Value> {
    let key = ctx.key(name);
    let now = ctx.state.now_rfc3339();
    for _ in 0..MAX_UPDATE_RETRIES {
        let kv = ctx.state.store.get(&key).await?.ok_or_else(|| ctx.not_found(name))?;
        let mut obj = meta::decode_stored(&ctx.def, &kv)?;
        if let Some(uid) = &opts.precondition_uid {
            if meta_str(&obj, "uid") != uid {
                return Err(ApiError::conflict(ctx.def.group, ctx.def.plural, name, &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&obj, "uid")
                )));
            }
        }
        if let Some(rv) = opts.precondition_rv {
            if rv != kv.mod_revision {
                return Err(ApiError::conflict(ctx.def.group, ctx.def.plural, name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    kv.mod_revision
                )));
            }
        }
        ctx.def.strategy.check_delete(&obj).map_err(|reason| ApiError::forbidden(ctx.def.group, ctx.def.plural, name, &reason))?;
        admission::validate_delete(ctx, &obj).await?;
        let already_deleting = obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null());
        let grace = ctx.def.strategy.graceful_delete_seconds(&obj, opts.grace_period);
        let mut finalizers: Vec<Value> = obj.pointer("/metadata/finalizers").and_then(Value::as_array).cloned().unwrap_or_default();
        let policy_finalizer = match opts.propagation.as_deref() {
            Some("Orphan") => Some("orphan"),
            Some("Foreground") => Some("foregroundDeletion"),
            _ => None,
        };
        if let Some(f) = policy_finalizer {
            if !finalizers.iter().any(|x| x == f) {
                finalizers.push(json!(f));
            }
        }
        let held = !finalizers.is_empty() || ctx.def.strategy.holds_deletion(&obj);
        if !held && grace.is_none() {
            // Delete now.
            if opts.dry_run {
                return Ok(obj);
            }
            match ctx.state.store.delete(&key, Some(kv.mod_revision)).await {
                Ok((rev, _)) => {
                    crate::allocator::release(ctx, &obj).await;
                    crate::cache::object::set_resource_version(&mut obj, rev);
                    return Ok(obj);
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(StorageError::NotFound { .. }) => return Err(ctx.not_found(name)),
                Err(e) => return Err(e.into()),
            }
        }
        if already_deleting && policy_finalizer.is_none() && grace.is_none_or(|g| {
            obj.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64).is_some_and(|cur| cur <= g)
        }) {
            // Nothing to shorten or add: report the pending deletion.
            return Ok(obj);
        }
        let m = meta::meta_mut(&mut obj);
        let grace_secs = grace.unwrap_or(0);
        let deletion_time = ctx.state.now().checked_add(jiff::SignedDuration::from_secs(grace_secs)).map(|t| t.to_string()).unwrap_or(now.clone());
        if !already_deleting || grace.is_some() {
            m.insert("deletionTimestamp".into(), json!(deletion_time));
        }
        m.insert("deletionGracePeriodSeconds".into(), json!(grace_secs));
        m.insert("finalizers".into(), Value::Array(finalizers));
        ctx.def.strategy.mark_deleting(&mut obj);
        if opts.dry_run {
            return Ok(obj);
        }
        match ctx.state.store.update(&key, meta::encode_for_storage(&ctx.def, &obj), kv.mod_revision).await {
            Ok(stored) => {
                crate::cache::object::set_resource_version(&mut obj, stored.mod_revision);
                return Ok(obj);
            }
            Err(StorageError::Conflict { .. }) => continue,
            Err(StorageError::NotFound { .. }) => return Err(ctx.not_found(name)),
            Err(e) => return Err(e.into()),
        }
    }
    Err(conflict(ctx, name))
}

pub async fn delete(ctx: Ctx) -> ApiResult<Response> {
    let opts = delete_options(&ctx)?;
    let name = ctx.name().to_string();
    let obj = delete_object(&ctx, &name, &opts).await?;
    Ok(json_response(StatusCode::OK, &obj, &[]))
}

pub async fn delete_collection(ctx: Ctx) -> ApiResult<Response> {
    let opts = delete_options(&ctx)?;
    let filter = super::read::filter(&ctx)?;
    let page = super::read::list_page(&ctx, &filter).await?;
    let mut deleted = Vec::new();
    for item in &page.items {
        match delete_object(&ctx, &item.name, &opts).await {
            Ok(obj) => deleted.push(obj),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let list = json!({
        "kind": ctx.def.list_kind,
        "apiVersion": ctx.def.api_version(),
        "metadata": {"resourceVersion": ctx.state.cache.revision().to_string()},
        "items": deleted,
    });
    Ok(json_response(StatusCode::OK, &list, &[]))
}

#[cfg(test)]
mod tests {
    use super::same_ignoring_rv;
    use serde_json::json;

    #[test]
    fn same_ignoring_rv_compares_everything_but_the_resource_version() {
        let base = json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "v"}});
        let cases = [
            ("only the resourceVersion differs", json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "9"}, "data": {"k": "v"}}), true),
            ("no resourceVersion at all", json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}), true),
            ("key order differs", json!({"data": {"k": "v"}, "metadata": {"resourceVersion": "2", "name": "a"}, "kind": "ConfigMap"}), true),
            ("data differs", json!({"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "w"}}), false),
            ("a label added", json!({"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}}), false),
            ("a top-level field added", json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}, "immutable": true}), false),
            ("metadata missing", json!({"kind": "ConfigMap", "data": {"k": "v"}, "x": 1}), false),
        ];
        for (name, other, want) in cases {
            assert_eq!(same_ignoring_rv(&base, &other), want, "{name}");
            assert_eq!(same_ignoring_rv(&other, &base), want, "{name} (swapped)");
        }
    }
}
