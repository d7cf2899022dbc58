//! The SQL both implementations share (written once; `$`-numbered parameters
//! work on SQLite and PostgreSQL alike). `$listing_index` gives the index a
//! listing must walk where the planner would not pick it itself (SQLite's
//! `INDEXED BY`; nothing on PostgreSQL).

use rookery_kernel::relations::replica_sql::HIDDEN_FROM;

use super::{Kind, Notification};

/// A notification row: id, user, kind, actor, post, object, created_at, read.
pub(crate) type NotificationRow = (i64, i64, i64, i64, Option<i64>, i64, i64, bool);

pub(crate) fn from_row(row: NotificationRow) -> Option<Notification> {
    let (id, user_id, kind, actor_id, post_id, object_id, created_at, read) = row;
    Some(Notification {
        id,
        user_id,
        // Written by this service; an unknown code would be a newer version's row.
        kind: Kind::from_code(kind)?,
        actor_id,
        post_id,
        object_id,
        created_at,
        read,
    })
}

/// The user's (`$1`) read watermark; 0 before the first read.
const WATERMARK: &str = "COALESCE((SELECT read_up_to FROM read_marks WHERE user_id = $1), 0)";

/// A page of user `$1`'s notifications below id `$2`, at most `$3`, newest
/// first: one range scan of the user's rows (all kinds, or the given ones),
/// without the rows of accounts hidden from the user (at read time, so a
/// block or mute applies at once).
pub(crate) fn list_sql(
    kinds: &[Kind],
    unread_only: bool,
    index: fn(bool) -> &'static str,
) -> String {
    let kind_filter = match kinds {
        [] => String::new(),
        kinds => {
            // Codes of the enum, not client text.
            let codes: Vec<String> = kinds.iter().map(|k| k.code().to_string()).collect();
            format!(" AND n.kind IN ({})", codes.join(", "))
        }
    };
    let unread = if unread_only {
        format!(" AND n.id > {WATERMARK}")
    } else {
        String::new()
    };
    let index = index(!kinds.is_empty());
    format!(
        "SELECT n.id, n.user_id, n.kind, n.actor_id, n.post_id, n.object_id, n.created_at,
                n.id <= {WATERMARK} AS is_read
         FROM notifications n{index}
         WHERE n.user_id = $1 AND n.id < $2{unread}{kind_filter}
           AND n.actor_id NOT IN ({HIDDEN_FROM})
         ORDER BY n.id DESC LIMIT $3"
    )
}

/// User `$1`'s unread notifications from accounts not hidden from them.
pub(crate) fn unread_count_sql() -> String {
    format!(
        "SELECT COUNT(*) FROM notifications n
         WHERE n.user_id = $1 AND n.id > {WATERMARK} AND n.actor_id NOT IN ({HIDDEN_FROM})"
    )
}

/// Moves user `$1`'s watermark to `$2` unless it is there or beyond already.
pub(crate) const MARK_READ_SQL: &str =
    "INSERT INTO read_marks (user_id, read_up_to) VALUES ($1, $2)
     ON CONFLICT (user_id) DO UPDATE SET read_up_to = excluded.read_up_to
     WHERE excluded.read_up_to > read_marks.read_up_to";

/// A deleted post `$1`: the notifications showing it or involving it.
pub(crate) const DELETE_POST_SQL: &str =
    "DELETE FROM notifications WHERE post_id = $1 OR related_post_id = $1";

/// A notification waiting to be inserted: id, user, kind, actor, post,
/// related post, object, created_at.
pub(crate) type Pending = (i64, i64, i64, i64, Option<i64>, Option<i64>, i64, i64);

/// Rows per insert statement: 8 bound values each, well under SQLite's
/// 32,766 and PostgreSQL's 65,535.
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// The head of the insert of pending rows: the rows are a `VALUES` list
/// (`column1`.. on both engines) from which those whose recipient
/// (`column2`) mutes or blocks the actor (`column4`), or is blocked by it,
/// are left out; one already notified keeps its notification.
pub(crate) const INSERT_HEAD: &str = "INSERT INTO notifications
     (id, user_id, kind, actor_id, post_id, related_post_id, object_id, created_at)
     SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7, v.column8
     FROM (";
pub(crate) const INSERT_TAIL: &str = ") AS v
     WHERE NOT EXISTS (SELECT 1 FROM relations r WHERE r.active AND (
         (r.user_id = v.column2 AND r.target_id = v.column4)
         OR (r.kind = 1 AND r.user_id = v.column4 AND r.target_id = v.column2)))
     ON CONFLICT DO NOTHING";

macro_rules! sql_notification_store {
    ($store:ty, $conn:ty, $listing_index:path) => {
        impl $store {
            /// Records the batch's event ids as applied; gives those that
            /// were not before.
            async fn first_times(
                conn: &mut $conn,
                ids: &[i64],
            ) -> sqlx::Result<std::collections::HashSet<i64>> {
                let mut fresh = std::collections::HashSet::new();
                for chunk in ids.chunks(INSERT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO processed_events (event_id) ");
                    q.push_values(chunk, |mut row, id| {
                        row.push_bind(*id);
                    });
                    q.push(" ON CONFLICT DO NOTHING RETURNING event_id");
                    let rows: Vec<(i64,)> = q
                        .build_query_as()
                        .persistent(false)
                        .fetch_all(&mut *conn)
                        .await?;
                    fresh.extend(rows.into_iter().map(|(id,)| id));
                }
                Ok(fresh)
            }

            /// Inserts the pending rows with as few statements as their number allows.
            async fn flush(conn: &mut $conn, pending: &mut Vec<Pending>) -> sqlx::Result<()> {
                for chunk in pending.chunks(INSERT_CHUNK) {
                    let mut q = sqlx::QueryBuilder::new(INSERT_HEAD);
                    q.push("VALUES ");
                    let mut rows = q.separated(", ");
                    for row in chunk {
                        rows.push("(");
                        rows.push_bind_unseparated(row.0);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.1);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.2);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.3);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.4);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.5);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.6);
                        rows.push_unseparated(", ");
                        rows.push_bind_unseparated(row.7);
                        rows.push_unseparated(")");
                    }
                    q.push(INSERT_TAIL);
                    q.build().persistent(false).execute(&mut *conn).await?;
                }
                pending.clear();
                Ok(())
            }

            async fn unread_in(conn: &mut $conn, user_id: i64) -> sqlx::Result<i64> {
                let (count,): (i64,) = sqlx::query_as(&unread_count_sql())
                    .bind(user_id)
                    .fetch_one(conn)
                    .await?;
                Ok(count)
            }
        }

        #[async_trait]
        impl NotificationStore for $store {
            async fn apply(&self, batch: &[Applied]) -> StoreResult<()> {
                if batch.is_empty() {
                    return Ok(());
                }
                let mut tx = self.begin_write().await?;
                let ids: Vec<i64> = batch.iter().map(|a| a.event_id).collect();
                let mut fresh = Self::first_times(&mut tx, &ids).await?;
                // Notifications gather into one insert until a change they
                // must not be reordered with (relations, deletions).
                let mut pending: Vec<Pending> = Vec::new();
                for applied in batch {
                    // `remove`: the same event twice in one batch applies once.
                    if !fresh.remove(&applied.event_id) {
                        continue;
                    }
                    match &applied.change {
                        Change::Notify {
                            actor_id,
                            created_at,
                            targets,
                        } => {
                            for t in targets.iter().filter(|t| t.user_id != *actor_id) {
                                pending.push((
                                    self.ids.next(),
                                    t.user_id,
                                    t.kind.code(),
                                    *actor_id,
                                    t.post_id,
                                    t.related_post_id,
                                    t.object_id,
                                    *created_at,
                                ));
                            }
                        }
                        Change::PostDeleted(post_id) => {
                            Self::flush(&mut tx, &mut pending).await?;
                            sqlx::query(DELETE_POST_SQL)
                                .bind(*post_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                        Change::Relation(change) => {
                            Self::flush(&mut tx, &mut pending).await?;
                            change
                                .apply_query(applied.event_id)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                }
                Self::flush(&mut tx, &mut pending).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list(&self, query: &ListQuery) -> StoreResult<Vec<Notification>> {
                let sql = list_sql(&query.kinds, query.unread_only, $listing_index);
                let rows: Vec<NotificationRow> = sqlx::query_as(&sql)
                    .bind(query.user_id)
                    .bind(query.before.unwrap_or(i64::MAX))
                    .bind(query.limit as i64)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().filter_map(from_row).collect())
            }

            async fn unread_count(&self, user_id: i64) -> StoreResult<i64> {
                let mut conn = self.reader().acquire().await?;
                Ok(Self::unread_in(&mut conn, user_id).await?)
            }

            async fn mark_read(&self, user_id: i64, up_to: Option<i64>) -> StoreResult<i64> {
                let mut tx = self.begin_write().await?;
                let up_to = match up_to {
                    Some(id) => id,
                    None => {
                        let (newest,): (i64,) = sqlx::query_as(
                            "SELECT COALESCE(MAX(id), 0) FROM notifications WHERE user_id = $1",
                        )
                        .bind(user_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        newest
                    }
                };
                sqlx::query(MARK_READ_SQL)
                    .bind(user_id)
                    .bind(up_to)
                    .execute(&mut *tx)
                    .await?;
                let unread = Self::unread_in(&mut tx, user_id).await?;
                tx.commit().await?;
                Ok(unread)
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_notification_store;
