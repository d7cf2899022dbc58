//! SQLite implementation of [`NotificationStore`]. Every write goes through
//! the database's one writer connection (`begin_write`).

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::ids::IdGenerator;
use sqlx::SqliteConnection;

use super::sql_store::{
    DELETE_POST_SQL, INSERT_CHUNK, INSERT_HEAD, INSERT_TAIL, MARK_READ_SQL, NotificationRow,
    Pending, from_row, list_sql, sql_notification_store, unread_count_sql,
};
use super::{Applied, Change, ListQuery, Notification, NotificationStore, StoreResult};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteNotificationStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
}

impl SqliteNotificationStore {
    pub fn new(db: SqliteDb, ids: Arc<IdGenerator>) -> Self {
        Self { db, ids }
    }

    fn reader(&self) -> &rookery_kernel::db::Readers {
        &self.db.reader
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.db.begin_write().await
    }
}

/// The index of each listing, named: with a kind filter SQLite would
/// otherwise take the uniqueness index (user, kind, actor, object) and sort.
pub(crate) fn listing_index(by_kind: bool) -> &'static str {
    if by_kind {
        " INDEXED BY notifications_by_kind"
    } else {
        " INDEXED BY notifications_by_user"
    }
}

sql_notification_store!(SqliteNotificationStore, SqliteConnection, listing_index);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Kind;
    use rookery_kernel::db::sqlite_url_in;

    async fn plan(db: &SqliteDb, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind(1)
                .bind(2)
                .bind(3)
                .fetch_all(&db.reader)
                .await
                .unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    /// Listings walk one user's index range, newest first, with no sort
    /// step, and find the hidden accounts by index (the temporary b-tree
    /// left is the UNION of the viewer's few relations).
    #[tokio::test]
    async fn listings_are_index_range_scans() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&sqlite_url_in(dir.path(), "notifications"), &MIGRATOR)
            .await
            .unwrap();
        let all = plan(&db, &list_sql(&[], true, listing_index)).await;
        assert!(
            all.contains(
                "SEARCH n USING INDEX notifications_by_user (user_id=? AND id>? AND id<?)"
            ),
            "{all}"
        );
        assert!(!all.contains("FOR ORDER BY"), "{all}");
        assert!(!all.contains("SCAN relations"), "{all}");
        let one = plan(&db, &list_sql(&[Kind::Like], false, listing_index)).await;
        assert!(
            one.contains(
                "SEARCH n USING INDEX notifications_by_kind (user_id=? AND kind=? AND id<?)"
            ),
            "{one}"
        );
        assert!(!one.contains("FOR ORDER BY"), "{one}");
        let count = plan(&db, &unread_count_sql()).await;
        assert!(
            count.contains("notifications_by_user (user_id=? AND id>?)"),
            "{count}"
        );
        let delete = plan(&db, &DELETE_POST_SQL.replace("DELETE", "SELECT 1")).await;
        assert!(delete.contains("notifications_by_post"), "{delete}");
        assert!(delete.contains("notifications_by_related"), "{delete}");
        db.close().await;
    }
}
