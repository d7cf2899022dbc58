//! Storage of the posts service: one trait, SQLite and PostgreSQL implementations.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{PostBody, Sort};
use crate::events::TimelineConfig;

pub use rookery_kernel::directory::Account;
pub use rookery_kernel::relations::{RelationChange, RelationKind};

pub mod cached;
pub mod postgres;
mod search;
mod sql_store;
pub mod sqlite;

pub use cached::CachedPostStore;
pub use postgres::PostgresPostStore;
pub use sqlite::SqlitePostStore;

/// A post as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Post {
    pub id: i64,
    pub author_id: i64,
    pub author: String,
    pub text: Option<String>,
    pub title: Option<String>,
    pub community: Option<String>,
    pub url: Option<String>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub in_reply_to: Option<i64>,
    pub repost_of: Option<i64>,
    pub reply_count: i64,
    pub repost_count: i64,
    pub upvotes: i64,
    pub downvotes: i64,
    pub score: i64,
    pub hot: f64,
    pub controversy: f64,
    /// The `#words` of the title and text (none for reposts).
    #[sqlx(try_from = "String")]
    #[serde(default)]
    pub tags: JsonList<String>,
    /// The accounts the text `@mentions` (none for reposts).
    #[sqlx(try_from = "String")]
    #[serde(default)]
    pub mentions: JsonList<Mention>,
    /// Who wrote the post replied to / reposted (for the post.* events).
    pub in_reply_to_author_id: Option<i64>,
    pub repost_of_author_id: Option<i64>,
    /// The post's list view as JSON, written when first asked for.
    #[serde(skip)]
    #[sqlx(skip)]
    pub list_view: ViewSlot,
}

/// A view of a value written once from that very value. A copy starts
/// empty, so an edited copy never shows the view of what it was copied
/// from; values handed out by value (not in an `Arc`) are emptied too
/// (see `CachedPostStore`), so a view can only be read from a value that
/// no one can change any more.
#[derive(Default)]
pub struct ViewSlot(std::sync::OnceLock<Box<serde_json::value::RawValue>>);

impl ViewSlot {
    /// The view, `write`'s when there is none yet.
    pub fn get_or_write(
        &self,
        write: impl FnOnce() -> serde_json::Result<Box<serde_json::value::RawValue>>,
    ) -> serde_json::Result<&serde_json::value::RawValue> {
        if let Some(view) = self.0.get() {
            return Ok(view);
        }
        let view = write()?;
        Ok(self.0.get_or_init(|| view))
    }

    /// Forgets the view (the value is about to be changed).
    pub fn clear(&mut self) {
        self.0.take();
    }
}

impl Clone for ViewSlot {
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// Views do not make posts differ.
impl PartialEq for ViewSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for ViewSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "ViewSlot(written)"
        } else {
            "ViewSlot(empty)"
        })
    }
}

/// A list kept as JSON text in one column (the same on both engines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JsonList<T>(pub Vec<T>);

impl<T> Default for JsonList<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> std::ops::Deref for JsonList<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned> TryFrom<String> for JsonList<T> {
    type Error = serde_json::Error;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&text).map(JsonList)
    }
}

impl<T: Serialize> JsonList<T> {
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "[]".into())
    }
}

/// An account a post mentions, spelled as the account spells its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    pub user_id: i64,
    pub username: String,
}

/// A tag with its number of posts, all time and in the trending window
/// (search by prefix leaves `recent_count` at 0).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TagCount {
    pub name: String,
    pub post_count: i64,
    pub recent_count: i64,
}

/// A post to create: a fresh one, a reply, or a repost of `repost_of`.
#[derive(Debug, Clone)]
pub struct NewPost {
    pub author_id: i64,
    pub author: String,
    pub body: PostBody,
    pub in_reply_to: Option<i64>,
    pub repost_of: Option<i64>,
}

/// `Idempotency-Key` of a create: replays within `window_ms` return the first post.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub user_id: i64,
    pub key: String,
    pub window_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct HistoryEntry {
    pub text: Option<String>,
    pub title: Option<String>,
    pub url: Option<String>,
    pub edited_at: i64,
}

/// Where a listing starts: after this row in the listing's order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ListCursor {
    /// New: posts with a smaller id.
    Id(i64),
    /// Hot/controversial: (rank, id) below this; top: (score as f64, id).
    Ranked(f64, i64),
}

/// A listing of top-level original posts (`/posts`, community pages).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub community: Option<String>,
    pub author_id: Option<i64>,
    pub sort: Sort,
    pub after: Option<ListCursor>,
    pub limit: usize,
}

/// A replica row of an account (from the users service's events).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Author {
    pub id: i64,
    pub username: String,
    pub active: bool,
    pub followers_count: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such post")]
    NotFound,
    #[error("the post replied to does not exist")]
    ParentNotFound,
    #[error("already reposted")]
    AlreadyReposted,
    #[error("timeline store unavailable: {0}")]
    Timelines(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<StoreError> for rookery_kernel::ApiError {
    fn from(err: StoreError) -> Self {
        use rookery_kernel::ApiError;
        match err {
            StoreError::NotFound => ApiError::not_found("no such post"),
            StoreError::ParentNotFound => {
                ApiError::not_found("the post replied to does not exist").with_field("in_reply_to")
            }
            StoreError::AlreadyReposted => {
                ApiError::conflict("already_reposted", "you already reposted this post")
            }
            StoreError::Timelines(e) => {
                tracing::warn!(error = %e, "timeline store unavailable");
                ApiError::unavailable("timelines are unavailable, try again")
            }
            StoreError::Database(e) => e.into(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A consumed event, parsed (see `events::parse`).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    UserRegistered {
        id: i64,
        username: String,
    },
    UserDeactivated {
        id: i64,
    },
    /// Replica follow; back-fills the followee's recent posts.
    Follow {
        follower: i64,
        followee: i64,
    },
    /// Replica unfollow; removes the followee's posts from the follower's timeline.
    Unfollow {
        follower: i64,
        followee: i64,
    },
    /// Fan-out: into the author's and (below the threshold) followers' timelines.
    PostCreated {
        post_id: i64,
        author_id: i64,
    },
    /// Only matters to timelines outside the database (rows in it die with the post).
    PostDeleted {
        post_id: i64,
        author_id: i64,
    },
    /// New tallies; ignored when `seq` is not newer than the last applied.
    VoteChanged {
        post_id: i64,
        /// The post's community: whose listings the new ranks reorder.
        community: Option<String>,
        upvotes: i64,
        downvotes: i64,
        seq: i64,
    },
    /// A block or mute made or undone (replica; newest event wins).
    Relation(RelationChange),
}

/// What applying events does to home timelines, for timelines kept outside
/// the table (Redis, or the memory of embedded mode) to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum TimelineEffect {
    Add {
        readers: Vec<i64>,
        post_ids: Vec<i64>,
    },
    Remove {
        reader: i64,
        post_ids: Vec<i64>,
    },
}

/// Home timelines kept outside the `home_timeline` table: Redis, or the
/// memory of embedded mode.
pub trait TimelineSink: Send + Sync {
    fn apply<'a>(
        &'a self,
        effects: &'a [TimelineEffect],
    ) -> futures::future::BoxFuture<'a, Result<(), String>>;
}

/// Home timeline effects collected while applying events, for a sink
/// (instead of the `home_timeline` table).
pub(crate) struct EffectLog {
    pub effects: Vec<TimelineEffect>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub event_id: i64,
    pub change: Change,
}

/// What the home timeline read needs besides the fanned-out rows.
#[derive(Debug, Clone, Default)]
pub struct HomeMerge {
    /// Followed authors whose posts are merged at read time (not fanned out).
    pub celebrities: Vec<i64>,
}

#[async_trait]
pub trait PostStore: Send + Sync + 'static {
    /// Creates a post with its `post.created` event and counters. With a key,
    /// a replay within the window returns `(first post, true)`.
    async fn create_post(
        &self,
        new: NewPost,
        idempotency: Option<IdempotencyKey>,
    ) -> StoreResult<(Post, bool)>;
    async fn post(&self, id: i64) -> StoreResult<Option<Post>>;
    /// Posts by id, in no particular order (missing ones are skipped).
    async fn posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Post>>;
    /// [`Self::posts_by_ids`] as shared values. A cache hands out its own
    /// entries, whose `Arc` is replaced on every change of the post, so a
    /// view written from one stays right while the same `Arc` comes back
    /// (`rookery_kernel::render_memo`); the default is fresh `Arc`s.
    async fn shared_posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<std::sync::Arc<Post>>> {
        let posts = self.posts_by_ids(ids).await?;
        Ok(posts.into_iter().map(std::sync::Arc::new).collect())
    }
    /// `author_id`'s reposts of the given originals, as `(repost id,
    /// original id)` pairs, in one query (the one-repost-per-user index);
    /// originals not reposted are left out, order not guaranteed.
    async fn reposts_by(&self, author_id: i64, originals: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
    /// Replaces the body, keeping the old one in the history.
    async fn edit_post(&self, id: i64, body: PostBody) -> StoreResult<Post>;
    /// Deletes a post, its history and its reposts; false when it did not exist.
    async fn delete_post(&self, id: i64) -> StoreResult<bool>;
    async fn history(&self, id: i64) -> StoreResult<Vec<HistoryEntry>>;
    /// Posts carrying `tag` (lowercase), newest first, ids below `before`.
    async fn tag_posts(
        &self,
        tag: &str,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>>;
    /// Tags by name ascending, names above `after`; `recent_count` counts
    /// the posts with ids from `since_id` on.
    async fn tags_by_name(
        &self,
        after: Option<&str>,
        since_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<TagCount>>;
    /// The tags of posts with ids from `since_id` on (the trending window),
    /// most such posts first, ties by name.
    async fn trending_tags(&self, since_id: i64, limit: usize) -> StoreResult<Vec<TagCount>>;
    /// Replica rows of these usernames (case-insensitively, deactivated
    /// ones included), in one query.
    async fn authors_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<Author>>;
    /// Direct replies, oldest first, ids above `after`.
    async fn replies(&self, id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<Post>>;
    async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Post>>;
    /// A user's posts and reposts (and replies), newest first.
    async fn user_timeline(
        &self,
        author_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>>;
    /// Every post, newest first.
    async fn public_timeline(&self, before: Option<i64>, limit: usize) -> StoreResult<Vec<Post>>;
    /// The fanned-out home timeline merged with `merge.celebrities`' posts, newest first.
    async fn home_timeline(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
        merge: &HomeMerge,
    ) -> StoreResult<Vec<Post>>;
    /// [`Self::home_timeline`] as shared values (see
    /// [`Self::shared_posts_by_ids`]); the default is fresh `Arc`s.
    async fn shared_home_timeline(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
        merge: &HomeMerge,
    ) -> StoreResult<Vec<std::sync::Arc<Post>>> {
        let posts = self.home_timeline(user_id, before, limit, merge).await?;
        Ok(posts.into_iter().map(std::sync::Arc::new).collect())
    }

    /// Up to `limit` ids below `before`, newest first, of the posts by
    /// `user_id` and by the accounts they follow: the home timeline computed
    /// from the follow graph instead of read from the `home_timeline` table
    /// (authors merged at read time included; the merge drops duplicates).
    async fn followed_post_ids(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<i64>>;

    /// Makes sure the author replica knows an account (its registration
    /// event may still be on its way).
    async fn upsert_author(&self, id: i64, username: &str) -> StoreResult<()>;
    async fn author_by_username(&self, username: &str) -> StoreResult<Option<Author>>;
    /// Remembers what the users service answered about an account the
    /// replica did not know: a row of its username under another id is
    /// stale and goes; deactivation is final (an active answer does not
    /// revive a deactivated row).
    async fn remember_account(&self, account: &Account) -> StoreResult<()>;
    /// Applies consumed events in one transaction; an event applied before
    /// (same id) is skipped, so redelivery is harmless. With a `sink`, home
    /// timeline changes go to it (before the commit, so a failure rolls back
    /// and the batch is redelivered) instead of the `home_timeline` table.
    async fn apply_events(
        &self,
        changes: &[Applied],
        config: &TimelineConfig,
        sink: Option<&dyn TimelineSink>,
    ) -> StoreResult<()>;
    /// Recent posts of `authors` below `before`, newest first.
    async fn posts_by_authors(
        &self,
        authors: &[i64],
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>>;
    /// Cuts every home timeline longer than `cap + slack` back to its newest
    /// `cap` entries (run periodically, off the fan-out path); returns rows removed.
    async fn trim_timelines(&self, cap: usize, slack: usize) -> StoreResult<usize>;
    /// Accounts with more than `threshold` followers.
    async fn celebrities(&self, threshold: i64) -> StoreResult<Vec<i64>>;
    /// Which of `candidates` `user` follows.
    async fn followed_among(&self, user: i64, candidates: &[i64]) -> StoreResult<Vec<i64>>;

    /// Up to `limit` posts with every one of `words` (see
    /// [`crate::search::words`]) in their text or title, best match first
    /// (among the newest matches), ties newest first. Reposts never match,
    /// nor posts of accounts that block `viewer` or that `viewer` blocks.
    /// No words: no posts.
    async fn search_posts(
        &self,
        words: &[String],
        viewer: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Post>>;
    /// Up to `limit` tags starting with `prefix` (a lowercase tag word),
    /// most used first.
    async fn search_tags(&self, prefix: &str, limit: usize) -> StoreResult<Vec<TagCount>>;
    /// The accounts whose posts `viewer`'s home timeline leaves out: those
    /// the viewer blocks or mutes, and those who block the viewer.
    async fn hidden_from(&self, viewer: i64) -> StoreResult<Vec<i64>>;
    /// Whether either account blocks the other.
    async fn blocked_either_way(&self, a: i64, b: i64) -> StoreResult<bool>;

    async fn ping(&self) -> StoreResult<()>;
}

#[cfg(test)]
mod view_slot_tests {
    use super::*;

    #[test]
    fn a_copy_or_a_cleared_slot_writes_its_view_again() {
        let slot = ViewSlot::default();
        let raw = |s: &str| serde_json::value::RawValue::from_string(s.to_string());
        assert_eq!(slot.get_or_write(|| raw("1")).unwrap().get(), "1");
        assert_eq!(slot.get_or_write(|| raw("2")).unwrap().get(), "1");
        let copy = slot.clone();
        assert_eq!(copy.get_or_write(|| raw("3")).unwrap().get(), "3");
        let mut slot = slot;
        slot.clear();
        assert_eq!(slot.get_or_write(|| raw("4")).unwrap().get(), "4");
    }
}
