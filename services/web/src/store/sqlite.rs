//! SQLite implementation of [`super::SessionStore`] (writes through the one
//! writer connection).

use rookery_kernel::db::SqliteDb;
use sqlx::SqlitePool;

use super::session_store_sql;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteSessionStore {
    db: SqliteDb,
}

impl SqliteSessionStore {
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

session_store_sql!(SqliteSessionStore, "?", "?", "?", "?", "?", "?", "?");
