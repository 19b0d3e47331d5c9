//! A local OpenAI-compatible model stub: `/v1/chat/completions` and
//! `/v1/responses` (streaming and not), `/v1/models` and `/v1/embeddings`.
//! It stands in for vLLM or OpenAI in the demo, tests and benchmarks; nothing
//! real can run a model here.
//!
//! The reply is scripted by directives in the system messages (or
//! `instructions`) and the last user or tool text:
//! - `[[say:TEXT]]` — answer exactly TEXT (`\n` for newlines);
//! - `[[tool:NAME {json}]]` — propose a call of tool NAME with those arguments
//!   (several may appear);
//! - `[[badtool]]` — propose a call whose arguments are not JSON;
//! - `[[error:STATUS]]` — fail with that HTTP status and an OpenAI error body;
//! - `[[slow:MS]]` — wait MS between streamed chunks;
//! - `[[gap:MS]]` — send everything up to the first text chunk at once, then
//!   wait MS before each later chunk (time to first token without timer noise);
//! - anything else — `echo: <text>`.
//!
//! `GET /stub/requests` returns every request received (method, path,
//! `authorization` header, body); `GET /stub/stats` counts streams that the
//! client abandoned before the end.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Stub {
    log: Arc<Mutex<Vec<Value>>>,
    abandoned: Arc<AtomicU64>,
    completed: Arc<AtomicU64>,
}

pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/responses", post(responses))
        .route("/v1/models", get(models))
        .route("/v1/embeddings", post(embeddings))
        .route("/stub/requests", get(requests))
        .route("/stub/stats", get(stats))
        .with_state(Stub::default());
    // Streamed answers are many small writes: without TCP_NODELAY each waits
    // for the reader's delayed ACK (about 40 ms), as a real model server's would not.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}

const MODELS: &[&str] = &["stub-small", "stub-large", "stub-embed"];

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"error": {"message": message, "type": "stub_error", "param": null, "code": status.as_u16().to_string()}});
    (status, axum::Json(body)).into_response()
}

fn record(st: &Stub, path: &str, h: &HeaderMap, body: &Value) {
    let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    st.log.lock().unwrap().push(
        json!({"path": path, "authorization": header("authorization"), "traceparent": header("traceparent"), "body": body}),
    );
}

async fn requests(State(st): State<Stub>) -> axum::Json<Value> {
    axum::Json(Value::Array(st.log.lock().unwrap().clone()))
}

async fn stats(State(st): State<Stub>) -> axum::Json<Value> {
    axum::Json(
        json!({"abandoned": st.abandoned.load(Ordering::Relaxed), "completed": st.completed.load(Ordering::Relaxed)}),
    )
}

async fn models(State(st): State<Stub>, h: HeaderMap) -> axum::Json<Value> {
    record(&st, "/v1/models", &h, &Value::Null);
    let data: Vec<Value> = MODELS
        .iter()
        .map(|m| json!({"id": m, "object": "model", "created": 1_700_000_000, "owned_by": "stub"}))
        .collect();
    axum::Json(json!({"object": "list", "data": data}))
}

async fn embeddings(State(st): State<Stub>, h: HeaderMap, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return error(400, "invalid JSON") };
    record(&st, "/v1/embeddings", &h, &v);
    let inputs: Vec<String> = match &v["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned).unwrap_or_else(|| x.to_string())).collect(),
        _ => return error(400, "input: a string or an array"),
    };
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut e = [0f32; 8];
            for (k, b) in s.bytes().enumerate() {
                e[k % 8] += b as f32 / 255.0;
            }
            json!({"object": "embedding", "index": i, "embedding": e})
        })
        .collect();
    let tokens: usize = inputs.iter().map(|s| s.len().div_ceil(4)).sum();
    axum::Json(json!({"object": "list", "data": data, "model": v["model"], "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}))
        .into_response()
}

/// What the model "decided" to do.
struct Script {
    text: Option<String>,
    tools: Vec<(String, String)>,
    /// Unique per answer, so tool-call ids are unique across answers (as a real model's are).
    nonce: u64,
    error: Option<u16>,
    slow: Duration,
    gap: Duration,
}

fn directive<'a>(s: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("[[{name}");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(end) = after.find("]]") else { break };
        out.push(after[..end].strip_prefix(':').unwrap_or(&after[..end]));
        rest = &after[end + 2..];
    }
    out
}

fn script(directives: &str, prompt: &str) -> Script {
    let mut tools: Vec<(String, String)> = directive(directives, "tool")
        .into_iter()
        .map(|t| {
            let (name, args) = t.split_once(' ').unwrap_or((t, "{}"));
            (name.trim().to_string(), args.trim().to_string())
        })
        .collect();
    if !directive(directives, "badtool").is_empty() {
        tools.push(("exec".into(), "{\"command\": \"ls\" oops".into()));
    }
    let text = directive(directives, "say").first().map(|s| s.replace("\\n", "\n"));
    let text = match (text, tools.is_empty()) {
        (Some(t), _) => Some(t),
        (None, true) => Some(format!("echo: {prompt}")),
        (None, false) => None,
    };
    static ANSWERS: AtomicU64 = AtomicU64::new(0);
    Script {
        text,
        tools,
        nonce: ANSWERS.fetch_add(1, Ordering::Relaxed),
        error: directive(directives, "error").first().and_then(|s| s.parse().ok()),
        slow: Duration::from_millis(directive(directives, "slow").first().and_then(|s| s.parse().ok()).unwrap_or(0)),
        gap: Duration::from_millis(directive(directives, "gap").first().and_then(|s| s.parse().ok()).unwrap_or(0)),
    }
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.get("output").and_then(Value::as_str)))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn tokens(s: &str) -> u64 {
    s.len().div_ceil(4) as u64
}

/// Sends `events` as SSE, `slow` apart (and `gap` apart after the first
/// text chunk); counts a stream dropped by the client.
fn sse(st: &Stub, events: Vec<String>, sc: &Script) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(4);
    let st = st.clone();
    let (slow, gap) = (sc.slow, sc.gap);
    let first_text = events
        .iter()
        .position(|e| {
            (e.contains("\"content\":\"") && !e.contains("\"content\":\"\"")) || e.contains("output_text.delta")
        })
        .unwrap_or(0);
    tokio::spawn(async move {
        for (i, e) in events.into_iter().enumerate() {
            if !slow.is_zero() {
                tokio::time::sleep(slow).await;
            }
            if i > first_text && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            if tx.send(Ok(Bytes::from(e))).await.is_err() {
                st.abandoned.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        st.completed.fetch_add(1, Ordering::Relaxed);
    });
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) }));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(body)
        .unwrap()
}

fn pieces(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

async fn chat(State(st): State<Stub>, h: HeaderMap, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return error(400, "invalid JSON") };
    record(&st, "/v1/chat/completions", &h, &v);
    let model = v["model"].as_str().unwrap_or("").to_string();
    if !MODELS.contains(&model.as_str()) {
        return error(404, &format!("The model `{model}` does not exist"));
    }
    let msgs = v["messages"].as_array().cloned().unwrap_or_default();
    let prompt_chars: String = msgs.iter().map(|m| text_of(&m["content"])).collect::<Vec<_>>().join("\n");
    let last = msgs.iter().rev().find(|m| m["role"] == "user" || m["role"] == "tool").map(|m| text_of(&m["content"]));
    let system: Vec<String> = msgs.iter().filter(|m| m["role"] == "system").map(|m| text_of(&m["content"])).collect();
    let last = last.unwrap_or_default();
    let sc = script(&format!("{}\n{last}", system.join("\n")), &last);
    if let Some(status) = sc.error {
        return error(status, "the stub was asked to fail");
    }
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let (pt, ct) = (
        tokens(&prompt_chars),
        tokens(sc.text.as_deref().unwrap_or("")) + sc.tools.iter().map(|t| tokens(&t.1)).sum::<u64>(),
    );
    let usage = json!({"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct});
    let finish = if sc.tools.is_empty() { "stop" } else { "tool_calls" };
    if v["stream"] != true {
        let calls: Vec<Value> = sc
            .tools
            .iter()
            .enumerate()
            .map(|(i, (n, a))| json!({"id": format!("call_{}_{i}", sc.nonce), "type": "function", "function": {"name": n, "arguments": a}}))
            .collect();
        let mut msg = json!({"role": "assistant", "content": sc.text});
        if !calls.is_empty() {
            msg["tool_calls"] = Value::Array(calls);
        }
        return axum::Json(json!({
            "id": id, "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "message": msg, "finish_reason": finish}], "usage": usage,
        }))
        .into_response();
    }
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut ev = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    if let Some(t) = &sc.text {
        for p in pieces(t, 4) {
            ev.push(chunk(json!({"content": p}), Value::Null));
        }
    }
    for (i, (n, a)) in sc.tools.iter().enumerate() {
        ev.push(chunk(
            json!({"tool_calls": [{"index": i, "id": format!("call_{}_{i}", sc.nonce), "type": "function", "function": {"name": n, "arguments": ""}}]}),
            Value::Null,
        ));
        for p in pieces(a, 7) {
            ev.push(chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}), Value::Null));
        }
    }
    ev.push(chunk(json!({}), json!(finish)));
    if v["stream_options"]["include_usage"] == true {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000, "model": model, "choices": [], "usage": usage});
        ev.push(format!("data: {c}\n\n"));
    }
    ev.push("data: [DONE]\n\n".into());
    sse(&st, ev, &sc)
}

async fn responses(State(st): State<Stub>, h: HeaderMap, body: Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else { return error(400, "invalid JSON") };
    record(&st, "/v1/responses", &h, &v);
    let model = v["model"].as_str().unwrap_or("").to_string();
    if !MODELS.contains(&model.as_str()) {
        return error(404, &format!("The model `{model}` does not exist"));
    }
    let (all, last) = match &v["input"] {
        Value::String(s) => (s.clone(), s.clone()),
        Value::Array(items) => {
            let texts: Vec<String> = items
                .iter()
                .map(|i| match i["type"].as_str() {
                    Some("function_call_output") => i["output"].as_str().unwrap_or("").to_string(),
                    _ => text_of(&i["content"]),
                })
                .collect();
            (texts.join("\n"), texts.last().cloned().unwrap_or_default())
        }
        _ => return error(400, "input: a string or an array of items"),
    };
    let instructions = v["instructions"].as_str().unwrap_or("");
    let sc = script(&format!("{instructions}\n{last}"), &last);
    if let Some(status) = sc.error {
        return error(status, "the stub was asked to fail");
    }
    let id = format!("resp_{}", uuid::Uuid::new_v4().simple());
    let (it, ot) =
        (tokens(&all), tokens(sc.text.as_deref().unwrap_or("")) + sc.tools.iter().map(|t| tokens(&t.1)).sum::<u64>());
    let usage = json!({"input_tokens": it, "output_tokens": ot, "total_tokens": it + ot});
    let mut output = Vec::new();
    if let Some(t) = &sc.text {
        output.push(json!({"type": "message", "id": "msg_0", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": t, "annotations": []}]}));
    }
    for (i, (n, a)) in sc.tools.iter().enumerate() {
        output.push(json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": format!("call_{}_{i}", sc.nonce), "name": n, "arguments": a, "status": "completed"}));
    }
    let full = |status: &str, output: Vec<Value>| {
        json!({"id": id, "object": "response", "created_at": 1_700_000_000, "status": status, "model": model,
            "output": output, "usage": usage})
    };
    if v["stream"] != true {
        return axum::Json(full("completed", output)).into_response();
    }
    let mut seq = 0u64;
    let mut ev = Vec::new();
    let mut push = |kind: &str, mut data: Value| {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        ev.push(format!("event: {kind}\ndata: {data}\n\n"));
    };
    let mut created = full("in_progress", vec![]);
    created["usage"] = Value::Null;
    push("response.created", json!({"response": created}));
    for (oi, item) in output.iter().enumerate() {
        let mut started = item.clone();
        if item["type"] == "message" {
            started["content"] = json!([]);
            started["status"] = json!("in_progress");
            push("response.output_item.added", json!({"output_index": oi, "item": started}));
            let t = item["content"][0]["text"].as_str().unwrap_or("");
            for p in pieces(t, 4) {
                push(
                    "response.output_text.delta",
                    json!({"output_index": oi, "item_id": item["id"], "content_index": 0, "delta": p}),
                );
            }
            push(
                "response.output_text.done",
                json!({"output_index": oi, "item_id": item["id"], "content_index": 0, "text": t}),
            );
        } else {
            started["arguments"] = json!("");
            started["status"] = json!("in_progress");
            push("response.output_item.added", json!({"output_index": oi, "item": started}));
            let a = item["arguments"].as_str().unwrap_or("");
            for p in pieces(a, 7) {
                push(
                    "response.function_call_arguments.delta",
                    json!({"output_index": oi, "item_id": item["id"], "delta": p}),
                );
            }
            push(
                "response.function_call_arguments.done",
                json!({"output_index": oi, "item_id": item["id"], "arguments": a}),
            );
        }
        push("response.output_item.done", json!({"output_index": oi, "item": item}));
    }
    push("response.completed", json!({"response": full("completed", output)}));
    sse(&st, ev, &sc)
}
