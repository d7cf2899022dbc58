//! Timelines (home, public, tag), conversations and search.

use std::collections::HashMap;

use axum::extract::Path;
use rookery_gateway::client::enc;
use serde_json::json;

use super::{JsonResult, json};
use crate::ctx::Ctx;
use crate::entities::{Account, Conversation, Status, Tag};
use crate::error::MastoError;
use crate::native::{self, Message, Post, SearchResults};
use crate::paging::{Window, id_link, id_window, limit, paged, paged_raw, window_of};
use crate::render::{links, statuses as render_statuses, statuses_json};

async fn post_timeline(ctx: &Ctx, path: &str, anonymous: bool) -> JsonResult {
    let window = Window::parse(&ctx.query)?;
    let posts: Vec<Post> = id_window(ctx, path, &window, anonymous, Post::id_num, |_| true).await?;
    statuses_page(ctx, &window, &posts, false).await
}

/// A page of `posts` as statuses, with its Link header.
async fn statuses_page(ctx: &Ctx, window: &Window, posts: &[Post], full: bool) -> JsonResult {
    let link = id_link(
        ctx,
        window.limit,
        posts.first().map(|p| p.id.as_str()),
        posts.last().map(|p| p.id.as_str()),
    );
    let statuses = statuses_json(ctx, posts, full).await?;
    Ok(paged_raw(&statuses, link))
}

/// `GET /api/v1/timelines/home`.
pub async fn home(ctx: Ctx) -> JsonResult {
    ctx.require("read:statuses")?;
    let Some(direct) = ctx.svc.direct.clone() else {
        return post_timeline(&ctx, "/api/v1/timelines/home", false).await;
    };
    // In `rookery serve`: the posts service's timeline itself, full posts
    // (what the route answers, without a request and its JSON parsed again).
    let window = Window::parse(&ctx.query)?;
    let viewer = native::direct_viewer(&ctx, direct.as_ref()).await?;
    let direct = direct.as_ref();
    // The timeline's own cursor is the id of a page's last post.
    let posts = window_of(
        &window,
        Post::id_num,
        |_| true,
        window.max_id,
        move |before: Option<i64>, want: usize| async move {
            let mut page = direct.home(viewer, before, want + 1).await?;
            let next = (page.len() > want).then(|| {
                page.truncate(want);
                page.last().map(Post::id_num)
            });
            Ok((page, next.flatten()))
        },
    )
    .await?;
    statuses_page(&ctx, &window, &posts, true).await
}

/// `GET /api/v1/timelines/public` (every Rookery post is local: `remote`
/// and `only_media` give nothing).
pub async fn public(ctx: Ctx) -> JsonResult {
    ctx.optional("read:statuses")?;
    if ctx.query.bool("remote")?.unwrap_or(false) || ctx.query.bool("only_media")?.unwrap_or(false)
    {
        return Ok(paged(Vec::<Status>::new(), None));
    }
    post_timeline(&ctx, "/api/v1/timelines/public", true).await
}

/// `GET /api/v1/timelines/tag/:hashtag`.
pub async fn tag(ctx: Ctx, Path(tag): Path<String>) -> JsonResult {
    ctx.optional("read:statuses")?;
    let tag = tag.trim_start_matches('#').to_lowercase();
    if tag.is_empty()
        || tag.len() > 50
        || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Ok(paged(Vec::<Status>::new(), None));
    }
    if ctx.query.bool("remote")?.unwrap_or(false) || ctx.query.bool("only_media")?.unwrap_or(false)
    {
        return Ok(paged(Vec::<Status>::new(), None));
    }
    post_timeline(&ctx, &format!("/api/v1/tags/{}/posts", enc(&tag)), true).await
}

/// How many recent messages the conversation list groups.
const CONVERSATION_SCAN: usize = 100;

/// `GET /api/v1/conversations`: the caller's direct messages grouped by the
/// other participant, most recent first (the newest 100 messages; a
/// conversation's id is the other account's).
pub async fn conversations(ctx: Ctx) -> JsonResult {
    ctx.require("read:statuses")?;
    let me = ctx.username().await?;
    let limit = limit(&ctx.query, 20, 40)?;
    let page: native::Page<Message> = ctx
        .get(&format!(
            "/api/v1/messages?box=all&limit={CONVERSATION_SCAN}"
        ))
        .await?;
    let mut order: Vec<String> = Vec::new();
    let mut latest: HashMap<String, Message> = HashMap::new();
    for m in page.items {
        let other = if m.from.eq_ignore_ascii_case(&me) {
            m.to.clone()
        } else {
            m.from.clone()
        };
        let key = other.to_lowercase();
        if let std::collections::hash_map::Entry::Vacant(slot) = latest.entry(key.clone()) {
            order.push(key);
            slot.insert(m);
        }
    }
    order.truncate(limit);
    let names: Vec<String> = order
        .iter()
        .filter_map(|k| latest.get(k))
        .flat_map(|m| [m.from.clone(), m.to.clone()])
        .collect();
    let users = native::users_by_names(&ctx, &names).await?;
    let links = links(&ctx);
    let account = |name: &str| match users.get(&name.to_lowercase()) {
        Some(u) => Account::from_user(u, &links),
        None => Account::from_name(name, &links),
    };
    let list: Vec<Conversation> = order
        .iter()
        .filter_map(|key| {
            let m = latest.get(key)?;
            let other = if m.from.eq_ignore_ascii_case(&me) {
                &m.to
            } else {
                &m.from
            };
            Some(Conversation {
                id: other.clone(),
                unread: false,
                accounts: vec![account(other)],
                last_status: Some(Status::from_message(m, account(&m.from), &links)),
            })
        })
        .collect();
    Ok(json(&list))
}

/// `DELETE /api/v1/conversations/:id`: Rookery keeps messages per account;
/// the conversation stays (`{}`).
pub async fn forget_conversation(ctx: Ctx, Path(_id): Path<String>) -> JsonResult {
    ctx.require("write:conversations")?;
    ctx.verified_username().await?;
    Ok(json(&json!({})))
}

/// `GET /api/v2/search` (`type` accounts/statuses/hashtags; `resolve` is
/// ignored: every account is local).
pub async fn search(ctx: Ctx) -> JsonResult {
    ctx.optional("read:search")?;
    let q = ctx
        .query
        .text("q")
        .ok_or_else(|| MastoError::bad_request("q is missing"))?;
    let limit = limit(&ctx.query, 20, 40)?;
    let kind = match ctx.query.text("type").as_deref() {
        None => None,
        Some("accounts") => Some("users"),
        Some("statuses") => Some("posts"),
        Some("hashtags") => Some("tags"),
        Some(_) => {
            return Err(MastoError::bad_request(
                "type must be accounts, statuses or hashtags",
            ));
        }
    };
    // Rookery pages search by limit only: an offset past the first page is empty.
    let offset = ctx.query.int("offset")?.unwrap_or(0);
    // Clients search for "@bob" and "#tag": the bare word is what matches.
    let mut words = q.trim().to_string();
    if kind == Some("users") || words.starts_with('@') {
        words = words.trim_start_matches('@').to_string();
        if let Some((name, _)) = words.split_once('@') {
            words = name.to_string();
        }
    }
    if kind == Some("tags") || (words.starts_with('#') && !words.contains(' ')) {
        words = words.trim_start_matches('#').to_string();
    }
    let found: SearchResults = if offset > 0 || words.is_empty() {
        SearchResults::default()
    } else {
        let mut path = format!("/api/v1/search?q={}&limit={limit}", enc(&words));
        if let Some(kind) = kind {
            path.push_str(&format!("&type={kind}"));
        }
        ctx.get(&path).await?
    };
    let links = links(&ctx);
    let accounts: Vec<Account> = found
        .users
        .iter()
        .map(|u| Account::from_user(u, &links))
        .collect();
    let statuses = render_statuses(&ctx, &found.posts, false).await?;
    let hashtags: Vec<Tag> = found
        .tags
        .iter()
        .map(|t| Tag::new(&t.name, &links))
        .collect();
    Ok(json(&json!({
        "accounts": accounts,
        "statuses": statuses,
        "hashtags": hashtags,
    })))
}
