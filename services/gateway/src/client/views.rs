//! The public API's answers as its clients (the web client, the Mastodon
//! API) read them: every member they use, absent ones defaulted.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A batch answer (`{"items": [...]}`).
#[derive(Debug, Clone, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct RepostOf {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
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
    /// The id as a number (0 if the API ever sent something else).
    pub fn id_num(&self) -> i64 {
        self.id.parse().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tally {
    #[serde(default)]
    pub post_id: String,
    #[serde(default)]
    pub upvotes: i64,
    #[serde(default)]
    pub downvotes: i64,
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
    /// The caller's choice (0-based), if any.
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
    #[serde(default)]
    pub quick_replies: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    #[serde(default)]
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

/// The caller's reposts (`GET /api/v1/reposts?of=`).
#[derive(Debug, Clone, Deserialize)]
pub struct Repost {
    pub id: String,
    pub repost_of: String,
}

/// Where the caller stands with one account (`GET /api/v1/relationships`).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Relationship {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub following: bool,
    #[serde(default)]
    pub followed_by: bool,
    #[serde(default)]
    pub blocking: bool,
    #[serde(default)]
    pub muting: bool,
}
