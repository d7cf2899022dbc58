//! Storage of the votes service: [`VoteStore`] (votes, tallies, replicas)
//! on SQLite and PostgreSQL, and [`PollStore`] (polls), which the SQL
//! stores also implement and which can live in DynamoDB instead.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use rookery_kernel::directory::Account;

pub mod cached;
pub mod dynamodb;
pub mod postgres;
mod sql_store;
pub mod sqlite;

pub use cached::CachedVoteStore;
pub use dynamodb::DynamoPollStore;
pub use postgres::PostgresVoteStore;
pub use sqlite::SqliteVoteStore;

/// Up or down; a like is an up vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl Direction {
    pub fn as_i16(self) -> i16 {
        match self {
            Direction::Up => 1,
            Direction::Down => -1,
        }
    }

    /// Its name in the API (`up`, `down`), as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        match v {
            1 => Some(Direction::Up),
            -1 => Some(Direction::Down),
            _ => None,
        }
    }
}

/// What the votes service keeps of a post.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PostFacts {
    pub id: i64,
    pub author_id: i64,
    pub author: String,
    pub community: Option<String>,
    pub title: Option<String>,
    pub created_at: i64,
    /// Not a reply or a repost: ranked in top lists.
    pub listed: bool,
}

/// A post's tallies and the caller's own vote.
#[derive(Debug, Clone, PartialEq)]
pub struct Tally {
    pub post_id: i64,
    pub upvotes: i64,
    pub downvotes: i64,
    pub my_vote: Option<Direction>,
}

impl Tally {
    pub fn score(&self) -> i64 {
        self.upvotes - self.downvotes
    }
}

/// A row of the top list.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Ranked {
    pub id: i64,
    pub score: i64,
    pub upvotes: i64,
    pub downvotes: i64,
    pub title: Option<String>,
    pub community: Option<String>,
    pub author: String,
}

/// A post a user upvoted; `vote_id` orders likes (most recent first) and is the cursor.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Like {
    pub vote_id: i64,
    pub post_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollOption {
    pub text: String,
    pub votes: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Poll {
    pub id: i64,
    pub author: String,
    pub question: String,
    pub options: Vec<PollOption>,
    pub total_votes: i64,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewPoll {
    pub author_id: i64,
    pub author: String,
    pub question: String,
    pub options: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("already voted")]
    AlreadyVoted,
    #[error("choice out of range")]
    ChoiceOutOfRange,
    /// The voter and the post's author: one blocks the other.
    #[error("blocked")]
    Blocked,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A failed call to a store that is not SQL (DynamoDB).
    #[error("store: {0}")]
    Backend(String),
}

impl From<StoreError> for rookery_kernel::ApiError {
    fn from(err: StoreError) -> Self {
        use rookery_kernel::ApiError;
        match err {
            StoreError::NotFound => ApiError::not_found("no such post or poll"),
            StoreError::AlreadyVoted => {
                ApiError::conflict("already_voted", "you have already voted in this poll")
            }
            StoreError::ChoiceOutOfRange => {
                ApiError::invalid("choice", "choice is not one of the poll's options")
            }
            StoreError::Blocked => rookery_kernel::relations::blocked(),
            StoreError::Database(e) => e.into(),
            StoreError::Backend(message) => {
                tracing::error!(error = %message, "poll store failed");
                ApiError::unavailable("the poll store is unavailable; try again")
            }
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A consumed event, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `post.created` / `post.edited`: remember (or refresh) the post.
    PostSeen(PostFacts),
    /// `post.deleted`: the post can no longer be voted on or ranked.
    PostDeleted(PostFacts),
    /// `user.registered` (active) / `user.deactivated` (not active).
    Account(Account),
    /// A block or mute made or undone (only blocks matter to votes).
    Relation(rookery_kernel::relations::RelationChange),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub event_id: i64,
    pub change: Change,
}

#[async_trait]
pub trait VoteStore: Send + Sync + 'static {
    /// Applies consumed events in one transaction; replays change nothing.
    async fn apply_events(&self, changes: &[Applied]) -> StoreResult<()>;
    /// Remembers a post learned outside the events (a miss asked of the
    /// posts service); a known post is left as it is.
    async fn remember_post(&self, post: &PostFacts) -> StoreResult<()>;
    /// Remembers an account learned outside the events (asked of the users
    /// service on a miss); deactivation is final either way.
    async fn remember_account(&self, account: &Account) -> StoreResult<()>;
    /// The account of `username` (case-insensitive), active or not, if known.
    async fn account(&self, username: &str) -> StoreResult<Option<Account>>;
    /// The post's facts, if known and not deleted.
    async fn post(&self, id: i64) -> StoreResult<Option<PostFacts>>;

    /// Sets (`Some`) or removes (`None`) `user`'s vote on `post`, with its
    /// `vote.changed` event when the tallies move. `NotFound` for an unknown
    /// or deleted post; `Blocked` for a vote (not a removal) between accounts
    /// of which one blocks the other.
    async fn vote(
        &self,
        user_id: i64,
        post_id: i64,
        direction: Option<Direction>,
    ) -> StoreResult<Tally>;
    /// The post's tallies, with `viewer`'s vote; `None` for an unknown or deleted post.
    async fn tally(&self, post_id: i64, viewer: Option<i64>) -> StoreResult<Option<Tally>>;
    /// The tallies of the known, live posts among `post_ids`, with
    /// `viewer`'s votes, in one query (order not guaranteed).
    async fn tallies(&self, post_ids: &[i64], viewer: Option<i64>) -> StoreResult<Vec<Tally>>;
    /// `viewer`'s votes on the live posts among `post_ids` (posts without
    /// one are absent): one index range of the viewer's votes.
    async fn my_votes(&self, viewer: i64, post_ids: &[i64]) -> StoreResult<Vec<(i64, Direction)>>;
    /// Top-level posts, highest score first, ties newer first.
    async fn top(&self, community: Option<&str>, limit: usize) -> StoreResult<Vec<Ranked>>;
    /// Scores of the known, live posts among `ids`.
    async fn scores(&self, ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
    /// Posts `user` upvoted, most recent vote first, below the `before` vote id.
    async fn likes(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Like>>;

    /// The polls kept in the same database (the SQL stores keep both).
    fn polls(self: Arc<Self>) -> Arc<dyn PollStore>;

    async fn ping(&self) -> StoreResult<()>;
}

/// Polls: standalone questions with 2..=10 options, one vote per account.
/// No events: nothing else in Rookery follows poll votes.
#[async_trait]
pub trait PollStore: Send + Sync + 'static {
    async fn create_poll(&self, poll: NewPoll) -> StoreResult<Poll>;
    async fn poll(&self, id: i64) -> StoreResult<Option<Poll>>;
    /// The 0-based choice `user_id` voted for in the poll, if they voted.
    async fn poll_choice(&self, poll_id: i64, user_id: i64) -> StoreResult<Option<i64>>;
    /// One vote per user: `AlreadyVoted` on a second, `ChoiceOutOfRange`
    /// for a bad index, `NotFound` for an unknown poll (checked in that
    /// order of precedence: an unknown poll first, then the choice).
    async fn vote_in_poll(&self, poll_id: i64, user_id: i64, choice: i64) -> StoreResult<Poll>;

    async fn ping(&self) -> StoreResult<()>;
}
