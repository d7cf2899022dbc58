//! Events the users service publishes (through its outbox) and consumes (karma).

use std::sync::Arc;

use rookery_kernel::events::{self, Event, EventBus, Subscription, id_field, topics};
use rookery_kernel::ids::IdGenerator;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::store::{KarmaChange, UserStore};

pub fn user_registered(ids: &IdGenerator, user_id: i64, username: &str, at: i64) -> Event {
    event(
        ids,
        topics::USER_REGISTERED,
        json!({"user_id": user_id.to_string(), "username": username}),
        at,
    )
}

pub fn user_deactivated(ids: &IdGenerator, user_id: i64, username: &str, at: i64) -> Event {
    event(
        ids,
        topics::USER_DEACTIVATED,
        json!({"user_id": user_id.to_string(), "username": username}),
        at,
    )
}

pub fn credentials_changed(ids: &IdGenerator, user_id: i64, at: i64) -> Event {
    event(
        ids,
        topics::USER_CREDENTIALS_CHANGED,
        json!({"user_id": user_id.to_string()}),
        at,
    )
}

pub fn session_revoked(ids: &IdGenerator, user_id: i64, session_id: i64, at: i64) -> Event {
    event(
        ids,
        topics::SESSION_REVOKED,
        json!({"user_id": user_id.to_string(), "session_id": session_id.to_string()}),
        at,
    )
}

pub fn follow_changed(
    ids: &IdGenerator,
    created: bool,
    follower: i64,
    followee: i64,
    at: i64,
) -> Event {
    let topic = if created {
        topics::FOLLOW_CREATED
    } else {
        topics::FOLLOW_REMOVED
    };
    event(
        ids,
        topic,
        json!({"follower_id": follower.to_string(), "followee_id": followee.to_string()}),
        at,
    )
}

fn event(ids: &IdGenerator, topic: &str, payload: serde_json::Value, at: i64) -> Event {
    Event {
        id: ids.next(),
        topic: topic.to_string(),
        payload,
        created_at: at,
    }
}

/// The topics the users service consumes: tallies and deletions of posts, for karma.
pub const CONSUMED: &[&str] = &[topics::VOTE_CHANGED, topics::POST_DELETED];

/// The karma change an event asks for; `None` for topics the service ignores.
pub fn parse(event: &Event) -> anyhow::Result<Option<KarmaChange>> {
    let p = &event.payload;
    Ok(Some(match event.topic.as_str() {
        topics::VOTE_CHANGED => KarmaChange::Tally {
            post_id: id_field(p, "post_id")?,
            author_id: id_field(p, "author_id")?,
            score: p["upvotes"].as_i64().unwrap_or(0) - p["downvotes"].as_i64().unwrap_or(0),
            seq: p["seq"]
                .as_i64()
                .ok_or_else(|| anyhow::anyhow!("vote.changed without seq"))?,
        },
        topics::POST_DELETED => KarmaChange::PostDeleted {
            post_id: id_field(p, "post_id")?,
            author_id: id_field(p, "author_id")?,
        },
        _ => return Ok(None),
    }))
}

/// The users service's durable consumer. Subscribe before any relay starts.
pub async fn subscribe(bus: &dyn EventBus) -> anyhow::Result<Subscription> {
    bus.subscribe("users", CONSUMED).await
}

/// Applies karma changes until `shutdown` (see [`rookery_kernel::events::run_consumer`]).
pub async fn run_consumer(
    store: Arc<dyn UserStore>,
    sub: Subscription,
    shutdown: CancellationToken,
) {
    let apply = |changes: Vec<KarmaChange>| {
        let store = store.clone();
        async move {
            store.apply_karma(&changes).await?;
            Ok(())
        }
    };
    events::run_consumer("users", sub, parse, apply, shutdown).await
}
