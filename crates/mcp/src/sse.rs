//! A minimal incremental `text/event-stream` parser (WHATWG HTML §9.2.6).

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

#[derive(Default)]
pub struct Parser {
    buf: Vec<u8>,
    cur: Event,
    has_data: bool,
}

impl Parser {
    /// Feeds bytes; returns the events completed by them.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(nl) = self.buf[start..].iter().position(|&b| b == b'\n') {
            let mut line = &self.buf[start..start + nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            let line = String::from_utf8_lossy(line).into_owned();
            start += nl + 1;
            if line.is_empty() {
                let ev = std::mem::take(&mut self.cur);
                if self.has_data || ev.id.is_some() {
                    out.push(ev);
                }
                self.has_data = false;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()),
                None => (line.clone(), String::new()),
            };
            match field.as_str() {
                "data" => {
                    if self.has_data {
                        self.cur.data.push('\n');
                    }
                    self.cur.data.push_str(&value);
                    self.has_data = true;
                }
                "event" => self.cur.event = Some(value),
                "id" => self.cur.id = Some(value),
                "retry" => self.cur.retry = value.parse().ok(),
                _ => {}
            }
        }
        self.buf.drain(..start);
        out
    }
}

/// An event with an id and no data, and the reconnection delay: it tells the
/// client the stream can be resumed (`GET` with `Last-Event-ID: id`) should it
/// break before the response.
pub fn encode_priming(id: &str, retry_ms: u64) -> String {
    format!("id: {id}\nretry: {retry_ms}\ndata:\n\n")
}

/// Renders one SSE event carrying a JSON-RPC message.
pub fn encode(id: Option<&str>, data: &str) -> String {
    let mut s = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        s.push_str("id: ");
        s.push_str(id);
        s.push('\n');
    }
    s.push_str("event: message\n");
    for line in data.split('\n') {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_events() {
        let mut p = Parser::default();
        assert!(p.feed(b"id: 1\nevent: message\nda").is_empty());
        let evs = p.feed(b"ta: {\"a\":1}\n\n: comment\ndata: x\r\ndata: y\n\nid: 7\nretry: 500\ndata:\n\n");
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0].id.as_deref(), Some("1"));
        assert_eq!(evs[0].data, "{\"a\":1}");
        assert_eq!(evs[1].data, "x\ny");
        assert_eq!(evs[2].retry, Some(500));
        assert_eq!(evs[2].data, "");
    }

    #[test]
    fn priming_event_has_an_id_a_retry_and_no_data() {
        let mut p = Parser::default();
        let evs = p.feed(encode_priming("w1.a.b.0", 750).as_bytes());
        assert_eq!(evs.len(), 1);
        assert_eq!((evs[0].id.as_deref(), evs[0].retry, evs[0].data.as_str()), (Some("w1.a.b.0"), Some(750), ""));
    }

    #[test]
    fn encode_roundtrip() {
        let mut p = Parser::default();
        let evs = p.feed(encode(Some("e1"), "{\"x\":\n1}").as_bytes());
        assert_eq!(evs[0].data, "{\"x\":\n1}");
        assert_eq!(evs[0].id.as_deref(), Some("e1"));
    }
}
