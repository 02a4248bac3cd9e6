//! PEM encoding and the private-key formats we accept.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::der;
use crate::CertError;

/// Encodes DER as a PEM block with 64-column lines (as Go and OpenSSL do).
pub(crate) fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every `CERTIFICATE` block in `pem`, in order.
pub(crate) fn certificates(pem: &str, what: &'static str) -> Result<Vec<Vec<u8>>, CertError> {
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let der = item.map_err(|e| CertError::Parse {
            what,
            detail: e.to_string(),
        })?;
        out.push(der.as_ref().to_vec());
    }
    if out.is_empty() {
        return Err(CertError::NoPem {
            what,
            label: "CERTIFICATE",
        });
    }
    Ok(out)
}

/// The first `CERTIFICATE` block in `pem`.
pub(crate) fn first_certificate(pem: &str, what: &'static str) -> Result<Vec<u8>, CertError> {
    let mut all = certificates(pem, what)?;
    // `certificates` never returns an empty list.
    Ok(all.swap_remove(0))
}

// 1.2.840.113549.1.1.1 rsaEncryption, with its NULL parameters.
const RSA_ALG_ID: &[u8] = &[
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];
// 1.2.840.10045.2.1 id-ecPublicKey.
const EC_PUBLIC_KEY_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Parses a private key for signing certificates. PKCS#8 (`PRIVATE KEY`) is
/// used as is; PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`), which
/// kubeadm writes, are wrapped into PKCS#8 first (ring only reads PKCS#8).
pub(crate) fn key_pair(pem: &str, what: &'static str) -> Result<KeyPair, CertError> {
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| CertError::Parse {
        what,
        detail: e.to_string(),
    })?;
    let pkcs8 = match &key {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        PrivateKeyDer::Pkcs1(k) => pkcs1_to_pkcs8(k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => {
            sec1_to_pkcs8(k.secret_sec1_der()).map_err(|e| CertError::Parse {
                what,
                detail: format!("EC PRIVATE KEY: {e}"),
            })?
        }
        _ => {
            return Err(CertError::UnsupportedKey {
                what,
                detail: "unknown private key encoding".into(),
            })
        }
    };
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| CertError::UnsupportedKey {
        what,
        detail: format!("{e} (supported: ECDSA P-256/P-384, Ed25519, RSA >= 2048 bits)"),
    })
}

fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Vec<u8> {
    der::encode_parts(
        der::SEQUENCE,
        &[
            &der::encode(der::INTEGER, &[0]),
            RSA_ALG_ID,
            &der::encode(der::OCTET_STRING, pkcs1),
        ],
    )
}

/// SEC1 `ECPrivateKey` carries its curve in `[0] parameters`; PKCS#8 wants
/// it in the algorithm identifier.
fn sec1_to_pkcs8(sec1: &[u8]) -> Result<Vec<u8>, der::DerError> {
    let outer = der::read_exact(sec1, der::SEQUENCE)?;
    let params = der::children(outer.content)?
        .into_iter()
        .find(|t| t.tag == der::CONTEXT_0)
        .ok_or(der::DerError("no curve parameters"))?;
    let curve = der::read_exact(params.content, der::OID)?;
    let alg_id = der::encode_parts(der::SEQUENCE, &[EC_PUBLIC_KEY_OID, curve.raw]);
    Ok(der::encode_parts(
        der::SEQUENCE,
        &[
            &der::encode(der::INTEGER, &[0]),
            &alg_id,
            &der::encode(der::OCTET_STRING, sec1),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData as _;

    #[test]
    fn pem_encoding_round_trips() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(first_certificate(&pem, "test").unwrap(), der);
    }

    #[test]
    fn no_certificate_block_is_an_error() {
        let err = first_certificate("hello", "ca bundle").unwrap_err();
        assert!(err.to_string().contains("ca bundle"), "{err}");
    }

    #[test]
    fn sec1_keys_are_accepted() {
        // What Go's x509.MarshalECPrivateKey (kubeadm with ECDSA) writes.
        let sec1_pem = "-----BEGIN EC PRIVATE KEY-----\n\
MHcCAQEEIHrEqUcnlynPlrvBziyrClrEE/VWKkH6hDQZBXtg1WTfoAoGCCqGSM49\n\
AwEHoUQDQgAE7briQWd5TLbSzgB0/6CfVfAryebz7/ZViEOLNzIKhcJNicfQAZ0S\n\
4JUd9ZbMUK1NxaENLx5nrdSK7IvNOPhi3g==\n\
-----END EC PRIVATE KEY-----\n";
        let kp = key_pair(sec1_pem, "test key").unwrap();
        assert_eq!(kp.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(!kp.subject_public_key_info().is_empty());
    }

    #[test]
    fn garbage_key_is_an_error() {
        let err = key_pair("nope", "ca.key").unwrap_err();
        assert!(err.to_string().contains("ca.key"), "{err}");
    }
}
