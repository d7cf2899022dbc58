//! SQLite implementation of [`UserStore`]: writes through the single writer
//! connection, reads through the reader pool (see `rookery_kernel::db`).

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_sqlite};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{SqliteConnection, SqlitePool};

use super::sql::{FAILURE_UPSERT_SQL, FOLLOWERS_SQL, FOLLOWING_SQL, USER_COLUMNS, USER_COLUMNS_U};
use super::sql_store::{IMPORT_CHUNK, sql_user_store};
use super::{
    FailureCount, FollowEntry, FollowRow, KarmaChange, NewUser, StoreError, StoreResult, User,
    UserStore, UserUpdate, plan_karma, uniqueness_error,
};
use crate::events;

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

    fn reader(&self) -> &SqlitePool {
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
