//! Rate-limit buckets that replicas share, for PostgreSQL.
//!
//! Each key is one GCRA cell: `tat`, the theoretical arrival time in
//! microseconds on the **database's** clock (so replicas' clock skew does not
//! matter). A call is let through when `max(tat, now) + T <= now + τ`, where
//! `T` is the emission interval (one token's refill time) and `τ = capacity × T`
//! the burst tolerance — the same bucket as the in-memory limiter's (capacity
//! tokens, refilled at the rate). The check and the update are one statement
//! on one row, so replicas serialise on the row lock: the limit holds across
//! any number of replicas with no overshoot, at the cost of one round trip per
//! call that a limit governs. Calls no limit governs never come here.

use std::time::Duration;

use sqlx::Row;

use crate::{Result, Store};

pub(crate) const MIGRATIONS: &[&str] =
    &["CREATE TABLE IF NOT EXISTS rate_limits (key TEXT PRIMARY KEY, tat BIGINT NOT NULL)"];

/// Microseconds since the epoch, on the database server's clock.
macro_rules! now_us {
    () => {
        "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
    };
}

/// Takes a token or leaves the row alone (`EXCLUDED.tat` is now + T: what a
/// fresh key starts at, so now = `EXCLUDED.tat - T`).
const TAKE: &str = concat!(
    "INSERT INTO rate_limits AS r (key, tat) VALUES ($1, ",
    now_us!(),
    " + $2) ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, EXCLUDED.tat - $2) + $2 \
     WHERE GREATEST(r.tat, EXCLUDED.tat - $2) + $2 <= EXCLUDED.tat - $2 + $3 RETURNING tat"
);
const AHEAD: &str = concat!("SELECT tat - ", now_us!(), " FROM rate_limits WHERE key = $1");
const PRUNE: &str = concat!("DELETE FROM rate_limits WHERE tat < ", now_us!(), " - 3600000000");

impl Store {
    /// Takes one token from the shared bucket `key` with capacity `capacity`,
    /// refilled one token per `interval`. `Ok(None)`: taken. `Ok(Some(wait))`:
    /// the bucket is empty; a token is there after `wait`. PostgreSQL only.
    pub async fn take_shared_token(&self, key: &str, interval: Duration, capacity: u32) -> Result<Option<Duration>> {
        let t = (interval.as_micros() as i64).max(1);
        let tau = t.saturating_mul(i64::from(capacity.max(1)));
        let taken = sqlx::query(TAKE).bind(key).bind(t).bind(tau).fetch_optional(&self.pool).await?;
        if taken.is_some() {
            return Ok(None);
        }
        let row = sqlx::query(AHEAD).bind(key).fetch_optional(&self.pool).await?;
        // The next token: when max(tat, now) + T - τ reaches now.
        let ahead: i64 = match row {
            Some(r) => r.try_get(0)?,
            None => 0,
        };
        let wait = ahead.max(0) + t - tau;
        Ok(Some(Duration::from_micros(wait.max(1) as u64)))
    }

    /// Forgets buckets that have been full for an hour.
    pub async fn prune_shared_tokens(&self) -> Result<u64> {
        let r = sqlx::query(PRUNE).execute(&self.pool).await?;
        Ok(r.rows_affected())
    }
}
