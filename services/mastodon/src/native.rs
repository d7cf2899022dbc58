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

/// Full posts by id (unknown and deleted ones are absent).
pub async fn posts_by_ids(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, Post>> {
    let posts: Vec<Post> = batch(ctx, &ctx.anonymous(), "/api/v1/posts?ids=", ids).await?;
    Ok(posts.into_iter().map(|p| (p.id.clone(), p)).collect())
}

/// Public views of accounts by username (lowercased keys).
pub async fn users_by_names(ctx: &Ctx, names: &[String]) -> MastoResult<HashMap<String, User>> {
    let users: Vec<User> = batch(ctx, &ctx.anonymous(), "/api/v1/users?usernames=", names).await?;
    Ok(users
        .into_iter()
        .map(|u| (u.username.to_lowercase(), u))
        .collect())
}

/// The caller's votes on these posts: post id -> "up" | "down".
pub async fn my_votes(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, String>> {
    let tallies: Vec<Tally> =
        batch(ctx, &ctx.caller(), "/api/v1/votes/tallies?post_ids=", ids).await?;
    Ok(tallies
        .into_iter()
        .filter_map(|t| Some((t.post_id, t.my_vote?)))
        .collect())
}

/// The caller's reposts of these posts: original id -> repost id.
pub async fn my_reposts(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, String>> {
    let reposts: Vec<Repost> = batch(ctx, &ctx.caller(), "/api/v1/reposts?of=", ids).await?;
    Ok(reposts.into_iter().map(|r| (r.repost_of, r.id)).collect())
}
