//! Service-to-service routes (not routed by the gateway to clients).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use rookery_kernel::ApiResult;
use rookery_kernel::extract::{JsonBody, Query};
use rookery_kernel::identity::{Authenticate, Identity};

use crate::auth::Authenticated;
use serde::{Deserialize, Serialize};

use crate::UsersService;

#[derive(Deserialize, Serialize)]
pub struct AuthenticateRequest {
    /// The client's `Authorization` header, as sent.
    pub authorization: String,
    /// The client's address, for the per-IP failure limit.
    pub client_ip: Option<String>,
}

#[derive(Deserialize, Serialize)]
pub struct AuthenticateResponse {
    /// Signed identity to pass to services in `x-rookery-identity`.
    pub identity: String,
    pub user_id: String,
    pub username: String,
}

/// Used by the gateway: checks a client's credentials and answers with a
/// signed identity (or the 401/429 to pass on).
pub async fn authenticate(
    State(svc): State<Arc<UsersService>>,
    JsonBody(req): JsonBody<AuthenticateRequest>,
) -> ApiResult<Json<AuthenticateResponse>> {
    let (identity, auth) = svc
        .sign_identity(&req.authorization, req.client_ip.as_deref())
        .await?;
    Ok(Json(AuthenticateResponse {
        identity,
        user_id: auth.user_id.to_string(),
        username: auth.username,
    }))
}

impl UsersService {
    /// Checks an `Authorization` header and signs the caller's identity.
    pub async fn sign_identity(
        &self,
        authorization: &str,
        client_ip: Option<&str>,
    ) -> ApiResult<(String, Authenticated)> {
        let auth = self
            .auth
            .authenticate_header(authorization, client_ip)
            .await?;
        let identity = Identity {
            user_id: auth.user_id,
            username: auth.username.clone(),
            method: auth.method,
            session_id: auth.session_id,
        };
        Ok((self.identity.sign(&identity), auth))
    }
}

/// The in-process path of the gateway (embedded mode): no HTTP, no JSON.
impl Authenticate for UsersService {
    fn authenticate<'a>(
        &'a self,
        authorization: &'a str,
        client_ip: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Response>> {
        Box::pin(async move {
            self.sign_identity(authorization, client_ip)
                .await
                .map(|(token, _)| token)
                .map_err(IntoResponse::into_response)
        })
    }
}

/// The client address as the gateway reported it: the last `X-Forwarded-For`
/// hop, the one the gateway appended (earlier hops are the client's word).
pub fn client_ip(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// What other services keep of an account (their replicas of `user.*` events).
#[derive(Deserialize, Serialize)]
pub struct AccountFacts {
    pub user_id: String,
    pub username: String,
    pub active: bool,
}

/// Used by services whose replica of accounts missed one (its
/// `user.registered` event still on the way): the account by username,
/// deactivated ones included; 404 when there is none.
pub async fn account(
    State(svc): State<Arc<UsersService>>,
    axum::extract::Path(username): axum::extract::Path<String>,
) -> ApiResult<Json<AccountFacts>> {
    let user = svc
        .store
        .user_by_username(username.trim())
        .await?
        .ok_or_else(|| rookery_kernel::ApiError::not_found("no such user"))?;
    Ok(Json(AccountFacts {
        user_id: user.id.to_string(),
        username: user.username,
        active: user.active,
    }))
}

/// Most ids one batch lookup takes.
pub const BATCH_MAX: usize = 100;

/// A public view with the account's id, for other services.
#[derive(Serialize)]
pub struct ServiceUserView {
    pub user_id: String,
    #[serde(flatten)]
    pub view: crate::http::UserView,
}

impl ServiceUserView {
    pub fn of(user: &crate::store::User) -> Self {
        Self {
            user_id: user.id.to_string(),
            view: crate::http::UserView::public(user),
        }
    }
}

#[derive(Deserialize)]
pub struct BatchParams {
    /// Comma-separated user ids.
    pub ids: Option<String>,
}

/// Comma-separated decimal ids (empty members skipped), at most [`BATCH_MAX`].
fn parse_ids(raw: Option<&str>) -> ApiResult<Vec<i64>> {
    let ids: Vec<i64> = raw
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            rookery_kernel::ids::parse_id(s)
                .ok_or_else(|| rookery_kernel::ApiError::invalid("ids", "not a user id"))
        })
        .collect::<ApiResult<_>>()?;
    if ids.len() > BATCH_MAX {
        return Err(rookery_kernel::ApiError::invalid("ids", "at most 100 ids"));
    }
    Ok(ids)
}

/// Public views of the given active accounts (one query); unknown and
/// deactivated ids are left out, order not guaranteed.
pub async fn users_batch(
    State(svc): State<Arc<UsersService>>,
    Query(params): Query<BatchParams>,
) -> ApiResult<Json<serde_json::Value>> {
    let ids = parse_ids(params.ids.as_deref())?;
    let users = if ids.is_empty() {
        Vec::new()
    } else {
        svc.store.users_by_ids(&ids).await?
    };
    let items: Vec<ServiceUserView> = users
        .iter()
        .filter(|u| u.active)
        .map(ServiceUserView::of)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

#[derive(Deserialize)]
pub struct SearchParams {
    pub q: Option<String>,
    pub limit: Option<String>,
    /// The searching account's id, whose blocks (both ways) are left out.
    pub viewer: Option<String>,
}

/// Accounts matching `q`: username prefix matches first, then bio matches
/// (every word), without accounts the viewer blocks or who block the viewer.
/// Every character of `q` is text, never query syntax.
pub async fn search(
    State(svc): State<Arc<UsersService>>,
    Query(params): Query<SearchParams>,
) -> ApiResult<Response> {
    let Some(q) = params.q else {
        // `/internal/v1/users/search` is also the account lookup of a user
        // named "search"; a lookup has no `q`.
        return Ok(
            account(State(svc), axum::extract::Path("search".to_string()))
                .await?
                .into_response(),
        );
    };
    let q = q.trim();
    if q.is_empty() {
        return Err(rookery_kernel::ApiError::invalid(
            "q",
            "q must not be empty",
        ));
    }
    let limit = rookery_kernel::pagination::parse_limit("limit", params.limit.as_deref())?;
    let viewer = params
        .viewer
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            rookery_kernel::ids::parse_id(v)
                .ok_or_else(|| rookery_kernel::ApiError::invalid("viewer", "not a user id"))
        })
        .transpose()?;
    let users = svc.store.search_users(q, viewer, limit).await?;
    let items: Vec<ServiceUserView> = users.iter().map(ServiceUserView::of).collect();
    Ok(Json(serde_json::json!({ "items": items })).into_response())
}
