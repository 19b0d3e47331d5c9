//! What every detector returns.

use serde::Serialize;

/// One finding: `start..end` are byte offsets into the scanned text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `secrets`, `credential_instructions`, `prompt_injection`, `pii`, `exfiltration`.
    pub detector: &'static str,
    /// The rule or kind within the detector (`github-pat`, `instruction_override`, `iban`...).
    #[serde(rename = "type")]
    pub kind: String,
    pub start: usize,
    pub end: usize,
    /// 0..1: how sure the detector is.
    pub score: f32,
    /// Why, for humans. Never the secret itself: secrets are shown masked.
    pub evidence: String,
}

/// A secret as evidence: its first four characters and its length.
pub fn masked(s: &str) -> String {
    let head: String = s.chars().take(4).collect();
    format!("{head}… ({} chars)", s.chars().count())
}

/// A short quote of `text[start..end]` for evidence (at most 80 characters).
pub fn quote(text: &str, start: usize, end: usize) -> String {
    let s = text.get(start..end).unwrap_or("");
    let mut q: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        q.push('…');
    }
    q
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f32 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        counts[b as usize] += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = n as f32;
    counts.iter().filter(|&&c| c > 0).map(|&c| c as f32 / n).map(|p| -p * p.log2()).sum()
}
