//! The ferrokube API server. See `ARCHITECTURE.md` for the map.
//!
//! Start-up is a small DAG: open storage → start the watch cache → serve →
//! (cache ready) → create bootstrap objects → ready.

pub mod admission;
pub mod allocator;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod bootstrap_token;
pub mod cache;
pub mod codec;
pub mod config;
pub mod discovery;
mod disruption;
pub mod encryption;
pub mod metered_store;
pub mod error;
pub mod handlers;
pub mod metrics;
pub mod node_authz;
pub mod openapi;
pub mod rbac_authz;
pub mod registry;
pub mod request;
pub mod server;
pub mod serviceaccount;
pub mod state;
pub mod strategy;
pub mod table;
pub mod tls;
pub mod version;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tokio::task::JoinHandle;

use crate::allocator::Allocators;
use crate::cache::WatchCache;
use crate::config::{Options, StorageBackend};
use crate::registry::Registry;
use crate::server::StartupGate;
use crate::state::{AppState, Clock, Limits, SharedState, SystemClock};
use storage::DynStore;

/// What `build` needs besides the store.
pub struct BuildOptions {
    pub root: String,
    pub allocators: Allocators,
    pub limits: Limits,
    pub clock: Arc<dyn Clock>,
    pub advertise: bootstrap::Advertise,
    /// Authenticators that need no server state (insecure port, x509, token file).
    pub authenticators: Vec<Box<dyn auth::Authenticator>>,
    pub authorization: config::AuthorizationMode,
    /// Service-account token issuer (signing key pair and issuer URL).
    pub service_account: Option<ServiceAccountKeys>,
    pub audit: Option<Arc<audit::AuditLog>>,
}

/// The service-account signing key pair (PEM) and the issuer URL.
pub struct ServiceAccountKeys {
    pub issuer: String,
    pub private_key_pem: String,
    pub public_key_pem: String,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            root: "/registry".into(),
            allocators: Allocators::default(),
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            advertise: bootstrap::Advertise { address: "127.0.0.1".into(), port: 6443 },
            authenticators: vec![Box::new(auth::InsecurePortAuthenticator), Box::new(auth::X509Authenticator)],
            authorization: config::AuthorizationMode::NodeRbac,
            service_account: None,
            audit: None,
        }
    }
}

/// A built server: the router to serve and the tasks keeping it alive.
pub struct Built {
    pub router: Router,
    pub state: SharedState,
    pub startup: Arc<StartupGate>,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Drop for Built {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Wire everything together over `store`; starts the watch cache and, once
/// it is loaded, the bootstrap objects.
pub fn build(store: DynStore, mut opts: BuildOptions) -> Built {
    let registry = Arc::new(Registry::builtin());
    let metrics = Arc::new(metrics::Metrics::default());
    let store = metered_store::MeteredStore::wrap(store, metrics.clone());
    let rbac = match opts.authorization {
        config::AuthorizationMode::NodeRbac | config::AuthorizationMode::Rbac => Some(Arc::new(rbac_authz::RbacAuthorizer::default())),
        config::AuthorizationMode::AlwaysAllow => None,
    };
    let cache = WatchCache::new(registry.clone(), opts.root.clone(), opts.limits.watch_history);
    let authorizer: Arc<dyn auth::Authorizer> = match (&rbac, opts.authorization) {
        (Some(r), config::AuthorizationMode::NodeRbac) => {
            Arc::new(node_authz::Union(vec![Arc::new(node_authz::NodeAuthorizer::new(cache.clone(), registry.clone())), r.clone()]))
        }
        (Some(r), _) => r.clone(),
        (None, _) => Arc::new(auth::AlwaysAllow),
    };
    let service_accounts = opts.service_account.take().and_then(|k| {
        match serviceaccount::Issuer::from_pem(&k.issuer, &k.private_key_pem, &k.public_key_pem) {
            Ok(issuer) => Some(Arc::new(serviceaccount::TokenAuthenticator {
                issuer: Arc::new(issuer),
                cache: cache.clone(),
                registry: registry.clone(),
                root: opts.root.clone(),
            })),
            Err(e) => {
                tracing::error!(error = %e, "service-account tokens disabled");
                None
            }
        }
    });
    let mut authenticators = std::mem::take(&mut opts.authenticators);
    authenticators.push(Box::new(bootstrap_token::BootstrapTokenAuthenticator {
        cache: cache.clone(),
        registry: registry.clone(),
        root: opts.root.clone(),
        clock: opts.clock.clone(),
    }));
    if let Some(sa) = &service_accounts {
        authenticators.push(Box::new(sa.clone()));
    }
    let state: SharedState = Arc::new(AppState {
        discovery: discovery::Discovery::build(&registry),
        openapi: openapi::OpenApi::build(&registry),
        registry,
        store: store.clone(),
        cache: cache.clone(),
        root: opts.root,
        metrics,
        allocators: opts.allocators,
        clock: opts.clock,
        limits: opts.limits,
        authenticator: Arc::new(auth::Union(authenticators)),
        authorizer,
        admission: admission::default_chain(),
        rbac: rbac.clone(),
        service_accounts,
    });
    let startup = Arc::new(StartupGate::default());
    let router = server::router_with_audit(state.clone(), startup.clone(), opts.audit.take());
    let cache_task = tokio::spawn(cache.clone().run(store));
    let bootstrap_task = {
        let router = router.clone();
        let startup = startup.clone();
        let cache = cache.clone();
        let first_ip = state.allocators.first_ip().to_string();
        let advertise = opts.advertise;
        let rbac_on = rbac.is_some();
        tokio::spawn(async move {
            while !cache.is_ready() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            loop {
                let outcome = match bootstrap::run(&router, &first_ip, &advertise).await {
                    Ok(()) if rbac_on => rbac_authz::bootstrap(&router).await,
                    other => other,
                };
                match outcome {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "bootstrap objects not created yet; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            startup.done();
            tracing::info!("bootstrap objects ready");
        })
    };
    let compactor = tokio::spawn(compact_periodically(state.store.clone(), state.limits.compaction_interval));
    let mut tasks = vec![cache_task, bootstrap_task, compactor];
    if let Some(r) = rbac {
        tasks.push(tokio::spawn(rbac_authz::run(r, cache.clone(), state.registry.clone(), router.clone())));
    }
    Built { router, state, startup, tasks }
}

/// Compact storage every `interval` to the revision seen one interval before,
/// so watches can resume across a few minutes of history and no more.
async fn compact_periodically(store: DynStore, interval: Duration) {
    let mut previous: Option<i64> = None;
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        if let Some(rev) = previous {
            if rev > 0 {
                match store.compact(rev).await {
                    Ok(()) => tracing::debug!(revision = rev, "compacted storage"),
                    Err(e) => tracing::warn!(revision = rev, error = %e, "storage compaction failed"),
                }
            }
        }
        previous = store.current_revision().await.ok();
    }
}

/// Open the configured storage backend.
pub async fn open_store(options: &Options) -> anyhow::Result<DynStore> {
    match options.storage_backend {
        StorageBackend::Embedded => {
            std::fs::create_dir_all(&options.data_dir)
                .with_context(|| format!("creating data directory {}", options.data_dir.display()))?;
            let path = options.data_dir.join("store.redb");
            let store = storage::embedded::EmbeddedStore::open(&path, storage::embedded::EmbeddedConfig::default())
                .with_context(|| format!("opening the embedded store at {}", path.display()))?;
            Ok(Arc::new(store))
        }
        StorageBackend::Etcd3 => {
            let store = storage::etcd::EtcdStore::connect(&options.etcd_servers, storage::etcd::EtcdConfig::default())
                .await
                .with_context(|| format!("connecting to etcd at {}", options.etcd_servers.join(",")))?;
            Ok(Arc::new(store))
        }
    }
}

/// Generate what is missing in `--pki-dir` and point the TLS flags at it;
/// write the admin kubeconfig when asked.
fn prepare_pki(options: &mut Options) -> anyhow::Result<()> {
    let Some(dir) = options.pki_dir.clone() else { return Ok(()) };
    let layout = pki::PkiLayout::new(&dir);
    let first_ip = pki::service_cidr_first_ip(&options.service_cluster_ip_range).map_err(|e| anyhow::anyhow!("{e}"))?;
    let hostname = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    let mut ips = vec![options.bind_address];
    if let Some(a) = options.advertise_address {
        ips.push(a);
    }
    let (dns, ips) = pki::apiserver_sans(&[hostname], &ips, first_ip, &options.cluster_domain);
    let written = layout.ensure_all(&pki::Spec::new(dns, ips)).with_context(|| format!("preparing the PKI in {}", dir.display()))?;
    for path in written {
        tracing::info!(path = %path.display(), "generated");
    }
    options.tls_cert_file.get_or_insert_with(|| layout.apiserver_crt());
    options.tls_private_key_file.get_or_insert_with(|| layout.apiserver_key());
    options.client_ca_file.get_or_insert_with(|| layout.ca_crt());
    if options.write_admin_kubeconfig.is_none() && options.write_kubeconfigs.is_none() {
        return Ok(());
    }
    let ca = layout.load_ca().with_context(|| format!("loading the CA from {}", dir.display()))?;
    let host = match options.bind_address {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_string(),
        ip => ip.to_string(),
    };
    let server = format!("https://{host}:{}", options.secure_port);
    let validity = pki::Validity::from_now(pki::LEAF_VALIDITY);
    if let Some(path) = &options.write_admin_kubeconfig {
        pki::client_kubeconfig(&ca, &server, "kubernetes-admin", &["system:masters".to_string()], validity)
            .context("issuing the admin client certificate")?
            .write(path)
            .with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), %server, "wrote the admin kubeconfig");
    }
    if let Some(dir) = &options.write_kubeconfigs {
        let mut written = pki::write_missing_kubeconfigs(&ca, &server, dir, pki::CONTROL_PLANE_IDENTITIES, validity)?;
        for node in &options.kubelet_kubeconfigs {
            written.extend(pki::write_missing_kubelet_kubeconfig(&ca, &server, dir, node, validity)?);
        }
        for path in written {
            tracing::info!(path = %path.display(), %server, "wrote a component kubeconfig");
        }
    }
    Ok(())
}

/// The service-account key pair from `--service-account-*` or `--pki-dir`.
fn service_account_keys(options: &Options) -> anyhow::Result<Option<ServiceAccountKeys>> {
    let (private, public) = match (&options.service_account_signing_key_file, &options.service_account_key_file, &options.pki_dir) {
        (Some(private), Some(public), _) => (private.clone(), public.clone()),
        (None, None, Some(dir)) => {
            let layout = pki::PkiLayout::new(dir);
            (layout.sa_key(), layout.sa_pub())
        }
        (None, None, None) => return Ok(None),
        _ => anyhow::bail!("--service-account-signing-key-file and --service-account-key-file go together"),
    };
    Ok(Some(ServiceAccountKeys {
        issuer: options.service_account_issuer.clone(),
        private_key_pem: std::fs::read_to_string(&private).with_context(|| format!("reading {}", private.display()))?,
        public_key_pem: std::fs::read_to_string(&public).with_context(|| format!("reading {}", public.display()))?,
    }))
}

/// Run the API server until SIGINT/SIGTERM.
pub async fn run(mut options: Options) -> anyhow::Result<()> {
    prepare_pki(&mut options)?;
    let mut store = open_store(&options).await?;
    if let Some(path) = &options.encryption_provider_config {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config = encryption::EncryptionConfig::parse(&text, options.etcd_prefix.trim_end_matches('/')).map_err(anyhow::Error::msg)?;
        store = encryption::EncryptingStore::wrap(store, config);
        tracing::info!(path = %path.display(), "encryption at rest enabled");
    }
    let (min, max) = options.node_port_range().map_err(anyhow::Error::msg)?;
    let mut allocators = Allocators::default().with_service_cidr(&options.service_cluster_ip_range).map_err(anyhow::Error::msg)?;
    allocators.node_port_min = min;
    allocators.node_port_max = max;
    let advertise = options.advertise_address.unwrap_or(options.bind_address);
    let mut authenticators: Vec<Box<dyn auth::Authenticator>> = vec![Box::new(auth::InsecurePortAuthenticator), Box::new(auth::X509Authenticator)];
    if let Some(path) = &options.token_auth_file {
        authenticators.push(Box::new(auth::TokenFileAuthenticator::load(path).map_err(anyhow::Error::msg)?));
    }
    let tls = match (&options.tls_cert_file, &options.tls_private_key_file) {
        (Some(cert), Some(key)) if options.secure_port != 0 => Some(tls::server_config(&tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: options.client_ca_file.clone(),
        })?),
        (None, None) if options.insecure_port != 0 => None,
        _ if options.secure_port == 0 && options.insecure_port != 0 => None,
        _ => anyhow::bail!("serving HTTPS needs --tls-cert-file and --tls-private-key-file (or, for tests only, --secure-port 0 --insecure-port N)"),
    };
    let advertise_port = if tls.is_some() { options.secure_port } else { options.insecure_port };
    let built = build(
        store,
        BuildOptions {
            root: options.etcd_prefix.trim_end_matches('/').to_string(),
            allocators,
            limits: Limits { max_body_bytes: options.max_request_body_bytes, ..Limits::default() },
            clock: Arc::new(SystemClock),
            advertise: bootstrap::Advertise { address: advertise.to_string(), port: advertise_port },
            authenticators,
            authorization: options.authorization_mode,
            service_account: service_account_keys(&options)?,
            audit: match &options.audit_log_path {
                None => None,
                Some(path) => {
                    let policy = match &options.audit_policy_file {
                        Some(p) => audit::Policy::parse(&std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?).map_err(anyhow::Error::msg)?,
                        None => audit::Policy::metadata_for_all(),
                    };
                    Some(audit::AuditLog::open(path, policy).await.with_context(|| format!("opening the audit log {}", path.display()))?)
                }
            },
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    if options.insecure_port != 0 {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], options.insecure_port));
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        tracing::warn!(%addr, "serving the insecure port: every request on it is the unsecured superuser");
        let router = built.router.clone().layer(axum::Extension(tls::InsecurePort));
        let mut stop = stop_rx.clone();
        servers.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "could not set TCP_NODELAY");
                }
            });
            if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(shutdown).await {
                tracing::error!(error = %e, "insecure port failed");
            }
        }));
    }
    if let Some(config) = tls {
        let addr = std::net::SocketAddr::new(options.bind_address, options.secure_port);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("listening on {addr}"))?;
        tracing::info!(%addr, "serving the Kubernetes API over HTTPS");
        let router = built.router.clone();
        let mut stop = stop_rx.clone();
        servers.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            tls::serve(listener, config, router, shutdown).await;
        }));
    }
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    for s in servers {
        let _ = s.await;
    }
    tracing::info!("shut down");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
