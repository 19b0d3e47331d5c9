//! Compiling the detectors' and the scanner's patterns, and a gate that
//! skips a pattern when a text cannot hold any match.
//!
//! **ASCII word boundaries.** Every `\b` and `\B` is made ASCII. The regex
//! crate's lazy DFA cannot evaluate a Unicode word boundary once the text
//! holds a non-ASCII byte (an em dash, an emoji, an accented letter), and
//! falls back to its NFA engines. On OpenClaw's own skills, which are full of
//! both, one rule with a Unicode `\b` ran at 1.9 MB/s; with ASCII boundaries
//! at 350 MB/s (`BENCHMARKS.md`, issue 23). The patterns' boundaries sit
//! next to ASCII words, where the two agree; beside a non-ASCII letter an
//! ASCII boundary matches where a Unicode one would not, so a rule can only
//! find more, never less. It is also what the gitleaks format means: Go's
//! `\b` is ASCII.
//!
//! **The gate.** A [`Gated`] pattern knows literals one of which every match
//! must contain (its prefixes or its suffixes, extracted from the pattern by
//! `regex-syntax`, never written by hand). A [`Sig`] records, in one pass
//! over a text, which letter pairs and triples occur in it, folded to ASCII
//! case. A pattern runs only when all the triples of one of its literals
//! occur. The test can say "maybe" wrongly, never "no": a skipped pattern
//! could not have matched. Text with the two non-ASCII letters that
//! case-insensitive patterns fold to ASCII (`ſ`, the Kelvin sign) opens
//! every gate.

use regex::{Regex, RegexSet};
use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};

/// `pattern` with each `\b` and `\B` outside a class made ASCII.
pub fn ascii_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    let mut class = 0usize; // depth of `[...]`
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(b @ ('b' | 'B')) if class == 0 => {
                    out.push_str("(?-u:\\");
                    out.push(b);
                    out.push(')');
                }
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '[' => {
                class += 1;
                out.push(c);
                // `[]...]` and `[^]...]`: a leading `]` is a literal.
                let rest = chars.as_str();
                let lead = if rest.starts_with('^') { 1 } else { 0 };
                if rest[lead..].starts_with(']') {
                    out.push_str(&rest[..lead + 1]);
                    chars = rest[lead + 1..].chars();
                }
            }
            ']' if class > 0 => {
                class -= 1;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A detector pattern, compiled with ASCII word boundaries.
pub fn regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&ascii_boundaries(pattern))
}

/// A set of detector patterns, compiled with ASCII word boundaries.
pub fn set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Result<RegexSet, regex::Error> {
    RegexSet::new(patterns.into_iter().map(ascii_boundaries))
}

/// Which letter pairs and triples a text holds (folded: `b & 0x1f`, so
/// ASCII case never matters; other bytes only add bits).
#[derive(Clone)]
pub struct Sig {
    pairs: [u64; 16],
    triples: Box<[u64; 512]>,
    /// The text holds a letter that case-insensitive patterns fold to ASCII.
    open: bool,
}

impl std::fmt::Debug for Sig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sig").field("open", &self.open).finish_non_exhaustive()
    }
}

#[inline]
fn fold(b: u8) -> usize {
    (b & 0x1f) as usize
}

impl Sig {
    pub fn of(text: &str) -> Sig {
        let mut s = Sig::empty();
        s.add(text);
        s
    }

    /// The signature of no text; [`Sig::add`] texts to it.
    pub fn empty() -> Sig {
        Sig { pairs: [0; 16], triples: Box::new([0; 512]), open: false }
    }

    /// Adds `text`: the signature then covers it as well (a signature of
    /// several texts may say "maybe" for each, never "no").
    pub fn add(&mut self, text: &str) {
        let b = text.as_bytes();
        if b.len() >= 2 {
            let mut t = fold(b[0]) << 5 | fold(b[1]);
            self.pairs[t >> 6] |= 1 << (t & 63);
            for &c in &b[2..] {
                t = (t << 5 | fold(c)) & 0x7fff;
                self.triples[t >> 6] |= 1 << (t & 63);
                let p = t & 0x3ff;
                self.pairs[p >> 6] |= 1 << (p & 63);
            }
        }
        // `ſ` (U+017F) folds to `s`, the Kelvin sign (U+212A) to `k`.
        self.open |= memchr::memmem::find(b, "\u{17f}".as_bytes()).is_some()
            || memchr::memmem::find(b, "\u{212a}".as_bytes()).is_some();
    }

    /// Whether `lit` (ASCII) may occur in the text.
    pub fn may_hold(&self, lit: &[u8]) -> bool {
        if self.open {
            return true;
        }
        match lit.len() {
            0 | 1 => true,
            2 => {
                let p = fold(lit[0]) << 5 | fold(lit[1]);
                self.pairs[p >> 6] & (1 << (p & 63)) != 0
            }
            _ => lit.windows(3).all(|w| {
                let t = fold(w[0]) << 10 | fold(w[1]) << 5 | fold(w[2]);
                self.triples[t >> 6] & (1 << (t & 63)) != 0
            }),
        }
    }
}

static GATES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Turns every gate off (`false`: every pattern runs on every text) or on,
/// for the whole process. For tests and benchmarks only: to show that the
/// gates change no result, and to measure what they save.
pub fn set_gates(on: bool) {
    GATES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A pattern with the literals one of which every match holds (`None`: the
/// pattern always runs).
#[derive(Debug)]
pub struct Gated {
    pub re: Regex,
    anchors: Option<Vec<Vec<u8>>>,
}

impl Gated {
    pub fn new(pattern: &str) -> Result<Gated, regex::Error> {
        let re = regex(pattern)?;
        Ok(Gated { anchors: anchors(pattern), re })
    }

    /// Whether a text with signature `sig` may hold a match.
    pub fn may_match(&self, sig: &Sig) -> bool {
        !GATES.load(std::sync::atomic::Ordering::Relaxed)
            || self.anchors.as_ref().is_none_or(|a| a.iter().any(|l| sig.may_hold(l)))
    }

    /// The literals the gate tests (for tests and `--explain`-style output).
    pub fn anchors(&self) -> Option<&[Vec<u8>]> {
        self.anchors.as_deref()
    }
}

/// Literals one of which every match of `pattern` holds, lower-cased ASCII;
/// `None` when no useful set exists. Prefixes or suffixes, whichever set's
/// shortest literal is longer.
pub fn anchors(pattern: &str) -> Option<Vec<Vec<u8>>> {
    let hir = regex_syntax::ParserBuilder::new().build().parse(pattern).ok()?;
    let pick = |kind| -> Option<Vec<Vec<u8>>> {
        let seq: Seq = Extractor::new()
            .kind(kind)
            .limit_class(4)
            .limit_repeat(4)
            .limit_literal_len(12)
            .limit_total(4096)
            .extract(&hir);
        let lits = seq.literals()?;
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
        for l in lits {
            let b = l.as_bytes();
            // Variants spelt with `ſ` or the Kelvin sign need no test: text holding either opens the gate.
            if b.windows(2).any(|w| w == [0xc5, 0xbf]) || b.windows(3).any(|w| w == [0xe2, 0x84, 0xaa]) {
                continue;
            }
            if !b.is_ascii() || b.len() < 2 {
                return None;
            }
            out.push(b.to_ascii_lowercase());
        }
        out.sort();
        out.dedup();
        (!out.is_empty()).then_some(out)
    };
    let score = |a: &Option<Vec<Vec<u8>>>| {
        a.as_ref().map(|v| (v.iter().map(Vec::len).min().unwrap_or(0), std::cmp::Reverse(v.len())))
    };
    let (p, s) = (pick(ExtractKind::Prefix), pick(ExtractKind::Suffix));
    if score(&s) > score(&p) { s } else { p }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_become_ascii_and_nothing_else_changes() {
        assert_eq!(ascii_boundaries(r"\bcat\b"), r"(?-u:\b)cat(?-u:\b)");
        assert_eq!(ascii_boundaries(r"\Bx"), r"(?-u:\B)x");
        // Escaped backslashes, classes and other escapes are left alone.
        assert_eq!(ascii_boundaries(r"\\b[\b]\d\s"), r"\\b[\b]\d\s");
        assert_eq!(ascii_boundaries(r"[]\b]\b"), r"[]\b](?-u:\b)");
        assert_eq!(ascii_boundaries(r"[^]x]\b"), r"[^]x](?-u:\b)");
        assert_eq!(ascii_boundaries(r"[a[:alpha:]]\b"), r"[a[:alpha:]](?-u:\b)");
        assert_eq!(ascii_boundaries("\\bignorez\\s+les règles"), "(?-u:\\b)ignorez\\s+les règles");
    }

    /// The gate folds ASCII case only; it is sound because `ſ` and the
    /// Kelvin sign are the only other letters case-insensitive patterns
    /// fold to ASCII letters, and text holding them opens every gate.
    #[test]
    fn only_two_non_ascii_letters_fold_to_ascii() {
        let letters = Regex::new("(?i)[a-z]").unwrap();
        let mut buf = [0u8; 4];
        let folding: Vec<char> = (0x80..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| letters.is_match(c.encode_utf8(&mut buf)))
            .collect();
        assert_eq!(folding, vec!['\u{17f}', '\u{212a}']);
        assert!(Sig::of("a \u{17f}").may_hold(b"zzz") && Sig::of("\u{212a}").may_hold(b"qq"));
    }

    #[test]
    fn a_signature_says_maybe_for_what_is_there_and_no_for_most_of_what_is_not() {
        let s = Sig::of("Run CURL -fsSL against the API, then Ignore it.");
        for l in [&b"curl"[..], b"api", b"ignore", b"fssl", b"run", b"t."] {
            assert!(s.may_hold(l), "{}", String::from_utf8_lossy(l));
        }
        for l in [&b"wget"[..], b"password", b"memory.md", b"base64", b"zq"] {
            assert!(!s.may_hold(l), "{}", String::from_utf8_lossy(l));
        }
        let mut two = Sig::of("first text");
        two.add("second, with wget");
        assert!(two.may_hold(b"first") && two.may_hold(b"wget"));
    }

    #[test]
    fn gates_come_from_the_pattern_and_never_skip_a_match() {
        let g = Gated::new(r"(?i)\b(?:curl|wget)\b[^\n]*\|\s*(?:ba)?sh\b").unwrap();
        assert!(g.anchors().is_some());
        for t in ["CURL https://x | sh", "wget -qO- x|bash", "Wget x | SH"] {
            assert!(g.may_match(&Sig::of(t)) && g.re.is_match(t), "{t}");
        }
        assert!(!g.may_match(&Sig::of("nothing to see here, just prose about shells")));
        // A pattern with no literal to test always runs.
        let any = Gated::new(r"[A-Za-z0-9+/]{40,}").unwrap();
        assert!(any.anchors().is_none() && any.may_match(&Sig::of("")));
        // Literals with non-ASCII letters (other than the two folds) leave the pattern ungated.
        assert!(Gated::new("(?i)ignoriere|игнорируй").unwrap().anchors().is_none());
    }

    #[test]
    fn an_ascii_boundary_still_separates_words_next_to_non_ascii_text() {
        let r = regex(r"(?i)\bignore\b").unwrap();
        assert!(r.is_match("— ignore — all"));
        assert!(r.is_match("«ignore»"));
        assert!(!r.is_match("ignored"));
        assert!(!r.is_match("xignore"));
    }
}
