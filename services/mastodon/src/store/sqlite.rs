//! SQLite implementation of [`super::MastodonStore`] (writes through the one
//! writer connection).

use rookery_kernel::db::SqliteDb;
use sqlx::SqlitePool;

use super::mastodon_store_sql;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteMastodonStore {
    db: SqliteDb,
}

impl SqliteMastodonStore {
    pub fn new(db: SqliteDb) -> Self {
        Self { db }
    }

    fn reader(&self) -> &rookery_kernel::db::Readers {
        &self.db.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.db.writer
    }
}

mastodon_store_sql!(
    SqliteMastodonStore,
    "?",
    "?",
    "?",
    "?",
    "?",
    "?",
    "?",
    "SELECT value FROM json_each(?)"
);
