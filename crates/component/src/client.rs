//! A `kube::Client` from the usual kubeconfig lookup order.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// Client tuning shared by the components.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `--kubeconfig`; falls back to `$KUBECONFIG`, `~/.kube/config`, then
    /// the in-cluster service-account token and CA.
    pub kubeconfig: Option<PathBuf>,
    /// Per-request timeout (watches are long-lived and exempt in kube).
    pub read_timeout: Option<Duration>,
}

impl ClientOptions {
    pub fn new(kubeconfig: Option<PathBuf>) -> ClientOptions {
        ClientOptions { kubeconfig, read_timeout: Some(Duration::from_secs(295)) }
    }
}

/// Builds the client; the error says which source was tried.
pub async fn client_from_kubeconfig(options: &ClientOptions) -> anyhow::Result<kube::Client> {
    let config = config_from_options(options).await?;
    kube::Client::try_from(config).context("building the API client")
}

/// The resolved client configuration (to derive other identities from it,
/// e.g. [`crate::service_account::ServiceAccountClients`]).
pub async fn config_from_options(options: &ClientOptions) -> anyhow::Result<kube::Config> {
    let mut config = match &options.kubeconfig {
        Some(path) => config_from_file(path).await?,
        None => kube::Config::infer()
            .await
            .context("no --kubeconfig given and none found in $KUBECONFIG, ~/.kube/config or the in-cluster environment")?,
    };
    config.read_timeout = options.read_timeout;
    Ok(config)
}

async fn config_from_file(path: &Path) -> anyhow::Result<kube::Config> {
    let kubeconfig = Kubeconfig::read_from(path).with_context(|| format!("reading kubeconfig {}", path.display()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))
}
