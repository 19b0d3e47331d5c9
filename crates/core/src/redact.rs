//! Redaction of call arguments shown to humans (approvals) and kept in
//! records: values under secret-looking keys, and strings shaped like
//! well-known credentials. Issue-5's known-secret matcher adds the values
//! Warden itself holds; this is the shape-based floor.

use serde_json::Value;

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "credential",
    "private_key",
    "privatekey",
    "cookie",
    "session_key",
    "access_key",
    "client_secret",
];

fn secret_key(k: &str) -> bool {
    let k = k.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| k.contains(s))
}

/// The kind of credential a string looks like, if any.
pub fn credential_shape(s: &str) -> Option<&'static str> {
    let t = s.trim();
    let prefixed = |p: &str, min: usize| t.starts_with(p) && t.len() >= min && !t.contains(char::is_whitespace);
    if t.contains("-----BEGIN") && t.contains("PRIVATE KEY-----") {
        return Some("private_key");
    }
    if prefixed("AKIA", 20) || prefixed("ASIA", 20) {
        return Some("aws_access_key");
    }
    if ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"].iter().any(|p| prefixed(p, 20)) {
        return Some("github_token");
    }
    if prefixed("glpat-", 20) {
        return Some("gitlab_token");
    }
    if ["xoxb-", "xoxp-", "xoxa-", "xoxs-"].iter().any(|p| prefixed(p, 15)) {
        return Some("slack_token");
    }
    if prefixed("sk-", 20) || prefixed("sk_live_", 16) || prefixed("rk_live_", 16) {
        return Some("api_key");
    }
    if prefixed("eyJ", 30) && t.matches('.').count() == 2 {
        return Some("jwt");
    }
    if prefixed("wcs_", 20) || prefixed("wat_", 20) {
        return Some("warden_secret");
    }
    None
}

/// A copy of `v` with secret-looking values replaced by `[REDACTED:<why>]`.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = if secret_key(k) && !x.is_null() && !x.is_object() && !x.is_array() {
                        Value::String("[REDACTED:key]".into())
                    } else {
                        redact(x)
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        Value::String(s) => match credential_shape(s) {
            Some(kind) => Value::String(format!("[REDACTED:{kind}]")),
            None => v.clone(),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_keys_and_shapes() {
        let v = json!({
            "path": "/tmp/x",
            "api_key": "abc",
            "headers": {"Authorization": "Bearer x"},
            "list": ["ghp_0123456789abcdefghij0123", "plain"],
            "note": "AKIAABCDEFGHIJKLMNOP",
            "count": 3,
        });
        let r = redact(&v);
        assert_eq!(r["path"], "/tmp/x");
        assert_eq!(r["api_key"], "[REDACTED:key]");
        assert_eq!(r["headers"]["Authorization"], "[REDACTED:key]");
        assert_eq!(r["list"][0], "[REDACTED:github_token]");
        assert_eq!(r["list"][1], "plain");
        assert_eq!(r["note"], "[REDACTED:aws_access_key]");
        assert_eq!(r["count"], 3);
        assert_eq!(credential_shape("sk-..."), None, "placeholders are not secrets");
    }
}
