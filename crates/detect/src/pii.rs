//! Personal data: email addresses, phone numbers, payment card numbers (Luhn
//! checked), IBANs (mod-97 checked) and national identifiers (US SSN with its
//! reserved ranges excluded, UK National Insurance number).

use std::sync::LazyLock;

use regex::Regex;

use crate::finding::{Finding, masked};

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    crate::rx::regex(r"\b[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}\b").unwrap()
});
static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    crate::rx::regex(r"(?:\+[1-9]\d{0,2}[ .\-]?(?:\(\d{1,4}\)[ .\-]?)?\d{1,4}(?:[ .\-]?\d{2,4}){2,4}|\(\d{3}\)[ .\-]?\d{3}[ .\-]\d{4}|\b\d{3}[.\-]\d{3}[.\-]\d{4})\b").unwrap()
});
static CARD: LazyLock<Regex> = LazyLock::new(|| crate::rx::regex(r"\b\d(?:[ \-]?\d){12,18}\b").unwrap());
static IBAN: LazyLock<Regex> =
    LazyLock::new(|| crate::rx::regex(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b").unwrap());
static SSN: LazyLock<Regex> = LazyLock::new(|| crate::rx::regex(r"\b(\d{3})-(\d{2})-(\d{4})\b").unwrap());
static NINO: LazyLock<Regex> =
    LazyLock::new(|| crate::rx::regex(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b").unwrap());

pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = (*d - b'0') as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// The IBAN check: move the first four characters to the end, letters to
/// numbers (A=10), and the number mod 97 must be 1.
pub fn iban_valid(s: &str) -> bool {
    let s: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&s.len()) {
        return false;
    }
    let mut r = 0u32;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = match b {
            b'0'..=b'9' => (b - b'0') as u32,
            b'A'..=b'Z' => (b - b'A') as u32 + 10,
            _ => return false,
        };
        r = if v >= 10 { (r * 100 + v) % 97 } else { (r * 10 + v) % 97 };
    }
    r == 1
}

fn card_brand(d: &[u8]) -> Option<&'static str> {
    let p2 = (d[0] - b'0') as u32 * 10 + (d[1] - b'0') as u32;
    let p4 = p2 * 100 + (d[2] - b'0') as u32 * 10 + (d[3] - b'0') as u32;
    match (d[0], d.len()) {
        (b'4', 13 | 16 | 19) => Some("visa"),
        (b'5', 16) if (51..=55).contains(&p2) => Some("mastercard"),
        (b'2', 16) if (2221..=2720).contains(&p4) => Some("mastercard"),
        (b'3', 15) if p2 == 34 || p2 == 37 => Some("amex"),
        (b'6', 16..=19) if p4 == 6011 || p2 == 65 => Some("discover"),
        (b'3', 16..=19) if (3528..=3589).contains(&p4) => Some("jcb"),
        _ => None,
    }
}

pub fn scan(text: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut push = |kind: &str, s: usize, e: usize, score: f32, ev: String| {
        out.push(Finding { detector: "pii", kind: kind.into(), start: s, end: e, score, evidence: ev });
    };
    if text.contains('@') {
        for m in EMAIL.find_iter(text) {
            push("email", m.start(), m.end(), 0.9, format!("email address {}", masked(m.as_str())));
        }
    }
    let has_digits = text.bytes().filter(u8::is_ascii_digit).nth(8).is_some();
    if !has_digits {
        return out;
    }
    let mut cards = Vec::new();
    for m in CARD.find_iter(text) {
        let d: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).collect();
        if (13..=19).contains(&d.len())
            && luhn(&d)
            && let Some(brand) = card_brand(&d)
        {
            cards.push((m.start(), m.end()));
            push("card_number", m.start(), m.end(), 0.95, format!("{brand} card number (Luhn valid)"));
        }
    }
    for m in IBAN.find_iter(text) {
        if iban_valid(m.as_str()) {
            push("iban", m.start(), m.end(), 0.95, format!("IBAN {} (checksum valid)", &m.as_str()[..2]));
        }
    }
    for c in SSN.captures_iter(text) {
        let (a, g, s) = (&c[1], &c[2], &c[3]);
        if a != "000" && a != "666" && !a.starts_with('9') && g != "00" && s != "0000" {
            let m = c.get(0).unwrap();
            push("us_ssn", m.start(), m.end(), 0.8, "US social security number".into());
        }
    }
    for m in NINO.find_iter(text) {
        push("uk_nino", m.start(), m.end(), 0.7, "UK National Insurance number".into());
    }
    for m in PHONE.find_iter(text) {
        let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
        let inside_card = cards.iter().any(|(s, e)| m.start() < *e && *s < m.end());
        if (10..=15).contains(&digits) && !inside_card {
            push("phone", m.start(), m.end(), 0.6, "phone number".into());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(t: &str) -> Vec<String> {
        scan(t).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn checksums_decide() {
        assert_eq!(kinds("card 4111 1111 1111 1111 ok"), ["card_number"]);
        assert!(kinds("card 4111 1111 1111 1112").is_empty(), "Luhn fails");
        assert_eq!(kinds("IBAN GB82 WEST 1234 5698 7654 32"), ["iban"]);
        assert!(kinds("IBAN GB83 WEST 1234 5698 7654 32").is_empty(), "mod 97 fails");
        assert_eq!(kinds("SSN 123-45-6789"), ["us_ssn"]);
        assert!(kinds("SSN 666-45-6789 and 123-00-6789").is_empty());
    }

    #[test]
    fn contacts() {
        assert_eq!(kinds("write to jane.doe@example.org"), ["email"]);
        assert_eq!(kinds("call +44 20 7946 0958 now"), ["phone"]);
        assert_eq!(kinds("call (415) 555-0132"), ["phone"]);
        assert!(kinds("version 1.2.3 released 2026-11-21").is_empty());
    }
}
