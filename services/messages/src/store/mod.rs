//! Storage of the messages service: one trait, SQLite and PostgreSQL implementations.

use async_trait::async_trait;

pub mod dynamodb;
pub mod postgres;
mod sql_store;
pub mod sqlite;

pub use dynamodb::DynamoMessageStore;
pub use postgres::PostgresMessageStore;
pub use rookery_kernel::directory::Account;
pub use rookery_kernel::relations::RelationChange;
pub use sqlite::SqliteMessageStore;

/// Which of a participant's messages a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageBox {
    /// Messages to the owner.
    Inbox,
    /// Messages from the owner.
    Sent,
    /// Both.
    All,
}

/// A message as one participant (the viewer) sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: i64,
    pub sender_id: i64,
    pub sender: String,
    pub recipient_id: i64,
    pub recipient: String,
    pub text: String,
    pub quick_replies: Vec<String>,
    pub in_reply_to: Option<i64>,
    pub created_at: i64,
    /// The viewer's own flag.
    pub favorite: bool,
}

impl Message {
    /// The participant who is not `user_id`: (id, username).
    pub fn other_participant(&self, user_id: i64) -> (i64, &str) {
        if user_id == self.sender_id {
            (self.recipient_id, &self.recipient)
        } else {
            (self.sender_id, &self.sender)
        }
    }
}

/// A message to store; its id and time are given by the store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub sender_id: i64,
    pub sender: String,
    pub recipient_id: i64,
    pub recipient: String,
    pub text: String,
    pub quick_replies: Vec<String>,
    /// A reply: the sender must still have this message (not deleted it).
    pub in_reply_to: Option<i64>,
}

impl NewMessage {
    /// The message as stored with `id` at `created_at` (no favorite yet).
    pub fn stored(&self, id: i64, created_at: i64) -> Message {
        Message {
            id,
            sender_id: self.sender_id,
            sender: self.sender.clone(),
            recipient_id: self.recipient_id,
            recipient: self.recipient.clone(),
            text: self.text.clone(),
            quick_replies: self.quick_replies.clone(),
            in_reply_to: self.in_reply_to,
            created_at,
            favorite: false,
        }
    }
}

/// A page of one participant's messages, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxQuery {
    pub owner_id: i64,
    pub mailbox: MessageBox,
    /// Only those the owner marked as favorite.
    pub favorites_only: bool,
    /// Only messages with smaller ids (the cursor).
    pub before: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such message in the viewer's mailbox (never sent to them, or deleted by them).
    #[error("no such message")]
    NotFound,
    /// Sender and recipient: one blocks the other.
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
        match err {
            StoreError::NotFound => rookery_kernel::ApiError::not_found("no such message"),
            StoreError::Blocked => rookery_kernel::relations::blocked(),
            StoreError::Database(e) => e.into(),
            StoreError::Backend(message) => {
                tracing::error!(error = %message, "message store failed");
                rookery_kernel::ApiError::unavailable("the message store is unavailable; try again")
            }
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Remembers accounts (from `user.*` events, or asked of the users
    /// service after a miss). Deactivation is for good: a deactivated account
    /// stays so whatever arrives later, which also makes replays harmless.
    async fn remember_accounts(&self, accounts: &[Account]) -> StoreResult<()>;
    /// Applies block and mute changes (from the users service's events) to
    /// the replica; a change older than the one applied is ignored.
    async fn apply_relations(&self, changes: &[(i64, RelationChange)]) -> StoreResult<()>;
    /// The account named `username` (case-insensitively), if known.
    async fn account(&self, username: &str) -> StoreResult<Option<Account>>;

    /// Stores a message in the sender's sent box and the recipient's inbox,
    /// with its `message.sent` event. `NotFound` for a reply to a message the
    /// sender does not have; `Blocked` when one of the two blocks the other.
    async fn send(&self, message: NewMessage) -> StoreResult<Message>;
    /// Bulk load (seeding): like [`MessageStore::send`] for each, in one
    /// transaction; gives how many were stored.
    async fn import(&self, messages: &[NewMessage]) -> StoreResult<usize>;

    /// The message as `viewer` sees it; `None` unless it is in their mailbox.
    async fn message(&self, viewer: i64, id: i64) -> StoreResult<Option<Message>>;
    /// A page of one participant's messages, newest first.
    async fn list(&self, query: &BoxQuery) -> StoreResult<Vec<Message>>;
    /// Replies to message `id` that `viewer` has, oldest first, after the
    /// `after` id. `NotFound` unless `viewer` has message `id`.
    async fn replies(
        &self,
        viewer: i64,
        id: i64,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Message>>;
    /// Removes the message from `viewer`'s mailbox only (the other
    /// participant keeps it; once neither has it, it is gone).
    async fn delete(&self, viewer: i64, id: i64) -> StoreResult<()>;
    /// Sets `viewer`'s favorite flag and gives the message as they see it.
    async fn set_favorite(&self, viewer: i64, id: i64, favorite: bool) -> StoreResult<Message>;

    async fn ping(&self) -> StoreResult<()>;
}
