//! Cross-service events: a transactional outbox in each service's database, a
//! relay that publishes its rows, and the bus they travel on.
//!
//! The domain write and its outbox row commit in one transaction; the relay
//! publishes rows in order and marks them only after the bus has taken them
//! (in-process: after every subscriber acknowledged), so delivery is at least
//! once across crashes and restarts. Consumers dedupe by event id.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool, SqliteConnection};
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::db::SqliteDb;

pub mod nats;

pub mod topics {
    pub const USER_REGISTERED: &str = "user.registered";
    pub const USER_DEACTIVATED: &str = "user.deactivated";
    /// A new password: every credential and token of the user stops working.
    pub const USER_CREDENTIALS_CHANGED: &str = "user.credentials_changed";
    /// One bearer token logged out.
    pub const SESSION_REVOKED: &str = "session.revoked";
    pub const FOLLOW_CREATED: &str = "follow.created";
    pub const FOLLOW_REMOVED: &str = "follow.removed";
    pub const POST_CREATED: &str = "post.created";
    pub const POST_EDITED: &str = "post.edited";
    pub const POST_DELETED: &str = "post.deleted";
    pub const VOTE_CHANGED: &str = "vote.changed";
    /// A direct message sent (messages service): `message_id`, `sender_id`,
    /// `sender`, `recipient_id`, `recipient`, `created_at`.
    pub const MESSAGE_SENT: &str = "message.sent";
    /// Blocks and mutes (users service): `user_id` (who), `target_id` (whom);
    /// see [`crate::relations`].
    pub const BLOCK_CREATED: &str = "block.created";
    pub const BLOCK_REMOVED: &str = "block.removed";
    pub const MUTE_CREATED: &str = "mute.created";
    pub const MUTE_REMOVED: &str = "mute.removed";
}

/// An id member of an event payload: a decimal string (ids are 64-bit and
/// JSON numbers are not safe for them), or a number.
pub fn id_field(payload: &serde_json::Value, name: &str) -> anyhow::Result<i64> {
    let v = &payload[name];
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .ok_or_else(|| anyhow::anyhow!("event without a valid {name}"))
}

/// A service's consumer loop until `shutdown`: each delivery is parsed
/// (`parse` gives `None` for topics the service ignores; a malformed event is
/// logged and skipped rather than blocking the stream) and applied as one
/// batch; a batch that fails is not acknowledged, so the bus delivers it again.
pub async fn run_consumer<T, F, Fut>(
    service: &'static str,
    mut sub: Subscription,
    parse: fn(&Event) -> anyhow::Result<Option<T>>,
    mut apply: F,
    shutdown: CancellationToken,
) where
    F: FnMut(Vec<T>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    loop {
        let delivery = tokio::select! {
            _ = shutdown.cancelled() => return,
            d = sub.next() => match d { Some(d) => d, None => return },
        };
        let changes: Vec<T> = delivery
            .events
            .iter()
            .filter_map(|e| {
                parse(e)
                    .inspect_err(|err| tracing::error!(service, topic = %e.topic, error = %err, "skipping malformed event"))
                    .ok()
                    .flatten()
            })
            .collect();
        let count = changes.len();
        match apply(changes).await {
            Ok(()) => delivery.ack(),
            Err(err) => {
                tracing::warn!(service, events = count, error = %err, "consumer failed; will be redelivered");
                drop(delivery);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique, time-sortable; consumers dedupe by it.
    pub id: i64,
    pub topic: String,
    pub payload: serde_json::Value,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Events handed to a consumer, oldest first; it acknowledges once it has
/// applied them all (consumers apply a batch in one transaction).
pub struct Delivery {
    pub events: Vec<Event>,
    ack: Option<oneshot::Sender<()>>,
}

impl Delivery {
    pub fn ack(mut self) {
        if let Some(tx) = self.ack.take() {
            let _ = tx.send(());
        }
    }
}

pub struct Subscription {
    rx: mpsc::Receiver<Delivery>,
}

impl Subscription {
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

/// Where events go. In-process for the embedded mode; NATS JetStream scaled out.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes events in order; returns once they are durably taken
    /// (in-process: applied by every subscriber).
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()>;
    /// A named durable consumer of some topics. Instances that subscribe with the
    /// same name share the work.
    async fn subscribe(&self, consumer: &str, topics: &[&str]) -> anyhow::Result<Subscription>;
    /// Whether services on this bus relay their outboxes in the background
    /// (`run_relay`). A runtime that publishes them itself says no: a Lambda
    /// function publishes before each answer, since nothing runs between
    /// invocations.
    fn background_relay(&self) -> bool {
        true
    }
}

/// The embedded bus: subscribers are bounded channels; publishing waits for
/// each subscriber's acknowledgement, so the outbox rows stay unpublished
/// until every consumer applied them.
#[derive(Default)]
pub struct InProcessBus {
    subscribers: RwLock<Vec<(HashSet<String>, mpsc::Sender<Delivery>)>>,
}

/// How long the in-process bus waits for a consumer before the relay retries.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

impl InProcessBus {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        let subscribers: Vec<_> = self
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (topics, tx) in subscribers {
            let wanted: Vec<Event> = events
                .iter()
                .filter(|e| topics.contains(&e.topic))
                .cloned()
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let (ack_tx, ack_rx) = oneshot::channel();
            let delivery = Delivery {
                events: wanted,
                ack: Some(ack_tx),
            };
            tx.send(delivery)
                .await
                .map_err(|_| anyhow::anyhow!("a consumer has stopped"))?;
            tokio::time::timeout(ACK_TIMEOUT, ack_rx)
                .await
                .map_err(|_| anyhow::anyhow!("a consumer timed out"))?
                .map_err(|_| anyhow::anyhow!("a consumer failed"))?;
        }
        Ok(())
    }

    async fn subscribe(&self, _consumer: &str, topics: &[&str]) -> anyhow::Result<Subscription> {
        let (tx, rx) = mpsc::channel(16);
        let topics = topics.iter().map(|t| (*t).to_string()).collect();
        self.subscribers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((topics, tx));
        Ok(Subscription { rx })
    }
}

/// Wakes a relay right after a commit that wrote outbox rows.
pub type OutboxSignal = Arc<Notify>;

/// Writes an event into the outbox inside the caller's SQLite transaction.
pub async fn outbox_insert_sqlite(conn: &mut SqliteConnection, event: &Event) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO outbox (event_id, topic, payload, created_at) VALUES (?, ?, ?, ?)")
        .bind(event.id)
        .bind(&event.topic)
        .bind(event.payload.to_string())
        .bind(event.created_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes several events into the outbox in one statement (SQLite's writer
/// pays a round trip per statement).
pub async fn outbox_insert_many_sqlite(
    conn: &mut SqliteConnection,
    events: &[Event],
) -> sqlx::Result<()> {
    // SQLite allows 32,766 bound values; 4 per row.
    for chunk in events.chunks(1_000) {
        let mut q =
            sqlx::QueryBuilder::new("INSERT INTO outbox (event_id, topic, payload, created_at) ");
        q.push_values(chunk, |mut row, event| {
            row.push_bind(event.id)
                .push_bind(&event.topic)
                .push_bind(event.payload.to_string())
                .push_bind(event.created_at);
        });
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes several events into the outbox in one statement (PostgreSQL).
pub async fn outbox_insert_many_pg(conn: &mut PgConnection, events: &[Event]) -> sqlx::Result<()> {
    // PostgreSQL allows 65,535 bound values; 4 per row.
    for chunk in events.chunks(1_000) {
        let mut q =
            sqlx::QueryBuilder::new("INSERT INTO outbox (event_id, topic, payload, created_at) ");
        q.push_values(chunk, |mut row, event| {
            row.push_bind(event.id)
                .push_bind(&event.topic)
                .push_bind(event.payload.to_string())
                .push_bind(event.created_at);
        });
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes an event into the outbox inside the caller's PostgreSQL transaction.
pub async fn outbox_insert_pg(conn: &mut PgConnection, event: &Event) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO outbox (event_id, topic, payload, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(event.id)
    .bind(&event.topic)
    .bind(event.payload.to_string())
    .bind(event.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The relay's view of an outbox table.
#[async_trait]
pub trait OutboxSource: Send + Sync {
    /// Up to `limit` unpublished events, oldest first, with their row numbers.
    async fn unpublished(&self, limit: i64) -> anyhow::Result<Vec<(i64, Event)>>;
    async fn mark_published(&self, seqs: &[i64]) -> anyhow::Result<()>;
}

type OutboxRow = (i64, i64, String, String, i64);

/// Published events are kept a week for inspection, then dropped.
const OUTBOX_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// Drops the oldest published rows past the week, a bounded slice per batch
/// marked: rows are published in `seq` order, so the old ones lead the table,
/// and reading a slice of the primary key costs the same however large the
/// outbox grows (a filter on `published_at` alone would scan all of it).
/// Deleting up to twice a batch per batch keeps up with any rate.
const PRUNE_SQL: &str = "DELETE FROM outbox WHERE seq IN (
     SELECT seq FROM (SELECT seq, published_at FROM outbox ORDER BY seq LIMIT 512) oldest
     WHERE published_at IS NOT NULL AND published_at < $1)";

fn row_to_event((seq, id, topic, payload, created_at): OutboxRow) -> (i64, Event) {
    let payload = serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null);
    (
        seq,
        Event {
            id,
            topic,
            payload,
            created_at,
        },
    )
}

#[async_trait]
impl OutboxSource for SqliteDb {
    async fn unpublished(&self, limit: i64) -> anyhow::Result<Vec<(i64, Event)>> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT seq, event_id, topic, payload, created_at FROM outbox
             WHERE published_at IS NULL ORDER BY seq LIMIT ?",
        )
        .bind(limit)
        // Readers see every committed row (WAL); the one writer stays free.
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(row_to_event).collect())
    }

    async fn mark_published(&self, seqs: &[i64]) -> anyhow::Result<()> {
        let now = crate::time::now_ms();
        let mut tx = self.begin_write().await?;
        for chunk in seqs.chunks(500) {
            let mut q = sqlx::QueryBuilder::new("UPDATE outbox SET published_at = ");
            q.push_bind(now).push(" WHERE seq IN (");
            let mut list = q.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            q.push(")");
            q.build().persistent(false).execute(&mut *tx).await?;
        }
        sqlx::query(PRUNE_SQL)
            .bind(now - OUTBOX_KEPT_MS)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl OutboxSource for PgPool {
    async fn unpublished(&self, limit: i64) -> anyhow::Result<Vec<(i64, Event)>> {
        let rows: Vec<OutboxRow> = sqlx::query_as(
            "SELECT seq, event_id, topic, payload, created_at FROM outbox
             WHERE published_at IS NULL ORDER BY seq LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self)
        .await?;
        Ok(rows.into_iter().map(row_to_event).collect())
    }

    async fn mark_published(&self, seqs: &[i64]) -> anyhow::Result<()> {
        let now = crate::time::now_ms();
        sqlx::query("UPDATE outbox SET published_at = $1 WHERE seq = ANY($2)")
            .bind(now)
            .bind(seqs)
            .execute(self)
            .await?;
        sqlx::query(PRUNE_SQL)
            .bind(now - OUTBOX_KEPT_MS)
            .execute(self)
            .await?;
        Ok(())
    }
}

/// How long the relay waits after a commit signal to gather more events.
const RELAY_LINGER: Duration = Duration::from_millis(5);

/// Numbers the relay's rounds as they start and tells the newest that
/// succeeded, so that a writer can wait until what it committed has been
/// delivered: on the in-process bus a round ends only after every consumer
/// applied its events.
#[derive(Clone)]
pub struct RelayProgress {
    started: Arc<std::sync::atomic::AtomicU64>,
    succeeded: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for RelayProgress {
    fn default() -> Self {
        Self {
            started: Arc::default(),
            succeeded: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

/// Waits, for a writer that just committed outbox rows, until a relay round
/// that started after the commit has succeeded (the embedded mode's "at
/// once": a block is applied by every consumer before its response).
#[derive(Clone)]
pub struct DeliveryWait {
    pub signal: OutboxSignal,
    pub progress: RelayProgress,
}

impl DeliveryWait {
    /// Returns once the rows committed before the call were relayed, or after
    /// `limit` (the events still travel; this only bounds the wait). A
    /// backlog of more than one batch can take more rounds than waited for.
    pub async fn wait(&self, limit: Duration) -> bool {
        use std::sync::atomic::Ordering;
        let mut succeeded = self.progress.succeeded.subscribe();
        // Rounds up to this one may have read the outbox before the commit;
        // the next one cannot have.
        let target = self.progress.started.load(Ordering::SeqCst) + 1;
        self.signal.notify_one();
        tokio::time::timeout(limit, succeeded.wait_for(|r| *r >= target))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

/// Publishes outbox rows until `shutdown`; wakes on `signal` or every 500 ms.
pub async fn run_relay(
    source: Arc<dyn OutboxSource>,
    bus: Arc<dyn EventBus>,
    signal: OutboxSignal,
    shutdown: CancellationToken,
) {
    run_relay_tracked(source, bus, signal, RelayProgress::default(), shutdown).await
}

/// [`run_relay`], numbering its rounds in `progress`.
pub async fn run_relay_tracked(
    source: Arc<dyn OutboxSource>,
    bus: Arc<dyn EventBus>,
    signal: OutboxSignal,
    progress: RelayProgress,
    shutdown: CancellationToken,
) {
    const BATCH: i64 = 256;
    let mut backoff = Duration::from_millis(100);
    loop {
        let round = progress
            .started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let result = relay_once(source.as_ref(), bus.as_ref(), BATCH).await;
        if result.is_ok() {
            progress.succeeded.send_modify(|r| *r = round);
        }
        let wait = match result {
            Ok(n) if n as i64 == BATCH => Duration::ZERO,
            Ok(_) => {
                backoff = Duration::from_millis(100);
                Duration::from_millis(500)
            }
            Err(err) => {
                tracing::warn!(error = %err, "outbox relay failed; retrying");
                backoff = (backoff * 2).min(Duration::from_secs(5));
                backoff
            }
        };
        if wait.is_zero() {
            if shutdown.is_cancelled() {
                return;
            }
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = signal.notified() => {
                // Linger briefly so a burst of commits travels as one batch.
                tokio::time::sleep(RELAY_LINGER).await;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Publishes one batch, in order, as one unit: marked only when all of it was taken.
pub async fn relay_once(
    source: &dyn OutboxSource,
    bus: &dyn EventBus,
    limit: i64,
) -> anyhow::Result<usize> {
    let rows = source.unpublished(limit).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let events: Vec<Event> = rows.iter().map(|(_, e)| e.clone()).collect();
    bus.publish(&events).await?;
    let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
    source.mark_published(&seqs).await?;
    Ok(rows.len())
}
