//! PostgreSQL implementation of [`VoteStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::events::{OutboxSignal, outbox_insert_pg};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{PgConnection, PgPool};

use super::sql_store::sql_vote_store;
use super::{
    Account, Applied, Change, Direction, Like, NewPoll, Poll, PollOption, PollStore, PostFacts,
    Ranked, StoreError, StoreResult, Tally, VoteStore,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresVoteStore {
    pool: PgPool,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl PostgresVoteStore {
    pub fn new(pool: PgPool, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        Self { pool, ids, outbox }
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await
    }
}

// Votes on one post queue on its row, so concurrent voters lose no vote;
// each vote commits on its own (PostgreSQL takes concurrent writers).
sql_vote_store!(
    PostgresVoteStore,
    PgConnection,
    outbox_insert_pg,
    " FOR UPDATE",
    vote_alone,
    rookery_kernel::db::postgres_json_ids
);
