//! What the scanner reports: findings with a stable rule id, a family, a
//! severity and a place.

use serde::Serialize;

/// Severity, lowest first (so `>=` compares as users expect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        [Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// One step up (critical stays critical).
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            _ => Severity::Critical,
        }
    }

    /// GitHub code scanning's `security-severity` (a CVSS-like score).
    pub fn score(self) -> &'static str {
        match self {
            Severity::Info => "0.0",
            Severity::Low => "2.0",
            Severity::Medium => "5.0",
            Severity::High => "8.0",
            Severity::Critical => "9.5",
        }
    }
}

/// The finding families of issue 23, each a file under `rules/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Dropper,
    Obfuscation,
    Hidden,
    Instructions,
    Credentials,
    Exfiltration,
    Persistence,
    Secrets,
    Overreach,
    Combination,
    /// The scan itself could not be completed for a file (fail closed).
    Incomplete,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Dropper => "dropper",
            Family::Obfuscation => "obfuscation",
            Family::Hidden => "hidden",
            Family::Instructions => "instructions",
            Family::Credentials => "credentials",
            Family::Exfiltration => "exfiltration",
            Family::Persistence => "persistence",
            Family::Secrets => "secrets",
            Family::Overreach => "overreach",
            Family::Combination => "combination",
            Family::Incomplete => "incomplete",
        }
    }
}

/// One finding. `line` and `column` are 1-based (column in characters);
/// `file` is relative to the scanned root (`bundle.zip!inner/SKILL.md` inside archives).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub family: Family,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// What was seen, quoted (secrets masked).
    pub evidence: String,
    /// Why it matters, for a reviewer.
    pub message: String,
    /// Set when the text was decoded first (`base64`, `hex`, `char codes`, `tag characters`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_from: Option<&'static str>,
}

/// A short quote for evidence: one line, at most 100 characters.
pub fn quote(s: &str) -> String {
    let one: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let one = one.trim();
    let mut q: String = one.chars().take(100).collect();
    if one.chars().count() > 100 {
        q.push('…');
    }
    q
}
