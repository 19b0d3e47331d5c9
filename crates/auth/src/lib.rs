//! Who is calling. Every credential Warden accepts or issues is handled here:
//!
//! - [`keys`]: Warden's own signing keys, the JWT access tokens it issues to
//!   agents (EdDSA), their verification, and the published JWKS.
//! - [`federation`]: JWTs from trusted external issuers (OIDC, Kubernetes
//!   ServiceAccount tokens, SPIFFE JWT-SVIDs) verified against cached JWKS.
//! - [`oidc`]: OpenID Connect relying party for human sign-in to the console
//!   (authorization code + PKCE, ID and back-channel logout token checks).
//! - [`secrets`]: agent client secrets (argon2id) and admin tokens (SHA-256).
//! - [`roles`]: admin roles and what each may do, and IdP group → role mapping.

pub mod federation;
mod jwks;
pub mod keys;
pub mod oidc;
pub mod roles;
pub mod secrets;

/// Why a bearer JWT was refused. The text goes to the log, never to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("algorithm {0} is not accepted")]
    Algorithm(String),
    #[error("unknown signing key id {0:?}")]
    UnknownKey(String),
    #[error("signature does not verify")]
    Signature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid")]
    NotYetValid,
    #[error("wrong audience")]
    Audience,
    #[error("wrong or unknown issuer {0:?}")]
    Issuer(String),
    #[error("claim {0:?} does not map to an agent")]
    Unmapped(String),
    #[error("issuer keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl TokenError {
    fn from_jwt(e: jsonwebtoken::errors::Error) -> TokenError {
        use jsonwebtoken::errors::ErrorKind as K;
        match e.kind() {
            K::ExpiredSignature => TokenError::Expired,
            K::ImmatureSignature => TokenError::NotYetValid,
            K::InvalidAudience => TokenError::Audience,
            K::InvalidIssuer => TokenError::Issuer(String::new()),
            K::InvalidSignature => TokenError::Signature,
            K::InvalidAlgorithm | K::InvalidAlgorithmName | K::InvalidKeyFormat => {
                TokenError::Algorithm(format!("{e}"))
            }
            _ => TokenError::Malformed(e.to_string()),
        }
    }
}

/// Whether a bearer string has the shape of a JWS compact token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() > 20 && token.bytes().filter(|b| *b == b'.').count() == 2 && token.starts_with("eyJ")
}

/// Decodes the JOSE header. An `alg` the caller does not accept (`none`, an HMAC
/// algorithm where a public key is expected, anything unknown) is refused by name
/// before any key is looked at.
pub(crate) fn header_with_alg(
    token: &str,
    accepted: &[jsonwebtoken::Algorithm],
) -> Result<jsonwebtoken::Header, TokenError> {
    use base64::Engine;
    let first = token.split('.').next().unwrap_or_default();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed("header is not base64url".into()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&raw).map_err(|_| TokenError::Malformed("header is not JSON".into()))?;
    let alg = v.get("alg").and_then(|a| a.as_str()).ok_or_else(|| TokenError::Malformed("no alg".into()))?;
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Algorithm(alg.to_string()))?;
    if !accepted.contains(&header.alg) {
        return Err(TokenError::Algorithm(alg.to_string()));
    }
    Ok(header)
}
