//! Per-IP, per-user and per-IP registration limits at the gateway.
//!
//! In one process: token buckets in a bounded cache. With Redis (shared by
//! every gateway): fixed windows of `burst` requests per `burst / rate`
//! seconds, counted in Redis; each gateway takes a small allowance of the
//! window's count at a time (`INCRBY chunk`) and spends it locally, so Redis
//! sees about one round trip per `chunk` requests of a key, not one per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use redis::aio::ConnectionManager;
use rookery_kernel::ApiError;

/// Keys kept per kind of limit; the coldest go first.
const MAX_KEYS: usize = 100_000;
/// At most this share of a window's limit is taken from Redis at a time.
const CHUNK_DIVISOR: u64 = 64;

/// `rate` requests per second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_sec: f64,
    pub burst: f64,
}

impl Rate {
    pub fn per_second(per_sec: f64, burst: f64) -> Self {
        Self {
            per_sec: per_sec.max(f64::MIN_POSITIVE),
            burst: burst.max(1.0),
        }
    }

    pub fn per_hour(count: f64) -> Self {
        Self::per_second(count / 3600.0, count)
    }

    /// `"<per second>"` or `"<per second>/<burst>"`; the burst defaults to twice the rate.
    fn parse(spec: &str) -> Option<Self> {
        let (rate, burst) = match spec.split_once('/') {
            Some((r, b)) => (r.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let r: f64 = spec.trim().parse().ok()?;
                (r, 2.0 * r)
            }
        };
        (rate > 0.0 && burst >= 1.0).then(|| Self::per_second(rate, burst))
    }

    /// Redis window: long enough to refill a whole burst.
    fn window_secs(&self) -> u64 {
        ((self.burst / self.per_sec).ceil() as u64).max(1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Every API request, by client IP.
    pub per_ip: Rate,
    /// Every authenticated API request, by user.
    pub per_user: Rate,
    /// `POST /api/v1/users`, by client IP.
    pub registrations: Rate,
}

impl Default for RateLimitConfig {
    /// Far above what one client needs (API.md: >= 5,000 requests/s and
    /// >= 1,000 registrations/hour), so load tools are never throttled.
    fn default() -> Self {
        Self {
            per_ip: Rate::per_second(100_000.0, 200_000.0),
            per_user: Rate::per_second(100_000.0, 200_000.0),
            registrations: Rate::per_hour(10_000.0),
        }
    }
}

impl RateLimitConfig {
    /// `ROOKERY_RATE_PER_IP`, `ROOKERY_RATE_PER_USER` (`rate[/burst]` per
    /// second) and `ROOKERY_REGISTRATIONS_PER_HOUR`; unparsable values keep the default.
    pub fn from_env() -> Self {
        let d = Self::default();
        let rate = |var, default| {
            std::env::var(var)
                .ok()
                .and_then(|v| Rate::parse(&v))
                .unwrap_or(default)
        };
        Self {
            per_ip: rate("ROOKERY_RATE_PER_IP", d.per_ip),
            per_user: rate("ROOKERY_RATE_PER_USER", d.per_user),
            registrations: std::env::var("ROOKERY_REGISTRATIONS_PER_HOUR")
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|n| *n >= 1.0)
                .map_or(d.registrations, Rate::per_hour),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Ip,
    User,
    Registration,
}

/// One cache per kind, so lookups borrow the key (`&str`) instead of building
/// one. Bounded: beyond `MAX_KEYS` the coldest keys are forgotten (a forgotten
/// key starts again with a full bucket).
struct PerKind<V>([Cache<V>; 3]);

type Cache<V> = quick_cache::sync::Cache<String, Arc<V>>;

impl<V> PerKind<V> {
    fn new() -> Self {
        Self(std::array::from_fn(|_| {
            quick_cache::sync::Cache::new(MAX_KEYS)
        }))
    }

    fn get_or(&self, kind: Kind, key: &str, init: impl FnOnce() -> V) -> Arc<V> {
        let cache = &self.0[kind as usize];
        cache.get(key).unwrap_or_else(|| {
            // Two first requests of a key may each start an entry; one wins. Harmless.
            let fresh = Arc::new(init());
            cache.insert(key.to_string(), fresh.clone());
            fresh
        })
    }
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Ip => "ip",
            Kind::User => "user",
            Kind::Registration => "register",
        }
    }
}

/// A refused request: `429` with `Retry-After` and `X-RateLimit-*`.
#[derive(Debug)]
pub struct Limited {
    pub limit: u64,
    pub retry_after_secs: u64,
    pub reset_secs: u64,
    what: &'static str,
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let mut response = ApiError::too_many(
            self.retry_after_secs,
            format!("too many requests {}; slow down", self.what),
        )
        .into_response();
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(0u64));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_secs));
        response
    }
}

/// A token bucket kept as its theoretical arrival time (GCRA): one atomic,
/// so concurrent requests of one key never wait on a lock.
struct Bucket {
    /// Nanoseconds since the limiter's epoch at which the bucket is full again.
    full_at: AtomicU64,
}

impl Bucket {
    /// Ok, or nanoseconds until one request fits and until the bucket is full.
    fn take(&self, now: u64, rate: Rate) -> Result<(), (u64, u64)> {
        let interval = (1e9 / rate.per_sec) as u64;
        let tolerance = (rate.burst * 1e9 / rate.per_sec) as u64;
        let mut full_at = self.full_at.load(Ordering::Acquire);
        loop {
            let next = full_at.max(now).saturating_add(interval);
            if next > now.saturating_add(tolerance) {
                return Err((next - now - tolerance, full_at.saturating_sub(now)));
            }
            match self.full_at.compare_exchange_weak(
                full_at,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => full_at = actual,
            }
        }
    }
}

/// What a gateway may still admit of one Redis window.
struct Allowance {
    window: u64,
    left: u64,
}

pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: PerKind<Bucket>,
    epoch: Instant,
    shared: Option<Shared>,
}

struct Shared {
    redis: ConnectionManager,
    prefix: String,
    allowances: PerKind<Mutex<Allowance>>,
}

impl RateLimiter {
    /// Local buckets, or windows shared through `redis` under `prefix`.
    pub fn new(config: RateLimitConfig, redis: Option<(ConnectionManager, String)>) -> Self {
        Self {
            config,
            buckets: PerKind::new(),
            epoch: Instant::now(),
            shared: redis.map(|(redis, prefix)| Shared {
                redis,
                prefix,
                allowances: PerKind::new(),
            }),
        }
    }

    /// Windows shared with every gateway on the Redis at `url`, keys under `prefix`.
    pub async fn shared(config: RateLimitConfig, url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let redis = ConnectionManager::new(client).await?;
        Ok(Self::new(config, Some((redis, prefix.to_string()))))
    }

    fn rate(&self, kind: Kind) -> Rate {
        match kind {
            Kind::Ip => self.config.per_ip,
            Kind::User => self.config.per_user,
            Kind::Registration => self.config.registrations,
        }
    }

    /// Takes one request of `key`'s allowance, or says how long to wait.
    pub async fn check(&self, kind: Kind, key: &str) -> Result<(), Limited> {
        let rate = self.rate(kind);
        match &self.shared {
            None => self.check_local(kind, key, rate),
            Some(shared) => shared.check(kind, key, rate).await,
        }
    }

    fn check_local(&self, kind: Kind, key: &str, rate: Rate) -> Result<(), Limited> {
        let bucket = self.buckets.get_or(kind, key, || Bucket {
            full_at: AtomicU64::new(0),
        });
        let now = self.epoch.elapsed().as_nanos() as u64;
        bucket.take(now, rate).map_err(|(wait, refill)| Limited {
            limit: rate.burst as u64,
            retry_after_secs: wait.div_ceil(1_000_000_000),
            reset_secs: refill.div_ceil(1_000_000_000),
            what: what(kind),
        })
    }
}

fn what(kind: Kind) -> &'static str {
    match kind {
        Kind::Ip => "from this address",
        Kind::User => "for this user",
        Kind::Registration => "registrations from this address",
    }
}

impl Shared {
    async fn check(&self, kind: Kind, key: &str, rate: Rate) -> Result<(), Limited> {
        let window_secs = rate.window_secs();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let window = now / window_secs;
        let limit = rate.burst as u64;
        let allowance = self
            .allowances
            .get_or(kind, key, || Mutex::new(Allowance { window, left: 0 }));
        {
            let mut a = allowance.lock().unwrap_or_else(|p| p.into_inner());
            if a.window == window && a.left > 0 {
                a.left -= 1;
                return Ok(());
            }
        }
        let chunk = (limit / CHUNK_DIVISOR).max(1);
        let redis_key = format!("{}rl:{}:{key}:{window}", self.prefix, kind.label());
        let counted: Result<(u64,), _> = redis::pipe()
            .atomic()
            .incr(&redis_key, chunk)
            .expire(&redis_key, (2 * window_secs) as i64)
            .ignore()
            .query_async(&mut self.redis.clone())
            .await;
        let total = match counted {
            Ok((total,)) => total,
            Err(e) => {
                // Limits are protection, not correctness: Redis trouble must not take the API down.
                tracing::warn!(error = %e, "rate limit counter unavailable; admitting");
                return Ok(());
            }
        };
        let granted = limit.saturating_sub(total.saturating_sub(chunk)).min(chunk);
        if granted == 0 {
            let reset = (window + 1) * window_secs - now;
            return Err(Limited {
                limit,
                retry_after_secs: reset,
                reset_secs: reset,
                what: what(kind),
            });
        }
        let mut a = allowance.lock().unwrap_or_else(|p| p.into_inner());
        if a.window != window {
            *a = Allowance { window, left: 0 };
        }
        a.left += granted - 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_with_and_without_burst() {
        assert_eq!(Rate::parse("5"), Some(Rate::per_second(5.0, 10.0)));
        assert_eq!(Rate::parse("5/3"), Some(Rate::per_second(5.0, 3.0)));
        assert_eq!(Rate::parse("0"), None);
        assert_eq!(Rate::parse("x"), None);
        assert_eq!(Rate::per_hour(1000.0).window_secs(), 3600);
    }

    #[tokio::test]
    async fn a_bucket_admits_its_burst_then_refuses() {
        let limiter = RateLimiter::new(
            RateLimitConfig {
                per_ip: Rate::per_second(0.001, 3.0),
                ..RateLimitConfig::default()
            },
            None,
        );
        for _ in 0..3 {
            limiter.check(Kind::Ip, "1.2.3.4").await.unwrap();
        }
        let refused = limiter.check(Kind::Ip, "1.2.3.4").await.unwrap_err();
        assert_eq!(refused.limit, 3);
        assert!(refused.retry_after_secs >= 1);
        limiter.check(Kind::Ip, "5.6.7.8").await.unwrap();
        limiter.check(Kind::User, "1.2.3.4").await.unwrap();
    }
}
