//! Token buckets, keyed by whatever the caller chooses (agent + tool + rule,
//! agent + tier). Time is passed in, so the arithmetic is testable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use warden_config::LimitSpec;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets that have been full this long are forgotten.
const IDLE: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    /// Takes one token; `Err(retry_after)` when the bucket is empty.
    pub fn take(&self, key: &str, spec: &LimitSpec, now: Instant) -> Result<(), Duration> {
        let cap = f64::from(spec.capacity());
        let per_sec = f64::from(spec.rate.count) / spec.rate.per.as_secs_f64();
        let mut map = self.buckets.lock().unwrap();
        if map.len() > 100_000 {
            map.retain(|_, b| now.saturating_duration_since(b.at) < IDLE);
        }
        let b = map.entry(key.to_string()).or_insert(Bucket { tokens: cap, at: now });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * per_sec).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_config::Rate;

    #[test]
    fn bucket_refills_at_its_rate() {
        let spec = LimitSpec { rate: Rate::parse("2/s").unwrap(), burst: Some(warden_config::Num(3)) };
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.take("a", &spec, t0).is_ok());
        }
        let wait = l.take("a", &spec, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        // Another key has its own bucket.
        assert!(l.take("b", &spec, t0).is_ok());
        assert!(l.take("a", &spec, t0 + Duration::from_millis(500)).is_ok());
        assert!(l.take("a", &spec, t0 + Duration::from_millis(500)).is_err());
        // Refill never exceeds the burst.
        for _ in 0..3 {
            assert!(l.take("a", &spec, t0 + Duration::from_secs(100)).is_ok());
        }
        assert!(l.take("a", &spec, t0 + Duration::from_secs(100)).is_err());
    }
}
