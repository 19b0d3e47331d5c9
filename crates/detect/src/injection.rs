//! Prompt injection: rules over the normalised text, the linear model, and
//! the oddities normalisation had to undo (tag characters, invisible
//! characters, homoglyphs, encoded payloads). The score is the highest of
//! the rule and model scores.

use std::sync::LazyLock;

use regex::RegexSet;

use crate::rx::{Gated, Sig};

use crate::finding::{Finding, quote};
use crate::model::Model;
use crate::normalize::{Normalized, Oddity};

struct Rule {
    kind: &'static str,
    score: f32,
    re: Gated,
}

static RULES: LazyLock<(RegexSet, Vec<Rule>)> = LazyLock::new(|| {
    let set = crate::rx::set(DEFS.iter().map(|d| d.2)).expect("injection rules compile");
    let rules = DEFS.iter().map(|&(kind, score, re)| Rule { kind, score, re: Gated::new(re).unwrap() }).collect();
    (set, rules)
});

/// The rule patterns, for the one-pass gate in `lib.rs`.
pub(crate) fn patterns() -> impl Iterator<Item = &'static str> {
    DEFS.iter().map(|d| d.2)
}

const DEFS: &[(&str, f32, &str)] = &[
    (
        "instruction_override",
        0.95,
        r"(?i)\b(?:ignore|disregard|forget|override|bypass|skip|abandon|drop)\b[\s,]+(?:(?:all|any|every|the|your|my|of|these|those|previous|prior|above|earlier|preceding|foregoing|original|initial|system|safety|current|existing|developer)[\s,]+){1,4}(?:instructions?|prompts?|rules|directions|guidelines|guardrails|restrictions|constraints|context|messages?|commands?|programming|policies|directives)\b",
    ),
    (
        "new_instructions",
        0.9,
        r"(?i)\b(?:new|updated|real|actual|true|revised|override)\s+(?:instructions?|task|rules|directives?|system prompt|orders)\s*(?::|are\b|follow\b)",
    ),
    (
        "role_smuggling",
        0.85,
        r"(?im)(?:^\s*(?:#{1,3}\s*)?(?:system|developer)\s*(?:message|prompt)?\s*:|<\|im_start\|>\s*system|<\|(?:system|im_start|endoftext|start_header_id)\|>|\[/?inst\]|</?system>|<<sys>>|\bbegin system prompt\b)",
    ),
    (
        "prompt_extraction",
        0.9,
        r"(?i)\b(?:reveal|print|show|repeat|output|tell me|leak|display|give me|write out|dump|recite|spell out)\b[\s\w,]{0,20}?\b(?:your|the|its|initial|original|hidden|secret)\s+(?:(?:full|entire|exact|initial|original|hidden|secret|system|developer)\s+){0,3}(?:system\s+)?(?:prompt|instructions|directives|configuration|guidelines|rules)\b",
    ),
    (
        "persona_jailbreak",
        0.9,
        r"(?i)\b(?:do anything now|\bdan mode\b|developer mode (?:enabled|on)|jailbr(?:eak|oken)|you are now (?:free|unrestricted|unfiltered|an? (?:unrestricted|unfiltered|evil|uncensored))|act as an? (?:unrestricted|unfiltered|uncensored|evil)|no (?:ethical|moral) (?:guidelines|restrictions|limits)|without any (?:restrictions|filters|limitations|censorship)|(?:stay|remain) in character)",
    ),
    (
        "agent_hijack",
        0.85,
        r"(?i)\b(?:ai|assistant|agent|model|llm|chatbot)s?\b[^.\n]{0,40}\b(?:must|should|shall|are instructed to|need to)\b[^.\n]{0,20}\b(?:immediately |now |instead |secretly |silently |quietly )?(?:run|execute|call|invoke|send|forward|delete|transfer|email|post|upload|curl|fetch)\b",
    ),
    (
        "concealment",
        0.8,
        r"(?i)\b(?:do not|don't|never)\s+(?:tell|inform|mention|reveal|notify|alert|show)\s+(?:this\s+to\s+)?(?:the\s+)?(?:user|human|operator|owner|anyone)\b",
    ),
];

/// The injection detector's settings.
#[derive(Debug, Clone, Copy)]
pub struct Injection {
    /// Model scores at or above this are findings.
    pub threshold: f32,
    pub use_model: bool,
}

impl Default for Injection {
    fn default() -> Self {
        Injection { threshold: SHIPPED_THRESHOLD, use_model: true }
    }
}

/// Texts with fewer words give the model too little evidence ("hi there"
/// scores high: greetings open many jailbreaks); rules still apply to them.
pub const MIN_WORDS_FOR_MODEL: usize = 3;

fn enough_words(text: &str) -> bool {
    text.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).nth(MIN_WORDS_FOR_MODEL - 1).is_some()
}

/// The threshold shipped with the model (see BENCHMARKS.md for how it was chosen).
pub const SHIPPED_THRESHOLD: f32 = 0.85;

impl Injection {
    /// Findings on a normalised text. Offsets point into the original.
    pub fn scan(&self, n: &Normalized) -> Vec<Finding> {
        self.scan_inner(n, Some(&Sig::of(&n.text)))
    }

    /// As [`Injection::scan`], with `sig` a signature covering the
    /// normalised text (one signature may cover many texts: the skill
    /// scanner takes one over every paragraph of a file).
    pub fn scan_with(&self, n: &Normalized, sig: &Sig) -> Vec<Finding> {
        self.scan_inner(n, Some(sig))
    }

    /// `sig: None`: no rule can match (the one-pass gate said so).
    pub(crate) fn scan_inner(&self, n: &Normalized, sig: Option<&Sig>) -> Vec<Finding> {
        let mut out = Vec::new();
        let text = n.text.as_str();
        let (_, rules) = &*RULES;
        // Each rule runs only where its literals may occur (`rx.rs`): most texts run none.
        for r in sig.into_iter().flat_map(|sig| rules.iter().filter(|r| r.re.may_match(sig))) {
            if let Some(m) = r.re.re.find(text) {
                let (s, e) = n.original(m.start(), m.end());
                out.push(Finding {
                    detector: "prompt_injection",
                    kind: r.kind.into(),
                    start: s,
                    end: e,
                    score: r.score,
                    evidence: format!("\"{}\"", quote(text, m.start(), m.end())),
                });
            }
        }
        for o in &n.oddities {
            let (kind, s, e, score, ev) = match o {
                Oddity::Tags { start, end, decoded } => (
                    "unicode_tags",
                    *start,
                    *end,
                    0.95,
                    format!("hidden tag characters spell \"{}\"", quote(decoded, 0, decoded.len())),
                ),
                Oddity::Invisible { start, end, count } => {
                    ("invisible_characters", *start, *end, 0.5, format!("{count} invisible character(s)"))
                }
                Oddity::Homoglyphs { start, end } => {
                    ("homoglyphs", *start, *end, 0.6, "a word mixing Latin with look-alike letters".to_string())
                }
                // Decoded text was appended and scanned with the rest; the
                // encoding alone is not an injection.
                Oddity::Encoded { .. } => continue,
            };
            out.push(Finding {
                detector: "prompt_injection",
                kind: kind.into(),
                start: s,
                end: e,
                score,
                evidence: ev,
            });
        }
        if self.use_model && enough_words(text) {
            let p = Model::shipped().score(text);
            if p >= self.threshold {
                let (s, e) = n.original(0, text.len());
                out.push(Finding {
                    detector: "prompt_injection",
                    kind: "classifier".into(),
                    start: s,
                    end: e,
                    score: p,
                    evidence: format!("the injection model scores this text {p:.2}"),
                });
            }
        }
        out
    }

    /// One score for a text, for evaluation: a rule hit or hidden tag
    /// characters count as flagged (score 1), else the model's score.
    pub fn score(&self, raw: &str) -> f32 {
        let n = crate::normalize::normalize(raw);
        let (set, _) = &*RULES;
        let rule = set.is_match(&n.text) || n.oddities.iter().any(|o| matches!(o, Oddity::Tags { .. }));
        let model = if self.use_model && enough_words(&n.text) { Model::shipped().score(&n.text) } else { 0.0 };
        if rule { 1.0 } else { model }
    }
}
