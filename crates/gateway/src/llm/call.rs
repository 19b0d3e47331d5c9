//! What the proxy and the stream relay share: the API shape of a request, one
//! model call in flight (its usage, report, trace and audit record), and how a
//! refusal or a block is told to the agent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use warden_core::identity::Identity;

use crate::Gateway;
use crate::pipeline::govern;
use crate::pipeline::guard::{Direction, Report};

/// An OpenAI-shaped error.
pub fn oai_error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
    crate::http::json_response(
        status,
        json!({"error": {"message": message.into(), "type": kind, "param": null, "code": code}}),
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Chat,
    Responses,
    Embeddings,
}

impl Api {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Api::Chat => "/chat/completions",
            Api::Responses => "/responses",
            Api::Embeddings => "/embeddings",
        }
    }
    pub(crate) fn method(self) -> &'static str {
        match self {
            Api::Chat => "chat.completions",
            Api::Responses => "responses",
            Api::Embeddings => "embeddings",
        }
    }
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
    pub(crate) trace: Arc<crate::telemetry::otlp::Trace>,
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) upstream_status: String,
    pub(crate) upstream_us: u64,
    /// The upstream call's span: its id (sent as `traceparent`) and start.
    pub(crate) upstream_span: Option<([u8; 8], u64)>,
    /// Records of proposed calls decided in this answer, not yet committed:
    /// committed together (one group commit), before the agent sees the calls.
    pub(crate) pending: Vec<warden_audit::Record>,
}

impl Call {
    pub(crate) fn record(&self, verdict: &str, reason: &str) -> warden_audit::Record {
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
    pub(crate) async fn finish(&mut self, verdict: &str, reason: &str) -> Result<(), String> {
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
                crate::telemetry::otlp::s("warden.upstream", up.as_str()),
                crate::telemetry::otlp::s("warden.upstream_status", self.upstream_status.as_str()),
                crate::telemetry::otlp::s("gen_ai.request.model", self.model.as_str()),
            ];
            self.trace.child(id, &format!("upstream {up}"), crate::telemetry::otlp::Kind::Client, start, attrs, error);
        }
        self.gw.meters.overhead.observe(
            &["llm"],
            self.started.elapsed().saturating_sub(Duration::from_micros(self.upstream_us)).as_secs_f64(),
        );
        // The answer's proposal records (a non-streamed answer's) go with its own record: one group commit.
        let pending = std::mem::take(&mut self.pending);
        let (own, proposals) = futures::join!(
            govern::commit(&self.gw, rec, Some(&self.trace)),
            futures::future::join_all(pending.into_iter().map(|r| govern::commit(&self.gw, r, None)))
        );
        proposals.into_iter().collect::<Result<Vec<()>, String>>()?;
        own
    }

    /// Makes the records of the calls proposed so far durable, together.
    /// Err: one could not be committed, and the calls must not reach the agent.
    pub(crate) async fn commit_pending(&mut self) -> Result<(), String> {
        let pending = std::mem::take(&mut self.pending);
        let done = futures::future::join_all(pending.into_iter().map(|r| govern::commit(&self.gw, r, None))).await;
        done.into_iter().collect::<Result<Vec<()>, String>>().map(|_| ())
    }
}

pub(crate) fn today() -> String {
    warden_audit::record::format_ms(warden_core::time::now_ms())[..10].to_string()
}

/// Tokens from an answer's `usage` (chat, responses or embeddings names).
pub(crate) fn usage_of(v: &Value, call: &mut Call) {
    let Some(u) = v.get("usage").filter(|u| u.is_object()) else { return };
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    call.input_tokens = n("prompt_tokens").or(n("input_tokens")).unwrap_or(call.input_tokens);
    call.output_tokens = n("completion_tokens").or(n("output_tokens")).unwrap_or(call.output_tokens);
}

pub(crate) fn blocked_answer(n: &crate::pipeline::guard::Noted) -> String {
    format!(
        "Blocked by Warden: the model's answer contained {} ({}): {}",
        n.finding.detector, n.finding.kind, n.finding.evidence
    )
}

/// A Responses output item that tells the agent a proposed call was refused.
pub(crate) fn refusal_item(i: usize, why: &str) -> Value {
    json!({"type": "message", "id": format!("msg_warden_{i}"), "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": why, "annotations": []}]})
}

/// `Some(message)` when streamed output must stop here (a block).
pub(crate) fn output_blocked(call: &Call) -> Option<String> {
    call.report.blocked().filter(|n| n.direction == Direction::Output).map(blocked_answer)
}
