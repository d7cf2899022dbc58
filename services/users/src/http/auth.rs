//! Bearer tokens and whoami.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::parse_body;
use rookery_kernel::identity::{AuthMethod, Identity, MaybeIdentity};
use rookery_kernel::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::UserView;
use crate::UsersService;
use crate::domain::Scope;

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The account's username, or the email address it registered with
    /// (anything with an `@`; case-insensitive either way). Required unless
    /// the request carries HTTP Basic credentials.
    pub username: Option<String>,
    /// Required unless the request carries HTTP Basic credentials.
    pub password: Option<String>,
    /// OAuth scopes for the token, space-separated (e.g. `read write:statuses`):
    /// 1..=30 names, each `^[a-z]+(:[a-z_]+)*$`, at most 1000 characters.
    /// Without it the token has full access. With it, a token whose scopes
    /// include neither `write`, `follow` nor any `write:...` is read-only: its requests
    /// other than GET, HEAD and OPTIONS (logging out excepted) get 403
    /// `insufficient_scope`. With HTTP Basic, a body of only `scope` may be sent.
    #[schema(
        max_length = 1000,
        pattern = r"^\s*[a-z]+(?::[a-z_]+)*(?:\s+[a-z]+(?::[a-z_]+)*){0,29}\s*$",
        example = "read write follow"
    )]
    pub scope: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    /// The account's username as it spells it.
    pub username: String,
    /// The token's scopes, normalized (each once, in the order asked,
    /// single spaces); present only when the request gave `scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "read write follow")]
    pub scope: Option<String>,
}

/// Exchange credentials (HTTP Basic, or a body with a username or email and
/// a password) for a bearer token, optionally limited to OAuth scopes.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body(content = Option<TokenRequest>, description = "Omit (or send `null`) when sending HTTP Basic without `scope`"),
    security((), ("basic" = [])),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Malformed body, username or password missing, or an invalid `scope` (`field`: `scope`)", body = ErrorBody),
        (status = 401, description = "Bad credentials", body = ErrorBody),
        (status = 429, description = "Too many failures", body = ErrorBody),
    ))]
pub async fn create_token(
    State(svc): State<Arc<UsersService>>,
    MaybeIdentity(caller): MaybeIdentity,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<TokenResponse>> {
    // No body, or JSON `null` (the documented schema allows it): HTTP Basic.
    let has_body = body.trim_ascii() != b"" && body.trim_ascii() != b"null";
    let mut scope = None;
    let (user_id, username) = if has_body {
        let form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let req: TokenRequest = parse_body(&body, form)?;
        // Checked before the credentials: a bad scope costs no argon2.
        scope = req.scope.as_deref().map(Scope::parse).transpose()?;
        match (req.username, req.password) {
            (Some(username), Some(password)) => {
                let ip = crate::http::internal::client_ip(&headers);
                let auth = svc
                    .auth
                    .verify_password(&username, &password, ip.as_deref())
                    .await?;
                (auth.user_id, auth.username)
            }
            _ if caller.is_some() => basic_caller(&svc, caller).await?,
            _ => {
                return Err(ApiError::invalid(
                    "username",
                    "username and password are required",
                ));
            }
        }
    } else {
        basic_caller(&svc, caller).await?
    };
    let token = svc
        .auth
        .issue_token(user_id, &username, scope.as_ref())
        .await?;
    Ok(Json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in,
        username,
        scope: scope.map(Scope::into_string),
    }))
}

/// The account proven by HTTP Basic on this request (a bearer token cannot
/// be exchanged for another one).
async fn basic_caller(svc: &UsersService, caller: Option<Identity>) -> ApiResult<(i64, String)> {
    match caller {
        Some(id) if id.method == AuthMethod::Basic => svc
            .store
            .user_by_id(id.user_id)
            .await?
            .filter(|u| u.active)
            .map(|u| (u.id, u.username))
            .ok_or_else(|| ApiError::unauthorized("invalid username or password")),
        _ => Err(ApiError::unauthorized(
            "send HTTP Basic credentials or a JSON body with username and password",
        )),
    }
}

/// Log out: the bearer token used on this request stops working.
#[utoipa::path(delete, path = "/api/v1/auth/token", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Not authenticated with a bearer token", body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn revoke_token(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
) -> ApiResult<StatusCode> {
    let session = caller.session_id.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bearer_required",
            "log out with the bearer token to revoke",
        )
    })?;
    svc.store.revoke_session(session).await?;
    svc.auth.forget_session(session);
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own account (private view).
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth",
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorBody)))]
pub async fn whoami(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
) -> ApiResult<Json<UserView>> {
    let user = svc
        .store
        .user_by_id(caller.user_id)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::unauthorized("account is deactivated"))?;
    Ok(Json(UserView::private(&user)))
}
