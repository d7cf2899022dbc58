//! PostgreSQL implementation of [`MessageStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::events::{OutboxSignal, outbox_insert_many_pg};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{PgConnection, PgPool};

use super::sql_store::{
    MessageRow, REPLIES_SQL, from_row, list_sql, message_columns, sql_message_store,
};
use super::{
    Account, BoxQuery, Message, MessageBox, MessageStore, NewMessage, RelationChange, StoreError,
    StoreResult,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresMessageStore {
    pool: PgPool,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl PostgresMessageStore {
    pub fn new(pool: PgPool, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        Self { pool, ids, outbox }
    }

    /// PostgreSQL takes concurrent writers: one transaction per send.
    async fn send_committed(&self, message: NewMessage) -> StoreResult<Message> {
        let mut tx = self.begin_write().await?;
        let outcome = self
            .commit_sends(&mut tx, std::slice::from_ref(&message), true)
            .await?
            .pop()
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        outcome
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await
    }
}

/// PostgreSQL's planner picks the box and favorites indexes by itself.
fn listing_index(_: MessageBox, _: bool) -> &'static str {
    ""
}

sql_message_store!(
    PostgresMessageStore,
    PgConnection,
    listing_index,
    outbox_insert_many_pg
);
