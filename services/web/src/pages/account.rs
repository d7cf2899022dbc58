//! Logging in, signing up and out: sessions made from tokens of the users API.

use axum::extract::Query;
use bytes::Bytes;
use http::{Method, StatusCode, header};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::{Form, PageError, PageResult, checked_form, redirect, safe_next};
use crate::api::{ApiFailure, Token, enc};
use crate::session::{
    ANON_CSRF_COOKIE, Ctx, SESSION_COOKIE, hash_session_id, random_token, set_cookie,
};
use crate::store::Session;
use crate::views::{csrf_field, next_field};

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
    changed: Option<String>,
}

/// Values to show again on a form that failed (never the password).
#[derive(Default)]
struct Entered<'a> {
    username: &'a str,
    email: &'a str,
    bio: &'a str,
    error: Option<String>,
    /// The field the error is about.
    field: Option<&'static str>,
}

fn login_form(ctx: &Ctx, next: &str, entered: &Entered<'_>, notice: Option<&str>) -> Markup {
    html! {
        h1 { "Log in" }
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        form method="post" action="/login" novalidate {
            (csrf_field(&ctx.csrf)) (next_field(next))
            @if let Some(e) = &entered.error { p.error id="login-error" role="alert" { (e) } }
            label for="username" { "Username" }
            input type="text" id="username" name="username" value=(entered.username)
                autocomplete="username" required autocapitalize="none" spellcheck="false";
            label for="password" { "Password" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            div.form-actions { button.primary type="submit" { "Log in" } }
        }
        p { "New here? " a href="/signup" { "Create an account" } }
    }
}

pub async fn login_page(ctx: Ctx, Query(q): Query<LoginQuery>) -> PageResult {
    let next = safe_next(q.next.as_deref(), "/");
    if ctx.session.is_some() {
        return Ok(redirect(&next));
    }
    let notice = if q.changed.is_some() {
        Some("Your password was changed. Log in with the new one.")
    } else if q.expired.is_some() {
        Some("Your session ended. Log in again.")
    } else {
        None
    };
    Ok(ctx.form_page(
        StatusCode::OK,
        "Log in",
        "/login",
        login_form(&ctx, &next, &Entered::default(), notice),
    ))
}

/// A new session for the token: its cookie on a redirect to `next`.
async fn start_session(ctx: &Ctx, token: Token, next: &str) -> PageResult {
    let id = random_token();
    let now = rookery_kernel::time::now_ms();
    let session = Session {
        id_hash: hash_session_id(&id),
        username: token.username,
        token: token.access_token,
        csrf: random_token(),
        created_at: now,
        expires_at: now + (token.expires_in.min(365 * 86_400) as i64) * 1000,
    };
    ctx.svc
        .sessions
        .create(&session)
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?;
    let mut response = redirect(next);
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &id, token.expires_in, ctx.https),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(ANON_CSRF_COOKIE, "", 0, ctx.https),
    );
    Ok(response)
}

pub async fn login(ctx: Ctx, body: Bytes) -> PageResult {
    let form = checked_form(&ctx, &body)?;
    let next = form.next("/");
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let result = ctx
        .svc
        .api
        .send_json::<Token>(
            &ctx.caller,
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({"username": username, "password": password})),
        )
        .await;
    match result {
        Ok(token) => start_session(&ctx, token, &next).await,
        Err(f) if f.status == StatusCode::UNAUTHORIZED || f.status == StatusCode::BAD_REQUEST => {
            let entered = Entered {
                username,
                error: Some(if f.status == StatusCode::BAD_REQUEST {
                    "Enter your username and password.".into()
                } else {
                    "Wrong username or password.".into()
                }),
                ..Entered::default()
            };
            Ok(ctx.form_page(
                f.status,
                "Log in",
                "/login",
                login_form(&ctx, &next, &entered, None),
            ))
        }
        Err(f) => Err(f.into()),
    }
}

fn signup_form(ctx: &Ctx, entered: &Entered<'_>) -> Markup {
    let error_for = |field: &str| -> Option<&str> {
        (entered.field == Some(field))
            .then_some(entered.error.as_deref())
            .flatten()
    };
    let field_error = |field: &'static str| {
        html! { @if let Some(e) = error_for(field) { p.error id={ (field) "-error" } role="alert" { (e) } } }
    };
    html! {
        h1 { "Sign up" }
        form method="post" action="/signup" novalidate {
            (csrf_field(&ctx.csrf))
            @if let (Some(e), None) = (&entered.error, entered.field) { p.error role="alert" { (e) } }
            label for="username" { "Username" }
            (field_error("username"))
            input type="text" id="username" name="username" value=(entered.username)
                autocomplete="username" required maxlength="30" autocapitalize="none" spellcheck="false"
                aria-describedby="username-hint";
            p.muted id="username-hint" { "Letters, digits and _ only, up to 30." }
            label for="email" { "Email" }
            (field_error("email"))
            input type="email" id="email" name="email" value=(entered.email) autocomplete="email" required;
            label for="password" { "Password" }
            (field_error("password"))
            input type="password" id="password" name="password" autocomplete="new-password" required
                minlength="8" aria-describedby="password-hint";
            p.muted id="password-hint" { "At least 8 characters." }
            label for="bio" { "Bio" }
            (field_error("bio"))
            textarea id="bio" name="bio" maxlength="500" aria-describedby="bio-hint" { (entered.bio) }
            p.muted id="bio-hint" { "Optional: a few words about you." }
            div.form-actions { button.primary type="submit" { "Sign up" } }
        }
    }
}

pub async fn signup_page(ctx: Ctx) -> PageResult {
    if ctx.session.is_some() {
        return Ok(redirect("/"));
    }
    Ok(ctx.form_page(
        StatusCode::OK,
        "Sign up",
        "/signup",
        signup_form(&ctx, &Entered::default()),
    ))
}

pub async fn signup(ctx: Ctx, body: Bytes) -> PageResult {
    let form = checked_form(&ctx, &body)?;
    let username = form.get("username").unwrap_or("").trim();
    let email = form.get("email").unwrap_or("").trim();
    let bio = form.get("bio").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let mut request = json!({"username": username, "email": email, "password": password});
    if !bio.is_empty() {
        request["bio"] = json!(bio);
    }
    let api = &ctx.svc.api;
    let registered = api
        .send(&ctx.caller, Method::POST, "/api/v1/users", Some(request))
        .await;
    let failure: ApiFailure = match registered {
        Ok(_) => {
            let token = api
                .send_json::<Token>(
                    &ctx.caller,
                    Method::POST,
                    "/api/v1/auth/token",
                    Some(json!({"username": username, "password": password})),
                )
                .await?;
            return start_session(&ctx, token, "/").await;
        }
        Err(f) => f,
    };
    let (error, field) = match (failure.status, failure.code.as_str()) {
        (StatusCode::CONFLICT, "username_taken") => (
            "That username is taken. Choose another one.".to_string(),
            Some("username"),
        ),
        (StatusCode::CONFLICT, "email_taken") => (
            "An account with that email exists already.".to_string(),
            Some("email"),
        ),
        (StatusCode::BAD_REQUEST, _) => {
            let field = match failure.field.as_deref() {
                Some("username") => Some("username"),
                Some("email") => Some("email"),
                Some("password") => Some("password"),
                Some("bio") => Some("bio"),
                _ => None,
            };
            (failure.message.clone(), field)
        }
        _ => return Err(failure.into()),
    };
    let entered = Entered {
        username,
        email,
        bio,
        error: Some(error),
        field,
    };
    let status = failure.status;
    Ok(ctx.form_page(status, "Sign up", "/signup", signup_form(&ctx, &entered)))
}

pub async fn logout(ctx: Ctx, body: Bytes) -> PageResult {
    let session = ctx.require_login()?;
    let _form: Form = checked_form(&ctx, &body)?;
    // The token is revoked first; the session goes whatever the API says.
    let _ = ctx
        .svc
        .api
        .send(&ctx.caller, Method::DELETE, "/api/v1/auth/token", None)
        .await;
    ctx.svc
        .sessions
        .delete(&session.id_hash)
        .await
        .map_err(|e| PageError::Unavailable(e.to_string()))?;
    let mut response = redirect("/");
    ctx.end_session_cookie(&mut response);
    Ok(response)
}

/// `/login?next=...` for a page that needs an account.
pub fn login_url(next: &str) -> String {
    format!("/login?next={}", enc(next))
}
