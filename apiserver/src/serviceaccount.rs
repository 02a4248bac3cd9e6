//! Service-account tokens: `serviceaccounts/token` (TokenRequest) issues
//! RS256 JWTs signed with the cluster's service-account key; the
//! authenticator accepts them while the service account (and the pod a
//! token is bound to) still exists; OIDC discovery documents publish the key.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::{Extensions, HeaderMap};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::{bearer_token, AuthOutcome, Authenticator, UserInfo};
use crate::cache::WatchCache;
use crate::registry::Registry;

/// The key pair and issuer.
pub struct Issuer {
    pub issuer: String,
    /// Audiences the API server accepts (default: the issuer).
    pub api_audiences: Vec<String>,
    encoding: EncodingKey,
    verifier: pki::Rs256Verifier,
    pub jwk: pki::Jwk,
}

impl Issuer {
    pub fn from_pem(issuer: &str, private_key_pem: &str, public_key_pem: &str) -> Result<Self, String> {
        let encoding = EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|e| format!("service-account signing key: {e}"))?;
        let verifier = pki::Rs256Verifier::from_public_key_pem(public_key_pem).map_err(|e| format!("service-account public key: {e}"))?;
        let jwk = pki::jwk_from_public_key_pem(public_key_pem).map_err(|e| format!("service-account public key: {e}"))?;
        Ok(Issuer { issuer: issuer.to_string(), api_audiences: vec![issuer.to_string()], encoding, verifier, jwk })
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.jwk.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| format!("signing the token: {e}"))
    }

    /// The signature is checked on ring ([`pki::Rs256Verifier`], several
    /// times faster than jsonwebtoken's pure-Rust RSA); then the header's
    /// algorithm, issuer, audience and validity window, with no leeway.
    pub fn verify(&self, token: &str, audiences: &[String]) -> Result<Claims, String> {
        if !self.verifier.verify_compact(token) {
            return Err("InvalidSignature".into());
        }
        let data = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).map_err(|e| e.to_string())?;
        if data.header.alg != Algorithm::RS256 {
            return Err("InvalidAlgorithm".into());
        }
        let claims = data.claims;
        if claims.iss != self.issuer {
            return Err("InvalidIssuer".into());
        }
        if !claims.aud.iter().any(|a| audiences.contains(a)) {
            return Err("InvalidAudience".into());
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        if claims.exp <= now {
            return Err("ExpiredSignature".into());
        }
        if claims.nbf > now {
            return Err("ImmatureSignature".into());
        }
        Ok(claims)
    }

    pub fn discovery_document(&self) -> Value {
        json!({
            "issuer": self.issuer,
            "jwks_uri": format!("{}/openid/v1/jwks", self.issuer.trim_end_matches('/')),
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    }

    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk]})
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KubernetesClaims {
    pub namespace: String,
    pub serviceaccount: Ref,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pod: Option<Ref>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaims,
}

/// Accepts service-account JWTs of our issuer while their service account
/// (and bound pod) still exist with the same uid.
pub struct TokenAuthenticator {
    pub issuer: Arc<Issuer>,
    pub cache: Arc<WatchCache>,
    pub registry: Arc<Registry>,
    pub root: String,
}

impl TokenAuthenticator {
    fn object_uid(&self, plural: &str, namespace: &str, name: &str) -> Option<String> {
        let def = self.registry.get("", "v1", plural)?;
        let obj = self.cache.get(def, &def.object_key(&self.root, Some(namespace), name))?;
        obj.value().pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string)
    }

    /// Check a token for `audiences` (TokenReview passes its own).
    pub fn review(&self, token: &str, audiences: &[String]) -> AuthOutcome {
        // Only tokens of our issuer are ours.
        let Ok(unverified) = jsonwebtoken::dangerous::insecure_decode::<Value>(token) else { return AuthOutcome::NotMine };
        if unverified.claims.get("iss").and_then(Value::as_str) != Some(self.issuer.issuer.as_str()) {
            return AuthOutcome::NotMine;
        }
        let claims = match self.issuer.verify(token, audiences) {
            Ok(c) => c,
            Err(e) => return AuthOutcome::Rejected(format!("invalid service-account token: {e}")),
        };
        let k = &claims.kubernetes;
        if self.object_uid("serviceaccounts", &k.namespace, &k.serviceaccount.name).as_deref() != Some(k.serviceaccount.uid.as_str()) {
            return AuthOutcome::Rejected("the service account of this token no longer exists".into());
        }
        if let Some(pod) = &k.pod {
            if self.object_uid("pods", &k.namespace, &pod.name).as_deref() != Some(pod.uid.as_str()) {
                return AuthOutcome::Rejected("the pod this token is bound to no longer exists".into());
            }
        }
        let mut extra = BTreeMap::new();
        if let Some(pod) = &k.pod {
            extra.insert("authentication.kubernetes.io/pod-name".to_string(), vec![pod.name.clone()]);
            extra.insert("authentication.kubernetes.io/pod-uid".to_string(), vec![pod.uid.clone()]);
        }
        extra.insert("authentication.kubernetes.io/credential-id".to_string(), vec![format!("JTI={}", claims.jti)]);
        AuthOutcome::User(UserInfo {
            name: claims.sub.clone(),
            uid: k.serviceaccount.uid.clone(),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{}", k.namespace),
                "system:authenticated".into(),
            ],
            extra,
        })
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate(&self, headers: &HeaderMap, _extensions: &Extensions) -> AuthOutcome {
        match bearer_token(headers) {
            Some(token) => self.review(token, &self.issuer.api_audiences),
            None => AuthOutcome::NotMine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let key = pki::generate_signing_key().unwrap();
        let issuer = Issuer::from_pem("https://kubernetes.default.svc.cluster.local", &key.private_key_pem, &key.public_key_pem).unwrap();
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            iss: issuer.issuer.clone(),
            sub: "system:serviceaccount:default:builder".into(),
            aud: issuer.api_audiences.clone(),
            exp: now + 600,
            iat: now,
            nbf: now,
            jti: "j1".into(),
            kubernetes: KubernetesClaims { namespace: "default".into(), serviceaccount: Ref { name: "builder".into(), uid: "u1".into() }, pod: None },
        };
        let token = issuer.sign(&claims).unwrap();
        assert_eq!(issuer.verify(&token, &issuer.api_audiences).unwrap(), claims);
        assert!(issuer.verify(&token, &["other".to_string()]).is_err(), "wrong audience");
        // Change one signature character well inside the signature (the last
        // one carries padding bits a decoder may ignore).
        let at = token.rfind('.').unwrap() + 10;
        let mut tampered = token.clone().into_bytes();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(issuer.verify(&tampered, &issuer.api_audiences).is_err());
        let expired = Claims { exp: now - 10, nbf: now - 20, iat: now - 20, ..claims };
        assert!(issuer.verify(&issuer.sign(&expired).unwrap(), &issuer.api_audiences).is_err());
    }
}
