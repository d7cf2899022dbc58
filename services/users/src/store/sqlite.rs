//! SQLite implementation of [`UserStore`]: writes through the single writer
//! connection, reads through the reader pool (see `rookery_kernel::db`).

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_sqlite};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{SqliteConnection, SqlitePool};

use super::sql::{
    BIO_SEARCH_SQLITE as BIO_SEARCH_SQL, BLOCKED_EITHER_WAY_SQL, FAILURE_UPSERT_SQL, FOLLOWERS_SQL,
    FOLLOWING_SQL, PREFIX_SEARCH_SQLITE as PREFIX_SEARCH_SQL, RELATIONS_SQL, USER_COLUMNS,
    USER_COLUMNS_U,
};
use super::sql_store::{IMPORT_CHUNK, sql_user_store};
use super::{
    FailureCount, FollowEntry, FollowRow, KarmaChange, NewUser, RelationEntry, RelationRow,
    StoreError, StoreResult, User, UserStore, UserUpdate, merge_search, plan_karma, search_words,
    uniqueness_error, username_prefix_range,
};
use crate::events;
use rookery_kernel::relations::{RelationChange, RelationKind};

/// FTS5 query of search words: each a quoted string (words are letters and
/// digits only, so nothing in them is FTS5 syntax), all required.
fn bio_query(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteUserStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl SqliteUserStore {
    pub fn new(db: SqliteDb, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        Self { db, ids, outbox }
    }

    pub fn db(&self) -> &SqliteDb {
        &self.db
    }

    fn reader(&self) -> &rookery_kernel::db::Readers {
        &self.db.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.db.writer
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.db.begin_write().await
    }
}

sql_user_store!(SqliteUserStore, SqliteConnection, outbox_insert_sqlite, "");
