//! What every handler starts from: the service, the origin clients reached
//! (for absolute URLs), who is calling with which token and scopes.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::request::Parts;
use http::{Method, header};
use rookery_gateway::client::Caller;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::MastodonService;
use crate::error::{MastoError, MastoResult};
use crate::params::Params;
use crate::scopes::Scopes;

/// Tokens of the client_credentials grant start with this (Rookery's own
/// bearer tokens are JWTs, which never do).
pub const APP_TOKEN_PREFIX: &str = "rka_";

/// The bearer token of a request and what it may do.
#[derive(Debug, Clone)]
pub struct Token {
    pub raw: String,
    /// The account's username, as the token says (None for app tokens and
    /// for tokens older than the claim).
    pub username: Option<String>,
    /// None: a token the native API issued without scopes (everything).
    pub scopes: Option<Scopes>,
    pub app: bool,
    /// The account's id (the token's subject).
    pub user_id: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

impl Token {
    /// Reads the claims of a Rookery bearer token without checking its
    /// signature: that happens on every call it makes to the public API,
    /// so an altered token gets nowhere. Handlers that make no
    /// authenticated call verify it ([`Ctx::verified_username`]).
    fn from_bearer(raw: String) -> Self {
        let claims = raw
            .split('.')
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|json| serde_json::from_slice::<Claims>(&json).ok());
        let (username, scopes, user_id) = match claims {
            Some(c) => (
                c.username,
                c.scope
                    .map(|s| Scopes::parse(Some(&s), "read").unwrap_or_default()),
                c.sub,
            ),
            None => (None, None, None),
        };
        Self {
            raw,
            username,
            scopes,
            app: false,
            user_id,
        }
    }
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

pub struct Ctx {
    pub svc: Arc<MastodonService>,
    /// `scheme://host` as the client reached us.
    pub origin: String,
    /// The request's path (for Link headers).
    pub path: String,
    pub query: Params,
    /// The raw query (Link headers keep its other parameters).
    pub raw_query: String,
    pub token: Option<Token>,
    client: Option<SocketAddr>,
    forwarded_for: Option<String>,
    /// The account the token is valid for, as a direct read checked it
    /// (see [`crate::native::direct_viewer`]; `None` inside: refused).
    pub verified_account: tokio::sync::OnceCell<Option<i64>>,
}

impl FromRequestParts<Arc<MastodonService>> for Ctx {
    type Rejection = MastoError;

    async fn from_request_parts(
        parts: &mut Parts,
        svc: &Arc<MastodonService>,
    ) -> Result<Self, Self::Rejection> {
        let header_str = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let scheme = header_str("x-forwarded-proto").unwrap_or("http");
        let host = header_str("host").unwrap_or("127.0.0.1:8081");
        let origin = format!("{scheme}://{host}");
        let query = Params::from_query(parts.uri.query());
        let bearer = header_str(header::AUTHORIZATION.as_str())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(|t| t.trim().to_string())
            .or_else(|| query.text("access_token"))
            .filter(|t| !t.is_empty());
        let token = match bearer {
            Some(raw) if raw.starts_with(APP_TOKEN_PREFIX) => {
                let found = svc.store.app_token(&sha256_hex(&raw)).await?;
                match found {
                    Some(t) => Some(Token {
                        raw,
                        username: None,
                        scopes: Some(Scopes::parse(Some(&t.scope), "read").unwrap_or_default()),
                        app: true,
                        user_id: None,
                    }),
                    None => return Err(MastoError::unauthorized()),
                }
            }
            Some(raw) => Some(Token::from_bearer(raw)),
            None => None,
        };
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        Ok(Self {
            svc: svc.clone(),
            origin,
            path: parts.uri.path().to_string(),
            raw_query: parts.uri.query().unwrap_or_default().to_string(),
            query,
            token,
            client,
            forwarded_for: header_str("x-forwarded-for").map(str::to_owned),
            verified_account: tokio::sync::OnceCell::new(),
        })
    }
}

impl Ctx {
    /// A context for background work (the streaming hub): no token, the
    /// configured public origin.
    pub fn background(svc: Arc<MastodonService>) -> Self {
        let origin = svc.config.public_url.clone();
        Self {
            svc,
            origin,
            path: String::new(),
            query: Params::default(),
            raw_query: String::new(),
            token: None,
            client: None,
            forwarded_for: None,
            verified_account: tokio::sync::OnceCell::new(),
        }
    }

    /// Who the public API is called for: the account's token (app tokens
    /// act for no account), the client's address.
    pub fn caller(&self) -> Caller {
        Caller {
            token: self
                .token
                .as_ref()
                .filter(|t| !t.app)
                .map(|t| t.raw.clone()),
            client: self.client,
            forwarded_for: self.forwarded_for.clone(),
        }
    }

    /// A caller without the account (public reads that must not depend on
    /// who asks).
    pub fn anonymous(&self) -> Caller {
        Caller {
            token: None,
            client: self.client,
            forwarded_for: self.forwarded_for.clone(),
        }
    }

    /// The account's token, allowed `scope`: 401 without a token, 422 for
    /// an app token (no account), 403 outside the granted scopes.
    pub fn require(&self, scope: &str) -> MastoResult<&Token> {
        let token = self.token.as_ref().ok_or_else(MastoError::unauthorized)?;
        if token.app {
            return Err(MastoError::unprocessable(
                "This method requires an authenticated user",
            ));
        }
        self.check_scope(token, scope)?;
        Ok(token)
    }

    /// Like [`Self::require`] for routes that also serve anonymous callers.
    pub fn optional(&self, scope: &str) -> MastoResult<Option<&Token>> {
        match &self.token {
            None => Ok(None),
            Some(t) if t.app => Ok(None),
            Some(t) => {
                self.check_scope(t, scope)?;
                Ok(Some(t))
            }
        }
    }

    fn check_scope(&self, token: &Token, scope: &str) -> MastoResult<()> {
        match &token.scopes {
            Some(scopes) if !scopes.grants(scope) => Err(MastoError::forbidden(
                "This action is outside the authorized scopes",
            )),
            _ => Ok(()),
        }
    }

    pub fn viewer(&self) -> Option<&str> {
        self.token
            .as_ref()
            .filter(|t| !t.app)
            .and_then(|t| t.username.as_deref())
    }

    /// The caller's username, checked against the users service (for
    /// routes whose other calls would not prove the token).
    pub async fn verified_username(&self) -> MastoResult<String> {
        let me: crate::native::User = self.get("/api/v1/auth/whoami").await?;
        Ok(me.username)
    }

    /// The caller's username: from the token, or asked when the token does
    /// not say.
    pub async fn username(&self) -> MastoResult<String> {
        match self.viewer() {
            Some(name) => Ok(name.to_string()),
            None => self.verified_username().await,
        }
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> MastoResult<T> {
        Ok(self.svc.api.get(&self.caller(), path).await?)
    }

    pub async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> MastoResult<T> {
        Ok(self
            .svc
            .api
            .send_json(&self.caller(), method, path, body)
            .await?)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> MastoResult<http::StatusCode> {
        Ok(self
            .svc
            .api
            .send(&self.caller(), method, path, body)
            .await?)
    }

    /// Parameters of the query and the body together (the body wins).
    pub fn with_body(&self, headers: &http::HeaderMap, body: &[u8]) -> MastoResult<Params> {
        let mut params = self.query.clone();
        params.add_body(headers, body)?;
        Ok(params)
    }
}
