//! Accounts: the caller's own, profiles, their statuses and follows, and the
//! caller's follows, blocks and mutes with their relationships.

use axum::extract::Path;
use http::{HeaderMap, Method};
use rookery_gateway::client::enc;
use serde::Deserialize;
use serde_json::json;

use super::{JsonResult, RawBody, json};
use crate::ctx::Ctx;
use crate::entities::{Account, CredentialAccount, Relationship};
use crate::error::{MastoError, MastoResult};
use crate::native::{Items, Page, Post, User};
use crate::paging::{Window, cursor_link, id_link, id_window, limit, paged};
use crate::render::{links, statuses as render_statuses};

/// A username as an account id: what the public API accepts.
fn account_id(raw: &str) -> MastoResult<String> {
    let name = raw.trim();
    if name.is_empty()
        || name.len() > 30
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(MastoError::not_found());
    }
    Ok(name.to_string())
}

async fn own_account(ctx: &Ctx) -> MastoResult<User> {
    ctx.get("/api/v1/auth/whoami").await
}

/// `GET /api/v1/accounts/verify_credentials`.
pub async fn verify_credentials(ctx: Ctx) -> JsonResult {
    ctx.require("read:accounts:self")?;
    let me = own_account(&ctx).await?;
    Ok(json(&CredentialAccount::from_user(&me, &links(&ctx))))
}

/// `PATCH /api/v1/accounts/update_credentials`: `note` is the bio; the other
/// profile fields have no Rookery counterpart and are ignored.
pub async fn update_credentials(ctx: Ctx, headers: HeaderMap, body: RawBody) -> JsonResult {
    ctx.require("write:accounts")?;
    let params = ctx.with_body(&headers, &body)?;
    let me = match params.string("note") {
        Some(note) => {
            let name = ctx.username().await?;
            ctx.send_json::<User>(
                Method::PATCH,
                &format!("/api/v1/users/{}", enc(&name)),
                Some(json!({ "bio": note })),
            )
            .await?
        }
        None => own_account(&ctx).await?,
    };
    Ok(json(&CredentialAccount::from_user(&me, &links(&ctx))))
}

/// `GET /api/v1/accounts/:id`.
pub async fn show(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:accounts")?;
    let name = account_id(&id)?;
    let user: User = ctx
        .svc
        .api
        .get(&ctx.anonymous(), &format!("/api/v1/users/{}", enc(&name)))
        .await?;
    Ok(json(&Account::from_user(&user, &links(&ctx))))
}

/// `GET /api/v1/accounts/lookup?acct=`: a local `name` or `name@this-host`.
pub async fn lookup(ctx: Ctx) -> JsonResult {
    let acct = ctx
        .query
        .text("acct")
        .ok_or_else(|| MastoError::bad_request("acct is missing"))?;
    let acct = acct.trim_start_matches('@');
    let host = ctx.origin.split_once("://").map(|(_, h)| h).unwrap_or("");
    let name = match acct.split_once('@') {
        Some((name, domain)) if domain.eq_ignore_ascii_case(host) => name,
        Some(_) => return Err(MastoError::not_found()),
        None => acct,
    };
    show(ctx, Path(name.to_string())).await
}

#[derive(Deserialize, Default)]
struct UserResults {
    #[serde(default)]
    users: Vec<User>,
}

/// `GET /api/v1/accounts/search?q=`.
pub async fn search(ctx: Ctx) -> JsonResult {
    ctx.optional("read:accounts")?;
    let q = ctx
        .query
        .text("q")
        .ok_or_else(|| MastoError::bad_request("q is missing"))?;
    let q = q.trim_start_matches('@').to_string();
    let limit = limit(&ctx.query, 40, 80)?.min(100);
    if q.is_empty() {
        return Ok(json(&Vec::<Account>::new()));
    }
    let found: UserResults = ctx
        .get(&format!(
            "/api/v1/search?type=users&limit={limit}&q={}",
            enc(&q)
        ))
        .await?;
    let links = links(&ctx);
    let accounts: Vec<Account> = found
        .users
        .iter()
        .map(|u| Account::from_user(u, &links))
        .collect();
    Ok(json(&accounts))
}

/// `GET /api/v1/accounts/:id/statuses` (`exclude_replies`, `exclude_reblogs`,
/// `tagged`; Rookery has no media or pins, so `only_media` and `pinned` are empty).
pub async fn statuses(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:statuses")?;
    let name = account_id(&id)?;
    let window = Window::parse(&ctx.query)?;
    if ctx.query.bool("only_media")?.unwrap_or(false) || ctx.query.bool("pinned")?.unwrap_or(false)
    {
        return Ok(paged(Vec::<serde_json::Value>::new(), None));
    }
    let no_replies = ctx.query.bool("exclude_replies")?.unwrap_or(false);
    let no_reblogs = ctx.query.bool("exclude_reblogs")?.unwrap_or(false);
    let tagged = ctx
        .query
        .text("tagged")
        .map(|t| t.trim_start_matches('#').to_lowercase());
    let posts: Vec<Post> = id_window(
        &ctx,
        &format!("/api/v1/users/{}/posts", enc(&name)),
        &window,
        true,
        Post::id_num,
        |p: &Post| {
            !(no_replies && p.in_reply_to.is_some() || no_reblogs && p.repost_of.is_some())
                && tagged.as_ref().is_none_or(|t| p.tags.contains(t))
        },
    )
    .await?;
    let link = id_link(
        &ctx,
        window.limit,
        posts.first().map(|p| p.id.as_str()),
        posts.last().map(|p| p.id.as_str()),
    );
    let statuses = render_statuses(&ctx, &posts, false).await?;
    Ok(paged(statuses, link))
}

/// A list of accounts whose positions are the native cursor (`max_id`).
async fn account_list(ctx: &Ctx, path: &str, authed: bool) -> JsonResult {
    let limit = limit(&ctx.query, 40, 80)?;
    let mut url = format!("{path}?limit={limit}");
    if let Some(cursor) = ctx.query.text("max_id") {
        url.push_str(&format!("&cursor={}", enc(&cursor)));
    }
    let caller = if authed {
        ctx.caller()
    } else {
        ctx.anonymous()
    };
    let page: Page<User> = ctx.svc.api.get(&caller, &url).await.map_err(|f| {
        // A max_id from another list is not a cursor here: an empty page.
        if f.status == http::StatusCode::BAD_REQUEST {
            MastoError::bad_request("invalid max_id")
        } else {
            f.into()
        }
    })?;
    let links = links(ctx);
    let accounts: Vec<Account> = page
        .items
        .iter()
        .map(|u| Account::from_user(u, &links))
        .collect();
    let link = cursor_link(ctx, limit, page.next_cursor.as_deref());
    Ok(paged(accounts, link))
}

pub async fn followers(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:accounts")?;
    let name = account_id(&id)?;
    account_list(
        &ctx,
        &format!("/api/v1/users/{}/followers", enc(&name)),
        false,
    )
    .await
}

pub async fn following(ctx: Ctx, Path(id): Path<String>) -> JsonResult {
    ctx.optional("read:accounts")?;
    let name = account_id(&id)?;
    account_list(
        &ctx,
        &format!("/api/v1/users/{}/following", enc(&name)),
        false,
    )
    .await
}

pub async fn blocks(ctx: Ctx) -> JsonResult {
    ctx.require("read:blocks")?;
    account_list(&ctx, "/api/v1/blocks", true).await
}

pub async fn mutes(ctx: Ctx) -> JsonResult {
    ctx.require("read:mutes")?;
    account_list(&ctx, "/api/v1/mutes", true).await
}

/// The caller's relationships with `names` (in that order; unknown names
/// give an all-false relationship, as Mastodon does for an unknown id).
async fn relationships_of(ctx: &Ctx, names: &[String]) -> MastoResult<Vec<Relationship>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let joined: Vec<String> = names.iter().map(|n| enc(n)).collect();
    let found: Items<crate::native::Relationship> = ctx
        .get(&format!(
            "/api/v1/relationships?usernames={}",
            joined.join(",")
        ))
        .await?;
    Ok(names
        .iter()
        .map(|name| {
            match found
                .items
                .iter()
                .find(|r| r.username.eq_ignore_ascii_case(name))
            {
                Some(r) => {
                    Relationship::new(name, r.following, r.followed_by, r.blocking, r.muting)
                }
                None => Relationship::new(name, false, false, false, false),
            }
        })
        .collect())
}

/// `GET /api/v1/accounts/relationships?id[]=`.
pub async fn relationships(ctx: Ctx) -> JsonResult {
    ctx.require("read:follows")?;
    let names: Vec<String> = ctx
        .query
        .list("id")
        .into_iter()
        .filter_map(|id| account_id(&id).ok())
        .take(crate::native::BATCH)
        .collect();
    Ok(json(&relationships_of(&ctx, &names).await?))
}

/// `POST /api/v1/accounts/:id/{follow,unfollow,block,unblock,mute,unmute}`.
pub async fn act(ctx: Ctx, Path((id, action)): Path<(String, String)>) -> JsonResult {
    let (scope, method, relation) = match action.as_str() {
        "follow" => ("write:follows", Method::POST, "follow"),
        "unfollow" => ("write:follows", Method::DELETE, "follow"),
        "block" => ("write:blocks", Method::POST, "block"),
        "unblock" => ("write:blocks", Method::DELETE, "block"),
        "mute" => ("write:mutes", Method::POST, "mute"),
        "unmute" => ("write:mutes", Method::DELETE, "mute"),
        _ => return Err(MastoError::not_found()),
    };
    ctx.require(scope)?;
    let name = account_id(&id)?;
    ctx.send(
        method,
        &format!("/api/v1/users/{}/{relation}", enc(&name)),
        None,
    )
    .await?;
    let mut found = relationships_of(&ctx, std::slice::from_ref(&name)).await?;
    Ok(json(&found.remove(0)))
}
