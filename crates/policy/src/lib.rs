//! Policy as code, without I/O. A [`Policy`] is compiled once from a
//! [`PolicyDoc`] (globs, regexes, CIDRs, path globs and CEL all compiled at
//! load) and then answers, for one proposed action, a [`Decision`]: risk tier,
//! action, the rule that decided, and the reason.
//!
//! Evaluation: every rule whose tool globs match is a candidate (one
//! `RegexSet` pass picks them out of thousands); candidates are tested in file
//! order. A matching `deny` wins over everything ("deny overrides"); otherwise
//! the first matching rule decides; otherwise the shell classifier's
//! `on_finding`, otherwise the defaults (read-only → low/allow, anything else
//! → high/require_approval). Finally the session information-flow rule may
//! escalate a permissive outcome. A condition that errors denies the action.

pub mod check;
mod condition;
pub mod limits;
pub mod paths;
pub mod shell;

mod args;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use warden_config::{
    Annotation, ApprovalsSpec, Defaults, FlowAction, FlowSpec, LimitSpec, Outcome, PolicyDoc, RuleAction,
    ShellCategory, Tier, ToolLabel,
};
use warden_core::glob::Glob;
use warden_core::identity::Agent;

pub use shell::ShellFinding;

use args::ArgCond;
use condition::Condition;

/// What the session has seen so far (for the information-flow rule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionFlags {
    pub private_data: bool,
    pub untrusted_content: bool,
}

/// One proposed action, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub agent: &'a Agent,
    /// The exposed (prefixed) tool name.
    pub tool: &'a str,
    /// The tool's MCP `annotations` object, or `Null`.
    pub annotations: &'a Value,
    pub args: &'a Value,
    pub session: SessionFlags,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decision {
    pub tier: Tier,
    pub action: RuleAction,
    /// The rule that decided: its name, or `default:read_only`, `default:write`,
    /// `shell:on_finding`, `flow:<which>`, `error:<rule>`.
    pub rule: String,
    pub reason: String,
    /// `require_approval`: the approver group the rule names, if any.
    pub approvers: Option<String>,
    /// `require_approval`: how long to hold.
    #[serde(skip)]
    pub timeout: Duration,
    /// `rate_limit`: the rule's bucket (per agent and tool).
    #[serde(skip)]
    pub limit: Option<LimitSpec>,
    pub shell: Vec<ShellFinding>,
    pub labels: Vec<ToolLabel>,
}

/// Why each rule did or did not match, for `warden policy explain`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub matched: bool,
    pub detail: String,
}

#[derive(Debug)]
pub struct PolicyError {
    /// `rules[3] ("no-merge")` or a section name.
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) index: usize,
    pub(crate) tools: Vec<Glob>,
    pub(crate) agent_names: Vec<Glob>,
    pub(crate) teams: Vec<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) min_data_access: Option<warden_core::inventory::DataAccess>,
    pub(crate) annotations: BTreeMap<Annotation, bool>,
    pub(crate) args: Vec<ArgCond>,
    pub(crate) shell: Vec<ShellCategory>,
    pub(crate) when: Option<Condition>,
    pub(crate) tier: Tier,
    pub(crate) action: RuleAction,
    pub(crate) limit: Option<LimitSpec>,
    pub(crate) approvers: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) reason: Option<String>,
}

pub struct Policy {
    rules: Vec<Rule>,
    /// One pattern per (rule, tool glob); `tool_owner[i]` is the rule of pattern i.
    tool_set: regex::RegexSet,
    tool_owner: Vec<usize>,
    /// Rules without tool globs: candidates for every tool.
    any_tool: Vec<usize>,
    defaults: Defaults,
    tier_limits: BTreeMap<Tier, LimitSpec>,
    tool_labels: Vec<(Glob, Vec<ToolLabel>)>,
    flow: FlowSpec,
    shell_tools: Vec<Glob>,
    shell_args: Vec<String>,
    shell_outcome: Outcome,
    pub approvals: ApprovalsSpec,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Policy({} rules)", self.rules.len())
    }
}

/// A glob over names as a regex (same syntax as [`Glob`]: `*`, `?`, `\` escapes).
fn glob_regex(g: &str) -> String {
    let mut out = String::from("^");
    let mut chars = g.chars();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str("(?s:.*)"),
            '?' => out.push_str("(?s:.)"),
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push_str(&regex::escape(&e.to_string()));
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push('$');
    out
}

impl Policy {
    /// Compiles a whole policy. Every problem is reported, not just the first.
    pub fn compile(doc: &PolicyDoc) -> Result<Policy, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        let mut names = std::collections::HashSet::new();
        for (i, r) in doc.rules.iter().enumerate() {
            let at = format!("rules[{i}] ({:?})", r.name.0);
            let mut err = |m: String| errors.push(PolicyError { at: at.clone(), message: m });
            if r.name.0.trim().is_empty() {
                err("name must not be empty".into());
            }
            if !names.insert(r.name.0.clone()) {
                err("duplicate rule name".into());
            }
            let mut args = Vec::new();
            for (j, a) in r.matches.args.iter().enumerate() {
                match ArgCond::compile(a) {
                    Ok(c) => args.push(c),
                    Err(e) => err(format!("match.args[{j}]: {e}")),
                }
            }
            let when = match &r.when {
                Some(src) => match Condition::compile(&src.0) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        err(format!("when: {e}"));
                        None
                    }
                },
                None => None,
            };
            match r.action {
                RuleAction::RateLimit if r.limit.is_none() => err("action rate_limit needs `limit`".into()),
                RuleAction::RateLimit => {}
                _ if r.limit.is_some() => err("`limit` applies only to action rate_limit".into()),
                _ => {}
            }
            if r.action != RuleAction::RequireApproval && (r.approvers.is_some() || r.timeout.is_some()) {
                err("`approvers` and `timeout` apply only to action require_approval".into());
            }
            if r.matches.annotations.get(&Annotation::ReadOnly) == Some(&true)
                && r.matches.annotations.get(&Annotation::Destructive) == Some(&true)
            {
                err(
                    "match.annotations: readOnlyHint and destructiveHint cannot both be true; the rule can never match"
                        .into(),
                );
            }
            rules.push(Rule {
                name: r.name.0.clone(),
                index: i,
                tools: r.matches.tools.iter().map(|p| p.0.clone()).collect(),
                agent_names: r.matches.agents.names.iter().map(|p| p.0.clone()).collect(),
                teams: r.matches.agents.teams.iter().map(|t| t.0.clone()).collect(),
                labels: r.matches.agents.labels.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect(),
                min_data_access: r.matches.agents.min_data_access,
                annotations: r.matches.annotations.clone(),
                args,
                shell: r.matches.shell.clone(),
                when,
                tier: r.tier,
                action: r.action,
                limit: r.limit.clone(),
                approvers: r.approvers.as_ref().map(|a| a.0.clone()),
                timeout: r.timeout.map(|t| t.0),
                reason: r.reason.as_ref().map(|s| s.0.clone()),
            });
        }
        let mut patterns = Vec::new();
        let mut tool_owner = Vec::new();
        let mut any_tool = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.tools.is_empty() {
                any_tool.push(i);
            }
            for g in &r.tools {
                patterns.push(glob_regex(g.as_str()));
                tool_owner.push(i);
            }
        }
        let tool_set = match regex::RegexSetBuilder::new(&patterns).size_limit(64 << 20).build() {
            Ok(s) => s,
            Err(e) => {
                errors.push(PolicyError { at: "rules".into(), message: format!("tool globs: {e}") });
                regex::RegexSet::empty()
            }
        };
        let mut tool_labels = Vec::new();
        for (g, labels) in &doc.tool_labels {
            match Glob::new(g) {
                Ok(glob) => tool_labels.push((glob, labels.clone())),
                Err(e) => errors.push(PolicyError { at: format!("tool_labels.{g}"), message: e.to_string() }),
            }
        }
        let shell = doc.shell.clone().unwrap_or_default();
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Policy {
            rules,
            tool_set,
            tool_owner,
            any_tool,
            defaults: doc.defaults.clone().unwrap_or_default(),
            tier_limits: doc.tier_limits.clone(),
            tool_labels,
            flow: doc.flow.clone().unwrap_or_default(),
            shell_tools: shell.tools.iter().map(|p| p.0.clone()).collect(),
            shell_args: shell.command_args.iter().map(|s| s.0.clone()).collect(),
            shell_outcome: shell.on_finding,
            approvals: doc.approvals.clone().unwrap_or_default(),
        })
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// The bucket for `tier`, if the policy limits that tier.
    pub fn tier_limit(&self, tier: Tier) -> Option<&LimitSpec> {
        self.tier_limits.get(&tier)
    }

    /// Labels of a tool: from `tool_labels`, plus `destructive` for `destructiveHint: true`.
    pub fn labels_of(&self, tool: &str, annotations: &Value) -> Vec<ToolLabel> {
        let mut out: Vec<ToolLabel> =
            self.tool_labels.iter().filter(|(g, _)| g.matches(tool)).flat_map(|(_, l)| l.iter().copied()).collect();
        if annotations.get("destructiveHint").and_then(Value::as_bool) == Some(true) {
            out.push(ToolLabel::Destructive);
        }
        out.sort();
        out.dedup();
        out
    }

    /// The shell command in a call's arguments, if the tool is a shell tool.
    pub fn shell_command(&self, tool: &str, args: &Value) -> Option<String> {
        if !self.shell_tools.iter().any(|g| g.matches(tool)) {
            return None;
        }
        for key in &self.shell_args {
            match args.get(key) {
                Some(Value::String(s)) => return Some(s.clone()),
                Some(Value::Array(a)) => {
                    return Some(a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "));
                }
                _ => {}
            }
        }
        // No known key: read every string argument as part of the command.
        let mut parts = Vec::new();
        if let Some(o) = args.as_object() {
            parts.extend(o.values().filter_map(Value::as_str));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// Decides one action.
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        self.run(req, None)
    }

    /// Decides one action and says, rule by rule, why.
    pub fn explain(&self, req: &Request<'_>) -> (Decision, Vec<RuleTrace>) {
        let mut trace = Vec::new();
        let d = self.run(req, Some(&mut trace));
        (d, trace)
    }

    fn candidates(&self, tool: &str) -> Vec<usize> {
        let mut c: Vec<usize> = self.tool_set.matches(tool).iter().map(|p| self.tool_owner[p]).collect();
        c.extend(&self.any_tool);
        c.sort_unstable();
        c.dedup();
        c
    }

    fn run(&self, req: &Request<'_>, mut trace: Option<&mut Vec<RuleTrace>>) -> Decision {
        let labels = self.labels_of(req.tool, req.annotations);
        let findings = self.shell_command(req.tool, req.args).map(|c| shell::classify(&c)).unwrap_or_default();
        let cache = args::PathCache::default();
        let mut first: Option<&Rule> = None;
        let mut deny: Option<&Rule> = None;
        for i in self.candidates(req.tool) {
            let rule = &self.rules[i];
            // Once a rule decided, only a deny can still change the outcome.
            if first.is_some() && rule.action != RuleAction::Deny && trace.is_none() {
                continue;
            }
            match self.rule_matches(rule, req, &labels, &findings, &cache, trace.is_some()) {
                Ok(None) => {
                    if let Some(t) = trace.as_deref_mut() {
                        t.push(RuleTrace { rule: rule.name.clone(), matched: true, detail: summary(rule) });
                    }
                    if rule.action == RuleAction::Deny {
                        deny = Some(rule);
                        if trace.is_none() {
                            break;
                        }
                    } else if first.is_none() {
                        first = Some(rule);
                    }
                }
                Ok(Some(why)) => {
                    if let Some(t) = trace.as_deref_mut() {
                        t.push(RuleTrace { rule: rule.name.clone(), matched: false, detail: why });
                    }
                }
                Err(e) => {
                    // Fail closed: a condition that cannot be evaluated denies.
                    if let Some(t) = trace.as_deref_mut() {
                        t.push(RuleTrace { rule: rule.name.clone(), matched: false, detail: format!("error: {e}") });
                    }
                    return Decision {
                        tier: Tier::Critical,
                        action: RuleAction::Deny,
                        rule: format!("error:{}", rule.name),
                        reason: format!("policy rule {:?} could not be evaluated ({e}); denied", rule.name),
                        approvers: None,
                        timeout: Duration::ZERO,
                        limit: None,
                        shell: findings,
                        labels,
                    };
                }
            }
        }
        let mut d = if let Some(r) = deny.or(first) {
            let rule_names_shell = !r.shell.is_empty();
            let mut d = self.rule_decision(r);
            // A permissive rule that does not name the finding's category does not wave it through.
            if d.action.is_permissive() && !findings.is_empty() && !rule_names_shell {
                d = self.shell_decision(&findings, Some(&r.name));
            }
            d
        } else if !findings.is_empty() {
            self.shell_decision(&findings, None)
        } else {
            let read_only = req.annotations.get("readOnlyHint").and_then(Value::as_bool) == Some(true)
                && req.annotations.get("destructiveHint").and_then(Value::as_bool) != Some(true);
            let (o, name) = if read_only {
                (&self.defaults.read_only, "default:read_only")
            } else {
                (&self.defaults.write, "default:write")
            };
            self.outcome(o, name, format!("no rule matched; {name}"))
        };
        d.shell = findings;
        d.labels = labels;
        self.apply_flow(&mut d, req.session);
        d
    }

    fn outcome(&self, o: &Outcome, rule: &str, reason: String) -> Decision {
        Decision {
            tier: o.tier,
            action: o.action,
            rule: rule.to_string(),
            reason,
            approvers: None,
            timeout: self.approvals.timeout.0,
            limit: None,
            shell: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn shell_decision(&self, findings: &[ShellFinding], overriding: Option<&str>) -> Decision {
        let cats: Vec<&str> = findings.iter().map(|f| f.category.as_str()).collect();
        let mut reason = format!("shell command flagged: {}", cats.join(", "));
        if let Some(r) = overriding {
            let _ = write!(reason, " (rule {r:?} matched but does not name these categories)");
        }
        self.outcome(&self.shell_outcome, "shell:on_finding", reason)
    }

    fn rule_decision(&self, r: &Rule) -> Decision {
        let reason = r.reason.clone().unwrap_or_else(|| match r.action {
            RuleAction::Deny => format!("denied by policy rule {:?}", r.name),
            RuleAction::RequireApproval => format!("policy rule {:?} requires human approval", r.name),
            _ => format!("policy rule {:?}", r.name),
        });
        Decision {
            tier: r.tier,
            action: r.action,
            rule: r.name.clone(),
            reason,
            approvers: r.approvers.clone(),
            timeout: r.timeout.unwrap_or(self.approvals.timeout.0),
            limit: r.limit.clone(),
            shell: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn apply_flow(&self, d: &mut Decision, s: SessionFlags) {
        let checks = [
            (
                s.private_data && d.labels.contains(&ToolLabel::ExternalSink),
                self.flow.private_data_then_external_sink,
                "flow:private_data_then_external_sink",
                "this session has read private data; sending to an external sink needs a human",
            ),
            (
                s.untrusted_content && d.labels.contains(&ToolLabel::Destructive),
                self.flow.untrusted_content_then_destructive,
                "flow:untrusted_content_then_destructive",
                "this session has read untrusted content; a destructive action needs a human",
            ),
        ];
        for (hit, action, rule, why) in checks {
            if !hit || action == FlowAction::Off {
                continue;
            }
            let to = if action == FlowAction::Deny { RuleAction::Deny } else { RuleAction::RequireApproval };
            let stronger = !matches!(
                (d.action, to),
                (RuleAction::Deny, _) | (RuleAction::RequireApproval, RuleAction::RequireApproval)
            );
            if stronger {
                d.action = to;
                d.tier = d.tier.max(Tier::High);
                d.rule = rule.to_string();
                d.reason = format!("{why} (was {})", d.reason);
                d.approvers = None;
                d.timeout = self.approvals.timeout.0;
                d.limit = None;
            }
        }
    }

    /// `Ok(None)`: matches. `Ok(Some(why))`: does not. `Err`: cannot tell (fail closed).
    fn rule_matches(
        &self,
        r: &Rule,
        req: &Request<'_>,
        labels: &[ToolLabel],
        findings: &[ShellFinding],
        cache: &args::PathCache,
        explain: bool,
    ) -> Result<Option<String>, String> {
        // Reasons are only spelled out for `explain`: formatting them on the hot path costs more than matching.
        let no = |why: &dyn Fn() -> String| Ok(Some(if explain { why() } else { String::new() }));
        let a = req.agent;
        if !r.agent_names.is_empty() && !r.agent_names.iter().any(|g| g.matches(&a.name)) {
            return no(&|| format!("agent {:?} not in match.agents.names", a.name));
        }
        if !r.teams.is_empty() && !r.teams.contains(&a.team) {
            return no(&|| format!("team {:?} not in match.agents.teams", a.team));
        }
        for (k, v) in &r.labels {
            if a.labels.get(k) != Some(v) {
                return no(&|| format!("agent label {k}={v} not present"));
            }
        }
        if let Some(min) = r.min_data_access
            && a.data_access < min
        {
            return no(&|| format!("data access {:?} below {min:?}", a.data_access));
        }
        for (ann, want) in &r.annotations {
            // An absent hint is read as the MCP default: readOnly false, destructive true
            // (for a tool that is not read-only), idempotent false, openWorld true.
            let read_only = req.annotations.get("readOnlyHint").and_then(Value::as_bool) == Some(true);
            let default = match ann {
                Annotation::Destructive => !read_only,
                Annotation::OpenWorld => true,
                _ => false,
            };
            let have = req.annotations.get(ann.key()).and_then(Value::as_bool).unwrap_or(default);
            if have != *want {
                return no(&|| format!("annotation {} is {have}", ann.key()));
            }
        }
        if !r.shell.is_empty() && !findings.iter().any(|f| r.shell.contains(&f.category)) {
            return no(&|| "no shell finding of the listed categories".into());
        }
        let restrictive = !r.action.is_permissive();
        for c in &r.args {
            if !c.holds(req.args, restrictive, cache) {
                return no(&|| format!("argument condition failed: {}", c.describe()));
            }
        }
        if let Some(w) = &r.when {
            match w.eval(req, labels) {
                Ok(true) => {}
                Ok(false) => return no(&|| format!("when {:?} is false", w.source)),
                Err(e) => return Err(format!("when {:?}: {e}", w.source)),
            }
        }
        Ok(None)
    }
}

fn summary(r: &Rule) -> String {
    format!("{} / {}", r.tier, r.action)
}

#[cfg(test)]
mod tests;
