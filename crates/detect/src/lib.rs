//! Detectors, pure: one library for the LLM boundary, MCP tool arguments and
//! results, and the skill/memory scanner. Each detector returns
//! [`Finding`]s `{detector, type, start, end, score, evidence}`.
//!
//! - [`secrets`]: rules in the gitleaks TOML format; keyword prefilter →
//!   regex → entropy → allowlists and placeholders.
//! - [`instructions`]: credential-handling instructions (print, echo, log,
//!   store or curl secrets).
//! - [`injection`]: prompt injection — [`normalize`] first, then rules and
//!   the linear [`model`] trained here.
//! - [`pii`]: email, phone, cards (Luhn), IBAN (mod 97), national ids.
//! - [`exfil`]: data-carrying markdown images and links, raw-IP and paste URLs.
//! - [`stream`]: incremental scanning with overlap and minimal hold-back.
//! - [`cache`]: the per-message content-hash cache.

pub mod cache;
pub mod eval;
pub mod exfil;
pub mod finding;
pub mod injection;
pub mod instructions;
pub mod model;
pub mod normalize;
pub mod pii;
pub mod rx;
pub mod secrets;
pub mod stream;

#[cfg(test)]
mod tests;

pub use finding::Finding;
pub use injection::Injection;
pub use secrets::SecretRules;

/// The detectors, by configuration name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Detector {
    Secrets,
    CredentialInstructions,
    PromptInjection,
    Pii,
    Exfiltration,
}

impl Detector {
    pub const ALL: [Detector; 5] = [
        Detector::Secrets,
        Detector::CredentialInstructions,
        Detector::PromptInjection,
        Detector::Pii,
        Detector::Exfiltration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Detector::Secrets => "secrets",
            Detector::CredentialInstructions => "credential_instructions",
            Detector::PromptInjection => "prompt_injection",
            Detector::Pii => "pii",
            Detector::Exfiltration => "exfiltration",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of detectors to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Which(u8);

impl Which {
    pub fn all() -> Which {
        Which(0x1f)
    }
    pub fn with(self, d: Detector) -> Which {
        Which(self.0 | d.bit())
    }
    pub fn has(self, d: Detector) -> bool {
        self.0 & d.bit() != 0
    }
    pub fn without(self, d: Detector) -> Which {
        Which(self.0 & !d.bit())
    }
    pub fn is_empty(self) -> bool {
        self.0 & !NO_MODEL == 0
    }
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Prompt injection by rules and normalisation only, without the model:
    /// for operator-written text (system prompts), which reads like the
    /// persona text the model was trained to flag.
    pub fn without_injection_model(self) -> Which {
        Which(self.0 | NO_MODEL)
    }
}

const NO_MODEL: u8 = 0x80;

/// The injection and instruction rules as one alternation: a text matching
/// none of them (most texts) is read once for both detectors.
static RULE_GATE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    let all: Vec<String> = injection::patterns().chain(instructions::patterns()).map(|p| format!("(?:{p})")).collect();
    rx::regex(&all.join("|")).expect("rule gate compiles")
});

/// All detectors, configured.
#[derive(Debug)]
pub struct Detectors {
    pub secrets: SecretRules,
    pub injection: Injection,
}

impl Default for Detectors {
    fn default() -> Self {
        Detectors { secrets: SecretRules::defaults(), injection: Injection::default() }
    }
}

impl Detectors {
    /// Runs the `which` detectors over `text`; findings sorted by start.
    pub fn scan(&self, text: &str, which: Which) -> Vec<Finding> {
        let mut out = Vec::new();
        if which.has(Detector::Secrets) {
            out.extend(self.secrets.scan(text));
        }
        if which.has(Detector::Pii) {
            out.extend(pii::scan(text));
        }
        if which.has(Detector::Exfiltration) {
            out.extend(exfil::scan(text));
        }
        if which.has(Detector::PromptInjection) || which.has(Detector::CredentialInstructions) {
            let n = normalize::normalize(text);
            // One pass decides whether any rule of either detector can match,
            // and, if one can, one signature gates each rule of both.
            let sig = RULE_GATE.is_match(&n.text).then(|| rx::Sig::of(&n.text));
            if which.has(Detector::PromptInjection) {
                let mut inj = self.injection;
                inj.use_model &= which.0 & NO_MODEL == 0;
                out.extend(inj.scan_inner(&n, sig.as_ref()));
            }
            if let Some(sig) = &sig
                && which.has(Detector::CredentialInstructions)
            {
                out.extend(instructions::scan_with(&n.text, sig).into_iter().map(|mut f| {
                    (f.start, f.end) = n.original(f.start, f.end);
                    f
                }));
            }
        }
        out.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        out
    }
}

/// `text` with each finding's span replaced by `[REDACTED:<type>]`
/// (overlapping spans merged).
pub fn redact(text: &str, findings: &[&Finding]) -> String {
    let mut spans: Vec<(usize, usize, &str)> = findings.iter().map(|f| (f.start, f.end, f.kind.as_str())).collect();
    spans.sort_by_key(|s| s.0);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, kind) in spans {
        if e <= at || !text.is_char_boundary(s.max(at)) || !text.is_char_boundary(e) {
            continue;
        }
        out.push_str(&text[at..s.max(at)]);
        out.push_str("[REDACTED:");
        out.push_str(kind);
        out.push(']');
        at = e;
    }
    out.push_str(&text[at..]);
    out
}
