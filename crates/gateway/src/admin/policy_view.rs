//! The live policy, read: whether it and each configured policy file are
//! valid, and what it would decide for one agent and tool (explain changes
//! nothing: no rate-limit bucket, session flag or audit record moves). The
//! JSON API (`/api/v1/policy…`) and the console both call these; the caller
//! checks the viewer role first.

use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_policy::{Request, SessionFlags};

use crate::Gateway;
use crate::admin::error::ApiError;

/// One configured policy file (`policy.files`) as it reads now.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFile {
    pub path: String,
    /// It can be read and parses as a policy document.
    pub ok: bool,
    pub error: Option<String>,
}

/// The policy in force and its sources.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyStatus {
    /// The last reload succeeded (`warden_policy_valid`); when false, the
    /// previous valid policy is still the one in force.
    pub valid: bool,
    /// Rules in the live policy (inline and from files).
    pub rules: usize,
    pub files: Vec<PolicyFile>,
    /// Rules written in warden.yaml's `policy:` section.
    pub inline_rules: usize,
    /// Policy changes picked up since start.
    pub reloads: u64,
    /// Reloads refused because the new policy was invalid.
    pub failures: u64,
}

/// What to explain: one agent calling one tool.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainInput {
    /// An agent in the inventory (or declared in the config).
    pub agent: String,
    /// The exposed (prefixed) tool name, or a built-in such as `exec`.
    pub tool: String,
    #[serde(default)]
    pub args: Value,
    /// The session has read private data.
    #[serde(default)]
    pub private_data: bool,
    /// The session has read untrusted content.
    #[serde(default)]
    pub untrusted_content: bool,
}

/// The decision the live policy makes.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainDecision {
    /// `allow`, `audit`, `deny`, `require_approval`, `rate_limit`.
    pub action: String,
    /// `low`, `medium`, `high`, `critical`.
    pub tier: String,
    /// The deciding rule's name, or `default:read_only`, `default:write`, `shell:on_finding`, `flow:<which>`.
    pub rule: String,
    pub reason: String,
    /// For `require_approval`: the approver group the rule names.
    pub approvers: Option<String>,
}

/// One rule considered, and why it did or did not match.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainStep {
    pub rule: String,
    pub matched: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainView {
    pub decision: ExplainDecision,
    /// Every rule whose tool globs matched the tool, in order.
    pub trace: Vec<ExplainStep>,
    /// The tool is in the live catalog, so its annotations were used; when
    /// false it was explained with no annotations (as a built-in or unknown tool is decided).
    pub tool_known: bool,
}

/// The live policy's validity and each configured file's.
pub fn status(gw: &Gateway) -> PolicyStatus {
    let files = gw
        .policy_source
        .files
        .iter()
        .map(|f| {
            let path = f.display().to_string();
            let error = match std::fs::read_to_string(f) {
                Err(e) => Some(format!("cannot read: {e}")),
                Ok(text) => warden_config::parse_policy(&text).err(),
            };
            PolicyFile { path, ok: error.is_none(), error }
        })
        .collect();
    let m = &gw.policy_metrics;
    PolicyStatus {
        valid: m.valid.load(Ordering::Relaxed),
        rules: gw.policy.load().rule_count(),
        files,
        inline_rules: gw.policy_source.inline.rules.len(),
        reloads: m.reloads.load(Ordering::Relaxed),
        failures: m.failures.load(Ordering::Relaxed),
    }
}

/// What the live policy decides for `input.agent` (the real agent: team,
/// labels, data access) calling `input.tool` (with its annotations from the
/// live catalog, when it is there). 404 for an unknown agent.
pub fn explain(gw: &Gateway, input: &ExplainInput) -> Result<ExplainView, ApiError> {
    if input.tool.trim().is_empty() {
        return Err(ApiError::field("tool", "is required"));
    }
    let agent = gw
        .directory
        .agent(&input.agent)
        .ok_or_else(|| ApiError::not_found(format!("agent {:?} does not exist", input.agent)))?;
    let catalog = gw.catalog.load();
    let entry = catalog.tools.get(&input.tool);
    let annotations = entry.and_then(|e| e.item.get("annotations").cloned()).unwrap_or(Value::Null);
    let args = if input.args.is_null() { Value::Object(Default::default()) } else { input.args.clone() };
    let policy = gw.policy.load();
    let (d, trace) = policy.explain(&Request {
        agent: &agent,
        tool: &input.tool,
        annotations: &annotations,
        args: &args,
        session: SessionFlags { private_data: input.private_data, untrusted_content: input.untrusted_content },
    });
    Ok(ExplainView {
        decision: ExplainDecision {
            action: d.action.as_str().to_string(),
            tier: d.tier.as_str().to_string(),
            rule: d.rule,
            reason: d.reason,
            approvers: d.approvers,
        },
        trace: trace.into_iter().map(|t| ExplainStep { rule: t.rule, matched: t.matched, detail: t.detail }).collect(),
        tool_known: entry.is_some(),
    })
}
