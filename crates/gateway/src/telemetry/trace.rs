//! W3C trace context: the `traceparent` an agent sends (OpenClaw does) is
//! honoured, so Warden's spans join the agent's trace; without one, Warden
//! starts a trace.

use axum::http::HeaderMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lower-case hex digits.
    pub trace_id: String,
    /// The caller's span (16 hex digits), when the request carried one.
    pub parent_span: Option<String>,
    pub sampled: bool,
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl TraceContext {
    pub fn new() -> TraceContext {
        TraceContext { trace_id: uuid::Uuid::new_v4().simple().to_string(), parent_span: None, sampled: true }
    }

    /// Parses a `traceparent` value (version 00, or a later version read as 00).
    pub fn parse(v: &str) -> Option<TraceContext> {
        let mut p = v.trim().split('-');
        let (version, trace, span, flags) = (p.next()?, p.next()?, p.next()?, p.next()?);
        if !is_hex(version, 2) || version == "ff" || (version == "00" && p.next().is_some()) {
            return None;
        }
        if !is_hex(trace, 32) || !is_hex(span, 16) || !is_hex(flags, 2) {
            return None;
        }
        if trace.bytes().all(|b| b == b'0') || span.bytes().all(|b| b == b'0') {
            return None;
        }
        let sampled = u8::from_str_radix(flags, 16).ok()? & 1 == 1;
        Some(TraceContext { trace_id: trace.to_string(), parent_span: Some(span.to_string()), sampled })
    }

    pub fn from_headers(h: &HeaderMap) -> TraceContext {
        h.get("traceparent").and_then(|v| v.to_str().ok()).and_then(TraceContext::parse).unwrap_or_default()
    }

    /// The `traceparent` to send on behalf of span `span_id`.
    pub fn header_for(&self, span_id: &str) -> String {
        format!("00-{}-{span_id}-{}", self.trace_id, if self.sampled { "01" } else { "00" })
    }
}

impl Default for TraceContext {
    fn default() -> Self {
        TraceContext::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_parsing() {
        let t = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span.as_deref(), Some("00f067aa0ba902b7"));
        assert!(t.sampled);
        assert_eq!(t.header_for("1111111111111111"), "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad}");
        }
        assert!(!TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap().sampled);
    }
}
