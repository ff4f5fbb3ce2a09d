//! Per-principal token buckets: how often one client may ask for something costly (a new key
//! pair and certificate, a CSR signed). Time is passed in, so the arithmetic is tested without
//! a clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// A rate and a burst: `per_second` requests refill continuously, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
}

impl RateLimit {
    /// The default for fleet provisioning's certificate requests: 10/s, bursts of 20 (the
    /// reference gives no AWS rate for these topics).
    pub const FLEET_PROVISIONING: Self = Self {
        per_second: 10.0,
        burst: 20.0,
    };
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets by principal. Full buckets are forgotten when the map grows, so idle principals
/// cost nothing for long.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// Past this many principals, buckets that have refilled are dropped.
const PRUNE_AT: usize = 10_000;

impl RateLimiter {
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            buckets: Mutex::default(),
        }
    }

    /// Takes one token of `principal`'s bucket at `now`; false when it is empty.
    pub fn try_acquire(&self, principal: &str, now: Instant) -> bool {
        let RateLimit { per_second, burst } = self.limit;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * per_second < burst
            });
        }
        let bucket = buckets.entry(principal.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * per_second;
        bucket.tokens = (bucket.tokens + refill).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_principal_gets_its_burst_then_the_rate_and_others_are_unaffected() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 10.0,
            burst: 20.0,
        });
        let t0 = Instant::now();
        assert_eq!((0..25).filter(|_| limiter.try_acquire("a", t0)).count(), 20);
        assert!(
            limiter.try_acquire("b", t0),
            "another principal has its own bucket"
        );
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            (0..10).filter(|_| limiter.try_acquire("a", later)).count(),
            5
        );
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(
            (0..30)
                .filter(|_| limiter.try_acquire("a", much_later))
                .count(),
            20
        );
    }
}
