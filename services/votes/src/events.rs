//! Events the votes service publishes and consumes.

use std::sync::Arc;

use rookery_kernel::events::topics::{
    BLOCK_CREATED, BLOCK_REMOVED, MUTE_CREATED, MUTE_REMOVED, POST_CREATED, POST_DELETED,
    POST_EDITED, USER_DEACTIVATED, USER_REGISTERED, VOTE_CHANGED,
};
use rookery_kernel::events::{self, Event, EventBus, Subscription, id_field};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::RelationChange;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::store::{Account, Applied, Change, Direction, PostFacts, VoteStore};

/// The topics the votes service consumes: its replicas of posts and accounts.
pub const CONSUMED: &[&str] = &[
    POST_CREATED,
    POST_EDITED,
    POST_DELETED,
    USER_REGISTERED,
    USER_DEACTIVATED,
    BLOCK_CREATED,
    BLOCK_REMOVED,
    MUTE_CREATED,
    MUTE_REMOVED,
];

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
    /// Who voted, their vote now (`None`: removed) and before: what the
    /// notifications service needs to tell a new like from a changed one.
    pub voter_id: i64,
    pub direction: Option<Direction>,
    pub previous: Option<Direction>,
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
            "voter_id": change.voter_id.to_string(),
            "direction": change.direction,
            "previous": change.previous,
        }),
        created_at: rookery_kernel::time::now_ms(),
    }
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
        USER_REGISTERED | USER_DEACTIVATED => Change::Account(Account {
            id: id_field(&event.payload, "user_id")?,
            username: event.payload["username"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("user event without a username"))?
                .to_string(),
            active: event.topic == USER_REGISTERED,
        }),
        _ => match RelationChange::parse(event)? {
            Some(relation) => Change::Relation(relation),
            None => return Ok(None),
        },
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

/// Applies events until `shutdown` (see [`rookery_kernel::events::run_consumer`]).
pub async fn run_consumer(
    store: Arc<dyn VoteStore>,
    sub: Subscription,
    shutdown: CancellationToken,
) {
    let apply = |changes: Vec<Applied>| {
        let store = store.clone();
        async move { Ok(store.apply_events(&changes).await?) }
    };
    events::run_consumer("votes", sub, parse, apply, shutdown).await
}
