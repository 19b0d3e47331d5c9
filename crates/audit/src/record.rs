//! One audit record. Every decision at every entry point (MCP calls and lists,
//! LLM requests, proposed tool calls, decision-API calls, approvals, inventory
//! and policy changes) produces one.
//!
//! A record's hash is the SHA-256 of its canonical JSON: every field except
//! `hash`, object keys sorted by byte order, no insignificant whitespace. The
//! `prev` field holds the previous record's hash (the first record's `prev`
//! is [`GENESIS`]), so each record commits to everything before it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `prev` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields are declared in byte order of their names, and JSON objects
/// keep their keys sorted (serde_json without `preserve_order`), so serde's
/// output is already the canonical JSON that is hashed (a test holds this).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// Who made an administrative change (inventory, policy, approvals).
    pub actor: String,
    /// The signed-in human behind `actor` (console sign-in through OpenID
    /// Connect): email, groups and the IdP's subject. Absent when empty, so
    /// records written before they existed hash as they did.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actor_email: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actor_groups: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub actor_sub: String,
    pub agent: String,
    pub approval: String,
    pub approver: String,
    /// The arguments with secrets redacted.
    pub args: Value,
    /// SHA-256 of the arguments as received (canonical JSON), before redaction.
    pub args_sha256: String,
    /// RFC 3339, UTC, millisecond precision.
    pub at: String,
    /// The agent's own id for a tool call (the model's `tool_calls[].id`,
    /// OpenClaw's `toolCallId`): links a proposal at `/v1`, the decision at
    /// `/api/v1/decide` or `/mcp`, and the reported outcome. Absent when empty,
    /// so records written before it existed hash as they did.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub call_id: String,
    pub comment: String,
    /// Cost in millionths of a US dollar.
    pub cost_micros: u64,
    /// `mcp`, `decide`, `llm`, `admin`, `system`.
    pub entry: String,
    pub id: String,
    pub input_tokens: u64,
    /// `call`, `list`, `decision`, `approval`, `inventory`, `policy`, `llm`.
    pub kind: String,
    /// Time spent in Warden and upstream, microseconds.
    pub latency_us: u64,
    pub method: String,
    pub model: String,
    pub output_tokens: u64,
    pub owner: String,
    pub prev: String,
    pub reason: String,
    pub rule: String,
    /// Position in the chain, from 1, assigned when the record is committed.
    pub seq: u64,
    pub session: String,
    pub tier: String,
    pub tool: String,
    pub trace_id: String,
    pub upstream: String,
    /// `ok`, `error <code>`, `cancelled`, or empty when nothing was sent upstream.
    pub upstream_status: String,
    pub upstream_us: u64,
    /// `allow`, `audit`, `deny`, `rate_limited`, `approval_required`,
    /// `approval_denied`, `approval_expired`, `approval_unavailable`,
    /// `cancelled`, `approved`, `denied`, `changed`, `error`.
    pub verdict: String,
}

impl Record {
    /// The record as a JSON value (the form that is hashed and exported).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a record always serialises")
    }

    /// Places the record at `seq` after the record whose hash is `prev`;
    /// returns the body as stored and its hash.
    pub fn seal(&mut self, seq: u64, prev: &str) -> (Value, String) {
        self.seq = seq;
        self.prev = prev.to_string();
        let body = self.to_value();
        let hash = record_hash(&body);
        (body, hash)
    }

    /// Like [`Record::seal`], returning the canonical JSON text (as stored) and its hash.
    pub fn seal_canonical(&mut self, seq: u64, prev: &str) -> (String, String) {
        self.seq = seq;
        self.prev = prev.to_string();
        let text = serde_json::to_string(self).expect("a record always serialises");
        let hash = crate::sha256_hex(text.as_bytes());
        (text, hash)
    }

    pub fn from_value(v: &Value) -> Result<Record, String> {
        serde_json::from_value(v.clone()).map_err(|e| e.to_string())
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch.
pub fn format_ms(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&f).unwrap_or_else(|_| ms.to_string())
}

/// Milliseconds since the epoch of an RFC 3339 instant.
pub fn parse_ms(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// Canonical JSON: object keys sorted by byte order, no whitespace, strings
/// and numbers as serde_json writes them.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("strings serialise"));
                out.push(':');
                write_canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// The hash of a record body (without its `hash` field).
pub fn record_hash(body: &Value) -> String {
    crate::sha256_hex(canonical_json(body).as_bytes())
}
