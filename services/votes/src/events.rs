//! Events the votes service publishes and consumes.

use std::sync::Arc;

use rookery_kernel::events::{Delivery, Event, EventBus, Subscription};
use rookery_kernel::ids::IdGenerator;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::store::{Applied, Change, PostFacts, VoteStore};

pub const VOTE_CHANGED: &str = "vote.changed";
pub const POST_CREATED: &str = "post.created";
pub const POST_EDITED: &str = "post.edited";
pub const POST_DELETED: &str = "post.deleted";

/// The topics the votes service consumes: its replica of posts.
pub const CONSUMED: &[&str] = &[POST_CREATED, POST_EDITED, POST_DELETED];

/// New tallies of a post. `seq` grows with every change of the post's
/// tallies, so a consumer keeps the newest (posts: ranks; users: karma).
#[derive(Debug, Clone, PartialEq)]
pub struct VoteChanged {
    pub post_id: i64,
    pub author_id: i64,
    pub author: String,
    pub community: Option<String>,
    pub upvotes: i64,
    pub downvotes: i64,
    pub seq: i64,
}

pub fn vote_changed(ids: &IdGenerator, change: &VoteChanged) -> Event {
    Event {
        id: ids.next(),
        topic: VOTE_CHANGED.to_string(),
        payload: json!({
            "post_id": change.post_id.to_string(),
            "author_id": change.author_id.to_string(),
            "author": change.author,
            "community": change.community,
            "upvotes": change.upvotes,
            "downvotes": change.downvotes,
            "score": change.upvotes - change.downvotes,
            "seq": change.seq,
        }),
        created_at: rookery_kernel::time::now_ms(),
    }
}

fn id_field(payload: &Value, name: &str) -> anyhow::Result<i64> {
    let v = &payload[name];
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .ok_or_else(|| anyhow::anyhow!("event without a valid {name}"))
}

/// The post facts of a `post.*` event (posts' `post_facts`).
pub fn post_facts(payload: &Value) -> anyhow::Result<PostFacts> {
    Ok(PostFacts {
        id: id_field(payload, "post_id")?,
        author_id: id_field(payload, "author_id")?,
        author: payload["author"].as_str().unwrap_or_default().to_string(),
        community: payload["community"].as_str().map(String::from),
        title: payload["title"].as_str().map(String::from),
        created_at: payload["created_at"].as_i64().unwrap_or(0),
        listed: payload["in_reply_to"].is_null() && payload["repost_of"].is_null(),
    })
}

/// The change an event asks of the votes store; `None` for topics it ignores.
pub fn parse(event: &Event) -> anyhow::Result<Option<Applied>> {
    let change = match event.topic.as_str() {
        POST_CREATED | POST_EDITED => Change::PostSeen(post_facts(&event.payload)?),
        POST_DELETED => Change::PostDeleted(post_facts(&event.payload)?),
        _ => return Ok(None),
    };
    Ok(Some(Applied {
        event_id: event.id,
        change,
    }))
}

/// The votes service's durable consumer. Subscribe before any relay starts.
pub async fn subscribe(bus: &dyn EventBus) -> anyhow::Result<Subscription> {
    bus.subscribe("votes", CONSUMED).await
}

/// Applies events until `shutdown`; a batch that fails is not acknowledged,
/// so the bus delivers it again.
pub async fn run_consumer(
    store: Arc<dyn VoteStore>,
    mut sub: Subscription,
    shutdown: CancellationToken,
) {
    loop {
        let delivery: Delivery = tokio::select! {
            _ = shutdown.cancelled() => return,
            d = sub.next() => match d { Some(d) => d, None => return },
        };
        // A malformed event is logged and skipped rather than blocking the stream.
        let changes: Vec<Applied> = delivery
            .events
            .iter()
            .filter_map(|e| {
                parse(e)
                    .inspect_err(|err| tracing::error!(topic = %e.topic, error = %err, "skipping malformed event"))
                    .ok()
                    .flatten()
            })
            .collect();
        match store.apply_events(&changes).await {
            Ok(()) => delivery.ack(),
            Err(err) => {
                tracing::warn!(events = changes.len(), error = %err, "votes consumer failed; will be redelivered");
                drop(delivery);
            }
        }
    }
}
