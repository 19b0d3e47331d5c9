//! The read-only pages: policy (files, validity, explain), usage (charts
//! drawn on the server) and health (upstreams, replicas, store).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use crate::Gateway;
use crate::admin::console::charts;
use crate::admin::console::page::{self, Chrome};
use crate::admin::console::session;
use crate::admin::error::ApiError;
use crate::admin::health::HealthView;
use crate::admin::policy_view::{self, ExplainInput, ExplainView, PolicyStatus};

#[derive(Template)]
#[template(path = "console/policy.html")]
struct PolicyPage {
    c: Chrome,
    s: PolicyStatus,
    agent: String,
    tool: String,
    args: String,
    private_data: bool,
    untrusted_content: bool,
    explained: Option<ExplainView>,
    error: String,
}

/// `GET /policy`: the loaded files and their validity; with `agent` and
/// `tool`, the explain form's answer (matched rules and the decision).
pub async fn policy(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let u = match session::for_page(&gw, &h, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "policy");
    let get = |k: &str| q.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let (agent, tool) = (get("agent"), get("tool"));
    let args_text = q.get("args").cloned().filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "{}".into());
    let (private_data, untrusted_content) = (get("private_data") == "true", get("untrusted_content") == "true");
    let mut explained = None;
    let mut error = String::new();
    let mut status = StatusCode::OK;
    if !agent.is_empty() || !tool.is_empty() {
        let run = || -> Result<ExplainView, ApiError> {
            if agent.is_empty() || tool.is_empty() {
                return Err(ApiError::bad("give both an agent and a tool"));
            }
            let args = serde_json::from_str(&args_text)
                .map_err(|e| ApiError::field("args", format!("the arguments are not JSON: {e}")))?;
            policy_view::explain(
                &gw,
                &ExplainInput { agent: agent.clone(), tool: tool.clone(), args, private_data, untrusted_content },
            )
        };
        match run() {
            Ok(v) => explained = Some(v),
            Err(e) => {
                status = e.status;
                error = e.message;
            }
        }
    }
    let p = PolicyPage {
        c,
        s: policy_view::status(&gw),
        agent,
        tool,
        args: args_text,
        private_data,
        untrusted_content,
        explained,
        error,
    };
    page::render(&gw, status, &p)
}

#[derive(Template)]
#[template(path = "console/usage.html")]
struct UsagePage {
    c: Chrome,
    days: u32,
    agent: String,
    charts: Vec<String>,
    totals: Vec<(String, i64, i64, String)>,
}

/// `GET /usage?days&agent`: tokens, cost and calls per agent and model, per day.
pub async fn usage(
    State(gw): State<Arc<Gateway>>,
    h: HeaderMap,
    uri: Uri,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let u = match session::for_page(&gw, &h, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "usage");
    let days: u32 = match q.get("days").map(|d| d.trim()).filter(|d| !d.is_empty()) {
        None => 14,
        Some(d) => match d.parse() {
            Ok(n) => n,
            Err(_) => return page::error(&gw, Some(&c), &ApiError::field("days", "a whole number of days, 1 to 90")),
        },
    };
    let agent = q.get("agent").map(|a| a.trim().to_string()).unwrap_or_default();
    let v = match crate::admin::usage::usage(&gw, days, Some(agent.as_str()).filter(|a| !a.is_empty())).await {
        Ok(v) => v,
        Err(e) => return page::error(&gw, Some(&c), &e),
    };
    // One line per agent (summed over models) for tokens and cost; calls per agent; a bar per model.
    let mut tokens: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut cost: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in &v.series {
        let t = tokens.entry(s.agent.clone()).or_insert_with(|| vec![0.0; v.days.len()]);
        let k = cost.entry(s.agent.clone()).or_insert_with(|| vec![0.0; v.days.len()]);
        for p in &s.points {
            if let Some(i) = v.days.iter().position(|d| *d == p.day) {
                t[i] += (p.input_tokens + p.output_tokens) as f64;
                k[i] += p.cost_micros as f64 / 1_000_000.0;
            }
        }
    }
    let calls: Vec<(String, Vec<f64>)> =
        v.calls.iter().map(|s| (s.agent.clone(), s.calls.iter().map(|&n| n as f64).collect())).collect();
    let models: Vec<String> = v.totals_by_model.iter().map(|t| t.key.clone()).collect();
    let model_tokens: Vec<f64> = v.totals_by_model.iter().map(|t| (t.input_tokens + t.output_tokens) as f64).collect();
    let charts = vec![
        charts::line_chart("Tokens per day, by agent", &v.days, &tokens.into_iter().collect::<Vec<_>>(), "tokens"),
        charts::line_chart("Cost per day, by agent", &v.days, &cost.into_iter().collect::<Vec<_>>(), "USD"),
        charts::line_chart("MCP tool calls per day, by agent", &v.days, &calls, "calls"),
        charts::bar_chart("Tokens by model", &models, &model_tokens, "tokens"),
    ];
    let totals = v
        .totals_by_agent
        .iter()
        .map(|t| {
            (t.key.clone(), t.requests, t.input_tokens + t.output_tokens, format!("{:.4}", t.cost_micros as f64 / 1e6))
        })
        .collect();
    page::render(&gw, StatusCode::OK, &UsagePage { c, days, agent, charts, totals })
}

#[derive(Template)]
#[template(path = "console/health.html")]
struct HealthPage {
    c: Chrome,
    h: HealthView,
    now: String,
}

/// `GET /health`: upstreams (status, tools, collisions), replicas, the store.
pub async fn health(State(gw): State<Arc<Gateway>>, h: HeaderMap, uri: Uri) -> Response {
    let u = match session::for_page(&gw, &h, &uri).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let c = u.chrome(&gw, "health");
    let hv = crate::admin::health::health(&gw).await;
    page::render(&gw, StatusCode::OK, &HealthPage { c, h: hv, now: page::when_ms(warden_core::time::now_ms()) })
}
