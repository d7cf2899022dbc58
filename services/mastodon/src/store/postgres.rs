//! PostgreSQL implementation of [`super::MastodonStore`].

use sqlx::PgPool;

use super::mastodon_store_sql;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

pub struct PostgresMastodonStore {
    pool: PgPool,
}

impl PostgresMastodonStore {
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

mastodon_store_sql!(
    PostgresMastodonStore,
    "$1",
    "$2",
    "$3",
    "$4",
    "$5",
    "$6",
    "$7",
    "SELECT (jsonb_array_elements_text($1::text::jsonb))::bigint"
);
