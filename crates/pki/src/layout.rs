//! The kubeadm-style `pki/` directory: which files, and creating the missing
//! ones without touching what exists.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::PublicKeyData as _;
use thiserror::Error;
use x509_parser::extensions::GeneralName;

use crate::cert::{Ca, CertError, Issued, Validity, CA_VALIDITY, LEAF_VALIDITY};
use crate::sakey::{generate_signing_key, KeyError, SigningKey};
use crate::{fsutil, pem};

/// Subject names, as kubeadm uses them.
pub const CA_COMMON_NAME: &str = "kubernetes";
pub const APISERVER_COMMON_NAME: &str = "kube-apiserver";
pub const KUBELET_CLIENT_COMMON_NAME: &str = "kube-apiserver-kubelet-client";
/// kubeadm >= 1.29 uses `kubeadm:cluster-admins` (bound by RBAC); until
/// ferrokube bootstraps that binding the apiserver's kubelet client is a
/// `system:masters` member, as in older kubeadm.
pub const KUBELET_CLIENT_GROUP: &str = "system:masters";
pub const FRONT_PROXY_CA_COMMON_NAME: &str = "front-proxy-ca";
pub const FRONT_PROXY_CLIENT_COMMON_NAME: &str = "front-proxy-client";

#[derive(Debug, Error)]
pub enum LayoutError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Cert {
        path: PathBuf,
        #[source]
        source: CertError,
    },
    #[error("{path}: {source}")]
    Key {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("{present} exists but {missing} does not; restore it or remove both to regenerate")]
    Incomplete { present: PathBuf, missing: PathBuf },
    #[error("{leaf} exists but its CA {ca} does not; remove the leaf to regenerate both")]
    OrphanedLeaf { leaf: PathBuf, ca: PathBuf },
    #[error("{cert} is not signed by {ca}; remove it (and its key) to regenerate")]
    NotSignedByCa { cert: PathBuf, ca: PathBuf },
    #[error("{key} does not match {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("{cert} lacks required names {missing:?}; remove it (and its key) to regenerate")]
    MissingSans { cert: PathBuf, missing: Vec<String> },
}

/// What `ensure_all` should create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The API server certificate's DNS SANs (see [`crate::apiserver_sans`]).
    pub apiserver_dns_names: Vec<String>,
    /// The API server certificate's IP SANs.
    pub apiserver_ips: Vec<IpAddr>,
    /// Start of validity for anything generated.
    pub now: SystemTime,
    pub ca_validity: Duration,
    pub leaf_validity: Duration,
}

impl Spec {
    /// Kubeadm's validities (CAs 10 years, leaves 1 year) from now.
    pub fn new(apiserver_dns_names: Vec<String>, apiserver_ips: Vec<IpAddr>) -> Spec {
        Spec {
            apiserver_dns_names,
            apiserver_ips,
            now: SystemTime::now(),
            ca_validity: CA_VALIDITY,
            leaf_validity: LEAF_VALIDITY,
        }
    }
}

/// The files of a control plane's `pki/` directory (kubeadm's names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiLayout {
    dir: PathBuf,
}

enum Check<'a> {
    Serving {
        dns: &'a [String],
        ips: &'a [IpAddr],
    },
    Client,
}

impl PkiLayout {
    pub fn new(dir: impl Into<PathBuf>) -> PkiLayout {
        PkiLayout { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn ca_crt(&self) -> PathBuf {
        self.file("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.file("ca.key")
    }
    pub fn apiserver_crt(&self) -> PathBuf {
        self.file("apiserver.crt")
    }
    pub fn apiserver_key(&self) -> PathBuf {
        self.file("apiserver.key")
    }
    pub fn apiserver_kubelet_client_crt(&self) -> PathBuf {
        self.file("apiserver-kubelet-client.crt")
    }
    pub fn apiserver_kubelet_client_key(&self) -> PathBuf {
        self.file("apiserver-kubelet-client.key")
    }
    pub fn front_proxy_ca_crt(&self) -> PathBuf {
        self.file("front-proxy-ca.crt")
    }
    pub fn front_proxy_ca_key(&self) -> PathBuf {
        self.file("front-proxy-ca.key")
    }
    pub fn front_proxy_client_crt(&self) -> PathBuf {
        self.file("front-proxy-client.crt")
    }
    pub fn front_proxy_client_key(&self) -> PathBuf {
        self.file("front-proxy-client.key")
    }
    pub fn sa_key(&self) -> PathBuf {
        self.file("sa.key")
    }
    pub fn sa_pub(&self) -> PathBuf {
        self.file("sa.pub")
    }

    /// Loads the cluster CA (`ca.crt` + `ca.key`), e.g. to issue an admin
    /// kubeconfig.
    pub fn load_ca(&self) -> Result<Ca, LayoutError> {
        load_ca(&self.ca_crt(), &self.ca_key())
    }

    /// Loads the service-account signing key (`sa.key`).
    pub fn load_signing_key(&self) -> Result<SigningKey, LayoutError> {
        let path = self.sa_key();
        SigningKey::from_private_key_pem(&read(&path)?)
            .map_err(|source| LayoutError::Key { path, source })
    }

    /// Creates every missing file and keeps (after checking) every existing
    /// one: keys 0600, certificates and `sa.pub` 0644, directories 0755.
    /// Returns the files written, in order; empty when all were there.
    pub fn ensure_all(&self, spec: &Spec) -> Result<Vec<PathBuf>, LayoutError> {
        fsutil::ensure_dir(&self.dir).map_err(|source| LayoutError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut written = Vec::new();
        let ca_validity = Validity::starting_at(spec.now, spec.ca_validity);
        let leaf_validity = Validity::starting_at(spec.now, spec.leaf_validity);

        let ca = ensure_ca(
            (&self.ca_crt(), &self.ca_key()),
            CA_COMMON_NAME,
            ca_validity,
            &[self.apiserver_crt(), self.apiserver_kubelet_client_crt()],
            &mut written,
        )?;
        ensure_leaf(
            (&self.apiserver_crt(), &self.apiserver_key()),
            (&ca, &self.ca_crt()),
            Check::Serving {
                dns: &spec.apiserver_dns_names,
                ips: &spec.apiserver_ips,
            },
            |ca| {
                ca.issue_serving(
                    APISERVER_COMMON_NAME,
                    &spec.apiserver_dns_names,
                    &spec.apiserver_ips,
                    leaf_validity,
                )
            },
            &mut written,
        )?;
        ensure_leaf(
            (
                &self.apiserver_kubelet_client_crt(),
                &self.apiserver_kubelet_client_key(),
            ),
            (&ca, &self.ca_crt()),
            Check::Client,
            |ca| {
                ca.issue_client(
                    KUBELET_CLIENT_COMMON_NAME,
                    &[KUBELET_CLIENT_GROUP.to_string()],
                    leaf_validity,
                )
            },
            &mut written,
        )?;

        let fp_ca = ensure_ca(
            (&self.front_proxy_ca_crt(), &self.front_proxy_ca_key()),
            FRONT_PROXY_CA_COMMON_NAME,
            ca_validity,
            &[self.front_proxy_client_crt()],
            &mut written,
        )?;
        ensure_leaf(
            (
                &self.front_proxy_client_crt(),
                &self.front_proxy_client_key(),
            ),
            (&fp_ca, &self.front_proxy_ca_crt()),
            Check::Client,
            |ca| ca.issue_client(FRONT_PROXY_CLIENT_COMMON_NAME, &[], leaf_validity),
            &mut written,
        )?;

        ensure_signing_key(&self.sa_key(), &self.sa_pub(), &mut written)?;
        Ok(written)
    }
}

fn read(path: &Path) -> Result<String, LayoutError> {
    std::fs::read_to_string(path).map_err(|source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write(
    path: &Path,
    contents: &str,
    mode: u32,
    written: &mut Vec<PathBuf>,
) -> Result<(), LayoutError> {
    fsutil::write_atomic(path, contents.as_bytes(), mode).map_err(|source| LayoutError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    written.push(path.to_path_buf());
    Ok(())
}

/// Both files there (`true`), neither (`false`), or an error naming the
/// one that is missing.
fn pair_present(first: &Path, second: &Path) -> Result<bool, LayoutError> {
    match (first.exists(), second.exists()) {
        (true, true) => Ok(true),
        (false, false) => Ok(false),
        (true, false) => Err(LayoutError::Incomplete {
            present: first.to_path_buf(),
            missing: second.to_path_buf(),
        }),
        (false, true) => Err(LayoutError::Incomplete {
            present: second.to_path_buf(),
            missing: first.to_path_buf(),
        }),
    }
}

fn load_ca(crt: &Path, key: &Path) -> Result<Ca, LayoutError> {
    Ca::from_pem(&read(crt)?, &read(key)?).map_err(|source| LayoutError::Cert {
        path: crt.to_path_buf(),
        source,
    })
}

fn ensure_ca(
    (crt, key): (&Path, &Path),
    common_name: &str,
    validity: Validity,
    dependents: &[PathBuf],
    written: &mut Vec<PathBuf>,
) -> Result<Ca, LayoutError> {
    if pair_present(crt, key)? {
        return load_ca(crt, key);
    }
    if let Some(leaf) = dependents.iter().find(|d| d.exists()) {
        return Err(LayoutError::OrphanedLeaf {
            leaf: leaf.clone(),
            ca: crt.to_path_buf(),
        });
    }
    let ca = Ca::generate_with(common_name, validity).map_err(|source| LayoutError::Cert {
        path: crt.to_path_buf(),
        source,
    })?;
    write(key, &ca.key_pem(), fsutil::PRIVATE_MODE, written)?;
    write(crt, ca.cert_pem(), fsutil::PUBLIC_MODE, written)?;
    Ok(ca)
}

fn ensure_leaf(
    (crt, key): (&Path, &Path),
    (ca, ca_path): (&Ca, &Path),
    check: Check<'_>,
    issue: impl FnOnce(&Ca) -> Result<Issued, CertError>,
    written: &mut Vec<PathBuf>,
) -> Result<(), LayoutError> {
    if pair_present(crt, key)? {
        return check_leaf((crt, key), (ca, ca_path), &check);
    }
    let issued = issue(ca).map_err(|source| LayoutError::Cert {
        path: crt.to_path_buf(),
        source,
    })?;
    write(key, &issued.key_pem, fsutil::PRIVATE_MODE, written)?;
    write(crt, &issued.cert_pem, fsutil::PUBLIC_MODE, written)
}

/// An existing leaf must belong to its key, be signed by its CA and, for
/// the serving certificate, still cover every required name.
fn check_leaf(
    (crt, key): (&Path, &Path),
    (ca, ca_path): (&Ca, &Path),
    check: &Check<'_>,
) -> Result<(), LayoutError> {
    let cert_err = |source| LayoutError::Cert {
        path: crt.to_path_buf(),
        source,
    };
    let der = pem::first_certificate(&read(crt)?, "certificate").map_err(cert_err)?;
    let key_pair =
        pem::key_pair(&read(key)?, "private key").map_err(|source| LayoutError::Cert {
            path: key.to_path_buf(),
            source,
        })?;
    let parse_err = |e: x509_parser::nom::Err<x509_parser::error::X509Error>| {
        cert_err(CertError::Parse {
            what: "certificate",
            detail: e.to_string(),
        })
    };
    let (_, x509) = x509_parser::parse_x509_certificate(&der).map_err(parse_err)?;
    let (_, ca_x509) = x509_parser::parse_x509_certificate(ca.cert_der()).map_err(parse_err)?;
    if key_pair.subject_public_key_info() != x509.public_key().raw {
        return Err(LayoutError::KeyMismatch {
            key: key.to_path_buf(),
            cert: crt.to_path_buf(),
        });
    }
    let signed = x509.issuer().as_raw() == ca_x509.subject().as_raw()
        && x509.verify_signature(Some(ca_x509.public_key())).is_ok();
    if !signed {
        return Err(LayoutError::NotSignedByCa {
            cert: crt.to_path_buf(),
            ca: ca_path.to_path_buf(),
        });
    }
    if let Check::Serving { dns, ips } = check {
        let mut have_dns = Vec::new();
        let mut have_ips = Vec::new();
        if let Ok(Some(san)) = x509.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(d) => have_dns.push(d.to_ascii_lowercase()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            have_ips.push(IpAddr::from(a));
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            have_ips.push(IpAddr::from(a));
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut missing: Vec<String> = dns
            .iter()
            .filter(|d| !have_dns.contains(&d.to_ascii_lowercase()))
            .cloned()
            .collect();
        missing.extend(
            ips.iter()
                .filter(|ip| !have_ips.contains(ip))
                .map(ToString::to_string),
        );
        if !missing.is_empty() {
            return Err(LayoutError::MissingSans {
                cert: crt.to_path_buf(),
                missing,
            });
        }
    }
    Ok(())
}

fn ensure_signing_key(
    key: &Path,
    public: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), LayoutError> {
    let key_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LayoutError::Key { path, source }
    };
    match (key.exists(), public.exists()) {
        (true, true) => {
            let sk = SigningKey::from_private_key_pem(&read(key)?).map_err(key_err(key))?;
            let jwk =
                crate::sakey::jwk_from_public_key_pem(&read(public)?).map_err(key_err(public))?;
            if jwk != sk.jwk {
                return Err(LayoutError::KeyMismatch {
                    key: key.to_path_buf(),
                    cert: public.to_path_buf(),
                });
            }
            Ok(())
        }
        // kubeadm also re-derives a lost sa.pub from sa.key.
        (true, false) => {
            let sk = SigningKey::from_private_key_pem(&read(key)?).map_err(key_err(key))?;
            write(public, &sk.public_key_pem, fsutil::PUBLIC_MODE, written)
        }
        (false, true) => Err(LayoutError::Incomplete {
            present: public.to_path_buf(),
            missing: key.to_path_buf(),
        }),
        (false, false) => {
            let sk = generate_signing_key().map_err(key_err(key))?;
            write(key, &sk.private_key_pem, fsutil::PRIVATE_MODE, written)?;
            write(public, &sk.public_key_pem, fsutil::PUBLIC_MODE, written)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt as _;

    fn spec() -> Spec {
        let (dns, ips) = crate::apiserver_sans(
            &["node-1".into()],
            &["192.0.2.10".parse().unwrap()],
            "10.96.0.1".parse().unwrap(),
            "cluster.local",
        );
        Spec::new(dns, ips)
    }

    fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32, SystemTime)> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    (
                        std::fs::read(e.path()).unwrap(),
                        m.permissions().mode() & 0o777,
                        m.modified().unwrap(),
                    ),
                )
            })
            .collect()
    }

    #[test]
    fn ensure_all_creates_kubeadm_files_with_modes_and_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("etc/kubernetes/pki");
        let layout = PkiLayout::new(&dir);
        let written = layout.ensure_all(&spec()).unwrap();
        assert_eq!(written.len(), 12);

        let files = snapshot(&dir);
        let want = [
            ("ca.crt", 0o644),
            ("ca.key", 0o600),
            ("apiserver.crt", 0o644),
            ("apiserver.key", 0o600),
            ("apiserver-kubelet-client.crt", 0o644),
            ("apiserver-kubelet-client.key", 0o600),
            ("front-proxy-ca.crt", 0o644),
            ("front-proxy-ca.key", 0o600),
            ("front-proxy-client.crt", 0o644),
            ("front-proxy-client.key", 0o600),
            ("sa.key", 0o600),
            ("sa.pub", 0o644),
        ];
        assert_eq!(files.len(), want.len(), "{:?}", files.keys());
        for (name, mode) in want {
            assert_eq!(files[name].1, mode, "{name}");
        }
        for d in [
            tmp.path().join("etc"),
            tmp.path().join("etc/kubernetes"),
            dir.clone(),
        ] {
            let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o755, "{}", d.display());
        }

        // Second run: nothing written, nothing changed.
        assert!(layout.ensure_all(&spec()).unwrap().is_empty());
        assert_eq!(snapshot(&dir), files);

        // The pieces fit together.
        let ca = layout.load_ca().unwrap();
        let client = read(&layout.apiserver_kubelet_client_crt()).unwrap();
        let (user, groups) = crate::verify_client_cert(
            &[pem::first_certificate(&client, "t").unwrap()],
            ca.cert_pem(),
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(user, KUBELET_CLIENT_COMMON_NAME);
        assert_eq!(groups, [KUBELET_CLIENT_GROUP]);
        let fp = read(&layout.front_proxy_client_crt()).unwrap();
        let fp_ca = read(&layout.front_proxy_ca_crt()).unwrap();
        crate::verify_client_cert(
            &[pem::first_certificate(&fp, "t").unwrap()],
            &fp_ca,
            SystemTime::now(),
        )
        .unwrap();
        assert!(crate::verify_client_cert(
            &[pem::first_certificate(&fp, "t").unwrap()],
            ca.cert_pem(),
            SystemTime::now(),
        )
        .is_err());
        layout.load_signing_key().unwrap();
    }

    #[test]
    fn missing_pieces_are_recreated_and_broken_ones_reported() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = PkiLayout::new(tmp.path());
        layout.ensure_all(&spec()).unwrap();
        let ca_before = std::fs::read(layout.ca_crt()).unwrap();

        // A lost leaf pair is re-issued from the existing CA.
        std::fs::remove_file(layout.apiserver_crt()).unwrap();
        std::fs::remove_file(layout.apiserver_key()).unwrap();
        std::fs::remove_file(layout.sa_pub()).unwrap();
        let written = layout.ensure_all(&spec()).unwrap();
        assert_eq!(
            written,
            [
                layout.apiserver_key(),
                layout.apiserver_crt(),
                layout.sa_pub()
            ]
        );
        assert_eq!(std::fs::read(layout.ca_crt()).unwrap(), ca_before);

        // Half a pair is an error naming the missing file.
        std::fs::remove_file(layout.front_proxy_client_key()).unwrap();
        let err = layout.ensure_all(&spec()).unwrap_err();
        assert!(
            matches!(&err, LayoutError::Incomplete { missing, .. } if *missing == layout.front_proxy_client_key()),
            "{err}"
        );
        std::fs::remove_file(layout.front_proxy_client_crt()).unwrap();
        layout.ensure_all(&spec()).unwrap();

        // A new node name the existing serving cert lacks.
        let mut more = spec();
        more.apiserver_dns_names.push("node-2".into());
        let err = layout.ensure_all(&more).unwrap_err();
        assert!(
            matches!(&err, LayoutError::MissingSans { missing, .. } if missing == &["node-2".to_string()]),
            "{err}"
        );

        // A leaf from some other CA.
        let other = Ca::generate("kubernetes").unwrap();
        let foreign = other
            .issue_client("x", &[], Validity::from_now(Duration::from_secs(60)))
            .unwrap();
        std::fs::write(layout.apiserver_kubelet_client_crt(), &foreign.cert_pem).unwrap();
        std::fs::write(layout.apiserver_kubelet_client_key(), &foreign.key_pem).unwrap();
        let err = layout.ensure_all(&spec()).unwrap_err();
        assert!(matches!(err, LayoutError::NotSignedByCa { .. }), "{err}");

        // A leaf whose CA is gone.
        let tmp2 = tempfile::tempdir().unwrap();
        let l2 = PkiLayout::new(tmp2.path());
        std::fs::write(l2.apiserver_crt(), &foreign.cert_pem).unwrap();
        std::fs::write(l2.apiserver_key(), &foreign.key_pem).unwrap();
        let err = l2.ensure_all(&spec()).unwrap_err();
        assert!(matches!(err, LayoutError::OrphanedLeaf { .. }), "{err}");
    }
}
