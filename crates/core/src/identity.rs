//! Agent identities. A request is authenticated exactly once, at the edge, into an
//! [`Identity`]; every later stage reads that value and never looks at headers again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::access::AccessRules;

/// SHA-256 of a bearer token. Tokens are never stored, only this digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    pub fn of(token: &str) -> TokenHash {
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        TokenHash(out)
    }

    /// Parses 64 hex characters (an optional `sha256:` prefix is accepted).
    pub fn from_hex(s: &str) -> Result<TokenHash, String> {
        let s = s.strip_prefix("sha256:").unwrap_or(s);
        let bytes = hex::decode(s).map_err(|e| format!("not hex: {e}"))?;
        let arr: [u8; 32] =
            bytes.try_into().map_err(|_| "expected 64 hex characters (a SHA-256 digest)".to_string())?;
        Ok(TokenHash(arr))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a short prefix, enough to tell entries apart in debug output.
        write!(f, "TokenHash({}…)", &self.to_hex()[..8])
    }
}

/// A declared agent: who it is and what it may reach.
#[derive(Debug)]
pub struct Agent {
    pub name: String,
    pub access: AccessRules,
    /// Inventory id; `None` for static-token agents declared only in the config.
    pub id: Option<String>,
    pub team: String,
    /// Owner's email (inventory agents).
    pub owner: String,
    pub labels: std::collections::BTreeMap<String, String>,
    pub data_access: crate::inventory::DataAccess,
}

impl Agent {
    /// A static-token agent from the config file.
    pub fn declared(name: &str, access: AccessRules) -> Agent {
        Agent {
            name: name.to_string(),
            access,
            id: None,
            team: String::new(),
            owner: String::new(),
            labels: Default::default(),
            data_access: Default::default(),
        }
    }
}

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Identity {
    pub agent: Arc<Agent>,
}

/// Why a request was not authenticated. Both map to 401; the distinction only
/// selects the `WWW-Authenticate` error attribute (RFC 6750 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    MissingToken,
    InvalidToken,
}

/// Token digest → agent. Built once from config; lookups are one SHA-256 and one
/// hash-map probe.
#[derive(Debug, Default)]
pub struct IdentityIndex {
    by_token: HashMap<TokenHash, Arc<Agent>>,
}

impl IdentityIndex {
    pub fn new(entries: impl IntoIterator<Item = (TokenHash, Arc<Agent>)>) -> Result<IdentityIndex, String> {
        let mut by_token = HashMap::new();
        for (hash, agent) in entries {
            if let Some(prev) = by_token.insert(hash, agent.clone()) {
                return Err(format!("agents {:?} and {:?} share the same token hash", prev.name, agent.name));
            }
        }
        Ok(IdentityIndex { by_token })
    }

    /// The agent holding this static token.
    pub fn lookup(&self, token: &str) -> Option<Arc<Agent>> {
        self.by_token.get(&TokenHash::of(token)).cloned()
    }

    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// The config-declared agent called `name`, if one holds a static token.
    pub fn declared(&self, name: &str) -> Option<Arc<Agent>> {
        self.by_token.values().find(|a| a.name == name).cloned()
    }

    /// Whether `name` holds a static token.
    pub fn holds_static_token(&self, name: &str) -> bool {
        self.by_token.values().any(|a| a.name == name)
    }

    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::MissingToken)?;
    let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::InvalidToken);
    }
    let token = token.trim();
    if token.is_empty() || token.len() > 8192 {
        return Err(AuthError::InvalidToken);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> IdentityIndex {
        let a = Arc::new(Agent::declared("a-bot", AccessRules::allow_all()));
        IdentityIndex::new([(TokenHash::of("secret-a"), a)]).unwrap()
    }

    #[test]
    fn token_hash_roundtrip() {
        let h = TokenHash::of("abc");
        assert_eq!(h.to_hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(TokenHash::from_hex(&h.to_hex()).unwrap(), h);
        assert_eq!(TokenHash::from_hex(&format!("sha256:{}", h.to_hex())).unwrap(), h);
        assert!(TokenHash::from_hex("abcd").is_err());
        assert!(TokenHash::from_hex("zz").is_err());
    }

    #[test]
    fn authenticate() {
        let idx = index();
        assert_eq!(idx.lookup(bearer(Some("Bearer secret-a")).unwrap()).unwrap().name, "a-bot");
        assert_eq!(bearer(Some("bearer   secret-a ")).unwrap(), "secret-a");
        assert!(idx.lookup("nope").is_none());
        assert_eq!(bearer(None).unwrap_err(), AuthError::MissingToken);
        for bad in ["Basic secret-a", "Bearer", "Bearer ", "secret-a"] {
            assert_eq!(bearer(Some(bad)).unwrap_err(), AuthError::InvalidToken, "{bad}");
        }
        assert_eq!(bearer(Some(&format!("Bearer {}", "x".repeat(9000)))).unwrap_err(), AuthError::InvalidToken);
    }

    #[test]
    fn duplicate_token_rejected() {
        let a = Arc::new(Agent::declared("a", AccessRules::allow_all()));
        let b = Arc::new(Agent::declared("b", AccessRules::allow_all()));
        let err = IdentityIndex::new([(TokenHash::of("t"), a), (TokenHash::of("t"), b)]).unwrap_err();
        assert!(err.contains("\"a\"") && err.contains("\"b\""), "{err}");
    }
}
