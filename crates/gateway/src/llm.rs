//! The inference boundary: an OpenAI-compatible proxy at `/v1/*`. Agents
//! send every prompt through it, authenticated with their Warden token as
//! the API key. Per request: identity and inventory status → model allowlist
//! → daily budget → guardrails on every message (stage 3) → the upstream key
//! (stage 6) → upstream → guardrails on the answer and the policy on every
//! tool call the model proposes (stage 8) → usage, cost and the audit record
//! (stage 9). A proposed call goes through the same pipeline as an MCP call;
//! a denied one is removed and the agent reads why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};
use warden_config::{ModelUpstream, Price};
use warden_core::identity::Identity;
use warden_secrets::SecretRef;

use crate::Gateway;
use crate::govern::{self, Action, Entry, Gate, Waited};
use crate::guard::{Direction, Report};

pub fn routes() -> axum::Router<Arc<Gateway>> {
    axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/responses", post(responses))
        .route("/v1/models", get(models))
        .route("/v1/embeddings", post(embeddings))
}

struct Upstream {
    name: String,
    base: String,
    key: Option<SecretRef>,
    client: reqwest::Client,
    request: Duration,
}

/// The configured model upstreams and the names agents use.
pub struct Models {
    upstreams: Vec<Upstream>,
    /// Exposed model name → (upstream index, upstream's model name).
    routes: BTreeMap<String, (usize, String)>,
    prices: BTreeMap<String, Price>,
}

impl Models {
    pub fn new(cfg: &[ModelUpstream], prices: &BTreeMap<String, Price>) -> anyhow::Result<Models> {
        let mut upstreams = Vec::new();
        let mut routes = BTreeMap::new();
        for (i, m) in cfg.iter().enumerate() {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs_f64(m.timeouts.connect_secs.0))
                .pool_max_idle_per_host(64)
                .tcp_nodelay(true)
                .build()?;
            upstreams.push(Upstream {
                name: m.name.0.clone(),
                base: m.base_url.0.as_str().trim_end_matches('/').to_string(),
                key: m.api_key.as_ref().map(|k| SecretRef::parse(&k.0)).transpose().map_err(anyhow::Error::msg)?,
                client,
                request: Duration::from_secs_f64(m.timeouts.request_secs.0),
            });
            for (exposed, own) in &m.models {
                routes.insert(exposed.clone(), (i, own.clone()));
            }
        }
        Ok(Models { upstreams, routes, prices: prices.clone() })
    }

    pub fn request_timeout(&self, model: &str) -> Duration {
        self.routes.get(model).map(|(i, _)| self.upstreams[*i].request).unwrap_or(Duration::from_secs(300))
    }

    /// Cost in micro-dollars.
    fn cost_micros(&self, model: &str, input: u64, output: u64) -> u64 {
        self.prices
            .get(model)
            .map(|p| ((input as f64 * p.input_per_mtok + output as f64 * p.output_per_mtok).max(0.0)).round() as u64)
            .unwrap_or(0)
    }
}

/// An OpenAI-shaped error.
pub fn oai_error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
    crate::edge::json_response(
        status,
        json!({"error": {"message": message.into(), "type": kind, "param": null, "code": code}}),
    )
}

fn bad_request(message: impl Into<String>) -> Response {
    oai_error(StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", message)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Chat,
    Responses,
    Embeddings,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::Chat => "/chat/completions",
            Api::Responses => "/responses",
            Api::Embeddings => "/embeddings",
        }
    }
    fn method(self) -> &'static str {
        match self {
            Api::Chat => "chat.completions",
            Api::Responses => "responses",
            Api::Embeddings => "embeddings",
        }
    }
}

/// Authentication with the OpenAI error shape (the agent's Warden token is the API key).
async fn admit(gw: &Gateway, h: &HeaderMap) -> Result<Identity, Response> {
    crate::edge::admit(gw, h).await.map_err(|r| {
        let status = r.status();
        let mut out = oai_error(
            status,
            "invalid_request_error",
            "invalid_api_key",
            "Incorrect API key: use this agent's Warden token as the API key",
        );
        if let Some(v) = r.headers().get(header::WWW_AUTHENTICATE) {
            out.headers_mut().insert(header::WWW_AUTHENTICATE, v.clone());
        }
        out
    })
}

async fn models(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
    let who = match admit(&gw, &h).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let data: Vec<Value> = gw
        .models
        .routes
        .keys()
        .filter(|m| who.agent.access.models.permits(m))
        .map(|m| json!({"id": m, "object": "model", "created": 0, "owned_by": "warden"}))
        .collect();
    crate::edge::json_response(StatusCode::OK, json!({"object": "list", "data": data}))
}

async fn chat(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    proxy(gw, h, body, Api::Chat).await
}

async fn responses(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    proxy(gw, h, body, Api::Responses).await
}

async fn embeddings(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    proxy(gw, h, body, Api::Embeddings).await
}

/// One model request in flight: what the audit record and usage need.
pub(crate) struct Call {
    pub(crate) gw: Arc<Gateway>,
    pub(crate) who: Identity,
    pub(crate) api: Api,
    pub(crate) model: String,
    pub(crate) upstream: usize,
    pub(crate) started: Instant,
    pub(crate) report: Report,
    pub(crate) trace: Arc<crate::otlp::Trace>,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) upstream_status: String,
    pub(crate) upstream_us: u64,
    /// The upstream call's span: its id (sent as `traceparent`) and start.
    pub(crate) upstream_span: Option<([u8; 8], u64)>,
}

impl Call {
    fn record(&self, verdict: &str, reason: &str) -> warden_audit::Record {
        let cost = self.gw.models.cost_micros(&self.model, self.input_tokens, self.output_tokens);
        warden_audit::Record {
            id: uuid::Uuid::now_v7().to_string(),
            at: warden_audit::record::format_ms(warden_core::time::now_ms()),
            kind: "llm".into(),
            entry: "llm".into(),
            agent: self.who.agent.name.clone(),
            owner: self.who.agent.owner.clone(),
            method: self.api.method().into(),
            model: self.model.clone(),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_micros: cost,
            verdict: verdict.into(),
            rule: self.report.blocked().map(|n| format!("guardrail:{}", n.finding.detector)).unwrap_or_default(),
            reason: reason.into(),
            comment: self.report.comment(),
            upstream: self.gw.models.upstreams[self.upstream].name.clone(),
            upstream_status: self.upstream_status.clone(),
            upstream_us: self.upstream_us,
            latency_us: self.started.elapsed().as_micros() as u64,
            trace_id: self.trace.trace_id().into(),
            ..Default::default()
        }
    }

    /// Usage, metrics and the audit record. Err: the record could not be committed.
    pub(crate) async fn finish(&self, verdict: &str, reason: &str) -> Result<(), String> {
        let rec = self.record(verdict, reason);
        let agent = &self.who.agent.name;
        if self.input_tokens + self.output_tokens > 0 {
            let m = &self.gw.meters;
            m.tokens.add(&[agent, &self.model, "input"], self.input_tokens as f64);
            m.tokens.add(&[agent, &self.model, "output"], self.output_tokens as f64);
            m.cost.add(&[agent, &self.model], rec.cost_micros as f64 / 1e6);
            let u = warden_store::usage::Usage {
                agent: agent.clone(),
                model: self.model.clone(),
                day: today(),
                requests: 1,
                input_tokens: self.input_tokens as i64,
                output_tokens: self.output_tokens as i64,
                cost_micros: rec.cost_micros as i64,
            };
            if let Err(e) = self.gw.store.usage_add(&u).await {
                tracing::error!(agent = %agent, error = %e, "model usage could not be recorded");
            }
        }
        if let Some((id, start)) = self.upstream_span {
            let up = &self.gw.models.upstreams[self.upstream].name;
            let error = (self.upstream_status != "ok").then(|| self.upstream_status.clone());
            let attrs = vec![
                crate::otlp::s("warden.upstream", up.as_str()),
                crate::otlp::s("warden.upstream_status", self.upstream_status.as_str()),
                crate::otlp::s("gen_ai.request.model", self.model.as_str()),
            ];
            self.trace.child(id, &format!("upstream {up}"), crate::otlp::Kind::Client, start, attrs, error);
        }
        self.gw.meters.overhead.observe(
            &["llm"],
            self.started.elapsed().saturating_sub(Duration::from_micros(self.upstream_us)).as_secs_f64(),
        );
        govern::commit(&self.gw, rec, Some(&self.trace)).await
    }
}

fn today() -> String {
    warden_audit::record::format_ms(warden_core::time::now_ms())[..10].to_string()
}

/// Refuses when the agent's daily token or cost budget is spent. Store errors refuse too.
async fn budget(gw: &Gateway, agent: &str) -> Result<(), Response> {
    let b = gw.budgets.agents.get(agent).unwrap_or(&gw.budgets.default);
    if b.daily_tokens.is_none() && b.daily_cost_usd.is_none() {
        return Ok(());
    }
    let (tokens, cost) = gw.store.usage_day(agent, &today()).await.map_err(|e| {
        tracing::error!(agent, error = %e, "budget unreadable; request refused");
        oai_error(StatusCode::SERVICE_UNAVAILABLE, "api_error", "store_unavailable", "the usage store is unavailable")
    })?;
    let over = |what: String| {
        oai_error(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            "budget_exceeded",
            format!("Daily budget exhausted for agent {agent}: {what}. It resets at 00:00 UTC."),
        )
    };
    if let Some(t) = &b.daily_tokens
        && tokens as u64 >= t.0
    {
        return Err(over(format!("{tokens} of {} tokens used today", t.0)));
    }
    if let Some(c) = &b.daily_cost_usd
        && cost as f64 / 1e6 >= c.0
    {
        return Err(over(format!("${:.4} of ${:.2} spent today", cost as f64 / 1e6, c.0)));
    }
    Ok(())
}

/// Screens a message `content`: a string, or the text parts of an array.
/// `operator`: system/developer text (no injection model, see `Guard::findings`).
fn screen_content(gw: &Gateway, content: &mut Value, operator: bool, place: &str, report: &mut Report) {
    match content {
        Value::String(s) => {
            if let Some(r) = gw.guard.screen_as(s, Direction::Input, operator, place, report) {
                *s = r;
            }
        }
        Value::Array(parts) => {
            for (i, p) in parts.iter_mut().enumerate() {
                for k in ["text", "output"] {
                    if let Some(Value::String(s)) = p.get_mut(k)
                        && let Some(r) =
                            gw.guard.screen_as(s, Direction::Input, operator, &format!("{place}[{i}]"), report)
                    {
                        *s = r;
                    }
                }
            }
        }
        _ => {}
    }
}

/// Stage 3 on the request body: every message of every role.
fn screen_input(gw: &Gateway, api: Api, body: &mut Value, report: &mut Report) -> Result<(), String> {
    match api {
        Api::Chat => {
            let Some(msgs) = body.get_mut("messages").and_then(Value::as_array_mut) else {
                return Err("messages: required, an array".into());
            };
            for (i, m) in msgs.iter_mut().enumerate() {
                let role = m.get("role").and_then(Value::as_str).unwrap_or("?").to_string();
                let operator = role == "system" || role == "developer";
                if let Some(c) = m.get_mut("content") {
                    screen_content(gw, c, operator, &format!("messages[{i}] ({role})"), report);
                }
                if let Some(calls) = m.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for (k, c) in calls.iter_mut().enumerate() {
                        if let Some(a) = c.pointer_mut("/function/arguments") {
                            screen_content(gw, a, false, &format!("messages[{i}].tool_calls[{k}]"), report);
                        }
                    }
                }
            }
        }
        Api::Responses => {
            if let Some(s) = body.get_mut("instructions") {
                screen_content(gw, s, true, "instructions", report);
            }
            match body.get_mut("input") {
                Some(Value::String(_)) => screen_content(gw, body.get_mut("input").unwrap(), false, "input", report),
                Some(Value::Array(items)) => {
                    for (i, it) in items.iter_mut().enumerate() {
                        let kind = it.get("type").and_then(Value::as_str).unwrap_or("message").to_string();
                        let role = it.get("role").and_then(Value::as_str).unwrap_or("");
                        let operator = role == "system" || role == "developer";
                        for k in ["content", "output", "arguments"] {
                            if let Some(c) = it.get_mut(k) {
                                screen_content(gw, c, operator, &format!("input[{i}] ({kind})"), report);
                            }
                        }
                    }
                }
                _ => return Err("input: required, a string or an array of items".into()),
            }
        }
        Api::Embeddings => match body.get_mut("input") {
            Some(v @ (Value::String(_) | Value::Array(_))) => screen_content(gw, v, false, "input", report),
            _ => return Err("input: required, a string or an array of strings".into()),
        },
    }
    Ok(())
}

async fn proxy(gw: Arc<Gateway>, h: HeaderMap, body: Body, api: Api) -> Response {
    let started = Instant::now();
    let who = match admit(&gw, &h).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    if !gw.audit.healthy() {
        return oai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "audit_unavailable",
            "Refused: the audit trail cannot record this request",
        );
    }
    let limit = gw.limits.max_body_bytes;
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(b) => b,
        Err(_) => {
            return oai_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                format!("the request body is over the limit of {limit} bytes"),
            );
        }
    };
    let mut body: Value = match serde_json::from_slice(&bytes) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return bad_request("the body must be a JSON object"),
        Err(e) => return bad_request(format!("the body is not valid JSON: {e}")),
    };
    let Some(model) = body.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return bad_request("model: required, a string");
    };
    // Unknown and forbidden models get the same answer.
    let route = gw.models.routes.get(&model).filter(|_| who.agent.access.models.permits(&model)).cloned();
    let Some((upstream, own_model)) = route else {
        return oai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{model}` does not exist or this agent may not use it"),
        );
    };
    if let Err(r) = budget(&gw, &who.agent.name).await {
        return r;
    }
    let trace = crate::otlp::Trace::new(crate::trace::TraceContext::from_headers(&h), gw.otlp.clone());
    let mut call = Call {
        gw: gw.clone(),
        who,
        api,
        model,
        upstream,
        started,
        report: Report::default(),
        trace,
        input_tokens: 0,
        output_tokens: 0,
        upstream_status: String::new(),
        upstream_us: 0,
        upstream_span: None,
    };
    let scan_started = crate::otlp::now_ns();
    let screened = screen_input(&gw, api, &mut body, &mut call.report);
    call.trace.child(
        crate::otlp::new_span_id(),
        "guardrail scan",
        crate::otlp::Kind::Internal,
        scan_started,
        vec![crate::otlp::i("warden.guardrail.findings", call.report.noted.len() as i64)],
        call.report.blocked().map(|n| format!("blocked: {}/{}", n.finding.detector, n.finding.kind)),
    );
    if let Err(m) = screened {
        return bad_request(m);
    }
    if let Some(n) = call.report.blocked() {
        let msg = format!(
            "Blocked by Warden: {} ({}) in {}: {}",
            n.finding.detector, n.finding.kind, n.place, n.finding.evidence
        );
        let _ = call.finish("deny", &msg).await;
        return oai_error(StatusCode::BAD_REQUEST, "invalid_request_error", "guardrail_blocked", msg);
    }
    let stream = body.get("stream") == Some(&Value::Bool(true));
    let client_wants_usage = body.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    if stream && api == Api::Chat {
        body["stream_options"] = json!({"include_usage": true});
    }
    body["model"] = Value::String(own_model);
    let up = &gw.models.upstreams[upstream];
    let mut req = up.client.post(format!("{}{}", up.base, api.path())).json(&body);
    if let Some(r) = &up.key {
        match gw.custody.resolve(r).await {
            Ok(k) => {
                gw.custody.note_use(&format!("model:{}", up.name), &call.who.agent.name);
                req = req.bearer_auth(k.expose())
            }
            Err(e) => {
                tracing::error!(upstream = %up.name, error = %e, "model upstream credential unavailable");
                call.upstream_status = "credential unavailable".into();
                let _ = call.finish("error", "the upstream credential could not be resolved").await;
                return oai_error(
                    StatusCode::BAD_GATEWAY,
                    "api_error",
                    "upstream_unavailable",
                    format!("model upstream {}: its credential is unavailable", up.name),
                );
            }
        }
    }
    if !stream {
        req = req.timeout(up.request);
    }
    // W3C trace context to the model upstream, under the upstream call's span.
    let span = crate::otlp::new_span_id();
    call.upstream_span = Some((span, crate::otlp::now_ns()));
    req = req.header("traceparent", call.trace.ctx.header_for(&hex::encode(span)));
    let sent = Instant::now();
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => {
            call.upstream_us = sent.elapsed().as_micros() as u64;
            call.upstream_status = if e.is_timeout() { "timeout".into() } else { "unreachable".into() };
            let _ = call.finish("error", &format!("model upstream: {e}")).await;
            let (status, what) = if e.is_timeout() {
                (StatusCode::GATEWAY_TIMEOUT, "did not answer in time")
            } else {
                (StatusCode::BAD_GATEWAY, "is unreachable")
            };
            return oai_error(
                status,
                "api_error",
                "upstream_unavailable",
                format!("model upstream {} {what}", up.name),
            );
        }
    };
    let status = resp.status();
    if !status.is_success() {
        let text = resp.bytes().await.unwrap_or_default();
        call.upstream_us = sent.elapsed().as_micros() as u64;
        call.upstream_status = format!("error {}", status.as_u16());
        let _ = call.finish("error", "the model upstream refused the request").await;
        return relay_error(status, &text);
    }
    if stream {
        return crate::llm_stream::relay(call, resp, sent, client_wants_usage).await;
    }
    let text = match tokio::time::timeout(up.request, resp.bytes()).await {
        Ok(Ok(t)) => t,
        _ => {
            call.upstream_status = "truncated".into();
            let _ = call.finish("error", "the model upstream's answer was cut off").await;
            return oai_error(StatusCode::BAD_GATEWAY, "api_error", "upstream_error", "the model's answer was cut off");
        }
    };
    call.upstream_us = sent.elapsed().as_micros() as u64;
    call.upstream_status = "ok".into();
    let Ok(mut out) = serde_json::from_slice::<Value>(&text) else {
        call.upstream_status = "invalid answer".into();
        let _ = call.finish("error", "the model upstream answered with invalid JSON").await;
        return oai_error(
            StatusCode::BAD_GATEWAY,
            "api_error",
            "upstream_error",
            "the model upstream answered with invalid JSON",
        );
    };
    usage_of(&out, &mut call);
    if out.get("model").is_some() {
        out["model"] = Value::String(call.model.clone());
    }
    if let Err(r) = screen_answer(&mut call, &mut out).await {
        return r;
    }
    match call.finish("allow", "").await {
        Ok(()) => crate::edge::json_response(StatusCode::OK, out),
        Err(e) => oai_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "audit_unavailable",
            format!("Refused: the audit trail cannot record this request ({e})"),
        ),
    }
}

/// Relays an upstream error in the OpenAI shape (a non-OpenAI body is wrapped).
fn relay_error(status: reqwest::StatusCode, body: &[u8]) -> Response {
    let status = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.get("error").is_some_and(Value::is_object) => crate::edge::json_response(status, v),
        _ => oai_error(
            status,
            "api_error",
            "upstream_error",
            format!(
                "the model upstream answered {}: {}",
                status.as_u16(),
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
        ),
    }
}

/// Tokens from an answer's `usage` (chat, responses or embeddings names).
pub(crate) fn usage_of(v: &Value, call: &mut Call) {
    let Some(u) = v.get("usage").filter(|u| u.is_object()) else { return };
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    call.input_tokens = n("prompt_tokens").or(n("input_tokens")).unwrap_or(call.input_tokens);
    call.output_tokens = n("completion_tokens").or(n("output_tokens")).unwrap_or(call.output_tokens);
}

fn blocked_answer(n: &crate::guard::Noted) -> String {
    format!(
        "Blocked by Warden: the model's answer contained {} ({}): {}",
        n.finding.detector, n.finding.kind, n.finding.evidence
    )
}

/// Stage 8 on a whole answer: output guardrails on text, the policy on proposed calls.
async fn screen_answer(call: &mut Call, out: &mut Value) -> Result<(), Response> {
    let gw = call.gw.clone();
    match call.api {
        Api::Embeddings => return Ok(()),
        Api::Chat => {
            let n = out.get("choices").and_then(Value::as_array).map_or(0, Vec::len);
            for c in 0..n {
                let msg = &mut out["choices"][c]["message"];
                if let Some(Value::String(s)) = msg.get_mut("content")
                    && let Some(r) = gw.guard.screen(
                        s,
                        Direction::Output,
                        &format!("choices[{c}].message.content"),
                        &mut call.report,
                    )
                {
                    *s = r;
                }
                let calls = msg.get_mut("tool_calls").and_then(Value::as_array_mut).map(std::mem::take);
                if let Some(calls) = calls {
                    let mut kept = Vec::new();
                    let mut refusals = Vec::new();
                    for tc in calls {
                        let name = tc.pointer("/function/name").and_then(Value::as_str).unwrap_or("").to_string();
                        let args = tc.pointer("/function/arguments").and_then(Value::as_str).unwrap_or("").to_string();
                        match propose(call, &name, &args).await {
                            Ok(args) => {
                                let mut tc = tc;
                                tc["function"]["arguments"] = Value::String(args);
                                kept.push(tc);
                            }
                            Err(why) => refusals.push(why),
                        }
                    }
                    let msg = &mut out["choices"][c]["message"];
                    if !refusals.is_empty() {
                        let prior = msg.get("content").and_then(Value::as_str).unwrap_or("").to_string();
                        let note = refusals.join("\n");
                        msg["content"] =
                            Value::String(if prior.is_empty() { note } else { format!("{prior}\n\n{note}") });
                    }
                    if kept.is_empty() {
                        if let Some(o) = msg.as_object_mut() {
                            o.remove("tool_calls");
                        }
                        if out["choices"][c]["finish_reason"] == "tool_calls" {
                            out["choices"][c]["finish_reason"] = json!("stop");
                        }
                    } else {
                        msg["tool_calls"] = Value::Array(kept);
                    }
                }
            }
        }
        Api::Responses => {
            let items = out.get_mut("output").and_then(Value::as_array_mut).map(std::mem::take).unwrap_or_default();
            let mut kept = Vec::new();
            for (i, mut it) in items.into_iter().enumerate() {
                match it.get("type").and_then(Value::as_str) {
                    Some("message") => {
                        if let Some(parts) = it.get_mut("content").and_then(Value::as_array_mut) {
                            for (k, p) in parts.iter_mut().enumerate() {
                                if let Some(Value::String(s)) = p.get_mut("text")
                                    && let Some(r) = gw.guard.screen(
                                        s,
                                        Direction::Output,
                                        &format!("output[{i}].content[{k}]"),
                                        &mut call.report,
                                    )
                                {
                                    *s = r;
                                }
                            }
                        }
                        kept.push(it);
                    }
                    Some("function_call") => {
                        let name = it.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                        let args = it.get("arguments").and_then(Value::as_str).unwrap_or("").to_string();
                        match propose(call, &name, &args).await {
                            Ok(a) => {
                                it["arguments"] = Value::String(a);
                                kept.push(it);
                            }
                            Err(why) => kept.push(refusal_item(i, &why)),
                        }
                    }
                    _ => kept.push(it),
                }
            }
            out["output"] = Value::Array(kept);
        }
    }
    if let Some(n) = call.report.blocked() {
        let msg = blocked_answer(n);
        let _ = call.finish("deny", &msg).await;
        return Err(oai_error(StatusCode::BAD_REQUEST, "invalid_request_error", "guardrail_blocked", msg));
    }
    Ok(())
}

/// A Responses output item that tells the agent a proposed call was refused.
pub(crate) fn refusal_item(i: usize, why: &str) -> Value {
    json!({"type": "message", "id": format!("msg_warden_{i}"), "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": why, "annotations": []}]})
}

/// One tool call the model proposed, through the decision pipeline (stages
/// 3-5: guardrails on its arguments, policy, approval hold). Ok: the
/// (possibly redacted) arguments to pass on. Err: the refusal the agent reads.
pub(crate) async fn propose(call: &mut Call, name: &str, args: &str) -> Result<String, String> {
    let gw = call.gw.clone();
    let tool = warden_core::names::nfc(name.trim());
    if tool.is_empty() || tool.len() > 256 {
        return Err("Warden removed a proposed tool call with no valid name.".into());
    }
    let parsed: Value = match serde_json::from_str(if args.trim().is_empty() { "{}" } else { args }) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) | Err(_) => {
            tracing::warn!(agent = %call.who.agent.name, tool = %tool, "model proposed a call with invalid JSON arguments");
            return Err(format!(
                "Warden refused the call to `{tool}`: the model's arguments are not a valid JSON object, so it was not run."
            ));
        }
    };
    let mut args = parsed;
    gw.guard.screen_arguments(&mut args, &format!("tool call {tool}"), &mut call.report);
    if call.report.blocked().is_some() {
        return Err(format!("Warden refused the call to `{tool}`: its arguments were blocked by a guardrail."));
    }
    let action = Action {
        entry: Entry::Llm,
        agent: call.who.agent.clone(),
        session_id: None,
        tool: tool.clone(),
        annotations: Value::Null,
        args: args.clone(),
        flags: Default::default(),
        trace: call.trace.clone(),
    };
    let text = |a: &Value| serde_json::to_string(a).unwrap_or_else(|_| "{}".into());
    match govern::check(&gw, &action).await {
        Gate::Proceed(_) => Ok(text(&args)),
        Gate::Refuse(r) => Err(format!("Warden refused the call to `{tool}`: {}", r.message)),
        Gate::Hold(mut held) => {
            let wait = gw.proposed_call_wait;
            match held.wait(Some(wait), Duration::from_secs(3600), |_| {}).await {
                Waited::Approved => {
                    if let Err(r) = held.recheck(&action).await {
                        held.finish("refused: the policy changed while the call was held").await;
                        return Err(format!("Warden refused the call to `{tool}`: {}", r.message));
                    }
                    if let Err(e) = govern::commit(&gw, held.record("allow"), None).await {
                        held.finish("refused: the audit trail could not record it").await;
                        return Err(format!(
                            "Warden refused the call to `{tool}`: {}",
                            govern::audit_unavailable(&e).message
                        ));
                    }
                    held.finish("passed to the agent in the model's answer").await;
                    Ok(text(&args))
                }
                Waited::Refused(r) => Err(format!("Warden refused the call to `{tool}`: {}", r.message)),
                Waited::StillPending => {
                    let id = held.approval.id.clone();
                    held.finish("refused: no decision within the model answer's wait").await;
                    drop(held);
                    Err(format!(
                        "Warden held the call to `{tool}` for human approval ({id}) and no one decided within {} s, so it was not passed on.",
                        wait.as_secs()
                    ))
                }
            }
        }
    }
}

/// `Some(message)` when streamed output must stop here (a block).
pub(crate) fn output_blocked(call: &Call) -> Option<String> {
    call.report.blocked().filter(|n| n.direction == Direction::Output).map(blocked_answer)
}
