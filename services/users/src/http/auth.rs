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

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    #[schema(value_type = String)]
    pub username: Option<String>,
    #[schema(value_type = String)]
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
    pub username: String,
}

/// Exchange credentials (HTTP Basic, or a JSON body) for a bearer token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body(content = Option<TokenRequest>, description = "Omit (or send `null`) when sending HTTP Basic"),
    security((), ("basic" = [])),
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, description = "Malformed body, or username or password missing", body = ErrorBody),
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
    let (user_id, username) = if has_body {
        let form = headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let req: TokenRequest = parse_body(&body, form)?;
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
    let token = svc.auth.issue_token(user_id).await?;
    Ok(Json(TokenResponse {
        access_token: token.access_token,
        token_type: "Bearer",
        expires_in: token.expires_in,
        username,
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
