//! Warden's state behind one interface. SQLite (embedded, the default) and
//! PostgreSQL (several replicas) run the same SQL through sqlx's `Any` driver:
//! text and 64-bit integers only, `$n` placeholders, `ON CONFLICT` upserts.
//!
//! Reads go straight to the pool. Writes go through [`Write`], one database
//! transaction that also holds this process's writer lock, so a read-check-write
//! sequence (uniqueness, the separation rule) is atomic with respect to this
//! process, and unique constraints settle races between replicas. Every write
//! bumps `inventory_version`, which replicas poll to notice changes; on
//! PostgreSQL the same transaction notifies them at once ([`notify`]).
//!
//! The schema is versioned ([`schema`], which also has the rules for writing a
//! migration): opening a store migrates it, and refuses a database that a
//! newer Warden has migrated past [`SCHEMA_VERSION`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row};
use warden_core::inventory::{AgentRecord, SeparationException};
use warden_core::time::Timestamp;

pub mod approvals;
pub mod audit;
mod audit_sqlite;
pub mod console;
mod limits;
pub mod notify;
pub mod pins;
pub mod schema;
pub mod secrets;
pub mod usage;
pub use approvals::{Approval, ApprovalStatus, Grant};
pub use audit::{AuditFilter, AuditHead, ExportError, ExportSummary, StoredRecord, UsageRow};
pub use console::{ApprovalFacets, ApprovalFilter, ConsoleSession};
pub use schema::SCHEMA_VERSION;
pub use secrets::{CredentialUse, CredentialValue, SecretMeta};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Conflict(String),
    #[error("store holds a record it cannot read ({0}); refusing to continue")]
    Corrupt(String),
    #[error("store: {0}")]
    Config(String),
    /// The audit writer's own SQLite connection or thread failed.
    #[error("audit writer: {0}")]
    AuditWriter(String),
    /// A newer Warden has migrated the database past what this binary knows.
    #[error(
        "store: the database's schema is at version {database}, newer than this warden's schema version {binary}; \
         it was upgraded by a newer warden: run that version or a later one (or restore a backup taken before the upgrade)"
    )]
    SchemaTooNew { database: i64, binary: i64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Store {
    pool: AnyPool,
    pub backend: Backend,
    writer: tokio::sync::Mutex<()>,
    /// The database file, for the audit writer's own connection (SQLite only).
    sqlite_file: Option<std::path::PathBuf>,
    /// The URL it was opened with (the change listener opens its own connection).
    url: String,
    notices: Arc<notify::Notices>,
}

/// One change to the inventory: who, when, what and why. `before`/`after` are
/// the full records, so the entry stands on its own as the audit record.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Change {
    pub id: String,
    pub at: Timestamp,
    pub subject: String,
    pub actor: String,
    pub action: String,
    pub reason: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl Change {
    pub fn new(subject: &str, actor: &str, action: &str, reason: &str) -> Change {
        Change {
            id: uuid::Uuid::now_v7().to_string(),
            at: Timestamp::now(),
            subject: subject.to_string(),
            actor: actor.to_string(),
            action: action.to_string(),
            reason: reason.to_string(),
            before: None,
            after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminToken {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Teams whose agents this token may act on (approvals); `*` for all.
    pub teams: Vec<String>,
    /// Approver groups the holder belongs to.
    pub groups: Vec<String>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub alg: String,
    /// PKCS#8 DER of the private key.
    pub private_der: Vec<u8>,
    /// Raw public key bytes.
    pub public: Vec<u8>,
    pub created_at: Timestamp,
    /// When the key stopped signing; it verifies until its last token expires.
    pub retired_at: Option<Timestamp>,
}

/// What to do with an agent's client-secret hash on a write.
pub enum SecretUpdate {
    Keep,
    Set(String),
    Clear,
}

/// The inventory's tables, as of schema version 1 (see [`schema`]).
pub(crate) const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS agents (name TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, record TEXT NOT NULL, \
     secret_hash TEXT, updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS changes (id TEXT PRIMARY KEY, at BIGINT NOT NULL, subject TEXT NOT NULL, \
     actor TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, before_json TEXT, after_json TEXT)",
    "CREATE INDEX IF NOT EXISTS changes_subject ON changes (subject, id)",
    "CREATE TABLE IF NOT EXISTS exceptions (name TEXT PRIMARY KEY, agent TEXT NOT NULL, record TEXT NOT NULL, \
     updated_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS admin_tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, token_sha256 TEXT NOT NULL UNIQUE, \
     role TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL, revoked_at BIGINT)",
    "CREATE TABLE IF NOT EXISTS signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_hex TEXT NOT NULL, \
     public_hex TEXT NOT NULL, created_at BIGINT NOT NULL, retired_at BIGINT)",
    "INSERT INTO meta (key, value) VALUES ('inventory_version', 0) ON CONFLICT (key) DO NOTHING",
];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Result<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return Err(StoreError::Corrupt("odd-length hex".into()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| StoreError::Corrupt("bad hex".into())))
        .collect()
}

fn agent_from_row(row: &AnyRow) -> Result<AgentRecord> {
    let text: String = row.try_get("record")?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("agent record: {e}")))
}

fn exception_from_row(row: &AnyRow) -> Result<SeparationException> {
    let text: String = row.try_get("record")?;
    serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("exception: {e}")))
}

fn change_from_row(row: &AnyRow) -> Result<Change> {
    let json = |col: &str| -> Result<Option<Value>> {
        let s: Option<String> = row.try_get(col)?;
        s.map(|s| serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("change: {e}")))).transpose()
    };
    Ok(Change {
        id: row.try_get("id")?,
        at: Timestamp(row.try_get("at")?),
        subject: row.try_get("subject")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        reason: row.try_get("reason")?,
        before: json("before_json")?,
        after: json("after_json")?,
    })
}

fn admin_from_row(row: &AnyRow) -> Result<AdminToken> {
    Ok(AdminToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        teams: split_list(row.try_get::<Option<String>, _>("teams")?.as_deref().unwrap_or("*")),
        groups: split_list(row.try_get::<Option<String>, _>("groups_list")?.as_deref().unwrap_or("")),
        created_at: Timestamp(row.try_get("created_at")?),
        created_by: row.try_get("created_by")?,
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(Timestamp),
    })
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
}

fn key_from_row(row: &AnyRow) -> Result<SigningKey> {
    Ok(SigningKey {
        kid: row.try_get("kid")?,
        alg: row.try_get("alg")?,
        private_der: unhex(&row.try_get::<String, _>("private_hex")?)?,
        public: unhex(&row.try_get::<String, _>("public_hex")?)?,
        created_at: Timestamp(row.try_get("created_at")?),
        retired_at: row.try_get::<Option<i64>, _>("retired_at")?.map(Timestamp),
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation()
                || d.message().contains("UNIQUE constraint failed")
                || d.code().as_deref() == Some("23505")
        }
        _ => false,
    }
}

impl Store {
    /// Opens (creating if needed) the store at `url` and brings its schema up to date.
    /// `sqlite://PATH` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        Store::open_with(url, schema::STEPS).await
    }

    /// [`Store::open`] with the migration steps given (tests: a future version).
    pub(crate) async fn open_with(url: &str, steps: &[schema::Step]) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported store URL {url:?}: use sqlite://PATH or postgres://..."
            )));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let mut pool = AnyPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // A local file cannot drop the connection: skip the ping (a hop to the
            // connection's thread) on every checkout.
            pool = pool.test_before_acquire(false).after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers (another `warden` process included) run beside the writer;
                    // synchronous=FULL makes a commit durable before it returns.
                    for pragma in
                        ["PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA busy_timeout = 10000"]
                    {
                        sqlx::query(pragma).execute(&mut *conn).await?;
                    }
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(opts).await?;
        let sqlite_file = audit_sqlite::file_of(&url);
        let store = Store {
            pool,
            backend,
            writer: tokio::sync::Mutex::new(()),
            sqlite_file,
            url: url.clone(),
            notices: Arc::default(),
        };
        if let Err(e) = store.migrate_with(steps).await {
            store.pool.close().await;
            return Err(e);
        }
        Ok(store)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A cheap probe for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Increases on every inventory write; replicas poll it.
    pub async fn version(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT value FROM meta WHERE key = 'inventory_version'")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    pub async fn agents(&self) -> Result<Vec<AgentRecord>> {
        let rows = sqlx::query("SELECT record FROM agents ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(agent_from_row).collect()
    }

    pub async fn agent(&self, name: &str) -> Result<Option<AgentRecord>> {
        let row =
            sqlx::query("SELECT record FROM agents WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    /// The argon2 hash of the agent's client secret, if it has one.
    pub async fn secret_hash(&self, name: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT secret_hash FROM agents WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<String>, _>(0)?,
            None => None,
        })
    }

    pub async fn exceptions(&self) -> Result<Vec<SeparationException>> {
        let rows = sqlx::query("SELECT record FROM exceptions ORDER BY name").fetch_all(&self.pool).await?;
        rows.iter().map(exception_from_row).collect()
    }

    /// Changes, oldest first; for one subject when given.
    pub async fn changes(&self, subject: Option<&str>, limit: i64) -> Result<Vec<Change>> {
        let rows = match subject {
            Some(s) => {
                sqlx::query("SELECT * FROM changes WHERE subject = $1 ORDER BY id LIMIT $2")
                    .bind(s)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query("SELECT * FROM changes ORDER BY id LIMIT $1").bind(limit).fetch_all(&self.pool).await?,
        };
        rows.iter().map(change_from_row).collect()
    }

    pub async fn change(&self, id: &str) -> Result<Option<Change>> {
        let row = sqlx::query("SELECT * FROM changes WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(change_from_row).transpose()
    }

    /// The live (unrevoked) admin token with this SHA-256 digest.
    pub async fn admin_token(&self, sha256_hex: &str) -> Result<Option<AdminToken>> {
        let row = sqlx::query("SELECT * FROM admin_tokens WHERE token_sha256 = $1 AND revoked_at IS NULL")
            .bind(sha256_hex)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(admin_from_row).transpose()
    }

    pub async fn admin_tokens(&self) -> Result<Vec<AdminToken>> {
        let rows = sqlx::query("SELECT * FROM admin_tokens ORDER BY created_at, id").fetch_all(&self.pool).await?;
        rows.iter().map(admin_from_row).collect()
    }

    pub async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at, kid").fetch_all(&self.pool).await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Starts a write: one transaction, serialised with this process's other writes.
    pub async fn write(&self) -> Result<Write<'_>> {
        let guard = self.writer.lock().await;
        let tx = self.begin_write().await?;
        Ok(Write { tx, backend: self.backend, notes: Vec::new(), _guard: guard })
    }

    /// A transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`, waiting up to `busy_timeout`): a deferred transaction
    /// that reads first cannot upgrade once another connection has committed.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

/// One atomic write. Dropping it without [`Write::commit`] rolls everything back.
pub struct Write<'a> {
    tx: sqlx::Transaction<'static, Any>,
    backend: Backend,
    /// Change notifications to send with the commit, besides the inventory's (PostgreSQL).
    notes: Vec<String>,
    _guard: tokio::sync::MutexGuard<'a, ()>,
}

impl Write<'_> {
    pub async fn agent(&mut self, name: &str) -> Result<Option<AgentRecord>> {
        let row =
            sqlx::query("SELECT record FROM agents WHERE name = $1").bind(name).fetch_optional(&mut *self.tx).await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    pub async fn exceptions(&mut self) -> Result<Vec<SeparationException>> {
        let rows = sqlx::query("SELECT record FROM exceptions ORDER BY name").fetch_all(&mut *self.tx).await?;
        rows.iter().map(exception_from_row).collect()
    }

    /// Inserts a new agent; a taken name or id is a conflict.
    pub async fn insert_agent(&mut self, rec: &AgentRecord, secret_hash: Option<&str>) -> Result<()> {
        let json = serde_json::to_string(rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let r =
            sqlx::query("INSERT INTO agents (name, id, record, secret_hash, updated_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&rec.spec.name)
                .bind(&rec.id)
                .bind(json)
                .bind(secret_hash)
                .bind(rec.updated_at.0)
                .execute(&mut *self.tx)
                .await;
        match r {
            Err(e) if is_unique_violation(&e) => {
                Err(StoreError::Conflict(format!("agent {:?} already exists", rec.spec.name)))
            }
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    pub async fn update_agent(&mut self, rec: &AgentRecord, secret: SecretUpdate) -> Result<()> {
        let json = serde_json::to_string(rec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = match &secret {
            SecretUpdate::Keep => sqlx::query("UPDATE agents SET record = $1, updated_at = $2 WHERE name = $3"),
            SecretUpdate::Set(_) | SecretUpdate::Clear => {
                sqlx::query("UPDATE agents SET record = $1, updated_at = $2, secret_hash = $4 WHERE name = $3")
            }
        };
        let mut q = q.bind(json).bind(rec.updated_at.0).bind(&rec.spec.name);
        match secret {
            SecretUpdate::Keep => {}
            SecretUpdate::Set(h) => q = q.bind(Some(h)),
            SecretUpdate::Clear => q = q.bind(None::<String>),
        }
        let done = q.execute(&mut *self.tx).await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!("agent {:?} does not exist", rec.spec.name)));
        }
        Ok(())
    }

    pub async fn put_exception(&mut self, ex: &SeparationException) -> Result<()> {
        let json = serde_json::to_string(ex).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO exceptions (name, agent, record, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET agent = excluded.agent, record = excluded.record, updated_at = excluded.updated_at",
        )
        .bind(&ex.name)
        .bind(&ex.agent)
        .bind(json)
        .bind(Timestamp::now().0)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn log(&mut self, c: &Change) -> Result<()> {
        let enc = |v: &Option<Value>| v.as_ref().map(|v| v.to_string());
        sqlx::query(
            "INSERT INTO changes (id, at, subject, actor, action, reason, before_json, after_json) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&c.id)
        .bind(c.at.0)
        .bind(&c.subject)
        .bind(&c.actor)
        .bind(&c.action)
        .bind(&c.reason)
        .bind(enc(&c.before))
        .bind(enc(&c.after))
        .execute(&mut *self.tx)
        .await?;
        // The same change, in the audit chain, in the same transaction.
        let mut rec = warden_audit::Record {
            id: c.id.clone(),
            at: warden_audit::record::format_ms(warden_core::time::now_ms()),
            kind: "inventory".into(),
            entry: "admin".into(),
            agent: c.subject.clone(),
            method: c.action.clone(),
            args: serde_json::json!({"before": c.before, "after": c.after}),
            verdict: "changed".into(),
            reason: c.reason.clone(),
            actor: c.actor.clone(),
            ..Default::default()
        };
        rec.args_sha256 = warden_audit::sha256_hex(warden_audit::canonical_json(&rec.args).as_bytes());
        rec.args = warden_core::redact::redact(&rec.args);
        self.audit(std::slice::from_mut(&mut rec)).await?;
        Ok(())
    }

    pub async fn insert_admin_token(&mut self, t: &AdminToken, sha256_hex: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_tokens (id, name, token_sha256, role, teams, groups_list, created_at, created_by, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(sha256_hex)
        .bind(&t.role)
        .bind(t.teams.join(","))
        .bind(t.groups.join(","))
        .bind(t.created_at.0)
        .bind(&t.created_by)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn revoke_admin_token(&mut self, id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE admin_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(Timestamp::now().0)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_signing_key(&mut self, k: &SigningKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_hex, public_hex, created_at, retired_at) \
             VALUES ($1, $2, $3, $4, $5, NULL)",
        )
        .bind(&k.kid)
        .bind(&k.alg)
        .bind(hex(&k.private_der))
        .bind(hex(&k.public))
        .bind(k.created_at.0)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Marks every signing key except `keep` as retired (now), if not already.
    pub async fn retire_signing_keys_except(&mut self, keep: &str) -> Result<()> {
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE kid <> $2 AND retired_at IS NULL")
            .bind(Timestamp::now().0)
            .bind(keep)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Deletes retired keys whose tokens have all expired.
    pub async fn prune_signing_keys(&mut self, retired_before: Timestamp) -> Result<()> {
        sqlx::query("DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1")
            .bind(retired_before.0)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Commits, bumping the inventory version so other replicas reload. On
    /// PostgreSQL the bump also notifies them (see [`notify`]); the
    /// notification leaves on commit, and not at all on rollback.
    pub async fn commit(mut self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'inventory_version'")
                    .execute(&mut *self.tx)
                    .await?;
            }
            Backend::Postgres => {
                // One round trip: the bump and its notification. (`::text`: `Any` has no `void`.)
                sqlx::query(
                    "WITH v AS (UPDATE meta SET value = value + 1 WHERE key = 'inventory_version' RETURNING value) \
                     SELECT pg_notify($1, 'inventory:' || value)::text FROM v",
                )
                .bind(notify::CHANNEL)
                .execute(&mut *self.tx)
                .await?;
            }
        }
        self.send_notes().await?;
        self.tx.commit().await?;
        Ok(())
    }

    /// Queues a change notification for other replicas, sent if this write commits.
    pub(crate) fn note(&mut self, payload: String) {
        if self.backend == Backend::Postgres && !self.notes.contains(&payload) {
            self.notes.push(payload);
        }
    }

    async fn send_notes(&mut self) -> Result<()> {
        for n in std::mem::take(&mut self.notes) {
            sqlx::query("SELECT pg_notify($1, $2)::text").bind(notify::CHANNEL).bind(n).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Commits a write that changes nothing the inventory shows (usage
    /// counters): other replicas have nothing to reload.
    pub async fn commit_quiet(mut self) -> Result<()> {
        self.send_notes().await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Helpers for test suites that need an isolated PostgreSQL database.
pub mod testing {
    use sqlx::any::AnyPoolOptions;

    /// Creates a new empty database on the server at `base` and returns its URL.
    pub async fn fresh_postgres_db(base: &str) -> String {
        sqlx::any::install_default_drivers();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let pool = AnyPoolOptions::new().max_connections(1).connect(base).await.expect("connect to test PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create database");
        pool.close().await;
        let (prefix, _) = base.rsplit_once('/').expect("URL with a database path");
        format!("{prefix}/{name}")
    }
}

#[cfg(test)]
mod tests;
