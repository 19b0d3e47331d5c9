//! Static checks behind `warden policy check`, beyond what compiling already
//! refuses: rules that can never decide because an earlier rule covers
//! everything they match (shadowed), and rules whose tool globs name an
//! upstream prefix that does not exist (never match).
//!
//! "Covers" is judged syntactically and soundly: a reported shadow is real;
//! some real shadows (through equivalent regexes or CEL) go unreported.

use warden_config::RuleAction;
use warden_core::glob::Glob;

use crate::{Policy, Rule};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub rule: String,
    pub kind: &'static str,
    pub message: String,
}

/// Does glob `a` match every name glob `b` matches? Sound for `*`-only globs.
fn glob_covers(a: &Glob, b: &Glob) -> bool {
    let (sa, sb) = (a.as_str(), b.as_str());
    if sa == sb || sa == "*" {
        return true;
    }
    if sa.contains(['?', '\\']) || sb.contains(['?', '\\']) {
        return false;
    }
    // b's `*` read as literal characters must be absorbed by a's `*`s.
    a.matches(sb)
}

fn globs_cover(a: &[Glob], b: &[Glob]) -> bool {
    a.is_empty() || (!b.is_empty() && b.iter().all(|g| a.iter().any(|h| glob_covers(h, g))))
}

/// Does rule `a` match every action rule `b` matches?
fn covers(a: &Rule, b: &Rule) -> bool {
    globs_cover(&a.tools, &b.tools)
        && globs_cover(&a.agent_names, &b.agent_names)
        && (a.teams.is_empty() || (!b.teams.is_empty() && b.teams.iter().all(|t| a.teams.contains(t))))
        && a.labels.iter().all(|(k, v)| b.labels.get(k) == Some(v))
        && a.min_data_access.is_none_or(|m| b.min_data_access.is_some_and(|n| n >= m))
        && a.annotations.iter().all(|(k, v)| b.annotations.get(k) == Some(v))
        && (a.shell.is_empty() || (!b.shell.is_empty() && b.shell.iter().all(|c| a.shell.contains(c))))
        && a.args.iter().all(|c| b.args.iter().any(|d| d.describe() == c.describe()))
        && a.when.as_ref().is_none_or(|w| b.when.as_ref().is_some_and(|v| v.source == w.source))
        // Arguments are read conservatively for restrictive rules only; keep like with like.
        && (a.args.is_empty() || a.action.is_permissive() == b.action.is_permissive())
}

/// Runs the checks. `prefixes`: the upstream prefixes in use (names are
/// `<prefix>__tool`), when known; `None` skips the prefix check.
pub fn check(policy: &Policy, prefixes: Option<&[String]>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (j, b) in policy.rules.iter().enumerate() {
        for a in &policy.rules[..j] {
            if !covers(a, b) {
                continue;
            }
            // A deny still overrides an earlier first match; it is only redundant under another deny.
            let shadowed = b.action != RuleAction::Deny || a.action == RuleAction::Deny;
            if shadowed {
                out.push(Finding {
                    rule: b.name.clone(),
                    kind: "shadowed",
                    message: format!(
                        "rules[{}] {:?} ({}) matches everything this rule matches and comes first, so rules[{}] never decides",
                        a.index, a.name, a.action, b.index
                    ),
                });
                break;
            }
        }
        if let Some(prefixes) = prefixes {
            for g in &b.tools {
                let s = g.as_str();
                if let Some((head, _)) = s.split_once("__")
                    && !head.contains(['*', '?', '\\'])
                    && !prefixes.iter().any(|p| p == head)
                {
                    out.push(Finding {
                        rule: b.name.clone(),
                        kind: "never_matches",
                        message: format!("tool glob {s:?} names upstream prefix {head:?}, which no upstream uses"),
                    });
                }
            }
        }
    }
    out
}
