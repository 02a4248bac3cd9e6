//! Certificate authorities and what they issue: serving certificates,
//! client certificates (CN = user, O = groups) and signed CSRs.
//!
//! Certificates are built by rcgen and then *finished* here: rcgen keeps one
//! value per attribute type in a name, but a Kubernetes client certificate
//! needs one `O` per group. So every issued certificate has its subject (our
//! own encoding, or the CSR's bytes verbatim) and its issuer (the CA
//! certificate's subject bytes verbatim, so chain building always matches)
//! spliced into the TBSCertificate, which is then signed again with the CA
//! key.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SigningKey as _,
};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer};
use thiserror::Error;
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use crate::{der, pem};

/// How long a generated CA is valid (kubeadm: 10 years).
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a generated leaf certificate is valid (kubeadm: 1 year).
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// `not_before` is moved back by this much to tolerate clock skew between
/// nodes, as upstream's CSR signer does.
pub const CLOCK_SKEW_BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Everything that can go wrong building, parsing or verifying certificates.
#[derive(Debug, Error)]
pub enum CertError {
    #[error("no {label} PEM block in {what}")]
    NoPem {
        what: &'static str,
        label: &'static str,
    },
    #[error("parsing {what}: {detail}")]
    Parse { what: &'static str, detail: String },
    #[error("unsupported private key in {what}: {detail}")]
    UnsupportedKey { what: &'static str, detail: String },
    #[error("generating a key pair: {0}")]
    KeyGeneration(#[source] rcgen::Error),
    #[error("the system random number generator failed")]
    Random,
    #[error("building the certificate for {subject:?}: {source}")]
    Build {
        subject: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("invalid subject alternative name {name:?}: {source}")]
    InvalidSan {
        name: String,
        #[source]
        source: rcgen::Error,
    },
    #[error("invalid validity window: {0}")]
    InvalidValidity(&'static str),
    #[error("certificate {subject:?} is not a CA (basicConstraints CA:TRUE is missing)")]
    NotACa { subject: String },
    #[error("the private key does not belong to certificate {subject:?}")]
    KeyMismatch { subject: String },
    #[error("the CSR's signature does not verify: {0}")]
    CsrSignature(String),
    #[error("the CSR asks for an unsupported subject alternative name: {0}")]
    UnsupportedCsrSan(String),
    #[error("the certificate has no common name (CN) to use as the user name")]
    MissingCommonName,
    #[error("the client certificate chain is empty")]
    EmptyChain,
    #[error("certificate rejected ({reason}): {detail}")]
    Rejected {
        reason: RejectReason,
        detail: String,
    },
}

/// Why `verify_client_cert` rejected a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    Expired,
    NotYetValid,
    /// No path to any of the trusted CAs.
    UnknownIssuer,
    /// A signature on the path does not verify (tampered or forged).
    BadSignature,
    /// The certificate is not allowed for client authentication (EKU).
    WrongUsage,
    Malformed,
    Other,
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RejectReason::Expired => "expired",
            RejectReason::NotYetValid => "not yet valid",
            RejectReason::UnknownIssuer => "unknown issuer",
            RejectReason::BadSignature => "bad signature",
            RejectReason::WrongUsage => "not valid for client authentication",
            RejectReason::Malformed => "malformed",
            RejectReason::Other => "invalid",
        })
    }
}

/// A certificate's validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    pub fn new(not_before: SystemTime, not_after: SystemTime) -> Self {
        Self {
            not_before,
            not_after,
        }
    }

    /// Valid from `now` (backdated by [`CLOCK_SKEW_BACKDATE`]) for `duration`.
    pub fn starting_at(now: SystemTime, duration: Duration) -> Self {
        Self {
            not_before: now.checked_sub(CLOCK_SKEW_BACKDATE).unwrap_or(now),
            not_after: now.checked_add(duration).unwrap_or(now),
        }
    }

    /// [`Validity::starting_at`] the system clock's now.
    pub fn from_now(duration: Duration) -> Self {
        Self::starting_at(SystemTime::now(), duration)
    }

    fn apply(&self, params: &mut CertificateParams) -> Result<(), CertError> {
        let nb = to_offset(self.not_before)?;
        let na = to_offset(self.not_after)?;
        if nb >= na {
            return Err(CertError::InvalidValidity(
                "notBefore is not before notAfter",
            ));
        }
        params.not_before = nb;
        params.not_after = na;
        Ok(())
    }
}

fn to_offset(t: SystemTime) -> Result<OffsetDateTime, CertError> {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
    }
    .ok_or(CertError::InvalidValidity("time out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|_| CertError::InvalidValidity("time out of range"))
}

/// A freshly issued certificate and its new private key (PKCS#8 PEM).
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Key usages a signer may grant (the `spec.usages` of a
/// CertificateSigningRequest that we support).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Usage {
    DigitalSignature,
    KeyEncipherment,
    ClientAuth,
    ServerAuth,
}

impl Usage {
    /// Parses the Kubernetes spelling (`"client auth"`, ...).
    pub fn from_k8s(s: &str) -> Option<Usage> {
        match s {
            "digital signature" => Some(Usage::DigitalSignature),
            "key encipherment" => Some(Usage::KeyEncipherment),
            "client auth" => Some(Usage::ClientAuth),
            "server auth" => Some(Usage::ServerAuth),
            _ => None,
        }
    }

    /// The Kubernetes spelling.
    pub fn as_k8s(self) -> &'static str {
        match self {
            Usage::DigitalSignature => "digital signature",
            Usage::KeyEncipherment => "key encipherment",
            Usage::ClientAuth => "client auth",
            Usage::ServerAuth => "server auth",
        }
    }
}

/// A certificate authority: its certificate and signing key.
pub struct Ca {
    cert_pem: String,
    cert_der: Vec<u8>,
    /// The CA certificate's subject, byte for byte: every issued
    /// certificate's issuer.
    subject_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A new self-signed CA (ECDSA P-256, CA:TRUE, keyCertSign) valid for
    /// [`CA_VALIDITY`] from now.
    pub fn generate(common_name: &str) -> Result<Ca, CertError> {
        Self::generate_with(common_name, Validity::from_now(CA_VALIDITY))
    }

    /// [`Ca::generate`] with an explicit validity window.
    pub fn generate_with(common_name: &str, validity: Validity) -> Result<Ca, CertError> {
        let key = new_key()?;
        let mut params = CertificateParams::default();
        validity.apply(&mut params)?;
        params.serial_number = Some(random_serial()?);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let cert = params
            .self_signed(&key)
            .map_err(|source| CertError::Build {
                subject: common_name.to_string(),
                source,
            })?;
        Self::from_parts(cert.der().to_vec(), key)
    }

    /// Loads an existing CA. The key may be PKCS#8, PKCS#1 (RSA) or SEC1
    /// (EC); it must match the certificate, which must be a CA.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Ca, CertError> {
        let der = pem::first_certificate(cert_pem, "CA certificate")?;
        let key = pem::key_pair(key_pem, "CA private key")?;
        Self::from_parts(der, key)
    }

    fn from_parts(cert_der: Vec<u8>, key: KeyPair) -> Result<Ca, CertError> {
        let (_, x509) =
            x509_parser::parse_x509_certificate(&cert_der).map_err(|e| CertError::Parse {
                what: "CA certificate",
                detail: e.to_string(),
            })?;
        let subject = x509.subject().to_string();
        let is_ca = x509
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(CertError::NotACa { subject });
        }
        if key.subject_public_key_info() != x509.public_key().raw {
            return Err(CertError::KeyMismatch { subject });
        }
        let subject_der = x509.subject().as_raw().to_vec();
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(cert_der.as_slice()), key)
            .map_err(|source| CertError::Build {
                subject: subject.clone(),
                source,
            })?;
        Ok(Ca {
            cert_pem: pem::encode("CERTIFICATE", &cert_der),
            cert_der,
            subject_der,
            issuer,
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA key as PKCS#8 PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A serving certificate: serverAuth, the given DNS and IP SANs, a new
    /// ECDSA P-256 key.
    pub fn issue_serving(
        &self,
        common_name: &str,
        dns_names: &[String],
        ips: &[IpAddr],
        validity: Validity,
    ) -> Result<Issued, CertError> {
        let mut sans = Vec::with_capacity(dns_names.len() + ips.len());
        for name in dns_names {
            sans.push(dns_san(name)?);
        }
        sans.extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let key = new_key()?;
        let params = leaf_params(
            validity,
            sans,
            &[Usage::DigitalSignature, Usage::ServerAuth],
        )?;
        let der = self.finish(&params, &encode_name(common_name, &[]), &key, common_name)?;
        Ok(Issued {
            cert_pem: pem::encode("CERTIFICATE", &der),
            key_pem: key.serialize_pem(),
        })
    }

    /// A client certificate the way Kubernetes maps x509 to users:
    /// CN = `user`, one O per group, clientAuth, a new ECDSA P-256 key.
    pub fn issue_client(
        &self,
        user: &str,
        groups: &[String],
        validity: Validity,
    ) -> Result<Issued, CertError> {
        let key = new_key()?;
        let params = leaf_params(
            validity,
            Vec::new(),
            &[Usage::DigitalSignature, Usage::ClientAuth],
        )?;
        let der = self.finish(&params, &encode_name(user, groups), &key, user)?;
        Ok(Issued {
            cert_pem: pem::encode("CERTIFICATE", &der),
            key_pem: key.serialize_pem(),
        })
    }

    /// Signs a PKCS#10 CSR (PEM) as upstream's CSR signers do: the subject is
    /// copied verbatim, DNS/IP/email/URI SANs are kept, other requested
    /// extensions are ignored, `usages` decide key usage and EKU, and the
    /// result is never a CA. Returns the certificate PEM.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        usages: &[Usage],
        validity: Validity,
    ) -> Result<String, CertError> {
        let csr_der =
            CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes()).map_err(|e| {
                CertError::Parse {
                    what: "certificate signing request",
                    detail: e.to_string(),
                }
            })?;
        let (_, csr) =
            X509CertificationRequest::from_der(csr_der.as_ref()).map_err(|e| CertError::Parse {
                what: "certificate signing request",
                detail: e.to_string(),
            })?;
        csr.verify_signature()
            .map_err(|e| CertError::CsrSignature(e.to_string()))?;
        let info = &csr.certification_request_info;
        let public_key =
            rcgen::SubjectPublicKeyInfo::from_der(info.subject_pki.raw).map_err(|e| {
                CertError::UnsupportedKey {
                    what: "certificate signing request",
                    detail: e.to_string(),
                }
            })?;
        let mut sans = Vec::new();
        for ext in csr.requested_extensions().into_iter().flatten() {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                for name in &san.general_names {
                    sans.push(csr_san(name)?);
                }
            }
        }
        let params = leaf_params(validity, sans, usages)?;
        let label = info.subject.to_string();
        let der = self.finish(&params, info.subject.as_raw(), &public_key, &label)?;
        Ok(pem::encode("CERTIFICATE", &der))
    }

    /// Builds the certificate with rcgen, then splices in the real subject
    /// and issuer names and signs the result with the CA key.
    fn finish(
        &self,
        params: &CertificateParams,
        subject_der: &[u8],
        public_key: &impl PublicKeyData,
        label: &str,
    ) -> Result<Vec<u8>, CertError> {
        let built = params
            .signed_by(public_key, &self.issuer)
            .map_err(|source| CertError::Build {
                subject: label.to_string(),
                source,
            })?;
        resign_with_names(
            built.der(),
            &self.subject_der,
            subject_der,
            self.issuer.key(),
        )
        .map_err(|source| CertError::Build {
            subject: label.to_string(),
            source,
        })
    }
}

fn new_key() -> Result<KeyPair, CertError> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CertError::KeyGeneration)
}

/// A random positive 128-bit serial number.
fn random_serial() -> Result<SerialNumber, CertError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertError::Random)?;
    // Positive and minimally encoded: top bit clear, first byte non-zero.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn leaf_params(
    validity: Validity,
    sans: Vec<SanType>,
    usages: &[Usage],
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    validity.apply(&mut params)?;
    params.serial_number = Some(random_serial()?);
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    for usage in usages {
        match usage {
            Usage::DigitalSignature => {
                push_unique(&mut params.key_usages, KeyUsagePurpose::DigitalSignature)
            }
            Usage::KeyEncipherment => {
                push_unique(&mut params.key_usages, KeyUsagePurpose::KeyEncipherment)
            }
            Usage::ClientAuth => {
                params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ClientAuth)
            }
            Usage::ServerAuth => {
                params.insert_extended_key_usage(ExtendedKeyUsagePurpose::ServerAuth)
            }
        }
    }
    Ok(params)
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

fn dns_san(name: &str) -> Result<SanType, CertError> {
    let ia5 = rcgen::string::Ia5String::try_from(name).map_err(|source| CertError::InvalidSan {
        name: name.to_string(),
        source,
    })?;
    Ok(SanType::DnsName(ia5))
}

fn csr_san(name: &GeneralName<'_>) -> Result<SanType, CertError> {
    let ia5 = |s: &str| {
        rcgen::string::Ia5String::try_from(s).map_err(|source| CertError::InvalidSan {
            name: s.to_string(),
            source,
        })
    };
    match name {
        GeneralName::DNSName(s) => Ok(SanType::DnsName(ia5(s)?)),
        GeneralName::RFC822Name(s) => Ok(SanType::Rfc822Name(ia5(s)?)),
        GeneralName::URI(s) => Ok(SanType::URI(ia5(s)?)),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => {
                let mut a = [0u8; 4];
                a.copy_from_slice(bytes);
                Ok(SanType::IpAddress(IpAddr::from(a)))
            }
            16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(bytes);
                Ok(SanType::IpAddress(IpAddr::from(a)))
            }
            n => Err(CertError::UnsupportedCsrSan(format!(
                "IP address of {n} bytes"
            ))),
        },
        other => Err(CertError::UnsupportedCsrSan(other.to_string())),
    }
}

// id-at-commonName (2.5.4.3) and id-at-organizationName (2.5.4.10).
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];

/// A subject as Go's `pkix.Name` encodes it: one RDN per `O`, then the `CN`.
pub(crate) fn encode_name(common_name: &str, organizations: &[String]) -> Vec<u8> {
    let rdn = |oid: &[u8], value: &str| {
        let atv = der::encode_parts(
            der::SEQUENCE,
            &[
                &der::encode(der::OID, oid),
                &der::encode(der::UTF8_STRING, value.as_bytes()),
            ],
        );
        der::encode(der::SET, &atv)
    };
    let mut rdns: Vec<Vec<u8>> = organizations.iter().map(|o| rdn(OID_O, o)).collect();
    rdns.push(rdn(OID_CN, common_name));
    let parts: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    der::encode_parts(der::SEQUENCE, &parts)
}

/// Replaces the issuer and subject of a DER certificate and signs the new
/// TBSCertificate with `key` (whose algorithm the certificate already
/// names, since rcgen built it with the same key).
fn resign_with_names(
    cert_der: &[u8],
    issuer_der: &[u8],
    subject_der: &[u8],
    key: &KeyPair,
) -> Result<Vec<u8>, rcgen::Error> {
    let malformed = |e: der::DerError| rcgen::Error::X509(e.to_string());
    let cert = der::read_exact(cert_der, der::SEQUENCE).map_err(malformed)?;
    let parts = der::children(cert.content).map_err(malformed)?;
    let [tbs, sig_alg, _sig] = parts.as_slice() else {
        return Err(rcgen::Error::X509("certificate is not 3 elements".into()));
    };
    let fields = der::children(tbs.content).map_err(malformed)?;
    // version [0], serial, signature, issuer, validity, subject, ...
    let base = usize::from(fields.first().is_some_and(|f| f.tag == der::CONTEXT_0));
    let (issuer_at, subject_at) = (base + 2, base + 4);
    if fields.len() <= subject_at {
        return Err(rcgen::Error::X509("TBSCertificate too short".into()));
    }
    let new_fields: Vec<&[u8]> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| match i {
            _ if i == issuer_at => issuer_der,
            _ if i == subject_at => subject_der,
            _ => f.raw,
        })
        .collect();
    let new_tbs = der::encode_parts(der::SEQUENCE, &new_fields);
    let signature = key.sign(&new_tbs)?;
    let mut bits = Vec::with_capacity(signature.len() + 1);
    bits.push(0); // no unused bits
    bits.extend_from_slice(&signature);
    Ok(der::encode_parts(
        der::SEQUENCE,
        &[&new_tbs, sig_alg.raw, &der::encode(der::BIT_STRING, &bits)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::X509Certificate;

    fn parse(pem_str: &str) -> Vec<u8> {
        pem::first_certificate(pem_str, "test").unwrap()
    }

    fn with_x509<R>(der: &[u8], f: impl FnOnce(&X509Certificate<'_>) -> R) -> R {
        let (_, x) = x509_parser::parse_x509_certificate(der).unwrap();
        f(&x)
    }

    fn hour() -> Validity {
        Validity::from_now(Duration::from_secs(3600))
    }

    #[test]
    fn ca_is_self_signed_ca_with_cert_sign() {
        let ca = Ca::generate("kubernetes").unwrap();
        with_x509(ca.cert_der(), |x| {
            assert_eq!(x.subject().to_string(), "CN=kubernetes");
            assert_eq!(x.issuer(), x.subject());
            assert!(x.basic_constraints().unwrap().unwrap().value.ca);
            assert!(x.key_usage().unwrap().unwrap().value.key_cert_sign());
            x.verify_signature(None).unwrap();
            let years = (x.validity().not_after.timestamp() - x.validity().not_before.timestamp())
                / (365 * 24 * 3600);
            assert_eq!(years, 10);
        });
    }

    #[test]
    fn ca_round_trips_through_pem() {
        let ca = Ca::generate("kubernetes").unwrap();
        let again = Ca::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(again.cert_der(), ca.cert_der());
        let issued = again
            .issue_client("alice", &["devs".to_string()], hour())
            .unwrap();
        // Issued by the reloaded CA, verifies against the original.
        let leaf = parse(&issued.cert_pem);
        with_x509(&leaf, |x| {
            with_x509(ca.cert_der(), |c| {
                x.verify_signature(Some(c.public_key())).unwrap()
            })
        });
    }

    /// kubeadm's default CA: RSA-2048 with a PKCS#1 `RSA PRIVATE KEY`.
    #[test]
    fn rsa_pkcs1_ca_from_kubeadm_issues_verifiable_certs() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::DecodePrivateKey as _;
        let sk = crate::generate_signing_key().unwrap();
        let rsa_key = rsa::RsaPrivateKey::from_pkcs8_pem(&sk.private_key_pem).unwrap();
        let pkcs1 = rsa_key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let key = pem::key_pair(&pkcs1, "test").unwrap();
        assert_eq!(key.algorithm(), &rcgen::PKCS_RSA_SHA256);
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "kubernetes");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let cert = params.self_signed(&key).unwrap();

        let ca = Ca::from_pem(&cert.pem(), &pkcs1).unwrap();
        let issued = ca.issue_client("alice", &["devs".into()], hour()).unwrap();
        let got =
            crate::verify_client_cert(&[parse(&issued.cert_pem)], ca.cert_pem(), SystemTime::now())
                .unwrap();
        assert_eq!(got, ("alice".to_string(), vec!["devs".to_string()]));
    }

    #[test]
    fn from_pem_rejects_mismatched_key_and_non_ca() {
        let a = Ca::generate("a").unwrap();
        let b = Ca::generate("b").unwrap();
        let err = Ca::from_pem(a.cert_pem(), &b.key_pem()).unwrap_err();
        assert!(matches!(err, CertError::KeyMismatch { .. }), "{err}");

        let leaf = a.issue_client("bob", &[], hour()).unwrap();
        let err = Ca::from_pem(&leaf.cert_pem, &leaf.key_pem).unwrap_err();
        assert!(matches!(err, CertError::NotACa { .. }), "{err}");
    }

    #[test]
    fn serving_cert_has_every_san_and_chains_to_ca() {
        let ca = Ca::generate("kubernetes").unwrap();
        let dns: Vec<String> = [
            "localhost",
            "kubernetes",
            "kubernetes.default.svc.cluster.local",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ips: Vec<IpAddr> = ["127.0.0.1", "10.96.0.1", "::1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let issued = ca
            .issue_serving("kube-apiserver", &dns, &ips, hour())
            .unwrap();
        let der = parse(&issued.cert_pem);
        with_x509(&der, |x| {
            assert_eq!(x.subject().to_string(), "CN=kube-apiserver");
            assert_eq!(x.issuer().to_string(), "CN=kubernetes");
            let san = x.subject_alternative_name().unwrap().unwrap().value;
            let mut got_dns = Vec::new();
            let mut got_ips = Vec::new();
            for n in &san.general_names {
                match n {
                    GeneralName::DNSName(s) => got_dns.push(s.to_string()),
                    GeneralName::IPAddress(b) => got_ips.push(match b.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap()),
                        _ => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap()),
                    }),
                    other => panic!("unexpected SAN {other}"),
                }
            }
            assert_eq!(got_dns, dns);
            assert_eq!(got_ips, ips);
            let eku = x.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.server_auth && !eku.client_auth);
            assert!(!x.basic_constraints().unwrap().unwrap().value.ca);
            with_x509(ca.cert_der(), |c| {
                x.verify_signature(Some(c.public_key())).unwrap()
            });
        });
        // And webpki (what rustls uses) accepts it for each name.
        let ca_der = CertificateDer::from(ca.cert_der());
        let anchor = webpki::anchor_from_trusted_cert(&ca_der).unwrap();
        let leaf = CertificateDer::from(der.as_slice());
        let ee = webpki::EndEntityCert::try_from(&leaf).unwrap();
        let now = rustls_pki_types::UnixTime::now();
        ee.verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &[],
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .unwrap();
        for name in dns
            .iter()
            .map(String::as_str)
            .chain(["127.0.0.1", "10.96.0.1", "::1"])
        {
            let sn = rustls_pki_types::ServerName::try_from(name).unwrap();
            ee.verify_is_valid_for_subject_name(&sn)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let other = rustls_pki_types::ServerName::try_from("evil.example").unwrap();
        assert!(ee.verify_is_valid_for_subject_name(&other).is_err());
    }

    #[test]
    fn client_cert_has_one_o_per_group() {
        let ca = Ca::generate("kubernetes").unwrap();
        let groups = vec!["system:masters".to_string(), "devs".to_string()];
        let issued = ca
            .issue_client("kubernetes-admin", &groups, hour())
            .unwrap();
        let der = parse(&issued.cert_pem);
        with_x509(&der, |x| {
            assert_eq!(
                x.subject().to_string(),
                "O=system:masters, O=devs, CN=kubernetes-admin"
            );
            let eku = x.extended_key_usage().unwrap().unwrap().value;
            assert!(eku.client_auth && !eku.server_auth);
        });
    }

    #[test]
    fn invalid_validity_is_rejected() {
        let ca = Ca::generate("kubernetes").unwrap();
        let now = SystemTime::now();
        let err = ca
            .issue_client("x", &[], Validity::new(now, now))
            .unwrap_err();
        assert!(matches!(err, CertError::InvalidValidity(_)), "{err}");
    }

    /// A CSR the way kubelet builds one (and one with several O's, which
    /// rcgen alone could not even express), plus SANs.
    fn csr(subject_der: &[u8], sans: Vec<SanType>) -> (String, KeyPair) {
        let key = new_key().unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "placeholder");
        params.subject_alt_names = sans;
        let req = params.serialize_request(&key).unwrap();
        // Splice the wanted subject into the CertificationRequestInfo and
        // sign again, as `resign_with_names` does for certificates.
        let outer = der::read_exact(req.der(), der::SEQUENCE).unwrap();
        let parts = der::children(outer.content).unwrap();
        let info = der::children(parts[0].content).unwrap();
        let new_info = der::encode_parts(
            der::SEQUENCE,
            &[info[0].raw, subject_der, info[2].raw, info[3].raw],
        );
        let sig = key.sign(&new_info).unwrap();
        let mut bits = vec![0];
        bits.extend_from_slice(&sig);
        let out = der::encode_parts(
            der::SEQUENCE,
            &[
                &new_info,
                parts[1].raw,
                &der::encode(der::BIT_STRING, &bits),
            ],
        );
        (pem::encode("CERTIFICATE REQUEST", &out), key)
    }

    #[test]
    fn sign_csr_keeps_subject_and_sans_and_applies_usages() {
        let ca = Ca::generate("kubernetes").unwrap();
        // (CN, O's, usages, want clientAuth, want serverAuth)
        type Case<'a> = (&'a str, &'a [String], &'a [Usage], bool, bool);
        let cases: &[Case<'_>] = &[
            (
                "system:node:worker-1",
                &["system:nodes".to_string()],
                &[Usage::DigitalSignature, Usage::ClientAuth],
                true,
                false,
            ),
            (
                "jane",
                &["a".to_string(), "b".to_string(), "c".to_string()],
                &[
                    Usage::DigitalSignature,
                    Usage::KeyEncipherment,
                    Usage::ClientAuth,
                ],
                true,
                false,
            ),
            (
                "system:node:worker-1",
                &["system:nodes".to_string()],
                &[Usage::DigitalSignature, Usage::ServerAuth],
                false,
                true,
            ),
        ];
        for (cn, orgs, usages, client, server) in cases {
            let subject = encode_name(cn, orgs);
            let (csr_pem, key) = csr(
                &subject,
                vec![
                    dns_san("worker-1").unwrap(),
                    SanType::IpAddress("192.0.2.7".parse().unwrap()),
                ],
            );
            let cert_pem = ca.sign_csr(&csr_pem, usages, hour()).unwrap();
            let der = parse(&cert_pem);
            with_x509(&der, |x| {
                assert_eq!(x.subject().as_raw(), &subject[..], "{cn}");
                assert_eq!(x.public_key().raw, &key.subject_public_key_info()[..]);
                let eku = x.extended_key_usage().unwrap().unwrap().value;
                assert_eq!(
                    (eku.client_auth, eku.server_auth),
                    (*client, *server),
                    "{cn}"
                );
                let ku = x.key_usage().unwrap().unwrap().value;
                assert_eq!(
                    ku.key_encipherment(),
                    usages.contains(&Usage::KeyEncipherment)
                );
                let san = x.subject_alternative_name().unwrap().unwrap().value;
                assert_eq!(san.general_names.len(), 2);
                with_x509(ca.cert_der(), |c| {
                    x.verify_signature(Some(c.public_key())).unwrap()
                });
            });
            let (user, groups) = crate::identity_from_cert_der(&der).unwrap();
            assert_eq!(&user, cn);
            assert_eq!(&groups, orgs);
        }
    }

    #[test]
    fn sign_csr_rejects_a_tampered_csr() {
        let ca = Ca::generate("kubernetes").unwrap();
        let (csr_pem, _) = csr(&encode_name("mallory", &[]), Vec::new());
        let mut der =
            rustls_pki_types::CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec();
        // Turn "mallory" into "mallorz" inside the signed part.
        let pos = der.windows(7).position(|w| w == b"mallory").unwrap();
        der[pos + 6] = b'z';
        let tampered = pem::encode("CERTIFICATE REQUEST", &der);
        let err = ca
            .sign_csr(&tampered, &[Usage::ClientAuth], hour())
            .unwrap_err();
        assert!(matches!(err, CertError::CsrSignature(_)), "{err}");
        assert!(ca
            .sign_csr("garbage", &[Usage::ClientAuth], hour())
            .is_err());
    }

    #[test]
    fn usages_parse_k8s_spelling() {
        for u in [
            Usage::DigitalSignature,
            Usage::KeyEncipherment,
            Usage::ClientAuth,
            Usage::ServerAuth,
        ] {
            assert_eq!(Usage::from_k8s(u.as_k8s()), Some(u));
        }
        assert_eq!(Usage::from_k8s("cert sign"), None);
    }
}
