//! Incremental scanning of streamed model output. Each pushed chunk is
//! scanned together with a short overlap of what was already released, so a
//! pattern split across chunks is still found; only the bytes a pattern
//! could still complete are held back: the trailing run of non-space
//! characters (a key, a URL), or an unterminated PEM block. A trailing word
//! the caller judges harmless (plain letters that cannot begin a secret, see
//! [`crate::SecretRules::plain_word_may_leave`]) leaves at once, so the first
//! token reaches the agent without waiting for the second.

use crate::finding::Finding;

/// Already-released text kept as context for the next scan.
pub const OVERLAP: usize = 256;
/// The longest a trailing word is held back.
const MAX_HOLD_WORD: usize = 512;
/// The longest an unterminated private-key block is held back.
const MAX_HOLD_PEM: usize = 8192;

#[derive(Debug, Default)]
pub struct StreamScan {
    /// The tail of released text (context only).
    tail: String,
    /// Received, not yet released.
    pending: String,
}

/// What one push releases.
#[derive(Debug, Default, PartialEq)]
pub struct Released {
    pub text: String,
    /// Findings that end inside `text`, offsets relative to `text` (a finding
    /// that began in already-released text starts at 0).
    pub findings: Vec<Finding>,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl StreamScan {
    pub fn new() -> StreamScan {
        StreamScan::default()
    }

    /// `may_leave(before, word)`: whether the unfinished last word may be
    /// released now (`before`: up to 64 bytes preceding it).
    pub fn push(
        &mut self,
        chunk: &str,
        scan: &dyn Fn(&str) -> Vec<Finding>,
        may_leave: &dyn Fn(&str, &str) -> bool,
    ) -> Released {
        self.pending.push_str(chunk);
        let mut cut = self.hold_from();
        if cut < self.pending.len() && self.word_may_leave(cut, may_leave) {
            cut = self.pending.len();
        }
        self.release(cut, false, scan)
    }

    fn word_may_leave(&self, start: usize, may_leave: &dyn Fn(&str, &str) -> bool) -> bool {
        let word = &self.pending[start..];
        let mut before = String::with_capacity(64);
        if start < 64 {
            before.push_str(&self.tail[floor_boundary(&self.tail, self.tail.len().saturating_sub(64 - start))..]);
        }
        before.push_str(&self.pending[floor_boundary(&self.pending, start.saturating_sub(64))..start]);
        may_leave(&before, word)
    }

    /// The end of the stream: everything left is released.
    pub fn finish(&mut self, scan: &dyn Fn(&str) -> Vec<Finding>) -> Released {
        self.release(self.pending.len(), true, scan)
    }

    fn hold_from(&self) -> usize {
        let p = &self.pending;
        if let Some(b) = p.rfind("-----BEGIN")
            && !p[b..].contains("-----END")
            && p.len() - b <= MAX_HOLD_PEM
        {
            return b;
        }
        let ws = p.rfind(|c: char| c.is_whitespace()).map(|i| i + p[i..].chars().next().map_or(1, char::len_utf8));
        let start = ws.unwrap_or(0);
        if p.len() - start > MAX_HOLD_WORD { floor_boundary(p, p.len() - MAX_HOLD_WORD) } else { start }
    }

    fn release(&mut self, mut cut: usize, all: bool, scan: &dyn Fn(&str) -> Vec<Finding>) -> Released {
        if cut == 0 && !all {
            return Released::default();
        }
        let window = format!("{}{}", self.tail, self.pending);
        let t = self.tail.len();
        let found = scan(&window);
        // Never cut through a finding: release up to its start instead.
        if !all {
            for f in &found {
                if f.start < t + cut && f.end > t + cut && f.start >= t {
                    cut = cut.min(f.start - t);
                }
            }
        }
        let findings = found
            .into_iter()
            .filter(|f| f.end > t && f.end <= t + cut)
            .map(|mut f| {
                f.start = f.start.saturating_sub(t);
                f.end -= t;
                f
            })
            .collect();
        let text: String = self.pending.drain(..cut).collect();
        self.tail.push_str(&text);
        if self.tail.len() > OVERLAP {
            let from = floor_boundary(&self.tail, self.tail.len() - OVERLAP);
            self.tail.drain(..from);
        }
        Released { text, findings }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::SecretRules;

    #[test]
    fn a_key_split_across_chunks_is_found_and_never_released_whole_before_its_scan() {
        let rules = SecretRules::defaults();
        let scan = |t: &str| rules.scan(t);
        let mut s = StreamScan::new();
        let key = "ghp_R8sK2mVx7QpL4nZt9WcY3bHf6JdA1eUo5iGs";
        let mut out = String::new();
        let mut found = Vec::new();
        for piece in ["Here is the token: ", &key[..10], &key[10..25], &key[25..], " and more text."] {
            let r = s.push(piece, &scan, &|b, w| rules.plain_word_may_leave(b, w));
            // Any part of the key leaves only together with the finding that covers it.
            if r.text.contains("ghp_") {
                assert_eq!(r.findings.len(), 1, "released unjudged: {:?}", r.text);
            } else {
                assert!(!r.text.contains(&key[..10]), "a partial key was released: {:?}", r.text);
            }
            found.extend(r.findings.iter().map(|f| (out.len() + f.start, out.len() + f.end)));
            out.push_str(&r.text);
            if out.contains(key) {
                break;
            }
        }
        let r = s.finish(&scan);
        found.extend(r.findings.iter().map(|f| (out.len() + f.start, out.len() + f.end)));
        out.push_str(&r.text);
        assert_eq!(out, format!("Here is the token: {key} and more text."));
        assert_eq!(found, vec![(19, 19 + key.len())]);
    }

    #[test]
    fn a_plain_first_word_leaves_at_once_but_a_possible_secret_waits() {
        let rules = SecretRules::defaults();
        let scan = |t: &str| rules.scan(t);
        let leave = |b: &str, w: &str| rules.plain_word_may_leave(b, w);
        let mut s = StreamScan::new();
        assert_eq!(s.push("Hell", &scan, &leave).text, "Hell", "the first token is not held for the second");
        assert_eq!(s.push("o the", &scan, &leave).text, "o the");
        // A keyword prefix, a value position, a credential word: held.
        assert_eq!(s.push(" gh", &scan, &leave).text, " ");
        let mut s = StreamScan::new();
        assert_eq!(s.push("password: Abc", &scan, &leave).text, "password: ");
        let mut s = StreamScan::new();
        assert_eq!(s.push("Authorization: Bearer Xyz", &scan, &leave).text, "Authorization: Bearer ");
        let mut s = StreamScan::new();
        assert_eq!(s.push("use ab12", &scan, &leave).text, "use ", "digits: held");
        // A user rule without keywords could begin anywhere: nothing leaves early.
        let own = SecretRules::parse("[[rules]]\nid = \"x\"\nregex = 'zz[a-z]{20}'\n").unwrap();
        let mut s = StreamScan::new();
        assert_eq!(s.push("Hello", &|t: &str| own.scan(t), &|b, w| own.plain_word_may_leave(b, w)).text, "");
    }
}
