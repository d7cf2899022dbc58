//! SQLite implementation of [`MessageStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_many_sqlite};
use rookery_kernel::group_commit::{GroupCommit, GroupWriter};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::SqliteConnection;

use super::sql_store::{
    MessageRow, REPLIES_SQL, from_row, list_sql, message_columns, sql_message_store,
};
use super::{
    Account, BoxQuery, Message, MessageBox, MessageStore, NewMessage, RelationChange, StoreError,
    StoreResult,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteMessageStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
    /// Sends go through one writer task that commits them in groups.
    sends: Option<GroupCommit<SqliteMessageStore>>,
}

/// Sends waiting for the writer at most (back-pressure beyond that).
const SEND_QUEUE: usize = 1024;
/// Sends committed together at most.
const GROUP_COMMIT: usize = 256;

impl SqliteMessageStore {
    /// Starts the group-commit writer task (on the current Tokio runtime); it
    /// ends when the store is dropped.
    pub fn new(db: SqliteDb, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        let writer = Self {
            db: db.clone(),
            ids: ids.clone(),
            outbox: outbox.clone(),
            sends: None,
        };
        Self {
            db,
            ids,
            outbox,
            sends: Some(GroupCommit::start(writer, SEND_QUEUE, GROUP_COMMIT)),
        }
    }

    async fn send_committed(&self, message: NewMessage) -> StoreResult<Message> {
        match &self.sends {
            Some(sends) => sends.submit(message).await,
            // Only the writer itself has no queue, and it never sends one by one.
            None => Err(StoreError::Database(sqlx::Error::PoolClosed)),
        }
    }

    fn reader(&self) -> &rookery_kernel::db::Readers {
        &self.db.reader
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.db.begin_write().await
    }
}

/// SQLite has one writer, so send throughput is commits per second.
#[async_trait]
impl GroupWriter for SqliteMessageStore {
    type Job = NewMessage;
    type Done = Message;
    type Refused = StoreError;

    async fn commit_group(&self, jobs: &[NewMessage]) -> sqlx::Result<Vec<StoreResult<Message>>> {
        let mut tx = self.begin_write().await?;
        let outcomes = self.commit_sends(&mut tx, jobs, true).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// The index of each listing, named: without statistics SQLite would take
/// the primary key for a box (and filter out the other box's rows) and the
/// box index for favorites (and filter out every other message of the box).
fn listing_index(mailbox: MessageBox, favorites_only: bool) -> &'static str {
    match (mailbox, favorites_only) {
        (_, true) => " INDEXED BY mailbox_favorites",
        (MessageBox::All, false) => "",
        (MessageBox::Inbox | MessageBox::Sent, false) => " INDEXED BY mailbox_box",
    }
}

sql_message_store!(
    SqliteMessageStore,
    SqliteConnection,
    listing_index,
    outbox_insert_many_sqlite
);

#[cfg(test)]
mod tests {
    use super::*;
    use rookery_kernel::db::sqlite_url_in;

    async fn plan(db: &SqliteDb, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind(1)
                .bind(2)
                .bind(3)
                .bind(4)
                .fetch_all(&db.reader)
                .await
                .unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    /// Every listing walks one index range of one owner (or one parent),
    /// with no sort step, and finds each message by primary key.
    #[tokio::test]
    async fn listings_are_index_range_scans() {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDb::open(&sqlite_url_in(dir.path(), "messages"), &MIGRATOR)
            .await
            .unwrap();
        let cases = [
            (
                MessageBox::Inbox,
                false,
                "USING COVERING INDEX mailbox_box (owner_id=? AND sent=? AND message_id<?)",
            ),
            (
                MessageBox::Sent,
                false,
                "USING COVERING INDEX mailbox_box (owner_id=? AND sent=? AND message_id<?)",
            ),
            (
                MessageBox::All,
                false,
                "SEARCH b USING PRIMARY KEY (owner_id=? AND message_id<?)",
            ),
            (
                MessageBox::Inbox,
                true,
                "INDEX mailbox_favorites (owner_id=? AND message_id<?)",
            ),
            (
                MessageBox::All,
                true,
                "INDEX mailbox_favorites (owner_id=? AND message_id<?)",
            ),
        ];
        for (mailbox, favorites, expected) in cases {
            let plan = plan(&db, &list_sql(mailbox, favorites, listing_index)).await;
            assert!(plan.contains(expected), "{mailbox:?} {favorites}: {plan}");
            assert!(
                plan.contains("SEARCH m USING INTEGER PRIMARY KEY"),
                "{plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        }
        let plan = plan(&db, REPLIES_SQL).await;
        assert!(
            plan.contains("SEARCH m USING INDEX messages_replies (in_reply_to=? AND id>?)"),
            "{plan}"
        );
        assert!(
            plan.contains("SEARCH b USING PRIMARY KEY (owner_id=? AND message_id=?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        db.close().await;
    }
}
