//! `warden token fetch`: an access token from Warden's `/oauth/token` (client_credentials),
//! printed on stdout for a launcher (`WARDEN_TOKEN="$(warden token fetch …)"`).
//!
//! With `--cache FILE` the token is kept in FILE (mode 0600, written atomically, the raw token
//! only, so the OpenClaw plugin can use FILE as its `tokenFile`) and reused until a fifth of its
//! lifetime is left; its `iat`/`exp` (and `agent`) are read from the JWT itself. A refused client
//! (wrong secret, suspended agent) exits non-zero and prints no token, even a cached one; when
//! Warden cannot be reached, a cached token that has not expired yet is printed with a warning.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use clap::Args;
use serde_json::Value;

#[derive(Args)]
pub struct FetchArgs {
    /// Warden's base URL.
    #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8470")]
    pub server: String,
    /// The client id: the agent's name.
    #[arg(long)]
    pub client_id: String,
    /// File holding the client secret (never passed on the command line).
    #[arg(long)]
    pub client_secret_file: PathBuf,
    /// Keep the token here (0600) and reuse it until a fifth of its lifetime is left.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Seconds to wait for Warden.
    #[arg(long, default_value_t = 10)]
    pub timeout_secs: u64,
}

/// `iat`, `exp` and `agent` of a JWT, without verifying it (Warden verifies; this only schedules).
fn claims(token: &str) -> Option<(i64, i64, Option<String>)> {
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Some((v["iat"].as_i64()?, v["exp"].as_i64()?, v["agent"].as_str().map(str::to_string)))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Whether a cached token is still good to hand out without asking Warden: it belongs to this
/// client and more than a fifth of its lifetime is left.
pub fn fresh(token: &str, client_id: &str, at: i64) -> bool {
    match claims(token) {
        Some((iat, exp, agent)) => {
            agent.as_deref().is_none_or(|a| a == client_id) && exp > iat && at < exp - (exp - iat) / 5
        }
        None => false,
    }
}

fn read_cache(path: &Path) -> Option<String> {
    let t = std::fs::read_to_string(path).ok()?;
    let t = t.trim().to_string();
    (!t.is_empty()).then_some(t)
}

enum Failure {
    /// Warden answered and refused: no fallback.
    Refused(String),
    /// Warden could not be asked, or answered with a server error.
    Unreachable(String),
}

async fn request(a: &FetchArgs, secret: &str) -> Result<String, Failure> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(a.timeout_secs))
        .build()
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let url = format!("{}/oauth/token", a.server.trim_end_matches('/'));
    let resp = http
        .post(&url)
        .basic_auth(enc(&a.client_id), Some(enc(secret)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .map_err(|e| Failure::Unreachable(format!("cannot reach {url}: {e}")))?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or_default();
    if status.is_success() {
        return body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Failure::Unreachable(format!("{url}: no access_token in the answer")));
    }
    let msg = format!(
        "{url} refused client {:?}: {status} {}: {}",
        a.client_id,
        body["error"].as_str().unwrap_or("error"),
        body["error_description"].as_str().unwrap_or("")
    );
    if status.is_server_error() { Err(Failure::Unreachable(msg)) } else { Err(Failure::Refused(msg)) }
}

/// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Basic encoding.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn fetch(a: FetchArgs) -> anyhow::Result<()> {
    let cached = a.cache.as_deref().and_then(read_cache);
    if let Some(t) = &cached
        && fresh(t, &a.client_id, now())
    {
        println!("{t}");
        return Ok(());
    }
    let secret = std::fs::read_to_string(&a.client_secret_file)
        .with_context(|| format!("reading the client secret from {}", a.client_secret_file.display()))?;
    let secret = zeroize::Zeroizing::new(secret.trim().to_string());
    if secret.is_empty() {
        bail!("{} is empty: it should hold the client secret", a.client_secret_file.display());
    }
    match request(&a, &secret).await {
        Ok(token) => {
            if let Some(path) = &a.cache {
                crate::openclaw_cmd::write_atomic(path, &format!("{token}\n"), 0o600)
                    .with_context(|| format!("caching the token in {}", path.display()))?;
            }
            println!("{token}");
            Ok(())
        }
        Err(Failure::Refused(msg)) => bail!("{msg}"),
        Err(Failure::Unreachable(msg)) => match cached {
            Some(t) if claims(&t).is_some_and(|(_, exp, _)| now() < exp) => {
                eprintln!("warning: {msg}; printing the cached token, which has not expired yet");
                println!("{t}");
                Ok(())
            }
            _ => bail!("{msg}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(iat: i64, exp: i64, agent: &str) -> String {
        let p = serde_json::json!({"iat": iat, "exp": exp, "agent": agent}).to_string();
        format!("e30.{}.sig", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p))
    }

    #[test]
    fn refetch_when_a_fifth_of_the_lifetime_is_left() {
        let t = jwt(1000, 1900, "a-bot");
        assert!(fresh(&t, "a-bot", 1000));
        assert!(fresh(&t, "a-bot", 1719));
        assert!(!fresh(&t, "a-bot", 1720));
        assert!(!fresh(&t, "b-bot", 1000), "another client's token");
        assert!(!fresh("not-a-jwt", "a-bot", 0));
    }
}
