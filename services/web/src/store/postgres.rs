//! PostgreSQL implementation of [`super::SessionStore`].

use sqlx::PgPool;

use super::session_store_sql;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresSessionStore {
    pool: PgPool,
}

impl PostgresSessionStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }
}

session_store_sql!(
    PostgresSessionStore,
    "$1",
    "$2",
    "$3",
    "$4",
    "$5",
    "$6",
    "$7"
);
