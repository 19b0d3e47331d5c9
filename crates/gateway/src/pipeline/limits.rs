//! Stage 5's rate limits: where the buckets live.
//!
//! On SQLite (one process) the buckets are in memory. On PostgreSQL, where
//! several replicas serve the same agents, they live in the database
//! (`warden_store` `rate_limits`), so a limit is one limit however the load is
//! split: each governed call costs one round trip, and the check-and-take is
//! atomic, so replicas cannot overshoot it. A store error refuses the call:
//! a limit that cannot be checked is not granted.

use std::time::{Duration, Instant};

use warden_config::LimitSpec;
use warden_policy::limits::Limiter;
use warden_store::{Backend, Store};

pub enum Limits {
    Local(Limiter),
    Shared,
}

/// Why a token was not taken.
pub enum Refused {
    /// The bucket is empty; retry after this long.
    Empty(Duration),
    /// The shared buckets could not be read.
    Unavailable(String),
}

impl Limits {
    pub fn for_backend(backend: Backend) -> Limits {
        match backend {
            Backend::Sqlite => Limits::Local(Limiter::default()),
            Backend::Postgres => Limits::Shared,
        }
    }

    /// Takes one token from bucket `key`.
    pub async fn take(&self, store: &Store, key: &str, spec: &LimitSpec) -> Result<(), Refused> {
        match self {
            Limits::Local(l) => l.take(key, spec, Instant::now()).map_err(Refused::Empty),
            Limits::Shared => {
                let interval = spec.rate.per.div_f64(f64::from(spec.rate.count.max(1)));
                match store.take_shared_token(key, interval, spec.capacity()).await {
                    Ok(None) => Ok(()),
                    Ok(Some(wait)) => Err(Refused::Empty(wait)),
                    Err(e) => Err(Refused::Unavailable(e.to_string())),
                }
            }
        }
    }
}

/// Every 10 minutes, forgets shared buckets that have been full for an hour
/// (one row per rule × agent × tool that was ever limited).
pub async fn prune(gw: std::sync::Arc<crate::Gateway>) {
    if !matches!(gw.rate_limits, Limits::Shared) {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        if let Err(e) = gw.store.prune_shared_tokens().await {
            tracing::warn!(error = %e, "could not prune the shared rate-limit buckets");
        }
    }
}
