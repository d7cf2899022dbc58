//! PostgreSQL implementation of [`UserStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::events::{OutboxSignal, outbox_insert_pg};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{PgConnection, PgPool};

use super::sql::{
    BIO_SEARCH_PG as BIO_SEARCH_SQL, BLOCKED_EITHER_WAY_SQL, FAILURE_UPSERT_SQL, FOLLOWERS_SQL,
    FOLLOWING_SQL, PREFIX_SEARCH_PG as PREFIX_SEARCH_SQL, RELATIONS_SQL, USER_COLUMNS,
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

/// `plainto_tsquery` text of search words (it ANDs them and reads no syntax).
fn bio_query(words: &[String]) -> String {
    words.join(" ")
}

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresUserStore {
    pool: PgPool,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

impl PostgresUserStore {
    pub fn new(pool: PgPool, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        Self { pool, ids, outbox }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
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

sql_user_store!(
    PostgresUserStore,
    PgConnection,
    outbox_insert_pg,
    " FOR UPDATE"
);
