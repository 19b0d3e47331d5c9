//! Warden's own secret store: envelope-encrypted values (see
//! `warden_secrets::envelope`), never plaintext, with a version and the times
//! it was created and last rotated.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use warden_secrets::SealedSecret;
use warden_secrets::envelope::CHECK_NAME;

use crate::{Result, Store, StoreError};

pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, version BIGINT NOT NULL, kek_id TEXT NOT NULL, \
     wrapped_dek TEXT NOT NULL, ciphertext TEXT NOT NULL, created_at BIGINT NOT NULL, rotated_at BIGINT NOT NULL)",
    // Which agents used which credential (by reference), how often and when last.
    "CREATE TABLE IF NOT EXISTS credential_usage (reference TEXT NOT NULL, agent TEXT NOT NULL, \
     uses BIGINT NOT NULL, first_used_at BIGINT NOT NULL, last_used_at BIGINT NOT NULL, detached_at BIGINT, \
     PRIMARY KEY (reference, agent))",
    // When each credential's value was first seen and last changed (a rotation).
    "CREATE TABLE IF NOT EXISTS credential_values (reference TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, \
     first_seen_at BIGINT NOT NULL, changed_at BIGINT NOT NULL)",
];

/// One agent's use of one credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialUse {
    pub reference: String,
    pub agent: String,
    pub uses: i64,
    pub first_used_at_ms: i64,
    pub last_used_at_ms: i64,
    /// Set when the agent was offboarded: the credential no longer serves it.
    pub detached_at_ms: Option<i64>,
}

/// When a credential's value was first seen, and last seen to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialValue {
    pub reference: String,
    pub first_seen_at_ms: i64,
    pub changed_at_ms: i64,
}

fn use_from_row(row: &AnyRow) -> Result<CredentialUse> {
    Ok(CredentialUse {
        reference: row.try_get("reference")?,
        agent: row.try_get("agent")?,
        uses: row.try_get("uses")?,
        first_used_at_ms: row.try_get("first_used_at")?,
        last_used_at_ms: row.try_get("last_used_at")?,
        detached_at_ms: row.try_get("detached_at")?,
    })
}

/// A stored secret's metadata (never its value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretMeta {
    pub name: String,
    pub version: i64,
    pub kek_id: String,
    pub created_at_ms: i64,
    pub rotated_at_ms: i64,
}

fn meta_from_row(row: &AnyRow) -> Result<SecretMeta> {
    Ok(SecretMeta {
        name: row.try_get("name")?,
        version: row.try_get("version")?,
        kek_id: row.try_get("kek_id")?,
        created_at_ms: row.try_get("created_at")?,
        rotated_at_ms: row.try_get("rotated_at")?,
    })
}

fn sealed_from_row(row: &AnyRow) -> Result<SealedSecret> {
    Ok(SealedSecret {
        kek_id: row.try_get("kek_id")?,
        wrapped_dek: row.try_get("wrapped_dek")?,
        ciphertext: row.try_get("ciphertext")?,
    })
}

impl Store {
    /// The sealed value of `name`, if stored.
    pub async fn secret_sealed(&self, name: &str) -> Result<Option<SealedSecret>> {
        let row = sqlx::query("SELECT * FROM secrets WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(sealed_from_row).transpose()
    }

    /// Stores `name` (version 1) or replaces its value (a rotation: version + 1).
    /// Returns the new version.
    pub async fn secret_put(&self, name: &str, sealed: &SealedSecret, now_ms: i64) -> Result<i64> {
        let mut w = self.write().await?;
        let version: Option<i64> = sqlx::query("SELECT version FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *w.tx)
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        let v = version.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO secrets (name, version, kek_id, wrapped_dek, ciphertext, created_at, rotated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (name) DO UPDATE SET version = $2, kek_id = $3, \
             wrapped_dek = $4, ciphertext = $5, rotated_at = $6",
        )
        .bind(name)
        .bind(v)
        .bind(&sealed.kek_id)
        .bind(&sealed.wrapped_dek)
        .bind(&sealed.ciphertext)
        .bind(now_ms)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(v)
    }

    /// Every stored secret's metadata, by name (the master-key check excluded).
    pub async fn secret_list(&self) -> Result<Vec<SecretMeta>> {
        let rows = sqlx::query("SELECT * FROM secrets WHERE name <> $1 ORDER BY name")
            .bind(CHECK_NAME)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(meta_from_row).collect()
    }

    pub async fn secret_delete(&self, name: &str) -> Result<bool> {
        let mut w = self.write().await?;
        let n =
            sqlx::query("DELETE FROM secrets WHERE name = $1").bind(name).execute(&mut *w.tx).await?.rows_affected();
        w.commit().await?;
        Ok(n > 0)
    }

    /// Adds uses: (reference, agent, uses, last used at ms), in one transaction.
    pub async fn credential_usage_add(&self, rows: &[(String, String, i64, i64)]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut w = self.write().await?;
        for (reference, agent, uses, at) in rows {
            sqlx::query(
                "INSERT INTO credential_usage (reference, agent, uses, first_used_at, last_used_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (reference, agent) DO UPDATE SET \
                 uses = credential_usage.uses + $3, last_used_at = $4",
            )
            .bind(reference)
            .bind(agent)
            .bind(*uses)
            .bind(*at)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit_quiet().await
    }

    /// Every credential use, by reference then agent.
    pub async fn credential_usage(&self) -> Result<Vec<CredentialUse>> {
        let rows =
            sqlx::query("SELECT * FROM credential_usage ORDER BY reference, agent").fetch_all(&self.pool).await?;
        rows.iter().map(use_from_row).collect()
    }

    /// Notes a credential's current value by fingerprint; a new fingerprint is
    /// a rotation. Returns when the value last changed.
    pub async fn credential_value_seen(&self, reference: &str, fingerprint: &str, now_ms: i64) -> Result<i64> {
        let mut w = self.write().await?;
        sqlx::query(
            "INSERT INTO credential_values (reference, fingerprint, first_seen_at, changed_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (reference) DO UPDATE SET changed_at = $3, fingerprint = $2 \
             WHERE credential_values.fingerprint <> $2",
        )
        .bind(reference)
        .bind(fingerprint)
        .bind(now_ms)
        .execute(&mut *w.tx)
        .await?;
        let at: i64 = sqlx::query("SELECT changed_at FROM credential_values WHERE reference = $1")
            .bind(reference)
            .fetch_one(&mut *w.tx)
            .await?
            .try_get(0)?;
        w.commit_quiet().await?;
        Ok(at)
    }

    pub async fn credential_values(&self) -> Result<Vec<CredentialValue>> {
        let rows = sqlx::query("SELECT * FROM credential_values ORDER BY reference").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(CredentialValue {
                    reference: r.try_get("reference")?,
                    first_seen_at_ms: r.try_get("first_seen_at")?,
                    changed_at_ms: r.try_get("changed_at")?,
                })
            })
            .collect()
    }

    /// Marks every credential `agent` used as detached from it; returns them
    /// (with the other agents still attached, by reference).
    pub async fn credential_detach(&self, agent: &str, now_ms: i64) -> Result<Vec<CredentialUse>> {
        let mut w = self.write().await?;
        sqlx::query("UPDATE credential_usage SET detached_at = $1 WHERE agent = $2 AND detached_at IS NULL")
            .bind(now_ms)
            .bind(agent)
            .execute(&mut *w.tx)
            .await?;
        let rows = sqlx::query("SELECT * FROM credential_usage WHERE agent = $1 ORDER BY reference")
            .bind(agent)
            .fetch_all(&mut *w.tx)
            .await?;
        w.commit_quiet().await?;
        rows.iter().map(use_from_row).collect()
    }

    /// Rewraps every stored data key (the check value included) in one
    /// transaction: all secrets move to the new master key, or none does.
    pub async fn secret_rewrap_all(
        &self,
        rewrap: impl Fn(&str, &SealedSecret) -> std::result::Result<SealedSecret, String>,
    ) -> Result<usize> {
        let mut w = self.write().await?;
        let rows = sqlx::query("SELECT * FROM secrets ORDER BY name").fetch_all(&mut *w.tx).await?;
        for row in &rows {
            let name: String = row.try_get("name")?;
            let new = rewrap(&name, &sealed_from_row(row)?).map_err(StoreError::Config)?;
            sqlx::query("UPDATE secrets SET kek_id = $1, wrapped_dek = $2 WHERE name = $3")
                .bind(&new.kek_id)
                .bind(&new.wrapped_dek)
                .bind(&name)
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await?;
        Ok(rows.len())
    }
}
