//! The inventory report (`warden inventory report`, `GET /api/v1/inventory/report`)
//! answers, for every bot: which bots exist, who owns each, which systems it can
//! reach, which credentials it holds, where they are stored, and how its access
//! is revoked. `/metrics` exposes the same counts for alerting.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use warden_core::inventory::{AgentRecord, SeparationException, Status, check_separation};
use warden_core::time::Timestamp;
use warden_store::{Backend, StoreError};

use crate::Gateway;

#[derive(Debug, Serialize)]
pub struct ReportRow {
    pub name: String,
    pub status: Status,
    pub owner: String,
    pub team: String,
    pub purpose: String,
    /// Which systems it can reach.
    pub systems: Vec<String>,
    /// Which credentials it holds.
    pub credentials: Vec<String>,
    /// Where they are stored.
    pub credential_storage: String,
    /// How its access is revoked.
    pub revocation: String,
    pub data_access: String,
    pub external_channels: Vec<String>,
    /// Separation-rule state: `not needed`, `covered by <name> until <date>`, or a violation.
    pub separation: String,
    pub last_review: Option<Timestamp>,
    pub review_due: Timestamp,
    pub review_overdue: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: Timestamp,
    pub agents: Vec<ReportRow>,
    pub expired_exceptions: Vec<SeparationException>,
}

/// What every row of the report shares: read once, then used for each bot.
pub struct Context {
    pub now: Timestamp,
    exceptions: Vec<SeparationException>,
    store_name: &'static str,
    ttl: i64,
    systems: crate::admin::inventory::Systems,
}

impl Context {
    pub async fn load(gw: &Gateway) -> Result<Context, StoreError> {
        Ok(Context {
            now: Timestamp::now(),
            exceptions: gw.store.exceptions().await?,
            store_name: match gw.store.backend {
                Backend::Sqlite => "Warden store (SQLite)",
                Backend::Postgres => "Warden store (PostgreSQL)",
            },
            ttl: gw.directory.settings().ttl_secs,
            systems: crate::admin::inventory::Systems::of(gw),
        })
    }

    /// The systems a bot reaches (see [`crate::admin::inventory::Systems`]).
    pub fn systems(&self, gw: &Gateway, r: &AgentRecord) -> Vec<String> {
        self.systems.reached(gw, &r.spec)
    }

    /// One bot's row.
    pub fn row(&self, gw: &Gateway, r: &AgentRecord) -> ReportRow {
        let (s, now, store_name, exceptions) = (&r.spec, self.now, self.store_name, &self.exceptions);
        let mut credentials = Vec::new();
        if r.has_client_secret {
            credentials.push(format!("OAuth client secret (argon2id hash in {store_name})"));
        }
        if r.status == Status::Active {
            credentials.push(format!("Warden-issued access tokens (EdDSA JWT, {} s TTL)", self.ttl));
        }
        if gw.directory.holds_static_token(&s.name) {
            credentials.push("static bearer token (SHA-256 in the config file; less safe, no expiry)".into());
        }
        let mut storage = vec![store_name.to_string()];
        if !s.credential_storage.is_empty() {
            storage.push(format!("agent side: {}", s.credential_storage));
        }
        let separation = if !s.needs_separation_exception() {
            "not needed".to_string()
        } else {
            match check_separation(s, exceptions, now) {
                Ok(()) => {
                    let ex = exceptions.iter().find(|e| e.agent == s.name && e.covers(s, now).is_ok());
                    ex.map(|e| format!("covered by {} until {}", e.name, e.expires)).unwrap_or_default()
                }
                Err(e) => format!("VIOLATION: {}", e.message),
            }
        };
        let mut revocation = match r.status {
            Status::Offboarded => format!("offboarded: {}", r.status_reason),
            _ => format!("warden agent suspend {} --reason ... (next request; other replicas within one poll)", s.name),
        };
        if !s.runtime.deletion_procedure.is_empty() {
            let _ = write!(revocation, "; deletion: {}", s.runtime.deletion_procedure);
        }
        ReportRow {
            name: s.name.clone(),
            status: r.status,
            owner: s.owner.clone(),
            team: s.team.clone(),
            purpose: s.purpose.clone(),
            systems: self.systems(gw, r),
            credentials,
            credential_storage: storage.join("; "),
            revocation,
            data_access: s.data_access.as_str().into(),
            external_channels: s.external_channels.clone(),
            separation,
            last_review: r.last_review,
            review_due: r.review_due(),
            review_overdue: r.review_overdue(now),
        }
    }
}

pub async fn rows(gw: &Gateway) -> Result<Report, StoreError> {
    let ctx = Context::load(gw).await?;
    let agents = gw.store.agents().await?.iter().map(|r| ctx.row(gw, r)).collect();
    let expired_exceptions = ctx.exceptions.into_iter().filter(|e| e.expired(ctx.now)).collect();
    Ok(Report { generated_at: ctx.now, agents, expired_exceptions })
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn markdown(r: &Report) -> String {
    let mut out = format!("# Warden bot inventory\n\nGenerated {}. {} bot(s).\n\n", r.generated_at, r.agents.len());
    out.push_str("| Bot | Status | Owner | Team | Reaches | Credentials | Stored in | Revocation | Data / channels | Separation | Review due |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|\n");
    for a in &r.agents {
        let due = if a.review_overdue { format!("**OVERDUE** ({})", a.review_due) } else { a.review_due.to_string() };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |",
            md_cell(&a.name),
            a.status,
            md_cell(&a.owner),
            md_cell(&a.team),
            md_cell(&a.systems.join(", ")),
            md_cell(&a.credentials.join("; ")),
            md_cell(&a.credential_storage),
            md_cell(&a.revocation),
            a.data_access,
            md_cell(&a.external_channels.join(", ")),
            md_cell(&a.separation),
            due
        );
    }
    if !r.expired_exceptions.is_empty() {
        out.push_str("\n## Expired separation exceptions\n\n");
        for e in &r.expired_exceptions {
            let _ = writeln!(out, "- {} (agent {}, approver {}, expired {})", e.name, e.agent, e.approver, e.expires);
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    // Quote everything; neutralise spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    format!("\"{}\"", s.replace('"', "\"\""))
}

pub fn csv(r: &Report) -> String {
    let mut out = String::from(
        "name,status,owner,team,purpose,systems,credentials,credential_storage,revocation,data_access,external_channels,separation,last_review,review_due,review_overdue\n",
    );
    for a in &r.agents {
        let fields = [
            a.name.clone(),
            a.status.to_string(),
            a.owner.clone(),
            a.team.clone(),
            a.purpose.clone(),
            a.systems.join(";"),
            a.credentials.join(";"),
            a.credential_storage.clone(),
            a.revocation.clone(),
            a.data_access.clone(),
            a.external_channels.join(";"),
            a.separation.clone(),
            a.last_review.map(|t| t.to_string()).unwrap_or_default(),
            a.review_due.to_string(),
            a.review_overdue.to_string(),
        ];
        out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

/// Prometheus text exposition of inventory state.
async fn policy_metrics(gw: &Gateway, out: &mut String) {
    use std::sync::atomic::Ordering::Relaxed;
    out.push_str("# HELP warden_policy_decisions_total Policy decisions by action and risk tier.\n# TYPE warden_policy_decisions_total counter\n");
    for ((action, tier), n) in gw.decision_counts() {
        let _ = writeln!(out, "warden_policy_decisions_total{{action=\"{action}\",tier=\"{tier}\"}} {n}");
    }
    let pm = &gw.policy_metrics;
    out.push_str("# HELP warden_policy_valid 1 when the last policy load succeeded; 0 while an invalid file is kept out.\n# TYPE warden_policy_valid gauge\n");
    let _ = writeln!(out, "warden_policy_valid {}", u8::from(pm.valid.load(Relaxed)));
    out.push_str(
        "# HELP warden_policy_reloads_total Policy reloads applied.\n# TYPE warden_policy_reloads_total counter\n",
    );
    let _ = writeln!(out, "warden_policy_reloads_total {}", pm.reloads.load(Relaxed));
    out.push_str("# HELP warden_policy_reload_failures_total Policy reloads refused (the previous policy stayed).\n# TYPE warden_policy_reload_failures_total counter\n");
    let _ = writeln!(out, "warden_policy_reload_failures_total {}", pm.failures.load(Relaxed));
    out.push_str(
        "# HELP warden_rate_limited_total Calls refused by a rate limit.\n# TYPE warden_rate_limited_total counter\n",
    );
    let _ = writeln!(out, "warden_rate_limited_total {}", gw.rate_limited.load(Relaxed));
    let pending = gw.store.approvals(Some(warden_store::ApprovalStatus::Pending), 100_000).await.map(|v| v.len());
    out.push_str("# HELP warden_approvals_pending Approvals waiting for a human (all replicas).\n# TYPE warden_approvals_pending gauge\n");
    let _ = writeln!(out, "warden_approvals_pending {}", pending.unwrap_or(0));
    out.push_str(
        "# HELP warden_approvals_held Calls this replica is holding for a human.\n# TYPE warden_approvals_held gauge\n",
    );
    let _ = writeln!(out, "warden_approvals_held {}", gw.approvals.held());
    out.push_str("# HELP warden_approval_webhook_failures_total Approval notifications that failed after retries.\n# TYPE warden_approval_webhook_failures_total counter\n");
    let _ = writeln!(out, "warden_approval_webhook_failures_total {}", gw.approvals.webhook_failures.load(Relaxed));
    store_listener_metrics(gw, out);
}

/// The change listener (PostgreSQL `LISTEN`); absent on SQLite, which only polls.
fn store_listener_metrics(gw: &Gateway, out: &mut String) {
    out.push_str("# HELP warden_tools_quarantined Upstream definitions held back by tool pinning or screening on this replica.\n# TYPE warden_tools_quarantined gauge\n");
    let _ = writeln!(out, "warden_tools_quarantined {}", gw.quarantine.load().held.len());
    if gw.store.backend != warden_store::Backend::Postgres || !gw.store_listen {
        return;
    }
    let n = gw.store.notices();
    out.push_str("# HELP warden_store_listener_up 1 while the change listener is connected; 0 while only polling sees other replicas' changes.\n# TYPE warden_store_listener_up gauge\n");
    let _ = writeln!(out, "warden_store_listener_up {}", u8::from(n.connected()));
    out.push_str("# HELP warden_store_notifications_total Change notifications received from the store.\n# TYPE warden_store_notifications_total counter\n");
    let _ = writeln!(out, "warden_store_notifications_total {}", n.notifications());
    out.push_str("# HELP warden_store_listener_reconnects_total Times the change listener reconnected (each followed by a full re-read).\n# TYPE warden_store_listener_reconnects_total counter\n");
    let _ = writeln!(out, "warden_store_listener_reconnects_total {}", n.reconnects());
}

pub async fn metrics(State(gw): State<Arc<Gateway>>) -> Response {
    let now = Timestamp::now();
    let mut out = String::new();
    let live = gw.directory.live();
    let mut counts = [0usize; 3];
    let mut overdue = 0;
    for a in live.by_name.values() {
        counts[match a.record.status {
            Status::Active => 0,
            Status::Suspended => 1,
            Status::Offboarded => 2,
        }] += 1;
        if a.record.review_overdue(now) {
            overdue += 1;
        }
    }
    out.push_str("# HELP warden_agents Inventory agents by status.\n# TYPE warden_agents gauge\n");
    for (i, s) in ["active", "suspended", "offboarded"].iter().enumerate() {
        let _ = writeln!(out, "warden_agents{{status=\"{s}\"}} {}", counts[i]);
    }
    out.push_str("# HELP warden_agents_review_overdue Agents whose review is overdue.\n# TYPE warden_agents_review_overdue gauge\n");
    let _ = writeln!(out, "warden_agents_review_overdue {overdue}");
    let (expired, store_up) = match gw.store.exceptions().await {
        Ok(ex) => (ex.iter().filter(|e| e.expired(now)).count(), 1),
        Err(_) => (0, 0),
    };
    out.push_str("# HELP warden_separation_exceptions_expired Separation exceptions past their expiry.\n# TYPE warden_separation_exceptions_expired gauge\n");
    let _ = writeln!(out, "warden_separation_exceptions_expired {expired}");
    out.push_str("# HELP warden_store_up Whether the store answered this scrape.\n# TYPE warden_store_up gauge\n");
    let _ = writeln!(out, "warden_store_up {store_up}");
    out.push_str("# HELP warden_sessions Open downstream MCP sessions.\n# TYPE warden_sessions gauge\n");
    let _ = writeln!(out, "warden_sessions {}", gw.sessions.len());
    policy_metrics(&gw, &mut out).await;
    let up: Vec<(String, f64, f64)> = gw
        .upstreams
        .iter()
        .map(|u| {
            let h = u.health();
            let healthy = h.state == warden_mcp::upstream::HealthState::Healthy;
            (u.name().to_string(), if healthy { 1.0 } else { 0.0 }, h.connects as f64)
        })
        .collect();
    let healthy: Vec<(&str, f64)> = up.iter().map(|(n, v, _)| (n.as_str(), *v)).collect();
    let g = crate::telemetry::metrics::gauge;
    g(&mut out, "warden_upstream_up", "Whether each upstream is connected and healthy.", "upstream", &healthy);
    let connects: Vec<(&str, f64)> = up.iter().map(|(n, _, c)| (n.as_str(), *c)).collect();
    g(
        &mut out,
        "warden_upstream_connects",
        "Successful connections to each upstream since start.",
        "upstream",
        &connects,
    );
    let head = gw.store.audit_head().await.ok();
    let seq = head.as_ref().map_or(0.0, |h| h.seq as f64);
    g(&mut out, "warden_audit_chain_seq", "Records in the audit chain (the head's seq).", "", &[("", seq)]);
    let unsigned = head.as_ref().map_or(0.0, |h| h.seq.saturating_sub(h.checkpoint_seq) as f64);
    g(
        &mut out,
        "warden_audit_unsigned_records",
        "Audit records not yet covered by a signed checkpoint.",
        "",
        &[("", unsigned)],
    );
    let ok = if gw.audit.healthy() { 1.0 } else { 0.0 };
    g(
        &mut out,
        "warden_audit_healthy",
        "Whether the last audit commit succeeded (0: new calls are refused).",
        "",
        &[("", ok)],
    );
    gw.meters.render(&mut out);
    let mut r = (StatusCode::OK, out).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}
