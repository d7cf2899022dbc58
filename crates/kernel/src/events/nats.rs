//! The scaled-out bus: NATS JetStream.
//!
//! One stream (`ROOKERY` by default) holds every event under
//! `<prefix>.<topic>` (`rookery.events.vote.changed`). Publishing sets
//! `Nats-Msg-Id` to the event id, so a relay that retries a batch after a
//! crash or a timeout does not store it twice (within the stream's duplicate
//! window). Each consuming service has one durable pull consumer named after
//! it; its instances all bind that consumer, so JetStream hands each event to
//! one instance of each service (a work queue per service). Messages are
//! acknowledged only once the service applied the batch they came in.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, context::Publish, stream};
use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::{Delivery, Event, EventBus, Subscription};

/// Where and under which names the bus lives.
#[derive(Debug, Clone)]
pub struct JetStreamConfig {
    pub url: String,
    /// The stream's name (`ROOKERY_NATS_STREAM`, default `ROOKERY`).
    pub stream: String,
    /// Subjects are `<prefix>.<topic>` (`ROOKERY_NATS_PREFIX`, default `rookery.events`).
    pub prefix: String,
    /// How long a consumer may hold a message before JetStream redelivers it.
    pub ack_wait: Duration,
}

impl JetStreamConfig {
    /// From `NATS_URL` (and the optional stream/prefix names); `None` without it.
    pub fn from_env() -> Option<Self> {
        let url = std::env::var("NATS_URL").ok()?;
        let mut config = Self::new(&url);
        if let Ok(stream) = std::env::var("ROOKERY_NATS_STREAM") {
            config.stream = stream;
        }
        if let Ok(prefix) = std::env::var("ROOKERY_NATS_PREFIX") {
            config.prefix = prefix;
        }
        Some(config)
    }

    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            stream: "ROOKERY".into(),
            prefix: "rookery.events".into(),
            ack_wait: Duration::from_secs(30),
        }
    }
}

/// Messages fetched and delivered as one batch at most.
const BATCH: usize = 256;
/// Messages a consumer (all its instances together) may hold unacknowledged.
const MAX_ACK_PENDING: i64 = 4_096;
/// A batch that was not applied comes back after this long.
const NAK_DELAY: Duration = Duration::from_millis(500);
/// Retries (publish dedupe) are recognised for this long.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// Events are kept in the stream a week, like published outbox rows.
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A durable consumer's counters, as JetStream reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerState {
    /// Deliveries made, redeliveries included.
    pub delivered: u64,
    /// The stream sequence of the last message delivered.
    pub last_stream_sequence: u64,
    /// Messages delivered more than once.
    pub redelivered: u64,
    /// Delivered, not yet acknowledged.
    pub ack_pending: u64,
    /// In the stream, not yet delivered.
    pub pending: u64,
}

pub struct JetStreamBus {
    js: jetstream::Context,
    config: JetStreamConfig,
}

impl JetStreamBus {
    /// Connects and creates the stream if it does not exist yet.
    pub async fn connect(config: JetStreamConfig) -> anyhow::Result<Self> {
        // A wrong URL fails here, at start. Once connected the client
        // reconnects however long NATS is away (no reconnect limit): the
        // outbox holds events meanwhile and consumers resume afterwards.
        let client = async_nats::ConnectOptions::new()
            .connect(&config.url)
            .await?;
        let js = jetstream::new(client);
        ensure_stream(&js, &config).await?;
        Ok(Self { js, config })
    }

    /// Where a durable consumer stands (operations and tests read it).
    pub async fn consumer_state(&self, name: &str) -> anyhow::Result<ConsumerState> {
        let stream = self.js.get_stream(&self.config.stream).await?;
        let mut consumer: consumer::PullConsumer = stream
            .get_consumer(name)
            .await
            .map_err(|e| anyhow::anyhow!("consumer {name}: {e}"))?;
        let info = consumer.info().await?;
        Ok(ConsumerState {
            delivered: info.delivered.consumer_sequence,
            last_stream_sequence: info.delivered.stream_sequence,
            redelivered: info.num_redelivered as u64,
            ack_pending: info.num_ack_pending as u64,
            pending: info.num_pending,
        })
    }

    /// Deletes the stream and its consumers (tests clean up with it).
    pub async fn delete_stream(&self) -> anyhow::Result<()> {
        self.js.delete_stream(&self.config.stream).await?;
        Ok(())
    }

    fn subject(&self, topic: &str) -> String {
        format!("{}.{topic}", self.config.prefix)
    }
}

/// Creates the stream unless it exists (the same config is a no-op).
async fn ensure_stream(js: &jetstream::Context, config: &JetStreamConfig) -> anyhow::Result<()> {
    js.get_or_create_stream(stream::Config {
        name: config.stream.clone(),
        subjects: vec![format!("{}.>", config.prefix)],
        storage: stream::StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        max_age: MAX_AGE,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("creating the JetStream stream {}: {e}", config.stream))?;
    Ok(())
}

/// The service's durable consumer, created (with the stream, should NATS
/// have lost it) unless it exists.
async fn bind(
    js: &jetstream::Context,
    config: &JetStreamConfig,
    name: &str,
) -> anyhow::Result<consumer::PullConsumer> {
    ensure_stream(js, config).await?;
    let stream = js.get_stream(&config.stream).await?;
    // One consumer over every topic (the server may predate multiple
    // filter subjects): the topics a service ignores are acknowledged
    // unseen, and its events keep their order across topics.
    let consumer = stream
        .get_or_create_consumer(
            name,
            consumer::pull::Config {
                durable_name: Some(name.to_string()),
                filter_subject: format!("{}.>", config.prefix),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: config.ack_wait,
                max_ack_pending: MAX_ACK_PENDING,
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await?;
    Ok(consumer)
}

#[async_trait]
impl EventBus for JetStreamBus {
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        // Send the whole batch, then wait for every ack: the relay marks the
        // rows only once JetStream stored all of them.
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let payload = serde_json::to_vec(event)?;
            let publish = Publish::build()
                .payload(payload.into())
                .message_id(event.id.to_string());
            acks.push(
                self.js
                    .send_publish(self.subject(&event.topic), publish)
                    .await?,
            );
        }
        for ack in acks {
            ack.await?;
        }
        Ok(())
    }

    async fn subscribe(&self, name: &str, topics: &[&str]) -> anyhow::Result<Subscription> {
        // Created here, so a relay started after `subscribe` cannot publish
        // anything this consumer misses.
        let consumer = bind(&self.js, &self.config, name).await?;
        let topics: HashSet<String> = topics.iter().map(|t| self.subject(t)).collect();
        let (tx, rx) = mpsc::channel(1);
        let pump = Pump {
            js: self.js.clone(),
            config: self.config.clone(),
            name: name.to_string(),
            topics,
            tx,
        };
        tokio::spawn(pump.run(consumer));
        Ok(Subscription { rx })
    }
}

/// Every event of `topics` published from now on, to each watcher: a plain
/// NATS subscription beside the stream, so every instance hears every event
/// (durable consumers hand each event to one instance per service). At most
/// once: for caches that also expire entries by themselves. The client
/// reconnects and resubscribes after an outage; the receiver ends when the
/// connection is closed for good.
pub async fn watch(
    config: &JetStreamConfig,
    topics: &[&str],
) -> anyhow::Result<mpsc::Receiver<Event>> {
    let client = async_nats::ConnectOptions::new()
        .connect(&config.url)
        .await?;
    let mut subscribers = Vec::with_capacity(topics.len());
    for topic in topics {
        subscribers.push(
            client
                .subscribe(format!("{}.{topic}", config.prefix))
                .await?,
        );
    }
    let mut messages = futures::stream::select_all(subscribers);
    // Small and lossy on overflow: a watcher that falls behind drops events
    // rather than holding NATS' buffers (its entries still expire).
    let (tx, rx) = mpsc::channel(1024);
    tokio::spawn(async move {
        let _client = client;
        while let Some(m) = messages.next().await {
            match serde_json::from_slice::<Event>(&m.payload) {
                Ok(event) => {
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(event) {
                        return;
                    }
                }
                Err(err) => {
                    tracing::error!(subject = %m.subject, error = %err, "skipping an undecodable event")
                }
            }
        }
    });
    Ok(rx)
}

/// Feeds one subscription until it is dropped: pulls what is available (up
/// to a batch), hands it over as one delivery and acks or naks every message
/// of it by the outcome. Errors (NATS away, the consumer lost) bind the
/// consumer anew after a backoff instead of ending the subscription.
struct Pump {
    js: jetstream::Context,
    config: JetStreamConfig,
    name: String,
    topics: HashSet<String>,
    tx: mpsc::Sender<Delivery>,
}

impl Pump {
    async fn run(self, consumer: consumer::PullConsumer) {
        let mut consumer = Some(consumer);
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.pull(consumer.take(), &mut backoff).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(consumer = %self.name, error = %err, "JetStream consumer failed; retrying")
                }
            }
            // Sleep the backoff (doubling it, up to 5 s) unless the subscription went away.
            tokio::select! {
                _ = self.tx.closed() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// Delivers batches until an error, or until the subscription is gone (`Ok`).
    async fn pull(
        &self,
        consumer: Option<consumer::PullConsumer>,
        backoff: &mut Duration,
    ) -> anyhow::Result<()> {
        let consumer = match consumer {
            Some(c) => c,
            None => bind(&self.js, &self.config, &self.name).await?,
        };
        let messages = consumer
            .stream()
            .max_messages_per_batch(BATCH)
            .messages()
            .await?;
        let mut batches = messages.ready_chunks(BATCH);
        loop {
            let batch = tokio::select! {
                _ = self.tx.closed() => {
                    // Hand back what was pulled but not delivered, so another
                    // instance gets it now rather than after the ack wait.
                    while let Some(Some(batch)) = batches.next().now_or_never() {
                        let pulled: Vec<_> = batch.into_iter().flatten().collect();
                        settle(&self.name, &pulled, AckKind::Nak(None)).await;
                    }
                    return Ok(());
                }
                b = batches.next() => b,
            };
            let Some(batch) = batch else {
                anyhow::bail!("the pull ended");
            };
            let mut messages = Vec::with_capacity(batch.len());
            let mut failed = None;
            for m in batch {
                match m {
                    Ok(m) => messages.push(m),
                    Err(err) => failed = Some(err),
                }
            }
            if !messages.is_empty() {
                *backoff = Duration::from_millis(100);
                self.deliver(messages).await;
            }
            if let Some(err) = failed {
                // Missed heartbeats, a deleted consumer: bind again.
                return Err(err.into());
            }
        }
    }

    /// One delivery of `messages` (those of other topics only acked).
    async fn deliver(&self, messages: Vec<jetstream::Message>) {
        let name = self.name.as_str();
        let events: Vec<Event> = messages
            .iter()
            .filter(|m| self.topics.contains(m.subject.as_str()))
            .filter_map(|m| {
                serde_json::from_slice(&m.payload)
                    .inspect_err(|err| tracing::error!(consumer = %name, subject = %m.subject, error = %err, "skipping an undecodable event"))
                    .ok()
            })
            .collect();
        let applied = if events.is_empty() {
            true
        } else {
            let (ack_tx, mut ack_rx) = oneshot::channel();
            let delivery = Delivery {
                events,
                ack: Some(ack_tx),
            };
            if self.tx.send(delivery).await.is_err() {
                // Nobody applies them here: another instance will, after a nak.
                settle(name, &messages, AckKind::Nak(None)).await;
                return;
            }
            // A long apply keeps its messages: JetStream would otherwise hand
            // them to another instance after the ack wait.
            let mut progress = tokio::time::interval(self.config.ack_wait / 2);
            progress.tick().await;
            loop {
                tokio::select! {
                    r = &mut ack_rx => break r.is_ok(),
                    _ = progress.tick() => settle(name, &messages, AckKind::Progress).await,
                }
            }
        };
        let kind = if applied {
            AckKind::Ack
        } else {
            AckKind::Nak(Some(NAK_DELAY))
        };
        settle(name, &messages, kind).await;
    }
}

async fn settle(name: &str, messages: &[jetstream::Message], kind: AckKind) {
    for m in messages {
        // A lost ack only means a redelivery, which consumers dedupe.
        if let Err(err) = m.ack_with(kind).await {
            tracing::warn!(consumer = %name, error = %err, "JetStream ack failed");
        }
    }
}
