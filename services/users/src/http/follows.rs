//! Follows and the follower/following lists.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::identity::{Identity, MaybeIdentity};
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::{ApiError, ApiResult};

use super::users::active_user;
use super::{UserPage, UserView};
use crate::UsersService;
use crate::store::FollowEntry;

/// Follow a user. The body is the followed user's public view.
#[utoipa::path(post, path = "/api/v1/users/{username}/follow", tag = "follows",
    params(("username" = String, Path, description = "Who to follow")),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Now following", body = UserView),
        (status = 200, description = "Already following", body = UserView),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`blocked`: one of you blocks the other", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`self_follow`", body = ErrorBody),
    ))]
pub async fn follow(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<Response> {
    let target = active_user(&svc, &username).await?;
    if target.id == caller.user_id {
        return Err(ApiError::conflict(
            "self_follow",
            "you cannot follow yourself",
        ));
    }
    let created = svc.store.follow(caller.user_id, target.id).await?;
    let target = svc.store.user_by_id(target.id).await?.unwrap_or(target);
    let body = Json(UserView::public(&target));
    Ok(if created {
        let location = format!("/api/v1/users/{}/following", caller.username);
        (StatusCode::CREATED, [(header::LOCATION, location)], body).into_response()
    } else {
        (StatusCode::OK, body).into_response()
    })
}

/// Stop following a user (204 also when not following).
#[utoipa::path(delete, path = "/api/v1/users/{username}/follow", tag = "follows",
    params(("username" = String, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Not following any more"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn unfollow(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    let target = active_user(&svc, &username).await?;
    svc.store.unfollow(caller.user_id, target.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who follows a user, most recent follow first.
#[utoipa::path(get, path = "/api/v1/users/{username}/followers", tag = "follows",
    params(("username" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn followers(
    State(svc): State<Arc<UsersService>>,
    viewer: MaybeIdentity,
    Path(username): Path<String>,
    page: PageRequest,
) -> ApiResult<Page<UserView>> {
    let user = active_user(&svc, &username).await?;
    let rows = svc
        .store
        .followers(user.id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(follow_page(page, rows, viewer))
}

/// Who a user follows, most recent follow first.
#[utoipa::path(get, path = "/api/v1/users/{username}/following", tag = "follows",
    params(("username" = String, Path),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn following(
    State(svc): State<Arc<UsersService>>,
    viewer: MaybeIdentity,
    Path(username): Path<String>,
    page: PageRequest,
) -> ApiResult<Page<UserView>> {
    let user = active_user(&svc, &username).await?;
    let rows = svc
        .store
        .following(user.id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(follow_page(page, rows, viewer))
}

fn follow_page(page: PageRequest, rows: Vec<FollowEntry>, viewer: MaybeIdentity) -> Page<UserView> {
    let viewer = viewer.0.map(|v| v.user_id);
    page.respond(rows, |e| e.follow_id.to_string())
        .map(|e| UserView::for_viewer(&e.user, viewer))
}
