//! The known-secret matcher. Warden knows every secret value it holds, so it
//! can find them exactly, wherever output leaves it: tool results returned to
//! agents, arguments echoed in approvals, log lines, audit records and trace
//! attributes. One Aho-Corasick automaton covers every value in the forms a
//! leak usually takes:
//!
//! - the value itself, and its JSON-escaped form;
//! - base64 (standard and URL-safe alphabets), at each of the three byte
//!   alignments it can have inside a longer base64 string;
//! - URL-encoded (upper- and lower-case escapes, `+` for space);
//! - hex (lower and upper case).
//!
//! Matches are replaced by `[REDACTED:<name>]`. The matcher is rebuilt
//! whenever a value changes (rotation, a re-read file, a refreshed token).

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use serde_json::Value;

/// Shorter values are not matched: they would redact ordinary text.
pub const MIN_LEN: usize = 8;

pub struct KnownSecrets {
    ac: Option<AhoCorasick>,
    /// The secret name of each pattern.
    names: Vec<String>,
    /// Names of values too short to match.
    pub too_short: Vec<String>,
}

impl std::fmt::Debug for KnownSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KnownSecrets({} patterns)", self.names.len())
    }
}

impl Default for KnownSecrets {
    fn default() -> Self {
        KnownSecrets::new(std::iter::empty::<(&str, &str)>())
    }
}

/// Base64 of `value` as it appears at byte offset `k` (mod 3) inside a longer
/// encoded string: only the characters that depend on `value` alone.
fn base64_embedded(engine: &base64::engine::GeneralPurpose, value: &[u8], k: usize) -> String {
    let mut buf = vec![0u8; k];
    buf.extend_from_slice(value);
    let s = engine.encode(&buf);
    let skip = [0, 2, 3][k];
    let trim = usize::from(!(k + value.len()).is_multiple_of(3));
    s.get(skip..s.len().saturating_sub(trim)).unwrap_or("").to_string()
}

fn url_encoded(value: &str, lower: bool, plus: bool) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if plus && b == b' ' {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every form of `value` the matcher looks for.
pub fn forms(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let mut v = vec![value.to_string()];
    let json = serde_json::to_string(value).expect("strings serialise");
    v.push(json[1..json.len() - 1].to_string());
    let no_pad = base64::engine::general_purpose::STANDARD_NO_PAD;
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    for engine in [&no_pad, &url] {
        for k in 0..3 {
            v.push(base64_embedded(engine, b, k));
        }
    }
    for (lower, plus) in [(false, false), (true, false), (false, true), (true, true)] {
        v.push(url_encoded(value, lower, plus));
    }
    v.push(hex::encode(b));
    v.push(hex::encode_upper(b));
    // Short encodings of short values (the base64 at an odd alignment) would
    // match too much; every form kept is at least MIN_LEN long.
    v.retain(|f| f.len() >= MIN_LEN);
    v.sort();
    v.dedup();
    v
}

impl KnownSecrets {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> KnownSecrets {
        let mut patterns: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut too_short = Vec::new();
        for (name, value) in entries {
            if value.len() < MIN_LEN {
                too_short.push(name.to_string());
                continue;
            }
            for f in forms(value) {
                patterns.push(f);
                names.push(name.to_string());
            }
        }
        let ac = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("literal patterns always build")
        });
        KnownSecrets { ac, names, too_short }
    }

    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// The names of the secrets found in `text`.
    pub fn find(&self, text: &str) -> Vec<&str> {
        let Some(ac) = &self.ac else { return Vec::new() };
        let mut out: Vec<&str> = ac.find_iter(text).map(|m| self.names[m.pattern().as_usize()].as_str()).collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// `text` with every known secret replaced by `[REDACTED:<name>]`.
    pub fn redact<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let Some(ac) = &self.ac else { return text.into() };
        if !ac.is_match(text) {
            return text.into();
        }
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in ac.find_iter(text) {
            out.push_str(&text[last..m.start()]);
            out.push_str("[REDACTED:");
            out.push_str(&self.names[m.pattern().as_usize()]);
            out.push(']');
            last = m.end();
        }
        out.push_str(&text[last..]);
        out.into()
    }

    /// Redacts every string (and object key) in `v`, in place. Returns how many were changed.
    pub fn redact_value(&self, v: &mut Value) -> usize {
        if self.ac.is_none() {
            return 0;
        }
        match v {
            Value::String(s) => match self.redact(s) {
                std::borrow::Cow::Owned(r) => {
                    *s = r;
                    1
                }
                std::borrow::Cow::Borrowed(_) => 0,
            },
            Value::Array(a) => a.iter_mut().map(|x| self.redact_value(x)).sum(),
            Value::Object(m) => {
                let mut n = 0;
                if m.keys().any(|k| matches!(self.redact(k), std::borrow::Cow::Owned(_))) {
                    let old = std::mem::take(m);
                    for (k, x) in old {
                        m.insert(self.redact(&k).into_owned(), x);
                    }
                    n += 1;
                }
                n + m.values_mut().map(|x| self.redact_value(x)).sum::<usize>()
            }
            _ => 0,
        }
    }
}
