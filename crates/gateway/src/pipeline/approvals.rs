//! Held calls. A call that policy sends to a human is stored as a pending
//! approval (so it survives restarts and every replica can list and decide
//! it); the replica holding the call waits on it here. A decision made on
//! this replica wakes the holder at once; one made on another replica wakes it
//! by a PostgreSQL notification, or within [`DECISION_POLL`] (one query for all
//! the calls a replica holds) without one. Replicas beat a heartbeat into the store, so an
//! approval whose holder died is marked honestly (`interrupted`, "gateway
//! restarted") instead of staying pending forever.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use warden_config::{WebhookFormat, WebhookSpec};
use warden_core::time::{Timestamp, format_rfc3339, now_ms};
use warden_store::{Approval, ApprovalStatus};

use crate::Gateway;

pub struct Hub {
    /// This process's replica id (the `holder` of the approvals it creates).
    pub replica: String,
    waiters: Mutex<HashMap<String, watch::Sender<Option<ApprovalStatus>>>>,
    pub webhook_failures: AtomicU64,
    pub webhook_sent: AtomicU64,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            replica: format!("replica-{}", uuid::Uuid::new_v4().simple()),
            waiters: Mutex::new(HashMap::new()),
            webhook_failures: AtomicU64::new(0),
            webhook_sent: AtomicU64::new(0),
        }
    }
}

impl Hub {
    pub(crate) fn register(&self, id: &str) -> watch::Receiver<Option<ApprovalStatus>> {
        let (tx, rx) = watch::channel(None);
        self.waiters.lock().unwrap().insert(id.to_string(), tx);
        rx
    }

    pub(crate) fn unregister(&self, id: &str) {
        self.waiters.lock().unwrap().remove(id);
    }

    /// Wakes the local holder of `id`, if this replica holds it. True when it does.
    pub(crate) fn notify(&self, id: &str, status: ApprovalStatus) -> bool {
        match self.waiters.lock().unwrap().get(id) {
            Some(tx) => {
                let _ = tx.send(Some(status));
                true
            }
            None => false,
        }
    }

    pub fn held(&self) -> usize {
        self.waiters.lock().unwrap().len()
    }

    fn held_ids(&self) -> Vec<String> {
        self.waiters.lock().unwrap().keys().cloned().collect()
    }
}

/// How long a replica may be silent before its held calls are declared lost.
pub(crate) fn stale_after(poll: Duration) -> Duration {
    poll * 3 + Duration::from_secs(2)
}

/// Heartbeat, decisions made on other replicas, and the orphan sweep.
pub(crate) async fn follow(gw: Arc<Gateway>) {
    let mut tick = tokio::time::interval(gw.store_poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        if let Err(e) = gw.store.heartbeat(&gw.approvals.replica, now_ms()).await {
            tracing::warn!(error = %e, "heartbeat failed");
        }
        if n % 5 == 1 {
            let stale = now_ms() - stale_after(gw.store_poll).as_millis() as i64;
            match gw.store.sweep_orphaned_approvals(&gw.approvals.replica, stale, Timestamp::now()).await {
                Ok(0) => {}
                Ok(k) => tracing::warn!(approvals = k, "approvals held by a stopped gateway marked interrupted"),
                Err(e) => tracing::warn!(error = %e, "approval sweep failed"),
            }
        }
    }
}

/// How often a replica holding calls looks for decisions made on other
/// replicas, when nothing told it of one: on PostgreSQL the deciding replica
/// notifies the holder (see `warden_store::notify`), which re-reads at once;
/// this poll is the fallback (and the path on SQLite). One query for all held
/// calls, and none while nothing is held.
pub(crate) const DECISION_POLL: Duration = Duration::from_millis(50);

/// Releases held calls decided on another replica.
pub(crate) async fn watch_decisions(gw: Arc<Gateway>) {
    let notices = gw.store.notices().clone();
    let mut tick = tokio::time::interval(DECISION_POLL.min(gw.store_poll));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let only = tokio::select! {
            _ = tick.tick() => None,
            _ = notices.approvals_decided() => match notices.take_decided() {
                warden_store::notify::DecidedIds::All => None,
                warden_store::notify::DecidedIds::Some(ids) => Some(ids),
            },
        };
        release_decided(&gw, only.as_deref()).await;
    }
}

/// Wakes the calls this replica holds whose approvals are no longer pending in
/// the store (decided anywhere, or marked interrupted); returns how many.
/// `only`: a notification named the approvals it is about, so only those this
/// replica holds are re-read.
pub(crate) async fn release_decided(gw: &Gateway, only: Option<&[String]>) -> usize {
    let mut held = gw.approvals.held_ids();
    if let Some(ids) = only {
        held.retain(|h| ids.contains(h));
    }
    if held.is_empty() {
        return 0;
    }
    match gw.store.decided_among(&held).await {
        Ok(decided) => decided.into_iter().filter(|(id, status)| gw.approvals.notify(id, *status)).count(),
        Err(e) => {
            tracing::warn!(error = %e, "reading decisions for held calls failed");
            0
        }
    }
}

/// Is the replica holding `a` alive (this one, or one with a fresh heartbeat)?
pub(crate) async fn holder_alive(gw: &Gateway, a: &Approval) -> bool {
    if a.holder == gw.approvals.replica {
        return true;
    }
    let stale = now_ms() - stale_after(gw.store_poll).as_millis() as i64;
    matches!(gw.store.replica_seen_at(&a.holder).await, Ok(Some(t)) if t >= stale)
}

/// The two webhook payloads.
/// `link`: the approval in the admin API; `page`: its console page, where a human decides.
pub fn webhook_payload(format: WebhookFormat, a: &Approval, link: Option<&str>, page: Option<&str>) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "event": "approval.requested",
            "approval": a,
            "decide": link,
            "console": page,
        }),
        WebhookFormat::Slack => {
            let args = serde_json::to_string_pretty(&a.arguments).unwrap_or_default();
            let args: String = args.chars().take(2500).collect();
            let mut header = format!(
                ":hourglass: *Approval needed* for `{}` by *{}* (owner {}, team {})",
                a.tool, a.agent, a.owner, a.team
            );
            if let Some(g) = &a.approvers {
                header.push_str(&format!(" — approver group *{g}*"));
            }
            if let Some(p) = page {
                header.push_str(&format!("\n<{p}|Open in the Warden console to decide>"));
            }
            json!({
                "text": format!("Approval needed: {} wants to run {} ({} tier, rule {})", a.agent, a.tool, a.tier, a.rule),
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": header}},
                    {"type": "section", "text": {"type": "mrkdwn",
                        "text": format!("*Reason:* {}\n*Tier:* {}   *Rule:* `{}`", a.reason, a.tier, a.rule)}},
                    {"type": "section", "text": {"type": "mrkdwn", "text": format!("```{args}```")}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                        "`warden approvals approve {id}` or `warden approvals deny {id} --comment ...` · expires {} · trace {}",
                        format_rfc3339(a.expires_at), a.trace_id, id = a.id)}]},
                ],
            })
        }
    }
}

/// POSTs the approval to every configured webhook: three tries each, 5 s timeout.
pub(crate) fn announce(gw: &Arc<Gateway>, hooks: &[WebhookSpec], a: &Approval) {
    for hook in hooks {
        let gw = gw.clone();
        let hook = hook.clone();
        let link = gw.public_url.as_ref().map(|u| format!("{u}/api/v1/approvals/{}", a.id));
        let page = gw.console.approval_link(&a.id);
        let body = webhook_payload(hook.format, a, link.as_deref(), page.as_deref()).to_string();
        tokio::spawn(async move {
            for attempt in 0..3u32 {
                let mut rb = gw
                    .http
                    .post(hook.url.0.clone())
                    .timeout(Duration::from_secs(5))
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
                for (k, v) in &hook.headers {
                    rb = rb.header(k, &v.0);
                }
                match rb.send().await {
                    Ok(r) if r.status().is_success() => {
                        gw.approvals.webhook_sent.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Ok(r) => {
                        tracing::warn!(url = %hook.url.0, status = %r.status(), attempt, "approval webhook refused")
                    }
                    Err(e) => tracing::warn!(url = %hook.url.0, error = %e, attempt, "approval webhook failed"),
                }
                tokio::time::sleep(Duration::from_millis(500 * 4u64.pow(attempt))).await;
            }
            gw.approvals.webhook_failures.fetch_add(1, Ordering::Relaxed);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_link_to_the_console_page() {
        let a: Approval = Approval {
            id: "apr_1".into(),
            status: ApprovalStatus::Pending,
            agent: "pay-bot".into(),
            owner: "o@example.com".into(),
            team: "payments".into(),
            tool: "delete_file".into(),
            arguments: json!({}),
            args_digest: "d".into(),
            tier: "high".into(),
            rule: "r".into(),
            reason: "why".into(),
            approvers: None,
            trace_id: "t".into(),
            entry: "mcp".into(),
            session_id: None,
            created_at: Timestamp(1),
            expires_at: Timestamp(2),
            decided_by: None,
            decided_at: None,
            comment: None,
            holder: "h".into(),
            outcome: None,
        };
        let page = "https://w.example/console/approvals/apr_1";
        let j = webhook_payload(WebhookFormat::Json, &a, Some("https://w.example/api/v1/approvals/apr_1"), Some(page));
        assert_eq!(j["console"], page);
        let s = webhook_payload(WebhookFormat::Slack, &a, None, Some(page)).to_string();
        assert!(s.contains(page), "{s}");
        let s = webhook_payload(WebhookFormat::Slack, &a, None, None).to_string();
        assert!(!s.contains("console"), "{s}");
    }
}
