//! PostgreSQL implementation of [`NotificationStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::ids::IdGenerator;
use sqlx::{PgConnection, PgPool};

use super::sql_store::{
    DELETE_POST_SQL, INSERT_CHUNK, INSERT_HEAD, INSERT_TAIL, MARK_READ_SQL, NotificationRow,
    Pending, from_row, list_sql, sql_notification_store, unread_count_sql,
};
use super::{Applied, Change, ListQuery, Notification, NotificationStore, StoreResult};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresNotificationStore {
    pool: PgPool,
    ids: Arc<IdGenerator>,
}

impl PostgresNotificationStore {
    pub fn new(pool: PgPool, ids: Arc<IdGenerator>) -> Self {
        Self { pool, ids }
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        self.pool.begin().await
    }
}

/// PostgreSQL's planner picks the user and kind indexes by itself.
fn listing_index(_: bool) -> &'static str {
    ""
}

sql_notification_store!(PostgresNotificationStore, PgConnection, listing_index);
