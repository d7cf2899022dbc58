//! Page handlers: each asks the API for what it shows (list endpoints, a
//! few calls at once, never one per post) and renders HTML; each form
//! handler checks the CSRF token, calls the API and redirects back (303), or
//! answers a fragment when the page script asked for one.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::Utc;
use http::{HeaderValue, StatusCode, header};
use maud::{Markup, html};

use crate::api::{ApiFailure, ApiResult, Count};
use crate::session::{ANON_CSRF_COOKIE, Ctx, SESSION_COOKIE, set_cookie};
use crate::views::{CardPage, Chrome, layout};

pub mod account;
pub mod community;
pub mod inbox;
pub mod other;
pub mod people;
pub mod posts;

/// Posts per page of a list.
pub const PAGE_SIZE: usize = 20;

/// Why a page could not be shown, as the page that says so.
#[derive(Debug)]
pub enum PageError {
    /// The page needs an account: to the login page.
    LoginRequired,
    /// The session's token stopped working (logout elsewhere, password
    /// change, deactivation): the session is gone, log in again.
    SignedOut,
    NotFound,
    Forbidden(String),
    BadRequest(String),
    TooMany(Option<u64>),
    Unavailable(String),
}

impl From<ApiFailure> for PageError {
    fn from(f: ApiFailure) -> Self {
        match f.status {
            StatusCode::UNAUTHORIZED => PageError::SignedOut,
            StatusCode::NOT_FOUND => PageError::NotFound,
            StatusCode::FORBIDDEN => PageError::Forbidden(f.message),
            StatusCode::TOO_MANY_REQUESTS => PageError::TooMany(f.retry_after),
            s if s.is_client_error() => PageError::BadRequest(f.message),
            _ => PageError::Unavailable(f.message),
        }
    }
}

pub type PageResult = Result<Response, PageError>;

/// A page without the header's personal parts (errors may happen before
/// we know who is asking).
fn bare_page(status: StatusCode, title: &str, content: Markup) -> Response {
    let chrome = Chrome {
        title,
        username: None,
        unread: 0,
        csrf: "",
        here: "/",
    };
    let mut response = (
        status,
        axum::response::Html(layout(&chrome, content).into_string()),
    )
        .into_response();
    html_headers(response.headers_mut());
    response
}

pub fn not_found_page() -> Response {
    bare_page(StatusCode::NOT_FOUND, "Page not found", not_found_content())
}

/// Unknown paths: the 404 page, with the header of whoever is logged in.
pub async fn not_found(ctx: Result<Ctx, PageError>) -> Response {
    let Ok(ctx) = ctx else {
        return not_found_page();
    };
    ctx.page_with_status(
        StatusCode::NOT_FOUND,
        "Page not found",
        "/",
        0,
        not_found_content(),
    )
}

fn not_found_content() -> Markup {
    html! {
        h1 { "Page not found" }
        p { "There is nothing at this address. It may have been deleted, or the link is mistyped." }
        p { a href="/" { "Go to the home page" } " or " a href="/search" { "search" } "." }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::LoginRequired => redirect("/login"),
            PageError::SignedOut => {
                let mut response = redirect("/login?expired=1");
                response
                    .headers_mut()
                    .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", 0, false));
                response
            }
            PageError::NotFound => not_found_page(),
            PageError::Forbidden(message) => bare_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                html! { h1 { "Not allowed" } p { (message) } p { a href="/" { "Go to the home page" } } },
            ),
            PageError::BadRequest(message) => bare_page(
                StatusCode::BAD_REQUEST,
                "That did not work",
                html! {
                    h1 { "That did not work" }
                    p.error { (message) }
                    p { "Go back, change what you entered and try again." }
                },
            ),
            PageError::TooMany(retry_after) => {
                let mut response = bare_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Slow down",
                    html! {
                        h1 { "Slow down" }
                        p { "Too many requests came from you in a short time. "
                            @match retry_after {
                                Some(s) => { "Try again in " (s) " seconds." }
                                None => { "Wait a moment, then try again." }
                            }
                        }
                    },
                );
                if let Some(s) = retry_after
                    && let Ok(v) = HeaderValue::from_str(&s.to_string())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
                response
            }
            PageError::Unavailable(detail) => {
                tracing::warn!(%detail, "page unavailable");
                let mut response = bare_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Rookery is busy",
                    html! {
                        h1 { "Rookery is busy" }
                        p { "Part of Rookery is not answering right now. Nothing you did is lost; try again in a moment." }
                    },
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
        }
    }
}

/// Headers of every HTML page: never stored by shared caches.
fn html_headers(headers: &mut http::HeaderMap) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
}

pub fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// A path of this site to come back to; anything else (other sites,
/// `//host`, odd characters) falls back to `default`.
pub fn safe_next(next: Option<&str>, default: &str) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 512
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => default.to_string(),
    }
}

/// The request's path and query, for "come back here" fields.
pub fn here(uri: &http::Uri) -> String {
    uri.path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

impl Ctx {
    /// The API's answer, ending the session if its token no longer works.
    pub async fn ok<T>(&self, result: ApiResult<T>) -> Result<T, PageError> {
        match result {
            Ok(v) => Ok(v),
            Err(f) => Err(self.failed(f).await),
        }
    }

    pub async fn failed(&self, failure: ApiFailure) -> PageError {
        if failure.status == StatusCode::UNAUTHORIZED
            && let Some(session) = &self.session
        {
            let _ = self.svc.sessions.delete(&session.id_hash).await;
        }
        failure.into()
    }

    /// A page of posts from the API (`GET path`), as cards.
    pub async fn post_page(&self, path: &str) -> ApiResult<std::sync::Arc<CardPage>> {
        let (_, body) = self
            .svc
            .api
            .call(&self.caller, http::Method::GET, path, None)
            .await?;
        self.svc
            .cards
            .page(self.username().unwrap_or(""), path, body)
            .map_err(|_| ApiFailure::unavailable("the API's answer could not be read"))
    }

    /// The unread notification count for the header (0 when logged out or
    /// when it cannot be had: the page itself still shows).
    pub async fn unread(&self) -> Result<i64, PageError> {
        let Some(session) = &self.session else {
            return Ok(0);
        };
        let now = rookery_kernel::time::now_ms();
        if let Some((at, count)) = self.svc.unread.get(&session.id_hash)
            && now - at < crate::UNREAD_FRESH_MS
        {
            return Ok(count);
        }
        match self
            .svc
            .api
            .get::<Count>(&self.caller, "/api/v1/notifications/unread_count")
            .await
        {
            Ok(c) => {
                self.remember_unread(c.count);
                Ok(c.count)
            }
            Err(f) if f.status == StatusCode::UNAUTHORIZED => Err(self.failed(f).await),
            Err(_) => Ok(0),
        }
    }

    /// The session's unread count as of now (after reading notifications).
    pub fn remember_unread(&self, count: i64) {
        if let Some(session) = &self.session {
            self.svc.unread.insert(
                session.id_hash.clone(),
                (rookery_kernel::time::now_ms(), count),
            );
        }
    }

    /// A whole page in the layout.
    pub fn page(&self, title: &str, here: &str, unread: i64, content: Markup) -> Response {
        self.page_with_status(StatusCode::OK, title, here, unread, content)
    }

    pub fn page_with_status(
        &self,
        status: StatusCode,
        title: &str,
        here: &str,
        unread: i64,
        content: Markup,
    ) -> Response {
        let chrome = Chrome {
            title,
            username: self.username(),
            unread,
            csrf: &self.csrf,
            here,
        };
        let mut response = (
            status,
            axum::response::Html(layout(&chrome, content).into_string()),
        )
            .into_response();
        html_headers(response.headers_mut());
        response
    }

    /// A page with a form for visitors (log in, sign up): it sets the
    /// pre-login CSRF cookie when the browser has none yet.
    pub fn form_page(
        &self,
        status: StatusCode,
        title: &str,
        here: &str,
        content: Markup,
    ) -> Response {
        let mut response = self.page_with_status(status, title, here, 0, content);
        for cookie in self.cookies() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// The answer to a form: a fragment for the page script, else a
    /// redirect back.
    pub fn done(&self, next: &str, fragment: impl FnOnce() -> Markup) -> Response {
        if self.fragment {
            fragment_response(fragment())
        } else {
            redirect(next)
        }
    }

    /// Clears the session cookie (and the pre-login one) on `response`.
    pub fn end_session_cookie(&self, response: &mut Response) {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(SESSION_COOKIE, "", 0, self.https),
        );
        let _ = ANON_CSRF_COOKIE;
    }
}

pub fn fragment_response(markup: Markup) -> Response {
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response();
    html_headers(response.headers_mut());
    response
}

pub fn now() -> chrono::DateTime<Utc> {
    Utc::now()
}

/// A submitted form (`application/x-www-form-urlencoded`), keys in order.
pub struct Form(Vec<(String, String)>);

impl Form {
    pub fn parse(body: &Bytes) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The trimmed value, `None` when missing or blank.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn next(&self, default: &str) -> String {
        safe_next(self.get("next"), default)
    }
}

/// Checks the CSRF token and parses the form (the first thing every
/// state-changing handler does).
pub fn checked_form(ctx: &Ctx, body: &Bytes) -> Result<Form, PageError> {
    let form = Form::parse(body);
    ctx.check_csrf(form.get("csrf"))?;
    Ok(form)
}

/// Query parameters of list pages.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    pub cursor: Option<String>,
}

/// `&cursor=...` for an API list call.
pub fn cursor_param(cursor: &Option<String>) -> String {
    match cursor {
        Some(c) if !c.is_empty() && c.len() <= 200 => format!("&cursor={}", crate::api::enc(c)),
        _ => String::new(),
    }
}
