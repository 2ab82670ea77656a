//! JWT verification: HS256 with `JWT_SECRET`, RS256/ES256 with a PEM public key
//! (`JWT_PUBLIC_KEY_FILE`), and any RSA/EC key of a JWKS file (`JWT_JWKS_FILE`), chosen by the
//! token's `kid`. Any combination may be set.
//!
//! The algorithm a token is checked with is the *key's* (the PEM's type, the JWK's `alg` or key
//! type), never the one the token names: a token is accepted only when its header `alg` equals it.
//! So an HS256 token "signed" with the RSA public key as an HMAC secret (algorithm confusion) is
//! refused, and `alg: none` never validates. Every key checks `exp` (required), `nbf`, `sub`
//! (required) and, when set, `JWT_ISSUER` / `JWT_AUDIENCE`, with 30 s of clock leeway.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use crate::config::Settings;

#[derive(Debug, thiserror::Error)]
pub enum JwtConfigError {
    #[error("JWT_SECRET must be at least 32 bytes long")]
    ShortSecret,
    #[error("{setting} {path}: {message}")]
    File {
        setting: &'static str,
        path: String,
        message: String,
    },
}

fn file_error(setting: &'static str, path: &Path, message: impl Into<String>) -> JwtConfigError {
    JwtConfigError::File {
        setting,
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// A verification key and the one algorithm it accepts.
struct Key {
    key: DecodingKey,
    algorithm: Algorithm,
}

/// The configured JWT keys.
pub struct JwtVerifier {
    secret: Option<Key>,
    public_key: Option<Key>,
    jwks: HashMap<String, Key>,
    /// Everything but the algorithm.
    base: Validation,
}

/// Why a token was refused (logged at debug; clients only see "invalid or expired token").
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token header: {0}")]
    Header(jsonwebtoken::errors::Error),
    #[error("no configured key for this token (alg {alg:?}, kid {kid:?})")]
    NoKey { alg: Algorithm, kid: Option<String> },
    #[error("{0}")]
    Invalid(jsonwebtoken::errors::Error),
}

impl JwtVerifier {
    /// `None` when no JWT setting is set.
    pub fn from_settings(settings: &Settings) -> Result<Option<JwtVerifier>, JwtConfigError> {
        let secret = match &settings.jwt_secret {
            None => None,
            Some(s) if s.len() < 32 => return Err(JwtConfigError::ShortSecret),
            Some(s) => Some(Key {
                key: DecodingKey::from_secret(s.as_bytes()),
                algorithm: Algorithm::HS256,
            }),
        };
        let public_key = settings
            .jwt_public_key_file
            .as_deref()
            .map(read_pem)
            .transpose()?;
        let jwks = match &settings.jwt_jwks_file {
            Some(p) => read_jwks(p)?,
            None => HashMap::new(),
        };
        if secret.is_none() && public_key.is_none() && jwks.is_empty() {
            return Ok(None);
        }
        let mut base = Validation::new(Algorithm::HS256);
        base.leeway = 30;
        base.validate_nbf = true;
        base.set_required_spec_claims(&["exp", "sub"]);
        if let Some(iss) = &settings.jwt_issuer {
            base.set_issuer(&[iss]);
        }
        match &settings.jwt_audience {
            Some(aud) => base.set_audience(&[aud]),
            None => base.validate_aud = false,
        }
        Ok(Some(JwtVerifier {
            secret,
            public_key,
            jwks,
            base,
        }))
    }

    /// The claims of a valid token.
    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(TokenError::Header)?;
        let key = match &header.kid {
            Some(kid) if self.jwks.contains_key(kid) => self.jwks.get(kid),
            _ => [&self.secret, &self.public_key]
                .into_iter()
                .flatten()
                .find(|k| k.algorithm == header.alg),
        }
        .ok_or_else(|| TokenError::NoKey {
            alg: header.alg,
            kid: header.kid.clone(),
        })?;
        let mut validation = self.base.clone();
        // The key decides the algorithm; the token's header must agree (checked by the library).
        validation.algorithms = vec![key.algorithm];
        jsonwebtoken::decode::<T>(token, &key.key, &validation)
            .map(|d| d.claims)
            .map_err(TokenError::Invalid)
    }
}

fn read_pem(path: &Path) -> Result<Key, JwtConfigError> {
    const S: &str = "JWT_PUBLIC_KEY_FILE";
    let pem = std::fs::read(path).map_err(|e| file_error(S, path, e.to_string()))?;
    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok(Key {
            key,
            algorithm: Algorithm::RS256,
        });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        return Ok(Key {
            key,
            algorithm: Algorithm::ES256,
        });
    }
    Err(file_error(
        S,
        path,
        "expected a PEM RSA or EC (P-256) public key (-----BEGIN PUBLIC KEY-----)",
    ))
}

fn read_jwks(path: &Path) -> Result<HashMap<String, Key>, JwtConfigError> {
    const S: &str = "JWT_JWKS_FILE";
    let text = std::fs::read_to_string(path).map_err(|e| file_error(S, path, e.to_string()))?;
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|e| file_error(S, path, format!("not a JWKS ({{\"keys\":[…]}}): {e}")))?;
    let mut out = HashMap::new();
    for (i, jwk) in set.keys.iter().enumerate() {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue; // encryption keys do not sign tokens
        }
        let kid = jwk
            .common
            .key_id
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| file_error(S, path, format!("keys[{i}] has no `kid`")))?;
        let inferred = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => Algorithm::ES256,
                EllipticCurve::P384 => Algorithm::ES384,
                _ => {
                    return Err(file_error(
                        S,
                        path,
                        format!("key `{kid}`: unsupported curve"),
                    ))
                }
            },
            AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
            AlgorithmParameters::OctetKey(_) => {
                return Err(file_error(
                    S,
                    path,
                    format!("key `{kid}` is a symmetric (oct) key; only public keys belong here (use JWT_SECRET for HS256)"),
                ))
            }
        };
        let algorithm = match jwk.common.key_algorithm {
            Some(a) => Algorithm::from_str(&a.to_string()).map_err(|_| {
                file_error(S, path, format!("key `{kid}`: alg {a} cannot sign tokens"))
            })?,
            None => inferred,
        };
        let family_ok = matches!(
            (algorithm, inferred),
            (
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512,
                Algorithm::RS256
            ) | (Algorithm::ES256, Algorithm::ES256)
                | (Algorithm::ES384, Algorithm::ES384)
                | (Algorithm::EdDSA, Algorithm::EdDSA)
        );
        if !family_ok {
            return Err(file_error(
                S,
                path,
                format!("key `{kid}`: alg {algorithm:?} does not match its key type"),
            ));
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| file_error(S, path, format!("key `{kid}`: {e}")))?;
        out.insert(kid, Key { key, algorithm });
    }
    if out.is_empty() {
        return Err(file_error(S, path, "no signing keys"));
    }
    Ok(out)
}
