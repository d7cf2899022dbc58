//! Rookery's public API as the Mastodon layer reads it, and the batch calls
//! that give a page of statuses everything it shows in a fixed number of
//! calls (never one per status).

use std::collections::{HashMap, HashSet};

use rookery_gateway::client::enc;
use serde::Deserialize;

use crate::ctx::Ctx;
use crate::error::MastoResult;

#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub username: String,
    #[serde(default)]
    pub bio: String,
    #[serde(default)]
    pub karma: i64,
    pub created_at: String,
    #[serde(default)]
    pub followers_count: i64,
    #[serde(default)]
    pub following_count: i64,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RepostOf {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Post {
    pub id: String,
    pub author: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub community: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub edited_at: Option<String>,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    #[serde(default)]
    pub repost_of: Option<RepostOf>,
    #[serde(default)]
    pub reply_count: i64,
    #[serde(default)]
    pub repost_count: i64,
    #[serde(default)]
    pub upvotes: i64,
    #[serde(default)]
    pub downvotes: i64,
    #[serde(default)]
    pub score: i64,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
}

impl Post {
    pub fn id_num(&self) -> i64 {
        self.id.parse().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tally {
    pub post_id: String,
    #[serde(default)]
    pub upvotes: i64,
    #[serde(default)]
    pub downvotes: i64,
    #[serde(default)]
    pub score: i64,
    #[serde(default)]
    pub my_vote: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Repost {
    pub id: String,
    pub repost_of: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PollOption {
    pub text: String,
    pub votes: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Poll {
    pub id: String,
    pub options: Vec<PollOption>,
    pub total_votes: i64,
    #[serde(default)]
    pub my_choice: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub created_at: String,
    #[serde(default)]
    pub in_reply_to: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub account: User,
    #[serde(default)]
    pub post: Option<Post>,
    #[serde(default)]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagCount {
    pub name: String,
    #[serde(default)]
    pub post_count: i64,
    #[serde(default)]
    pub recent_count: i64,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct SearchResults {
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub posts: Vec<Post>,
    #[serde(default)]
    pub tags: Vec<TagCount>,
}

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
