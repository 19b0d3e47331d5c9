//! Where the config names credentials: every secret reference (for custody,
//! preloading and `warden secret audit`) and every credential written in
//! plaintext (which `warden serve` refuses without `--allow-plaintext-secrets`).

use warden_secrets::SecretRef;

use crate::schema::{Config, UpstreamAuth, VaultAuth};

/// One secret reference and the config key that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// As in `upstreams.github.auth.client_secret`.
    pub place: String,
    pub reference: SecretRef,
    /// The agent it belongs to (`upstreams.X.credentials.<agent>`), if any.
    pub agent: Option<String>,
}

impl Config {
    /// Every secret reference in the config, in file order.
    pub fn secret_references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        let mut add = |place: String, v: &str, agent: Option<&str>| {
            if let Ok(r) = SecretRef::parse(v) {
                out.push(Reference { place, reference: r, agent: agent.map(str::to_string) });
            }
        };
        for u in &self.upstreams {
            let at = format!("upstreams.{}", u.name.0);
            for (k, v) in u.headers.iter().chain(&u.env) {
                if SecretRef::looks_like(&v.0) {
                    let field = if u.headers.contains_key(k) { "headers" } else { "env" };
                    add(format!("{at}.{field}.{k}"), &v.0, None);
                }
            }
            match &u.auth {
                Some(UpstreamAuth::Header { secret, .. }) => add(format!("{at}.auth.secret"), &secret.0, None),
                Some(UpstreamAuth::OauthClientCredentials { client_secret, .. }) => {
                    add(format!("{at}.auth.client_secret"), &client_secret.0, None)
                }
                Some(UpstreamAuth::TokenExchange { client_secret: Some(s), .. }) => {
                    add(format!("{at}.auth.client_secret"), &s.0, None)
                }
                _ => {}
            }
            for (agent, v) in &u.credentials {
                add(format!("{at}.credentials.{agent}"), &v.0, Some(agent));
            }
        }
        for m in &self.models {
            if let Some(k) = &m.api_key {
                add(format!("models.{}.api_key", m.name.0), &k.0, None);
            }
        }
        if let Some(v) = &self.secrets.vault
            && let VaultAuth::Token { token } = &v.auth
        {
            add("secrets.vault.auth.token".into(), &token.0, None);
        }
        if let Some(s) = self.console.oidc.as_ref().and_then(|o| o.client_secret.as_ref()) {
            add("console.oidc.client_secret".into(), &s.0, None);
        }
        out
    }
}

/// A credential written into the config file itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// As in `upstreams[0].headers.Authorization`.
    pub place: String,
    pub line: Option<usize>,
}

/// Names of headers and environment variables that carry credentials.
pub fn names_a_credential(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace('-', "_");
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "password",
        "passwd",
        "api_key",
        "apikey",
        "private_key",
        "credential",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k == "key"
        || k.ends_with("_key")
}

/// Credential-named `headers:` and `env:` entries (of upstreams and of the
/// OTLP exporter) whose value is written in the file: neither a secret
/// reference nor a `${VAR}` substitution. Reads the raw text, before
/// substitution, so a value taken from the environment is not reported.
pub fn literal_credentials(text: &str) -> Vec<Literal> {
    let Ok(doc) = serde_norway::from_str::<serde_norway::Value>(text) else { return Vec::new() };
    let mut out = Vec::new();
    let mut check = |place: String, map: Option<&serde_norway::Value>| {
        let Some(serde_norway::Value::Mapping(m)) = map else { return };
        for (k, v) in m {
            let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else { continue };
            let v = v.trim();
            if !names_a_credential(k) || v.is_empty() || SecretRef::looks_like(v) || v.contains("${") {
                continue;
            }
            let line = text.lines().position(|l| l.trim_start().starts_with(k) && l.contains(v)).map(|i| i + 1);
            out.push(Literal { place: format!("{place}.{k}"), line });
        }
    };
    if let Some(serde_norway::Value::Sequence(ups)) = doc.get("upstreams") {
        for (i, u) in ups.iter().enumerate() {
            let name = u.get("name").and_then(|n| n.as_str()).unwrap_or("?");
            check(format!("upstreams[{i}] ({name}).headers"), u.get("headers"));
            check(format!("upstreams[{i}] ({name}).env"), u.get("env"));
        }
    }
    let otlp = doc.get("telemetry").and_then(|t| t.get("otlp"));
    check("telemetry.otlp.headers".into(), otlp.and_then(|o| o.get("headers")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_credentials_are_found_and_references_are_not() {
        let text = "upstreams:\n  - name: gh\n    transport: streamable-http\n    url: http://127.0.0.1:1/mcp\n    headers:\n      Authorization: Bearer ghp_literal\n      X-Trace: on\n      X-Api-Key: store://gh\n  - name: local\n    transport: stdio\n    command: x\n    env:\n      GITHUB_TOKEN: ghp_abc\n      OTHER_TOKEN: ${FROM_ENV}\n      PATH: /bin\n";
        let found = literal_credentials(text);
        let places: Vec<_> = found.iter().map(|l| l.place.as_str()).collect();
        assert_eq!(places, ["upstreams[0] (gh).headers.Authorization", "upstreams[1] (local).env.GITHUB_TOKEN"]);
        assert_eq!(found[0].line, Some(6));
        assert_eq!(found[1].line, Some(13));
        assert!(names_a_credential("X-Api-Key") && names_a_credential("AWS_SECRET_ACCESS_KEY"));
        assert!(!names_a_credential("X-Trace") && !names_a_credential("KEYBOARD"));
    }
}
