//! Command-line options, kept apart from the logic that uses them.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageBackend {
    /// The embedded store (redb): one node, no external service.
    Embedded,
    /// A real etcd v3 cluster.
    Etcd3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthorizationMode {
    /// The Node authorizer for kubelets, then RBAC (upstream's default
    /// `--authorization-mode=Node,RBAC`).
    #[value(name = "Node,RBAC")]
    NodeRbac,
    /// Role-based access control with the default bootstrap policy.
    #[value(name = "RBAC")]
    Rbac,
    /// Allow every request (tests only).
    AlwaysAllow,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "apiserver", about = "The ferrokube API server: the Kubernetes 1.33 REST API over an embedded store or etcd.")]
pub struct Options {
    /// Address the secure (HTTPS) port listens on.
    #[arg(long, default_value = "127.0.0.1", env = "APISERVER_BIND_ADDRESS")]
    pub bind_address: IpAddr,
    /// HTTPS port (0 = off). Needs --tls-cert-file and --tls-private-key-file.
    #[arg(long, default_value_t = 6443)]
    pub secure_port: u16,
    /// Plain-HTTP port on 127.0.0.1 for tests only (0 = off). Every request
    /// on it is the unsecured superuser: never expose it.
    #[arg(long, alias = "port", default_value_t = 0)]
    pub insecure_port: u16,
    /// A kubeadm-style PKI directory (`ca.crt`, `apiserver.crt`, `sa.key`, ...):
    /// missing files are generated, existing ones kept; used for serving and
    /// client-certificate authentication unless the explicit file flags are given.
    #[arg(long)]
    pub pki_dir: Option<PathBuf>,
    /// Write a cluster-admin kubeconfig (client certificate in system:masters)
    /// here, signed by the PKI directory's CA.
    #[arg(long, requires = "pki_dir")]
    pub write_admin_kubeconfig: Option<PathBuf>,
    /// Write one kubeconfig per control-plane identity into this directory
    /// (`admin.conf`, `scheduler.conf`, `controller-manager.conf`,
    /// `proxy.conf`, `node-simulator.conf`), keeping files already there.
    #[arg(long, requires = "pki_dir")]
    pub write_kubeconfigs: Option<PathBuf>,
    /// With --write-kubeconfigs: also `kubelet-<node>.conf` for these nodes
    /// (`system:node:<node>` in `system:nodes`), comma separated. Nodes may
    /// instead bootstrap with a token and get their certificate through the
    /// CSR API.
    #[arg(long, value_delimiter = ',', requires = "write_kubeconfigs")]
    pub kubelet_kubeconfigs: Vec<String>,
    /// The cluster's DNS domain (for the serving certificate's SANs).
    #[arg(long, default_value = "cluster.local")]
    pub cluster_domain: String,
    /// Serving certificate (PEM).
    #[arg(long)]
    pub tls_cert_file: Option<PathBuf>,
    /// Serving key (PEM).
    #[arg(long)]
    pub tls_private_key_file: Option<PathBuf>,
    /// CA bundle that client certificates must chain to (enables x509 authentication).
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,
    /// Private key (PEM) that signs service-account tokens.
    #[arg(long)]
    pub service_account_signing_key_file: Option<PathBuf>,
    /// Public key (PEM) that verifies service-account tokens.
    #[arg(long)]
    pub service_account_key_file: Option<PathBuf>,
    /// The `iss` of service-account tokens.
    #[arg(long, default_value = "https://kubernetes.default.svc.cluster.local")]
    pub service_account_issuer: String,
    /// Encryption at rest: an `EncryptionConfiguration` file (aesgcm,
    /// secretbox, identity providers per resource).
    #[arg(long)]
    pub encryption_provider_config: Option<PathBuf>,
    /// Write the audit log (JSON lines) here.
    #[arg(long)]
    pub audit_log_path: Option<PathBuf>,
    /// Audit policy (audit.k8s.io/v1 Policy); without it, Metadata for all.
    #[arg(long, requires = "audit_log_path")]
    pub audit_policy_file: Option<PathBuf>,
    /// Authorization mode.
    #[arg(long, value_enum, default_value_t = AuthorizationMode::NodeRbac)]
    pub authorization_mode: AuthorizationMode,
    /// Static token file: CSV lines `token,user,uid[,"group1,group2"]`.
    #[arg(long)]
    pub token_auth_file: Option<PathBuf>,
    /// The address published in the `kubernetes` Service's endpoints (defaults to the bind address).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
    /// Storage backend.
    #[arg(long, value_enum, default_value_t = StorageBackend::Embedded)]
    pub storage_backend: StorageBackend,
    /// Data directory of the embedded store.
    #[arg(long, default_value = "/var/lib/ferrokube/apiserver")]
    pub data_dir: PathBuf,
    /// etcd endpoints, comma separated (with --storage-backend etcd3).
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd_servers: Vec<String>,
    /// Key prefix of every object in storage (lets clusters share one etcd).
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// CIDR that Service ClusterIPs come from.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    /// Range of NodePorts, `min-max`.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    pub max_request_body_bytes: usize,
}

impl Options {
    pub fn node_port_range(&self) -> Result<(u16, u16), String> {
        let bad = || format!("--service-node-port-range {:?} must look like 30000-32767", self.service_node_port_range);
        let (a, b) = self.service_node_port_range.split_once('-').ok_or_else(bad)?;
        let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a >= b {
            return Err(bad());
        }
        Ok((a, b))
    }
}
