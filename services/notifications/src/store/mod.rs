//! Storage of the notifications service: one trait, SQLite and PostgreSQL
//! implementations (the SQL is shared, see `sql_store`).

use async_trait::async_trait;
use rookery_kernel::relations::RelationChange;

use crate::domain::Kind;

mod cached;
pub mod postgres;
mod sql_store;
pub mod sqlite;

pub use cached::CachedNotificationStore;
pub use postgres::PostgresNotificationStore;
pub use sqlite::SqliteNotificationStore;

/// One recipient of an action (see [`Change::Notify`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Who is notified.
    pub user_id: i64,
    pub kind: Kind,
    /// The post shown with the notification (reply: the reply; mention: the
    /// mentioning post; repost and like: the recipient's post).
    pub post_id: Option<i64>,
    /// The other post involved (reply: the parent; repost: the repost).
    pub related_post_id: Option<i64>,
    /// With (user, kind, actor) the notification's identity: the post for
    /// post kinds, the message for messages, 0 for follows.
    pub object_id: i64,
}

/// What one event asks of the store.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// `actor_id` did something that concerns `targets`. Targets that are
    /// the actor, or that mute or block the actor or are blocked by it, get
    /// nothing; one that has the notification already keeps the one it has.
    Notify {
        actor_id: i64,
        created_at: i64,
        targets: Vec<Target>,
    },
    /// A post was deleted: its notifications go.
    PostDeleted(i64),
    /// A block or mute made or undone.
    Relation(RelationChange),
}

/// A change with the id of the event that asked for it (for dedupe).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub event_id: i64,
    pub change: Change,
}

/// A stored notification as its recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    pub kind: Kind,
    pub actor_id: i64,
    pub post_id: Option<i64>,
    pub object_id: i64,
    pub created_at: i64,
    /// At or below the recipient's read watermark.
    pub read: bool,
}

/// A page of one user's notifications, newest first, without those from
/// accounts hidden from the user (blocks either way, and mutes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListQuery {
    pub user_id: i64,
    /// Only these kinds; empty: every kind.
    pub kinds: Vec<Kind>,
    pub unread_only: bool,
    /// Only notifications with smaller ids (the cursor).
    pub before: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<StoreError> for rookery_kernel::ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Database(e) => e.into(),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait NotificationStore: Send + Sync + 'static {
    /// Applies a batch of changes in order, in one transaction; events
    /// applied before (by id) are skipped.
    async fn apply(&self, batch: &[Applied]) -> StoreResult<()>;

    /// A page of the user's notifications (see [`ListQuery`]).
    async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Notification>>;
    /// The user's unread notifications from accounts not hidden from them.
    async fn unread_count(&self, user_id: i64) -> StoreResult<i64>;
    /// Moves the user's read watermark forward to `up_to` (default: their
    /// newest notification; never backwards) and gives the unread count afterwards.
    async fn mark_read(&self, user_id: i64, up_to: Option<i64>) -> StoreResult<i64>;

    async fn ping(&self) -> StoreResult<()>;
}
