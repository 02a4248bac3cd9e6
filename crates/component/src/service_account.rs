//! Clients that act as a service account (upstream's
//! `--use-service-account-credentials`): the controller-manager runs each
//! controller as `kube-system/<controller>-controller`, so RBAC grants each
//! exactly its `system:controller:<name>` role.
//!
//! The account is created if missing, a token is obtained through the
//! TokenRequest API and written to a 0600 file that kube's client re-reads;
//! a background task renews it at 80% of its lifetime.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, ObjectMeta, PostParams};

/// Token lifetime asked for (upstream's controller tokens last an hour).
const TOKEN_SECONDS: i64 = 3600;

/// Makes service-account clients from one base configuration (the
/// component's own identity, which must be allowed to create service
/// accounts and tokens in `namespace`).
pub struct ServiceAccountClients {
    base_config: kube::Config,
    base: kube::Client,
    namespace: String,
    dir: Arc<tempfile::TempDir>,
}

impl ServiceAccountClients {
    pub fn new(base_config: kube::Config, base: kube::Client, namespace: &str) -> anyhow::Result<ServiceAccountClients> {
        let dir = tempfile::Builder::new().prefix("ferrokube-sa-tokens").tempdir().context("creating the token directory")?;
        Ok(ServiceAccountClients { base_config, base, namespace: namespace.to_string(), dir: Arc::new(dir) })
    }

    /// A client acting as `<namespace>/<name>`; its token is renewed in the
    /// background for as long as the process runs.
    pub async fn client_for(&self, name: &str) -> anyhow::Result<kube::Client> {
        let accounts: Api<ServiceAccount> = Api::namespaced(self.base.clone(), &self.namespace);
        ensure_account(&accounts, name).await?;
        let path = self.dir.path().join(format!("{name}.token"));
        let expires_in = write_token(&accounts, name, &path).await?;
        let mut config = self.base_config.clone();
        config.auth_info = kube::config::AuthInfo { token_file: Some(path.display().to_string()), ..Default::default() };
        let client = kube::Client::try_from(config).with_context(|| format!("building a client for service account {name}"))?;
        let dir = self.dir.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            let _keep = dir;
            let mut wait = renew_after(expires_in);
            loop {
                tokio::time::sleep(wait).await;
                wait = match write_token(&accounts, &name, &path).await {
                    Ok(expires_in) => renew_after(expires_in),
                    Err(e) => {
                        tracing::warn!(account = %name, error = %format!("{e:#}"), "renewing the service-account token failed; retrying");
                        Duration::from_secs(10)
                    }
                };
            }
        });
        Ok(client)
    }
}

fn renew_after(expires_in: Duration) -> Duration {
    expires_in.mul_f64(0.8).max(Duration::from_secs(10))
}

async fn ensure_account(accounts: &Api<ServiceAccount>, name: &str) -> anyhow::Result<()> {
    if accounts.get_opt(name).await.with_context(|| format!("reading service account {name}"))?.is_some() {
        return Ok(());
    }
    let account = ServiceAccount { metadata: ObjectMeta { name: Some(name.to_string()), ..Default::default() }, ..Default::default() };
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("creating service account {name}")),
    }
}

/// Requests a token and writes it atomically; returns its lifetime.
async fn write_token(accounts: &Api<ServiceAccount>, name: &str, path: &Path) -> anyhow::Result<Duration> {
    let request = TokenRequest {
        spec: TokenRequestSpec { expiration_seconds: Some(TOKEN_SECONDS), ..Default::default() },
        ..Default::default()
    };
    let issued = accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .with_context(|| format!("requesting a token for service account {name}"))?;
    let token = issued.status.map(|s| s.token).filter(|t| !t.is_empty()).context("the token request returned no token")?;
    write_private(path, token.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    Ok(Duration::from_secs(TOKEN_SECONDS as u64))
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp: PathBuf = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
