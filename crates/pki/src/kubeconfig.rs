//! kubeconfig files: writing them the way kubectl reads them, loading them,
//! and finding the one to use (`--kubeconfig`, `$KUBECONFIG`,
//! `~/.kube/config`, in-cluster).
//!
//! Only the fields ferrokube's tools understand are modelled; unknown fields
//! are ignored on load (so a loaded file is not re-written by us).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

use crate::fsutil;

/// Where a pod's service-account credentials are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[derive(Debug, Error)]
pub enum KubeconfigError {
    #[error("reading kubeconfig {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing kubeconfig {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("serializing kubeconfig: {0}")]
    Serialize(#[source] serde_yaml_ng::Error),
    #[error("writing kubeconfig {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no kubeconfig found; tried: {}", tried.join("; "))]
    NotFound { tried: Vec<String> },
    #[error("kubeconfig has no current-context and none was given")]
    NoCurrentContext,
    #[error("context {0:?} not found in kubeconfig")]
    NoContext(String),
    #[error("context {context:?} names cluster {cluster:?}, which is not in the kubeconfig")]
    NoCluster { context: String, cluster: String },
    #[error("context {context:?} names user {user:?}, which is not in the kubeconfig")]
    NoUser { context: String, user: String },
    #[error("cluster {0:?} has no server")]
    NoServer(String),
    #[error("{field} of {owner:?} is not valid base64: {source}")]
    Base64 {
        field: &'static str,
        owner: String,
        #[source]
        source: base64::DecodeError,
    },
    #[error("{field} of {owner:?} is not UTF-8 PEM")]
    NotUtf8 { field: &'static str, owner: String },
    #[error("user {user:?} needs both a client certificate and a client key")]
    HalfClientCert { user: String },
    #[error("user {user:?} uses {what}, which is not supported")]
    Unsupported { user: String, what: &'static str },
}

/// A kubeconfig (`apiVersion: v1`, `kind: Config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(rename = "apiVersion", default = "v1")]
    pub api_version: String,
    #[serde(default = "config_kind")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub preferences: BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default, deserialize_with = "null_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_default")]
    pub users: Vec<NamedUser>,
    #[serde(default, deserialize_with = "null_default")]
    pub contexts: Vec<NamedContext>,
    #[serde(rename = "current-context", default, deserialize_with = "null_default")]
    pub current_context: String,
    /// The directory relative file references resolve against (the
    /// file's own directory once loaded).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

fn v1() -> String {
    "v1".into()
}
fn config_kind() -> String {
    "Config".into()
}
fn null_default<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    pub cluster: Cluster,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    #[serde(default)]
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    #[serde(default)]
    pub user: AuthInfo,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AuthInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// camelCase in client-go, unlike its neighbours.
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<serde_yaml_ng::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_provider: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    pub context: Context,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// What a client needs from the chosen context, with data decoded and file
/// references read.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub context: String,
    pub server: String,
    pub ca_pem: Option<String>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    /// (certificate PEM, key PEM).
    pub client_cert: Option<(String, String)>,
    pub token: Option<String>,
    /// Set when the token came from a file, which callers should re-read
    /// (projected service-account tokens rotate).
    pub token_file: Option<PathBuf>,
    pub basic_auth: Option<(String, String)>,
    pub namespace: Option<String>,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("context", &self.context)
            .field("server", &self.server)
            .field("ca_pem", &self.ca_pem.is_some())
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("tls_server_name", &self.tls_server_name)
            .field("client_cert", &self.client_cert.is_some())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .field("namespace", &self.namespace)
            .finish()
    }
}

impl Kubeconfig {
    /// A kubeconfig with one cluster and no users yet.
    pub fn new(cluster_name: &str, server_url: &str, ca_pem: &str) -> Kubeconfig {
        Kubeconfig {
            api_version: v1(),
            kind: config_kind(),
            preferences: BTreeMap::new(),
            clusters: vec![NamedCluster {
                name: cluster_name.to_string(),
                cluster: Cluster {
                    server: server_url.to_string(),
                    certificate_authority_data: Some(STANDARD.encode(ca_pem)),
                    ..Cluster::default()
                },
            }],
            users: Vec::new(),
            contexts: Vec::new(),
            current_context: String::new(),
            base_dir: None,
        }
    }

    /// Adds a user authenticating with a client certificate, a context
    /// `<user>@<cluster>` for it, and makes that current if none is.
    pub fn with_client_cert(self, user: &str, cert_pem: &str, key_pem: &str) -> Kubeconfig {
        self.with_user(
            user,
            AuthInfo {
                client_certificate_data: Some(STANDARD.encode(cert_pem)),
                client_key_data: Some(STANDARD.encode(key_pem)),
                ..AuthInfo::default()
            },
        )
    }

    /// Adds a user authenticating with a bearer token (same context rules as
    /// [`Kubeconfig::with_client_cert`]).
    pub fn with_token(self, user: &str, token: &str) -> Kubeconfig {
        self.with_user(
            user,
            AuthInfo {
                token: Some(token.to_string()),
                ..AuthInfo::default()
            },
        )
    }

    fn with_user(mut self, user: &str, auth: AuthInfo) -> Kubeconfig {
        let cluster = self
            .clusters
            .first()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        self.users.retain(|u| u.name != user);
        self.users.push(NamedUser {
            name: user.to_string(),
            user: auth,
        });
        let context = format!("{user}@{cluster}");
        self.contexts.retain(|c| c.name != context);
        self.contexts.push(NamedContext {
            name: context.clone(),
            context: Context {
                cluster,
                user: user.to_string(),
                namespace: None,
            },
        });
        if self.current_context.is_empty() {
            self.current_context = context;
        }
        self
    }

    pub fn to_yaml(&self) -> Result<String, KubeconfigError> {
        serde_yaml_ng::to_string(self).map_err(KubeconfigError::Serialize)
    }

    pub fn from_yaml(yaml: &str, path: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let mut config: Kubeconfig =
            serde_yaml_ng::from_str(yaml).map_err(|source| KubeconfigError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        config.base_dir = path.parent().map(Path::to_path_buf);
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Kubeconfig, KubeconfigError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| KubeconfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_yaml(&yaml, path)
    }

    /// Writes the file atomically with mode 0600 (it holds credentials),
    /// creating missing parent directories (0755).
    pub fn write(&self, path: &Path) -> Result<(), KubeconfigError> {
        let yaml = self.to_yaml()?;
        let write_err = |source| KubeconfigError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent() {
            fsutil::ensure_dir(parent).map_err(write_err)?;
        }
        fsutil::write_atomic(path, yaml.as_bytes(), fsutil::PRIVATE_MODE).map_err(write_err)
    }

    /// Finds the kubeconfig to use, in kubectl's order: `explicit`
    /// (`--kubeconfig`, which must exist), the first existing file in
    /// `$KUBECONFIG`, `~/.kube/config`, then the in-cluster service account.
    pub fn resolve(explicit: Option<&Path>) -> Result<Resolved, KubeconfigError> {
        Self::resolve_in(explicit, &LookupEnv::from_process())
    }

    /// [`Kubeconfig::resolve`] against an explicit environment (for tests).
    pub fn resolve_in(
        explicit: Option<&Path>,
        env: &LookupEnv,
    ) -> Result<Resolved, KubeconfigError> {
        if let Some(path) = explicit {
            return Ok(Resolved {
                config: Self::load(path)?,
                source: ConfigSource::Flag(path.to_path_buf()),
            });
        }
        let mut tried = vec!["--kubeconfig (not given)".to_string()];
        match &env.kubeconfig {
            Some(list) if !list.is_empty() => {
                for path in std::env::split_paths(list).filter(|p| !p.as_os_str().is_empty()) {
                    if path.is_file() {
                        return Ok(Resolved {
                            config: Self::load(&path)?,
                            source: ConfigSource::EnvVar(path),
                        });
                    }
                    tried.push(format!("$KUBECONFIG entry {} (not found)", path.display()));
                }
            }
            _ => tried.push("$KUBECONFIG (not set)".into()),
        }
        match &env.home {
            Some(home) => {
                let path = home.join(".kube").join("config");
                if path.is_file() {
                    return Ok(Resolved {
                        config: Self::load(&path)?,
                        source: ConfigSource::Home(path),
                    });
                }
                tried.push(format!("{} (not found)", path.display()));
            }
            None => tried.push("~/.kube/config ($HOME not set)".into()),
        }
        match InCluster::detect(env) {
            Ok(in_cluster) => Ok(Resolved {
                config: in_cluster.to_kubeconfig(),
                source: ConfigSource::InCluster(in_cluster),
            }),
            Err(why) => {
                tried.push(format!("in-cluster config ({why})"));
                Err(KubeconfigError::NotFound { tried })
            }
        }
    }

    /// The settings of `context` (default: the current context).
    pub fn client_settings(
        &self,
        context: Option<&str>,
    ) -> Result<ClientSettings, KubeconfigError> {
        let name = match context {
            Some(c) => c,
            None if !self.current_context.is_empty() => self.current_context.as_str(),
            None => return Err(KubeconfigError::NoCurrentContext),
        };
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| KubeconfigError::NoContext(name.to_string()))?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.context.cluster)
            .ok_or_else(|| KubeconfigError::NoCluster {
                context: name.to_string(),
                cluster: ctx.context.cluster.clone(),
            })?;
        if cluster.cluster.server.is_empty() {
            return Err(KubeconfigError::NoServer(cluster.name.clone()));
        }
        let ca_pem = self.data_or_file(
            &cluster.name,
            "certificate-authority",
            cluster.cluster.certificate_authority_data.as_deref(),
            cluster.cluster.certificate_authority.as_deref(),
        )?;
        let mut out = ClientSettings {
            context: name.to_string(),
            server: cluster.cluster.server.clone(),
            ca_pem,
            insecure_skip_tls_verify: cluster.cluster.insecure_skip_tls_verify.unwrap_or(false),
            tls_server_name: cluster.cluster.tls_server_name.clone(),
            client_cert: None,
            token: None,
            token_file: None,
            basic_auth: None,
            namespace: ctx.context.namespace.clone().filter(|n| !n.is_empty()),
        };
        if ctx.context.user.is_empty() {
            return Ok(out);
        }
        let user = self
            .users
            .iter()
            .find(|u| u.name == ctx.context.user)
            .ok_or_else(|| KubeconfigError::NoUser {
                context: name.to_string(),
                user: ctx.context.user.clone(),
            })?;
        let auth = &user.user;
        if auth.exec.is_some() {
            return Err(KubeconfigError::Unsupported {
                user: user.name.clone(),
                what: "an exec credential plugin",
            });
        }
        if auth.auth_provider.is_some() {
            return Err(KubeconfigError::Unsupported {
                user: user.name.clone(),
                what: "an auth-provider",
            });
        }
        let cert = self.data_or_file(
            &user.name,
            "client-certificate",
            auth.client_certificate_data.as_deref(),
            auth.client_certificate.as_deref(),
        )?;
        let key = self.data_or_file(
            &user.name,
            "client-key",
            auth.client_key_data.as_deref(),
            auth.client_key.as_deref(),
        )?;
        out.client_cert = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            _ => {
                return Err(KubeconfigError::HalfClientCert {
                    user: user.name.clone(),
                })
            }
        };
        if let Some(token) = auth.token.as_deref().filter(|t| !t.is_empty()) {
            out.token = Some(token.to_string());
        } else if let Some(file) = auth.token_file.as_deref().filter(|f| !f.is_empty()) {
            let path = self.resolve_path(file);
            let token = std::fs::read_to_string(&path).map_err(|source| KubeconfigError::Read {
                path: path.clone(),
                source,
            })?;
            out.token = Some(token.trim().to_string());
            out.token_file = Some(path);
        }
        if let (Some(u), Some(p)) = (&auth.username, &auth.password) {
            out.basic_auth = Some((u.clone(), p.clone()));
        }
        Ok(out)
    }

    fn resolve_path(&self, file: &str) -> PathBuf {
        let p = Path::new(file);
        match &self.base_dir {
            Some(base) if p.is_relative() => base.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// `<field>-data` (base64) wins over `<field>` (a file path).
    fn data_or_file(
        &self,
        owner: &str,
        field: &'static str,
        data: Option<&str>,
        file: Option<&str>,
    ) -> Result<Option<String>, KubeconfigError> {
        if let Some(data) = data.filter(|d| !d.is_empty()) {
            let bytes = STANDARD
                .decode(data.trim())
                .map_err(|source| KubeconfigError::Base64 {
                    field,
                    owner: owner.to_string(),
                    source,
                })?;
            return String::from_utf8(bytes)
                .map(Some)
                .map_err(|_| KubeconfigError::NotUtf8 {
                    field,
                    owner: owner.to_string(),
                });
        }
        match file.filter(|f| !f.is_empty()) {
            Some(file) => {
                let path = self.resolve_path(file);
                std::fs::read_to_string(&path)
                    .map(Some)
                    .map_err(|source| KubeconfigError::Read { path, source })
            }
            None => Ok(None),
        }
    }
}

/// The process environment `resolve` looks at, captured once so lookups are
/// testable without touching global state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupEnv {
    /// `$KUBECONFIG`, a `:`-separated list.
    pub kubeconfig: Option<OsString>,
    pub home: Option<PathBuf>,
    /// `$KUBERNETES_SERVICE_HOST` / `$KUBERNETES_SERVICE_PORT`.
    pub service_host: Option<String>,
    pub service_port: Option<String>,
    /// Normally [`SERVICE_ACCOUNT_DIR`].
    pub service_account_dir: PathBuf,
}

impl LookupEnv {
    pub fn from_process() -> LookupEnv {
        LookupEnv {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from),
            service_host: std::env::var("KUBERNETES_SERVICE_HOST").ok(),
            service_port: std::env::var("KUBERNETES_SERVICE_PORT").ok(),
            service_account_dir: PathBuf::from(SERVICE_ACCOUNT_DIR),
        }
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Flag(PathBuf),
    EnvVar(PathBuf),
    Home(PathBuf),
    InCluster(InCluster),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub source: ConfigSource,
    pub config: Kubeconfig,
}

/// A pod's view of the API server: `https://$KUBERNETES_SERVICE_HOST:PORT`,
/// the mounted token, CA bundle and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InCluster {
    pub server: String,
    pub token_path: PathBuf,
    pub ca_path: PathBuf,
    pub namespace_path: PathBuf,
}

impl InCluster {
    /// In-cluster settings, if the environment and the mounted token are
    /// there; otherwise why not.
    pub fn detect(env: &LookupEnv) -> Result<InCluster, String> {
        let (Some(host), Some(port)) = (
            env.service_host.as_deref().filter(|h| !h.is_empty()),
            env.service_port.as_deref().filter(|p| !p.is_empty()),
        ) else {
            return Err("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set".into());
        };
        let token_path = env.service_account_dir.join("token");
        if !token_path.is_file() {
            return Err(format!("token {} not found", token_path.display()));
        }
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        Ok(InCluster {
            server: format!("https://{host}:{port}"),
            token_path,
            ca_path: env.service_account_dir.join("ca.crt"),
            namespace_path: env.service_account_dir.join("namespace"),
        })
    }

    /// A kubeconfig referencing the mounted files (so the token is re-read
    /// as it rotates); the namespace is read now if present.
    pub fn to_kubeconfig(&self) -> Kubeconfig {
        let namespace = std::fs::read_to_string(&self.namespace_path)
            .ok()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty());
        let name = "in-cluster";
        Kubeconfig {
            api_version: v1(),
            kind: config_kind(),
            preferences: BTreeMap::new(),
            clusters: vec![NamedCluster {
                name: name.into(),
                cluster: Cluster {
                    server: self.server.clone(),
                    // As client-go: a missing CA bundle is not fatal here
                    // (the TLS handshake will then fail with a clear error).
                    certificate_authority: self
                        .ca_path
                        .is_file()
                        .then(|| self.ca_path.display().to_string()),
                    ..Cluster::default()
                },
            }],
            users: vec![NamedUser {
                name: name.into(),
                user: AuthInfo {
                    token_file: Some(self.token_path.display().to_string()),
                    ..AuthInfo::default()
                },
            }],
            contexts: vec![NamedContext {
                name: name.into(),
                context: Context {
                    cluster: name.into(),
                    user: name.into(),
                    namespace,
                },
            }],
            current_context: name.into(),
            base_dir: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    fn admin() -> Kubeconfig {
        Kubeconfig::new("kubernetes", "https://127.0.0.1:6443", CA).with_client_cert(
            "kubernetes-admin",
            "CERT PEM",
            "KEY PEM",
        )
    }

    #[test]
    fn yaml_has_kubectl_structure_and_base64_data() {
        let yaml = admin().with_token("robot", "abc.def").to_yaml().unwrap();
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["kind"], "Config");
        assert_eq!(v["current-context"], "kubernetes-admin@kubernetes");
        let cluster = &v["clusters"][0];
        assert_eq!(cluster["name"], "kubernetes");
        assert_eq!(cluster["cluster"]["server"], "https://127.0.0.1:6443");
        let ca = cluster["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        assert_eq!(STANDARD.decode(ca).unwrap(), CA.as_bytes());
        let u0 = &v["users"][0];
        assert_eq!(u0["name"], "kubernetes-admin");
        let cert = u0["user"]["client-certificate-data"].as_str().unwrap();
        assert_eq!(STANDARD.decode(cert).unwrap(), b"CERT PEM");
        let key = u0["user"]["client-key-data"].as_str().unwrap();
        assert_eq!(STANDARD.decode(key).unwrap(), b"KEY PEM");
        assert_eq!(v["users"][1]["user"]["token"], "abc.def");
        assert_eq!(v["contexts"][1]["name"], "robot@kubernetes");
        assert_eq!(v["contexts"][1]["context"]["cluster"], "kubernetes");
        assert_eq!(v["contexts"][1]["context"]["user"], "robot");

        let back = Kubeconfig::from_yaml(&yaml, Path::new("/x/config")).unwrap();
        assert_eq!(back.users, admin().with_token("robot", "abc.def").users);
        let s = back.client_settings(None).unwrap();
        assert_eq!(s.server, "https://127.0.0.1:6443");
        assert_eq!(s.ca_pem.as_deref(), Some(CA));
        assert_eq!(
            s.client_cert,
            Some(("CERT PEM".to_string(), "KEY PEM".to_string()))
        );
        let s = back.client_settings(Some("robot@kubernetes")).unwrap();
        assert_eq!(s.token.as_deref(), Some("abc.def"));
        assert!(s.client_cert.is_none());
    }

    #[test]
    fn file_references_resolve_relative_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.crt"), CA).unwrap();
        std::fs::write(dir.path().join("token"), "tok\n").unwrap();
        let yaml = r#"
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://k:6443
    certificate-authority: ca.crt
users:
- name: u
  user:
    tokenFile: token
contexts:
- name: ctx
  context: {cluster: c, user: u, namespace: team}
current-context: ctx
preferences: null
extensions: []
"#;
        let cfg = Kubeconfig::from_yaml(yaml, &dir.path().join("config")).unwrap();
        let s = cfg.client_settings(None).unwrap();
        assert_eq!(s.ca_pem.as_deref(), Some(CA));
        assert_eq!(s.token.as_deref(), Some("tok"));
        assert_eq!(s.token_file, Some(dir.path().join("token")));
        assert_eq!(s.namespace.as_deref(), Some("team"));
    }

    #[test]
    fn client_settings_errors() {
        let mut cfg = admin();
        cfg.current_context.clear();
        assert!(matches!(
            cfg.client_settings(None),
            Err(KubeconfigError::NoCurrentContext)
        ));
        assert!(matches!(
            cfg.client_settings(Some("nope")),
            Err(KubeconfigError::NoContext(_))
        ));
        let mut cfg = admin();
        cfg.users[0].user.client_key_data = None;
        assert!(matches!(
            cfg.client_settings(None),
            Err(KubeconfigError::HalfClientCert { .. })
        ));
        let mut cfg = admin();
        cfg.users[0].user.exec = Some(serde_yaml_ng::from_str("{command: x}").unwrap());
        assert!(matches!(
            cfg.client_settings(None),
            Err(KubeconfigError::Unsupported { .. })
        ));
    }

    fn env(dir: &Path) -> LookupEnv {
        LookupEnv {
            kubeconfig: None,
            home: None,
            service_host: None,
            service_port: None,
            service_account_dir: dir.join("sa"),
        }
    }

    #[test]
    fn resolve_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write = |p: &Path| {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            admin().write(p).unwrap();
        };
        let flag = d.join("flag.conf");
        let env_a = d.join("missing.conf");
        let env_b = d.join("env.conf");
        let home = d.join("home");
        write(&flag);
        write(&env_b);
        write(&home.join(".kube/config"));
        let sa = d.join("sa");
        std::fs::create_dir_all(&sa).unwrap();
        std::fs::write(sa.join("token"), "t").unwrap();
        std::fs::write(sa.join("namespace"), "kube-system").unwrap();
        std::fs::write(sa.join("ca.crt"), CA).unwrap();

        let full = LookupEnv {
            kubeconfig: Some(std::env::join_paths([&env_a, &env_b]).unwrap()),
            home: Some(home.clone()),
            service_host: Some("10.96.0.1".into()),
            service_port: Some("443".into()),
            service_account_dir: sa.clone(),
        };
        let source = |explicit: Option<&Path>, e: &LookupEnv| {
            Kubeconfig::resolve_in(explicit, e).map(|r| r.source)
        };
        assert_eq!(
            source(Some(&flag), &full).unwrap(),
            ConfigSource::Flag(flag.clone())
        );
        assert_eq!(
            source(None, &full).unwrap(),
            ConfigSource::EnvVar(env_b.clone())
        );
        let no_env = LookupEnv {
            kubeconfig: None,
            ..full.clone()
        };
        assert_eq!(
            source(None, &no_env).unwrap(),
            ConfigSource::Home(home.join(".kube/config"))
        );
        let no_home = LookupEnv {
            home: None,
            ..no_env.clone()
        };
        let resolved = Kubeconfig::resolve_in(None, &no_home).unwrap();
        let ConfigSource::InCluster(ic) = &resolved.source else {
            panic!("expected in-cluster, got {:?}", resolved.source);
        };
        assert_eq!(ic.server, "https://10.96.0.1:443");
        let s = resolved.config.client_settings(None).unwrap();
        assert_eq!(s.token.as_deref(), Some("t"));
        assert_eq!(s.token_file, Some(sa.join("token")));
        assert_eq!(s.namespace.as_deref(), Some("kube-system"));
        assert_eq!(s.ca_pem.as_deref(), Some(CA));

        // A missing --kubeconfig is an error, not a fall-through.
        assert!(matches!(
            source(Some(&d.join("nope")), &full),
            Err(KubeconfigError::Read { .. })
        ));

        // Nothing anywhere: the error names every place tried.
        let nothing = LookupEnv {
            kubeconfig: Some(env_a.clone().into_os_string()),
            home: Some(d.join("empty-home")),
            ..env(d)
        };
        let err = Kubeconfig::resolve_in(None, &nothing)
            .unwrap_err()
            .to_string();
        for want in [
            "--kubeconfig",
            env_a.to_str().unwrap(),
            "empty-home/.kube/config",
            "in-cluster",
            "KUBERNETES_SERVICE_HOST",
        ] {
            assert!(err.contains(want), "{want:?} missing from: {err}");
        }
    }

    #[test]
    fn in_cluster_brackets_ipv6() {
        let dir = tempfile::tempdir().unwrap();
        let sa = dir.path().join("sa");
        std::fs::create_dir_all(&sa).unwrap();
        std::fs::write(sa.join("token"), "t").unwrap();
        let e = LookupEnv {
            service_host: Some("fd00::1".into()),
            service_port: Some("443".into()),
            ..env(dir.path())
        };
        assert_eq!(
            InCluster::detect(&e).unwrap().server,
            "https://[fd00::1]:443"
        );
        let no_token = LookupEnv {
            service_account_dir: dir.path().join("none"),
            ..e
        };
        assert!(InCluster::detect(&no_token).unwrap_err().contains("token"));
    }
}
