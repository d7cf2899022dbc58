//! Notifications in Mastodon's types (`like` -> `favourite`, `repost` ->
//! `reblog`, replies and direct messages -> `mention`).

use std::collections::HashMap;

use axum::extract::Path;
use futures::future::join_all;
use http::{HeaderMap, Method};
use serde_json::json;

use super::{JsonResult, RawBody, json};
use crate::ctx::Ctx;
use crate::entities::{
    Account, NATIVE_TYPES, Notification, Status, mastodon_time, mastodon_type, native_types,
};
use crate::error::{MastoError, MastoResult};
use crate::native::{self, Message, Post};
use crate::paging::{Window, id_link, id_window, paged};
use crate::render::{links, statuses as render_statuses};

/// The native types a request asks for (`types[]`, `exclude_types[]`);
/// None: all of them.
fn wanted_types(ctx: &Ctx) -> Option<Vec<&'static str>> {
    let types = ctx.query.list("types");
    let excluded = ctx.query.list("exclude_types");
    if types.is_empty() && excluded.is_empty() {
        return None;
    }
    let mut wanted: Vec<&'static str> = if types.is_empty() {
        NATIVE_TYPES.to_vec()
    } else {
        types
            .iter()
            .flat_map(|t| native_types(t).iter().copied())
            .collect()
    };
    let dropped: Vec<&'static str> = excluded
        .iter()
        .flat_map(|t| native_types(t).iter().copied())
        .collect();
    wanted.retain(|t| !dropped.contains(t));
    wanted.sort_unstable();
    wanted.dedup();
    Some(wanted)
}

/// Notifications as Mastodon's, with their statuses rendered in one batch.
async fn entities(ctx: &Ctx, items: &[native::Notification]) -> MastoResult<Vec<Notification>> {
    let links = links(ctx);
    let posts: Vec<Post> = items.iter().filter_map(|n| n.post.clone()).collect();
    let rendered = render_statuses(ctx, &posts, false).await?;
    let by_post: HashMap<String, Status> =
        posts.iter().map(|p| p.id.clone()).zip(rendered).collect();
    // Direct messages are few on a page: each read where it is shown.
    let messages = join_all(items.iter().filter_map(|n| n.message_id.clone()).map(
        |id| async move {
            let found: MastoResult<Message> = ctx.get(&format!("/api/v1/messages/{id}")).await;
            found.ok().map(|m| (id, m))
        },
    ))
    .await;
    let messages: HashMap<String, Message> = messages.into_iter().flatten().collect();
    Ok(items
        .iter()
        .filter_map(|n| {
            let kind = mastodon_type(&n.kind)?;
            let account = Account::from_user(&n.account, &links);
            let status = match (&n.post, &n.message_id) {
                (Some(p), _) => by_post.get(&p.id).cloned(),
                (None, Some(m)) => messages
                    .get(m)
                    .map(|m| Status::from_message(m, account.clone(), &links)),
                _ => None,
            };
            Some(Notification {
                id: n.id.clone(),
                kind,
                group_key: format!("ungrouped-{}", n.id),
                created_at: mastodon_time(&n.created_at),
                account,
                status,
                report: None,
                event: None,
                moderation_warning: None,
            })
        })
        .collect())
}

/// `GET /api/v1/notifications` (`types[]`, `exclude_types[]`, paging).
pub async fn list(ctx: Ctx) -> JsonResult {
    ctx.require("read:notifications")?;
    let mut window = Window::parse(&ctx.query)?;
    let me = ctx.username().await?;
    // Cleared notifications are gone: they bound the list from below.
    if let Some(cleared) = ctx.svc.store.cleared_up_to(&me).await? {
        let lower = window.since_id.unwrap_or(cleared).max(cleared);
        if window.min_id.is_some() {
            window.min_id = window.min_id.map(|m| m.max(cleared));
        } else {
            window.since_id = Some(lower);
        }
    }
    let mut path = "/api/v1/notifications".to_string();
    if let Some(types) = wanted_types(&ctx) {
        if types.is_empty() {
            return Ok(paged(Vec::<Notification>::new(), None));
        }
        path.push_str(&format!("?types={}", types.join(",")));
    }
    let items: Vec<native::Notification> = id_window(
        &ctx,
        &path,
        &window,
        false,
        |n: &native::Notification| n.id.parse().unwrap_or(0),
        |n| mastodon_type(&n.kind).is_some(),
    )
    .await?;
    let link = id_link(
        &ctx,
        window.limit,
        items.first().map(|n| n.id.as_str()),
        items.last().map(|n| n.id.as_str()),
    );
    Ok(paged(entities(&ctx, &items).await?, link))
}

/// `GET /api/v1/notifications/:id`.
pub async fn show(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.require("read:notifications")?;
    let id: i64 = id.trim().parse().map_err(|_| MastoError::not_found())?;
    let window = Window {
        limit: 1,
        max_id: Some(id.saturating_add(1)),
        ..Window::default()
    };
    let items: Vec<native::Notification> = id_window(
        &ctx,
        "/api/v1/notifications",
        &window,
        false,
        |n: &native::Notification| n.id.parse().unwrap_or(0),
        |_| true,
    )
    .await?;
    let found = items
        .into_iter()
        .find(|n| n.id == id.to_string())
        .ok_or_else(MastoError::not_found)?;
    let mut list = entities(&ctx, std::slice::from_ref(&found)).await?;
    list.pop()
        .map(|n| json(&n))
        .ok_or_else(MastoError::not_found)
}

/// `POST /api/v1/notifications/clear`: every notification so far leaves the
/// Mastodon view, and all are marked read.
pub async fn clear(ctx: Ctx, _headers: HeaderMap, _body: RawBody) -> JsonResult {
    ctx.require("write:notifications")?;
    let me = ctx.username().await?;
    let newest: native::Page<native::Notification> =
        ctx.get("/api/v1/notifications?limit=1").await?;
    ctx.send(Method::POST, "/api/v1/notifications/read", Some(json!({})))
        .await?;
    if let Some(top) = newest.items.first().and_then(|n| n.id.parse::<i64>().ok()) {
        ctx.svc.store.clear_notifications(&me, top).await?;
    }
    Ok(json(&json!({})))
}

/// `POST /api/v1/notifications/:id/dismiss`: marks it read (Rookery does not
/// delete single notifications).
pub async fn dismiss(
    ctx: Ctx,
    Path(id): Path<String>,
    _headers: HeaderMap,
    _body: RawBody,
) -> JsonResult {
    ctx.require("write:notifications")?;
    let id: i64 = id.trim().parse().map_err(|_| MastoError::not_found())?;
    ctx.send(
        Method::POST,
        "/api/v1/notifications/read",
        Some(json!({ "up_to": id.to_string() })),
    )
    .await?;
    Ok(json(&json!({})))
}
