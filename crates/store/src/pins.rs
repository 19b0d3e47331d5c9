//! Tool pins: the definitions of upstream tools, prompts and resources that
//! an admin (or trust on first use) approved, by content hash, shared by
//! every replica. A definition whose hash is not approved is quarantined by
//! the gateway (hidden, refused) until an admin approves or rejects it.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use warden_core::time::Timestamp;

use crate::{Result, Store, StoreError, Write};

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS tool_pins (upstream TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, \
     hash TEXT NOT NULL, definition TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, \
     first_seen BIGINT NOT NULL, decided_by TEXT, decided_at BIGINT, PRIMARY KEY (upstream, kind, name, hash))",
    "CREATE INDEX IF NOT EXISTS tool_pins_status ON tool_pins (status, first_seen)",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinStatus {
    /// Served.
    Approved,
    /// Quarantined until an admin decides.
    Pending,
    /// Quarantined for good (until its definition changes again).
    Rejected,
}

impl PinStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PinStatus::Approved => "approved",
            PinStatus::Pending => "pending",
            PinStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<PinStatus> {
        [PinStatus::Approved, PinStatus::Pending, PinStatus::Rejected].into_iter().find(|x| x.as_str() == s)
    }
}

/// One version of one definition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pin {
    pub upstream: String,
    /// `tool`, `prompt`, `resource`, `template`.
    pub kind: String,
    pub name: String,
    pub hash: String,
    /// The definition as the upstream sent it (JSON).
    pub definition: serde_json::Value,
    pub status: PinStatus,
    /// Why it is quarantined (`changed since the approved version`, `first version (strict pinning)`,
    /// `screened: …`), or how it was approved (`first seen`).
    pub reason: String,
    pub first_seen: Timestamp,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
}

fn pin_from_row(r: &AnyRow) -> Result<Pin> {
    let status: String = r.try_get("status")?;
    let def: String = r.try_get("definition")?;
    Ok(Pin {
        upstream: r.try_get("upstream")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        hash: r.try_get("hash")?,
        definition: serde_json::from_str(&def).map_err(|e| StoreError::Corrupt(format!("pin definition: {e}")))?,
        status: PinStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("pin status {status}")))?,
        reason: r.try_get("reason")?,
        first_seen: Timestamp(r.try_get("first_seen")?),
        decided_by: r.try_get("decided_by")?,
        decided_at: r.try_get::<Option<i64>, _>("decided_at")?.map(Timestamp),
    })
}

impl Store {
    /// Records a definition seen on an upstream, if this version is new:
    /// `first` is its status when no version of it was ever recorded
    /// (approved on first use, or pending under strict pinning), `changed`
    /// when another version was. Returns the version's status now (a
    /// replica that saw it first, or an admin, may have decided it). A `p`
    /// whose own `status` is pending (with its `reason`) was flagged by the
    /// caller's screening: it is recorded pending whatever `first` says.
    pub async fn observe_pin(
        &self,
        p: &Pin,
        first: (PinStatus, &str),
        changed: (PinStatus, &str),
    ) -> Result<PinStatus> {
        if let Some(s) = self.pin_status(p).await? {
            return Ok(s);
        }
        let others: i64 = sqlx::query("SELECT COUNT(*) FROM tool_pins WHERE upstream = $1 AND kind = $2 AND name = $3")
            .bind(&p.upstream)
            .bind(&p.kind)
            .bind(&p.name)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let (status, reason) = if others == 0 { first } else { changed };
        let status = if p.status == PinStatus::Pending { PinStatus::Pending } else { status };
        let reason = if p.status == PinStatus::Pending && !p.reason.is_empty() { p.reason.as_str() } else { reason };
        sqlx::query(
            "INSERT INTO tool_pins (upstream, kind, name, hash, definition, status, reason, first_seen) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (upstream, kind, name, hash) DO NOTHING",
        )
        .bind(&p.upstream)
        .bind(&p.kind)
        .bind(&p.name)
        .bind(&p.hash)
        .bind(p.definition.to_string())
        .bind(status.as_str())
        .bind(reason)
        .bind(p.first_seen.0)
        .execute(&self.pool)
        .await?;
        // A replica that raced this insert may have recorded the version first: its status stands.
        self.pin_status(p).await?.ok_or_else(|| StoreError::Corrupt(format!("pin {} vanished", p.hash)))
    }

    /// The status of `p`'s version, if recorded.
    async fn pin_status(&self, p: &Pin) -> Result<Option<PinStatus>> {
        let row =
            sqlx::query("SELECT status FROM tool_pins WHERE upstream = $1 AND kind = $2 AND name = $3 AND hash = $4")
                .bind(&p.upstream)
                .bind(&p.kind)
                .bind(&p.name)
                .bind(&p.hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            let s: String = r.try_get(0)?;
            PinStatus::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("pin status {s}")))
        })
        .transpose()
    }

    /// Every pin (optionally of one status), newest first.
    pub async fn pins(&self, status: Option<PinStatus>) -> Result<Vec<Pin>> {
        let rows = match status {
            Some(s) => {
                sqlx::query("SELECT * FROM tool_pins WHERE status = $1 ORDER BY first_seen DESC, name")
                    .bind(s.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query("SELECT * FROM tool_pins ORDER BY first_seen DESC, name").fetch_all(&self.pool).await?,
        };
        rows.iter().map(pin_from_row).collect()
    }

    /// Every version of one definition, newest first.
    pub async fn pin_versions(&self, upstream: &str, kind: &str, name: &str) -> Result<Vec<Pin>> {
        let rows = sqlx::query(
            "SELECT * FROM tool_pins WHERE upstream = $1 AND kind = $2 AND name = $3 ORDER BY first_seen DESC",
        )
        .bind(upstream)
        .bind(kind)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(pin_from_row).collect()
    }

    /// Statuses of every pin of one upstream: (kind, name, hash) → status.
    pub async fn pin_statuses(&self) -> Result<Vec<(String, String, String, String, PinStatus)>> {
        let rows =
            sqlx::query("SELECT upstream, kind, name, hash, status FROM tool_pins").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("status")?;
                Ok((
                    r.try_get("upstream")?,
                    r.try_get("kind")?,
                    r.try_get("name")?,
                    r.try_get("hash")?,
                    PinStatus::parse(&s).ok_or_else(|| StoreError::Corrupt(format!("pin status {s}")))?,
                ))
            })
            .collect()
    }
}

impl Write<'_> {
    /// Approves or rejects one version (upstream, kind, name, hash); true when it moved.
    /// Committed with an inventory bump, so every replica re-reads the pins.
    pub async fn decide_pin(
        &mut self,
        (upstream, kind, name, hash): (&str, &str, &str, &str),
        to: PinStatus,
        by: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE tool_pins SET status = $1, decided_by = $2, decided_at = $3 \
             WHERE upstream = $4 AND kind = $5 AND name = $6 AND hash = $7 AND status <> $1",
        )
        .bind(to.as_str())
        .bind(by)
        .bind(now.0)
        .bind(upstream)
        .bind(kind)
        .bind(name)
        .bind(hash)
        .execute(&mut *self.tx)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
