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

/// Where a viewer stands with one account (Mastodon's relationships).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relationship {
    pub target_id: i64,
    pub following: bool,
    pub followed_by: bool,
    pub blocking: bool,
    pub muting: bool,
}

/// An account in a block or mute list, with the relation's id (the list's cursor).
#[derive(Debug, Clone)]
pub struct RelationEntry {
    pub relation_id: i64,
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
    /// One of the two accounts blocks the other.
    #[error("blocked")]
    Blocked,
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
            StoreError::Blocked => rookery_kernel::relations::blocked(),
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

#[derive(sqlx::FromRow)]
pub(crate) struct RelationRow {
    pub relation_id: i64,
    #[sqlx(flatten)]
    pub user: User,
}

impl RelationRow {
    pub(crate) fn into_entry(self) -> RelationEntry {
        RelationEntry {
            relation_id: self.relation_id,
            user: self.user,
        }
    }
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

/// Most words of a search query used (the rest is ignored).
const SEARCH_WORDS_MAX: usize = 16;
/// Longest word of a search query kept (longer ones are cut).
const SEARCH_WORD_CHARS: usize = 64;

/// The words of a search query: lower-cased runs of letters and digits.
/// Everything else separates words, so no character of the query is ever
/// syntax to a full-text engine.
pub(crate) fn search_words(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(SEARCH_WORDS_MAX)
        .map(|w| {
            w.chars()
                .take(SEARCH_WORD_CHARS)
                .collect::<String>()
                .to_lowercase()
        })
        .collect()
}

/// The `[low, high)` range of `username_key`s starting with `query`, or
/// `None` when no username can (usernames are ASCII letters, digits and `_`,
/// all below `\x7f`, so the range is exact in byte order).
pub(crate) fn username_prefix_range(query: &str) -> Option<(String, String)> {
    let prefix = query.trim().to_lowercase();
    let valid = (1..=30).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then(|| {
        let high = format!("{prefix}\x7f");
        (prefix, high)
    })
}

/// Prefix matches first, then bio matches not already there, at most `limit`.
pub(crate) fn merge_search(prefix: Vec<User>, bio: Vec<User>, limit: usize) -> Vec<User> {
    let mut seen: std::collections::HashSet<i64> = prefix.iter().map(|u| u.id).collect();
    let mut out = prefix;
    out.truncate(limit);
    for user in bio {
        if out.len() >= limit {
            break;
        }
        if seen.insert(user.id) {
            out.push(user);
        }
    }
    out
}

/// Everything the users service keeps. Usernames and emails are passed in as
/// given; implementations compare them case-insensitively.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// Creates an account and its `user.registered` event.
    async fn create_user(&self, new: NewUser) -> StoreResult<User>;
    /// Any account, active or not, by username (case-insensitive).
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Accounts (active or not) with the given ids, in one query; unknown
    /// ids are left out, order not guaranteed.
    async fn users_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<User>>;
    /// [`Self::users_by_ids`] as shared values. A cache hands out its own
    /// entries, whose `Arc` is replaced whenever the account is loaded
    /// again, so a view written from one stays right while the same `Arc`
    /// comes back (`rookery_kernel::render_memo`); the default is fresh `Arc`s.
    async fn shared_users_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<std::sync::Arc<User>>> {
        let users = self.users_by_ids(ids).await?;
        Ok(users.into_iter().map(std::sync::Arc::new).collect())
    }
    /// Accounts (active or not) with the given usernames (case-insensitive),
    /// in one query; unknown names are left out, order not guaranteed.
    async fn users_by_usernames(&self, usernames: &[String]) -> StoreResult<Vec<User>>;
    /// The account (active or not) registered with `email` (case-insensitive).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Active accounts by username ascending, after `after` (a lower-cased username).
    async fn list_users(&self, after: Option<&str>, limit: usize) -> StoreResult<Vec<User>>;
    async fn update_user(&self, id: i64, update: UserUpdate) -> StoreResult<User>;
    /// Deactivates: revokes sessions, removes the account's follows (with
    /// `follow.removed` events) and writes `user.deactivated`.
    async fn deactivate(&self, id: i64) -> StoreResult<()>;

    /// Returns true when the follow is new (and writes `follow.created`);
    /// [`StoreError::Blocked`] while either account blocks the other.
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

    /// `user` blocks `target`; true when the block is new. A new block
    /// removes the follows between them both ways (each with its
    /// `follow.removed` event and counts) and writes `block.created`, all in
    /// one transaction; an existing one changes nothing.
    async fn block(&self, user: i64, target: i64) -> StoreResult<bool>;
    /// True when a block was removed (and writes `block.removed`).
    async fn unblock(&self, user: i64, target: i64) -> StoreResult<bool>;
    /// `user` mutes `target`; true when new (and writes `mute.created`).
    async fn mute(&self, user: i64, target: i64) -> StoreResult<bool>;
    /// True when a mute was removed (and writes `mute.removed`).
    async fn unmute(&self, user: i64, target: i64) -> StoreResult<bool>;
    /// Whether `a` blocks `b` or `b` blocks `a`.
    async fn blocked_either_way(&self, a: i64, b: i64) -> StoreResult<bool>;
    /// Active accounts `user` blocks, most recent block first, relation ids below `before`.
    async fn blocks(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<RelationEntry>>;
    /// Active accounts `user` mutes, most recent mute first, relation ids below `before`.
    async fn mutes(
        &self,
        user: i64,
        before: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<RelationEntry>>;

    /// Active accounts for a search: those whose username starts with `query`
    /// (case-insensitive) by username, then those whose bio has every word of
    /// `query`, without duplicates and without accounts `viewer` blocks or
    /// who block `viewer`. `query` is only words: no syntax of any engine.
    async fn search_users(
        &self,
        query: &str,
        viewer: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<User>>;

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

    /// The viewer's follows, followers, blocks and mutes among `targets`
    /// (one entry per target, in its order).
    async fn relationships(&self, viewer: i64, targets: &[i64]) -> StoreResult<Vec<Relationship>>;

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

    /// `$1` user, `$2` kind, `$3` before, `$4` limit.
    pub const RELATIONS_SQL: &str = concat!(
        "SELECT r.id AS relation_id, ",
        user_columns!("u."),
        " FROM user_relations r JOIN users u ON u.id = r.target_id",
        " WHERE r.user_id = $1 AND r.kind = $2 AND r.id < $3 AND u.active",
        " ORDER BY r.id DESC LIMIT $4"
    );

    /// Accounts neither blocking nor blocked by the viewer bound at `$n`.
    macro_rules! not_blocked {
        ($v:literal) => {
            concat!(
                "NOT EXISTS (SELECT 1 FROM user_relations r WHERE r.kind = 1 AND ((r.user_id = ",
                $v,
                " AND r.target_id = u.id) OR (r.user_id = u.id AND r.target_id = ",
                $v,
                ")))"
            )
        };
    }

    /// Username prefix matches (`$1` low, `$2` high key, `$3` viewer, `$4`
    /// limit), in byte order on both engines (PostgreSQL: the "C" index).
    pub const PREFIX_SEARCH_SQLITE: &str = concat!(
        "SELECT ",
        user_columns!("u."),
        " FROM users u WHERE u.active AND u.username_key >= $1 AND u.username_key < $2 AND ",
        not_blocked!("$3"),
        " ORDER BY u.username_key LIMIT $4"
    );
    pub const PREFIX_SEARCH_PG: &str = concat!(
        "SELECT ",
        user_columns!("u."),
        " FROM users u WHERE u.active AND (u.username_key COLLATE \"C\") >= $1",
        " AND (u.username_key COLLATE \"C\") < $2 AND ",
        not_blocked!("$3"),
        " ORDER BY (u.username_key COLLATE \"C\") LIMIT $4"
    );
    /// Bio matches, best first (`$1` the engine's query of the words, `$2`
    /// viewer, `$3` limit).
    pub const BIO_SEARCH_SQLITE: &str = concat!(
        "SELECT ",
        user_columns!("u."),
        " FROM users_bio_fts JOIN users u ON u.id = users_bio_fts.rowid",
        " WHERE users_bio_fts MATCH $1 AND u.active AND ",
        not_blocked!("$2"),
        " ORDER BY users_bio_fts.rank, u.id LIMIT $3"
    );
    pub const BIO_SEARCH_PG: &str = concat!(
        "SELECT ",
        user_columns!("u."),
        " FROM users u WHERE u.active AND u.bio_tsv @@ plainto_tsquery('simple', $1) AND ",
        not_blocked!("$2"),
        " ORDER BY ts_rank(u.bio_tsv, plainto_tsquery('simple', $1)) DESC, u.id LIMIT $3"
    );

    /// `$1`, `$2` two accounts: a row when either blocks the other.
    pub const BLOCKED_EITHER_WAY_SQL: &str = "SELECT 1 FROM user_relations
        WHERE kind = 1 AND ((user_id = $1 AND target_id = $2) OR (user_id = $2 AND target_id = $1))
        LIMIT 1";

    /// Counts a failure, starting a new window when the stored one began at or
    /// before `$3` (binds: subject, now, now - window).
    pub const FAILURE_UPSERT_SQL: &str = "INSERT INTO auth_failures (subject, failures, window_start) \
         VALUES ($1, 1, $2) ON CONFLICT (subject) DO UPDATE SET \
         failures = CASE WHEN auth_failures.window_start > $3 THEN auth_failures.failures + 1 ELSE 1 END, \
         window_start = CASE WHEN auth_failures.window_start > $3 THEN auth_failures.window_start ELSE $2 END";
}
