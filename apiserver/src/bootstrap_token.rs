//! Bootstrap tokens (`<6>.<16>`): kube-system Secrets of type
//! `bootstrap.kubernetes.io/token` authenticate joining nodes as
//! `system:bootstrap:<id>` in `system:bootstrappers` (+ extra groups).

use std::sync::Arc;

use axum::http::{Extensions, HeaderMap};
use base64::Engine;
use serde_json::Value;

use crate::auth::{bearer_token, AuthOutcome, Authenticator, UserInfo};
use crate::cache::WatchCache;
use crate::registry::Registry;

pub struct BootstrapTokenAuthenticator {
    pub cache: Arc<WatchCache>,
    pub registry: Arc<Registry>,
    pub root: String,
    pub clock: Arc<dyn crate::state::Clock>,
}

/// Split `abcdef.0123456789abcdef` into id and secret.
pub fn parse_token(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

fn data(secret: &Value, key: &str) -> Option<String> {
    let b64 = secret.pointer(&format!("/data/{key}"))?.as_str()?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(raw).ok()
}

impl Authenticator for BootstrapTokenAuthenticator {
    fn authenticate(&self, headers: &HeaderMap, _extensions: &Extensions) -> AuthOutcome {
        let Some(token) = bearer_token(headers) else { return AuthOutcome::NotMine };
        let Some((id, secret)) = parse_token(token) else { return AuthOutcome::NotMine };
        let Some(def) = self.registry.get("", "v1", "secrets") else { return AuthOutcome::NotMine };
        let key = def.object_key(&self.root, Some("kube-system"), &format!("bootstrap-token-{id}"));
        let Some(obj) = self.cache.get(def, &key) else { return AuthOutcome::Rejected("unknown bootstrap token".into()) };
        let s = obj.value();
        let valid = s.get("type").and_then(Value::as_str) == Some("bootstrap.kubernetes.io/token")
            && s.pointer("/metadata/deletionTimestamp").is_none_or(Value::is_null)
            && data(&s, "token-id").as_deref() == Some(id)
            && data(&s, "token-secret").as_deref() == Some(secret)
            && data(&s, "usage-bootstrap-authentication").as_deref() == Some("true");
        if !valid {
            return AuthOutcome::Rejected("invalid bootstrap token".into());
        }
        if let Some(exp) = data(&s, "expiration") {
            match exp.parse::<jiff::Timestamp>() {
                Ok(t) if t > self.clock.now() => {}
                _ => return AuthOutcome::Rejected("expired bootstrap token".into()),
            }
        }
        let mut groups = vec!["system:bootstrappers".to_string()];
        if let Some(extra) = data(&s, "auth-extra-groups") {
            groups.extend(extra.split(',').map(str::trim).filter(|g| g.starts_with("system:bootstrappers:")).map(str::to_string));
        }
        groups.push("system:authenticated".into());
        AuthOutcome::User(UserInfo { name: format!("system:bootstrap:{id}"), groups, ..Default::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_token;

    #[test]
    fn token_format() {
        assert_eq!(parse_token("abcdef.0123456789abcdef"), Some(("abcdef", "0123456789abcdef")));
        for bad in ["abcdef0123456789abcdef", "ABCDEF.0123456789abcdef", "abcde.0123456789abcdef", "abcdef.0123456789abcde", ""] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }
}
