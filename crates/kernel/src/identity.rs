//! Caller identity between the gateway and the services.
//!
//! The gateway authenticates the client (Basic or Bearer, through the users
//! service) and passes the result on as a short-lived signed token in
//! `x-rookery-identity`. Services verify that signature themselves; a header a
//! client sends is stripped by the gateway and would fail verification anyway.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::secret::Secret;

pub const IDENTITY_HEADER: &str = "x-rookery-identity";

/// Whether a token's OAuth scopes (space-separated) allow changes: `write`,
/// any `write:...`, or `follow` (OAuth's legacy scope for follows, blocks
/// and mutes). A token without them is read-only on the native API.
pub fn scope_allows_writes(scope: &str) -> bool {
    scope
        .split_whitespace()
        .any(|s| s == "write" || s == "follow" || s.starts_with("write:"))
}
const AUDIENCE: &str = "rookery-internal";
/// Identity tokens live for one request; a minute covers clock skew and retries.
const IDENTITY_TTL_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Basic,
    Bearer,
}

/// The authenticated caller, as a service sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub method: AuthMethod,
    /// The bearer token's session id, for logout.
    pub session_id: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    name: String,
    method: AuthMethod,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    aud: String,
    exp: u64,
}

/// Signs and verifies identity tokens with a key derived from the shared secret.
/// Cheap to clone (middleware state is cloned per request).
#[derive(Clone)]
pub struct IdentityKeys(Arc<Keys>);

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens already verified -> who, until shortly before they expire. The
    /// same token arrives on every request of a caller within its lifetime,
    /// so most requests skip the HMAC and JSON work.
    /// (quick_cache: cheaper per lookup than moka, and each entry carries
    /// its own expiry, so no time-to-live is needed from the cache.)
    verified: quick_cache::sync::Cache<String, (Identity, u64)>,
    /// Tokens minted per caller, reused while they have most of their life left.
    minted: quick_cache::sync::Cache<Identity, (String, u64)>,
}

impl IdentityKeys {
    pub fn new(secret: &Secret) -> Self {
        let key = secret.derive("identity-token");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        Self(Arc::new(Keys {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            verified: quick_cache::sync::Cache::new(100_000),
            minted: quick_cache::sync::Cache::new(100_000),
        }))
    }

    pub fn sign(&self, identity: &Identity) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some((token, exp)) = self.0.minted.get(identity)
            && exp > now + IDENTITY_TTL_SECS / 2
        {
            return token;
        }
        let exp = now + IDENTITY_TTL_SECS;
        let token = self.mint(identity, exp);
        self.0.minted.insert(identity.clone(), (token.clone(), exp));
        token
    }

    fn mint(&self, identity: &Identity, exp: u64) -> String {
        let claims = Claims {
            sub: identity.user_id.to_string(),
            name: identity.username.clone(),
            method: identity.method,
            sid: identity.session_id.map(|s| s.to_string()),
            aud: AUDIENCE.into(),
            exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
            .expect("HMAC signing cannot fail")
    }

    pub fn verify(&self, token: &str) -> Option<Identity> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Some((identity, exp)) = self.0.verified.get(token)
            && exp > now
        {
            return Some(identity);
        }
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation).ok()?;
        let c = data.claims;
        let exp = c.exp;
        let identity = Identity {
            user_id: c.sub.parse().ok()?,
            username: c.name,
            method: c.method,
            session_id: match c.sid {
                Some(s) => Some(s.parse().ok()?),
                None => None,
            },
        };
        self.0
            .verified
            .insert(token.to_string(), (identity.clone(), exp));
        Some(identity)
    }
}

/// The header of a call between services where their internal routes are
/// reachable from outside (Lambda function URLs): a [`ServiceKeys`] token.
pub const SERVICE_HEADER: &str = "x-rookery-service";
const SERVICE_AUDIENCE: &str = "rookery-service";

#[derive(Serialize, Deserialize)]
struct ServiceClaims {
    aud: String,
    exp: u64,
}

/// Tokens that prove a request comes from another Rookery service (it holds
/// the shared secret): a short-lived HMAC-signed token, re-minted when half
/// its minute is gone.
#[derive(Clone)]
pub struct ServiceKeys(Arc<ServiceKeysInner>);

struct ServiceKeysInner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    current: std::sync::Mutex<(String, u64)>,
}

impl ServiceKeys {
    pub fn new(secret: &Secret) -> Self {
        let key = secret.derive("service-token");
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[SERVICE_AUDIENCE]);
        validation.leeway = 5;
        Self(Arc::new(ServiceKeysInner {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            validation,
            current: std::sync::Mutex::new((String::new(), 0)),
        }))
    }

    /// A token valid for about a minute.
    pub fn token(&self) -> String {
        let now = jsonwebtoken::get_current_timestamp();
        let mut current = self.0.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.1 <= now + IDENTITY_TTL_SECS / 2 {
            let exp = now + IDENTITY_TTL_SECS;
            let claims = ServiceClaims {
                aud: SERVICE_AUDIENCE.into(),
                exp,
            };
            let token =
                jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.0.encoding)
                    .expect("HMAC signing cannot fail");
            *current = (token, exp);
        }
        current.0.clone()
    }

    /// Whether `token` was made by [`ServiceKeys::token`] with the same secret
    /// and has not expired.
    pub fn verify(&self, token: &str) -> bool {
        jsonwebtoken::decode::<ServiceClaims>(token, &self.0.decoding, &self.0.validation).is_ok()
    }
}

/// Turns a client's `Authorization` header into a signed identity token. The
/// gateway calls the users service for it: over HTTP when scaled out, or
/// directly through this trait when both run in one process.
pub trait Authenticate: Send + Sync {
    /// `Err` is the response to send the client as is (401, 429, 503).
    fn authenticate<'a>(
        &'a self,
        authorization: &'a str,
        client_ip: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<String, Response>>;
}

/// Middleware: verifies `x-rookery-identity` and puts the [`Identity`] into the
/// request extensions. A present but invalid header is a 401.
pub async fn verify_identity(
    axum::extract::State(keys): axum::extract::State<IdentityKeys>,
    mut req: Request,
    next: Next,
) -> Response {
    if let Some(value) = req.headers().get(IDENTITY_HEADER) {
        match value.to_str().ok().and_then(|t| keys.verify(t)) {
            Some(identity) => {
                req.extensions_mut().insert(identity);
            }
            None => return ApiError::unauthorized("invalid identity").into_response(),
        }
    }
    next.run(req).await
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("authentication required"))
    }
}

/// The caller if authenticated; public routes use it to show more to the owner.
pub struct MaybeIdentity(pub Option<Identity>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdentity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeIdentity(parts.extensions.get::<Identity>().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_tampering() {
        let keys = IdentityKeys::new(&Secret::from_bytes(b"0123456789abcdef0123456789abcdef"));
        let other = IdentityKeys::new(&Secret::from_bytes(b"another secret of enough length!"));
        let id = Identity {
            user_id: 42,
            username: "alice".into(),
            method: AuthMethod::Bearer,
            session_id: Some(7),
        };
        let token = keys.sign(&id);
        assert_eq!(keys.verify(&token), Some(id));
        assert_eq!(other.verify(&token), None);
        assert_eq!(keys.verify("garbage"), None);
    }

    #[test]
    fn service_tokens_need_the_same_secret_and_are_no_identity() {
        let secret = Secret::from_bytes(b"0123456789abcdef0123456789abcdef");
        let keys = ServiceKeys::new(&secret);
        let token = keys.token();
        assert_eq!(keys.token(), token, "reused while fresh");
        assert!(keys.verify(&token));
        assert!(ServiceKeys::new(&secret).verify(&token));
        let other = ServiceKeys::new(&Secret::from_bytes(b"another secret of enough length!"));
        assert!(!other.verify(&token));
        assert!(!keys.verify("garbage"));
        // Different keys and audiences: neither token passes for the other.
        assert_eq!(IdentityKeys::new(&secret).verify(&token), None);
        let identity = IdentityKeys::new(&secret).sign(&Identity {
            user_id: 1,
            username: "a".into(),
            method: AuthMethod::Basic,
            session_id: None,
        });
        assert!(!keys.verify(&identity));
    }
}
