//! The inference boundary: an OpenAI-compatible proxy at `/v1/*`. Agents
//! send every prompt through it, authenticated with their Warden token as
//! the API key. Per request: identity and inventory status → model allowlist
//! → daily budget → guardrails on every message (stage 3) → the upstream key
//! (stage 6) → upstream → guardrails on the answer and the policy on every
//! tool call the model proposes (stage 8) → usage, cost and the audit record
//! (stage 9). A proposed call goes through the same pipeline as an MCP call;
//! a denied one is removed and the agent reads why.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use warden_core::identity::Identity;

use crate::Gateway;
use crate::llm::call::{Api, Call, blocked_answer, oai_error, refusal_item, today, usage_of};
use crate::llm::propose::propose;
use crate::pipeline::guard::{Direction, Report};

fn bad_request(message: impl Into<String>) -> Response {
    oai_error(StatusCode::BAD_REQUEST, "invalid_request_error", "invalid_request", message)
}

/// Authentication with the OpenAI error shape (the agent's Warden token is the API key).
async fn admit(gw: &Gateway, h: &HeaderMap) -> Result<Identity, Response> {
    crate::http::admit(gw, h).await.map_err(|r| {
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

pub(crate) async fn models(State(gw): State<Arc<Gateway>>, h: HeaderMap) -> Response {
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
    crate::http::json_response(StatusCode::OK, json!({"object": "list", "data": data}))
}

pub(crate) async fn chat(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    proxy(gw, h, body, Api::Chat).await
}

pub(crate) async fn responses(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    proxy(gw, h, body, Api::Responses).await
}

pub(crate) async fn embeddings(State(gw): State<Arc<Gateway>>, h: HeaderMap, body: Body) -> Response {
    proxy(gw, h, body, Api::Embeddings).await
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
    let trace =
        crate::telemetry::otlp::Trace::new(crate::telemetry::trace::TraceContext::from_headers(&h), gw.otlp.clone());
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
        pending: Vec::new(),
    };
    let scan_started = crate::telemetry::otlp::now_ns();
    let screened = screen_input(&gw, api, &mut body, &mut call.report);
    call.trace.child(
        crate::telemetry::otlp::new_span_id(),
        "guardrail scan",
        crate::telemetry::otlp::Kind::Internal,
        scan_started,
        vec![crate::telemetry::otlp::i("warden.guardrail.findings", call.report.noted.len() as i64)],
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
    let span = crate::telemetry::otlp::new_span_id();
    call.upstream_span = Some((span, crate::telemetry::otlp::now_ns()));
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
        return crate::llm::stream::relay(call, resp, sent, client_wants_usage).await;
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
        Ok(()) => crate::http::json_response(StatusCode::OK, out),
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
        Ok(v) if v.get("error").is_some_and(Value::is_object) => crate::http::json_response(status, v),
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
                        let id = tc.get("id").and_then(Value::as_str).unwrap_or("").to_string();
                        match propose(call, &name, &args, &id).await {
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
                        let id = it.get("call_id").and_then(Value::as_str).unwrap_or("").to_string();
                        match propose(call, &name, &args, &id).await {
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
