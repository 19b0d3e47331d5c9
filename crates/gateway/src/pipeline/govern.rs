//! The decision pipeline, written once for every entry point. An MCP
//! `tools/call` and a `POST /api/v1/decide` from an agent's pre-tool hook both
//! become an [`Action`] and pass the same stages: identity and inventory status
//! (already settled by authentication), policy (risk tier and verdict), rate
//! limits, scoped grants, and the approval hold. Anything that cannot be
//! decided — the store is down, a condition errors — refuses the action.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;
use warden_audit::Record;
use warden_config::{RuleAction, ToolLabel};
use warden_core::identity::Agent;
use warden_core::jsonrpc;
use warden_core::time::Timestamp;
use warden_policy::{Decision, Request, SessionFlags};
use warden_store::{Approval, ApprovalStatus};

use crate::Gateway;
use crate::pipeline::limits;
use crate::telemetry::otlp::Trace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    Mcp,
    Decide,
    /// A tool call a model proposed in its answer (the inference boundary).
    Llm,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::Mcp => "mcp",
            Entry::Decide => "decide",
            Entry::Llm => "llm",
        }
    }
}

/// One proposed action, whatever door it came through.
#[derive(Debug, Clone)]
pub struct Action {
    pub entry: Entry,
    pub agent: Arc<Agent>,
    pub session_id: Option<String>,
    /// Exposed tool name (prefixed for MCP; the agent's own name for built-ins).
    pub tool: String,
    pub annotations: Value,
    pub args: Value,
    pub flags: SessionFlags,
    /// The request's trace (W3C context, spans).
    pub trace: Arc<Trace>,
    /// The agent's own id for this tool call, when its door knows it (see
    /// [`crate::pipeline::ledger`]); empty otherwise.
    pub call_id: String,
    /// Who asked the agent (channel and sender), when its door says; for the record.
    pub requester: String,
}

impl Action {
    pub fn trace_id(&self) -> &str {
        self.trace.trace_id()
    }

    pub fn request(&self) -> Request<'_> {
        Request {
            agent: &self.agent,
            tool: &self.tool,
            annotations: &self.annotations,
            args: &self.args,
            session: self.flags,
        }
    }

    /// SHA-256 of the arguments as canonical JSON (keys sorted).
    pub fn args_digest(&self) -> String {
        warden_auth::secrets::sha256_hex(&self.args.to_string())
    }
}

/// The action may not run. `code` and `message` go to the agent as a JSON-RPC error.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: i64,
    /// `deny`, `rate_limited`, `approval_denied`, `approval_expired`, `approval_unavailable`, `cancelled`.
    pub verdict: &'static str,
    pub message: String,
    pub data: Value,
}

impl Refusal {
    pub fn to_jsonrpc(&self, id: &Value) -> Value {
        jsonrpc::error_with_data(id, self.code, &self.message, self.data.clone())
    }
}

pub enum Gate {
    Proceed(Decision),
    Refuse(Refusal),
    Hold(Box<Held>),
}

/// A call waiting for a human. Dropping it before the decision cancels the
/// approval (the agent went away).
pub struct Held {
    pub approval: Approval,
    pub decision: Decision,
    rx: watch::Receiver<Option<ApprovalStatus>>,
    gw: Arc<Gateway>,
    settled: bool,
    action: Action,
    /// Who decided, once known.
    pub approver: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.gw.approvals.unregister(&self.approval.id);
        if !self.settled {
            let (gw, id) = (self.gw.clone(), self.approval.id.clone());
            let mut rec = self.record("cancelled");
            rec.reason = "the agent went away while the call was held".into();
            tokio::spawn(async move {
                let _ = commit(&gw, rec, None).await;
                match gw
                    .store
                    .decide_approval(&id, ApprovalStatus::Cancelled, None, None, Timestamp::now(), false)
                    .await
                {
                    Ok(true) => {
                        let _ = gw.store.set_approval_outcome(&id, "the agent went away: not executed").await;
                        tracing::info!(approval = %id, "held call abandoned by the agent; approval cancelled");
                    }
                    Ok(false) => {}
                    Err(e) => tracing::error!(approval = %id, error = %e, "could not cancel approval"),
                }
            });
        }
    }
}

fn decision_data(d: &Decision) -> Value {
    json!({"verdict": d.action.as_str(), "rule": d.rule, "tier": d.tier.as_str(), "reason": d.reason})
}

fn refuse(code: i64, verdict: &'static str, message: String, data: Value) -> Refusal {
    Refusal { code, verdict, message, data }
}

/// The audit record of a decision on `a` (stage 9). Callers that forward the
/// call fill in the upstream and timings before committing it.
pub fn record(a: &Action, d: &Decision, verdict: &str) -> Record {
    let rec = Record {
        id: uuid::Uuid::now_v7().to_string(),
        at: warden_audit::record::format_ms(warden_core::time::now_ms()),
        kind: if a.entry == Entry::Mcp { "call" } else { "decision" }.into(),
        entry: a.entry.as_str().into(),
        agent: a.agent.name.clone(),
        owner: a.agent.owner.clone(),
        session: a.session_id.clone().unwrap_or_default(),
        method: match a.entry {
            Entry::Mcp => "tools/call",
            Entry::Decide => "decide",
            Entry::Llm => "tool_call",
        }
        .into(),
        tool: a.tool.clone(),
        args_sha256: a.args_digest(),
        args: warden_core::redact::redact(&a.args),
        trace_id: a.trace_id().into(),
        call_id: a.call_id.clone(),
        comment: a.requester.clone(),
        ..Record::default()
    };
    decided(rec, d, verdict)
}

/// A record with the decision's verdict, rule, tier and reason.
pub fn decided(mut rec: Record, d: &Decision, verdict: &str) -> Record {
    rec.verdict = verdict.into();
    rec.rule = d.rule.clone();
    rec.tier = d.tier.as_str().into();
    rec.reason = d.reason.clone();
    rec
}

/// Stage 9, once for every entry point: counts the decision, ends the
/// request's entry span with the record's attributes, and durably commits the
/// record. Err: it could not be committed.
pub async fn commit(gw: &Gateway, mut rec: Record, trace: Option<&Trace>) -> Result<(), String> {
    gw.custody.screen_record(&mut rec);
    gw.guard.redact_secrets(&mut rec.args);
    let tier = if rec.tier.is_empty() { "none" } else { rec.tier.as_str() };
    gw.meters.requests.inc(&[&rec.entry, &rec.agent, &rec.verdict, tier]);
    // A tool call a model proposed belongs to the model request's trace: its
    // decision is a "policy decision" child span there, and the request's own
    // record ends the entry span.
    let proposed_in_answer = rec.entry == Entry::Llm.as_str() && rec.kind == "decision";
    if let Some(t) = trace.filter(|t| t.recording() && !proposed_in_answer) {
        finish_trace(t, &rec);
    }
    gw.audit.commit(rec).await.map(|_| ())
}

/// The entry span, named and attributed per the OpenTelemetry GenAI and MCP conventions.
fn finish_trace(t: &Trace, rec: &Record) {
    use crate::telemetry::otlp::{i, s};
    let model_call = rec.kind == "llm";
    let mut attrs = vec![
        s("warden.entry", rec.entry.as_str()),
        s("warden.agent", rec.agent.as_str()),
        s("warden.verdict", rec.verdict.as_str()),
        s("warden.rule", rec.rule.as_str()),
        s("warden.risk_tier", rec.tier.as_str()),
        i("warden.latency_us", rec.latency_us as i64),
    ];
    if rec.entry == "mcp" {
        attrs.push(s("mcp.method.name", rec.method.as_str()));
    }
    if !rec.session.is_empty() {
        attrs.push(s("mcp.session.id", rec.session.as_str()));
    }
    // GenAI semantic conventions: `chat` or `embeddings`, named `{operation} {model}`.
    let operation = if rec.method == "embeddings" { "embeddings" } else { "chat" };
    if model_call {
        attrs.push(s("gen_ai.operation.name", operation));
    }
    if rec.method == "tools/call" || rec.kind == "decision" {
        attrs.push(s("gen_ai.operation.name", "execute_tool"));
        attrs.push(s("gen_ai.tool.name", rec.tool.as_str()));
    }
    if !rec.model.is_empty() {
        attrs.push(s("gen_ai.request.model", rec.model.as_str()));
        attrs.push(i("gen_ai.usage.input_tokens", rec.input_tokens as i64));
        attrs.push(i("gen_ai.usage.output_tokens", rec.output_tokens as i64));
    }
    if !rec.upstream.is_empty() {
        attrs.push(s("warden.upstream", rec.upstream.as_str()));
        attrs.push(s("warden.upstream_status", rec.upstream_status.as_str()));
    }
    if !rec.approval.is_empty() {
        attrs.push(s("warden.approval.id", rec.approval.as_str()));
    }
    let refused = !matches!(rec.verdict.as_str(), "allow" | "audit" | "approval_required");
    let failed = !rec.upstream_status.is_empty() && rec.upstream_status != "ok";
    let error = (refused || failed)
        .then(|| if refused { format!("{}: {}", rec.verdict, rec.reason) } else { rec.upstream_status.clone() });
    let name = if model_call {
        format!("{operation} {}", rec.model)
    } else if rec.tool.is_empty() {
        rec.method.clone()
    } else {
        format!("{} {}", rec.method, rec.tool)
    };
    t.finish(&name, attrs, error);
}

/// Commits the record of a refusal; the refusal stands either way (a failed
/// commit is logged with the whole record by the writer).
async fn refused(gw: &Gateway, a: &Action, d: &Decision, verdict: &str, approval: Option<&str>) {
    let mut rec = record(a, d, verdict);
    rec.approval = approval.unwrap_or_default().into();
    let _ = commit(gw, rec, Some(&a.trace)).await;
}

/// Stage 3 refused the action's arguments: the deny is recorded (rule
/// `guardrail:<detector>`) and the refusal names what was found, never the value.
pub async fn guardrail_refusal(gw: &Gateway, a: &Action, n: &crate::pipeline::guard::Noted) -> Refusal {
    let reason = format!(
        "the arguments of {} contain {} ({}): {}",
        a.tool, n.finding.detector, n.finding.kind, n.finding.evidence
    );
    let d = Decision {
        tier: warden_config::Tier::High,
        action: RuleAction::Deny,
        rule: format!("guardrail:{}", n.finding.detector),
        reason: reason.clone(),
        approvers: None,
        timeout: Duration::ZERO,
        limit: None,
        shell: Vec::new(),
        labels: Vec::new(),
    };
    gw.count_decision(d.action, d.tier);
    refused(gw, a, &d, "deny", None).await;
    refuse(jsonrpc::POLICY_DENIED, "deny", format!("Refused by Warden: {reason}"), decision_data(&d))
}

/// The refusal sent when the audit trail cannot take a record.
pub fn audit_unavailable(why: &str) -> Refusal {
    refuse(
        jsonrpc::AUDIT_UNAVAILABLE,
        "audit_unavailable",
        format!("Refused: the audit trail cannot record this call ({why})"),
        json!({"verdict": "audit_unavailable"}),
    )
}

/// Stages 3–5: policy, rate limits, grants, and the start of an approval hold.
pub async fn check(gw: &Arc<Gateway>, a: &Action) -> Gate {
    // Fail closed: while the audit trail cannot commit, nothing new runs.
    if !gw.audit.healthy() {
        return Gate::Refuse(audit_unavailable("the last audit commit failed"));
    }
    let policy = gw.policy.load_full();
    let started = crate::telemetry::otlp::now_ns();
    let mut d = policy.evaluate(&a.request());
    gw.count_decision(d.action, d.tier);
    if a.trace.recording() {
        use crate::telemetry::otlp::s;
        let attrs = vec![
            s("warden.verdict", d.action.as_str()),
            s("warden.rule", d.rule.as_str()),
            s("warden.risk_tier", d.tier.as_str()),
            s("warden.reason", d.reason.as_str()),
            s("gen_ai.tool.name", a.tool.as_str()),
        ];
        a.trace.child(
            crate::telemetry::otlp::new_span_id(),
            "policy decision",
            crate::telemetry::otlp::Kind::Internal,
            started,
            attrs,
            None,
        );
    }
    match d.action {
        RuleAction::Deny => {
            refused(gw, a, &d, "deny", None).await;
            return Gate::Refuse(refuse(
                jsonrpc::POLICY_DENIED,
                "deny",
                format!("Denied by policy: {}", d.reason),
                decision_data(&d),
            ));
        }
        RuleAction::RateLimit => {
            let spec = d.limit.clone().expect("compiled: rate_limit has a limit");
            let key = format!("rule\u{1f}{}\u{1f}{}\u{1f}{}", d.rule, a.agent.name, a.tool);
            if let Err(r) = gw.rate_limits.take(&gw.store, &key, &spec).await {
                return Gate::Refuse(rate_limited(gw, a, &d, r, "rule").await);
            }
        }
        _ => {}
    }
    if d.action.is_permissive()
        && let Some(spec) = policy.tier_limit(d.tier)
    {
        let key = format!("tier\u{1f}{}\u{1f}{}", d.tier, a.agent.name);
        if let Err(r) = gw.rate_limits.take(&gw.store, &key, spec).await {
            return Gate::Refuse(rate_limited(gw, a, &d, r, "tier").await);
        }
    }
    if d.action != RuleAction::RequireApproval {
        return proceed(gw, a, d).await;
    }
    // A standing grant from an earlier approval covers this call?
    let digest = a.args_digest();
    match gw.store.grants(&a.agent.name, &a.tool, Timestamp::now()).await {
        Ok(grants) => {
            if let Some(g) = grants.iter().find(|g| g.args_digest.as_ref().is_none_or(|x| *x == digest)) {
                d.reason = format!("covered by grant {} (from approval {}, by {})", g.id, g.approval_id, g.created_by);
                d.rule = format!("grant:{}", g.id);
                d.action = RuleAction::Allow;
                return proceed(gw, a, d).await;
            }
        }
        Err(e) => return Gate::Refuse(unavailable(gw, a, &d, &format!("grants unreadable: {e}")).await),
    }
    let now = Timestamp::now();
    let approval = Approval {
        id: format!("apr_{}", uuid::Uuid::now_v7().simple()),
        status: ApprovalStatus::Pending,
        agent: a.agent.name.clone(),
        owner: a.agent.owner.clone(),
        team: a.agent.team.clone(),
        tool: a.tool.clone(),
        arguments: gw_redacted(gw, &a.args),
        args_digest: digest,
        tier: d.tier.as_str().to_string(),
        rule: d.rule.clone(),
        reason: d.reason.clone(),
        approvers: d.approvers.clone(),
        trace_id: a.trace_id().into(),
        entry: a.entry.as_str().to_string(),
        session_id: a.session_id.clone(),
        created_at: now,
        expires_at: Timestamp(now.0 + d.timeout.as_secs().max(1) as i64),
        decided_by: None,
        decided_at: None,
        comment: None,
        holder: gw.approvals.replica.clone(),
        outcome: None,
    };
    let mut rec = record(a, &d, "approval_required");
    rec.approval = approval.id.clone();
    if let Err(e) = commit(gw, rec, None).await {
        return Gate::Refuse(audit_unavailable(&e));
    }
    let rx = gw.approvals.register(&approval.id);
    if let Err(e) = gw.store.insert_approval(&approval).await {
        gw.approvals.unregister(&approval.id);
        return Gate::Refuse(unavailable(gw, a, &d, &format!("approval could not be stored: {e}")).await);
    }
    tracing::warn!(
        approval = %approval.id, agent = %a.agent.name, tool = %a.tool, entry = a.entry.as_str(), rule = %d.rule,
        expires_in_s = d.timeout.as_secs(),
        "call held for a human: `warden approvals approve {id}` or `warden approvals deny {id} --comment …` \
         (or POST /api/v1/approvals/{id}/approve)",
        id = approval.id
    );
    crate::pipeline::approvals::announce(gw, &policy.approvals.webhooks, &approval);
    Gate::Hold(Box::new(Held {
        approval,
        decision: d,
        rx,
        gw: gw.clone(),
        settled: false,
        action: a.clone(),
        approver: String::new(),
    }))
}

/// Warden's own MCP tool, seen before it runs (proposed at `/v1`, or asked
/// about by a pre-tool hook): its decision belongs to `/mcp`, where it runs.
/// A deny is final here and recorded as one; anything else passes as
/// `deferred`, with no hold and no rate-limit token, so one action is held and
/// counted once. Ok: the decision and the `deferred` record, which the caller
/// commits before it answers. Err: refused (deny, or no audit trail).
pub async fn defer_to_mcp(gw: &Gateway, a: &Action) -> Result<(Decision, Record), Refusal> {
    if !gw.audit.healthy() {
        return Err(audit_unavailable("the last audit commit failed"));
    }
    let d = gw.policy.load().evaluate(&a.request());
    if d.action == RuleAction::Deny {
        gw.count_decision(d.action, d.tier);
        refused(gw, a, &d, "deny", None).await;
        return Err(refuse(
            jsonrpc::POLICY_DENIED,
            "deny",
            format!("Denied by policy: {}", d.reason),
            decision_data(&d),
        ));
    }
    let mut rec = record(a, &d, "deferred");
    rec.reason = format!(
        "Warden's MCP tool {}: decided at /mcp when it runs (the policy says {} by rule {}: {})",
        a.tool,
        d.action.as_str(),
        d.rule,
        d.reason
    );
    Ok((d, rec))
}

/// A permissive verdict. The decision API's answer is the whole action, so
/// its record commits now. An MCP call's record commits after the upstream
/// answers; a proposed call's (`Entry::Llm`) is [`record`]ed by the model door,
/// which commits the records of one answer together, before the agent sees them.
async fn proceed(gw: &Gateway, a: &Action, d: Decision) -> Gate {
    if a.entry == Entry::Decide
        && let Err(e) = commit(gw, record(a, &d, d.action.as_str()), Some(&a.trace)).await
    {
        return Gate::Refuse(audit_unavailable(&e));
    }
    Gate::Proceed(d)
}

/// A limit refused the call: its bucket is empty, or (fail closed) the shared
/// buckets could not be read, which is told apart in the message and logged.
async fn rate_limited(gw: &Gateway, a: &Action, d: &Decision, why: limits::Refused, which: &str) -> Refusal {
    gw.rate_limited.fetch_add(1, Ordering::Relaxed);
    refused(gw, a, d, "rate_limited", None).await;
    let (ms, message) = match why {
        limits::Refused::Empty(wait) => {
            let ms = wait.as_millis().max(1) as u64;
            (ms, format!("Rate limit exceeded for {} ({which} limit of rule {}); retry after {ms} ms", a.tool, d.rule))
        }
        limits::Refused::Unavailable(e) => {
            tracing::error!(agent = %a.agent.name, tool = %a.tool, error = %e, "rate limit unreadable; refusing the call");
            (
                1000,
                format!(
                    "The {which} limit of rule {} could not be checked (store unavailable); the call was refused",
                    d.rule
                ),
            )
        }
    };
    let mut data = decision_data(d);
    data["verdict"] = json!("rate_limited");
    data["limit"] = json!(which);
    data["retryAfterMs"] = json!(ms);
    refuse(jsonrpc::RATE_LIMITED, "rate_limited", message, data)
}

async fn unavailable(gw: &Gateway, a: &Action, d: &Decision, why: &str) -> Refusal {
    tracing::error!(agent = %a.agent.name, tool = %a.tool, error = why, "approval hold failed; refusing the call");
    refused(gw, a, d, "approval_unavailable", None).await;
    refuse(
        jsonrpc::APPROVAL_UNAVAILABLE,
        "approval_unavailable",
        format!("This call needs human approval, but the approval could not be held: {why}"),
        decision_data(d),
    )
}

/// The outcome of waiting on a hold.
pub enum Waited {
    Approved,
    Refused(Refusal),
    /// `wait` lapsed with no decision (the decision API returns then).
    StillPending,
}

impl Held {
    /// Follows an existing approval (the decision API's `approval_id`).
    pub fn attach(gw: &Arc<Gateway>, approval: Approval, decision: Decision, action: &Action) -> Box<Held> {
        let rx = gw.approvals.register(&approval.id);
        if approval.status != ApprovalStatus::Pending {
            gw.approvals.notify(&approval.id, approval.status);
        }
        Box::new(Held {
            approval,
            decision,
            rx,
            gw: gw.clone(),
            settled: false,
            action: action.clone(),
            approver: String::new(),
        })
    }

    /// The record of this held call's final outcome.
    pub fn record(&self, verdict: &str) -> Record {
        let mut rec = record(&self.action, &self.decision, verdict);
        rec.approval = self.approval.id.clone();
        rec.approver = self.approver.clone();
        rec
    }

    /// Waits up to `wait` (or the approval's deadline, whichever is first).
    /// `tick` is called every `every` while waiting (progress notifications).
    pub async fn wait(&mut self, wait: Option<Duration>, every: Duration, mut tick: impl FnMut(Duration)) -> Waited {
        let started = Instant::now();
        let deadline_secs = (self.approval.expires_at.0 - Timestamp::now().0).max(0) as u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(deadline_secs);
        let until = match wait {
            Some(w) => deadline.min(tokio::time::Instant::now() + w),
            None => deadline,
        };
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            let status = *self.rx.borrow_and_update();
            if let Some(s) = status {
                return self.settle(s).await;
            }
            tokio::select! {
                changed = self.rx.changed() => {
                    if changed.is_err() {
                        return self.settle_from_store().await;
                    }
                }
                _ = ticker.tick() => tick(started.elapsed()),
                _ = tokio::time::sleep_until(until) => {
                    if until < deadline {
                        return Waited::StillPending;
                    }
                    let gw = &self.gw;
                    return match gw.store.decide_approval(&self.approval.id, ApprovalStatus::Expired, None, None, Timestamp::now(), false).await {
                        Ok(true) => self.settle(ApprovalStatus::Expired).await,
                        // Decided in the meantime (perhaps on another replica).
                        Ok(false) => self.settle_from_store().await,
                        Err(e) => {
                            self.settled = true;
                            Waited::Refused(unavailable_held(&self.approval, &self.decision, &e.to_string()))
                        }
                    };
                }
            }
        }
    }

    async fn settle_from_store(&mut self) -> Waited {
        match self.gw.store.approval(&self.approval.id).await {
            Ok(Some(a)) if a.status != ApprovalStatus::Pending => self.settle(a.status).await,
            Ok(_) => Waited::StillPending,
            Err(e) => {
                self.settled = true;
                Waited::Refused(unavailable_held(&self.approval, &self.decision, &e.to_string()))
            }
        }
    }

    async fn settle(&mut self, status: ApprovalStatus) -> Waited {
        self.settled = true;
        let fresh = self.gw.store.approval(&self.approval.id).await.ok().flatten();
        let (by, comment) = fresh
            .as_ref()
            .map(|a| (a.decided_by.clone().unwrap_or_default(), a.comment.clone().unwrap_or_default()))
            .unwrap_or_default();
        let id = self.approval.id.clone();
        self.approver = by.clone();
        let waited_s = (Timestamp::now().0 - self.approval.created_at.0).max(0) as f64;
        self.gw.meters.approval_decision.observe(&[status.as_str()], waited_s);
        if status != ApprovalStatus::Approved {
            let verdict = match status {
                ApprovalStatus::Denied => "approval_denied",
                ApprovalStatus::Expired => "approval_expired",
                _ => "cancelled",
            };
            let mut rec = self.record(verdict);
            rec.comment = comment.clone();
            let _ = commit(&self.gw, rec, Some(&self.action.trace)).await;
        }
        match status {
            ApprovalStatus::Denied => {
                let _ = self.gw.store.set_approval_outcome(&id, "refused: denied by a human").await;
            }
            ApprovalStatus::Expired => {
                let _ = self.gw.store.set_approval_outcome(&id, "refused: no decision before the deadline").await;
            }
            _ => {}
        }
        match held_refusal(status, &id, &by, &comment, decision_data(&self.decision)) {
            None => Waited::Approved,
            Some(r) => Waited::Refused(r),
        }
    }

    /// After approval: the policy may have changed while the call was held;
    /// a policy that now denies it wins (reload during a hold fails closed).
    pub async fn recheck(&self, a: &Action) -> Result<(), Refusal> {
        let now = self.gw.policy.load().evaluate(&a.request());
        if now.action == RuleAction::Deny {
            refused(&self.gw, a, &now, "deny", Some(&self.approval.id)).await;
            let mut data = decision_data(&now);
            data["approvalId"] = json!(self.approval.id);
            return Err(refuse(
                jsonrpc::POLICY_DENIED,
                "deny",
                format!("Denied by policy (changed while the call was held): {}", now.reason),
                data,
            ));
        }
        Ok(())
    }

    /// Records what became of the approved call.
    pub async fn finish(&self, outcome: &str) {
        if let Err(e) = self.gw.store.set_approval_outcome(&self.approval.id, outcome).await {
            tracing::warn!(approval = %self.approval.id, error = %e, "could not record the approval outcome");
        }
    }

    /// Keeps the approval pending when this holder stops waiting (decision API).
    pub fn release(mut self: Box<Self>) {
        self.settled = true;
    }
}

/// What an agent is told when its held call ends without running; `None`:
/// approved. One wording for every door and replica (the holder that waited,
/// or another replica answering a resumed stream, `mcp/resume.rs`).
pub(crate) fn held_refusal(
    status: ApprovalStatus,
    id: &str,
    by: &str,
    comment: &str,
    mut data: Value,
) -> Option<Refusal> {
    data["approvalId"] = json!(id);
    let (code, verdict, message) = match status {
        ApprovalStatus::Approved => return None,
        ApprovalStatus::Denied => {
            data["deniedBy"] = json!(by);
            data["comment"] = json!(comment);
            let c = if comment.is_empty() { String::new() } else { format!(": {comment}") };
            (jsonrpc::APPROVAL_DENIED, "approval_denied", format!("Approval {id} denied by {by}{c}"))
        }
        ApprovalStatus::Expired => (
            jsonrpc::APPROVAL_EXPIRED,
            "approval_expired",
            format!("Approval {id} expired: no human decided in time, so the call was denied"),
        ),
        ApprovalStatus::Interrupted => (
            jsonrpc::APPROVAL_UNAVAILABLE,
            "cancelled",
            format!(
                "Approval {id} was interrupted: the gateway holding the call stopped before it was decided; \
                 the call was not executed (ask again)"
            ),
        ),
        ApprovalStatus::Cancelled | ApprovalStatus::Pending => (
            jsonrpc::APPROVAL_UNAVAILABLE,
            "cancelled",
            format!("Approval {id} was {}: the call was not executed", status.as_str()),
        ),
    };
    data["verdict"] = json!(verdict);
    Some(refuse(code, verdict, message, data))
}

fn unavailable_held(a: &Approval, d: &Decision, why: &str) -> Refusal {
    let mut data = decision_data(d);
    data["approvalId"] = json!(a.id);
    refuse(
        jsonrpc::APPROVAL_UNAVAILABLE,
        "approval_unavailable",
        format!("Approval {} could not be followed ({why}); the call was not executed", a.id),
        data,
    )
}

/// The session flags after a call with these labels was let through.
pub fn flags_after(mut f: SessionFlags, labels: &[ToolLabel]) -> SessionFlags {
    f.private_data |= labels.contains(&ToolLabel::PrivateData);
    f.untrusted_content |= labels.contains(&ToolLabel::UntrustedContent);
    f
}

/// Arguments as shown to humans (approvals): secret-shaped values and every
/// secret Warden holds redacted.
fn gw_redacted(gw: &Gateway, args: &Value) -> Value {
    let mut v = warden_core::redact::redact(args);
    gw.custody.screen(&mut v, "approval");
    v
}
