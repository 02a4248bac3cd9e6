//! Service ClusterIP and NodePort allocation. Each allocated IP or port is a
//! reservation key in storage (`<root>/ranges/serviceips/<ip>`,
//! `<root>/ranges/servicenodeports/<port>`), created with create-if-absent, so
//! allocations are durable and conflict-free across API servers sharing one
//! store. The key's value names the owning Service.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult, FieldError};
use crate::handlers::Ctx;
use storage::StorageError;

/// The ranges allocations come from.
#[derive(Debug, Clone)]
pub struct Allocators {
    pub service_network: Ipv4Addr,
    pub service_prefix: u8,
    pub node_port_min: u16,
    pub node_port_max: u16,
}

impl Default for Allocators {
    fn default() -> Self {
        Allocators { service_network: Ipv4Addr::new(10, 96, 0, 0), service_prefix: 12, node_port_min: 30000, node_port_max: 32767 }
    }
}

impl Allocators {
    /// Parse `10.96.0.0/12`.
    pub fn with_service_cidr(mut self, cidr: &str) -> Result<Self, String> {
        let (ip, len) = cidr.split_once('/').ok_or_else(|| format!("service CIDR {cidr:?} must look like 10.96.0.0/12"))?;
        let ip: Ipv4Addr = ip.parse().map_err(|e| format!("service CIDR {cidr:?}: {e}"))?;
        let len: u8 = len.parse().map_err(|e| format!("service CIDR {cidr:?}: {e}"))?;
        if !(8..=30).contains(&len) {
            return Err(format!("service CIDR {cidr:?}: prefix length must be between 8 and 30"));
        }
        let mask = u32::MAX << (32 - len);
        self.service_network = Ipv4Addr::from(u32::from(ip) & mask);
        self.service_prefix = len;
        Ok(self)
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.service_prefix)
    }

    /// The first usable IP, reserved for the `kubernetes` Service.
    pub fn first_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.service_network) + 1)
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.service_prefix);
        u32::from(ip) & mask == u32::from(self.service_network)
    }
}

fn ip_key(root: &str, ip: Ipv4Addr) -> String {
    format!("{root}/ranges/serviceips/{ip}")
}

fn port_key(root: &str, port: i64) -> String {
    format!("{root}/ranges/servicenodeports/{port}")
}

fn owner(obj: &Value) -> String {
    format!(
        "{}/{}",
        obj.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(""),
        obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
    )
}

fn is_service(ctx: &Ctx) -> bool {
    ctx.def.group.is_empty() && ctx.def.plural == "services"
}

fn random_u32() -> u32 {
    (uuid::Uuid::new_v4().as_u128() & 0xffff_ffff) as u32
}

/// Reserve `key` for `owner`; `Ok(false)` if someone else holds it.
async fn reserve(ctx: &Ctx, key: &str, owner: &str, dry_run: bool) -> ApiResult<bool> {
    if dry_run {
        return Ok(ctx.state.store.get(key).await?.is_none_or(|kv| kv.value == owner.as_bytes()));
    }
    match ctx.state.store.create(key, bytes::Bytes::from(owner.to_string())).await {
        Ok(_) => Ok(true),
        Err(StorageError::AlreadyExists { .. }) => {
            Ok(ctx.state.store.get(key).await?.is_some_and(|kv| kv.value == owner.as_bytes()))
        }
        Err(e) => Err(e.into()),
    }
}

async fn unreserve(ctx: &Ctx, key: &str, owner: &str) {
    if let Ok(Some(kv)) = ctx.state.store.get(key).await {
        if kv.value == owner.as_bytes() {
            if let Err(e) = ctx.state.store.delete(key, Some(kv.mod_revision)).await {
                tracing::warn!(key, error = %e, "could not release allocation");
            }
        }
    }
}

fn needs_cluster_ip(spec: &Value) -> bool {
    spec.get("type").and_then(Value::as_str) != Some("ExternalName")
}

fn needs_node_ports(spec: &Value) -> bool {
    matches!(spec.get("type").and_then(Value::as_str), Some("NodePort") | Some("LoadBalancer"))
}

/// Allocate the ClusterIP and node ports of a Service being created.
pub async fn on_create(ctx: &Ctx, obj: &mut Value, dry_run: bool) -> ApiResult<()> {
    if !is_service(ctx) {
        return Ok(());
    }
    let who = owner(obj);
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    if needs_cluster_ip(&spec) {
        let requested = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("").to_string();
        let ip = match requested.as_str() {
            "None" => None,
            "" => Some(allocate_ip(ctx, &who, dry_run).await?),
            s => {
                let ip: Ipv4Addr = s.parse().map_err(|_| invalid_ip(&name, s, "must be a valid IPv4 address"))?;
                if !ctx.state.allocators.contains(ip) {
                    return Err(invalid_ip(&name, s, &format!(
                        "failed to allocate IP {s}: the provided IP ({s}) is not in the valid range. The range of valid IPs is {}/{}",
                        ctx.state.allocators.service_network, ctx.state.allocators.service_prefix
                    )));
                }
                if !reserve(ctx, &ip_key(&ctx.state.root, ip), &who, dry_run).await? {
                    return Err(invalid_ip(&name, s, &format!("failed to allocate IP {s}: provided IP is already allocated")));
                }
                Some(ip)
            }
        };
        let spec = &mut obj["spec"];
        match ip {
            Some(ip) => {
                spec["clusterIP"] = json!(ip.to_string());
                spec["clusterIPs"] = json!([ip.to_string()]);
            }
            None => {
                spec["clusterIP"] = json!("None");
                spec["clusterIPs"] = json!(["None"]);
            }
        }
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    if needs_node_ports(&spec) {
        allocate_node_ports(ctx, obj, &who, &name, dry_run).await?;
    }
    Ok(())
}

fn invalid_ip(name: &str, ip: &str, detail: &str) -> ApiError {
    ApiError::invalid("", "Service", name, vec![FieldError::invalid("spec.clusterIPs", &json!([ip]), detail)])
}

async fn allocate_ip(ctx: &Ctx, who: &str, dry_run: bool) -> ApiResult<Ipv4Addr> {
    let a = &ctx.state.allocators;
    let size = a.size();
    let base = u32::from(a.service_network);
    // Random probing first, then a scan: a full range reports clearly.
    for _ in 0..64 {
        let offset = 2 + random_u32() % (size - 3);
        let ip = Ipv4Addr::from(base + offset);
        if reserve(ctx, &ip_key(&ctx.state.root, ip), who, dry_run).await? {
            return Ok(ip);
        }
    }
    for offset in 2..size - 1 {
        let ip = Ipv4Addr::from(base + offset);
        if reserve(ctx, &ip_key(&ctx.state.root, ip), who, dry_run).await? {
            return Ok(ip);
        }
    }
    Err(ApiError::internal("failed to allocate a serviceIP: range is full"))
}

async fn allocate_node_ports(ctx: &Ctx, obj: &mut Value, who: &str, name: &str, dry_run: bool) -> ApiResult<()> {
    let (min, max) = (ctx.state.allocators.node_port_min as i64, ctx.state.allocators.node_port_max as i64);
    let Some(ports) = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut) else { return Ok(()) };
    for (i, p) in ports.iter_mut().enumerate() {
        match p.get("nodePort").and_then(Value::as_i64).filter(|n| *n != 0) {
            Some(n) => {
                if !(min..=max).contains(&n) {
                    return Err(ApiError::invalid("", "Service", name, vec![FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(n),
                        &format!("provided port is not in the valid range. The range of valid ports is {min}-{max}"),
                    )]));
                }
                if !reserve(ctx, &port_key(&ctx.state.root, n), who, dry_run).await? {
                    return Err(ApiError::invalid("", "Service", name, vec![FieldError::invalid(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(n),
                        "provided port is already allocated",
                    )]));
                }
            }
            None => {
                let mut chosen = None;
                for attempt in 0..(max - min + 1 + 64) {
                    let n = if attempt < 64 { min + (random_u32() as i64 % (max - min + 1)) } else { min + attempt - 64 };
                    if reserve(ctx, &port_key(&ctx.state.root, n), who, dry_run).await? {
                        chosen = Some(n);
                        break;
                    }
                }
                let n = chosen.ok_or_else(|| ApiError::internal("failed to allocate a nodePort: range is full"))?;
                p["nodePort"] = json!(n);
            }
        }
    }
    Ok(())
}

/// Allocation changes on update: new node ports when a Service becomes
/// NodePort/LoadBalancer, released ones when it stops being one.
pub async fn on_update(ctx: &Ctx, new: &mut Value, old: &Value, dry_run: bool) -> ApiResult<()> {
    if !is_service(ctx) {
        return Ok(());
    }
    let who = owner(new);
    let name = new.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    let new_spec = new.get("spec").cloned().unwrap_or(Value::Null);
    let old_spec = old.get("spec").cloned().unwrap_or(Value::Null);
    if needs_node_ports(&new_spec) {
        allocate_node_ports(ctx, new, &who, &name, dry_run).await?;
    } else if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports {
            if let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
        }
    }
    if needs_cluster_ip(&new_spec) && new_spec.get("clusterIP").and_then(Value::as_str).is_none_or(str::is_empty) {
        // Switching from ExternalName: allocate.
        let ip = allocate_ip(ctx, &who, dry_run).await?;
        new["spec"]["clusterIP"] = json!(ip.to_string());
        new["spec"]["clusterIPs"] = json!([ip.to_string()]);
    }
    if dry_run {
        return Ok(());
    }
    let kept: Vec<i64> = node_ports(new);
    for port in node_ports(old) {
        if !kept.contains(&port) {
            unreserve(ctx, &port_key(&ctx.state.root, port), &who).await;
        }
    }
    if !needs_cluster_ip(&new_spec) && needs_cluster_ip(&old_spec) {
        if let Some(ip) = old_spec.get("clusterIP").and_then(Value::as_str).and_then(|s| s.parse().ok()) {
            unreserve(ctx, &ip_key(&ctx.state.root, ip), &who).await;
        }
    }
    Ok(())
}

fn node_ports(obj: &Value) -> Vec<i64> {
    obj.pointer("/spec/ports")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| p.get("nodePort").and_then(Value::as_i64)).collect())
        .unwrap_or_default()
}

/// Release everything a deleted (or never stored) Service held.
pub async fn release(ctx: &Ctx, obj: &Value) {
    if !is_service(ctx) {
        return;
    }
    let who = owner(obj);
    if let Some(ip) = obj.pointer("/spec/clusterIP").and_then(Value::as_str).and_then(|s| s.parse().ok()) {
        unreserve(ctx, &ip_key(&ctx.state.root, ip), &who).await;
    }
    for port in node_ports(obj) {
        unreserve(ctx, &port_key(&ctx.state.root, port), &who).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parsing() {
        let a = Allocators::default().with_service_cidr("10.100.5.7/16").unwrap();
        assert_eq!(a.service_network, Ipv4Addr::new(10, 100, 0, 0));
        assert_eq!(a.first_ip(), Ipv4Addr::new(10, 100, 0, 1));
        assert!(a.contains(Ipv4Addr::new(10, 100, 200, 1)));
        assert!(!a.contains(Ipv4Addr::new(10, 101, 0, 1)));
        assert!(Allocators::default().with_service_cidr("nonsense").is_err());
    }
}
