//! SQLite implementation of [`PostStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_sqlite};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{SqliteConnection, SqlitePool};

use super::sql_store::{POST_COLUMNS, sql_post_store, unique_violation};
use super::{
    Applied, Author, Change, HistoryEntry, HomeMerge, IdempotencyKey, ListCursor, ListQuery,
    NewPost, Post, PostStore, StoreError, StoreResult,
};
use crate::domain::{PostBody, Sort, controversy, hot_rank};
use crate::events::{self, TimelineConfig};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqlitePostStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl SqlitePostStore {
    pub fn new(db: SqliteDb, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        Self { db, ids, outbox }
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

sql_post_store!(SqlitePostStore, SqliteConnection, outbox_insert_sqlite);
