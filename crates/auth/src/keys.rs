//! Warden's own token issuer. Agents trade their client secret for a short-lived
//! EdDSA JWT at `/oauth/token`; the gateway verifies those tokens here. Keys
//! rotate: the newest key signs; retired keys keep verifying until every token
//! they signed has expired, then they leave the JWKS.

use std::collections::HashMap;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warden_core::time::{Timestamp, now_ms};
use warden_store::SigningKey;

use crate::TokenError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Claims of a Warden-issued access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentClaims {
    pub iss: String,
    /// The agent's id (stable across renames of nothing: names are unique and immutable).
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    /// The agent's name.
    pub agent: String,
    pub team: String,
    /// Issue time in milliseconds: compared with the agent's revocation instant.
    pub iat_ms: i64,
}

#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub ttl_secs: i64,
    pub leeway_secs: u64,
}

struct Entry {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Vec<u8>,
}

pub struct Keyring {
    settings: TokenSettings,
    active: Option<String>,
    keys: HashMap<String, Entry>,
    /// kids in publication order.
    order: Vec<String>,
}

/// A fresh Ed25519 key; its kid is derived from the public key.
pub fn generate_key() -> SigningKey {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).expect("system RNG");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("freshly generated key");
    let public = pair.public_key().as_ref().to_vec();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &public);
    SigningKey {
        kid: B64.encode(&digest.as_ref()[..12]),
        alg: "EdDSA".into(),
        private_der: pkcs8.as_ref().to_vec(),
        public,
        created_at: Timestamp::now(),
        retired_at: None,
    }
}

impl Keyring {
    /// Loads keys as stored. The newest unretired key signs. Retired keys whose
    /// tokens have all expired are left out.
    pub fn new(rows: &[SigningKey], settings: TokenSettings) -> Result<Keyring, String> {
        let now = Timestamp::now();
        let mut keys = HashMap::new();
        let mut order = Vec::new();
        let mut active: Option<(&SigningKey, String)> = None;
        for k in rows {
            if k.alg != "EdDSA" {
                return Err(format!("signing key {:?}: unsupported algorithm {:?}", k.kid, k.alg));
            }
            if let Some(r) = k.retired_at
                && r.0 + settings.ttl_secs + settings.leeway_secs as i64 <= now.0
            {
                continue;
            }
            aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&k.private_der)
                .map_err(|_| format!("signing key {:?} is not a valid Ed25519 PKCS#8 key", k.kid))?;
            keys.insert(
                k.kid.clone(),
                Entry {
                    encoding: EncodingKey::from_ed_der(&k.private_der),
                    decoding: DecodingKey::from_ed_der(&k.public),
                    public: k.public.clone(),
                },
            );
            order.push(k.kid.clone());
            if k.retired_at.is_none() && active.as_ref().is_none_or(|(a, _)| k.created_at >= a.created_at) {
                active = Some((k, k.kid.clone()));
            }
        }
        Ok(Keyring { settings, active: active.map(|(_, kid)| kid), keys, order })
    }

    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Signs a token for one agent.
    pub fn issue(&self, agent_id: &str, agent: &str, team: &str) -> Result<(String, AgentClaims), String> {
        self.issue_for(agent_id, agent, team, &self.settings.audience, self.settings.ttl_secs)
    }

    /// Signs a token for one agent with another audience and lifetime: the
    /// subject token Warden presents to a security token service (RFC 8693).
    /// Its audience is the STS, so the STS cannot replay it at Warden.
    pub fn issue_for(
        &self,
        agent_id: &str,
        agent: &str,
        team: &str,
        audience: &str,
        ttl_secs: i64,
    ) -> Result<(String, AgentClaims), String> {
        let kid = self.active.as_ref().ok_or("no active signing key")?;
        let ms = now_ms();
        let iat = ms / 1000;
        let claims = AgentClaims {
            iss: self.settings.issuer.clone(),
            sub: agent_id.to_string(),
            aud: audience.to_string(),
            exp: iat + ttl_secs,
            iat,
            nbf: iat,
            jti: uuid::Uuid::new_v4().to_string(),
            agent: agent.to_string(),
            team: team.to_string(),
            iat_ms: ms,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        header.typ = Some("at+jwt".into());
        let token = jsonwebtoken::encode(&header, &claims, &self.keys[kid].encoding).map_err(|e| e.to_string())?;
        Ok((token, claims))
    }

    /// Verifies a token this keyring issued: signature, `iss`, `aud`, `exp`, `nbf`.
    pub fn verify(&self, token: &str) -> Result<AgentClaims, TokenError> {
        let header = crate::header_with_alg(token, &[Algorithm::EdDSA])?;
        let kid = header.kid.ok_or_else(|| TokenError::Malformed("no kid".into()))?;
        let entry = self.keys.get(&kid).ok_or(TokenError::UnknownKey(kid))?;
        let mut v = Validation::new(Algorithm::EdDSA);
        v.leeway = self.settings.leeway_secs;
        v.validate_nbf = true;
        v.set_issuer(&[&self.settings.issuer]);
        v.set_audience(&[&self.settings.audience]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub", "iat"]);
        jsonwebtoken::decode::<AgentClaims>(token, &entry.decoding, &v).map(|d| d.claims).map_err(TokenError::from_jwt)
    }

    /// The public keys as a JWK set.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .order
            .iter()
            .map(|kid| {
                json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": kid,
                       "x": B64.encode(&self.keys[kid].public)})
            })
            .collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TokenSettings {
        TokenSettings { issuer: "http://w".into(), audience: "warden".into(), ttl_secs: 900, leeway_secs: 5 }
    }

    #[test]
    fn issue_and_verify() {
        let k = generate_key();
        let ring = Keyring::new(std::slice::from_ref(&k), settings()).unwrap();
        let (tok, claims) = ring.issue("id-1", "a-bot", "t").unwrap();
        assert_eq!(ring.verify(&tok).unwrap(), claims);
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(crate::looks_like_jwt(&tok));
        // JWKS publishes exactly the key, and the published x decodes to the public key.
        let jwks = ring.jwks();
        assert_eq!(jwks["keys"][0]["kid"], k.kid);
        assert_eq!(B64.decode(jwks["keys"][0]["x"].as_str().unwrap()).unwrap(), k.public);
    }

    #[test]
    fn rejections() {
        let ring = Keyring::new(&[generate_key()], settings()).unwrap();
        let (tok, _) = ring.issue("id-1", "a-bot", "t").unwrap();
        // Another keyring (a forger's key) with the same kid cannot sign for us.
        let mut forged_key = generate_key();
        forged_key.kid = ring.active.clone().unwrap();
        let forger = Keyring::new(&[forged_key], settings()).unwrap();
        let (forged, _) = forger.issue("id-1", "a-bot", "t").unwrap();
        assert_eq!(ring.verify(&forged).unwrap_err(), TokenError::Signature);
        // Tampered payload.
        let parts: Vec<&str> = tok.split('.').collect();
        let mut claims: Value = serde_json::from_slice(&B64.decode(parts[1]).unwrap()).unwrap();
        claims["agent"] = "root-bot".into();
        let tampered = format!("{}.{}.{}", parts[0], B64.encode(claims.to_string()), parts[2]);
        assert_eq!(ring.verify(&tampered).unwrap_err(), TokenError::Signature);
        // Wrong audience / issuer: a keyring with other settings but the same keys.
        let k = generate_key();
        let a = Keyring::new(std::slice::from_ref(&k), settings()).unwrap();
        let b =
            Keyring::new(std::slice::from_ref(&k), TokenSettings { audience: "other".into(), ..settings() }).unwrap();
        let (t, _) = b.issue("i", "n", "t").unwrap();
        assert_eq!(a.verify(&t).unwrap_err(), TokenError::Audience);
        let c = Keyring::new(std::slice::from_ref(&k), TokenSettings { issuer: "http://evil".into(), ..settings() })
            .unwrap();
        let (t, _) = c.issue("i", "n", "t").unwrap();
        assert!(matches!(a.verify(&t).unwrap_err(), TokenError::Issuer(_)));
        // Expired beyond leeway.
        let d = Keyring::new(std::slice::from_ref(&k), TokenSettings { ttl_secs: -60, ..settings() }).unwrap();
        let (t, _) = d.issue("i", "n", "t").unwrap();
        assert_eq!(a.verify(&t).unwrap_err(), TokenError::Expired);
        // Within leeway it still verifies.
        let e = Keyring::new(std::slice::from_ref(&k), TokenSettings { ttl_secs: -2, ..settings() }).unwrap();
        let (t, _) = e.issue("i", "n", "t").unwrap();
        assert!(a.verify(&t).is_ok());
        // alg none and HS256 headers.
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(matches!(ring.verify(&none).unwrap_err(), TokenError::Algorithm(_)));
        let hs = jsonwebtoken::encode(
            &Header { kid: ring.active.clone(), ..Header::new(Algorithm::HS256) },
            &claims,
            &EncodingKey::from_secret(&ring.keys[ring.active.as_ref().unwrap()].public),
        )
        .unwrap();
        assert!(matches!(ring.verify(&hs).unwrap_err(), TokenError::Algorithm(_)));
        assert!(matches!(ring.verify("garbage").unwrap_err(), TokenError::Malformed(_)));
    }

    #[test]
    fn rotation_keeps_old_tokens_until_expiry() {
        let mut old = generate_key();
        old.created_at = Timestamp(Timestamp::now().0 - 10);
        let ring1 = Keyring::new(std::slice::from_ref(&old), settings()).unwrap();
        let (t_old, _) = ring1.issue("i", "n", "t").unwrap();
        let new = generate_key();
        old.retired_at = Some(Timestamp::now());
        let ring2 = Keyring::new(&[old.clone(), new.clone()], settings()).unwrap();
        assert_eq!(ring2.active.as_deref(), Some(new.kid.as_str()));
        assert!(ring2.verify(&t_old).is_ok(), "old key still verifies");
        let (t_new, _) = ring2.issue("i", "n", "t").unwrap();
        assert_eq!(jsonwebtoken::decode_header(&t_new).unwrap().kid.unwrap(), new.kid);
        assert_eq!(ring2.jwks()["keys"].as_array().unwrap().len(), 2);
        // Once the old key's last token has expired, the key is gone.
        old.retired_at = Some(Timestamp(Timestamp::now().0 - 1000));
        let ring3 = Keyring::new(&[old, new], settings()).unwrap();
        assert!(matches!(ring3.verify(&t_old).unwrap_err(), TokenError::UnknownKey(_)));
        assert_eq!(ring3.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}
