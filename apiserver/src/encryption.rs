//! Encryption at rest, configured like upstream's `EncryptionConfiguration`:
//! per resource, an ordered list of providers (`aesgcm`, `secretbox`,
//! `identity`). The first provider encrypts new writes; reads pick the
//! provider (and key) from the value's prefix
//! (`k8s:enc:aesgcm:v1:<key>:`), and unprefixed values are read as
//! identity, so keys can be rotated and encryption turned on or off.
//!
//! A `Store` decorator: everything above it sees plaintext, the backend
//! (embedded file or etcd) only ciphertext.

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use async_trait::async_trait;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;

use storage::{DynStore, KeyValue, ListOptions, ListResult, Result, Revision, Store, StorageError, WatchEvent, WatchStream};

#[derive(Debug, Deserialize)]
struct ConfigFile {
    kind: Option<String>,
    resources: Vec<ResourceConfig>,
}

#[derive(Debug, Deserialize)]
struct ResourceConfig {
    resources: Vec<String>,
    providers: Vec<ProviderConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
struct ProviderConfig {
    aesgcm: Option<KeysConfig>,
    secretbox: Option<KeysConfig>,
    identity: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct KeysConfig {
    keys: Vec<KeyConfig>,
}

#[derive(Debug, Deserialize)]
struct KeyConfig {
    name: String,
    secret: String,
}

enum Cipher {
    AesGcm(Box<aes_gcm::Aes256Gcm>),
    AesGcm128(Box<aes_gcm::Aes128Gcm>),
    SecretBox(Box<crypto_secretbox::XSalsa20Poly1305>),
}

struct Key {
    prefix: Vec<u8>,
    cipher: Cipher,
}

enum Provider {
    Keys(Vec<Key>),
    Identity,
}

/// The providers for one set of resources.
pub struct Transformer {
    providers: Vec<Provider>,
}

fn decode_key(provider: &str, k: &KeyConfig) -> std::result::Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(k.secret.trim())
        .map_err(|e| format!("{provider} key {:?}: secret is not valid base64: {e}", k.name))
}

impl Transformer {
    fn from_config(providers: &[ProviderConfig]) -> std::result::Result<Self, String> {
        let mut out = Vec::new();
        for p in providers {
            if let Some(c) = &p.aesgcm {
                let mut keys = Vec::new();
                for k in &c.keys {
                    let raw = decode_key("aesgcm", k)?;
                    let cipher = match raw.len() {
                        32 => Cipher::AesGcm(Box::new(aes_gcm::Aes256Gcm::new_from_slice(&raw).map_err(|e| e.to_string())?)),
                        16 => Cipher::AesGcm128(Box::new(aes_gcm::Aes128Gcm::new_from_slice(&raw).map_err(|e| e.to_string())?)),
                        n => return Err(format!("aesgcm key {:?} is {n} bytes; want 16 or 32", k.name)),
                    };
                    keys.push(Key { prefix: format!("k8s:enc:aesgcm:v1:{}:", k.name).into_bytes(), cipher });
                }
                out.push(Provider::Keys(keys));
            } else if let Some(c) = &p.secretbox {
                let mut keys = Vec::new();
                for k in &c.keys {
                    let raw = decode_key("secretbox", k)?;
                    if raw.len() != 32 {
                        return Err(format!("secretbox key {:?} is {} bytes; want 32", k.name, raw.len()));
                    }
                    let cipher = crypto_secretbox::XSalsa20Poly1305::new_from_slice(&raw).map_err(|e| e.to_string())?;
                    keys.push(Key { prefix: format!("k8s:enc:secretbox:v1:{}:", k.name).into_bytes(), cipher: Cipher::SecretBox(Box::new(cipher)) });
                }
                out.push(Provider::Keys(keys));
            } else if p.identity.is_some() {
                out.push(Provider::Identity);
            } else {
                return Err("a provider must be one of aesgcm, secretbox, identity".into());
            }
        }
        if out.is_empty() {
            return Err("a resource entry needs at least one provider".into());
        }
        Ok(Transformer { providers: out })
    }

    /// Encrypt with the first provider's first key.
    pub fn encrypt(&self, key: &str, plain: &[u8]) -> std::result::Result<Vec<u8>, String> {
        match self.providers.first() {
            Some(Provider::Keys(keys)) => {
                let Some(k) = keys.first() else { return Err("provider has no keys".into()) };
                let mut out = k.prefix.clone();
                let aad = key.as_bytes();
                match &k.cipher {
                    Cipher::AesGcm(c) => {
                        let nonce = aes_gcm::Aes256Gcm::generate_nonce(&mut OsRng);
                        out.extend_from_slice(&nonce);
                        out.extend(c.encrypt(&nonce, Payload { msg: plain, aad }).map_err(|e| e.to_string())?);
                    }
                    Cipher::AesGcm128(c) => {
                        let nonce = aes_gcm::Aes128Gcm::generate_nonce(&mut OsRng);
                        out.extend_from_slice(&nonce);
                        out.extend(c.encrypt(&nonce, Payload { msg: plain, aad }).map_err(|e| e.to_string())?);
                    }
                    Cipher::SecretBox(c) => {
                        let nonce = crypto_secretbox::XSalsa20Poly1305::generate_nonce(&mut crypto_secretbox::aead::OsRng);
                        out.extend_from_slice(&nonce);
                        out.extend(crypto_secretbox::aead::Aead::encrypt(c.as_ref(), &nonce, plain).map_err(|e| e.to_string())?);
                    }
                }
                Ok(out)
            }
            _ => Ok(plain.to_vec()),
        }
    }

    /// Decrypt by prefix; unprefixed data is read as identity when an
    /// identity provider is configured.
    pub fn decrypt(&self, key: &str, stored: &[u8]) -> std::result::Result<Vec<u8>, String> {
        for p in &self.providers {
            let Provider::Keys(keys) = p else { continue };
            for k in keys {
                let Some(rest) = stored.strip_prefix(k.prefix.as_slice()) else { continue };
                let aad = key.as_bytes();
                let plain = match &k.cipher {
                    Cipher::AesGcm(c) => {
                        if rest.len() < 12 {
                            return Err("ciphertext too short".into());
                        }
                        let (nonce, ct) = rest.split_at(12);
                        c.decrypt(aes_gcm::Nonce::from_slice(nonce), Payload { msg: ct, aad })
                    }
                    Cipher::AesGcm128(c) => {
                        if rest.len() < 12 {
                            return Err("ciphertext too short".into());
                        }
                        let (nonce, ct) = rest.split_at(12);
                        c.decrypt(aes_gcm::Nonce::from_slice(nonce), Payload { msg: ct, aad })
                    }
                    Cipher::SecretBox(c) => {
                        if rest.len() < 24 {
                            return Err("ciphertext too short".into());
                        }
                        let (nonce, ct) = rest.split_at(24);
                        crypto_secretbox::aead::Aead::decrypt(c.as_ref(), crypto_secretbox::Nonce::from_slice(nonce), ct)
                    }
                };
                return plain.map_err(|_| format!("decryption with {} failed", String::from_utf8_lossy(&k.prefix)));
            }
        }
        if stored.starts_with(b"k8s:enc:") {
            return Err("no configured key can decrypt this value".into());
        }
        if self.providers.iter().any(|p| matches!(p, Provider::Identity)) {
            Ok(stored.to_vec())
        } else {
            Err("the value is not encrypted and no identity provider is configured".into())
        }
    }
}

/// Which storage key prefixes are encrypted, and how.
pub struct EncryptionConfig {
    rules: Vec<(String, Arc<Transformer>)>,
}

impl EncryptionConfig {
    /// Parse an `EncryptionConfiguration` (YAML or JSON). `storage_names`
    /// maps a resource (`secrets`, `deployments.apps`) to its storage
    /// segment; `*.*` means everything.
    pub fn parse(text: &str, root: &str) -> std::result::Result<Self, String> {
        let file: ConfigFile = serde_yaml_ng::from_str(text).map_err(|e| format!("invalid encryption configuration: {e}"))?;
        if file.kind.as_deref().is_some_and(|k| k != "EncryptionConfiguration") {
            return Err(format!("invalid encryption configuration: kind {:?}, want EncryptionConfiguration", file.kind));
        }
        let mut rules = Vec::new();
        for r in &file.resources {
            let t = Arc::new(Transformer::from_config(&r.providers)?);
            for res in &r.resources {
                let prefix = if res == "*.*" { format!("{root}/") } else { format!("{root}/{}/", res.split('.').next().unwrap_or(res)) };
                rules.push((prefix, t.clone()));
            }
        }
        Ok(EncryptionConfig { rules })
    }

    fn for_key(&self, key: &str) -> Option<&Arc<Transformer>> {
        self.rules.iter().find(|(p, _)| key.starts_with(p.as_str())).map(|(_, t)| t)
    }
}

pub struct EncryptingStore {
    inner: DynStore,
    config: Arc<EncryptionConfig>,
}

impl EncryptingStore {
    pub fn wrap(inner: DynStore, config: EncryptionConfig) -> DynStore {
        Arc::new(EncryptingStore { inner, config: Arc::new(config) })
    }

    /// A watch stream with every value decrypted. A delete's previous
    /// value may be absent (empty) on `watch_changes`: nothing to open.
    fn opened(&self, stream: WatchStream) -> WatchStream {
        let config = self.config.clone();
        stream
            .map(move |ev| {
                ev.and_then(|ev| match ev {
                    WatchEvent::Put { kv, prev } => Ok(WatchEvent::Put { kv: open(&config, kv)?, prev: prev.map(|p| open(&config, p)).transpose()? }),
                    WatchEvent::Delete { revision, prev } if prev.value.is_empty() => Ok(WatchEvent::Delete { revision, prev }),
                    WatchEvent::Delete { revision, prev } => Ok(WatchEvent::Delete { revision, prev: open(&config, prev)? }),
                })
            })
            .boxed()
    }
}

fn seal(config: &EncryptionConfig, key: &str, value: Bytes) -> Result<Bytes> {
    match config.for_key(key) {
        Some(t) => t.encrypt(key, &value).map(Bytes::from).map_err(|e| StorageError::Internal(format!("encrypting {key}: {e}"))),
        None => Ok(value),
    }
}

fn open(config: &EncryptionConfig, mut kv: KeyValue) -> Result<KeyValue> {
    if let Some(t) = config.for_key(&kv.key) {
        kv.value = Bytes::from(t.decrypt(&kv.key, &kv.value).map_err(|e| StorageError::Internal(format!("decrypting {}: {e}", kv.key)))?);
    }
    Ok(kv)
}

#[async_trait]
impl Store for EncryptingStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        self.inner.get(key).await?.map(|kv| open(&self.config, kv)).transpose()
    }
    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        let mut r = self.inner.list(opts).await?;
        r.kvs = r.kvs.into_iter().map(|kv| open(&self.config, kv)).collect::<Result<_>>()?;
        Ok(r)
    }
    async fn count(&self, prefix: &str) -> Result<i64> {
        self.inner.count(prefix).await
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let kv = self.inner.create(key, seal(&self.config, key, value.clone())?).await?;
        Ok(KeyValue { value, ..kv })
    }
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let kv = self.inner.update(key, seal(&self.config, key, value.clone())?, expected).await?;
        Ok(KeyValue { value, ..kv })
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let (rev, kv) = self.inner.delete(key, expected).await?;
        Ok((rev, open(&self.config, kv)?))
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let stream = self.inner.watch(prefix, after).await?;
        Ok(self.opened(stream))
    }
    async fn watch_changes(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        let stream = self.inner.watch_changes(prefix, after).await?;
        Ok(self.opened(stream))
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        self.inner.compact(revision).await
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compacted_revision(&self) -> Result<Revision> {
        self.inner.compacted_revision().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY32: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="; // 32 bytes

    fn config(providers: &str) -> EncryptionConfig {
        let text = format!("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n{providers}");
        EncryptionConfig::parse(&text, "/registry").unwrap()
    }

    #[test]
    fn providers_round_trip_and_rotate() {
        let cases = [
            format!("  - aesgcm:\n      keys:\n      - name: k1\n        secret: {KEY32}\n  - identity: {{}}\n"),
            format!("  - secretbox:\n      keys:\n      - name: k1\n        secret: {KEY32}\n  - identity: {{}}\n"),
        ];
        for providers in cases {
            let c = config(&providers);
            let t = c.for_key("/registry/secrets/default/s").unwrap();
            let sealed = t.encrypt("/registry/secrets/default/s", b"top secret").unwrap();
            assert!(sealed.starts_with(b"k8s:enc:"), "prefixed");
            assert!(!sealed.windows(10).any(|w| w == b"top secret"), "no plaintext");
            assert_eq!(t.decrypt("/registry/secrets/default/s", &sealed).unwrap(), b"top secret");
            // Authenticated data: the same bytes under another key fail (aesgcm).
            if providers.contains("aesgcm") {
                assert!(t.decrypt("/registry/secrets/default/other", &sealed).is_err());
            }
            // Identity fallback for old plaintext.
            assert_eq!(t.decrypt("/registry/secrets/default/s", b"{\"plain\":1}").unwrap(), b"{\"plain\":1}");
        }
        assert!(c_none("/registry/configmaps/default/c"));
    }

    fn c_none(key: &str) -> bool {
        config(&format!("  - aesgcm:\n      keys:\n      - name: k1\n        secret: {KEY32}\n")).for_key(key).is_none()
    }

    #[test]
    fn bad_configs_are_rejected() {
        for bad in ["  - aesgcm:\n      keys:\n      - name: k1\n        secret: not-base64!!\n", "  - aesgcm:\n      keys:\n      - name: k1\n        secret: c2hvcnQ=\n", "  - {}\n"] {
            let text = format!("kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n{bad}");
            assert!(EncryptionConfig::parse(&text, "/registry").is_err(), "{bad}");
        }
    }
}
