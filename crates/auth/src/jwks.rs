//! A cached JWK set for one issuer, shared by [`crate::federation`] and
//! [`crate::oidc`]: the set is trusted for `ttl`; a token naming an unknown
//! `kid` triggers a refetch (key rotation), at most once per `min_refresh`
//! while the cache is within its TTL, one fetch at a time.
//!
//! [`JwksCache::key_for`] also does the algorithm checks both users need: the
//! JOSE `alg` must be asymmetric ([`ASYMMETRIC`]) and must belong to the key
//! the token names ([`algorithms_for`]), so `alg: none`, HMAC-keyed-with-the-
//! public-key and algorithm swaps are refused before any signature check.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Header};

use crate::TokenError;

/// Every algorithm an externally issued token may use: RSA (first six), then EC, then EdDSA.
pub(crate) const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Largest JWKS (or other IdP document) body read.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// The algorithms a JWK may verify. Symmetric keys verify nothing.
pub(crate) fn algorithms_for(jwk: &Jwk) -> Vec<Algorithm> {
    let by_family: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => ASYMMETRIC[..6].to_vec(),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => vec![],
        },
        AlgorithmParameters::OctetKeyPair(_) => vec![Algorithm::EdDSA],
        _ => vec![],
    };
    match jwk.common.key_algorithm {
        Some(ka) => {
            let declared = match ka {
                KeyAlgorithm::RS256 => Some(Algorithm::RS256),
                KeyAlgorithm::RS384 => Some(Algorithm::RS384),
                KeyAlgorithm::RS512 => Some(Algorithm::RS512),
                KeyAlgorithm::PS256 => Some(Algorithm::PS256),
                KeyAlgorithm::PS384 => Some(Algorithm::PS384),
                KeyAlgorithm::PS512 => Some(Algorithm::PS512),
                KeyAlgorithm::ES256 => Some(Algorithm::ES256),
                KeyAlgorithm::ES384 => Some(Algorithm::ES384),
                KeyAlgorithm::EdDSA => Some(Algorithm::EdDSA),
                _ => None,
            };
            declared.filter(|a| by_family.contains(a)).into_iter().collect()
        }
        None => by_family,
    }
}

/// Reads a response body, refusing more than `limit` bytes.
pub(crate) async fn read_limited(mut r: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    if r.content_length().is_some_and(|n| n > limit as u64) {
        return Err(format!("response larger than {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("response larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

struct Cached {
    /// The URL the set was fetched from (OIDC discovery may move `jwks_uri`).
    url: Option<String>,
    set: Option<JwkSet>,
    fetched: Option<Instant>,
}

pub(crate) struct JwksCache {
    /// Names the issuer in log lines.
    label: String,
    ttl: Duration,
    min_refresh: Duration,
    timeout: Duration,
    cache: Mutex<Cached>,
    refresh: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub(crate) fn new(label: &str, ttl: Duration, min_refresh: Duration, timeout: Duration) -> JwksCache {
        JwksCache {
            label: label.to_string(),
            ttl,
            min_refresh,
            timeout,
            cache: Mutex::new(Cached { url: None, set: None, fetched: None }),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The header of `token` and the key that must verify it, fetched from `url`
    /// when not cached. Refuses an `alg` outside `accepted` or not matching the key.
    pub(crate) async fn key_for(
        &self,
        client: &reqwest::Client,
        url: &str,
        token: &str,
        accepted: &[Algorithm],
    ) -> Result<(Header, DecodingKey), TokenError> {
        let header = crate::header_with_alg(token, accepted)?;
        let kid = header.kid.clone().ok_or_else(|| TokenError::Malformed("no kid".into()))?;
        let jwk = match self.cached_key(url, &kid) {
            Some(k) => k,
            None => {
                self.refresh(client, url, &kid).await?;
                self.cached_key(url, &kid).ok_or(TokenError::UnknownKey(kid.clone()))?
            }
        };
        let allowed = algorithms_for(&jwk);
        if !allowed.contains(&header.alg) {
            return Err(TokenError::Algorithm(format!("{:?} with a key for {:?}", header.alg, allowed)));
        }
        let key =
            DecodingKey::from_jwk(&jwk).map_err(|e| TokenError::KeysUnavailable(format!("bad JWK {kid}: {e}")))?;
        Ok((header, key))
    }

    fn fresh(&self, c: &Cached, url: &str) -> bool {
        c.url.as_deref() == Some(url) && c.fetched.is_some_and(|t| t.elapsed() < self.ttl)
    }

    fn cached_key(&self, url: &str, kid: &str) -> Option<Jwk> {
        let c = self.cache.lock().unwrap();
        if !self.fresh(&c, url) {
            return None;
        }
        c.set.as_ref()?.find(kid).cloned()
    }

    /// Refetches the JWKS unless another task just did (or one did less than
    /// `min_refresh` ago and the cache is still within its TTL).
    async fn refresh(&self, client: &reqwest::Client, url: &str, kid: &str) -> Result<(), TokenError> {
        let _one = self.refresh.lock().await;
        {
            let c = self.cache.lock().unwrap();
            let within_ttl = self.fresh(&c, url);
            if within_ttl && c.set.as_ref().is_some_and(|s| s.find(kid).is_some()) {
                return Ok(());
            }
            if within_ttl && c.fetched.is_some_and(|t| t.elapsed() < self.min_refresh) {
                return Err(TokenError::UnknownKey(kid.to_string()));
            }
        }
        let fetched = async {
            let r = client.get(url).timeout(self.timeout).send().await.map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status()));
            }
            let body = read_limited(r, MAX_BODY).await?;
            serde_json::from_slice::<JwkSet>(&body).map_err(|e| format!("not a JWK set: {e}"))
        }
        .await;
        match fetched {
            Ok(set) => {
                tracing::info!(issuer = %self.label, keys = set.keys.len(), "fetched issuer JWKS");
                let mut c = self.cache.lock().unwrap();
                c.set = Some(set);
                c.url = Some(url.to_string());
                c.fetched = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                tracing::warn!(issuer = %self.label, url = %url, error = %e, "JWKS fetch failed");
                Err(TokenError::KeysUnavailable(e))
            }
        }
    }
}
