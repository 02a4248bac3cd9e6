//! PKCS#10 certificate signing requests: what one asks for (for signers and
//! approvers to check), and making one (for kubelets and users who want a
//! certificate from the cluster's CSR API).

use std::net::IpAddr;

use rcgen::{CertificateParams, DnType, KeyPair, SanType};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::CertificateSigningRequestDer;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer as _;

use crate::CertError;

/// The subject and names a CSR asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsrRequest {
    pub common_name: String,
    pub organizations: Vec<String>,
    pub dns_names: Vec<String>,
    pub ip_addresses: Vec<IpAddr>,
    pub emails: Vec<String>,
    pub uris: Vec<String>,
}

fn parse_error(detail: impl ToString) -> CertError {
    CertError::Parse { what: "certificate signing request", detail: detail.to_string() }
}

/// Reads a CSR (PEM), checking its self-signature.
pub fn parse_csr(csr_pem: &str) -> Result<CsrRequest, CertError> {
    let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes()).map_err(parse_error)?;
    let (_, csr) = X509CertificationRequest::from_der(der.as_ref()).map_err(parse_error)?;
    csr.verify_signature().map_err(|e| CertError::CsrSignature(e.to_string()))?;
    let subject = &csr.certification_request_info.subject;
    let mut out = CsrRequest {
        common_name: subject.iter_common_name().next().and_then(|a| a.as_str().ok()).unwrap_or("").to_string(),
        organizations: subject.iter_organization().filter_map(|a| a.as_str().ok()).map(str::to_string).collect(),
        ..CsrRequest::default()
    };
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(s) => out.dns_names.push(s.to_string()),
                    GeneralName::RFC822Name(s) => out.emails.push(s.to_string()),
                    GeneralName::URI(s) => out.uris.push(s.to_string()),
                    GeneralName::IPAddress(bytes) => match bytes.len() {
                        4 => out.ip_addresses.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).map_err(parse_error)?)),
                        16 => out.ip_addresses.push(IpAddr::from(<[u8; 16]>::try_from(*bytes).map_err(parse_error)?)),
                        n => return Err(CertError::UnsupportedCsrSan(format!("IP address of {n} bytes"))),
                    },
                    other => return Err(CertError::UnsupportedCsrSan(other.to_string())),
                }
            }
        }
    }
    Ok(out)
}

/// A new ECDSA P-256 key and a CSR for `request`: `(csr_pem, key_pem)`.
/// At most one organization (rcgen keeps one value per attribute type).
pub fn generate_csr(request: &CsrRequest) -> Result<(String, String), CertError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(CertError::KeyGeneration)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, request.common_name.as_str());
    if let Some(org) = request.organizations.first() {
        params.distinguished_name.push(DnType::OrganizationName, org.as_str());
    }
    let ia5 = |s: &str| {
        rcgen::string::Ia5String::try_from(s).map_err(|source| CertError::InvalidSan { name: s.to_string(), source })
    };
    for dns in &request.dns_names {
        params.subject_alt_names.push(SanType::DnsName(ia5(dns)?));
    }
    for ip in &request.ip_addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let csr = params.serialize_request(&key).map_err(CertError::KeyGeneration)?;
    let pem = csr.pem().map_err(CertError::KeyGeneration)?;
    Ok((pem, key.serialize_pem()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn generated_csrs_parse_back() {
        let request = CsrRequest {
            common_name: "system:node:n1".into(),
            organizations: vec!["system:nodes".into()],
            dns_names: vec!["n1.example".into()],
            ip_addresses: vec!["10.0.0.7".parse().unwrap()],
            ..CsrRequest::default()
        };
        let (csr, key) = generate_csr(&request).unwrap();
        assert!(key.contains("PRIVATE KEY"));
        assert_eq!(parse_csr(&csr).unwrap(), request);
        assert!(parse_csr("not a csr").is_err());
    }
}
