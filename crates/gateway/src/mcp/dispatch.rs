//! What each MCP method does. Lists are answered from the merged catalog,
//! filtered by the caller's identity; calls are routed to one upstream, with
//! progress, log messages and server→client requests relayed back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::sync::{mpsc, oneshot};
use warden_audit::Record;
use warden_core::access::ItemKind;
use warden_core::identity::Identity;
use warden_core::jsonrpc::{self, IdKey};
use warden_mcp::CallEvent;

use crate::Gateway;
use crate::mcp::catalog::{Catalog, Section};
use crate::mcp::session::{Session, log_level_rank};
use crate::pipeline::govern::{self, Action, Entry, Gate};
use crate::pipeline::guard::Report;
use crate::telemetry::otlp::Trace;

/// How the edge should answer a request.
pub enum Reply {
    Json(Value),
    /// An SSE stream: `first`, then whatever arrives on the channel (the final response last).
    Stream(Value, mpsc::Receiver<Value>),
    /// A held call's SSE stream, resumable from any replica
    /// (`mcp/resume.rs`): events get ids under this prefix.
    Held(String, Option<Value>, mpsc::Receiver<Value>),
}

pub fn initialize(gw: &Gateway, identity: Identity, id: &Value, params: &Value) -> (Arc<Session>, Value) {
    let asked = params.get("protocolVersion").and_then(Value::as_str).unwrap_or("");
    let version = if warden_mcp::SUPPORTED_VERSIONS.contains(&asked) { asked } else { warden_mcp::LATEST_VERSION };
    let caps = params.get("capabilities").cloned().unwrap_or(json!({}));
    let session = gw.sessions.create(identity, version.to_string(), caps);
    let instructions: Vec<String> = gw
        .upstreams
        .iter()
        .filter_map(|u| {
            let c = u.connection()?;
            let text = c.init_result().get("instructions")?.as_str()?.to_string();
            Some(if gw.upstreams.len() == 1 { text } else { format!("[{}] {text}", u.name()) })
        })
        .collect();
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": true},
            "resources": {"subscribe": true, "listChanged": true},
            "prompts": {"listChanged": true},
            "logging": {},
            "completions": {},
        },
        "serverInfo": {"name": "warden", "title": "Warden MCP gateway", "version": env!("CARGO_PKG_VERSION")},
    });
    if !instructions.is_empty() {
        result["instructions"] = Value::String(instructions.join("\n\n"));
    }
    (session, jsonrpc::result(id, result))
}

fn params_of(msg: &Map<String, Value>) -> Value {
    msg.get("params").cloned().unwrap_or_else(|| json!({}))
}

/// The audit record of an MCP request, before its outcome is known.
pub fn base_record(
    s: &Session,
    agent: &warden_core::identity::Agent,
    method: &str,
    params: &Value,
    trace_id: &str,
) -> Record {
    let tool = ["name", "uri"]
        .iter()
        .find_map(|k| params.get(*k).and_then(Value::as_str))
        .or_else(|| params.pointer("/ref/name").or_else(|| params.pointer("/ref/uri")).and_then(Value::as_str))
        .unwrap_or_default();
    let args = match method {
        "tools/call" | "prompts/get" => params.get("arguments").cloned().unwrap_or_else(|| json!({})),
        _ => params.clone(),
    };
    Record {
        id: uuid::Uuid::now_v7().to_string(),
        at: warden_audit::record::format_ms(warden_core::time::now_ms()),
        kind: if method.ends_with("/list") { "list" } else { "call" }.into(),
        entry: "mcp".into(),
        agent: agent.name.clone(),
        owner: agent.owner.clone(),
        session: s.id.clone(),
        method: method.into(),
        tool: tool.into(),
        args_sha256: warden_auth::secrets::sha256_hex(&args.to_string()),
        args: warden_core::redact::redact(&args),
        verdict: "allow".into(),
        trace_id: trace_id.into(),
        ..Record::default()
    }
}

/// Commits the record of a request answered by Warden itself, then answers.
/// An answer whose record cannot be committed is withheld.
async fn answered(gw: &Gateway, mut rec: Record, started: Instant, resp: Value, trace: &Trace) -> Reply {
    if let Some(e) = resp.get("error") {
        if rec.verdict == "allow" {
            rec.verdict = "error".into();
        }
        rec.reason = e.get("message").and_then(Value::as_str).unwrap_or_default().into();
    }
    rec.latency_us = started.elapsed().as_micros() as u64;
    gw.meters.overhead.observe(&["mcp"], started.elapsed().as_secs_f64());
    match govern::commit(gw, rec, Some(trace)).await {
        Ok(()) => Reply::Json(resp),
        Err(e) => Reply::Json(audit_failed(resp.get("id").unwrap_or(&Value::Null), &e)),
    }
}

fn audit_failed(id: &Value, why: &str) -> Value {
    govern::audit_unavailable(why).to_jsonrpc(id)
}

pub async fn request(
    gw: &Arc<Gateway>,
    s: &Arc<Session>,
    id: Value,
    method: &str,
    msg: &Map<String, Value>,
    sse: bool,
    trace: &Arc<Trace>,
) -> Reply {
    let started = Instant::now();
    let params = params_of(msg);
    let cat = gw.catalog.load();
    let agent = s.agent();
    let access = &agent.access;
    if method == "ping" {
        return Reply::Json(jsonrpc::result(&id, json!({})));
    }
    if !gw.audit.healthy() {
        return Reply::Json(audit_failed(&id, "the last audit commit failed"));
    }
    let mut rec = base_record(s, &agent, method, &params, trace.trace_id());
    let answered = |rec: Record, started: Instant, resp: Value| self::answered(gw, rec, started, resp, trace);
    match method {
        "initialize" => {
            let resp = jsonrpc::error(&id, jsonrpc::INVALID_REQUEST, "Invalid Request: session is already initialized");
            answered(rec, started, resp).await
        }
        "tools/list" => {
            answered(rec, started, list(gw, &id, &params, &cat.tools, ItemKind::Tool, access, "tools")).await
        }
        "prompts/list" => {
            answered(rec, started, list(gw, &id, &params, &cat.prompts, ItemKind::Prompt, access, "prompts")).await
        }
        "resources/list" => {
            let resp = list(gw, &id, &params, &cat.resources, ItemKind::Resource, access, "resources");
            answered(rec, started, resp).await
        }
        "resources/templates/list" => {
            let resp = list(gw, &id, &params, &cat.templates, ItemKind::Resource, access, "resourceTemplates");
            answered(rec, started, resp).await
        }
        "tools/call" | "prompts/get" => {
            let (section, kind, what) = if method == "tools/call" {
                (&cat.tools, ItemKind::Tool, "tool")
            } else {
                (&cat.prompts, ItemKind::Prompt, "prompt")
            };
            let Some(name) = params.get("name").and_then(Value::as_str) else {
                let resp = jsonrpc::error(&id, jsonrpc::INVALID_PARAMS, format!("Invalid params: missing {what} name"));
                return answered(rec, started, resp).await;
            };
            // A hidden item and a missing one produce the same answer, byte for byte.
            let Some(entry) = section.get(name).filter(|e| access.permits(kind, &e.exposed)) else {
                // Quarantined, and this agent may see it: say so (to others it does not exist).
                let q = gw.quarantine.load();
                if let Some(held) = q
                    .exposed
                    .get(&(what, warden_core::names::nfc_cow(name).into_owned()))
                    .filter(|_| access.permits(kind, name))
                {
                    rec.verdict = "deny".into();
                    rec.rule = "pinning".into();
                    rec.reason = held.reason.clone();
                    let resp = crate::mcp::pinning::refusal(&id, name, held);
                    return answered(rec, started, resp).await;
                }
                let label = if what == "tool" { "Unknown tool" } else { "Unknown prompt" };
                rec.verdict = "deny".into();
                rec.rule = "access".into();
                let resp = jsonrpc::error(&id, jsonrpc::INVALID_PARAMS, format!("{label}: {name}"));
                return answered(rec, started, resp).await;
            };
            let exposed = entry.exposed.clone();
            let annotations = entry.item.get("annotations").cloned().unwrap_or(Value::Null);
            let (upstream, original) = (entry.upstream, entry.original.clone());
            let mut params = params;
            params["name"] = Value::String(original);
            if method == "tools/call" {
                let call = Call { upstream, params, id, sse, started, trace: trace.clone() };
                return governed_call(gw, s, exposed, annotations, call, rec).await;
            }
            forward(gw, s, Call { upstream, params, id, sse, started, trace: trace.clone() }, method, rec).await
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let Some(uri) = params.get("uri").and_then(Value::as_str).map(str::to_owned) else {
                let resp = jsonrpc::error(&id, jsonrpc::INVALID_PARAMS, "Invalid params: missing uri");
                return answered(rec, started, resp).await;
            };
            let Some(upstream) = resource_upstream(&cat, access, &uri) else {
                rec.verdict = "deny".into();
                rec.rule = "access".into();
                let resp = jsonrpc::error(&id, jsonrpc::RESOURCE_NOT_FOUND, format!("Resource not found: {uri}"));
                return answered(rec, started, resp).await;
            };
            match method {
                "resources/subscribe" => {
                    let new = s.subscriptions.lock().unwrap().insert(uri.clone());
                    if !(new && gw.subscribe_count(&uri, 1)) {
                        return answered(rec, started, jsonrpc::result(&id, json!({}))).await;
                    }
                }
                "resources/unsubscribe" => {
                    let had = s.subscriptions.lock().unwrap().remove(&uri);
                    if !(had && gw.subscribe_count(&uri, -1)) {
                        return answered(rec, started, jsonrpc::result(&id, json!({}))).await;
                    }
                }
                _ => {}
            }
            forward(gw, s, Call { upstream, params, id, sse, started, trace: trace.clone() }, method, rec).await
        }
        "completion/complete" => {
            let kind = params.pointer("/ref/type").and_then(Value::as_str).unwrap_or("");
            let mut params = params.clone();
            let upstream = match kind {
                "ref/prompt" => {
                    let name = params.pointer("/ref/name").and_then(Value::as_str).unwrap_or("");
                    match cat.prompts.get(name).filter(|e| access.permits(ItemKind::Prompt, &e.exposed)) {
                        Some(e) => {
                            params["ref"]["name"] = Value::String(e.original.clone());
                            Some(e.upstream)
                        }
                        None => None,
                    }
                }
                "ref/resource" => {
                    let uri = params.pointer("/ref/uri").and_then(Value::as_str).unwrap_or("");
                    cat.templates
                        .get(uri)
                        .filter(|e| access.permits(ItemKind::Resource, &e.exposed))
                        .map(|e| e.upstream)
                        .or_else(|| resource_upstream(&cat, access, uri))
                }
                _ => None,
            };
            match upstream {
                Some(upstream) => {
                    forward(gw, s, Call { upstream, params, id, sse, started, trace: trace.clone() }, method, rec).await
                }
                None => {
                    let resp =
                        jsonrpc::error(&id, jsonrpc::INVALID_PARAMS, "Invalid params: unknown completion reference");
                    answered(rec, started, resp).await
                }
            }
        }
        "logging/setLevel" => {
            let Some(rank) = params.get("level").and_then(Value::as_str).and_then(log_level_rank) else {
                let resp = jsonrpc::error(&id, jsonrpc::INVALID_PARAMS, "Invalid params: unknown log level");
                return answered(rec, started, resp).await;
            };
            *s.log_level.lock().unwrap() = Some(rank);
            push_log_level(gw);
            answered(rec, started, jsonrpc::result(&id, json!({}))).await
        }
        _ => {
            let resp = jsonrpc::error(&id, jsonrpc::METHOD_NOT_FOUND, format!("Method not found: {method}"));
            answered(rec, started, resp).await
        }
    }
}

fn resource_upstream(cat: &Catalog, access: &warden_core::access::AccessRules, uri: &str) -> Option<usize> {
    if !access.permits(ItemKind::Resource, uri) {
        return None;
    }
    cat.resource_route(uri).map(|e| e.upstream)
}

fn list(
    gw: &Gateway,
    id: &Value,
    params: &Value,
    section: &Section,
    kind: ItemKind,
    access: &warden_core::access::AccessRules,
    key: &str,
) -> Value {
    let offset = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => match c.strip_prefix("o").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                return jsonrpc::error(id, jsonrpc::INVALID_PARAMS, "Invalid params: invalid cursor");
            }
        },
        Some(_) => {
            return jsonrpc::error(id, jsonrpc::INVALID_PARAMS, "Invalid params: invalid cursor");
        }
    };
    let page = gw.limits.page_size;
    let mut items = Vec::new();
    let mut more = false;
    for e in section.entries.iter().filter(|e| access.permits(kind, &e.exposed)).skip(offset) {
        if items.len() == page {
            more = true;
            break;
        }
        items.push(e.item.clone());
    }
    let mut result = json!({ key: items });
    if more {
        result["nextCursor"] = Value::String(format!("o{}", offset + page));
    }
    jsonrpc::result(id, result)
}

/// Removes a call from the session's in-flight table however the call ends.
struct Inflight {
    session: Arc<Session>,
    key: Option<IdKey>,
}

impl Drop for Inflight {
    fn drop(&mut self) {
        if let Some(k) = &self.key {
            self.session.inflight.lock().unwrap().remove(k);
        }
    }
}

fn finish(
    outcome: Result<Value, warden_mcp::UpstreamError>,
    id: Value,
    s: &Session,
    upstream: &str,
    method: &str,
) -> Value {
    match outcome {
        Ok(mut resp) => {
            resp["id"] = id;
            resp
        }
        Err(e) => {
            tracing::warn!(agent = %s.agent_name, %upstream, %method, error = %e, "upstream call failed");
            jsonrpc::error(&id, e.code(), e.to_string())
        }
    }
}

/// The guardrails over an upstream's answer (`Guard::screen_mcp_result`):
/// findings go into the record; a block replaces the answer — a tool's
/// result with an error result naming the finding, anything else with a
/// JSON-RPC error — and the record's verdict becomes `deny`.
fn screen_result(gw: &Gateway, rec: &mut Record, resp: &mut Value) {
    let Some(result) = resp.get_mut("result") else { return };
    let mut report = Report::default();
    gw.guard.screen_mcp_result(&rec.method, result, &mut report);
    if report.noted.is_empty() {
        return;
    }
    rec.comment = join_comment(&rec.comment, &report.comment());
    let Some(n) = report.blocked() else { return };
    let msg = format!(
        "Blocked by Warden: the upstream's answer contained {} ({}) in {}: {}",
        n.finding.detector, n.finding.kind, n.place, n.finding.evidence
    );
    tracing::warn!(agent = %rec.agent, method = %rec.method, tool = %rec.tool, detector = n.finding.detector, "an upstream answer was blocked by a guardrail");
    rec.verdict = "deny".into();
    rec.rule = format!("guardrail:{}", n.finding.detector);
    rec.reason = msg.clone();
    let id = resp.get("id").cloned().unwrap_or(Value::Null);
    *resp = if rec.method == "tools/call" {
        json!({"jsonrpc": "2.0", "id": id, "result": {"content": [{"type": "text", "text": msg}], "isError": true}})
    } else {
        jsonrpc::error_with_data(&id, jsonrpc::POLICY_DENIED, &msg, json!({"verdict": "deny", "rule": rec.rule}))
    };
}

fn join_comment(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}; {b}"),
    }
}

/// One request on its way to an upstream.
struct Call {
    upstream: usize,
    params: Value,
    id: Value,
    sse: bool,
    /// When Warden started on it (after any human approval).
    started: Instant,
    trace: Arc<Trace>,
}

/// The upstream call's span: its id goes out in `traceparent`.
struct UpstreamSpan {
    id: [u8; 8],
    start_ns: u64,
}

/// Stage 9 for a forwarded call: the record gets the upstream's status and the
/// timings, and is committed before the answer leaves. An answer whose record
/// cannot be committed is withheld.
async fn recorded(
    gw: &Gateway,
    mut rec: Record,
    started: Instant,
    up: (&str, Duration, &UpstreamSpan),
    resp: Value,
    trace: &Trace,
) -> Value {
    let (upstream, up_time, span) = up;
    // Stage 8, the known-secret floor: no value Warden holds reaches the agent.
    let mut resp = resp;
    if gw.custody.screen(&mut resp, "result") > 0 {
        tracing::warn!(agent = %rec.agent, %upstream, method = %rec.method, "a secret Warden holds was redacted from the upstream's answer");
    }
    rec.upstream = upstream.into();
    rec.upstream_status = match resp.get("error") {
        Some(e) if e.get("code").and_then(Value::as_i64) == Some(jsonrpc::REQUEST_CANCELLED) => "cancelled".into(),
        Some(e) => format!("error {}", e.get("code").and_then(Value::as_i64).unwrap_or(0)),
        None if resp.pointer("/result/isError") == Some(&Value::Bool(true)) => "tool_error".into(),
        None => "ok".into(),
    };
    // Stage 8, the detectors: what the upstream says is headed into a model.
    screen_result(gw, &mut rec, &mut resp);
    let total = started.elapsed();
    rec.latency_us = total.as_micros() as u64;
    rec.upstream_us = up_time.as_micros() as u64;
    gw.meters.upstream.observe(&[upstream], up_time.as_secs_f64());
    gw.meters.overhead.observe(&["mcp"], total.saturating_sub(up_time).as_secs_f64());
    if trace.recording() {
        use crate::telemetry::otlp::s;
        let ok = rec.upstream_status == "ok";
        let attrs = vec![
            s("mcp.method.name", rec.method.as_str()),
            s("warden.upstream", upstream),
            s("warden.upstream_status", rec.upstream_status.as_str()),
        ];
        let err = (!ok).then(|| rec.upstream_status.clone());
        trace.child(
            span.id,
            &format!("upstream {upstream}"),
            crate::telemetry::otlp::Kind::Client,
            span.start_ns,
            attrs,
            err,
        );
    }
    match govern::commit(gw, rec, Some(trace)).await {
        Ok(()) => resp,
        Err(e) => audit_failed(resp.get("id").unwrap_or(&Value::Null), &e),
    }
}

/// Sends a request to one upstream. The call runs inside the HTTP handler
/// until its response arrives (the common case: a plain answer); if the
/// upstream sends anything first (progress, logs, sampling or elicitation
/// requests), the rest of the call moves to a task that feeds an SSE stream.
/// A client that disconnects or sends `notifications/cancelled` drops the call,
/// which cancels it upstream.
async fn forward(gw: &Arc<Gateway>, s: &Arc<Session>, c: Call, method: &str, rec: Record) -> Reply {
    let Call { upstream, mut params, id, sse, started, trace } = c;
    let span = UpstreamSpan { id: crate::telemetry::otlp::new_span_id(), start_ns: crate::telemetry::otlp::now_ns() };
    if trace.recording() || trace.ctx.parent_span.is_some() {
        // W3C trace context to the upstream: `_meta.traceparent` (HTTP upstreams also get the header).
        if !params.is_object() {
            params = json!({});
        }
        if !params.get("_meta").is_some_and(Value::is_object) {
            params["_meta"] = json!({});
        }
        params["_meta"]["traceparent"] = json!(trace.ctx.header_for(&hex::encode(span.id)));
    }
    let up = gw.upstreams[upstream].clone();
    let (ev_tx, mut ev_rx) = mpsc::channel::<CallEvent>(64);
    let (cancel_tx, mut cancel_rx) = oneshot::channel::<()>();
    let key = IdKey::of(&id);
    if let Some(k) = &key {
        s.inflight.lock().unwrap().insert(k.clone(), cancel_tx);
    }
    let guard = Inflight { session: s.clone(), key };
    let method = method.to_string();
    let up_started = Instant::now();
    gw.custody.note_use(up.name(), &s.agent_name);
    let mut call = {
        let (up, method, agent) = (up.clone(), method.clone(), s.agent_name.clone());
        Box::pin(async move { up.request_as(&agent, &method, Some(params), Some(ev_tx)).await })
    };
    let first = loop {
        tokio::select! {
            r = &mut call => {
                let resp = finish(r, id, s, up.name(), &method);
                return Reply::Json(recorded(gw, rec, started, (up.name(), up_started.elapsed(), &span), resp, &trace).await);
            }
            Some(ev) = ev_rx.recv() => {
                if let Some(m) = relay_event(gw, s, ev, sse) {
                    break m;
                }
            }
            _ = &mut cancel_rx => {
                let resp = jsonrpc::error(&id, jsonrpc::REQUEST_CANCELLED, "Request cancelled by the client");
                return Reply::Json(recorded(gw, rec, started, (up.name(), up_started.elapsed(), &span), resp, &trace).await);
            }
        }
    };
    let (tx, rx) = mpsc::channel::<Value>(64);
    let session = s.clone();
    let gw = gw.clone();
    tokio::spawn(async move {
        let _guard = guard;
        let outcome = loop {
            tokio::select! {
                r = &mut call => break Some(r),
                Some(ev) = ev_rx.recv() => {
                    if let Some(m) = relay_event(&gw, &session, ev, sse)
                        && tx.send(m).await.is_err()
                    {
                        break None;
                    }
                }
                _ = &mut cancel_rx => break None,
                _ = tx.closed() => break None,
            }
        };
        let Some(outcome) = outcome else {
            tracing::info!(agent = %session.agent_name, upstream = %up.name(), %method, "call cancelled");
            drop(call); // cancels it upstream
            let resp = jsonrpc::error(&id, jsonrpc::REQUEST_CANCELLED, "Request cancelled by the client");
            recorded(&gw, rec, started, (up.name(), up_started.elapsed(), &span), resp, &trace).await;
            return;
        };
        // Events that raced the response still go out before it.
        while let Ok(ev) = ev_rx.try_recv() {
            if let Some(m) = relay_event(&gw, &session, ev, sse) {
                let _ = tx.send(m).await;
            }
        }
        let resp = finish(outcome, id, &session, up.name(), &method);
        let resp = recorded(&gw, rec, started, (up.name(), up_started.elapsed(), &span), resp, &trace).await;
        let _ = tx.send(resp).await;
    });
    Reply::Stream(first, rx)
}

/// `tools/call` through the decision pipeline: refused, let through, or held
/// for a human. While held, a client that gave a progress token gets
/// `notifications/progress` every `approvals.progress_interval`, so it does not
/// time out; a client that disconnects or cancels abandons the approval (and
/// one that resumes the stream elsewhere is told so, `mcp/resume.rs`).
async fn governed_call(
    gw: &Arc<Gateway>,
    s: &Arc<Session>,
    tool: String,
    annotations: Value,
    call: Call,
    rec: Record,
) -> Reply {
    // Stage 3 on the arguments, screened as model output (the model wrote
    // them), as for a tool call proposed at `/v1`.
    let (mut call, mut rec) = (call, rec);
    let mut report = Report::default();
    if let Some(args) = call.params.get_mut("arguments") {
        gw.guard.screen_arguments(args, &format!("tools/call {tool} arguments"), &mut report);
    }
    rec.comment = join_comment(&rec.comment, &report.comment());
    if let Some(n) = report.blocked() {
        let msg = format!(
            "Refused by Warden: the arguments of {tool} contain {} ({}): {}",
            n.finding.detector, n.finding.kind, n.finding.evidence
        );
        rec.verdict = "deny".into();
        rec.rule = format!("guardrail:{}", n.finding.detector);
        let resp = jsonrpc::error_with_data(
            &call.id,
            jsonrpc::POLICY_DENIED,
            &msg,
            json!({"verdict": "deny", "rule": rec.rule}),
        );
        return answered(gw, rec, call.started, resp, &call.trace).await;
    }
    let agent = s.agent();
    // The model proposed this call at `/v1` and left its decision here: link the records.
    let call_id = gw.ledger.take_mcp_call_id(&agent.name, &tool, &rec.args_sha256).unwrap_or_default();
    rec.call_id = call_id.clone();
    let action = Action {
        entry: Entry::Mcp,
        agent,
        session_id: Some(s.id.clone()),
        tool,
        annotations,
        args: call.params.get("arguments").cloned().unwrap_or_else(|| json!({})),
        flags: *s.flags.lock().unwrap(),
        trace: call.trace.clone(),
        call_id,
        requester: String::new(),
    };
    let mut held = match govern::check(gw, &action).await {
        Gate::Refuse(r) => return Reply::Json(r.to_jsonrpc(&call.id)),
        Gate::Proceed(d) => {
            s.note_labels(&d.labels);
            // The request's record already holds the redacted arguments and their digest.
            let rec = govern::decided(rec, &d, d.action.as_str());
            return forward(gw, s, call, "tools/call", rec).await;
        }
        Gate::Hold(h) => h,
    };
    let Call { upstream, params, id, sse, trace, .. } = call;
    let wait_started = crate::telemetry::otlp::now_ns();
    let token = params.pointer("/_meta/progressToken").cloned();
    let every = gw.policy.load().approvals.progress_interval.0;
    let (cancel_tx, cancel_rx) = oneshot::channel::<()>();
    let key = IdKey::of(&id);
    if let Some(k) = &key {
        s.inflight.lock().unwrap().insert(k.clone(), cancel_tx);
    }
    let guard = Inflight { session: s.clone(), key };
    let progress = |n: u64, token: &Value, approval: &str| {
        json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {
            "progressToken": token, "progress": n,
            "message": format!("waiting for human approval {approval}")}})
    };
    // What a finished wait turns into: the refusal, or the call itself.
    let release = {
        let (gw, s, action) = (gw.clone(), s.clone(), action.clone());
        move |waited: govern::Waited, held: Box<govern::Held>, id: Value, params: Value| async move {
            match waited {
                govern::Waited::Approved => {}
                govern::Waited::Refused(r) => return Reply::Json(r.to_jsonrpc(&id)),
                govern::Waited::StillPending => unreachable!("no wait limit"),
            }
            if let Err(r) = held.recheck(&action).await {
                held.finish("refused: the policy changed while the call was held").await;
                return Reply::Json(r.to_jsonrpc(&id));
            }
            s.note_labels(&held.decision.labels);
            if trace.recording() {
                let attrs = vec![
                    crate::telemetry::otlp::s("warden.approval.id", held.approval.id.as_str()),
                    crate::telemetry::otlp::s("warden.approver", held.approver.as_str()),
                ];
                trace.child(
                    crate::telemetry::otlp::new_span_id(),
                    "approval wait",
                    crate::telemetry::otlp::Kind::Internal,
                    wait_started,
                    attrs,
                    None,
                );
            }
            let call = Call { upstream, params, id, sse, started: Instant::now(), trace: trace.clone() };
            let reply = forward(&gw, &s, call, "tools/call", held.record("allow")).await;
            held.finish("executed").await;
            reply
        }
    };
    // An SSE client gets the held call on a stream it can resume elsewhere
    // should this replica die (`mcp/resume.rs`), with progress notices if it
    // gave a token. A JSON-only client waits on its one response.
    let prefix = crate::mcp::resume::prefix(&held.approval.id, &id);
    match prefix {
        Some(prefix) if sse && (token.is_some() || !gw.limits.json_responses) => {
            let (tx, rx) = mpsc::channel::<Value>(64);
            let first = token.as_ref().map(|t| progress(0, t, &held.approval.id));
            tokio::spawn(async move {
                let mut cancel_rx = cancel_rx;
                let approval = held.approval.id.clone();
                let mut n = 0;
                let ptx = tx.clone();
                let waited = tokio::select! {
                    w = held.wait(None, every, |_| {
                        n += 1;
                        if let Some(token) = &token {
                            let _ = ptx.try_send(progress(n, token, &approval));
                        }
                    }) => w,
                    _ = &mut cancel_rx => return,
                    _ = tx.closed() => return,
                };
                drop(guard);
                let (first, mut more) = match release(waited, held, id, params).await {
                    Reply::Json(v) => {
                        let _ = tx.send(v).await;
                        return;
                    }
                    Reply::Stream(first, more) => (Some(first), more),
                    Reply::Held(_, first, more) => (first, more),
                };
                if let Some(first) = first
                    && tx.send(first).await.is_err()
                {
                    return;
                }
                while let Some(m) = more.recv().await {
                    if tx.send(m).await.is_err() {
                        break;
                    }
                }
            });
            Reply::Held(prefix, first, rx)
        }
        _ => {
            let mut cancel_rx = cancel_rx;
            let waited = tokio::select! {
                w = held.wait(None, every, |_| {}) => w,
                _ = &mut cancel_rx => {
                    return Reply::Json(jsonrpc::error(&id, jsonrpc::REQUEST_CANCELLED, "Request cancelled by the client"));
                }
            };
            drop(guard);
            release(waited, held, id, params).await
        }
    }
}

/// Turns an upstream event into the message the client gets, or drops it.
/// What the upstream sent during a call, as the client receives it: known
/// secrets redacted (progress messages, logs, sampling prompts alike).
fn relay_event(gw: &Gateway, s: &Session, ev: CallEvent, sse: bool) -> Option<Value> {
    let mut m = relay_unscreened(s, ev, sse)?;
    gw.custody.screen(&mut m, "notification");
    Some(m)
}

fn relay_unscreened(s: &Session, ev: CallEvent, sse: bool) -> Option<Value> {
    if !sse {
        return None; // a JSON-only client cannot receive anything but the response
    }
    match ev {
        CallEvent::Notification(m) => {
            if m.get("method").and_then(Value::as_str) == Some("notifications/message") && !log_visible(s, &m) {
                return None;
            }
            Some(m)
        }
        CallEvent::Request(req) => {
            let needed = match req.method() {
                "sampling/createMessage" => "sampling",
                m if m.starts_with("elicitation/") => "elicitation",
                "roots/list" => "roots",
                "ping" => "",
                _ => return None, // dropped ServerRequest answers the upstream with an error
            };
            if !needed.is_empty() && s.client_capabilities.get(needed).is_none() {
                return None;
            }
            let rid = s.relay_id();
            let mut m = req.message.clone();
            m["id"] = Value::String(rid.clone());
            s.relayed.lock().unwrap().insert(rid, req);
            Some(m)
        }
    }
}

fn log_visible(s: &Session, m: &Value) -> bool {
    let level = m.pointer("/params/level").and_then(Value::as_str).and_then(log_level_rank).unwrap_or(0);
    s.log_level.lock().unwrap().is_none_or(|min| level >= min)
}

/// Log messages outside any call go only to sessions that asked for logs with
/// `logging/setLevel` and can see something of that upstream.
pub fn relay_log(gw: &Gateway, upstream: usize, msg: &Value) {
    let mut msg = msg.clone();
    gw.custody.screen(&mut msg, "notification");
    let msg = &msg;
    let cat = gw.catalog.load();
    for s in gw.sessions.all() {
        if s.log_level.lock().unwrap().is_none() || !log_visible(&s, msg) {
            continue;
        }
        let agent = s.agent();
        let a = &agent.access;
        let sees = cat.tools.entries.iter().any(|e| e.upstream == upstream && a.permits(ItemKind::Tool, &e.exposed))
            || cat.prompts.entries.iter().any(|e| e.upstream == upstream && a.permits(ItemKind::Prompt, &e.exposed))
            || cat
                .resources
                .entries
                .iter()
                .any(|e| e.upstream == upstream && a.permits(ItemKind::Resource, &e.exposed));
        if sees {
            s.push(msg.clone());
        }
    }
}

/// The shared upstream sessions log at the most verbose level any client asked for.
fn push_log_level(gw: &Arc<Gateway>) {
    let Some(min) = gw.sessions.all().iter().filter_map(|s| *s.log_level.lock().unwrap()).min() else {
        return;
    };
    let level = crate::mcp::session::LOG_LEVELS[min as usize];
    for u in &gw.upstreams {
        let Some(c) = u.connection() else { continue };
        if c.capabilities().get("logging").is_none() {
            continue;
        }
        let u = u.clone();
        tokio::spawn(async move {
            if let Err(e) = u.request("logging/setLevel", Some(json!({"level": level})), None).await {
                tracing::debug!(upstream = %u.name(), error = %e, "logging/setLevel not applied");
            }
        });
    }
}

pub fn notification(s: &Session, method: &str, msg: &Map<String, Value>) {
    if method == "notifications/cancelled" {
        let key = msg.get("params").and_then(|p| p.get("requestId")).and_then(IdKey::of);
        if let Some(k) = key
            && let Some(tx) = s.inflight.lock().unwrap().remove(&k)
        {
            let _ = tx.send(());
        }
    }
}

/// A client's answer to a relayed server→client request.
pub async fn client_response(s: &Session, id: &Value, msg: &Map<String, Value>) {
    let Some(rid) = id.as_str() else { return };
    let Some(req) = s.relayed.lock().unwrap().remove(rid) else {
        return;
    };
    let outcome = match msg.get("result") {
        Some(r) => Ok(r.clone()),
        None => Err(msg.get("error").cloned().unwrap_or(Value::Null)),
    };
    req.respond(outcome).await;
}

/// Releases what a session held upstream (subscriptions) and cancels its calls.
pub async fn end_session(gw: &Arc<Gateway>, s: &Session) {
    for (_, tx) in s.inflight.lock().unwrap().drain() {
        let _ = tx.send(());
    }
    s.relayed.lock().unwrap().clear();
    s.stream.lock().unwrap().take();
    let uris: Vec<String> = s.subscriptions.lock().unwrap().drain().collect();
    let cat = gw.catalog.load();
    for uri in uris {
        if gw.subscribe_count(&uri, -1)
            && let Some(e) = cat.resource_route(&uri)
        {
            let _ = gw.upstreams[e.upstream].request("resources/unsubscribe", Some(json!({"uri": uri})), None).await;
        }
    }
}
