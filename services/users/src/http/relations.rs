//! Blocks and mutes: private to the account that makes them.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rookery_kernel::error::ErrorBody;
use rookery_kernel::identity::Identity;
use rookery_kernel::pagination::{Page, PageRequest};
use rookery_kernel::relations::RelationKind;
use rookery_kernel::{ApiError, ApiResult};

use super::users::active_user;
use super::{UserPage, UserView};
use crate::UsersService;
use crate::store::RelationEntry;

/// How long a block or mute change waits for its delivery (embedded mode).
const DELIVERY_WAIT: Duration = Duration::from_secs(2);

async fn make(
    svc: &UsersService,
    caller: &Identity,
    username: &str,
    kind: RelationKind,
) -> ApiResult<Response> {
    let target = active_user(svc, username).await?;
    if target.id == caller.user_id {
        return Err(match kind {
            RelationKind::Block => ApiError::conflict("self_block", "you cannot block yourself"),
            RelationKind::Mute => ApiError::conflict("self_mute", "you cannot mute yourself"),
        });
    }
    let created = match kind {
        RelationKind::Block => svc.store.block(caller.user_id, target.id).await?,
        RelationKind::Mute => svc.store.mute(caller.user_id, target.id).await?,
    };
    if created {
        svc.wait_for_delivery(DELIVERY_WAIT).await;
    }
    // Fresh counts: a block may have removed follows.
    let target = svc.store.user_by_id(target.id).await?.unwrap_or(target);
    let body = Json(UserView::public(&target));
    Ok(if created {
        let location = match kind {
            RelationKind::Block => "/api/v1/blocks",
            RelationKind::Mute => "/api/v1/mutes",
        };
        (StatusCode::CREATED, [(header::LOCATION, location)], body).into_response()
    } else {
        (StatusCode::OK, body).into_response()
    })
}

async fn undo(
    svc: &UsersService,
    caller: &Identity,
    username: &str,
    kind: RelationKind,
) -> ApiResult<StatusCode> {
    let target = active_user(svc, username).await?;
    let removed = match kind {
        RelationKind::Block => svc.store.unblock(caller.user_id, target.id).await?,
        RelationKind::Mute => svc.store.unmute(caller.user_id, target.id).await?,
    };
    if removed {
        svc.wait_for_delivery(DELIVERY_WAIT).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

fn relation_page(page: PageRequest, rows: Vec<RelationEntry>) -> Page<UserView> {
    page.respond(rows, |e| e.relation_id.to_string())
        .map(|e| UserView::public(&e.user))
}

/// Block a user: removes the follows between you both ways; neither of you
/// can follow, message, reply to or vote on the other until you unblock.
/// The body is the blocked user's public view.
#[utoipa::path(post, path = "/api/v1/users/{username}/block", tag = "blocks",
    params(("username" = String, Path, description = "Who to block")),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Now blocked", body = UserView,
            headers(("Location" = String, description = "/api/v1/blocks"))),
        (status = 200, description = "Already blocked", body = UserView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown or deactivated", body = ErrorBody),
        (status = 409, description = "`self_block`", body = ErrorBody),
    ))]
pub async fn block(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<Response> {
    make(&svc, &caller, &username, RelationKind::Block).await
}

/// Unblock a user (204 also when not blocked).
#[utoipa::path(delete, path = "/api/v1/users/{username}/block", tag = "blocks",
    params(("username" = String, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Not blocked any more"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn unblock(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    undo(&svc, &caller, &username, RelationKind::Block).await
}

/// Mute a user: their posts leave your home timeline and their actions
/// notify you of nothing. The body is the muted user's public view.
#[utoipa::path(post, path = "/api/v1/users/{username}/mute", tag = "blocks",
    params(("username" = String, Path, description = "Who to mute")),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 201, description = "Now muted", body = UserView,
            headers(("Location" = String, description = "/api/v1/mutes"))),
        (status = 200, description = "Already muted", body = UserView),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown or deactivated", body = ErrorBody),
        (status = 409, description = "`self_mute`", body = ErrorBody),
    ))]
pub async fn mute(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<Response> {
    make(&svc, &caller, &username, RelationKind::Mute).await
}

/// Unmute a user (204 also when not muted).
#[utoipa::path(delete, path = "/api/v1/users/{username}/mute", tag = "blocks",
    params(("username" = String, Path)),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 204, description = "Not muted any more"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn unmute(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    undo(&svc, &caller, &username, RelationKind::Mute).await
}

/// The accounts you block, most recent block first (only yours).
#[utoipa::path(get, path = "/api/v1/blocks", tag = "blocks",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn blocks(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    page: PageRequest,
) -> ApiResult<Page<UserView>> {
    let rows = svc
        .store
        .blocks(caller.user_id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(relation_page(page, rows))
}

/// The accounts you mute, most recent mute first (only yours).
#[utoipa::path(get, path = "/api/v1/mutes", tag = "blocks",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1..=100, default 20"),
        ("cursor" = Option<String>, Query, description = "Opaque: a previous page's `next_cursor`")),
    security(("basic" = []), ("bearer" = [])),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)))]
pub async fn mutes(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    page: PageRequest,
) -> ApiResult<Page<UserView>> {
    let rows = svc
        .store
        .mutes(caller.user_id, page.after_i64()?, page.limit + 1)
        .await?;
    Ok(relation_page(page, rows))
}

#[derive(serde::Deserialize)]
pub struct RelationshipsParams {
    pub usernames: Option<String>,
}

/// Where the caller stands with one account.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RelationshipView {
    pub username: String,
    /// The caller follows them.
    pub following: bool,
    /// They follow the caller.
    pub followed_by: bool,
    /// The caller blocks them.
    pub blocking: bool,
    /// The caller mutes them.
    pub muting: bool,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RelationshipList {
    pub items: Vec<RelationshipView>,
}

/// The caller's relationships with some accounts (`usernames`, comma-separated,
/// at most 100), in that order; unknown and deactivated names are left out.
/// Whether someone blocks the caller is theirs to know, not part of it.
#[utoipa::path(get, path = "/api/v1/relationships", tag = "blocks",
    params(("usernames" = String, Query, pattern = r"^ *[A-Za-z0-9_]{1,30} *(, *[A-Za-z0-9_]{1,30} *){0,99}$",
        description = "Comma-separated usernames (1..=100)")),
    security(("basic" = []), ("bearer" = [])),
    responses(
        (status = 200, body = RelationshipList),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn relationships(
    State(svc): State<Arc<UsersService>>,
    caller: Identity,
    rookery_kernel::extract::Query(params): rookery_kernel::extract::Query<RelationshipsParams>,
) -> ApiResult<Json<RelationshipList>> {
    let raw = params.usernames.ok_or_else(|| {
        ApiError::invalid(
            "usernames",
            "usernames is required: comma-separated usernames",
        )
    })?;
    let names = super::users::parse_usernames(&raw)?;
    let users = svc.store.users_by_usernames(&names).await?;
    // In the asked order, each account once.
    let mut seen = std::collections::HashSet::new();
    let ordered: Vec<_> = names
        .iter()
        .filter_map(|n| {
            users
                .iter()
                .find(|u| u.active && u.username.eq_ignore_ascii_case(n))
        })
        .filter(|u| seen.insert(u.id))
        .collect();
    let ids: Vec<i64> = ordered.iter().map(|u| u.id).collect();
    let found = svc.store.relationships(caller.user_id, &ids).await?;
    Ok(Json(RelationshipList {
        items: ordered
            .iter()
            .zip(found)
            .map(|(u, r)| RelationshipView {
                username: u.username.clone(),
                following: r.following,
                followed_by: r.followed_by,
                blocking: r.blocking,
                muting: r.muting,
            })
            .collect(),
    }))
}
