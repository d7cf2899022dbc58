//! SQLite implementation of [`VoteStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_sqlite};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{SqliteConnection, SqlitePool};

use super::sql_store::sql_vote_store;
use super::{
    Applied, Change, Direction, Like, NewPoll, Poll, PollOption, PostFacts, Ranked, StoreError,
    StoreResult, Tally, VoteStore,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteVoteStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl SqliteVoteStore {
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

sql_vote_store!(SqliteVoteStore, SqliteConnection, outbox_insert_sqlite, "");
