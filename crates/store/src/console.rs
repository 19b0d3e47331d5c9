//! The web console's server-side state: signed-in sessions (any replica can
//! serve any session) and sign-ins in flight (the OpenID Connect `state`,
//! `nonce` and PKCE verifier between the redirect to the IdP and its return).
//! Both are keyed by the SHA-256 of a random value only the browser holds, so
//! a copy of the store does not hand out live sessions.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::approvals::approval_from_row;
use crate::{Approval, ApprovalStatus, Result, Store, StoreError};

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS console_sessions (id_sha256 TEXT PRIMARY KEY, principal TEXT NOT NULL, \
     csrf TEXT NOT NULL, created_at BIGINT NOT NULL, last_seen BIGINT NOT NULL, expires_at BIGINT NOT NULL, \
     idp_sid TEXT, idp_subject TEXT, id_token TEXT)",
    "CREATE INDEX IF NOT EXISTS console_sessions_sid ON console_sessions (idp_sid)",
    "CREATE INDEX IF NOT EXISTS console_sessions_subject ON console_sessions (idp_subject)",
    "CREATE TABLE IF NOT EXISTS console_logins (id_sha256 TEXT PRIMARY KEY, pending TEXT NOT NULL, \
     created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS approvals_team ON approvals (team, status, created_at)",
];

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleSession {
    pub id_sha256: String,
    /// The principal, as JSON (the gateway owns its shape).
    pub principal: Value,
    pub csrf: String,
    pub created_at_ms: i64,
    pub last_seen_ms: i64,
    /// Absolute end (sign-in + `session_max_secs`).
    pub expires_at_ms: i64,
    /// The IdP's session id (`sid`) and subject, for back-channel logout.
    pub idp_sid: Option<String>,
    pub idp_subject: Option<String>,
    /// For RP-initiated logout (`id_token_hint`).
    pub id_token: Option<String>,
}

fn session_from_row(row: &AnyRow) -> Result<ConsoleSession> {
    let p: String = row.try_get("principal")?;
    Ok(ConsoleSession {
        id_sha256: row.try_get("id_sha256")?,
        principal: serde_json::from_str(&p).map_err(|e| StoreError::Corrupt(format!("console session: {e}")))?,
        csrf: row.try_get("csrf")?,
        created_at_ms: row.try_get("created_at")?,
        last_seen_ms: row.try_get("last_seen")?,
        expires_at_ms: row.try_get("expires_at")?,
        idp_sid: row.try_get("idp_sid")?,
        idp_subject: row.try_get("idp_subject")?,
        id_token: row.try_get("id_token")?,
    })
}

/// Which approvals a console page lists.
#[derive(Debug, Clone, Default)]
pub struct ApprovalFilter {
    /// Empty: every status.
    pub statuses: Vec<ApprovalStatus>,
    pub team: Option<String>,
    pub tier: Option<String>,
    pub agent: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// Distinct values of the filterable columns among the approvals a filter's statuses select.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ApprovalFacets {
    pub teams: Vec<String>,
    pub tiers: Vec<String>,
    pub agents: Vec<String>,
}

impl Store {
    pub async fn insert_console_session(&self, s: &ConsoleSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions (id_sha256, principal, csrf, created_at, last_seen, expires_at, idp_sid, \
             idp_subject, id_token) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id_sha256)
        .bind(s.principal.to_string())
        .bind(&s.csrf)
        .bind(s.created_at_ms)
        .bind(s.last_seen_ms)
        .bind(s.expires_at_ms)
        .bind(&s.idp_sid)
        .bind(&s.idp_subject)
        .bind(&s.id_token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The session, if it exists and is neither idle past `idle_ms` nor past its absolute end.
    pub async fn console_session(&self, id_sha256: &str, now_ms: i64, idle_ms: i64) -> Result<Option<ConsoleSession>> {
        let row =
            sqlx::query("SELECT * FROM console_sessions WHERE id_sha256 = $1 AND expires_at > $2 AND last_seen > $3")
                .bind(id_sha256)
                .bind(now_ms)
                .bind(now_ms - idle_ms)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Marks the session used now.
    pub async fn touch_console_session(&self, id_sha256: &str, now_ms: i64) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET last_seen = $1 WHERE id_sha256 = $2 AND last_seen < $1")
            .bind(now_ms)
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends one session. True when it existed.
    pub async fn delete_console_session(&self, id_sha256: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM console_sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Back-channel logout: ends the sessions of an IdP session (`sid`), or of
    /// a subject when no `sid` is given. Returns how many ended.
    pub async fn delete_console_sessions_of(&self, sid: Option<&str>, subject: Option<&str>) -> Result<u64> {
        let r = match (sid, subject) {
            (Some(sid), _) => {
                sqlx::query("DELETE FROM console_sessions WHERE idp_sid = $1").bind(sid).execute(&self.pool).await?
            }
            (None, Some(sub)) => {
                sqlx::query("DELETE FROM console_sessions WHERE idp_subject = $1").bind(sub).execute(&self.pool).await?
            }
            (None, None) => return Ok(0),
        };
        Ok(r.rows_affected())
    }

    /// Deletes sessions past their end or idle past `idle_ms`, and sign-ins older than `login_ttl_ms`.
    pub async fn prune_console(&self, now_ms: i64, idle_ms: i64, login_ttl_ms: i64) -> Result<u64> {
        let a = sqlx::query("DELETE FROM console_sessions WHERE expires_at <= $1 OR last_seen <= $2")
            .bind(now_ms)
            .bind(now_ms - idle_ms)
            .execute(&self.pool)
            .await?;
        let b = sqlx::query("DELETE FROM console_logins WHERE created_at <= $1")
            .bind(now_ms - login_ttl_ms)
            .execute(&self.pool)
            .await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    /// A sign-in in flight.
    pub async fn insert_console_login(&self, id_sha256: &str, pending: &Value, now_ms: i64) -> Result<()> {
        sqlx::query("INSERT INTO console_logins (id_sha256, pending, created_at) VALUES ($1, $2, $3)")
            .bind(id_sha256)
            .bind(pending.to_string())
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes (reads and deletes, once) a sign-in in flight younger than `ttl_ms`.
    /// A second take of the same id finds nothing: a replayed callback fails.
    pub async fn take_console_login(&self, id_sha256: &str, now_ms: i64, ttl_ms: i64) -> Result<Option<Value>> {
        let row = sqlx::query("DELETE FROM console_logins WHERE id_sha256 = $1 RETURNING pending, created_at")
            .bind(id_sha256)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let created: i64 = row.try_get("created_at")?;
        if created <= now_ms - ttl_ms {
            return Ok(None);
        }
        let p: String = row.try_get("pending")?;
        Ok(Some(serde_json::from_str(&p).map_err(|e| StoreError::Corrupt(format!("console login: {e}")))?))
    }

    /// One page of approvals (newest first) and how many match in all.
    pub async fn approvals_page(&self, f: &ApprovalFilter) -> Result<(Vec<Approval>, i64)> {
        let (clause, binds) = approval_where(f);
        // Safe: the clause holds only fixed column names and `$n` placeholders; limit and offset are integers.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM approvals{clause} ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
            f.limit.clamp(1, 1000),
            f.offset.max(0)
        )));
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut c = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM approvals{clause}")));
        for b in &binds {
            c = c.bind(b);
        }
        let total: i64 = c.fetch_one(&self.pool).await?.try_get("n")?;
        Ok((rows.iter().map(approval_from_row).collect::<Result<_>>()?, total))
    }

    /// The teams, tiers and agents among approvals with these statuses (all when empty).
    pub async fn approval_facets(&self, statuses: &[ApprovalStatus]) -> Result<ApprovalFacets> {
        let f = ApprovalFilter { statuses: statuses.to_vec(), ..Default::default() };
        let (clause, binds) = approval_where(&f);
        let mut out = ApprovalFacets::default();
        for (col, into) in [("team", &mut out.teams), ("tier", &mut out.tiers), ("agent", &mut out.agents)] {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT DISTINCT {col} AS v FROM approvals{clause} ORDER BY {col} LIMIT 500"
            )));
            for b in &binds {
                q = q.bind(b);
            }
            for r in q.fetch_all(&self.pool).await? {
                into.push(r.try_get("v")?);
            }
        }
        Ok(out)
    }
}

/// ` WHERE …` with `$n` placeholders, and the values to bind in order.
fn approval_where(f: &ApprovalFilter) -> (String, Vec<String>) {
    let mut parts = Vec::new();
    let mut binds = Vec::new();
    if !f.statuses.is_empty() {
        let mut ph = Vec::new();
        for s in &f.statuses {
            binds.push(s.as_str().to_string());
            ph.push(format!("${}", binds.len()));
        }
        parts.push(format!("status IN ({})", ph.join(", ")));
    }
    for (col, v) in [("team", &f.team), ("tier", &f.tier), ("agent", &f.agent)] {
        if let Some(v) = v {
            binds.push(v.clone());
            parts.push(format!("{col} = ${}", binds.len()));
        }
    }
    let clause = if parts.is_empty() { String::new() } else { format!(" WHERE {}", parts.join(" AND ")) };
    (clause, binds)
}
