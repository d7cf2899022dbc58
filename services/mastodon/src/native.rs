//! Rookery's public API as the Mastodon layer reads it, and the batch calls
//! that give a page of statuses everything it shows in a fixed number of
//! calls (never one per status).

use std::collections::{HashMap, HashSet};

use rookery_gateway::client::{Caller, enc};
use serde::de::DeserializeOwned;

use crate::ctx::Ctx;
use crate::error::MastoResult;

pub use rookery_gateway::client::views::{
    Items, Message, Notification, Page, Poll, Post, Relationship, Repost, SearchResults, TagCount,
    Tally, User,
};

/// The most ids one batch call takes (the public API's limit).
pub const BATCH: usize = 100;

fn joined<'a>(ids: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut seen = HashSet::new();
    let unique: Vec<&String> = ids.into_iter().filter(|id| seen.insert(*id)).collect();
    unique
        .chunks(BATCH)
        .map(|chunk| chunk.iter().map(|id| enc(id)).collect::<Vec<_>>().join(","))
        .collect()
}

/// The items of a batch route (`path` ends with its list parameter's
/// `=`) for `ids`, in calls of at most [`BATCH`].
async fn batch<T: DeserializeOwned>(
    ctx: &Ctx,
    caller: &Caller,
    path: &str,
    ids: &[String],
) -> MastoResult<Vec<T>> {
    let mut found = Vec::new();
    for chunk in joined(ids) {
        let page: Items<T> = ctx.svc.api.get(caller, &format!("{path}{chunk}")).await?;
        found.extend(page.items);
    }
    Ok(found)
}

/// The batch reads of a page of statuses answered straight from the stores
/// where this process holds them (`rookery serve`), instead of public API
/// calls whose answers are written and parsed again. Each answers exactly
/// what its route answers; the page's own list still comes from the API.
#[async_trait::async_trait]
pub trait DirectReads: Send + Sync {
    /// As `GET /api/v1/posts?ids=`: full posts, unknown and deleted ones left out.
    async fn posts(&self, ids: &[i64]) -> anyhow::Result<Vec<Post>>;
    /// As `GET /api/v1/users?usernames=` without a viewer: active accounts, public views.
    async fn users(&self, names: &[String]) -> anyhow::Result<Vec<User>>;
    /// The account a bearer token is valid for, as the gateway checks it
    /// (`None`: refused).
    async fn account_of(&self, bearer: &str) -> anyhow::Result<Option<i64>>;
    /// As `GET /api/v1/votes/tallies` for `viewer`: post id -> "up" | "down".
    async fn votes(&self, viewer: i64, ids: &[i64]) -> anyhow::Result<Vec<(i64, String)>>;
    /// As `GET /api/v1/reposts?of=` for `viewer`: (original, repost) ids.
    async fn reposts(&self, viewer: i64, ids: &[i64]) -> anyhow::Result<Vec<(i64, i64)>>;
    /// As `GET /api/v1/timelines/home` for `viewer`: up to `limit` posts
    /// older than `before`, newest first, as full posts (community posts
    /// keep their text and link, which list items leave out).
    async fn home(
        &self,
        viewer: i64,
        before: Option<i64>,
        limit: usize,
    ) -> anyhow::Result<Vec<Post>>;
}

/// Decimal ids as numbers (not an id: no such post).
fn numeric(ids: &[String]) -> Vec<i64> {
    ids.iter().filter_map(|id| id.parse().ok()).collect()
}

/// The caller's account for a direct read of its own state, verified as the
/// API would (the token's unchecked claims are not enough), once per request.
pub async fn direct_viewer(ctx: &Ctx, direct: &dyn DirectReads) -> MastoResult<i64> {
    let token = ctx
        .token
        .as_ref()
        .filter(|t| !t.app)
        .ok_or_else(crate::error::MastoError::unauthorized)?;
    let account = ctx
        .verified_account
        .get_or_try_init(|| async { direct.account_of(&token.raw).await })
        .await?;
    account.ok_or_else(crate::error::MastoError::unauthorized)
}

/// Full posts by id (unknown and deleted ones are absent).
pub async fn posts_by_ids(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, Post>> {
    let posts: Vec<Post> = match &ctx.svc.direct {
        Some(direct) => direct.posts(&numeric(ids)).await?,
        None => batch(ctx, &ctx.anonymous(), "/api/v1/posts?ids=", ids).await?,
    };
    Ok(posts.into_iter().map(|p| (p.id.clone(), p)).collect())
}

/// Public views of accounts by username (lowercased keys).
pub async fn users_by_names(ctx: &Ctx, names: &[String]) -> MastoResult<HashMap<String, User>> {
    let users: Vec<User> = match &ctx.svc.direct {
        Some(direct) => direct.users(names).await?,
        None => batch(ctx, &ctx.anonymous(), "/api/v1/users?usernames=", names).await?,
    };
    Ok(users
        .into_iter()
        .map(|u| (u.username.to_lowercase(), u))
        .collect())
}

/// The caller's votes on these posts: post id -> "up" | "down".
pub async fn my_votes(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, String>> {
    if let Some(direct) = &ctx.svc.direct {
        let viewer = direct_viewer(ctx, direct.as_ref()).await?;
        let votes = direct.votes(viewer, &numeric(ids)).await?;
        return Ok(votes
            .into_iter()
            .map(|(post, vote)| (post.to_string(), vote))
            .collect());
    }
    let tallies: Vec<Tally> =
        batch(ctx, &ctx.caller(), "/api/v1/votes/tallies?post_ids=", ids).await?;
    Ok(tallies
        .into_iter()
        .filter_map(|t| Some((t.post_id, t.my_vote?)))
        .collect())
}

/// The caller's reposts of these posts: original id -> repost id.
pub async fn my_reposts(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, String>> {
    if let Some(direct) = &ctx.svc.direct {
        let viewer = direct_viewer(ctx, direct.as_ref()).await?;
        let reposts = direct.reposts(viewer, &numeric(ids)).await?;
        return Ok(reposts
            .into_iter()
            .map(|(original, repost)| (original.to_string(), repost.to_string()))
            .collect());
    }
    let reposts: Vec<Repost> = batch(ctx, &ctx.caller(), "/api/v1/reposts?of=", ids).await?;
    Ok(reposts.into_iter().map(|r| (r.repost_of, r.id)).collect())
}
