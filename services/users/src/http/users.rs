//! Accounts: register, list, read, update, deactivate.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::extract::{JsonBody, Query};
use rookery_kernel::identity::{Identity, MaybeIdentity};
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::{ApiError, ApiResult};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{UserPage, UserView};
use crate::UsersService;
use crate::domain::{Email, Password, Username, parse_bio};
use crate::store::{NewUser, User, UserUpdate};

// The documented rules are those of `crate::domain` (strings are trimmed
// first; the schemas describe the trimmed form). Required members are
// `Option` here so that a missing one is a 400 naming it.
#[derive(Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// Letters, digits and underscores; unique case-insensitively.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_]{1,30}$", example = "alice")]
    pub username: Option<String>,
    #[schema(value_type = String, max_length = 254, example = "alice@example.com",
        pattern = r"^[A-Za-z0-9._%+!#$&'*/=?^`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    pub email: Option<String>,
    /// 8..=256 characters once trimmed (the pattern says so: surrounding
    /// whitespace is trimmed, as from every string).
    #[schema(value_type = String, example = "correct horse battery staple",
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{6,254}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    pub password: Option<String>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub bio: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateRequest {
    #[schema(
        max_length = 254,
        pattern = r"^[A-Za-z0-9._%+!#$&'*/=?^`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
    )]
    pub email: Option<String>,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    pub bio: Option<String>,
    /// 8..=256 characters once trimmed; revokes every token of the account.
    #[schema(
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\s\S]{6,254}[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
    )]
    pub password: Option<String>,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::invalid(field, format!("{field} is required")))
}

/// Register an account.
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Created; the private view", body = UserView,
            headers(("Location" = String, description = "/api/v1/users/{username}"))),
        (status = 400, description = "Invalid input", body = ErrorBody),
        (status = 409, description = "`username_taken` or `email_taken`", body = ErrorBody),
    ))]
pub async fn register(
    State(svc): State<Arc<UsersService>>,
    JsonBody(req): JsonBody<RegisterRequest>,
) -> ApiResult<Response> {
    let username = Username::parse(required(&req.username, "username")?)?;
    let email = Email::parse(required(&req.email, "email")?)?;
    let password = Password::parse(required(&req.password, "password")?)?;
    let bio = parse_bio(req.bio.as_deref())?;
    // A taken name is answered before paying for argon2.
    if svc
        .store
        .user_by_username(username.as_str())
        .await?
        .is_some()
    {
        return Err(crate::store::StoreError::UsernameTaken.into());
    }
    let password_hash = svc.auth.hasher().hash(password.as_str()).await?;
    // A new account has no changes yet.
    let seen = 0;
    let user = svc
        .store
        .create_user(NewUser {
            username: username.into_string(),
            email: email.into_string(),
            password_hash,
            bio,
        })
        .await?;
    svc.auth
        .remember_credentials(&user, password.as_str(), seen, false);
    Ok(created(&user))
}

fn created(user: &User) -> Response {
    let location = format!("/api/v1/users/{}", user.username);
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(UserView::private(user)),
    )
        .into_response()
}

/// Most names one `usernames` lookup takes.
pub const USERNAMES_MAX: usize = 100;

#[derive(Deserialize)]
pub struct ListParams {
    pub usernames: Option<String>,
}

/// The names of a `usernames` parameter: 1..=100, each once
/// (case-insensitively), in the order given.
pub(crate) fn parse_usernames(raw: &str) -> ApiResult<Vec<String>> {
    rookery_kernel::extract::name_list("usernames", raw)
}

/// List active users by username ascending; or, with `usernames`, those
/// accounts (one lookup). Views are public, your own account's private.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(
        ("usernames" = Option<String>, Query, pattern = r"^ *[A-Za-z0-9_]{1,30} *(, *[A-Za-z0-9_]{1,30} *){0,99}$", example = "alice,bob",
            description = "Comma-separated usernames (1..=100, case-insensitive, none empty): the answer \
                is those accounts in the order asked, each once, unknown and deactivated ones left out, \
                `next_cursor` null. `limit` and `cursor` are checked but not used with it."),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20 (alias `n`)"),
        ("cursor" = Option<String>, Query, description = "Opaque cursor from `next_cursor`"),
    ),
    responses((status = 200, body = UserPage),
        (status = 400, description = "Bad `limit` or `cursor`; more than 100 or an empty name in `usernames`", body = ErrorBody)))]
pub async fn list(
    State(svc): State<Arc<UsersService>>,
    MaybeIdentity(viewer): MaybeIdentity,
    Query(params): Query<ListParams>,
    page: Result<PageRequest, ApiError>,
) -> ApiResult<Page<UserView>> {
    let viewer = viewer.map(|v| v.user_id);
    // `limit` and `cursor` are checked even where they are not used.
    let page = page?;
    if let Some(raw) = params.usernames.as_deref() {
        let names = parse_usernames(raw)?;
        let mut found: std::collections::HashMap<String, User> = svc
            .store
            .users_by_usernames(&names)
            .await?
            .into_iter()
            .filter(|u| u.active)
            .map(|u| (u.username.to_lowercase(), u))
            .collect();
        let items = names
            .iter()
            .filter_map(|n| found.remove(&n.to_lowercase()))
            .map(|u| UserView::for_viewer(&u, viewer))
            .collect();
        return Ok(Page {
            items,
            next_cursor: None,
            link: None,
        });
    }
    let users = svc
        .store
        .list_users(page.after.as_deref(), page.limit + 1)
        .await?;
    Ok(page
        .respond(users, |u| u.username.to_lowercase())
        .map(|u| UserView::for_viewer(&u, viewer)))
}

/// Looks up an active account by username, or 404.
pub(crate) async fn active_user(svc: &UsersService, username: &str) -> ApiResult<User> {
    svc.store
        .user_by_username(username.trim())
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::not_found("no such user"))
}

/// Read a profile (private view for yourself).
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path, description = "Case-insensitive")),
    responses(
        (status = 200, body = UserView),
        (status = 404, description = "Unknown or deactivated", body = ErrorBody),
    ))]
pub async fn get(
    State(svc): State<Arc<UsersService>>,
    MaybeIdentity(viewer): MaybeIdentity,
    Path(username): Path<String>,
) -> ApiResult<Json<UserView>> {
    let user = active_user(&svc, &username).await?;
    Ok(Json(UserView::for_viewer(&user, viewer.map(|v| v.user_id))))
}

/// The caller's own account, or 403 (another's) / 404 (no such account).
async fn own_account(svc: &UsersService, caller: &Identity, username: &str) -> ApiResult<User> {
    let user = active_user(svc, username).await?;
    if user.id != caller.user_id {
        return Err(ApiError::forbidden("you can only change your own account"));
    }
    Ok(user)
}

/// Update your email, bio or password. A new password revokes every token.
#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path)),
    request_body = UpdateRequest,
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, description = "The private view", body = UserView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "Not your account", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
    ))]
pub async fn update(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> ApiResult<Json<UserView>> {
    let user = own_account(&svc, &caller, &username).await?;
    let mut update = UserUpdate {
        email: req
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()?
            .map(Email::into_string),
        bio: req.bio.as_deref().map(|b| parse_bio(Some(b))).transpose()?,
        password_hash: None,
    };
    let mut new_password = None;
    if let Some(raw) = req.password.as_deref() {
        let password = Password::parse(raw)?;
        update.password_hash = Some(svc.auth.hasher().hash(password.as_str()).await?);
        new_password = Some(password);
    }
    let seen = svc.auth.credentials_seen(user.id);
    let updated = svc.store.update_user(user.id, update).await?;
    if let Some(password) = new_password {
        svc.auth
            .remember_credentials(&updated, password.as_str(), seen, true);
    }
    Ok(Json(UserView::private(&updated)))
}

/// Deactivate your account: credentials and tokens stop working at once, the
/// profile answers 404, the username stays reserved.
#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn deactivate(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    let user = own_account(&svc, &caller, &username).await?;
    svc.store.deactivate(user.id).await?;
    svc.auth.forget_user(user.id);
    Ok(StatusCode::NO_CONTENT)
}
