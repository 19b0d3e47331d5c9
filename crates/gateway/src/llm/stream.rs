//! Streamed model answers (SSE), chat completions and Responses. Text deltas
//! pass through the output guardrails incrementally (only the bytes a
//! pattern could still complete are held back); proposed tool calls are
//! assembled from their deltas, never forwarded piecemeal, and pass the
//! policy before the agent sees them. A block ends the stream with an error
//! event. A client that goes away drops the upstream request with it.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::response::Response;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use warden_detect::Detector;
use warden_detect::stream::StreamScan;

use crate::llm::call::{Api, Call as LlmCall, output_blocked, refusal_item, usage_of};
use crate::llm::propose::propose;
use crate::pipeline::guard::Direction;

/// Splits an SSE byte stream into events (`event:` name, joined `data:` lines).
#[derive(Default)]
struct SseParser {
    buf: Vec<u8>,
}

struct Event {
    name: String,
    data: String,
}

impl SseParser {
    fn push(&mut self, b: &[u8]) -> Vec<Event> {
        self.buf.extend_from_slice(b);
        let mut out = Vec::new();
        loop {
            let text = &self.buf;
            let end = text
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, 2))
                .or_else(|| text.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4)));
            let Some((i, n)) = end else { break };
            let raw: Vec<u8> = self.buf.drain(..i + n).collect();
            let raw = String::from_utf8_lossy(&raw[..i]).into_owned();
            let (mut name, mut data) = (String::new(), Vec::new());
            for line in raw.lines() {
                if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                }
            }
            if !data.is_empty() {
                out.push(Event { name, data: data.join("\n") });
            }
        }
        out
    }
}

struct Relay {
    call: LlmCall,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
    want_usage: bool,
    /// Per (choice or output index, content index): the scanner and the screened text so far.
    text: BTreeMap<(u64, u64), (StreamScan, String)>,
    /// Chat: per (choice, call index): id, name, arguments.
    calls: BTreeMap<(u64, u64), (String, String, String)>,
    /// Responses: output index → the item the agent got instead (refusals, screened calls).
    replaced: BTreeMap<u64, Value>,
    done: bool,
    seq: u64,
    /// Chat: once an answer passes a proposed call, what follows waits here
    /// until `[DONE]`, where the calls' records and the request's own are made
    /// durable in one group commit; only then is it sent (fail closed).
    held: Option<Vec<String>>,
}

enum Step {
    Go,
    /// The client went away.
    Gone,
    /// Stop with this error (a block, an invalid upstream event).
    Stop(String),
}

pub(crate) async fn relay(call: LlmCall, resp: reqwest::Response, sent: Instant, want_usage: bool) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(32);
    let idle = call.gw.models.request_timeout(&call.model);
    tokio::spawn(async move {
        let mut r = Relay {
            call,
            tx,
            want_usage,
            text: BTreeMap::new(),
            calls: BTreeMap::new(),
            replaced: BTreeMap::new(),
            done: false,
            seq: 1_000_000,
            held: None,
        };
        r.run(resp, sent, idle).await;
    });
    crate::http::event_stream(Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|x| (x, rx))
    })))
}

impl Relay {
    async fn send(&self, s: String) -> bool {
        self.tx.send(Ok(Bytes::from(s))).await.is_ok()
    }

    /// Sends `s`, or keeps it while proposed calls wait for their records.
    async fn emit(&mut self, s: String) -> bool {
        match &mut self.held {
            Some(h) => {
                h.push(s);
                !self.tx.is_closed()
            }
            None => self.send(s).await,
        }
    }

    async fn run(&mut self, resp: reqwest::Response, sent: Instant, idle: Duration) {
        let mut body = resp.bytes_stream();
        let mut parser = SseParser::default();
        let outcome = 'outer: loop {
            let next = tokio::select! {
                n = tokio::time::timeout(idle, body.next()) => n,
                _ = self.tx.closed() => break 'outer Step::Gone,
            };
            let bytes = match next {
                Err(_) => break Step::Stop("the model upstream stopped sending (timeout)".into()),
                Ok(None) => break Step::Go,
                Ok(Some(Err(e))) => break Step::Stop(format!("the model upstream's stream broke: {e}")),
                Ok(Some(Ok(b))) => b,
            };
            for ev in parser.push(&bytes) {
                let step =
                    if self.call.api == Api::Chat { self.chat_event(ev).await } else { self.responses_event(ev).await };
                match step {
                    Step::Go => {}
                    s => break 'outer s,
                }
            }
        };
        let us = sent.elapsed().as_micros() as u64;
        match outcome {
            Step::Gone => {
                (self.call.upstream_status, self.call.upstream_us) = ("cancelled".into(), us);
                let _ = self
                    .call
                    .finish("cancelled", "the agent disconnected mid-stream; the upstream request was cancelled")
                    .await;
            }
            Step::Stop(why) => {
                let blocked = self.call.report.blocked().is_some();
                (self.call.upstream_status, self.call.upstream_us) = (if blocked { "ok" } else { "error" }.into(), us);
                let _ = self.call.finish(if blocked { "deny" } else { "error" }, &why).await;
                self.error_event(&why).await;
            }
            Step::Go => {
                if !self.done {
                    (self.call.upstream_status, self.call.upstream_us) = ("truncated".into(), us);
                    let _ = self.call.finish("error", "the model upstream ended the stream early").await;
                    self.error_event("the model upstream ended the stream early").await;
                }
            }
        }
    }

    async fn error_event(&mut self, why: &str) {
        let code = if self.call.report.blocked().is_some() { "guardrail_blocked" } else { "upstream_error" };
        let ev = if self.call.api == Api::Chat {
            format!(
                "data: {}\n\n",
                json!({"error": {"message": why, "type": "invalid_request_error", "param": null, "code": code}})
            )
        } else {
            self.seq += 1;
            format!(
                "event: error\ndata: {}\n\n",
                json!({"type": "error", "code": code, "message": why, "param": null, "sequence_number": self.seq})
            )
        };
        let _ = self.send(ev).await;
    }

    /// Scans one text delta; returns the text to release now.
    fn scan_delta(&mut self, key: (u64, u64), delta: Option<&str>, place: &str) -> Result<String, String> {
        let gw = self.call.gw.clone();
        let which = gw.guard.which(Direction::Output);
        let scan =
            |t: &str| gw.guard.scan(t, which).unwrap_or_else(|why| vec![crate::pipeline::guard::failure(t, why)]);
        // Personal data (a name before an `@`) can begin with any word: with
        // PII screened on output, every unfinished word waits.
        let may_leave = |before: &str, word: &str| {
            !which.has(Detector::Pii) && gw.guard.detectors.secrets.plain_word_may_leave(before, word)
        };
        let entry = self.text.entry(key).or_insert_with(|| (StreamScan::new(), String::new()));
        let r = match delta {
            Some(d) => entry.0.push(d, &scan, &may_leave),
            None => entry.0.finish(&scan),
        };
        let out =
            gw.guard.apply(&r.text, &r.findings, Direction::Output, place, &mut self.call.report).unwrap_or(r.text);
        self.text.get_mut(&key).expect("inserted").1.push_str(&out);
        match output_blocked(&self.call) {
            Some(m) => Err(m),
            None => Ok(out),
        }
    }

    async fn chat_event(&mut self, ev: Event) -> Step {
        if ev.data.trim() == "[DONE]" {
            self.done = true;
            // The proposed calls' records and the request's own, in one group commit.
            if let Err(e) = self.call.finish("allow", "").await {
                self.held = None;
                return Step::Stop(format!("Refused: the audit trail cannot record this request ({e})"));
            }
            for chunk in self.held.take().unwrap_or_default() {
                if !self.send(chunk).await {
                    return Step::Gone;
                }
            }
            return if self.send("data: [DONE]\n\n".into()).await { Step::Go } else { Step::Gone };
        }
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            return Step::Stop("the model upstream sent an event that is not JSON".into());
        };
        if v.get("error").is_some() {
            return Step::Stop(format!("the model upstream failed mid-stream: {}", v["error"]));
        }
        if v.get("model").is_some() {
            v["model"] = Value::String(self.call.model.clone());
        }
        usage_of(&v, &mut self.call);
        let choices = v.get_mut("choices").and_then(Value::as_array_mut).map(std::mem::take).unwrap_or_default();
        if choices.is_empty() {
            if v.get("usage").is_some_and(Value::is_object) && !self.want_usage {
                return Step::Go;
            }
            return if self.send(format!("data: {v}\n\n")).await { Step::Go } else { Step::Gone };
        }
        let mut out_choices = Vec::new();
        let mut tail = Vec::new();
        for mut c in choices {
            let idx = c.get("index").and_then(Value::as_u64).unwrap_or(0);
            let delta = c.get_mut("delta").and_then(Value::as_object_mut);
            let (content, calls) = match delta {
                Some(d) => (d.remove("content"), d.remove("tool_calls")),
                None => (None, None),
            };
            if let Some(Value::Array(calls)) = calls {
                for tc in calls {
                    let k = tc.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let e = self.calls.entry((idx, k)).or_default();
                    if let Some(id) = tc.get("id").and_then(Value::as_str) {
                        e.0 = id.to_string();
                    }
                    if let Some(n) = tc.pointer("/function/name").and_then(Value::as_str) {
                        e.1.push_str(n);
                    }
                    if let Some(a) = tc.pointer("/function/arguments").and_then(Value::as_str) {
                        e.2.push_str(a);
                    }
                }
            }
            let place = format!("choices[{idx}].message.content");
            let mut text = String::new();
            if let Some(Value::String(s)) = &content {
                match self.scan_delta((idx, 0), Some(s), &place) {
                    Ok(t) => text = t,
                    Err(m) => return Step::Stop(m),
                }
            }
            let finish = c.get("finish_reason").filter(|f| !f.is_null()).cloned();
            let role_only = c.get("delta").and_then(|d| d.get("role")).is_some();
            if finish.is_some() {
                match self.scan_delta((idx, 0), None, &place) {
                    Ok(t) => text.push_str(&t),
                    Err(m) => return Step::Stop(m),
                }
            }
            if !text.is_empty() || content.as_ref().is_some_and(|c| c.as_str() == Some("")) && role_only {
                c["delta"]["content"] = Value::String(text);
            }
            if let Some(f) = finish {
                let _ = self.send(": warden is checking the proposed tool calls\n\n".into()).await;
                let (kept, refusals) = self.decide_chat_calls(idx).await;
                if let Some(m) = output_blocked(&self.call) {
                    return Step::Stop(m);
                }
                c["finish_reason"] = Value::Null;
                let mut last = json!({"index": idx, "delta": {}, "finish_reason": f});
                if !refusals.is_empty() {
                    let note = refusals.join("\n");
                    let has_text = self.text.get(&(idx, 0)).is_some_and(|t| !t.1.is_empty());
                    last["delta"]["content"] = Value::String(if has_text { format!("\n\n{note}") } else { note });
                }
                if kept.is_empty() {
                    if f == "tool_calls" {
                        last["finish_reason"] = json!("stop");
                    }
                } else {
                    last["delta"]["tool_calls"] = Value::Array(kept);
                    self.held.get_or_insert_with(Vec::new);
                }
                tail.push(last);
            }
            let keep = c.get("delta").is_some_and(|d| d.as_object().is_some_and(|o| !o.is_empty()));
            if keep {
                out_choices.push(c);
            }
        }
        for list in [out_choices, tail] {
            if list.is_empty() {
                continue;
            }
            let mut chunk = v.clone();
            chunk["choices"] = Value::Array(list);
            // Usage rides on chunks only when the agent asked for it.
            if let Some(o) = chunk.as_object_mut()
                && !self.want_usage
            {
                o.remove("usage");
            }
            if !self.emit(format!("data: {chunk}\n\n")).await {
                return Step::Gone;
            }
        }
        Step::Go
    }

    async fn decide_chat_calls(&mut self, idx: u64) -> (Vec<Value>, Vec<String>) {
        let keys: Vec<(u64, u64)> = self.calls.keys().filter(|k| k.0 == idx).copied().collect();
        let mut kept = Vec::new();
        let mut refusals = Vec::new();
        for k in keys {
            let (id, name, args) = self.calls.remove(&k).expect("listed");
            match propose(&mut self.call, &name, &args, &id).await {
                Ok(a) => kept.push(json!({"index": kept.len(), "id": id, "type": "function",
                    "function": {"name": name, "arguments": a}})),
                Err(why) => refusals.push(why),
            }
        }
        // The calls' records wait in `call.pending` for `[DONE]` (see `held`).
        (kept, refusals)
    }

    fn event(&mut self, kind: &str, mut data: Value) -> String {
        self.seq += 1;
        data["type"] = json!(kind);
        if data.get("sequence_number").is_none() {
            data["sequence_number"] = json!(self.seq);
        }
        format!("event: {kind}\ndata: {data}\n\n")
    }

    async fn responses_event(&mut self, ev: Event) -> Step {
        let Ok(mut v) = serde_json::from_str::<Value>(&ev.data) else {
            return Step::Stop("the model upstream sent an event that is not JSON".into());
        };
        let kind = v.get("type").and_then(Value::as_str).map(str::to_owned).unwrap_or(ev.name);
        let oi = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        let ci = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
        if let Some(r) = v.get_mut("response").filter(|r| r.get("model").is_some()) {
            r["model"] = Value::String(self.call.model.clone());
        }
        let mut out: Vec<String> = Vec::new();
        let is_call_item = |v: &Value| v.pointer("/item/type").and_then(Value::as_str) == Some("function_call");
        match kind.as_str() {
            "error" | "response.failed" => {
                return Step::Stop(format!("the model upstream failed mid-stream: {}", v.get("error").unwrap_or(&v)));
            }
            "response.output_text.delta" => {
                let d = v.get("delta").and_then(Value::as_str).unwrap_or("").to_string();
                match self.scan_delta((oi, ci), Some(&d), &format!("output[{oi}].content[{ci}]")) {
                    Ok(t) if t.is_empty() => {}
                    Ok(t) => {
                        v["delta"] = Value::String(t);
                        out.push(format!("event: {kind}\ndata: {v}\n\n"));
                    }
                    Err(m) => return Step::Stop(m),
                }
            }
            "response.output_text.done" => {
                match self.scan_delta((oi, ci), None, &format!("output[{oi}].content[{ci}]")) {
                    Ok(t) if !t.is_empty() => {
                        let mut d = v.clone();
                        d.as_object_mut().map(|o| o.remove("text"));
                        d["delta"] = Value::String(t);
                        d["type"] = json!("response.output_text.delta");
                        out.push(format!("event: response.output_text.delta\ndata: {d}\n\n"));
                    }
                    Ok(_) => {}
                    Err(m) => return Step::Stop(m),
                }
                v["text"] = Value::String(self.text.get(&(oi, ci)).map(|t| t.1.clone()).unwrap_or_default());
                out.push(format!("event: {kind}\ndata: {v}\n\n"));
            }
            "response.function_call_arguments.delta" | "response.function_call_arguments.done" => {}
            "response.output_item.added" if is_call_item(&v) => {}
            "response.output_item.done" if is_call_item(&v) => {
                let item = v["item"].clone();
                let name = item.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let args = item.get("arguments").and_then(Value::as_str).unwrap_or("").to_string();
                let call_id = item.get("call_id").and_then(Value::as_str).unwrap_or("").to_string();
                let _ = self.send(": warden is checking a proposed tool call\n\n".into()).await;
                let mut decided = propose(&mut self.call, &name, &args, &call_id).await;
                if decided.is_ok()
                    && let Err(e) = self.call.commit_pending().await
                {
                    decided = Err(format!(
                        "Warden withheld the call to `{name}`: {}",
                        crate::pipeline::govern::audit_unavailable(&e).message
                    ));
                }
                if let Some(m) = output_blocked(&self.call) {
                    return Step::Stop(m);
                }
                match decided {
                    Ok(a) => {
                        let mut item = item;
                        item["arguments"] = Value::String(a.clone());
                        let added = self.event("response.output_item.added", json!({"output_index": oi, "item": item}));
                        let done_args = self.event(
                            "response.function_call_arguments.done",
                            json!({"output_index": oi, "item_id": item["id"], "arguments": a}),
                        );
                        let done = self.event("response.output_item.done", json!({"output_index": oi, "item": item}));
                        out.extend([added, done_args, done]);
                        self.replaced.insert(oi, item);
                    }
                    Err(why) => {
                        let item = refusal_item(oi as usize, &why);
                        let mut started = item.clone();
                        started["content"] = json!([]);
                        let id = item["id"].clone();
                        let evs = [
                            self.event("response.output_item.added", json!({"output_index": oi, "item": started})),
                            self.event(
                                "response.output_text.delta",
                                json!({"output_index": oi, "item_id": id, "content_index": 0, "delta": why}),
                            ),
                            self.event(
                                "response.output_text.done",
                                json!({"output_index": oi, "item_id": id, "content_index": 0, "text": why}),
                            ),
                            self.event("response.output_item.done", json!({"output_index": oi, "item": item})),
                        ];
                        out.extend(evs);
                        self.replaced.insert(oi, item);
                    }
                }
            }
            "response.output_item.done" | "response.content_part.done" => {
                self.screened_item_text(&mut v, oi);
                out.push(format!("event: {kind}\ndata: {v}\n\n"));
            }
            "response.completed" | "response.incomplete" => {
                if let Some(r) = v.get("response") {
                    usage_of(r, &mut self.call);
                }
                if let Some(items) = v.pointer_mut("/response/output").and_then(Value::as_array_mut) {
                    for (i, it) in items.iter_mut().enumerate() {
                        if let Some(r) = self.replaced.get(&(i as u64)) {
                            *it = r.clone();
                        } else if let Some(parts) = it.get_mut("content").and_then(Value::as_array_mut) {
                            for (k, p) in parts.iter_mut().enumerate() {
                                if let Some(t) = self.text.get(&(i as u64, k as u64)) {
                                    p["text"] = Value::String(t.1.clone());
                                }
                            }
                        }
                    }
                }
                self.done = true;
                if let Err(e) = self.call.finish("allow", "").await {
                    return Step::Stop(format!("Refused: the audit trail cannot record this request ({e})"));
                }
                out.push(format!("event: {kind}\ndata: {v}\n\n"));
            }
            _ => out.push(format!("event: {kind}\ndata: {v}\n\n")),
        }
        for s in out {
            if !self.send(s).await {
                return Step::Gone;
            }
        }
        Step::Go
    }

    /// Replaces the text in a finished message item or part with the screened text.
    fn screened_item_text(&self, v: &mut Value, oi: u64) {
        if let Some(parts) = v.pointer_mut("/item/content").and_then(Value::as_array_mut) {
            for (k, p) in parts.iter_mut().enumerate() {
                if let Some(t) = self.text.get(&(oi, k as u64)) {
                    p["text"] = Value::String(t.1.clone());
                }
            }
        }
        let ci = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
        if let Some(p) = v.get_mut("part")
            && let Some(t) = self.text.get(&(oi, ci))
        {
            p["text"] = Value::String(t.1.clone());
        }
    }
}
