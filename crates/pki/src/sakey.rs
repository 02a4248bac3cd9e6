//! The service-account token signing key (`sa.key` / `sa.pub`) and its JWK
//! for `/openid/v1/jwks`.
//!
//! RSA 2048 with RS256, as upstream. ring signs and verifies with RSA but
//! cannot generate RSA keys, so generation (only) uses the pure-Rust `rsa`
//! crate; the PKCS#8 it writes is what ring's `RsaKeyPair::from_pkcs8`
//! reads for signing tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey as _;
use rsa::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    LineEnding,
};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// RSA modulus size for generated keys.
pub const RSA_BITS: usize = 2048;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("generating an RSA-{RSA_BITS} key: {0}")]
    Generate(#[source] rsa::Error),
    #[error("encoding the {what}: {detail}")]
    Encode { what: &'static str, detail: String },
    #[error("parsing the {what}: {detail} (expected an RSA key in PEM: PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, or `PUBLIC KEY`)")]
    Parse { what: &'static str, detail: String },
}

/// A JSON Web Key as the API server publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    #[serde(rename = "use")]
    pub use_: String,
    pub kty: String,
    pub kid: String,
    pub alg: String,
    pub n: String,
    pub e: String,
}

/// The `/openid/v1/jwks` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// A service-account signing key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// PKCS#8 PEM (`PRIVATE KEY`).
    pub private_key_pem: String,
    /// SubjectPublicKeyInfo PEM (`PUBLIC KEY`).
    pub public_key_pem: String,
    pub jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("private_key_pem", &"<redacted>")
            .field("public_key_pem", &self.public_key_pem)
            .field("jwk", &self.jwk)
            .finish()
    }
}

/// A new RSA-2048 key pair for signing service-account tokens (RS256).
pub fn generate_signing_key() -> Result<SigningKey, KeyError> {
    let private =
        RsaPrivateKey::new(&mut rand_core::OsRng, RSA_BITS).map_err(KeyError::Generate)?;
    from_private(&private)
}

impl SigningKey {
    /// Loads an existing private key (PKCS#8 or PKCS#1, as kubeadm writes
    /// `sa.key`) and derives the public half and JWK.
    pub fn from_private_key_pem(pem: &str) -> Result<SigningKey, KeyError> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
            .map_err(|e| KeyError::Parse {
                what: "service-account private key",
                detail: e.to_string(),
            })?;
        from_private(&private)
    }

    /// The key id (`kid`) tokens signed with this key carry.
    pub fn key_id(&self) -> &str {
        &self.jwk.kid
    }
}

fn from_private(private: &RsaPrivateKey) -> Result<SigningKey, KeyError> {
    let private_key_pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode {
            what: "private key",
            detail: e.to_string(),
        })?
        .to_string();
    let public = private.to_public_key();
    let public_key_pem =
        public
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::Encode {
                what: "public key",
                detail: e.to_string(),
            })?;
    let jwk = jwk_of(&public)?;
    Ok(SigningKey {
        private_key_pem,
        public_key_pem,
        jwk,
    })
}

/// The JWK of an RSA public key in PEM (`PUBLIC KEY`), e.g. from
/// `--service-account-key-file`.
pub fn jwk_from_public_key_pem(pem: &str) -> Result<Jwk, KeyError> {
    let public = RsaPublicKey::from_public_key_pem(pem).map_err(|e| KeyError::Parse {
        what: "service-account public key",
        detail: e.to_string(),
    })?;
    jwk_of(&public)
}

fn jwk_of(public: &RsaPublicKey) -> Result<Jwk, KeyError> {
    let spki = public.to_public_key_der().map_err(|e| KeyError::Encode {
        what: "public key",
        detail: e.to_string(),
    })?;
    Ok(Jwk {
        use_: "sig".into(),
        kty: "RSA".into(),
        kid: key_id(spki.as_bytes()),
        alg: "RS256".into(),
        n: URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        e: URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    })
}

/// Checks RS256 (RSASSA-PKCS1-v1_5 with SHA-256) JWT signatures on ring:
/// several times faster than the pure-Rust `rsa` crate, which matters for
/// every request carrying a service-account token.
#[derive(Clone)]
pub struct Rs256Verifier {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Rs256Verifier {
    /// From an RSA public key in PEM (`PUBLIC KEY`).
    pub fn from_public_key_pem(pem: &str) -> Result<Rs256Verifier, KeyError> {
        let public = RsaPublicKey::from_public_key_pem(pem).map_err(|e| KeyError::Parse {
            what: "service-account public key",
            detail: e.to_string(),
        })?;
        Ok(Rs256Verifier { n: public.n().to_bytes_be(), e: public.e().to_bytes_be() })
    }

    /// Whether the compact JWS `header.payload.signature` is signed by this
    /// key (only the signature; claims are the caller's business).
    pub fn verify_compact(&self, token: &str) -> bool {
        let Some((signing_input, signature)) = token.rsplit_once('.') else { return false };
        if signing_input.matches('.').count() != 1 {
            return false;
        }
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        let key = ring::signature::RsaPublicKeyComponents { n: &self.n, e: &self.e };
        key.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signing_input.as_bytes(), &signature).is_ok()
    }
}

/// Upstream's key id: base64url (no padding) of SHA-256 over the PKIX
/// (SubjectPublicKeyInfo) DER of the public key.
pub fn key_id(spki_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki_der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use ring::signature::{self, RsaKeyPair};
    use rustls_pki_types::pem::PemObject as _;

    #[test]
    fn generated_key_signs_rs256_with_ring_and_jwk_matches() {
        let key = generate_signing_key().unwrap();
        assert!(key
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(key.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));

        // ring (what will sign tokens) accepts the PKCS#8.
        let pkcs8 =
            rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(key.private_key_pem.as_bytes())
                .unwrap();
        let kp = RsaKeyPair::from_pkcs8(pkcs8.secret_pkcs8_der()).unwrap();
        assert_eq!(kp.public().modulus_len() * 8, RSA_BITS);
        let msg = b"header.payload";
        let mut sig = vec![0; kp.public().modulus_len()];
        kp.sign(
            &signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            msg,
            &mut sig,
        )
        .unwrap();

        // Verify with the JWK's n/e only, as a relying party would.
        let n = URL_SAFE_NO_PAD.decode(&key.jwk.n).unwrap();
        let e = URL_SAFE_NO_PAD.decode(&key.jwk.e).unwrap();
        assert_eq!(key.jwk.e, "AQAB");
        signature::RsaPublicKeyComponents { n: &n, e: &e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, &sig)
            .unwrap();

        // kid = base64url(sha256(SPKI DER)), the SPKI taken from the PEM.
        let body: String = key
            .public_key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let spki = STANDARD.decode(body).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
        assert_eq!(key.jwk.kid, URL_SAFE_NO_PAD.encode(digest));
        assert_eq!(key.jwk.kid.len(), 43);

        // The same JWK from the public PEM alone, and from the private PEM.
        assert_eq!(
            jwk_from_public_key_pem(&key.public_key_pem).unwrap(),
            key.jwk
        );
        assert_eq!(
            SigningKey::from_private_key_pem(&key.private_key_pem).unwrap(),
            key
        );

        let json = serde_json::to_value(Jwks {
            keys: vec![key.jwk.clone()],
        })
        .unwrap();
        assert_eq!(json["keys"][0]["use"], "sig");
        assert_eq!(json["keys"][0]["kty"], "RSA");
        assert_eq!(json["keys"][0]["alg"], "RS256");
    }

    #[test]
    fn pkcs1_private_keys_load() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        let key = generate_signing_key().unwrap();
        let private = RsaPrivateKey::from_pkcs8_pem(&key.private_key_pem).unwrap();
        let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
        assert_eq!(SigningKey::from_private_key_pem(&pkcs1).unwrap(), key);
    }

    #[test]
    fn bad_pem_is_an_error() {
        assert!(SigningKey::from_private_key_pem("nope").is_err());
        assert!(jwk_from_public_key_pem("nope").is_err());
    }
}
