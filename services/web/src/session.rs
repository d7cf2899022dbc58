//! Who is asking: the session behind the cookie, the CSRF token forms must
//! carry, and the checks a state-changing request must pass.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use base64::Engine;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, header};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::WebService;
use crate::api::Caller;
use crate::pages::PageError;
use crate::store::Session;

pub const SESSION_COOKIE: &str = "rookery_session";
/// Before logging in: the double-submit token of the login and signup forms.
pub const ANON_CSRF_COOKIE: &str = "rookery_csrf";
/// Sent by the page script when it wants a fragment instead of a redirect.
pub const FRAGMENT_HEADER: &str = "x-rookery-fragment";

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn hash_session_id(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// True when the browser reached us over https (directly or through a proxy
/// that says so).
pub fn is_https(parts: &Parts) -> bool {
    parts.uri.scheme_str() == Some("https")
        || parts
            .headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').next().unwrap_or("").trim() == "https")
}

/// A `Set-Cookie` value; `max_age` 0 deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("rookery_invalid=1; Max-Age=0"))
}

/// Everything a page handler needs to know about the request.
pub struct Ctx {
    pub session: Option<Session>,
    /// The CSRF token of this browser: the session's, or the pre-login
    /// cookie's (made now when the browser has none, see `new_anon_csrf`).
    pub csrf: String,
    /// A pre-login token made for this response (its cookie must be set).
    pub new_anon_csrf: bool,
    pub https: bool,
    /// The script asked for a fragment (votes, follows, "More").
    pub fragment: bool,
    pub caller: Caller,
    pub svc: Arc<WebService>,
    origin_ok: bool,
}

impl Ctx {
    pub fn username(&self) -> Option<&str> {
        self.session.as_ref().map(|s| s.username.as_str())
    }

    /// The logged-in account, or a redirect to the login page.
    pub fn require_login(&self) -> Result<&Session, PageError> {
        self.session.as_ref().ok_or(PageError::LoginRequired)
    }

    /// Refuses a state-changing request whose form lacks this browser's
    /// token, or that another site sent.
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), PageError> {
        let matches = submitted
            .map(|s| bool::from(s.as_bytes().ct_eq(self.csrf.as_bytes())))
            .unwrap_or(false);
        if self.new_anon_csrf || !matches || !self.origin_ok {
            return Err(PageError::Forbidden(
                "This form expired or was sent from another site. Go back, reload the page and try again."
                    .into(),
            ));
        }
        Ok(())
    }

    /// Cookies this response must set (the pre-login CSRF token).
    pub fn cookies(&self) -> Vec<HeaderValue> {
        if self.new_anon_csrf {
            vec![set_cookie(
                ANON_CSRF_COOKIE,
                &self.csrf,
                60 * 60 * 24,
                self.https,
            )]
        } else {
            Vec::new()
        }
    }
}

/// `Origin` and `Sec-Fetch-Site`, when the browser sends them, must say the
/// request came from one of our own pages.
fn same_origin(parts: &Parts, https: bool) -> bool {
    if let Some(site) = parts
        .headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = parts
        .headers
        .get("x-forwarded-host")
        .or_else(|| parts.headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let Some(host) = host else {
        return false;
    };
    let scheme = if https { "https" } else { "http" };
    origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
}

impl FromRequestParts<Arc<WebService>> for Ctx {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        svc: &Arc<WebService>,
    ) -> Result<Self, Self::Rejection> {
        let https = is_https(parts);
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| *addr);
        let forwarded_for = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let session = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(id) => svc
                .sessions
                .find(&hash_session_id(id), rookery_kernel::time::now_ms())
                .await
                .map_err(|e| PageError::Unavailable(e.to_string()))?,
            None => None,
        };
        let (csrf, new_anon_csrf) = match (&session, cookie(&parts.headers, ANON_CSRF_COOKIE)) {
            (Some(s), _) => (s.csrf.clone(), false),
            (None, Some(token)) => (token.to_owned(), false),
            (None, None) => (random_token(), true),
        };
        let fragment = parts.headers.contains_key(FRAGMENT_HEADER);
        Ok(Ctx {
            caller: Caller {
                token: session.as_ref().map(|s| s.token.clone()),
                client,
                forwarded_for,
            },
            session,
            csrf,
            new_anon_csrf,
            https,
            fragment,
            svc: svc.clone(),
            origin_ok: same_origin(parts, https),
        })
    }
}
