//! PostgreSQL implementation of [`PostStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::events::{OutboxSignal, outbox_insert_pg};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{PgConnection, PgPool};

use super::sql_store::{POST_COLUMNS, sql_post_store, unique_violation};
use super::{
    Applied, Author, Change, EffectLog, HistoryEntry, HomeMerge, IdempotencyKey, JsonList,
    ListCursor, ListQuery, Mention, NewPost, Post, PostStore, StoreError, StoreResult, TagCount,
    TimelineEffect, TimelineSink,
};
use crate::domain::{PostBody, Sort, controversy, hot_rank, mention_candidates, tags as tags_of};
use crate::events::{self, TimelineConfig};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresPostStore {
    pool: PgPool,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl PostgresPostStore {
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

    /// A read transaction (one snapshot for several statements).
    async fn begin_read(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.reader().begin().await
    }

    /// One prepared statement for any number of ids: an `IN` list would be
    /// parsed and planned anew on every home timeline read.
    async fn select_posts_by_ids(&self, ids: &[i64]) -> StoreResult<Vec<Post>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {POST_COLUMNS} FROM posts WHERE id = ANY($1)"
        ))
        .bind(ids)
        .fetch_all(self.reader())
        .await?)
    }
}

sql_post_store!(
    PostgresPostStore,
    PgConnection,
    outbox_insert_pg,
    postgres,
    rookery_kernel::db::postgres_json_ids
);

impl PostgresPostStore {
    async fn create_committed(
        &self,
        new: NewPost,
        key: Option<IdempotencyKey>,
    ) -> StoreResult<(Post, bool)> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        match self.create_in(&mut tx, &new, key.as_ref(), now).await {
            Ok(created) => {
                tx.commit().await?;
                Ok(created)
            }
            // A concurrent retry with the same key committed first: answer with its post.
            Err(StoreError::Database(e)) if unique_violation(&e, "idempotency") => {
                drop(tx);
                let mut tx = self.pool.begin().await?;
                let first = match &key {
                    Some(key) => Self::replay(&mut tx, key, now).await?,
                    None => None,
                };
                tx.commit().await?;
                first.map(|p| (p, true)).ok_or(StoreError::Database(e))
            }
            Err(e) => Err(e),
        }
    }
}
