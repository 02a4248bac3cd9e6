//! Who a client certificate says it is, and whether to believe it.

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, UnixTime};

use crate::cert::{CertError, RejectReason};
use crate::pem;

/// The identity in a client certificate, as upstream's x509 authenticator
/// reads it: user = the subject's common name, groups = its organizations
/// (in order). Does **not** check the chain: for use where a TLS layer has
/// already verified it.
pub fn identity_from_cert_der(der: &[u8]) -> Result<(String, Vec<String>), CertError> {
    let (_, x509) = x509_parser::parse_x509_certificate(der).map_err(|e| CertError::Parse {
        what: "client certificate",
        detail: e.to_string(),
    })?;
    let subject = x509.subject();
    let text = |atv: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        atv.as_str()
            .map(str::to_string)
            .map_err(|e| CertError::Parse {
                what: "client certificate subject",
                detail: e.to_string(),
            })
    };
    // Go's pkix.Name keeps the last CN it sees.
    let user = match subject.iter_common_name().last() {
        Some(cn) => text(cn)?,
        None => String::new(),
    };
    if user.is_empty() {
        return Err(CertError::MissingCommonName);
    }
    let groups = subject
        .iter_organization()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((user, groups))
}

/// Verifies a client certificate chain (leaf first, then any
/// intermediates) against the CA bundle `ca_pem` at `now` — signatures up to
/// a trusted CA, every validity window, clientAuth usage — and returns its
/// identity (user, groups).
pub fn verify_client_cert<D: AsRef<[u8]>>(
    chain_der: &[D],
    ca_pem: &str,
    now: SystemTime,
) -> Result<(String, Vec<String>), CertError> {
    let (leaf, intermediates) = chain_der.split_first().ok_or(CertError::EmptyChain)?;
    let cas = pem::certificates(ca_pem, "client CA bundle")?;
    let anchors = cas
        .iter()
        .map(|der| {
            webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                .map(|a| a.to_owned())
                .map_err(|e| CertError::Parse {
                    what: "client CA bundle",
                    detail: e.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let leaf_der = CertificateDer::from(leaf.as_ref());
    let ee = webpki::EndEntityCert::try_from(&leaf_der).map_err(rejected)?;
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|d| CertificateDer::from(d.as_ref()))
        .collect();
    let since_epoch = now
        .duration_since(UNIX_EPOCH)
        .map_err(|_| CertError::InvalidValidity("verification time before 1970"))?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &intermediates,
        UnixTime::since_unix_epoch(since_epoch),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map_err(rejected)?;
    identity_from_cert_der(leaf.as_ref())
}

fn rejected(e: webpki::Error) -> CertError {
    use webpki::Error as E;
    let reason = match &e {
        E::CertExpired { .. } => RejectReason::Expired,
        E::CertNotValidYet { .. } => RejectReason::NotYetValid,
        E::UnknownIssuer => RejectReason::UnknownIssuer,
        E::InvalidSignatureForPublicKey
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_)
        | E::UnsupportedSignatureAlgorithmContext(_) => RejectReason::BadSignature,
        E::RequiredEkuNotFoundContext(_) => RejectReason::WrongUsage,
        E::BadDer | E::BadDerTime | E::TrailingData(_) => RejectReason::Malformed,
        _ => RejectReason::Other,
    };
    CertError::Rejected {
        reason,
        detail: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::{Ca, Validity};
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);

    fn der(pem_str: &str) -> Vec<u8> {
        pem::first_certificate(pem_str, "test").unwrap()
    }

    #[test]
    fn identity_round_trips() {
        let ca = Ca::generate("kubernetes").unwrap();
        let cases: &[(&str, &[&str])] = &[
            ("alice", &[]),
            ("kubernetes-admin", &["system:masters"]),
            (
                "system:node:n1",
                &["system:nodes", "extra group", "ünïcode"],
            ),
        ];
        for (user, groups) in cases {
            let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
            let issued = ca
                .issue_client(user, &groups, Validity::from_now(HOUR))
                .unwrap();
            let got = identity_from_cert_der(&der(&issued.cert_pem)).unwrap();
            assert_eq!(got, (user.to_string(), groups.clone()));
            let verified =
                verify_client_cert(&[der(&issued.cert_pem)], ca.cert_pem(), SystemTime::now())
                    .unwrap();
            assert_eq!(verified, got);
        }
    }

    #[test]
    fn rejections() {
        let ca = Ca::generate("kubernetes").unwrap();
        let other = Ca::generate("other").unwrap();
        let impostor = Ca::generate("kubernetes").unwrap(); // same name, other key
        let now = SystemTime::now();
        let good = der(&ca
            .issue_client("alice", &[], Validity::from_now(HOUR))
            .unwrap()
            .cert_pem);

        let from_other_ca = der(&other
            .issue_client(
                "alice",
                &["system:masters".into()],
                Validity::from_now(HOUR),
            )
            .unwrap()
            .cert_pem);
        let forged = der(&impostor
            .issue_client(
                "alice",
                &["system:masters".into()],
                Validity::from_now(HOUR),
            )
            .unwrap()
            .cert_pem);
        let expired = der(&ca
            .issue_client(
                "alice",
                &[],
                Validity::new(now - 2 * 24 * HOUR, now - 24 * HOUR),
            )
            .unwrap()
            .cert_pem);
        let not_yet = der(&ca
            .issue_client("alice", &[], Validity::new(now + HOUR, now + 2 * HOUR))
            .unwrap()
            .cert_pem);
        let serving = der(&ca
            .issue_serving("alice", &["alice".into()], &[], Validity::from_now(HOUR))
            .unwrap()
            .cert_pem);
        let mut tampered = good.clone();
        // "alice" -> "alicf": still well-formed, signature no longer matches.
        let pos = tampered.windows(5).position(|w| w == b"alice").unwrap();
        tampered[pos + 4] = b'f';
        let mut garbage = good.clone();
        garbage.truncate(40);

        let cases: Vec<(&str, Vec<u8>, RejectReason)> = vec![
            ("other CA", from_other_ca, RejectReason::UnknownIssuer),
            ("same-name impostor CA", forged, RejectReason::BadSignature),
            ("expired", expired, RejectReason::Expired),
            ("not yet valid", not_yet, RejectReason::NotYetValid),
            ("serving cert", serving, RejectReason::WrongUsage),
            ("tampered", tampered, RejectReason::BadSignature),
            ("truncated", garbage, RejectReason::Malformed),
        ];
        for (name, cert, want) in cases {
            match verify_client_cert(&[cert], ca.cert_pem(), now) {
                Err(CertError::Rejected { reason, detail }) => {
                    assert_eq!(reason, want, "{name}: {detail}")
                }
                other => panic!("{name}: expected rejection, got {other:?}"),
            }
        }
        assert!(matches!(
            verify_client_cert::<Vec<u8>>(&[], ca.cert_pem(), now),
            Err(CertError::EmptyChain)
        ));
        // A bundle with both CAs trusts both.
        let bundle = format!("{}{}", other.cert_pem(), ca.cert_pem());
        verify_client_cert(&[good], &bundle, now).unwrap();
    }

    #[test]
    fn missing_common_name_is_an_error() {
        let ca = Ca::generate("kubernetes").unwrap();
        let issued = ca
            .issue_client("", &["g".into()], Validity::from_now(HOUR))
            .unwrap();
        assert!(matches!(
            identity_from_cert_der(&der(&issued.cert_pem)),
            Err(CertError::MissingCommonName)
        ));
    }
}
