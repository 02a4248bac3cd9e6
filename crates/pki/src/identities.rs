//! The control plane's client identities and their kubeconfigs, as kubeadm
//! writes them into `/etc/kubernetes/*.conf`: each component gets its own
//! certificate (CN = user, O = groups) so RBAC grants it exactly its
//! bootstrap role.

use std::path::{Path, PathBuf};

use crate::{Ca, CertError, Kubeconfig, KubeconfigError, Validity};

/// One identity: the kubeconfig file it lives in, the user and groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// `admin` → `admin.conf`.
    pub name: &'static str,
    pub user: &'static str,
    pub groups: &'static [&'static str],
}

/// The identities `--write-kubeconfigs` issues.
/// * `admin`: cluster-admin through `system:masters`, as kubeadm's admin.conf.
/// * `scheduler`, `controller-manager`, `proxy`: the users upstream's
///   bootstrap policy binds (`system:kube-scheduler`,
///   `system:kube-controller-manager`, `system:kube-proxy` → `system:node-proxier`).
/// * `node-simulator`: the simulator plays thousands of nodes at once, which
///   no single `system:node:<name>` identity may do under the Node
///   authorizer; it is a test and rehearsal tool and runs as a cluster admin.
pub const CONTROL_PLANE_IDENTITIES: &[Identity] = &[
    Identity { name: "admin", user: "kubernetes-admin", groups: &["system:masters"] },
    Identity { name: "scheduler", user: "system:kube-scheduler", groups: &[] },
    Identity { name: "controller-manager", user: "system:kube-controller-manager", groups: &[] },
    Identity { name: "proxy", user: "system:kube-proxy", groups: &[] },
    Identity { name: "node-simulator", user: "system:node-simulator", groups: &["system:masters"] },
];

/// The group every kubelet identity is in.
pub const KUBELET_CLIENT_GROUP_NODES: &str = "system:nodes";

/// A kubelet's identity: `system:node:<node>` in `system:nodes`.
pub fn kubelet_user(node: &str) -> String {
    format!("system:node:{node}")
}

/// A kubeconfig for `user`/`groups` with a fresh client certificate.
pub fn client_kubeconfig(
    ca: &Ca,
    server_url: &str,
    user: &str,
    groups: &[String],
    validity: Validity,
) -> Result<Kubeconfig, CertError> {
    let issued = ca.issue_client(user, groups, validity)?;
    Ok(Kubeconfig::new("ferrokube", server_url, ca.cert_pem()).with_client_cert(user, &issued.cert_pem, &issued.key_pem))
}

/// Writes `<dir>/<name>.conf` for every identity in `identities` that is not
/// there yet (existing files are kept: they may be in use). Returns the
/// files written.
pub fn write_missing_kubeconfigs(
    ca: &Ca,
    server_url: &str,
    dir: &Path,
    identities: &[Identity],
    validity: Validity,
) -> Result<Vec<PathBuf>, IdentityError> {
    crate::fsutil::ensure_dir(dir).map_err(|source| IdentityError::Write {
        path: dir.to_path_buf(),
        source: KubeconfigError::Write { path: dir.to_path_buf(), source },
    })?;
    let mut written = Vec::new();
    for identity in identities {
        let path = dir.join(format!("{}.conf", identity.name));
        if path.exists() {
            continue;
        }
        let groups: Vec<String> = identity.groups.iter().map(|g| g.to_string()).collect();
        let kubeconfig = client_kubeconfig(ca, server_url, identity.user, &groups, validity)
            .map_err(|source| IdentityError::Issue { user: identity.user.to_string(), source })?;
        kubeconfig.write(&path).map_err(|source| IdentityError::Write { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `<dir>/kubelet-<node>.conf` (`system:node:<node>` in
/// `system:nodes`) unless it exists; returns it when written.
pub fn write_missing_kubelet_kubeconfig(
    ca: &Ca,
    server_url: &str,
    dir: &Path,
    node: &str,
    validity: Validity,
) -> Result<Option<PathBuf>, IdentityError> {
    let path = dir.join(format!("kubelet-{node}.conf"));
    if path.exists() {
        return Ok(None);
    }
    let user = kubelet_user(node);
    let kubeconfig = client_kubeconfig(ca, server_url, &user, &[KUBELET_CLIENT_GROUP_NODES.to_string()], validity)
        .map_err(|source| IdentityError::Issue { user: user.clone(), source })?;
    kubeconfig.write(&path).map_err(|source| IdentityError::Write { path: path.clone(), source })?;
    Ok(Some(path))
}

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("issuing a client certificate for {user}: {source}")]
    Issue { user: String, source: CertError },
    #[error("writing {path}: {source}", path = path.display())]
    Write { path: PathBuf, source: KubeconfigError },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn writes_each_identity_once_with_its_user_and_groups() {
        let ca = Ca::generate("test-ca").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let validity = Validity::from_now(std::time::Duration::from_secs(3600));
        let written = write_missing_kubeconfigs(&ca, "https://127.0.0.1:6443", dir.path(), CONTROL_PLANE_IDENTITIES, validity).unwrap();
        assert_eq!(written.len(), CONTROL_PLANE_IDENTITIES.len());
        let again = write_missing_kubeconfigs(&ca, "https://127.0.0.1:6443", dir.path(), CONTROL_PLANE_IDENTITIES, validity).unwrap();
        assert!(again.is_empty(), "existing kubeconfigs are kept");
        let kubelet = write_missing_kubelet_kubeconfig(&ca, "https://127.0.0.1:6443", dir.path(), "n1", validity).unwrap().unwrap();
        let settings = Kubeconfig::load(&kubelet).unwrap().client_settings(None).unwrap();
        let der = crate::pem::first_certificate(&settings.client_cert.clone().unwrap().0, "client certificate").unwrap();
        assert_eq!(crate::identity_from_cert_der(&der).unwrap(), ("system:node:n1".to_string(), vec!["system:nodes".to_string()]));
        for identity in CONTROL_PLANE_IDENTITIES {
            let kc = Kubeconfig::load(&dir.path().join(format!("{}.conf", identity.name))).unwrap();
            let settings = kc.client_settings(None).unwrap();
            let (cert_pem, _) = settings.client_cert.clone().expect("client cert");
            let der = crate::pem::first_certificate(&cert_pem, "client certificate").unwrap();
            let (user, groups) = crate::identity_from_cert_der(&der).unwrap();
            assert_eq!(user, identity.user);
            assert_eq!(groups, identity.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>());
        }
    }
}
