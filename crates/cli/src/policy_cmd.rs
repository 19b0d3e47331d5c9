//! `warden policy check | test | explain`: policy as code, offline. They read
//! the same sources `serve` does (warden.yaml's `policy:` and its files) and
//! compile them with the same code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use warden_config::{PolicyDoc, RuleAction, Tier};
use warden_core::access::AccessRules;
use warden_core::identity::Agent;
use warden_core::inventory::DataAccess;
use warden_policy::{Policy, Request, SessionFlags};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate the policy: unknown keys, bad globs, invalid CEL, rules that can never match, shadowed rules.
    /// Exits non-zero on any finding.
    Check {
        /// warden.yaml (its `policy:` section and `policy.files`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Policy files (checked together, after the config's own).
        files: Vec<PathBuf>,
    },
    /// Run a YAML list of cases (agent, tool, args → expected action, tier, rule). Exits non-zero on a mismatch.
    Test {
        cases: PathBuf,
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Policy files.
        #[arg(long = "policy")]
        files: Vec<PathBuf>,
    },
    /// Which rules matched one action, and why.
    Explain {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long = "policy")]
        files: Vec<PathBuf>,
        /// Agent name.
        #[arg(long)]
        agent: String,
        #[arg(long, default_value = "")]
        team: String,
        /// Agent label, key=value (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        #[arg(long, default_value = "public")]
        data_access: String,
        /// Exposed tool name (prefixed), or a built-in such as exec.
        #[arg(long)]
        tool: String,
        /// Arguments, JSON.
        #[arg(long, default_value = "{}")]
        args: String,
        /// Tool annotations, JSON (e.g. '{"readOnlyHint": true}').
        #[arg(long, default_value = "null")]
        annotations: String,
        /// The session has read private data.
        #[arg(long)]
        private_data: bool,
        /// The session has read untrusted content.
        #[arg(long)]
        untrusted_content: bool,
    },
}

/// Loads the policy like `serve` does; also returns the upstream prefixes when a config is given.
fn load(config: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<(Policy, Option<Vec<String>>)> {
    let (inline, prefixes) = match config {
        Some(p) => {
            let c = warden_config::load(p)?;
            let prefixes: Vec<String> = (0..c.upstreams.len()).filter_map(|i| c.prefix_of(i)).collect();
            let multi = c.upstreams.len() > 1;
            (c.policy, multi.then_some(prefixes))
        }
        None => (PolicyDoc::default(), None),
    };
    let mut texts = Vec::new();
    for f in inline.files.iter().map(|f| PathBuf::from(&f.0)).chain(files.iter().cloned()) {
        let t = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
        texts.push((f.display().to_string(), t));
    }
    let (policy, _) =
        warden_gateway::pipeline::policy_source::merge_and_compile(&inline, &texts).map_err(anyhow::Error::msg)?;
    Ok((policy, prefixes))
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Check { config, files } => {
            if config.is_none() && files.is_empty() {
                bail!("nothing to check: pass --config warden.yaml and/or policy files");
            }
            let (policy, prefixes) = load(config.as_deref(), &files)?;
            let findings = warden_policy::check::check(&policy, prefixes.as_deref());
            for f in &findings {
                println!("{}: {} — {}", f.rule, f.kind, f.message);
            }
            if !findings.is_empty() {
                bail!("{} finding(s)", findings.len());
            }
            println!("OK: {} rules", policy.rule_count());
            Ok(())
        }
        PolicyCommand::Test { cases, config, files } => test(&cases, config.as_deref(), &files),
        PolicyCommand::Explain {
            config,
            files,
            agent,
            team,
            labels,
            data_access,
            tool,
            args,
            annotations,
            private_data,
            untrusted_content,
        } => {
            let (policy, _) = load(config.as_deref(), &files)?;
            let mut a = Agent::declared(&agent, AccessRules::allow_all());
            a.team = team;
            for l in labels {
                let (k, v) = l.split_once('=').context("--label takes key=value")?;
                a.labels.insert(k.to_string(), v.to_string());
            }
            a.data_access = serde_json::from_value(json!(data_access)).context("--data-access")?;
            let args: Value = serde_json::from_str(&args).context("--args is not JSON")?;
            let ann: Value = serde_json::from_str(&annotations).context("--annotations is not JSON")?;
            let (d, trace) = policy.explain(&Request {
                agent: &a,
                tool: &tool,
                annotations: &ann,
                args: &args,
                session: SessionFlags { private_data, untrusted_content },
            });
            for t in &trace {
                println!("{} {:<32} {}", if t.matched { "MATCH" } else { "  -  " }, t.rule, t.detail);
            }
            if trace.is_empty() {
                println!("(no rule's tool globs match {tool:?})");
            }
            for f in &d.shell {
                println!("shell finding: {} ({})", f.category.as_str(), f.evidence);
            }
            println!("decision: {} / {} by {} — {}", d.action, d.tier, d.rule, d.reason);
            Ok(())
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(default)]
    name: Option<String>,
    agent: CaseAgent,
    tool: String,
    #[serde(default)]
    annotations: Value,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    session: CaseSession,
    expect: Expect,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseAgent {
    name: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    data_access: DataAccess,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CaseSession {
    #[serde(default)]
    private_data: bool,
    #[serde(default)]
    untrusted_content: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    action: RuleAction,
    #[serde(default)]
    tier: Option<Tier>,
    #[serde(default)]
    rule: Option<String>,
}

fn test(cases: &Path, config: Option<&Path>, files: &[PathBuf]) -> anyhow::Result<()> {
    let (policy, _) = load(config, files)?;
    let text = std::fs::read_to_string(cases).with_context(|| format!("reading {}", cases.display()))?;
    let doc: CaseFile = serde_norway::from_str(&text).with_context(|| format!("{}", cases.display()))?;
    let mut failed = 0;
    for (i, c) in doc.cases.iter().enumerate() {
        let label = c.name.clone().unwrap_or_else(|| format!("case {i}"));
        let mut a = Agent::declared(&c.agent.name, AccessRules::allow_all());
        a.team = c.agent.team.clone();
        a.labels = c.agent.labels.clone();
        a.data_access = c.agent.data_access;
        let args = if c.args.is_null() { json!({}) } else { c.args.clone() };
        let d = policy.evaluate(&Request {
            agent: &a,
            tool: &c.tool,
            annotations: &c.annotations,
            args: &args,
            session: SessionFlags {
                private_data: c.session.private_data,
                untrusted_content: c.session.untrusted_content,
            },
        });
        let mut wrong = Vec::new();
        if d.action != c.expect.action {
            wrong.push(format!("action {} (expected {})", d.action, c.expect.action));
        }
        if let Some(t) = c.expect.tier
            && t != d.tier
        {
            wrong.push(format!("tier {} (expected {t})", d.tier));
        }
        if let Some(r) = &c.expect.rule
            && *r != d.rule
        {
            wrong.push(format!("rule {} (expected {r})", d.rule));
        }
        if wrong.is_empty() {
            println!("ok    {label}");
        } else {
            failed += 1;
            println!("FAIL  {label}: {}", wrong.join(", "));
        }
    }
    if failed > 0 {
        bail!("{failed} of {} case(s) failed", doc.cases.len());
    }
    println!("{} case(s) passed", doc.cases.len());
    Ok(())
}
