//! Storage of the users service: one trait, SQLite and PostgreSQL implementations.

use async_trait::async_trait;

pub mod cached;
pub mod postgres;
mod sql_store;
pub mod sqlite;

pub use cached::CachedUserStore;
pub use postgres::PostgresUserStore;
pub use sqlite::SqliteUserStore;

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub bio: String,
    pub karma: i64,
    pub followers_count: i64,
    pub following_count: i64,
    pub auth_version: i64,
    pub active: bool,
    pub created_at: i64,
}

/// A validated registration (see `domain`).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub bio: String,
}

/// A profile change; `None` leaves a field as it is. A new password hash
/// revokes every session and cached credential of the user.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub email: Option<String>,
    pub bio: Option<String>,
    pub password_hash: Option<String>,
}

/// A user in a follow list, with the follow's id (the list's cursor).
#[derive(Debug, Clone)]
pub struct FollowEntry {
    pub follow_id: i64,
    pub user: User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureCount {
    pub failures: i64,
    pub window_start: i64,
}

/// A fact about a post that moves its author's karma (consumed events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KarmaChange {
    /// `vote.changed`: the post's score now, and the tallies' sequence number.
    Tally {
        post_id: i64,
        author_id: i64,
        score: i64,
        seq: i64,
    },
    /// `post.deleted`: the karma earned so far stays; later tallies are ignored.
    PostDeleted { post_id: i64, author_id: i64 },
}

/// One post's row of `post_karma` as a batch leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PostKarma {
    pub post_id: i64,
    pub author_id: i64,
    pub score: i64,
    pub seq: i64,
    pub frozen: bool,
}

/// What a batch of karma changes does, given the stored rows of its posts
/// (`(score, seq, frozen)` by post id): the rows to write, in post id order,
/// and each author's karma delta, in author id order (a steady lock order on
/// PostgreSQL).
pub(crate) fn plan_karma(
    changes: &[KarmaChange],
    stored: &std::collections::HashMap<i64, (i64, i64, bool)>,
) -> (Vec<PostKarma>, Vec<(i64, i64)>) {
    use std::collections::BTreeMap;
    let mut rows: BTreeMap<i64, PostKarma> = BTreeMap::new();
    let mut deltas: BTreeMap<i64, i64> = BTreeMap::new();
    for change in changes {
        let (post_id, author_id) = match *change {
            KarmaChange::Tally {
                post_id, author_id, ..
            }
            | KarmaChange::PostDeleted { post_id, author_id } => (post_id, author_id),
        };
        let row = rows.entry(post_id).or_insert_with(|| {
            let (score, seq, frozen) = stored.get(&post_id).copied().unwrap_or((0, 0, false));
            PostKarma {
                post_id,
                author_id,
                score,
                seq,
                frozen,
            }
        });
        if row.frozen {
            continue;
        }
        match *change {
            KarmaChange::Tally { score, seq, .. } if seq > row.seq => {
                *deltas.entry(row.author_id).or_default() += score - row.score;
                row.score = score;
                row.seq = seq;
            }
            KarmaChange::Tally { .. } => {}
            KarmaChange::PostDeleted { .. } => row.frozen = true,
        }
    }
    let changed = rows
        .into_values()
        .filter(|r| stored.get(&r.post_id) != Some(&(r.score, r.seq, r.frozen)))
        .collect();
    (
        changed,
        deltas.into_iter().filter(|(_, d)| *d != 0).collect(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username taken")]
    UsernameTaken,
    #[error("email taken")]
    EmailTaken,
    #[error("no such user")]
    NotFound,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<StoreError> for rookery_kernel::ApiError {
    fn from(err: StoreError) -> Self {
        use rookery_kernel::ApiError;
        match err {
            StoreError::UsernameTaken => {
                ApiError::conflict("username_taken", "username is taken").with_field("username")
            }
            StoreError::EmailTaken => {
                ApiError::conflict("email_taken", "email is already registered").with_field("email")
            }
            StoreError::NotFound => ApiError::not_found("no such user"),
            StoreError::Database(e) => e.into(),
        }
    }
}

/// Which unique index a violation hit.
pub(crate) fn uniqueness_error(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        let text = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
        if text.contains("username_key") {
            return StoreError::UsernameTaken;
        }
        if text.contains("email_key") {
            return StoreError::EmailTaken;
        }
    }
    StoreError::Database(err)
}

#[derive(sqlx::FromRow)]
pub(crate) struct FollowRow {
    pub follow_id: i64,
    #[sqlx(flatten)]
    pub user: User,
}

impl FollowRow {
    pub(crate) fn into_entry(self) -> FollowEntry {
        FollowEntry {
            follow_id: self.follow_id,
            user: self.user,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the users service keeps. Usernames and emails are passed in as
/// given; implementations compare them case-insensitively.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates an account and its `user.registered` event.
    async fn create_user(&self, new: NewUser) -> StoreResult<User>;
    /// Any account, active or not, by username (case-insensitive).
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Active accounts by username ascending, after `after` (a lower-cased username).
    async fn list_users(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>>;
    async fn update_user(&self, id: i64, update: UserUpdate) -> StoreResult<User>;
    /// Deactivates: revokes sessions, removes the account's follows (with
    /// `follow.removed` events) and writes `user.deactivated`.
    async fn deactivate(&self, id: i64) -> StoreResult<()>;

    /// Returns true when the follow is new (and writes `follow.created`).
    async fn follow(&self, follower: i64, followee: i64) -> StoreResult<bool>;
    /// Returns true when a follow was removed (and writes `follow.removed`).
    async fn unfollow(&self, follower: i64, followee: i64) -> StoreResult<bool>;
    /// Active followers of `user`, most recent follow first, follow ids below `before`.
    async fn followers(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<FollowEntry>>;
    /// Active accounts `user` follows, most recent follow first.
    async fn following(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<FollowEntry>>;

    async fn create_session(&self, user: i64, expires_at: i64) -> StoreResult<i64>;
    /// The user of a live (unrevoked, unexpired) session, if the user is active.
    async fn session_user(&self, session: i64, now: i64) -> StoreResult<Option<User>>;
    async fn revoke_session(&self, session: i64) -> StoreResult<()>;

    /// Failure counters of the given subjects whose window is still open.
    async fn auth_failures(
        &self,
        subjects: &[String],
        window_start_after: i64,
    ) -> StoreResult<Vec<(String, FailureCount)>>;
    /// Counts one failure for each subject (a new window when the old one closed).
    async fn record_auth_failure(
        &self,
        subjects: &[String],
        now: i64,
        window_ms: i64,
    ) -> StoreResult<()>;
    async fn clear_auth_failures(&self, subject: &str) -> StoreResult<()>;

    /// Bulk load for seeding: creates the users that do not exist yet (by
    /// username) and the given follows between usernames, skipping existing
    /// ones, in one transaction with their events. Returns (users, follows) created.
    async fn import(
        &self,
        users: Vec<NewUser>,
        follows: Vec<(String, String)>,
    ) -> StoreResult<(usize, usize)>;

    /// Applies post tallies and deletions to their authors' karma in one
    /// transaction (karma = sum over the author's posts of upvotes -
    /// downvotes). Idempotent: a tally older than (or as old as) the one
    /// applied for its post changes nothing. Returns the authors whose karma moved.
    async fn apply_karma(&self, changes: &[KarmaChange]) -> StoreResult<Vec<i64>>;

    /// Cheap liveness query for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
}

/// SQL text shared by both engines (`$n` placeholders work in SQLite too).
pub(crate) mod sql {
    macro_rules! user_columns {
        ($p:literal) => {
            concat!(
                $p,
                "id, ",
                $p,
                "username, ",
                $p,
                "email, ",
                $p,
                "password_hash, ",
                $p,
                "bio, ",
                $p,
                "karma, ",
                $p,
                "followers_count, ",
                $p,
                "following_count, ",
                $p,
                "auth_version, ",
                $p,
                "active, ",
                $p,
                "created_at"
            )
        };
    }

    pub const USER_COLUMNS: &str = user_columns!("");
    pub const USER_COLUMNS_U: &str = user_columns!("u.");

    pub const FOLLOWERS_SQL: &str = concat!(
        "SELECT f.id AS follow_id, ",
        user_columns!("u."),
        " FROM follows f JOIN users u ON u.id = f.follower_id",
        " WHERE f.followee_id = $1 AND f.id < $2 AND u.active ORDER BY f.id DESC LIMIT $3"
    );
    pub const FOLLOWING_SQL: &str = concat!(
        "SELECT f.id AS follow_id, ",
        user_columns!("u."),
        " FROM follows f JOIN users u ON u.id = f.followee_id",
        " WHERE f.follower_id = $1 AND f.id < $2 AND u.active ORDER BY f.id DESC LIMIT $3"
    );

    /// Counts a failure, starting a new window when the stored one began at or
    /// before `$3` (binds: subject, now, now - window).
    pub const FAILURE_UPSERT_SQL: &str = "INSERT INTO auth_failures (subject, failures, window_start) \
         VALUES ($1, 1, $2) ON CONFLICT (subject) DO UPDATE SET \
         failures = CASE WHEN auth_failures.window_start > $3 THEN auth_failures.failures + 1 ELSE 1 END, \
         window_start = CASE WHEN auth_failures.window_start > $3 THEN auth_failures.window_start ELSE $2 END";
}
