//! OAuth 2 for Mastodon apps: app registration, the authorize page (login
//! and consent, CSRF-protected; the out-of-band code shown on a page), the
//! token endpoint (authorization_code, password, client_credentials) and
//! revocation. Account tokens are Rookery bearer tokens carrying their
//! scopes, so logout, password changes and deactivation revoke them.

use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use maud::{DOCTYPE, Markup, html};
use rand::RngCore;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use subtle::ConstantTimeEq;

use super::{JsonResult, RawBody, json};
use crate::MastodonService;
use crate::ctx::{APP_TOKEN_PREFIX, Ctx, sha256_hex};
use crate::error::{MastoError, MastoResult};
use crate::params::Params;
use crate::scopes::Scopes;
use crate::store::{App, AppToken, AuthCode};

pub const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";
/// How long an authorization code can be exchanged.
const CODE_TTL_MS: i64 = 10 * 60 * 1000;
const CSRF_COOKIE: &str = "rookery_oauth_csrf";

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now_ms() -> i64 {
    rookery_kernel::time::now_ms()
}

fn valid_redirect(uri: &str) -> bool {
    if uri == OOB {
        return true;
    }
    // An absolute URI with a scheme (apps use custom schemes too) and no
    // fragment, as RFC 6749 3.1.2 requires.
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
        && !rest.is_empty()
        && !uri.contains('#')
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn app_json(app: &App, secret: Option<&str>) -> serde_json::Value {
    let scopes: Vec<&str> = app.scopes.split(' ').filter(|s| !s.is_empty()).collect();
    let mut value = json!({
        "id": app.client_id,
        "name": app.name,
        "website": app.website,
        "scopes": scopes,
        "redirect_uri": app.redirect_uris.join("\n"),
        "redirect_uris": app.redirect_uris,
        "vapid_key": "",
    });
    if let Some(secret) = secret {
        value["client_id"] = json!(app.client_id);
        value["client_secret"] = json!(secret);
        value["client_secret_expires_at"] = json!(0);
    }
    value
}

/// `POST /api/v1/apps`: registers a client (JSON or form).
pub async fn create_app(ctx: Ctx, headers: HeaderMap, body: RawBody) -> JsonResult {
    let params = ctx.with_body(&headers, &body)?;
    let name = params
        .text("client_name")
        .ok_or_else(|| MastoError::unprocessable("Name can't be blank"))?;
    if name.chars().count() > 200 {
        return Err(MastoError::unprocessable(
            "Name is too long (maximum is 200 characters)",
        ));
    }
    let mut uris: Vec<String> = params
        .list("redirect_uris")
        .iter()
        .flat_map(|v| {
            v.split(['\n', ' '])
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|u| !u.is_empty())
        .collect();
    uris.dedup();
    if uris.is_empty() {
        return Err(MastoError::unprocessable("Redirect URI can't be blank"));
    }
    if uris.len() > 20 || uris.iter().any(|u| u.len() > 2000 || !valid_redirect(u)) {
        return Err(MastoError::unprocessable(
            "Redirect URI must be an absolute URI.",
        ));
    }
    let scopes = Scopes::parse(params.string("scopes").as_deref(), "read")
        .map_err(|_| MastoError::unprocessable("Scopes must be valid OAuth scopes"))?;
    let website = params.text("website").filter(|w| w.len() <= 2000);
    let secret = random_token();
    let app = App {
        client_id: random_token(),
        secret_hash: sha256_hex(&secret),
        name,
        website,
        redirect_uris: uris,
        scopes: scopes.to_string_list(),
        created_at: now_ms(),
    };
    ctx.svc.store.create_app(&app).await?;
    Ok(json(&app_json(&app, Some(&secret))))
}

/// `GET /api/v1/apps/verify_credentials`: the app of a client_credentials
/// token (account tokens do not name their app).
pub async fn verify_app(ctx: Ctx) -> JsonResult {
    let token = ctx.token.as_ref().ok_or_else(MastoError::unauthorized)?;
    if !token.app {
        return Err(MastoError::unprocessable(
            "only client_credentials tokens name their application here",
        ));
    }
    let found = ctx.svc.store.app_token(&sha256_hex(&token.raw)).await?;
    let app = match found {
        Some(t) => ctx.svc.store.app(&t.client_id).await?,
        None => None,
    }
    .ok_or_else(MastoError::unauthorized)?;
    Ok(json(&app_json(&app, None)))
}

/// The client, checked by its secret (in the body or HTTP Basic).
async fn authenticate_client(
    svc: &MastodonService,
    params: &Params,
    headers: &HeaderMap,
) -> MastoResult<App> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((id.to_string(), secret.to_string()))
        });
    let (client_id, secret) = match (
        params.text("client_id"),
        params.text("client_secret"),
        basic,
    ) {
        (Some(id), Some(secret), _) => (id, secret),
        (_, _, Some(pair)) => pair,
        _ => {
            return Err(MastoError::oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
            ));
        }
    };
    let app = svc.store.app(&client_id).await?;
    match app {
        Some(app)
            if bool::from(
                sha256_hex(&secret)
                    .as_bytes()
                    .ct_eq(app.secret_hash.as_bytes()),
            ) =>
        {
            Ok(app)
        }
        _ => Err(MastoError::oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        )),
    }
}

#[derive(Deserialize)]
struct NativeToken {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

fn token_json(access_token: &str, scope: &str, expires_in: Option<u64>) -> Response {
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "scope": scope,
        "created_at": now_ms() / 1000,
    });
    // An integer or nothing: `null` breaks Mastodon.py's log_in.
    if let Some(secs) = expires_in {
        body["expires_in"] = json!(secs);
    }
    let mut response = json(&body);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Asks the users service for a bearer token carrying `scope` (failed
/// logins count and are limited there, as for any client).
async fn native_token(
    ctx: &Ctx,
    username: &str,
    password: &str,
    scope: &Scopes,
) -> MastoResult<NativeToken> {
    let result = ctx
        .svc
        .api
        .send_json::<NativeToken>(
            &ctx.anonymous(),
            Method::POST,
            "/api/v1/auth/token",
            Some(json!({
                "username": username,
                "password": password,
                "scope": scope.to_string_list(),
            })),
        )
        .await;
    result.map_err(|f| match f.status {
        StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => MastoError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
        ),
        _ => f.into(),
    })
}

fn requested_scopes(params: &Params, app: &App) -> MastoResult<Scopes> {
    let allowed = Scopes::parse(Some(&app.scopes), "read")?;
    let wanted = Scopes::parse(params.string("scope").as_deref(), "read")?;
    if !wanted.within(&allowed) {
        return Err(MastoError::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.",
        ));
    }
    Ok(wanted)
}

/// `POST /oauth/token` (form or JSON).
pub async fn token(ctx: Ctx, headers: HeaderMap, body: RawBody) -> JsonResult {
    let params = Params::from_body(&headers, &body)?;
    let grant = params.text("grant_type").unwrap_or_default();
    let app = authenticate_client(&ctx.svc, &params, &headers).await?;
    match grant.as_str() {
        "authorization_code" => {
            let code = params.text("code").ok_or_else(|| {
                MastoError::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "code is missing",
                )
            })?;
            let taken = ctx
                .svc
                .store
                .take_code(&sha256_hex(&code), now_ms())
                .await?;
            let invalid = || {
                MastoError::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
                )
            };
            let code = taken.ok_or_else(invalid)?;
            let redirect_ok = params
                .text("redirect_uri")
                .is_none_or(|uri| uri == code.redirect_uri);
            if code.client_id != app.client_id || !redirect_ok {
                return Err(invalid());
            }
            Ok(token_json(&code.access_token, &code.scope, None))
        }
        "password" => {
            let scopes = requested_scopes(&params, &app)?;
            let (Some(username), Some(password)) =
                (params.text("username"), params.string("password"))
            else {
                return Err(MastoError::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                ));
            };
            let issued = native_token(&ctx, &username, &password, &scopes).await?;
            Ok(token_json(
                &issued.access_token,
                &scopes.to_string_list(),
                issued.expires_in,
            ))
        }
        "client_credentials" => {
            let scopes = requested_scopes(&params, &app)?;
            let raw = format!("{APP_TOKEN_PREFIX}{}", random_token());
            ctx.svc
                .store
                .create_app_token(&AppToken {
                    token_hash: sha256_hex(&raw),
                    client_id: app.client_id.clone(),
                    scope: scopes.to_string_list(),
                    created_at: now_ms(),
                })
                .await?;
            Ok(token_json(&raw, &scopes.to_string_list(), None))
        }
        _ => Err(MastoError::oauth(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        )),
    }
}

/// `POST /oauth/revoke`: the token stops working (unknown tokens too get
/// `{}`, RFC 7009).
pub async fn revoke(ctx: Ctx, headers: HeaderMap, body: RawBody) -> JsonResult {
    let params = Params::from_body(&headers, &body)?;
    let app = authenticate_client(&ctx.svc, &params, &headers).await?;
    let token = params.text("token").unwrap_or_default();
    if token.starts_with(APP_TOKEN_PREFIX) {
        let hash = sha256_hex(&token);
        if let Some(found) = ctx.svc.store.app_token(&hash).await?
            && found.client_id == app.client_id
        {
            ctx.svc.store.delete_app_token(&hash).await?;
        }
    } else if !token.is_empty() {
        let caller = rookery_gateway::client::Caller {
            token: Some(token),
            ..ctx.anonymous()
        };
        match ctx
            .svc
            .api
            .send(&caller, Method::DELETE, "/api/v1/auth/token", None)
            .await
        {
            Ok(_) => {}
            // Already invalid: nothing to revoke.
            Err(f)
                if f.status == StatusCode::UNAUTHORIZED || f.status == StatusCode::BAD_REQUEST => {}
            Err(f) => return Err(f.into()),
        }
    }
    Ok(json(&json!({})))
}

// ----- the authorize page -----

/// What the authorize page was asked for.
struct Request {
    app: App,
    redirect_uri: String,
    scopes: Scopes,
    state: Option<String>,
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Rookery" }
                style { (maud::PreEscaped(PAGE_CSS)) }
            }
            body { main { (body) } }
        }
    }
}

const PAGE_CSS: &str = "body{font-family:system-ui,sans-serif;margin:0;background:#f6f6f4;color:#1b1b1b}\
main{max-width:28rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:12px}\
label{display:block;margin:.8rem 0 .3rem}input{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}\
button{margin-top:1rem;padding:.55rem 1.2rem;font-size:1rem;margin-right:.5rem}\
code{display:block;font-size:1.2rem;padding:.8rem;background:#eee;word-break:break-all;user-select:all}\
.error{color:#a00}@media (prefers-color-scheme:dark){body{background:#111;color:#eee}main{background:#1c1c1c}code{background:#333}}";

/// The page's security headers: no script at all, no framing.
fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = page(
        "Authorization failed",
        html! {
            h1 { "Authorization failed" }
            p.error { (message) }
        },
    );
    secure((status, Html(body.into_string())).into_response())
}

async fn read_request(svc: &MastodonService, params: &Params) -> Result<Request, Response> {
    let client_id = params.text("client_id").unwrap_or_default();
    let Ok(Some(app)) = svc.store.app(&client_id).await else {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Unknown application (client_id).",
        ));
    };
    let redirect_uri = params.text("redirect_uri").unwrap_or_default();
    if !app.redirect_uris.contains(&redirect_uri) {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "The redirect URI is not one this application registered.",
        ));
    }
    if params.text("response_type").as_deref() != Some("code") {
        return Err(error_page(
            StatusCode::BAD_REQUEST,
            "Only response_type=code is supported.",
        ));
    }
    let scopes = requested_scopes(params, &app).map_err(|_| {
        error_page(
            StatusCode::BAD_REQUEST,
            "The requested scope is invalid or more than the application registered.",
        )
    })?;
    Ok(Request {
        app,
        redirect_uri,
        scopes,
        // Mastodon.py sends the literal "None" when it has no state.
        state: params
            .string("state")
            .filter(|s| !s.is_empty() && s != "None"),
    })
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn consent_form(req: &Request, csrf: &str, username: &str, error: Option<&str>) -> Markup {
    let scopes = req.scopes.to_string_list();
    page(
        "Authorize",
        html! {
            h1 { "Authorize " (req.app.name) }
            p { "“" (req.app.name) "” asks to use your Rookery account with these permissions: " strong { (scopes) } "." }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            form method="post" action="/oauth/authorize" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="client_id" value=(req.app.client_id);
                input type="hidden" name="redirect_uri" value=(req.redirect_uri);
                input type="hidden" name="scope" value=(scopes);
                input type="hidden" name="response_type" value="code";
                @if let Some(state) = &req.state { input type="hidden" name="state" value=(state); }
                label for="username" { "Username" }
                input id="username" name="username" autocomplete="username" required value=(username);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" name="decision" value="authorize" { "Authorize" }
                button type="submit" name="decision" value="deny" formnovalidate { "Deny" }
            }
        },
    )
}

/// `GET /oauth/authorize`: the login and consent page.
pub async fn authorize_page(
    State(svc): State<Arc<MastodonService>>,
    uri: http::Uri,
    headers: HeaderMap,
) -> Response {
    let params = Params::from_query(uri.query());
    let req = match read_request(&svc, &params).await {
        Ok(req) => req,
        Err(page) => return page,
    };
    // Double-submit: the form carries the cookie's value; another site can
    // neither read the cookie nor (SameSite=Strict) send it.
    let csrf = cookie_value(&headers, CSRF_COOKIE)
        .filter(|v| v.len() >= 32)
        .unwrap_or_else(random_token);
    let mut response = Html(consent_form(&req, &csrf, "", None).into_string()).into_response();
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={csrf}; Path=/oauth; HttpOnly; SameSite=Strict; Max-Age=3600"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    secure(response)
}

fn redirect_with(uri: &str, pairs: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{uri}{sep}{}", query.finish())).into_response()
}

/// `POST /oauth/authorize`: logs in and consents (or denies).
pub async fn authorize(ctx: Ctx, headers: HeaderMap, body: RawBody) -> Response {
    let Ok(params) = Params::from_body(&headers, &body) else {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    };
    let req = match read_request(&ctx.svc, &params).await {
        Ok(req) => req,
        Err(page) => return page,
    };
    let sent = params.string("csrf").unwrap_or_default();
    let cookie = cookie_value(&headers, CSRF_COOKIE).unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(cookie.as_bytes())) {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form expired or came from another site. Go back, reload the page and try again.",
        );
    }
    let state = req.state.clone();
    if params.text("decision").as_deref() == Some("deny") {
        if req.redirect_uri == OOB {
            return error_page(StatusCode::FORBIDDEN, "You denied the application access.");
        }
        let mut pairs = vec![("error", "access_denied")];
        if let Some(s) = &state {
            pairs.push(("state", s));
        }
        return redirect_with(&req.redirect_uri, &pairs);
    }
    let username = params.text("username").unwrap_or_default();
    let password = params.string("password").unwrap_or_default();
    let issued = match native_token(&ctx, &username, &password, &req.scopes).await {
        Ok(t) => t,
        Err(e) => {
            let (status, message) = if e.status == StatusCode::TOO_MANY_REQUESTS {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed attempts. Try again in {} seconds.",
                        e.retry_after.unwrap_or(60)
                    ),
                )
            } else if e.status == StatusCode::BAD_REQUEST {
                (
                    StatusCode::UNAUTHORIZED,
                    "Invalid username or password.".to_string(),
                )
            } else {
                (
                    e.status,
                    "The service is unavailable; try again.".to_string(),
                )
            };
            let form = consent_form(&req, &cookie, &username, Some(&message));
            return secure((status, Html(form.into_string())).into_response());
        }
    };
    let code = random_token();
    let stored = ctx
        .svc
        .store
        .create_code(&AuthCode {
            code_hash: sha256_hex(&code),
            client_id: req.app.client_id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scope: req.scopes.to_string_list(),
            access_token: issued.access_token,
            expires_at: now_ms() + CODE_TTL_MS,
        })
        .await;
    if stored.is_err() {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is unavailable; try again.",
        );
    }
    if req.redirect_uri == OOB {
        let body = page(
            "Authorization code",
            html! {
                h1 { "Authorization code" }
                p { "Copy this code and paste it into " (req.app.name) ":" }
                code id="code" { (code) }
                p { "It works once, within ten minutes." }
            },
        );
        return secure(Html(body.into_string()).into_response());
    }
    let mut pairs = vec![("code", code.as_str())];
    if let Some(s) = &state {
        pairs.push(("state", s));
    }
    redirect_with(&req.redirect_uri, &pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        assert!(valid_redirect(OOB));
        assert!(valid_redirect("https://app.example/cb"));
        assert!(valid_redirect("com.example.app://oauth"));
        assert!(!valid_redirect("/relative"));
        assert!(!valid_redirect("https://a/b#frag"));
        assert!(!valid_redirect("not a uri"));
    }
}
