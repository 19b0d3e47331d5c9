//! The inference boundary: model upstreams (`models:`), guardrails
//! (`guardrails:`) and token/cost budgets (`budgets:`).

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::schema::{HttpUrl, Name, Num, Str};

/// One OpenAI-compatible upstream (vLLM, OpenAI, any compatible server).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelUpstream {
    pub name: Name,
    /// The API base, ending in `/v1` (requests go to `{base_url}/chat/completions`...).
    pub base_url: HttpUrl,
    /// The upstream API key as a secret reference (`env://`, `file://`, `store://`).
    #[serde(default)]
    pub api_key: Option<Str>,
    /// Model names agents use → the upstream's own model names.
    pub models: BTreeMap<String, String>,
    #[serde(default)]
    pub timeouts: ModelTimeouts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelTimeouts {
    pub connect_secs: Num<f64>,
    /// Whole request (non-streaming), or the longest gap between streamed chunks.
    pub request_secs: Num<f64>,
}

impl Default for ModelTimeouts {
    fn default() -> Self {
        ModelTimeouts { connect_secs: Num(10.0), request_secs: Num(300.0) }
    }
}

/// What happens when a detector finds something, per direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Refuse: an OpenAI-style 400 on input, a terminating error event mid-stream.
    Block,
    /// Replace the finding with `[REDACTED:<type>]` and go on.
    Redact,
    /// Let it through; the finding is audited and counted.
    Flag,
    /// Do not run this detector in this direction.
    Off,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Directions {
    /// Everything sent to the model: every message role, tool results included.
    pub input: GuardAction,
    /// What the model answers, streamed or not.
    pub output: GuardAction,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardrailsConfig {
    pub secrets: Directions,
    pub credential_instructions: Directions,
    pub prompt_injection: Directions,
    pub pii: Directions,
    pub exfiltration: Directions,
    /// A gitleaks-format TOML rule file; `[extend] useDefault = true` keeps Warden's rules.
    pub secret_rules_file: Option<Str>,
    /// Model score at or above which text is a prompt injection.
    pub injection_threshold: Option<Num<f64>>,
    /// Messages whose scan results are remembered (the history of long conversations).
    pub cache_entries: Num<u64>,
    /// The largest single text the detectors screen. A larger one cannot be
    /// screened and is refused (fail closed), as is any text a detector fails on.
    pub max_scan_bytes: Num<u64>,
    /// How long a model's answer is held while a human decides on a tool call it
    /// proposed (`require_approval`); undecided by then, the call is removed.
    pub proposed_call_wait_secs: Num<f64>,
}

impl Default for GuardrailsConfig {
    fn default() -> Self {
        use GuardAction::*;
        GuardrailsConfig {
            secrets: Directions { input: Redact, output: Redact },
            credential_instructions: Directions { input: Flag, output: Flag },
            prompt_injection: Directions { input: Flag, output: Flag },
            pii: Directions { input: Off, output: Off },
            exfiltration: Directions { input: Off, output: Redact },
            secret_rules_file: None,
            injection_threshold: None,
            cache_entries: Num(20_000),
            max_scan_bytes: Num(8 << 20),
            proposed_call_wait_secs: Num(120.0),
        }
    }
}

/// Daily limits for one agent; absent means unlimited.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Budget {
    pub daily_tokens: Option<Num<u64>>,
    pub daily_cost_usd: Option<Num<f64>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetsConfig {
    /// Applies to every agent without its own entry.
    pub default: Budget,
    pub agents: BTreeMap<String, Budget>,
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

pub(crate) fn validate(c: &crate::Config) -> Result<(), String> {
    let mut names = HashSet::new();
    let mut exposed = HashSet::new();
    for (i, m) in c.models.iter().enumerate() {
        let here = format!("models[{i}] ({:?})", m.name.0);
        if !names.insert(m.name.0.as_str()) {
            return Err(format!("{here}: duplicate model upstream name"));
        }
        if m.models.is_empty() {
            return Err(format!("{here}: models: map at least one model name to the upstream's name"));
        }
        for (k, v) in &m.models {
            if k.trim().is_empty() || v.trim().is_empty() || k.len() > 256 {
                return Err(format!("{here}: models.{k}: names must be 1-256 characters"));
            }
            if !exposed.insert(k.as_str()) {
                return Err(format!("{here}: models.{k}: the model name is offered by another upstream too"));
            }
        }
        if let Some(k) = &m.api_key {
            warden_secrets::SecretRef::parse(&k.0).map_err(|e| format!("{here}: api_key: {e}"))?;
        }
        if m.timeouts.connect_secs.0 <= 0.0 || m.timeouts.request_secs.0 <= 0.0 {
            return Err(format!("{here}: timeouts must be greater than zero"));
        }
    }
    for (model, p) in &c.prices {
        if !exposed.contains(model.as_str()) {
            return Err(format!("prices.{model}: no model upstream offers this model"));
        }
        if !(p.input_per_mtok.is_finite() && p.output_per_mtok.is_finite())
            || p.input_per_mtok < 0.0
            || p.output_per_mtok < 0.0
        {
            return Err(format!("prices.{model}: prices must be zero or more"));
        }
    }
    if let Some(t) = &c.guardrails.injection_threshold
        && !(0.0..=1.0).contains(&t.0)
    {
        return Err("guardrails.injection_threshold: must be between 0 and 1".into());
    }
    if c.guardrails.max_scan_bytes.0 == 0 {
        return Err("guardrails.max_scan_bytes: must be at least 1".into());
    }
    for (who, b) in std::iter::once(("default".to_string(), &c.budgets.default))
        .chain(c.budgets.agents.iter().map(|(k, v)| (format!("agents.{k}"), v)))
    {
        if b.daily_cost_usd.as_ref().is_some_and(|x| !x.0.is_finite() || x.0 < 0.0) {
            return Err(format!("budgets.{who}.daily_cost_usd: must be zero or more"));
        }
    }
    Ok(())
}
