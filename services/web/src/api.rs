//! The public API's answers the web client reads, over the shared client
//! ([`rookery_gateway::client`]).

use serde::Deserialize;

pub use rookery_gateway::client::{Api, ApiFailure, ApiResult, Caller, enc};

#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
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
    pub score: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tally {
    pub score: i64,
    #[serde(default)]
    pub my_vote: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Token {
    pub access_token: String,
    pub expires_in: u64,
    pub username: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PollOption {
    pub text: String,
    pub votes: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Poll {
    pub id: String,
    pub author: String,
    pub question: String,
    pub options: Vec<PollOption>,
    pub total_votes: i64,
    pub created_at: String,
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
    #[serde(default)]
    pub quick_replies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub read: bool,
    pub account: User,
    #[serde(default)]
    pub post: Option<Post>,
    #[serde(default)]
    pub message_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Count {
    pub count: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TagCount {
    pub name: String,
    pub post_count: i64,
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

#[derive(Debug, Clone, Deserialize, Default)]
pub struct Relationship {
    #[serde(default)]
    pub following: bool,
    #[serde(default)]
    pub blocking: bool,
    #[serde(default)]
    pub muting: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RelationshipList {
    pub items: Vec<Relationship>,
}
