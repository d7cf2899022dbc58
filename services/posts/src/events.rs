//! Events the posts service publishes, and the consumers it runs.

use std::sync::Arc;

use rookery_kernel::events::{self, Event, EventBus, Subscription, id_field, topics};
use rookery_kernel::ids::IdGenerator;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::store::{Applied, Change, Post, PostStore, TimelineSink};
use crate::timeline::RedisTimelines;

pub use rookery_kernel::events::topics::{POST_CREATED, POST_DELETED, POST_EDITED, VOTE_CHANGED};

fn event(ids: &IdGenerator, topic: &str, payload: Value, at: i64) -> Event {
    Event {
        id: ids.next(),
        topic: topic.to_string(),
        payload,
        created_at: at,
    }
}

/// What other services keep of a post (votes: author, community, title,
/// created_at; notifications: the authors replied to or reposted, mentions).
pub fn post_facts(post: &Post) -> Value {
    json!({
        "post_id": post.id.to_string(),
        "author_id": post.author_id.to_string(),
        "author": post.author,
        "community": post.community,
        "title": post.title,
        "created_at": post.created_at,
        "in_reply_to": post.in_reply_to.map(|i| i.to_string()),
        "repost_of": post.repost_of.map(|i| i.to_string()),
        "in_reply_to_author_id": post.in_reply_to_author_id.map(|i| i.to_string()),
        "repost_of_author_id": post.repost_of_author_id.map(|i| i.to_string()),
        "mentions": post.mentions.iter().map(|m| json!({
            "user_id": m.user_id.to_string(),
            "username": m.username,
        })).collect::<Vec<_>>(),
        "tags": post.tags.0,
    })
}

pub fn post_created(ids: &IdGenerator, post: &Post) -> Event {
    event(ids, POST_CREATED, post_facts(post), post.created_at)
}

pub fn post_edited(ids: &IdGenerator, post: &Post, at: i64) -> Event {
    event(ids, POST_EDITED, post_facts(post), at)
}

pub fn post_deleted(ids: &IdGenerator, post: &Post, at: i64) -> Event {
    event(ids, POST_DELETED, post_facts(post), at)
}

/// How the home timeline is built; see `docs/architecture.md`.
#[derive(Debug, Clone, Copy)]
pub struct TimelineConfig {
    /// Authors with more followers than this are merged at read time instead
    /// of fanned out (`ROOKERY_FANOUT_THRESHOLD`, default 10,000).
    pub fanout_threshold: i64,
    /// Entries kept per home timeline (800).
    pub cap: usize,
    /// Recent posts of a new followee copied into the follower's timeline (100).
    pub backfill: usize,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        Self {
            fanout_threshold: 10_000,
            cap: 800,
            backfill: 100,
        }
    }
}

impl TimelineConfig {
    pub fn from_env() -> Self {
        let mut c = Self::default();
        if let Some(t) = std::env::var("ROOKERY_FANOUT_THRESHOLD")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            c.fanout_threshold = t;
        }
        c
    }
}

/// The change an event asks of the posts store; `None` for topics it ignores.
pub fn parse(event: &Event) -> anyhow::Result<Option<Applied>> {
    let p = &event.payload;
    if let Some(relation) = rookery_kernel::relations::RelationChange::parse(event)? {
        return Ok(Some(Applied {
            event_id: event.id,
            change: Change::Relation(relation),
        }));
    }
    let change = match event.topic.as_str() {
        topics::USER_REGISTERED => Change::UserRegistered {
            id: id_field(p, "user_id")?,
            username: p["username"].as_str().unwrap_or_default().to_string(),
        },
        topics::USER_DEACTIVATED => Change::UserDeactivated {
            id: id_field(p, "user_id")?,
        },
        topics::FOLLOW_CREATED => Change::Follow {
            follower: id_field(p, "follower_id")?,
            followee: id_field(p, "followee_id")?,
        },
        topics::FOLLOW_REMOVED => Change::Unfollow {
            follower: id_field(p, "follower_id")?,
            followee: id_field(p, "followee_id")?,
        },
        POST_CREATED => Change::PostCreated {
            post_id: id_field(p, "post_id")?,
            author_id: id_field(p, "author_id")?,
        },
        POST_DELETED => Change::PostDeleted {
            post_id: id_field(p, "post_id")?,
            author_id: id_field(p, "author_id")?,
        },
        VOTE_CHANGED => Change::VoteChanged {
            post_id: id_field(p, "post_id")?,
            community: p["community"].as_str().map(String::from),
            upvotes: p["upvotes"].as_i64().unwrap_or(0),
            downvotes: p["downvotes"].as_i64().unwrap_or(0),
            seq: p["seq"].as_i64().unwrap_or(event.id),
        },
        _ => return Ok(None),
    };
    Ok(Some(Applied {
        event_id: event.id,
        change,
    }))
}

/// Keeps home timelines near their cap: every 30 s, timelines more than 10%
/// over it are cut back. (Trimming inside the fan-out would cost more than
/// the fan-out itself.)
pub async fn run_timeline_trimmer(
    store: Arc<dyn PostStore>,
    config: TimelineConfig,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
        }
        match store.trim_timelines(config.cap, config.cap / 10).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "trimmed home timelines"),
            Err(err) => tracing::warn!(error = %err, "trimming home timelines failed"),
        }
    }
}

/// The topics the posts service consumes: the follow graph and accounts
/// (replicas), its own `post.created` (fan-out, durable through the outbox)
/// and `vote.changed` (score counters), and blocks and mutes (the
/// `relations` replica: replies, home timelines and search honour them).
pub const CONSUMED: &[&str] = &[
    topics::USER_REGISTERED,
    topics::USER_DEACTIVATED,
    topics::FOLLOW_CREATED,
    topics::FOLLOW_REMOVED,
    POST_CREATED,
    POST_DELETED,
    VOTE_CHANGED,
    // rookery_kernel::relations::TOPICS
    topics::BLOCK_CREATED,
    topics::BLOCK_REMOVED,
    topics::MUTE_CREATED,
    topics::MUTE_REMOVED,
];

/// The posts service's durable consumer. Subscribe before any relay starts,
/// so no event is published while nobody listens.
pub async fn subscribe(bus: &dyn EventBus) -> anyhow::Result<Subscription> {
    bus.subscribe("posts", CONSUMED).await
}

/// Applies events until `shutdown` (see [`rookery_kernel::events::run_consumer`]).
pub async fn run_consumer(
    store: Arc<dyn PostStore>,
    sub: Subscription,
    config: TimelineConfig,
    timelines: Option<RedisTimelines>,
    shutdown: CancellationToken,
) {
    let apply = |changes: Vec<Applied>| {
        let (store, timelines) = (store.clone(), timelines.clone());
        async move {
            let sink = timelines.as_ref().map(|t| t as &dyn TimelineSink);
            Ok(store.apply_events(&changes, &config, sink).await?)
        }
    };
    events::run_consumer("posts", sub, parse, apply, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumes_every_relation_topic() {
        for topic in rookery_kernel::relations::TOPICS {
            assert!(CONSUMED.contains(topic), "{topic} is not consumed");
        }
    }
}
