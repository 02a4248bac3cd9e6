//! rustls configurations from PEM, always on the `ring` provider (passed
//! explicitly, so no process-wide default provider is needed).

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("parsing {what}: {detail}")]
    Pem { what: &'static str, detail: String },
    #[error("no certificate in {0}")]
    Empty(&'static str),
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("building the client certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The ring crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(pem: &str, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what,
            detail: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty(what));
    }
    Ok(certs)
}

fn key(pem: &str, what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| TlsError::Pem {
        what,
        detail: e.to_string(),
    })
}

fn roots(ca_pem: &str, what: &'static str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca_pem, what)? {
        roots.add(cert)?;
    }
    Ok(roots)
}

/// A server configuration: `cert_chain_pem` (leaf first) and its key; with
/// `client_ca_pem`, client certificates are requested and verified against
/// it but not required (requests without one go on to token or anonymous
/// authentication, as upstream). ALPN offers h2 and http/1.1.
pub fn server_config(
    cert_chain_pem: &str,
    key_pem: &str,
    client_ca_pem: Option<&str>,
) -> Result<ServerConfig, TlsError> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match client_ca_pem {
        Some(ca) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots(ca, "client CA bundle")?),
                provider,
            )
            .allow_unauthenticated()
            .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(
        certs(cert_chain_pem, "serving certificate")?,
        key(key_pem, "serving key")?,
    )?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A client configuration trusting `ca_pem`, optionally presenting a
/// client certificate `(cert PEM, key PEM)`.
pub fn client_config(
    ca_pem: &str,
    client_cert: Option<(&str, &str)>,
) -> Result<ClientConfig, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem, "CA bundle")?);
    Ok(match client_cert {
        Some((cert, k)) => builder
            .with_client_auth_cert(certs(cert, "client certificate")?, key(k, "client key")?)?,
        None => builder.with_no_client_auth(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ca, Validity};
    use rustls::{ClientConnection, ServerConnection};
    use rustls_pki_types::ServerName;
    use std::time::Duration;

    /// Runs a TLS handshake in memory; returns the identity the server saw.
    fn handshake(
        server: ServerConfig,
        client: ClientConfig,
        name: &str,
    ) -> Result<Option<(String, Vec<String>)>, rustls::Error> {
        let mut c = ClientConnection::new(
            Arc::new(client),
            ServerName::try_from(name.to_string()).unwrap(),
        )?;
        let mut s = ServerConnection::new(Arc::new(server))?;
        for _ in 0..10 {
            let mut buf = Vec::new();
            c.write_tls(&mut buf).unwrap();
            let mut rd = &buf[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).unwrap();
            }
            s.process_new_packets()?;
            let mut buf = Vec::new();
            s.write_tls(&mut buf).unwrap();
            let mut rd = &buf[..];
            while !rd.is_empty() {
                c.read_tls(&mut rd).unwrap();
            }
            c.process_new_packets()?;
            if !c.is_handshaking() && !s.is_handshaking() {
                return Ok(s
                    .peer_certificates()
                    .map(|chain| crate::identity_from_cert_der(&chain[0]).unwrap()));
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn mutual_tls_in_memory() {
        let v = Validity::from_now(Duration::from_secs(3600));
        let ca = Ca::generate("kubernetes").unwrap();
        let (dns, ips) =
            crate::apiserver_sans(&[], &[], "10.96.0.1".parse().unwrap(), "cluster.local");
        let serving = ca.issue_serving("kube-apiserver", &dns, &ips, v).unwrap();
        let admin = ca
            .issue_client("kubernetes-admin", &["system:masters".into()], v)
            .unwrap();
        let server =
            || server_config(&serving.cert_pem, &serving.key_pem, Some(ca.cert_pem())).unwrap();

        // Client certificate: the server sees the identity.
        let client = client_config(ca.cert_pem(), Some((&admin.cert_pem, &admin.key_pem))).unwrap();
        let seen = handshake(server(), client, "kubernetes.default.svc").unwrap();
        assert_eq!(
            seen,
            Some(("kubernetes-admin".into(), vec!["system:masters".into()]))
        );

        // No client certificate: still allowed (token/anonymous auth next).
        let anon = client_config(ca.cert_pem(), None).unwrap();
        assert_eq!(handshake(server(), anon, "10.96.0.1").unwrap(), None);

        // A client certificate from another CA: refused.
        let other = Ca::generate("kubernetes").unwrap();
        let stranger = other.issue_client("mallory", &[], v).unwrap();
        let client =
            client_config(ca.cert_pem(), Some((&stranger.cert_pem, &stranger.key_pem))).unwrap();
        assert!(handshake(server(), client, "localhost").is_err());

        // A name the serving certificate does not cover: the client refuses.
        let anon = client_config(ca.cert_pem(), None).unwrap();
        assert!(handshake(server(), anon, "evil.example").is_err());
    }

    #[test]
    fn bad_pem_is_reported() {
        assert!(matches!(
            server_config("", "", None),
            Err(TlsError::Empty("serving certificate"))
        ));
        assert!(client_config("not pem", None).is_err());
    }
}
