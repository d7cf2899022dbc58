//! Credentials: argon2id hashing off the async threads, the Basic credential
//! cache, bearer tokens with server-side sessions, and the failed-login limiter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use moka::sync::Cache;
use rookery_kernel::ApiError;
use rookery_kernel::identity::AuthMethod;
use rookery_kernel::secret::Secret;
use rookery_kernel::time::now_ms;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Semaphore;

use crate::domain::Scope;
use crate::store::{User, UserStore};

/// Limits and lifetimes; the defaults are the documented ones.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Lifetime of bearer tokens (`ROOKERY_TOKEN_TTL_SECS`, default one day).
    pub token_ttl: Duration,
    /// How long verified Basic credentials are trusted without argon2 (5 min;
    /// password changes, deactivation and lockouts drop them at once).
    pub credential_cache_ttl: Duration,
    /// Failed attempts per username within the window before 429 (10).
    pub username_failure_limit: i64,
    /// Failed attempts per client IP within the window before 429 (100).
    pub ip_failure_limit: i64,
    /// The failure window (15 minutes).
    pub failure_window: Duration,
    /// True when this process is the only one serving the users database
    /// (`rookery serve`): every change to credentials, sessions and lockouts
    /// happens here, so the in-memory caches are invalidated in-process and
    /// a cache hit needs no database read. False for scaled-out instances,
    /// where each hit re-checks the account's `auth_version` and sessions are
    /// always read from the database (a change on another instance counts at once).
    pub single_instance: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(24 * 3600),
            credential_cache_ttl: Duration::from_secs(300),
            username_failure_limit: 10,
            ip_failure_limit: 100,
            failure_window: Duration::from_secs(15 * 60),
            single_instance: false,
        }
    }
}

impl AuthConfig {
    /// `ROOKERY_TOKEN_TTL_SECS`, and the failure limits
    /// `ROOKERY_AUTH_FAILURES_PER_USERNAME` and `ROOKERY_AUTH_FAILURES_PER_IP`
    /// (for a deployment whose clients share an address, or a test run that
    /// sends bad credentials on purpose); unparsable or zero values keep the default.
    pub fn from_env() -> Self {
        let mut config = Self::default();
        let var = |name| std::env::var(name).ok().and_then(|v| v.trim().parse().ok());
        if let Some(secs) = var("ROOKERY_TOKEN_TTL_SECS") {
            config.token_ttl = Duration::from_secs(secs);
        }
        let limit = |name| {
            var(name)
                .filter(|&n: &u64| n >= 1)
                .map(|n| n.min(i64::MAX as u64) as i64)
        };
        if let Some(n) = limit("ROOKERY_AUTH_FAILURES_PER_USERNAME") {
            config.username_failure_limit = n;
        }
        if let Some(n) = limit("ROOKERY_AUTH_FAILURES_PER_IP") {
            config.ip_failure_limit = n;
        }
        config
    }
}

/// Runs argon2id on the blocking pool, at most one hash per core at a time so
/// a burst of logins queues (bounded by the semaphore) instead of starving
/// everything else.
/// Counts every hash and verification (`rookery_password_hashes_total`,
/// `rookery_password_verifications_total`): argon2 is the users service's
/// main CPU cost.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    verifications: Arc<AtomicU64>,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            permits: Arc::new(Semaphore::new(cores)),
            verifications: Arc::default(),
        }
    }
}

impl PasswordHasher {
    pub async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        metrics::counter!("rookery_password_hashes_total").increment(1);
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ApiError::internal(e.to_string()))
        })
        .await
        .map_err(ApiError::internal)?
    }

    pub async fn verify(&self, password: &str, hash: &str) -> Result<bool, ApiError> {
        let _permit = self.permits.acquire().await.map_err(ApiError::internal)?;
        self.verifications.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("rookery_password_verifications_total").increment(1);
        let (password, hash) = (password.to_owned(), hash.to_owned());
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(ApiError::internal)
    }

    /// Passwords verified by this hasher so far.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct CachedCredential {
    user_id: i64,
    username: String,
    auth_version: i64,
    /// `Authenticator::clock` when the check that proved them began.
    checked_at: u64,
}

#[derive(Serialize, Deserialize)]
struct AccessClaims {
    sub: String,
    sid: String,
    iat: u64,
    exp: u64,
    /// The account's username as spelled (tokens issued before it was
    /// added have none; nothing here relies on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// The OAuth scopes asked for, normalized and space-joined; absent when
    /// none were asked for (full access). Without a write scope the gateway
    /// refuses the token's writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// A bearer token as handed to the client.
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u64,
}

/// Who authenticated, and how.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub user_id: i64,
    pub username: String,
    pub method: AuthMethod,
    pub session_id: Option<i64>,
}

impl Authenticated {
    fn basic(user: &User) -> Self {
        Self {
            user_id: user.id,
            username: user.username.clone(),
            method: AuthMethod::Basic,
            session_id: None,
        }
    }
}

/// Checked bearer tokens remembered (a few hundred bytes each), and the
/// longest remembered (ours are about 200 bytes).
const SIGNED_TOKENS_KEPT: usize = 50_000;
const MAX_REMEMBERED_TOKEN: usize = 1_024;

pub struct Authenticator {
    store: Arc<dyn UserStore>,
    hasher: PasswordHasher,
    /// Keyed hash of `username\0password` -> the account it proved, so repeated
    /// Basic requests skip argon2. Entries die with the account's auth_version.
    cache: Cache<[u8; 32], CachedCredential>,
    cache_key: [u8; 32],
    /// Orders credential checks and credential changes.
    clock: AtomicU64,
    /// User id -> `clock` when their credentials last changed (password
    /// change, deactivation), kept twice the credential cache's lifetime: a
    /// credential checked before that is not trusted, even one stored after
    /// the change (a check that raced it), as a hit is trusted without a
    /// database read in single-instance mode.
    changed: Cache<i64, u64>,
    /// Serializes credential changes with the caching of new credentials.
    changing: std::sync::Mutex<()>,
    /// Live sessions (id -> who), only in single-instance mode.
    sessions: Cache<i64, (i64, String)>,
    /// Subjects over their failure limit -> when the window ends (ms), so a
    /// locked username is refused without a database read.
    locked: Cache<String, i64>,
    /// Username subjects (`u:<name>`) this process counted a failure for
    /// within the window, so a success answered from the credential cache
    /// knows, without a database read, that it has a count to reset.
    failing: Cache<String, ()>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Bearer tokens whose signature and claims were checked -> (user id,
    /// session id, expiry in seconds). A signed token never changes, so the
    /// check holds until it expires; whether its session still lives is
    /// asked on every request all the same.
    signed: quick_cache::sync::Cache<String, (i64, i64, u64)>,
    /// A real hash to verify against for unknown usernames, so timing does not
    /// tell which usernames exist.
    dummy_hash: String,
    config: AuthConfig,
}

impl Authenticator {
    pub async fn new(
        store: Arc<dyn UserStore>,
        secret: &Secret,
        config: AuthConfig,
    ) -> Result<Self, ApiError> {
        let hasher = PasswordHasher::default();
        let dummy_hash = hasher.hash("not a real password, only for timing").await?;
        let token_key = secret.derive("access-token");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        Ok(Self {
            store,
            hasher,
            cache: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.credential_cache_ttl)
                .support_invalidation_closures()
                .build(),
            cache_key: secret.derive("credential-cache"),
            clock: AtomicU64::new(1),
            changed: Cache::builder()
                .time_to_live(config.credential_cache_ttl * 2)
                .build(),
            changing: std::sync::Mutex::default(),
            sessions: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.credential_cache_ttl)
                .support_invalidation_closures()
                .build(),
            locked: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.failure_window)
                .build(),
            failing: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(config.failure_window)
                .build(),
            encoding: EncodingKey::from_secret(&token_key),
            decoding: DecodingKey::from_secret(&token_key),
            validation,
            signed: quick_cache::sync::Cache::new(SIGNED_TOKENS_KEPT),
            dummy_hash,
            config,
        })
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Checks an `Authorization` header (Basic or Bearer).
    pub async fn authenticate_header(
        &self,
        header: &str,
        client_ip: Option<&str>,
    ) -> Result<Authenticated, ApiError> {
        let (scheme, value) = header.trim().split_once(' ').unwrap_or((header, ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(value)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            let (username, password) = decoded
                .split_once(':')
                .ok_or_else(|| ApiError::unauthorized("malformed Basic credentials"))?;
            self.verify_password(username, password, client_ip).await
        } else if scheme.eq_ignore_ascii_case("bearer") {
            self.verify_bearer(value, client_ip).await
        } else {
            Err(ApiError::unauthorized(
                "unsupported authorization scheme; use Basic or Bearer",
            ))
        }
    }

    /// Verifies a username and password, with the failure limits and the cache.
    /// A `username` with an `@` is an email address: the account registered
    /// with it (case-insensitively) is checked, and its failures count
    /// against that account's username, so both spellings share one limit.
    pub async fn verify_password(
        &self,
        username: &str,
        password: &str,
        client_ip: Option<&str>,
    ) -> Result<Authenticated, ApiError> {
        let login = username.trim();
        // For an email, the account is read first (one indexed query): its
        // username is the subject of the limits and of the credential cache.
        let by_email = if login.contains('@') {
            if let Some(ip) = client_ip {
                self.refuse_locked(&[format!("ip:{ip}")])?;
            }
            Some(self.store.user_by_email(login).await?.filter(|u| u.active))
        } else {
            None
        };
        let username_key = match &by_email {
            Some(Some(user)) => user.username.to_lowercase(),
            // No username has an `@`: an unknown email counts on its own.
            _ => login.to_lowercase(),
        };
        let password = password.trim();
        let mut subjects = vec![format!("u:{username_key}")];
        if let Some(ip) = client_ip {
            subjects.push(format!("ip:{ip}"));
        }
        self.refuse_locked(&subjects)?;

        let checked_at = self.clock.load(Ordering::SeqCst);
        let cache_key = self.credential_key(&username_key, password);
        if let Some(cached) = self.cache.get(&cache_key) {
            if self.changed_since(cached.user_id, cached.checked_at) {
                self.cache.invalidate(&cache_key);
            } else if self.config.single_instance {
                self.reset_failures(&subjects[0]).await?;
                return Ok(Authenticated {
                    user_id: cached.user_id,
                    username: cached.username,
                    method: AuthMethod::Basic,
                    session_id: None,
                });
            }
            match self.store.user_by_id(cached.user_id).await? {
                Some(user) if user.active && user.auth_version == cached.auth_version => {
                    self.reset_failures(&subjects[0]).await?;
                    return Ok(Authenticated::basic(&user));
                }
                _ => self.cache.invalidate(&cache_key),
            }
        }

        let had_failures = self.check_limits(&subjects).await?;
        let user = match by_email {
            Some(user) => user,
            None => self
                .store
                .user_by_username(&username_key)
                .await?
                .filter(|u| u.active),
        };
        let hash = user.as_ref().map_or(&self.dummy_hash, |u| &u.password_hash);
        let verified = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if verified => {
                self.cache.insert(
                    cache_key,
                    CachedCredential {
                        user_id: user.id,
                        username: user.username.clone(),
                        auth_version: user.auth_version,
                        checked_at,
                    },
                );
                if had_failures {
                    // A success before the limit resets the count.
                    self.store.clear_auth_failures(&subjects[0]).await?;
                    self.failing.invalidate(&subjects[0]);
                }
                Ok(Authenticated::basic(&user))
            }
            _ => {
                self.record_failure(&subjects).await?;
                Err(ApiError::unauthorized("invalid username or password"))
            }
        }
    }

    async fn verify_bearer(
        &self,
        token: &str,
        client_ip: Option<&str>,
    ) -> Result<Authenticated, ApiError> {
        let subjects: Vec<String> = client_ip.map(|ip| format!("ip:{ip}")).into_iter().collect();
        self.refuse_locked(&subjects)?;
        let parsed = self.signed_claims(token);
        if let Some((user_id, session_id)) = parsed {
            let bearer = |username: String| Authenticated {
                user_id,
                username,
                method: AuthMethod::Bearer,
                session_id: Some(session_id),
            };
            if self.config.single_instance
                && let Some((owner, username)) = self.sessions.get(&session_id)
                && owner == user_id
            {
                return Ok(bearer(username));
            }
            if let Some(user) = self.store.session_user(session_id, now_ms()).await?
                && user.id == user_id
            {
                if self.config.single_instance {
                    self.sessions
                        .insert(session_id, (user.id, user.username.clone()));
                }
                return Ok(bearer(user.username));
            }
        }
        self.check_limits(&subjects).await?;
        self.record_failure(&subjects).await?;
        Err(ApiError::unauthorized("invalid or revoked token"))
    }

    /// The account and session a bearer token names, when its signature
    /// and expiry check out (remembered per token until it expires).
    fn signed_claims(&self, token: &str) -> Option<(i64, i64)> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some((user_id, session_id, exp)) = self.signed.get(token)
            && exp > now
        {
            return Some((user_id, session_id));
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let (user_id, session_id) = (claims.sub.parse().ok()?, claims.sid.parse().ok()?);
        if token.len() <= MAX_REMEMBERED_TOKEN {
            self.signed
                .insert(token.to_string(), (user_id, session_id, claims.exp));
        }
        Some((user_id, session_id))
    }

    /// Creates a session and its signed token, for `username` (as the
    /// account spells it) and, when given, `scope` (normalized).
    pub async fn issue_token(
        &self,
        user_id: i64,
        username: &str,
        scope: Option<&Scope>,
    ) -> Result<IssuedToken, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let ttl = self.config.token_ttl.as_secs();
        let expires_at_ms = ((now + ttl) * 1000) as i64;
        let session = self.store.create_session(user_id, expires_at_ms).await?;
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session.to_string(),
            iat: now,
            exp: now + ttl,
            username: Some(username.to_string()),
            scope: scope.map(|s| s.as_str().to_string()),
        };
        let access_token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
                .map_err(ApiError::internal)?;
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
        })
    }

    /// Where the credentials of `user_id` stand, for
    /// [`Self::remember_credentials`]: read it before writing new ones.
    pub fn credentials_seen(&self, user_id: i64) -> u64 {
        self.changed.get(&user_id).unwrap_or(0)
    }

    /// Remembers credentials whose hash this process just stored (a
    /// registration, or a password change, which also drops the old ones),
    /// so the account's first login does not pay argon2 a second time for
    /// the same password. Only when no other change of the account came
    /// in between since `seen` ([`Self::credentials_seen`] before the write):
    /// a concurrent deactivation or password change wins.
    pub fn remember_credentials(&self, user: &User, password: &str, seen: u64, changed: bool) {
        let _changing = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        let untouched = self.credentials_seen(user.id) == seen;
        if changed {
            self.forget_user_locked(user.id);
        }
        if !untouched || !user.active {
            return;
        }
        let key = self.credential_key(&user.username.to_lowercase(), password.trim());
        self.cache.insert(
            key,
            CachedCredential {
                user_id: user.id,
                username: user.username.clone(),
                auth_version: user.auth_version,
                checked_at: self.clock.load(Ordering::SeqCst),
            },
        );
    }

    /// Whether the credentials of `user_id` changed after a check that began at `checked_at`.
    fn changed_since(&self, user_id: i64, checked_at: u64) -> bool {
        self.changed.get(&user_id).is_some_and(|at| at > checked_at)
    }

    /// Drops cached credentials of a user, and distrusts any that a check
    /// running now would store. The auth_version check already makes them
    /// useless on every instance; this frees them here at once.
    pub fn forget_user(&self, user_id: i64) {
        let _changing = self.changing.lock().unwrap_or_else(|e| e.into_inner());
        self.forget_user_locked(user_id);
    }

    fn forget_user_locked(&self, user_id: i64) {
        let at = self.clock.fetch_add(1, Ordering::SeqCst) + 1;
        self.changed.insert(user_id, at);
        let _ = self
            .cache
            .invalidate_entries_if(move |_, v| v.user_id == user_id);
        let _ = self
            .sessions
            .invalidate_entries_if(move |_, (owner, _)| *owner == user_id);
    }

    /// Drops a revoked session from the cache.
    pub fn forget_session(&self, session_id: i64) {
        self.sessions.invalidate(&session_id);
    }

    /// A success with cached credentials resets the username's failure count
    /// too (API.md), when this process counted failures for it. (Failures
    /// counted by another instance are reset by the next uncached success.)
    async fn reset_failures(&self, username_subject: &str) -> Result<(), ApiError> {
        if self.failing.contains_key(username_subject) {
            self.store.clear_auth_failures(username_subject).await?;
            self.failing.invalidate(username_subject);
        }
        Ok(())
    }

    /// 429 for a subject this process knows to be locked.
    fn refuse_locked(&self, subjects: &[String]) -> Result<(), ApiError> {
        let now = now_ms();
        for subject in subjects {
            if let Some(until) = self.locked.get(subject)
                && until > now
            {
                return Err(ApiError::too_many(
                    ((until - now) as u64).div_ceil(1000),
                    "too many failed attempts; try again later",
                ));
            }
        }
        Ok(())
    }

    fn limit_of(&self, subject: &str) -> i64 {
        if subject.starts_with("ip:") {
            self.config.ip_failure_limit
        } else {
            self.config.username_failure_limit
        }
    }

    fn credential_key(&self, username_key: &str, password: &str) -> [u8; 32] {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.cache_key).expect("HMAC takes any key length");
        mac.update(username_key.as_bytes());
        mac.update(&[0]);
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// 429 when any subject is over its limit; returns whether the username
    /// (the first subject) has failures counted in the open window.
    async fn check_limits(&self, subjects: &[String]) -> Result<bool, ApiError> {
        if subjects.is_empty() {
            return Ok(false);
        }
        let now = now_ms();
        let window = self.config.failure_window.as_millis() as i64;
        let counts = self.store.auth_failures(subjects, now - window).await?;
        for (subject, count) in &counts {
            if count.failures >= self.limit_of(subject) {
                self.lock(subject, count.window_start + window);
                self.refuse_locked(std::slice::from_ref(subject))?;
            }
        }
        Ok(counts
            .iter()
            .any(|(s, _)| s == &subjects[0] && s.starts_with("u:")))
    }

    /// Counts a failure; a subject that reaches its limit is locked here at
    /// once (and its cached credentials dropped, so even the right password
    /// meets the lock).
    async fn record_failure(&self, subjects: &[String]) -> Result<(), ApiError> {
        if subjects.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let window = self.config.failure_window.as_millis() as i64;
        self.store
            .record_auth_failure(subjects, now, window)
            .await?;
        if subjects[0].starts_with("u:") {
            self.failing.insert(subjects[0].clone(), ());
        }
        for (subject, count) in self.store.auth_failures(subjects, now - window).await? {
            if count.failures >= self.limit_of(&subject) {
                self.lock(&subject, count.window_start + window);
            }
        }
        Ok(())
    }

    fn lock(&self, subject: &str, until_ms: i64) {
        self.locked.insert(subject.to_string(), until_ms);
        if let Some(username_key) = subject.strip_prefix("u:") {
            let key = username_key.to_string();
            let _ = self
                .cache
                .invalidate_entries_if(move |_, v| v.username.to_lowercase() == key);
        }
    }
}
