//! Secret detection with rules in the gitleaks TOML format, so users can
//! bring their own: `[[rules]]` with `id`, `description`, `regex`,
//! `secretGroup`, `entropy`, `keywords` and `[rules.allowlist]` /
//! `[[rules.allowlists]]` (`regexes`, `stopwords`, `regexTarget`), a global
//! `[allowlist]` / `[[allowlists]]`, and `[extend] useDefault = true` to add
//! to Warden's default set rather than replace it. `path` rules are accepted
//! and ignored (there are no file paths at the gateway).
//!
//! Pipeline: keyword prefilter (one Aho-Corasick pass, case-insensitive) →
//! the regexes of the rules whose keywords occur → entropy → allowlists and
//! the placeholder filter (`sk-...`, `YOUR_API_KEY`, `$OPENAI_API_KEY`,
//! `<token>`, `xxxx`...).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use regex::Regex;
use serde::Deserialize;

use crate::finding::{Finding, entropy, masked};

/// Warden's default rules, written for Warden (gitleaks format).
pub const DEFAULT_RULES: &str = include_str!("../rules/secrets.toml");

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RuleFile {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    extend: Option<Extend>,
    #[serde(default)]
    rules: Vec<RuleDef>,
    #[serde(default)]
    allowlist: Option<AllowDef>,
    #[serde(default)]
    allowlists: Vec<AllowDef>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Extend {
    #[serde(default)]
    use_default: bool,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleDef {
    id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    regex: Option<String>,
    #[serde(default)]
    secret_group: Option<usize>,
    #[serde(default)]
    entropy: Option<f32>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    path: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    tags: Vec<String>,
    #[serde(default)]
    allowlist: Option<AllowDef>,
    #[serde(default)]
    allowlists: Vec<AllowDef>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AllowDef {
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    #[serde(default)]
    regexes: Vec<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    /// `secret` (default), `match` or `line`.
    #[serde(default)]
    regex_target: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    paths: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    commits: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    condition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    Secret,
    Match,
    Line,
}

struct Allow {
    regexes: Vec<Regex>,
    stopwords: Vec<String>,
    target: Target,
}

impl Allow {
    fn compile(d: &AllowDef, at: &str) -> Result<Allow, String> {
        let target = match d.regex_target.as_deref() {
            None | Some("secret") => Target::Secret,
            Some("match") => Target::Match,
            Some("line") => Target::Line,
            Some(o) => return Err(format!("{at}: regexTarget {o:?} (use secret, match or line)")),
        };
        let regexes = d
            .regexes
            .iter()
            .map(|r| crate::rx::regex(r).map_err(|e| format!("{at}: allowlist regex {r:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Allow { regexes, stopwords: d.stopwords.iter().map(|s| s.to_lowercase()).collect(), target })
    }

    fn allows(&self, secret: &str, whole: &str, line: &str) -> bool {
        let t = match self.target {
            Target::Secret => secret,
            Target::Match => whole,
            Target::Line => line,
        };
        let lower = secret.to_lowercase();
        self.regexes.iter().any(|r| r.is_match(t)) || self.stopwords.iter().any(|w| lower.contains(w.as_str()))
    }
}

struct Rule {
    id: String,
    description: String,
    regex: Regex,
    group: Option<usize>,
    entropy: Option<f32>,
    has_keywords: bool,
    allows: Vec<Allow>,
}

/// A compiled rule set.
pub struct SecretRules {
    rules: Vec<Rule>,
    keywords: AhoCorasick,
    /// The keywords, lower-cased (for [`SecretRules::plain_word_may_leave`]).
    keyword_list: Vec<String>,
    /// Keyword pattern index → the rules it enables.
    keyword_rules: Vec<Vec<usize>>,
    always: Vec<usize>,
    global: Vec<Allow>,
    pub title: String,
}

impl std::fmt::Debug for SecretRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretRules({} rules)", self.rules.len())
    }
}

impl SecretRules {
    /// The default set.
    pub fn defaults() -> SecretRules {
        SecretRules::parse(DEFAULT_RULES).expect("the default rules compile")
    }

    /// A gitleaks-format TOML document. With `[extend] useDefault = true` the
    /// defaults are included (minus `disabledRules`).
    pub fn parse(toml_text: &str) -> Result<SecretRules, String> {
        let file: RuleFile = toml::from_str(toml_text).map_err(|e| format!("secret rules: {e}"))?;
        let mut defs = Vec::new();
        let mut allows = Vec::new();
        if let Some(ext) = &file.extend
            && ext.use_default
        {
            let base: RuleFile = toml::from_str(DEFAULT_RULES).expect("default rules parse");
            defs.extend(base.rules.into_iter().filter(|r| !ext.disabled_rules.contains(&r.id)));
            allows.extend(base.allowlist);
            allows.extend(base.allowlists);
        }
        for r in file.rules {
            defs.retain(|d: &RuleDef| d.id != r.id);
            defs.push(r);
        }
        allows.extend(file.allowlist);
        allows.extend(file.allowlists);
        let global = allows.iter().map(|a| Allow::compile(a, "allowlist")).collect::<Result<Vec<_>, _>>()?;
        let mut rules = Vec::new();
        let mut kw: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut always = Vec::new();
        for d in defs {
            let at = format!("rule {}", d.id);
            let Some(re) = &d.regex else { continue };
            let regex = crate::rx::regex(re).map_err(|e| format!("{at}: regex: {e}"))?;
            if let Some(g) = d.secret_group
                && g >= regex.captures_len()
            {
                return Err(format!("{at}: secretGroup {g} but the regex has {} groups", regex.captures_len() - 1));
            }
            let mut rule_allows = Vec::new();
            for a in d.allowlist.iter().chain(&d.allowlists) {
                rule_allows.push(Allow::compile(a, &at)?);
            }
            let i = rules.len();
            for k in &d.keywords {
                let k = k.to_lowercase();
                match kw.iter().position(|x| *x == k) {
                    Some(p) => keyword_rules[p].push(i),
                    None => {
                        kw.push(k);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
            if d.keywords.is_empty() {
                always.push(i);
            }
            rules.push(Rule {
                id: d.id,
                description: d.description,
                regex,
                group: d.secret_group,
                entropy: d.entropy,
                has_keywords: !d.keywords.is_empty(),
                allows: rule_allows,
            });
        }
        let keywords = AhoCorasickBuilder::new()
            .kind(Some(AhoCorasickKind::DFA))
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&kw)
            .map_err(|e| format!("keywords: {e}"))?;
        Ok(SecretRules {
            rules,
            keywords,
            keyword_list: kw,
            keyword_rules,
            always,
            global,
            title: file.title.unwrap_or_default(),
        })
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `word`, the unfinished last word of streamed text, may be
    /// released before the next chunk arrives (so the first token is not held
    /// back for the second). Only a short run of ASCII letters qualifies,
    /// and only when it cannot begin a secret: it is no prefix of a keyword
    /// and holds none, it does not stand where a value goes (after `:`, `=`,
    /// a quote or a bracket, or after a credential word such as `Bearer`),
    /// and every rule is keyword-gated. `before` is the text preceding it.
    pub fn plain_word_may_leave(&self, before: &str, word: &str) -> bool {
        if !self.always.is_empty()
            || word.is_empty()
            || word.len() > 24
            || !word.bytes().all(|b| b.is_ascii_alphabetic())
        {
            return false;
        }
        let lw = word.to_ascii_lowercase();
        if self.keyword_list.iter().any(|k| k.starts_with(&lw) || lw.contains(k.as_str())) {
            return false;
        }
        let before = before.trim_end();
        if before.ends_with([':', '=', '"', '\'', '`', '(', '[', '{', '<', '/', '@', '-', '_', '.']) {
            return false;
        }
        let prev = before.rsplit(char::is_whitespace).next().unwrap_or("");
        let prev = prev.trim_end_matches([',', ';', '!', '?']).to_ascii_lowercase();
        let credential_word = ["bearer", "basic", "token", "key", "password", "passwd", "secret", "pass", "pwd"];
        !(credential_word.contains(&prev.as_str()) || self.keyword_list.iter().any(|k| prev.ends_with(k.as_str())))
    }

    /// Every secret in `text`.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut enabled = vec![false; self.rules.len()];
        for &i in &self.always {
            enabled[i] = true;
        }
        for m in self.keywords.find_overlapping_iter(text) {
            for &i in &self.keyword_rules[m.pattern().as_usize()] {
                enabled[i] = true;
            }
        }
        let mut out: Vec<Finding> = Vec::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !enabled[i] {
                continue;
            }
            for caps in rule.regex.captures_iter(text) {
                let whole = caps.get(0).expect("group 0");
                let m = match rule.group {
                    Some(g) => caps.get(g),
                    // gitleaks: the first group that matched, else the whole match.
                    None => (1..caps.len()).find_map(|g| caps.get(g)).or(Some(whole)),
                };
                let Some(m) = m else { continue };
                let secret = m.as_str();
                if let Some(min) = rule.entropy
                    && entropy(secret) < min
                {
                    continue;
                }
                let line = line_of(text, whole.start(), whole.end());
                if placeholder(secret)
                    || rule.allows.iter().chain(&self.global).any(|a| a.allows(secret, whole.as_str(), line))
                {
                    continue;
                }
                if out.iter().any(|f| f.start < m.end() && m.start() < f.end) {
                    continue;
                }
                out.push(Finding {
                    detector: "secrets",
                    kind: rule.id.clone(),
                    start: m.start(),
                    end: m.end(),
                    score: if rule.has_keywords && !rule.id.starts_with("generic") { 0.95 } else { 0.7 },
                    evidence: format!("{}: {}", rule.description, masked(secret)),
                });
            }
        }
        out.sort_by_key(|f| f.start);
        out
    }
}

fn line_of(text: &str, start: usize, end: usize) -> &str {
    let s = text[..start].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let e = text[end..].find('\n').map(|i| end + i).unwrap_or(text.len());
    &text[s..e]
}

/// Example values that are not secrets.
pub fn placeholder(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "...",
        "…",
        "xxxx",
        "****",
        "your_",
        "your-",
        "yourkey",
        "your_api",
        "<",
        ">",
        "${",
        "{{",
        "$(",
        "example",
        "placeholder",
        "changeme",
        "change_me",
        "replace",
        "redacted",
        "dummy",
        "insert",
        "fake",
        "sample",
        "foobar",
        "12345678",
        "abcdefgh",
        "0000000000",
        "my_api_key",
        "my-api-key",
        "api_key_here",
        "token_here",
        "secret_here",
        "not-a-real",
        "notreal",
    ];
    if WORDS.iter().any(|w| l.contains(w)) {
        return true;
    }
    // `$OPENAI_API_KEY`, `%API_KEY%`: references, not values.
    if l.starts_with('$') || (l.starts_with('%') && l.ends_with('%')) {
        return true;
    }
    // A long run of one character (`aaaaaaaa`, `00000000`).
    let b = s.as_bytes();
    let mut run = 1;
    for w in b.windows(2) {
        run = if w[0] == w[1] { run + 1 } else { 1 };
        if run >= 8 {
            return true;
        }
    }
    false
}
