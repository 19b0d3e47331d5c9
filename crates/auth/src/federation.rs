//! JWTs from trusted external issuers: OIDC providers, Kubernetes projected
//! ServiceAccount tokens, SPIFFE JWT-SVIDs. Each issuer has a JWKS URL (cached;
//! refetched when stale or when a token names an unknown `kid`, at most once per
//! `min_refresh`), an audience, and a mapping from one claim to an agent name.
//!
//! Only asymmetric keys are accepted, and a token's `alg` must belong to the
//! key it names: `alg: none`, HMAC-with-the-public-key and algorithm swaps are
//! refused before any signature check.

use std::collections::BTreeMap;
use std::time::Duration;

use jsonwebtoken::Validation;
use serde_json::Value;

use crate::TokenError;
use crate::jwks::{ASYMMETRIC, JwksCache};

#[derive(Debug, Clone)]
pub struct IssuerSpec {
    /// Exact `iss` value.
    pub issuer: String,
    pub jwks_url: String,
    /// Accepted `aud` values (at least one).
    pub audiences: Vec<String>,
    /// Which claim names the workload (`sub` for Kubernetes and SPIFFE).
    pub claim: String,
    /// Claim value → agent name. Checked first.
    pub agents: BTreeMap<String, String>,
    /// When no entry matches: use the claim value itself as the agent name.
    pub claim_is_agent_name: bool,
    pub leeway_secs: u64,
    /// How long a fetched JWKS is trusted before it is refetched.
    pub cache_ttl: Duration,
    /// Rate limit on refetches triggered by unknown `kid`s.
    pub min_refresh: Duration,
}

/// A verified external identity, mapped to an agent name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedSubject {
    pub issuer: String,
    pub subject: String,
    pub agent: String,
    /// `iat`, when the token carries one.
    pub issued_at: Option<i64>,
    /// `exp`.
    pub expires_at: i64,
}

struct Issuer {
    spec: IssuerSpec,
    keys: JwksCache,
}

pub struct Federation {
    issuers: Vec<Issuer>,
    client: reqwest::Client,
}

impl Federation {
    pub fn new(specs: Vec<IssuerSpec>, client: reqwest::Client) -> Federation {
        let issuers = specs
            .into_iter()
            .map(|spec| {
                let keys = JwksCache::new(&spec.issuer, spec.cache_ttl, spec.min_refresh, Duration::from_secs(10));
                Issuer { spec, keys }
            })
            .collect();
        Federation { issuers, client }
    }

    /// Whether `iss` names a trusted issuer (read from the unverified payload to pick the keys).
    pub fn trusts(&self, iss: &str) -> bool {
        self.issuers.iter().any(|i| i.spec.issuer == iss)
    }

    /// Verifies `token` from issuer `iss` and maps it to an agent name.
    pub async fn verify(&self, token: &str, iss: &str) -> Result<FederatedSubject, TokenError> {
        let issuer =
            self.issuers.iter().find(|i| i.spec.issuer == iss).ok_or_else(|| TokenError::Issuer(iss.to_string()))?;
        let (header, key) = issuer.keys.key_for(&self.client, &issuer.spec.jwks_url, token, ASYMMETRIC).await?;
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = issuer.spec.leeway_secs;
        v.validate_nbf = true;
        v.set_issuer(&[&issuer.spec.issuer]);
        v.set_audience(&issuer.spec.audiences);
        v.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims: Value = jsonwebtoken::decode(token, &key, &v).map_err(TokenError::from_jwt)?.claims;
        let subject = claims
            .get(&issuer.spec.claim)
            .and_then(Value::as_str)
            .ok_or_else(|| TokenError::Unmapped(issuer.spec.claim.clone()))?
            .to_string();
        let agent = match issuer.spec.agents.get(&subject) {
            Some(a) => a.clone(),
            None if issuer.spec.claim_is_agent_name => subject.clone(),
            None => return Err(TokenError::Unmapped(subject)),
        };
        let issued_at = claims.get("iat").and_then(Value::as_i64);
        let expires_at = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        Ok(FederatedSubject { issuer: issuer.spec.issuer.clone(), subject, agent, issued_at, expires_at })
    }
}

/// Reads `iss` from a JWT payload without verifying it (only to choose the issuer's keys).
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    v.get("iss")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base64::Engine;
    use std::sync::{Arc, Mutex};

    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    struct EcKey {
        kid: String,
        pkcs8: Vec<u8>,
        jwk: Value,
    }

    fn ec_key(kid: &str) -> EcKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        assert_eq!(point[0], 4);
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
        EcKey { kid: kid.into(), pkcs8: pkcs8.as_ref().to_vec(), jwk }
    }

    fn sign(k: &EcKey, claims: &Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(k.kid.clone());
        jsonwebtoken::encode(&h, claims, &EncodingKey::from_ec_der(&k.pkcs8)).unwrap()
    }

    struct Jwks {
        url: String,
        keys: Arc<Mutex<Vec<Value>>>,
        fetches: Arc<AtomicUsize>,
    }

    async fn serve_jwks(keys: Vec<Value>) -> Jwks {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, f) = (keys.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (k, f) = (k.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    axum::Json(json!({"keys": *k.lock().unwrap()}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Jwks { url, keys, fetches }
    }

    fn spec(url: &str) -> IssuerSpec {
        IssuerSpec {
            issuer: "https://k8s.example".into(),
            jwks_url: url.into(),
            audiences: vec!["warden".into()],
            claim: "sub".into(),
            agents: BTreeMap::from([
                ("system:serviceaccount:bots:triage".to_string(), "triage-bot".to_string()),
                ("spiffe://prod.example/ns/bots/sa/deploy".to_string(), "deploy-bot".to_string()),
            ]),
            claim_is_agent_name: false,
            leeway_secs: 5,
            cache_ttl: Duration::from_secs(300),
            min_refresh: Duration::from_millis(0),
        }
    }

    fn claims(sub: &str, aud: &str, exp_in: i64) -> Value {
        let now = warden_core::time::Timestamp::now().0;
        json!({"iss": "https://k8s.example", "sub": sub, "aud": aud, "iat": now, "exp": now + exp_in})
    }

    #[tokio::test]
    async fn accepts_and_maps() {
        let k = ec_key("k1");
        let srv = serve_jwks(vec![k.jwk.clone()]).await;
        let fed = Federation::new(vec![spec(&srv.url)], reqwest::Client::new());
        let t = sign(&k, &claims("system:serviceaccount:bots:triage", "warden", 600));
        assert_eq!(unverified_issuer(&t).as_deref(), Some("https://k8s.example"));
        let s = fed.verify(&t, "https://k8s.example").await.unwrap();
        assert_eq!(s.agent, "triage-bot");
        let t = sign(&k, &claims("spiffe://prod.example/ns/bots/sa/deploy", "warden", 600));
        assert_eq!(fed.verify(&t, "https://k8s.example").await.unwrap().agent, "deploy-bot");
        // Cached: two verifications, one fetch.
        assert_eq!(srv.fetches.load(Ordering::SeqCst), 1);
        // Unmapped subject.
        let t = sign(&k, &claims("system:serviceaccount:bots:other", "warden", 600));
        assert!(matches!(fed.verify(&t, "https://k8s.example").await.unwrap_err(), TokenError::Unmapped(_)));
        // Within leeway passes; beyond it is expired.
        let t = sign(&k, &claims("system:serviceaccount:bots:triage", "warden", -3));
        assert!(fed.verify(&t, "https://k8s.example").await.is_ok());
        let t = sign(&k, &claims("system:serviceaccount:bots:triage", "warden", -60));
        assert_eq!(fed.verify(&t, "https://k8s.example").await.unwrap_err(), TokenError::Expired);
        // Wrong audience.
        let t = sign(&k, &claims("system:serviceaccount:bots:triage", "someone-else", 600));
        assert_eq!(fed.verify(&t, "https://k8s.example").await.unwrap_err(), TokenError::Audience);
        // Untrusted issuer.
        assert!(matches!(fed.verify(&t, "https://evil").await.unwrap_err(), TokenError::Issuer(_)));
    }

    #[tokio::test]
    async fn refuses_alg_tricks() {
        let k = ec_key("k1");
        let srv = serve_jwks(vec![k.jwk.clone()]).await;
        let fed = Federation::new(vec![spec(&srv.url)], reqwest::Client::new());
        let c = claims("system:serviceaccount:bots:triage", "warden", 600);
        // alg: none, unsigned.
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","kid":"k1"}"#), B64.encode(c.to_string()));
        assert_eq!(fed.verify(&none, "https://k8s.example").await.unwrap_err(), TokenError::Algorithm("none".into()));
        // HMAC confusion: HS256 keyed with the public key material.
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        let x = k.jwk["x"].as_str().unwrap().to_string();
        let hs = jsonwebtoken::encode(&h, &c, &EncodingKey::from_secret(x.as_bytes())).unwrap();
        assert_eq!(fed.verify(&hs, "https://k8s.example").await.unwrap_err(), TokenError::Algorithm("HS256".into()));
        // A token signed by a key the issuer never published, under the published kid.
        let mut rogue = ec_key("k1");
        rogue.jwk = k.jwk.clone();
        let t = sign(&rogue, &c);
        assert_eq!(fed.verify(&t, "https://k8s.example").await.unwrap_err(), TokenError::Signature);
        // ES384 claimed on a P-256 key.
        let mut h = Header::new(Algorithm::ES384);
        h.kid = Some("k1".into());
        let forged = format!(
            "{}.{}.{}",
            B64.encode(serde_json::to_vec(&h).unwrap()),
            B64.encode(c.to_string()),
            B64.encode([0u8; 96])
        );
        assert!(matches!(fed.verify(&forged, "https://k8s.example").await.unwrap_err(), TokenError::Algorithm(_)));
    }

    #[tokio::test]
    async fn unknown_kid_refreshes_once_then_refuses() {
        let k1 = ec_key("k1");
        let srv = serve_jwks(vec![k1.jwk.clone()]).await;
        let mut s = spec(&srv.url);
        s.min_refresh = Duration::from_secs(60);
        let fed = Federation::new(vec![s], reqwest::Client::new());
        let c = claims("system:serviceaccount:bots:triage", "warden", 600);
        fed.verify(&sign(&k1, &c), "https://k8s.example").await.unwrap();
        assert_eq!(srv.fetches.load(Ordering::SeqCst), 1);
        // Unknown kid: refetch refused by the rate limit (fetched < 60 s ago) → refused, no fetch storm.
        let k9 = ec_key("k9");
        for _ in 0..5 {
            let e = fed.verify(&sign(&k9, &c), "https://k8s.example").await.unwrap_err();
            assert_eq!(e, TokenError::UnknownKey("k9".into()));
        }
        assert_eq!(srv.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn rotation_is_picked_up_on_unknown_kid() {
        let k1 = ec_key("k1");
        let srv = serve_jwks(vec![k1.jwk.clone()]).await;
        let fed = Federation::new(vec![spec(&srv.url)], reqwest::Client::new());
        let c = claims("system:serviceaccount:bots:triage", "warden", 600);
        fed.verify(&sign(&k1, &c), "https://k8s.example").await.unwrap();
        let k2 = ec_key("k2");
        srv.keys.lock().unwrap().push(k2.jwk.clone());
        fed.verify(&sign(&k2, &c), "https://k8s.example").await.unwrap();
        assert_eq!(srv.fetches.load(Ordering::SeqCst), 2);
        // Still unknown after the refresh.
        let k3 = ec_key("k3");
        assert_eq!(
            fed.verify(&sign(&k3, &c), "https://k8s.example").await.unwrap_err(),
            TokenError::UnknownKey("k3".into())
        );
        assert_eq!(srv.fetches.load(Ordering::SeqCst), 3);
        // JWKS endpoint down: refused, fail closed.
        let fed2 = Federation::new(vec![spec("http://127.0.0.1:9/jwks")], reqwest::Client::new());
        assert!(matches!(
            fed2.verify(&sign(&k1, &c), "https://k8s.example").await.unwrap_err(),
            TokenError::KeysUnavailable(_)
        ));
    }
}
