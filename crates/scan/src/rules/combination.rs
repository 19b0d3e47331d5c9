//! Combinations: families that are each common in benign skills but,
//! together in one skill, are what a stealer or backdoor is made of.

use super::{Ctx, Rule};
use crate::finding::{Family, Finding, Severity};

pub const CREDENTIAL_EXFIL: Rule = Rule {
    id: "combination.credential-exfiltration",
    family: Family::Combination,
    severity: Severity::Critical,
    short: "Credential access and an exfiltration endpoint in one skill",
    full: "The skill reads credentials (key files, browser stores, the environment) and also names a place to send data \
           (a catcher, paste site, tunnel, bot API or raw IP): the shape of a credential stealer, whatever each part's \
           severity alone.",
};
pub const DROPPER_PERSISTENCE: Rule = Rule {
    id: "combination.dropper-persistence",
    family: Family::Combination,
    severity: Severity::Critical,
    short: "A download that is run and made persistent",
    full: "The skill downloads and runs code and also installs it to run again (cron, launchd, start-up files): a \
           backdoor's install script.",
};
pub const HIDDEN_INSTRUCTIONS: Rule = Rule {
    id: "combination.concealed-action",
    family: Family::Combination,
    severity: Severity::Critical,
    short: "Concealment together with credential access, exfiltration or a dropper",
    full: "The skill tells the agent to hide something from its user and also touches credentials, sends data out or \
           runs downloaded code.",
};

pub const RULES: &[Rule] = &[CREDENTIAL_EXFIL, DROPPER_PERSISTENCE, HIDDEN_INSTRUCTIONS];

/// Adds the combination findings of one unit (a skill), placed at the first
/// finding of the pair.
pub fn check(ctx: &mut Ctx) {
    let first = |ctx: &Ctx, fam: Family| {
        ctx.findings.iter().find(|f| f.family == fam && f.severity >= Severity::Medium).cloned()
    };
    let add = |ctx: &mut Ctx, rule: &'static Rule, a: Option<Finding>, b: Option<Finding>| {
        if let (Some(a), Some(b)) = (a, b) {
            ctx.seen.insert((rule.family, rule.id));
            ctx.findings.push(Finding {
                rule: rule.id,
                family: rule.family,
                severity: rule.severity,
                file: a.file.clone(),
                line: a.line,
                column: a.column,
                evidence: format!("{} ({}:{}) + {} ({}:{})", a.rule, a.file, a.line, b.rule, b.file, b.line),
                message: rule.short.to_string(),
                decoded_from: None,
            });
        }
    };
    let cred = first(ctx, Family::Credentials).or_else(|| {
        ctx.findings
            .iter()
            .find(|f| f.rule == "secrets.handling-instructions" && f.severity >= Severity::Medium)
            .cloned()
    });
    let exfil = first(ctx, Family::Exfiltration);
    add(ctx, &CREDENTIAL_EXFIL, cred.clone(), exfil.clone());
    let dropper = first(ctx, Family::Dropper).filter(|f| f.severity >= Severity::High);
    let persist = first(ctx, Family::Persistence).filter(|f| f.severity >= Severity::High);
    add(ctx, &DROPPER_PERSISTENCE, dropper.clone(), persist);
    let conceal = ctx.findings.iter().find(|f| f.rule == "instructions.concealment").cloned();
    let action = cred.or(exfil).or(dropper);
    add(ctx, &HIDDEN_INSTRUCTIONS, conceal, action);
}
