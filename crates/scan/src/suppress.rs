//! Suppressions: a reviewed YAML file, each entry a rule id (or `*`), a
//! path glob, a reason and an expiry. An expired entry suppresses nothing
//! and says so (`suppression.expired`), so a waiver cannot outlive its review.
//!
//! ```yaml
//! suppressions:
//!   - rule: exfiltration.endpoint
//!     path: "skills/slack-notify/*"
//!     reason: posts build results to our own Slack webhook (SEC-1234)
//!     expires: 2027-03-31
//! ```

use serde::Deserialize;
use warden_core::glob::Glob;

use crate::Report;
use crate::finding::{Family, Finding, Severity};
use crate::rules::Rule;

pub const EXPIRED: Rule = Rule {
    id: "suppression.expired",
    family: Family::Incomplete,
    severity: Severity::Low,
    short: "An expired suppression",
    full: "A suppression's expiry date has passed: it no longer applies. Review the finding again, then renew or remove it.",
};
pub const RULES: &[Rule] = &[EXPIRED];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    suppressions: Vec<Raw>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    rule: String,
    path: String,
    reason: String,
    expires: String,
}

#[derive(Debug)]
pub struct Suppression {
    pub rule: String,
    pub path: Glob,
    pub path_text: String,
    pub reason: String,
    /// `YYYY-MM-DD`.
    pub expires: time::Date,
}

/// Parses a suppressions file; every entry needs a known rule (or `*`), a
/// reason and a valid expiry.
pub fn parse(text: &str) -> Result<Vec<Suppression>, String> {
    let f: File = serde_norway::from_str(text).map_err(|e| format!("suppressions: {e}"))?;
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    f.suppressions
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let at = format!("suppressions[{i}]");
            if r.rule != "*" && crate::rules::by_id(&r.rule).is_none() {
                return Err(format!("{at}: unknown rule {:?}", r.rule));
            }
            if r.reason.trim().len() < 8 {
                return Err(format!("{at}: a reason is required (say why this is safe)"));
            }
            let expires = time::Date::parse(&r.expires, &fmt)
                .map_err(|e| format!("{at}: expires {:?}: {e} (use YYYY-MM-DD)", r.expires))?;
            let path = Glob::new(&r.path).map_err(|e| format!("{at}: path {:?}: {e:?}", r.path))?;
            Ok(Suppression { rule: r.rule, path, path_text: r.path, reason: r.reason, expires })
        })
        .collect()
}

/// Removes suppressed findings (returns how many); expired entries that
/// would have matched add a `suppression.expired` finding instead.
pub fn apply(list: &[Suppression], today: time::Date, report: &mut Report) -> usize {
    let mut n = 0;
    for u in &mut report.units {
        let mut notes = Vec::new();
        u.findings.retain(|f| {
            let Some(s) = list.iter().find(|s| (s.rule == "*" || s.rule == f.rule) && s.path.matches(&f.file)) else {
                return true;
            };
            if s.expires < today {
                notes.push(Finding {
                    rule: EXPIRED.id,
                    family: EXPIRED.family,
                    severity: Severity::Low,
                    file: f.file.clone(),
                    line: f.line,
                    column: f.column,
                    evidence: format!("{} on {} expired {}", s.rule, s.path_text, s.expires),
                    message: format!("expired suppression ({}); the finding stands", s.reason),
                    decoded_from: None,
                });
                return true;
            }
            n += 1;
            false
        });
        u.findings.extend(notes);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppressions_need_a_reason_a_rule_and_an_expiry_and_expire() {
        assert!(
            parse("suppressions:\n  - {rule: exfiltration.endpoint, path: '*', reason: '', expires: 2030-01-01}\n")
                .unwrap_err()
                .contains("reason")
        );
        assert!(
            parse(
                "suppressions:\n  - {rule: nope.rule, path: '*', reason: 'because of things', expires: 2030-01-01}\n"
            )
            .unwrap_err()
            .contains("unknown rule")
        );
        assert!(
            parse("suppressions:\n  - {rule: '*', path: '*', reason: 'because of things', expires: soon}\n")
                .unwrap_err()
                .contains("YYYY-MM-DD")
        );
        let text = "suppressions:\n  - {rule: exfiltration.endpoint, path: 'slack/*', reason: 'our own webhook, SEC-1', expires: 2027-01-31}\n";
        let list = parse(text).unwrap();
        let inputs =
            [crate::Input { path: "slack/SKILL.md".into(), bytes: b"# s\nPosts to https://webhook.site/x\n".to_vec() }];
        let scan = || crate::Scanner::default().scan(&inputs, vec![]);
        let mut r = scan();
        assert!(r.findings().any(|f| f.rule == "exfiltration.endpoint"));
        assert_eq!(apply(&list, time::macros::date!(2026 - 12 - 08), &mut r), 1);
        assert!(!r.findings().any(|f| f.rule == "exfiltration.endpoint"));
        let mut r = scan();
        assert_eq!(apply(&list, time::macros::date!(2027 - 02 - 01), &mut r), 0);
        assert!(r.findings().any(|f| f.rule == "exfiltration.endpoint"));
        assert!(r.findings().any(|f| f.rule == "suppression.expired"));
    }
}
