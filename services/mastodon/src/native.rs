//! Rookery's public API as the Mastodon layer reads it, and the batch calls
//! that give a page of statuses everything it shows in a fixed number of
//! calls (never one per status).

use std::collections::{HashMap, HashSet};

use rookery_gateway::client::enc;

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

/// Full posts by id (unknown and deleted ones are absent).
pub async fn posts_by_ids(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, Post>> {
    let mut found = HashMap::new();
    for chunk in joined(ids) {
        let page: Items<Post> = ctx
            .svc
            .api
            .get(&ctx.anonymous(), &format!("/api/v1/posts?ids={chunk}"))
            .await?;
        found.extend(page.items.into_iter().map(|p| (p.id.clone(), p)));
    }
    Ok(found)
}

/// Public views of accounts by username (lowercased keys).
pub async fn users_by_names(ctx: &Ctx, names: &[String]) -> MastoResult<HashMap<String, User>> {
    let mut found = HashMap::new();
    for chunk in joined(names) {
        let page: Items<User> = ctx
            .svc
            .api
            .get(
                &ctx.anonymous(),
                &format!("/api/v1/users?usernames={chunk}"),
            )
            .await?;
        found.extend(
            page.items
                .into_iter()
                .map(|u| (u.username.to_lowercase(), u)),
        );
    }
    Ok(found)
}

/// The caller's votes on these posts: post id -> "up" | "down".
pub async fn my_votes(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    for chunk in joined(ids) {
        let page: Items<Tally> = ctx
            .get(&format!("/api/v1/votes/tallies?post_ids={chunk}"))
            .await?;
        found.extend(
            page.items
                .into_iter()
                .filter_map(|t| Some((t.post_id, t.my_vote?))),
        );
    }
    Ok(found)
}

/// The caller's reposts of these posts: original id -> repost id.
pub async fn my_reposts(ctx: &Ctx, ids: &[String]) -> MastoResult<HashMap<String, String>> {
    let mut found = HashMap::new();
    for chunk in joined(ids) {
        let page: Items<Repost> = ctx.get(&format!("/api/v1/reposts?of={chunk}")).await?;
        found.extend(page.items.into_iter().map(|r| (r.repost_of, r.id)));
    }
    Ok(found)
}
