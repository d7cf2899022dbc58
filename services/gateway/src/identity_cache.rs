//! Verified credentials, kept at the gateway so repeated requests with the
//! same `Authorization` skip the round trip to the users service.
//!
//! Scaled out, that round trip is a second HTTP hop (plus a database read)
//! on every authenticated request. Revocation stays prompt:
//! - through this gateway: a successful logout, deactivation or credential
//!   change is seen in its response and drops the entries at once;
//! - through another gateway: the users service's `session.revoked`,
//!   `user.deactivated` and `user.credentials_changed` events drop them here
//!   (see [`IdentityCache::apply_event`]);
//! - and no entry outlives [`IdentityCacheConfig::ttl`], the bearer token's
//!   own expiry, or the identity token's.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use moka::sync::Cache;
use rookery_kernel::events::{id_field, topics};
use sha2::Sha256;

/// What is kept per `Authorization` value.
#[derive(Clone)]
struct Verified {
    /// The signed identity the users service answered with.
    identity: String,
    user_id: i64,
    session_id: Option<i64>,
    valid_until: Instant,
}

#[derive(Clone, Copy, Debug)]
pub struct IdentityCacheConfig {
    /// Longest an entry lives (`ROOKERY_GATEWAY_IDENTITY_CACHE_SECS`; 0 turns the cache off).
    pub ttl: Duration,
    pub capacity: u64,
}

impl Default for IdentityCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            capacity: 100_000,
        }
    }
}

impl IdentityCacheConfig {
    pub fn from_env() -> Self {
        let mut config = Self::default();
        if let Some(secs) = std::env::var("ROOKERY_GATEWAY_IDENTITY_CACHE_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
        {
            config.ttl = Duration::from_secs(secs);
        }
        config
    }
}

/// Identity tokens are not reused closer than this to their expiry, so a
/// service never receives one that lapses in flight.
const IDENTITY_MARGIN: Duration = Duration::from_secs(10);

pub struct IdentityCache {
    /// Keyed by an HMAC of the header under a per-process random key, so
    /// passwords are not kept in memory as map keys.
    entries: Cache<[u8; 32], Verified>,
    key: [u8; 32],
    ttl: Duration,
}

impl IdentityCache {
    /// `None` when the configured TTL is zero.
    pub fn new(config: IdentityCacheConfig) -> Option<Self> {
        if config.ttl.is_zero() {
            return None;
        }
        Some(Self {
            entries: Cache::builder()
                .max_capacity(config.capacity)
                .time_to_live(config.ttl)
                .support_invalidation_closures()
                .build(),
            key: rand::random(),
            ttl: config.ttl,
        })
    }

    fn key_of(&self, authorization: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(authorization.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The identity token for `authorization`, when verified recently.
    pub fn get(&self, authorization: &str) -> Option<String> {
        let key = self.key_of(authorization);
        let entry = self.entries.get(&key)?;
        if entry.valid_until <= Instant::now() {
            self.entries.invalidate(&key);
            return None;
        }
        Some(entry.identity)
    }

    /// Keeps what the users service answered for `authorization`.
    pub fn insert(&self, authorization: &str, identity: &str) {
        let Some(claims) = claims_of(identity) else {
            return;
        };
        let Some(user_id) = claims.id("sub") else {
            return;
        };
        let now_secs = unix_now();
        let mut valid_for = self.ttl;
        let until_exp = |exp: u64| Duration::from_secs(exp.saturating_sub(now_secs));
        if let Some(exp) = claims.number("exp") {
            valid_for = valid_for.min(until_exp(exp).saturating_sub(IDENTITY_MARGIN));
        }
        // A bearer token's session ends at its `exp`; the cache must not extend it.
        if let Some(bearer) = strip_scheme(authorization, "bearer")
            && let Some(exp) = claims_of(bearer).and_then(|c| c.number("exp"))
        {
            valid_for = valid_for.min(until_exp(exp));
        }
        if valid_for.is_zero() {
            return;
        }
        self.entries.insert(
            self.key_of(authorization),
            Verified {
                identity: identity.to_string(),
                user_id,
                session_id: claims.id("sid"),
                valid_until: Instant::now() + valid_for,
            },
        );
    }

    /// Drops every entry of `user_id` (deactivated, or credentials changed).
    pub fn forget_user(&self, user_id: i64) {
        let _ = self
            .entries
            .invalidate_entries_if(move |_, v| v.user_id == user_id);
    }

    /// Drops the entries of one bearer session (logged out).
    pub fn forget_session(&self, session_id: i64) {
        let _ = self
            .entries
            .invalidate_entries_if(move |_, v| v.session_id == Some(session_id));
    }

    /// Applies what a successful response through this gateway changed:
    /// `identity` is the caller's identity token for that request.
    pub fn after_response(&self, method: &http::Method, path: &str, identity: &str) {
        // Decided by route first: this runs after every authenticated
        // success, and only these few need the identity's claims read.
        let logout = method == http::Method::DELETE && path == "/api/v1/auth/token";
        // Only the account itself may PATCH (password) or DELETE it.
        let account = matches!(*method, http::Method::PATCH | http::Method::DELETE)
            && path
                .strip_prefix("/api/v1/users/")
                .is_some_and(|name| !name.contains('/'));
        if !(logout || account) {
            return;
        }
        let Some(claims) = claims_of(identity) else {
            return;
        };
        if logout {
            if let Some(session) = claims.id("sid") {
                self.forget_session(session);
            }
        } else if let Some(user) = claims.id("sub") {
            self.forget_user(user);
        }
    }

    /// Applies a users-service event from the bus; other topics are ignored.
    pub fn apply_event(&self, topic: &str, payload: &serde_json::Value) {
        match topic {
            topics::USER_DEACTIVATED | topics::USER_CREDENTIALS_CHANGED => {
                if let Ok(user) = id_field(payload, "user_id") {
                    self.forget_user(user);
                }
            }
            topics::SESSION_REVOKED => {
                if let Ok(session) = id_field(payload, "session_id") {
                    self.forget_session(session);
                }
            }
            _ => {}
        }
    }

    #[cfg(test)]
    fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

/// The value after `scheme ` (case-insensitive), if the header uses it.
fn strip_scheme<'a>(authorization: &'a str, scheme: &str) -> Option<&'a str> {
    let (s, value) = authorization.trim().split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| value.trim())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims of a JWT, read without checking its signature: the gateway
/// only uses them to forget entries sooner, never to trust anyone.
struct Claims(serde_json::Value);

impl Claims {
    fn number(&self, name: &str) -> Option<u64> {
        self.0[name].as_u64()
    }

    fn id(&self, name: &str) -> Option<i64> {
        id_field(&self.0, name).ok()
    }
}

fn claims_of(token: &str) -> Option<Claims> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&json).ok().map(Claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn token(claims: serde_json::Value) -> String {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.signature")
    }

    fn cache() -> IdentityCache {
        IdentityCache::new(IdentityCacheConfig::default()).unwrap()
    }

    fn identity(user: i64, session: Option<i64>) -> String {
        let exp = unix_now() + 60;
        match session {
            Some(s) => token(
                serde_json::json!({"sub": user.to_string(), "sid": s.to_string(), "exp": exp}),
            ),
            None => token(serde_json::json!({"sub": user.to_string(), "exp": exp})),
        }
    }

    #[test]
    fn entries_are_found_by_the_exact_header_and_dropped_by_user_or_session() {
        let cache = cache();
        let (alice, alice_token) = ("Basic YWxpY2U6cHc=", identity(1, None));
        let bearer = format!(
            "Bearer {}",
            token(serde_json::json!({"exp": unix_now() + 600}))
        );
        let alice_bearer = identity(1, Some(77));
        let bob = ("Basic Ym9iOnB3", identity(2, None));
        cache.insert(alice, &alice_token);
        cache.insert(&bearer, &alice_bearer);
        cache.insert(bob.0, &bob.1);
        assert_eq!(cache.get(alice), Some(alice_token.clone()));
        assert_eq!(cache.get("Basic YWxpY2U6cHx="), None);

        cache.after_response(&http::Method::DELETE, "/api/v1/auth/token", &alice_bearer);
        assert_eq!(cache.get(&bearer), None);
        assert_eq!(cache.get(alice), Some(alice_token.clone()));

        // A follow is no credential change; a PATCH of the account is.
        cache.after_response(
            &http::Method::DELETE,
            "/api/v1/users/bob/follow",
            &alice_token,
        );
        assert!(cache.get(alice).is_some());
        cache.after_response(&http::Method::PATCH, "/api/v1/users/alice", &alice_token);
        assert_eq!(cache.get(alice), None);
        assert_eq!(cache.get(bob.0), Some(bob.1.clone()));

        cache.apply_event(
            topics::USER_DEACTIVATED,
            &serde_json::json!({"user_id": "2"}),
        );
        assert_eq!(cache.get(bob.0), None);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn no_entry_outlives_the_bearer_token_or_the_identity_token() {
        let cache = cache();
        let expired_bearer = format!("Bearer {}", token(serde_json::json!({"exp": unix_now()})));
        cache.insert(&expired_bearer, &identity(1, Some(5)));
        assert_eq!(cache.get(&expired_bearer), None);
        // An identity token with less than the margin left is not kept.
        let short = token(serde_json::json!({"sub": "1", "exp": unix_now() + 5}));
        cache.insert("Basic eA==", &short);
        assert_eq!(cache.get("Basic eA=="), None);
        // A session revoked elsewhere arrives as an event.
        let bearer = format!(
            "Bearer {}",
            token(serde_json::json!({"exp": unix_now() + 600}))
        );
        cache.insert(&bearer, &identity(1, Some(9)));
        assert!(cache.get(&bearer).is_some());
        cache.apply_event(
            topics::SESSION_REVOKED,
            &serde_json::json!({"user_id": "1", "session_id": "9"}),
        );
        assert_eq!(cache.get(&bearer), None);
    }

    #[test]
    fn a_zero_ttl_turns_the_cache_off() {
        let config = IdentityCacheConfig {
            ttl: Duration::ZERO,
            ..IdentityCacheConfig::default()
        };
        assert!(IdentityCache::new(config).is_none());
    }
}
