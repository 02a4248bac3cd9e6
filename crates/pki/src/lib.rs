//! Cluster PKI shared by the API server and `kadm`.
//!
//! - [`Ca`]: certificate authorities and what they issue (serving and
//!   client certificates, signed CSRs). Keys are ECDSA P-256.
//! - [`identity_from_cert_der`] / [`verify_client_cert`]: x509 client
//!   authentication (CN = user, O = groups).
//! - [`apiserver_sans`]: the names the API server certificate must cover.
//! - [`generate_signing_key`]: the service-account token key (RSA-2048,
//!   RS256) and its JWK.
//! - [`Kubeconfig`]: writing, loading and locating kubeconfigs.
//! - [`CONTROL_PLANE_IDENTITIES`] / [`write_missing_kubeconfigs`]: one
//!   kubeconfig per component identity (kubeadm's `*.conf`).
//! - [`PkiLayout`]: the kubeadm-style `pki/` directory, created
//!   idempotently.
//! - [`tls`]: rustls configurations from PEM.
//!
//! Everything is pure (PEM strings in, PEM strings out, time passed in)
//! except `PkiLayout::ensure_all`, `Kubeconfig::{load, write, resolve}` and
//! the random number generator. All cryptography runs on `ring`.

mod cert;
mod csr;
mod der;
mod fsutil;
mod identities;
mod kubeconfig;
mod layout;
mod pem;
mod sakey;
mod sans;
pub mod tls;
mod verify;

pub use cert::{
    Ca, CertError, Issued, RejectReason, Usage, Validity, CA_VALIDITY, CLOCK_SKEW_BACKDATE,
    LEAF_VALIDITY,
};
pub use identities::{
    client_kubeconfig, kubelet_user, write_missing_kubelet_kubeconfig, write_missing_kubeconfigs, Identity,
    IdentityError, KUBELET_CLIENT_GROUP_NODES,
    CONTROL_PLANE_IDENTITIES,
};
pub use csr::{generate_csr, parse_csr, CsrRequest};
pub use fsutil::{DIR_MODE, PRIVATE_MODE, PUBLIC_MODE};
pub use kubeconfig::{
    AuthInfo, ClientSettings, Cluster, ConfigSource, Context, InCluster, Kubeconfig,
    KubeconfigError, LookupEnv, NamedCluster, NamedContext, NamedUser, Resolved,
    SERVICE_ACCOUNT_DIR,
};
pub use layout::{
    LayoutError, PkiLayout, Spec, APISERVER_COMMON_NAME, CA_COMMON_NAME,
    FRONT_PROXY_CA_COMMON_NAME, FRONT_PROXY_CLIENT_COMMON_NAME, KUBELET_CLIENT_COMMON_NAME,
    KUBELET_CLIENT_GROUP,
};
pub use sakey::{
    generate_signing_key, jwk_from_public_key_pem, key_id, Jwk, Jwks, KeyError, Rs256Verifier, SigningKey,
    RSA_BITS,
};
pub use sans::{apiserver_sans, service_cidr_first_ip, CidrError};
pub use verify::{identity_from_cert_der, verify_client_cert};
