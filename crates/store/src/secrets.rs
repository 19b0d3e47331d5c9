//! Warden's own secret store: envelope-encrypted values (see
//! `warden_secrets::envelope`), never plaintext, with a version and the times
//! it was created and last rotated.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use warden_secrets::SealedSecret;
use warden_secrets::envelope::CHECK_NAME;

use crate::{Result, Store, StoreError};

pub(crate) const MIGRATIONS: &[&str] =
    &["CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, version BIGINT NOT NULL, kek_id TEXT NOT NULL, \
     wrapped_dek TEXT NOT NULL, ciphertext TEXT NOT NULL, created_at BIGINT NOT NULL, rotated_at BIGINT NOT NULL)"];

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
