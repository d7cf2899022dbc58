//! The SQL both implementations share (written once; `$`-numbered parameters
//! work on SQLite and PostgreSQL alike). `$listing_index` gives the index a
//! box listing must walk where the planner would not pick it itself
//! (SQLite's `INDEXED BY`; nothing on PostgreSQL).

use super::{Message, MessageBox};

/// A message row as one viewer sees it (`m`: messages, `b`: the viewer's mailbox row).
macro_rules! message_columns {
    () => {
        "m.id, m.sender_id, m.sender, m.recipient_id, m.recipient, m.text, m.quick_replies, \
         m.in_reply_to, m.created_at, b.favorite"
    };
}
pub(crate) use message_columns;

pub(crate) type MessageRow = (
    i64,
    i64,
    String,
    i64,
    String,
    String,
    String,
    Option<i64>,
    i64,
    bool,
);

pub(crate) fn from_row(row: MessageRow) -> Message {
    let (
        id,
        sender_id,
        sender,
        recipient_id,
        recipient,
        text,
        quick,
        in_reply_to,
        created_at,
        favorite,
    ) = row;
    Message {
        id,
        sender_id,
        sender,
        recipient_id,
        recipient,
        text,
        // Written by this service as a JSON array of strings.
        quick_replies: serde_json::from_str(&quick).unwrap_or_default(),
        in_reply_to,
        created_at,
        favorite,
    }
}

/// A box listing: one range scan of the owner's mailbox rows, newest first
/// (mailbox_box, mailbox_favorites or the primary key), each joined to its
/// message by primary key. `$1` owner, `$2` below this id, `$3` limit.
/// `index` is the `INDEXED BY` clause, if any, of (mailbox, favorites_only).
pub(crate) fn list_sql(
    mailbox: MessageBox,
    favorites_only: bool,
    index: fn(MessageBox, bool) -> &'static str,
) -> String {
    let in_box = match mailbox {
        MessageBox::Inbox => " AND b.sent = FALSE",
        MessageBox::Sent => " AND b.sent = TRUE",
        MessageBox::All => "",
    };
    let favorite = if favorites_only {
        " AND b.favorite"
    } else {
        ""
    };
    let index = index(mailbox, favorites_only);
    format!(
        "SELECT {} FROM mailbox b{index} JOIN messages m ON m.id = b.message_id
         WHERE b.owner_id = $1{in_box}{favorite} AND b.message_id < $2
         ORDER BY b.message_id DESC LIMIT $3",
        message_columns!()
    )
}

/// Replies to `$2` that viewer `$1` has, oldest first, after id `$3`, at most `$4`.
pub(crate) const REPLIES_SQL: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM messages m JOIN mailbox b ON b.owner_id = $1 AND b.message_id = m.id
     WHERE m.in_reply_to = $2 AND m.id > $3 ORDER BY m.id LIMIT $4"
);

macro_rules! sql_message_store {
    ($store:ty, $conn:ty, $listing_index:path, $emit_many:path) => {
        impl $store {
            async fn message_in(conn: &mut $conn, viewer: i64, id: i64) -> sqlx::Result<Option<Message>> {
                let row: Option<MessageRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM mailbox b JOIN messages m ON m.id = b.message_id
                     WHERE b.owner_id = $1 AND b.message_id = $2"
                ))
                .bind(viewer)
                .bind(id)
                .fetch_optional(conn)
                .await?;
                Ok(row.map(from_row))
            }

            async fn has_message(conn: &mut $conn, viewer: i64, id: i64) -> sqlx::Result<bool> {
                let row: Option<(i64,)> =
                    sqlx::query_as("SELECT message_id FROM mailbox WHERE owner_id = $1 AND message_id = $2")
                        .bind(viewer)
                        .bind(id)
                        .fetch_optional(conn)
                        .await?;
                Ok(row.is_some())
            }

            /// Stores `sends` inside the caller's transaction with one
            /// statement per table (SQLite's writer pays a round trip per
            /// statement); a reply to a message its sender does not have is
            /// refused without undoing the others.
            /// `notify`: write their `message.sent` events (not for seeded history).
            async fn commit_sends(&self, conn: &mut $conn, sends: &[NewMessage], notify: bool) -> sqlx::Result<Vec<StoreResult<Message>>> {
                let now = now_ms();
                let mut outcomes = Vec::with_capacity(sends.len());
                for new in sends {
                    if let Some(parent) = new.in_reply_to
                        && !Self::has_message(&mut *conn, new.sender_id, parent).await?
                    {
                        outcomes.push(Err(StoreError::NotFound));
                        continue;
                    }
                    let blocked: Option<(i32,)> =
                        sqlx::query_as(rookery_kernel::relations::replica_sql::BLOCKED_EITHER_WAY)
                            .bind(new.sender_id)
                            .bind(new.recipient_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    if blocked.is_some() {
                        outcomes.push(Err(StoreError::Blocked));
                        continue;
                    }
                    outcomes.push(Ok(new.stored(self.ids.next(), now)));
                }
                let stored: Vec<&Message> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
                // 9 bound values per message and 3 per mailbox row, well
                // under SQLite's 32,766 and PostgreSQL's 65,535.
                for chunk in stored.chunks(1_000) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO messages (id, sender_id, sender, recipient_id, recipient, text, \
                         quick_replies, in_reply_to, created_at) ",
                    );
                    q.push_values(chunk, |mut row, m| {
                        row.push_bind(m.id)
                            .push_bind(m.sender_id)
                            .push_bind(&m.sender)
                            .push_bind(m.recipient_id)
                            .push_bind(&m.recipient)
                            .push_bind(&m.text)
                            .push_bind(serde_json::Value::from(m.quick_replies.clone()).to_string())
                            .push_bind(m.in_reply_to)
                            .push_bind(m.created_at);
                    });
                    q.build().persistent(false).execute(&mut *conn).await?;
                    let mut q = sqlx::QueryBuilder::new("INSERT INTO mailbox (owner_id, message_id, sent) ");
                    let copies = chunk
                        .iter()
                        .flat_map(|m| [(m.sender_id, m.id, true), (m.recipient_id, m.id, false)]);
                    q.push_values(copies, |mut row, (owner, id, sent)| {
                        row.push_bind(owner).push_bind(id).push_bind(sent);
                    });
                    q.build().persistent(false).execute(&mut *conn).await?;
                    if notify {
                        let events: Vec<_> = chunk.iter().map(|m| crate::events::message_sent(&self.ids, m)).collect();
                        $emit_many(&mut *conn, &events).await?;
                    }
                }
                Ok(outcomes)
            }
        }

        #[async_trait]
        impl MessageStore for $store {
            async fn remember_accounts(&self, accounts: &[Account]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for account in accounts {
                    sqlx::query(rookery_kernel::directory::replica_sql::DELETE_STALE)
                        .bind(account.username.to_lowercase())
                        .bind(account.id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(rookery_kernel::directory::replica_sql::UPSERT)
                        .bind(account.id)
                        .bind(&account.username)
                        .bind(account.username.to_lowercase())
                        .bind(account.active)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn apply_relations(&self, changes: &[(i64, RelationChange)]) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                for (event_id, r) in changes {
                    r.apply_query(*event_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn account(&self, username: &str) -> StoreResult<Option<Account>> {
                let row: Option<(i64, String, bool)> =
                    sqlx::query_as("SELECT id, username, active FROM accounts WHERE username_key = $1")
                        .bind(username.trim().to_lowercase())
                        .fetch_optional(self.reader())
                        .await?;
                Ok(row.map(|(id, username, active)| Account { id, username, active }))
            }

            async fn send(&self, message: NewMessage) -> StoreResult<Message> {
                let sent = self.send_committed(message).await;
                if sent.is_ok() {
                    self.outbox.notify_one();
                }
                sent
            }

            async fn import(&self, messages: &[NewMessage]) -> StoreResult<usize> {
                let mut tx = self.begin_write().await?;
                let outcomes = self.commit_sends(&mut tx, messages, false).await?;
                tx.commit().await?;
                Ok(outcomes.iter().filter(|o| o.is_ok()).count())
            }

            async fn message(&self, viewer: i64, id: i64) -> StoreResult<Option<Message>> {
                let mut conn = self.reader().acquire().await?;
                Ok(Self::message_in(&mut conn, viewer, id).await?)
            }

            async fn list(&self, query: &BoxQuery) -> StoreResult<Vec<Message>> {
                let sql = list_sql(query.mailbox, query.favorites_only, $listing_index);
                let rows: Vec<MessageRow> = sqlx::query_as(&sql)
                    .bind(query.owner_id)
                    .bind(query.before.unwrap_or(i64::MAX))
                    .bind(query.limit as i64)
                    .fetch_all(self.reader())
                    .await?;
                Ok(rows.into_iter().map(from_row).collect())
            }

            async fn replies(&self, viewer: i64, id: i64, after: Option<i64>, limit: usize) -> StoreResult<Vec<Message>> {
                let mut conn = self.reader().acquire().await?;
                if !Self::has_message(&mut conn, viewer, id).await? {
                    return Err(StoreError::NotFound);
                }
                let rows: Vec<MessageRow> = sqlx::query_as(REPLIES_SQL)
                    .bind(viewer)
                    .bind(id)
                    .bind(after.unwrap_or(0))
                    .bind(limit as i64)
                    .fetch_all(&mut *conn)
                    .await?;
                Ok(rows.into_iter().map(from_row).collect())
            }

            async fn delete(&self, viewer: i64, id: i64) -> StoreResult<()> {
                let mut tx = self.begin_write().await?;
                let removed = sqlx::query("DELETE FROM mailbox WHERE owner_id = $1 AND message_id = $2")
                    .bind(viewer)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if removed == 0 {
                    return Err(StoreError::NotFound);
                }
                // Once neither participant has it, the message itself goes.
                sqlx::query(
                    "DELETE FROM messages WHERE id = $1 AND NOT EXISTS (
                       SELECT 1 FROM mailbox x WHERE x.message_id = messages.id
                         AND x.owner_id IN (messages.sender_id, messages.recipient_id))",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_favorite(&self, viewer: i64, id: i64, favorite: bool) -> StoreResult<Message> {
                let mut tx = self.begin_write().await?;
                let updated = sqlx::query("UPDATE mailbox SET favorite = $3 WHERE owner_id = $1 AND message_id = $2")
                    .bind(viewer)
                    .bind(id)
                    .bind(favorite)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if updated == 0 {
                    return Err(StoreError::NotFound);
                }
                let message = Self::message_in(&mut tx, viewer, id).await?.ok_or(StoreError::NotFound)?;
                tx.commit().await?;
                Ok(message)
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}

pub(crate) use sql_message_store;
