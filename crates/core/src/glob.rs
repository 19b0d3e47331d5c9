//! Glob patterns over names and URIs: `*` matches any run of characters
//! (including none), `?` exactly one character, `\` escapes the next character.
//! Everything else matches itself, case-sensitively. Matching is by Unicode
//! scalar value; callers normalise to NFC first (see [`crate::names`]).

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
    /// Fast path: a pattern without wildcards is a plain string comparison.
    literal: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    AnyRun,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobError {
    pub pattern: String,
    pub reason: &'static str,
}

impl fmt::Display for GlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid glob {:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for GlobError {}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, GlobError> {
        if pattern.is_empty() {
            return Err(GlobError { pattern: pattern.into(), reason: "empty pattern" });
        }
        let source = crate::names::nfc(pattern);
        let mut tokens = Vec::new();
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    // Collapse `**` runs: they mean the same as `*` over flat names.
                    if tokens.last() != Some(&Token::AnyRun) {
                        tokens.push(Token::AnyRun);
                    }
                }
                '?' => tokens.push(Token::Any),
                '\\' => match chars.next() {
                    Some(e) => tokens.push(Token::Char(e)),
                    None => {
                        return Err(GlobError { pattern: pattern.into(), reason: "trailing backslash" });
                    }
                },
                c if c.is_control() => {
                    return Err(GlobError { pattern: pattern.into(), reason: "control character" });
                }
                c => tokens.push(Token::Char(c)),
            }
        }
        let literal = tokens
            .iter()
            .all(|t| matches!(t, Token::Char(_)))
            .then(|| tokens.iter().map(|t| if let Token::Char(c) = t { *c } else { unreachable!() }).collect());
        Ok(Glob { source, tokens, literal })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Iterative wildcard matching with single-star backtracking: O(n·m) worst case,
    /// no recursion, no allocation.
    pub fn matches(&self, text: &str) -> bool {
        if let Some(lit) = &self.literal {
            return lit == text;
        }
        let text: Vec<char> = text.chars().collect();
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Char(c)) if *c == text[t] => {
                    t += 1;
                    p += 1;
                }
                Some(Token::Any) => {
                    t += 1;
                    p += 1;
                }
                Some(Token::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::AnyRun)
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.source)
    }
}

/// An ordered list of globs; matches when any member matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GlobSet {
    globs: Vec<Glob>,
}

impl GlobSet {
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, GlobError> {
        Ok(GlobSet { globs: patterns.iter().map(|p| Glob::new(p.as_ref())).collect::<Result<_, _>>()? })
    }

    pub fn matches(&self, text: &str) -> bool {
        self.globs.iter().any(|g| g.matches(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        Glob::new(p).unwrap().matches(t)
    }

    #[test]
    fn literal_and_wildcards() {
        assert!(m("echo", "echo"));
        assert!(!m("echo", "Echo"));
        assert!(!m("echo", "echo2"));
        assert!(m("*", ""));
        assert!(m("*", "anything__at_all"));
        assert!(m("demo__*", "demo__echo"));
        assert!(!m("demo__*", "demo_echo"));
        assert!(m("*__delete_*", "gh__delete_repo"));
        assert!(!m("*__delete_*", "gh__deleterepo"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("**", "x"));
        assert!(m("a\\*", "a*"));
        assert!(!m("a\\*", "ab"));
    }

    #[test]
    fn multibyte_is_per_character() {
        assert!(m("é?", "éx"));
        assert!(m("?", "é"));
        // Cyrillic 'е' (U+0435) is not Latin 'e'.
        assert!(!m("echo", "\u{0435}cho"));
    }

    #[test]
    fn pattern_is_nfc_normalised() {
        // "e" + combining acute in the pattern matches precomposed "é" in NFC text.
        assert!(m("caf\u{0065}\u{0301}", "caf\u{00e9}"));
    }

    #[test]
    fn bad_patterns_rejected() {
        assert!(Glob::new("").is_err());
        assert!(Glob::new("abc\\").is_err());
        assert!(Glob::new("a\u{0007}").is_err());
    }

    #[test]
    fn pathological_pattern_is_linearish() {
        let p = "*a*a*a*a*a*a*a*a*b";
        let text = "a".repeat(5000);
        assert!(!m(p, &text));
    }
}
