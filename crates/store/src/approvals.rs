//! Held calls waiting for a human, scoped grants, and replica heartbeats (so
//! a held call whose gateway died is reported honestly, not left pending).

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;
use warden_core::time::Timestamp;

use crate::{Backend, Result, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
    /// No decision before the deadline (the call was refused).
    Expired,
    /// The agent went away (disconnect, cancel, session end, suspension).
    Cancelled,
    /// The gateway holding the call stopped before it was delivered.
    Interrupted,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
            ApprovalStatus::Expired => "expired",
            ApprovalStatus::Cancelled => "cancelled",
            ApprovalStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        use ApprovalStatus::*;
        [Pending, Approved, Denied, Expired, Cancelled, Interrupted].into_iter().find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub id: String,
    pub status: ApprovalStatus,
    pub agent: String,
    pub owner: String,
    pub team: String,
    pub tool: String,
    /// The call's arguments with secrets redacted.
    pub arguments: Value,
    /// SHA-256 of the arguments as received (canonical JSON), before redaction.
    pub args_digest: String,
    pub tier: String,
    pub rule: String,
    pub reason: String,
    /// The approver group the rule requires, if any.
    pub approvers: Option<String>,
    pub trace_id: String,
    /// `mcp` or `decide`.
    pub entry: String,
    pub session_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub comment: Option<String>,
    /// The replica holding the call.
    pub holder: String,
    /// What became of the call after the decision (`executed`, `refused`,
    /// `gateway restarted: not executed`, ...).
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grant {
    pub id: String,
    pub agent: String,
    pub tool: String,
    /// `None`: any arguments; else only calls with this argument digest.
    pub args_digest: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub approval_id: String,
}

pub(crate) fn approval_from_row(row: &AnyRow) -> Result<Approval> {
    let status: String = row.try_get("status")?;
    let args: String = row.try_get("arguments")?;
    Ok(Approval {
        id: row.try_get("id")?,
        status: ApprovalStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("approval status {status}")))?,
        agent: row.try_get("agent")?,
        owner: row.try_get("owner")?,
        team: row.try_get("team")?,
        tool: row.try_get("tool")?,
        arguments: serde_json::from_str(&args).map_err(|e| StoreError::Corrupt(format!("approval arguments: {e}")))?,
        args_digest: row.try_get("args_digest")?,
        tier: row.try_get("tier")?,
        rule: row.try_get("rule")?,
        reason: row.try_get("reason")?,
        approvers: row.try_get("approvers")?,
        trace_id: row.try_get("trace_id")?,
        entry: row.try_get("entry")?,
        session_id: row.try_get("session_id")?,
        created_at: Timestamp(row.try_get("created_at")?),
        expires_at: Timestamp(row.try_get("expires_at")?),
        decided_by: row.try_get("decided_by")?,
        decided_at: row.try_get::<Option<i64>, _>("decided_at")?.map(Timestamp),
        comment: row.try_get("comment")?,
        holder: row.try_get("holder")?,
        outcome: row.try_get("outcome")?,
    })
}

fn grant_from_row(row: &AnyRow) -> Result<Grant> {
    Ok(Grant {
        id: row.try_get("id")?,
        agent: row.try_get("agent")?,
        tool: row.try_get("tool")?,
        args_digest: row.try_get("args_digest")?,
        created_by: row.try_get("created_by")?,
        created_at: Timestamp(row.try_get("created_at")?),
        expires_at: Timestamp(row.try_get("expires_at")?),
        approval_id: row.try_get("approval_id")?,
    })
}

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS approvals (id TEXT PRIMARY KEY, status TEXT NOT NULL, agent TEXT NOT NULL, \
     owner TEXT NOT NULL, team TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL, args_digest TEXT NOT NULL, \
     tier TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL, approvers TEXT, trace_id TEXT NOT NULL, \
     entry TEXT NOT NULL, session_id TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, decided_by TEXT, \
     decided_at BIGINT, comment TEXT, holder TEXT NOT NULL, outcome TEXT)",
    "CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, created_at)",
    "CREATE TABLE IF NOT EXISTS grants (id TEXT PRIMARY KEY, agent TEXT NOT NULL, tool TEXT NOT NULL, args_digest TEXT, \
     created_by TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, approval_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS grants_agent_tool ON grants (agent, tool, expires_at)",
    "CREATE TABLE IF NOT EXISTS replicas (id TEXT PRIMARY KEY, seen_at BIGINT NOT NULL)",
];

impl Store {
    pub async fn insert_approval(&self, a: &Approval) -> Result<()> {
        sqlx::query(
            "INSERT INTO approvals (id, status, agent, owner, team, tool, arguments, args_digest, tier, rule, reason, \
             approvers, trace_id, entry, session_id, created_at, expires_at, decided_by, decided_at, comment, holder, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, NULL, NULL, $18, NULL)",
        )
        .bind(&a.id)
        .bind(a.status.as_str())
        .bind(&a.agent)
        .bind(&a.owner)
        .bind(&a.team)
        .bind(&a.tool)
        .bind(a.arguments.to_string())
        .bind(&a.args_digest)
        .bind(&a.tier)
        .bind(&a.rule)
        .bind(&a.reason)
        .bind(&a.approvers)
        .bind(&a.trace_id)
        .bind(&a.entry)
        .bind(&a.session_id)
        .bind(a.created_at.0)
        .bind(a.expires_at.0)
        .bind(&a.holder)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn approval(&self, id: &str) -> Result<Option<Approval>> {
        let row = sqlx::query("SELECT * FROM approvals WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(approval_from_row).transpose()
    }

    /// Newest first.
    pub async fn approvals(&self, status: Option<ApprovalStatus>, limit: i64) -> Result<Vec<Approval>> {
        let rows = match status {
            Some(s) => {
                sqlx::query("SELECT * FROM approvals WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2")
                    .bind(s.as_str())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT * FROM approvals ORDER BY created_at DESC, id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(approval_from_row).collect()
    }

    /// Moves a pending approval to `to`, only if it is still pending (and, for
    /// a human decision, not past its deadline). Returns whether it moved.
    pub async fn decide_approval(
        &self,
        id: &str,
        to: ApprovalStatus,
        by: Option<&str>,
        comment: Option<&str>,
        now: Timestamp,
        enforce_deadline: bool,
    ) -> Result<bool> {
        let deadline = if enforce_deadline { now.0 } else { i64::MIN };
        const DECIDE: &str = "UPDATE approvals SET status = $1, decided_by = $2, comment = $3, decided_at = $4 \
             WHERE id = $5 AND status = 'pending' AND expires_at > $6";
        let q = |sql| sqlx::query(sql).bind(to.as_str()).bind(by).bind(comment).bind(now.0).bind(id).bind(deadline);
        match self.backend {
            Backend::Sqlite => {
                Ok(q(sqlx::AssertSqlSafe(DECIDE.to_string())).execute(&self.pool).await?.rows_affected() == 1)
            }
            Backend::Postgres => {
                // The decision and the notification to its holder, in one statement (one transaction).
                let sql =
                    format!("WITH d AS ({DECIDE} RETURNING id) SELECT d.id, pg_notify($7, $8)::text AS sent FROM d");
                let rows = q(sqlx::AssertSqlSafe(sql))
                    .bind(crate::notify::CHANNEL)
                    .bind(crate::notify::approval_payload(id))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.len() == 1)
            }
        }
    }

    /// The current status of each of `ids` that is no longer pending (one
    /// query for many ids; a holder polls its held calls with it).
    pub async fn decided_among(&self, ids: &[String]) -> Result<Vec<(String, ApprovalStatus)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(500) {
            let ph: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            // Safe: only `$n` placeholders are formatted in; the ids are bound.
            let sql =
                format!("SELECT id, status FROM approvals WHERE status <> 'pending' AND id IN ({})", ph.join(", "));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id);
            }
            for row in q.fetch_all(&self.pool).await? {
                let st: String = row.try_get("status")?;
                let st =
                    ApprovalStatus::parse(&st).ok_or_else(|| StoreError::Corrupt(format!("approval status {st}")))?;
                out.push((row.try_get("id")?, st));
            }
        }
        Ok(out)
    }

    /// Records what became of the call after its decision (once).
    pub async fn set_approval_outcome(&self, id: &str, outcome: &str) -> Result<()> {
        sqlx::query("UPDATE approvals SET outcome = $1 WHERE id = $2 AND outcome IS NULL")
            .bind(outcome)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// This replica is alive.
    pub async fn heartbeat(&self, replica: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO replicas (id, seen_at) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(replica)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn replica_seen_at(&self, replica: &str) -> Result<Option<i64>> {
        let row =
            sqlx::query("SELECT seen_at FROM replicas WHERE id = $1").bind(replica).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    /// Every replica that has beaten a heartbeat and not stopped cleanly:
    /// (id, last seen in ms since the epoch), most recently seen first.
    pub async fn replicas(&self) -> Result<Vec<(String, i64)>> {
        let rows =
            sqlx::query("SELECT id, seen_at FROM replicas ORDER BY seen_at DESC, id").fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("seen_at")?))).collect()
    }

    /// Approvals held by replicas not seen since `stale_before_ms` (other than
    /// `me`): pending ones become `interrupted`, and decided ones that were
    /// never delivered get that outcome. Returns how many were touched.
    pub async fn sweep_orphaned_approvals(&self, me: &str, stale_before_ms: i64, now: Timestamp) -> Result<u64> {
        // Only MCP calls are held by a replica; a decision-API approval waits for its agent to ask again.
        let dead = "entry = 'mcp' AND holder <> $1 AND holder NOT IN (SELECT id FROM replicas WHERE seen_at >= $2)";
        let a = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE approvals SET status = 'interrupted', decided_at = $3, \
             outcome = 'gateway restarted before a decision: the call was not executed' \
             WHERE status = 'pending' AND {dead}"
        )))
        .bind(me)
        .bind(stale_before_ms)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        let b = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE approvals SET outcome = 'gateway restarted: the decision was recorded but the call was not executed' \
             WHERE status IN ('approved', 'denied') AND outcome IS NULL AND {dead}"
        )))
        .bind(me)
        .bind(stale_before_ms)
        .execute(&self.pool)
        .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    /// A replica stopping cleanly: the MCP calls it held are reported as not
    /// executed, and its heartbeat is removed so nobody waits for it.
    pub async fn release_replica(&self, me: &str, now: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE approvals SET status = 'interrupted', decided_at = $2, \
             outcome = 'gateway stopped before a decision: the call was not executed' \
             WHERE status = 'pending' AND entry = 'mcp' AND holder = $1",
        )
        .bind(me)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE approvals SET outcome = 'gateway stopped: the decision was recorded but the call was not executed' \
             WHERE status IN ('approved', 'denied') AND outcome IS NULL AND entry = 'mcp' AND holder = $1",
        )
        .bind(me)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM replicas WHERE id = $1").bind(me).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn insert_grant(&self, g: &Grant) -> Result<()> {
        sqlx::query(
            "INSERT INTO grants (id, agent, tool, args_digest, created_by, created_at, expires_at, approval_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&g.id)
        .bind(&g.agent)
        .bind(&g.tool)
        .bind(&g.args_digest)
        .bind(&g.created_by)
        .bind(g.created_at.0)
        .bind(g.expires_at.0)
        .bind(&g.approval_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Unexpired grants for this agent and tool.
    pub async fn grants(&self, agent: &str, tool: &str, now: Timestamp) -> Result<Vec<Grant>> {
        let rows = sqlx::query("SELECT * FROM grants WHERE agent = $1 AND tool = $2 AND expires_at > $3")
            .bind(agent)
            .bind(tool)
            .bind(now.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }
}

impl crate::Write<'_> {
    /// The kill switch: every pending approval of `agent` is cancelled, in the
    /// same transaction as the status change. Returns how many.
    pub async fn cancel_pending_approvals(&mut self, agent: &str, now: Timestamp, outcome: &str) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE approvals SET status = 'cancelled', decided_at = $1, outcome = $2 WHERE agent = $3 AND status = 'pending'",
        )
        .bind(now.0)
        .bind(outcome)
        .bind(agent)
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() > 0 {
            // Their holders, on whatever replica, stop waiting.
            self.note(crate::notify::approval_payload("*"));
        }
        Ok(done.rows_affected())
    }
}
