//! Events the notifications service consumes: the actions that notify
//! someone, deleted posts, and blocks and mutes (its `relations` replica).
//! It publishes none (its outbox is relayed like every service's).
//!
//! Payloads are read leniently: a member an older publisher does not send
//! yet (`in_reply_to_author_id`, `mentions`, `voter_id`, ...) leaves out the
//! notifications that need it rather than failing the batch.

use std::sync::Arc;

use rookery_kernel::events::topics::{
    FOLLOW_CREATED, MESSAGE_SENT, POST_CREATED, POST_DELETED, VOTE_CHANGED,
};
use rookery_kernel::events::{self, Event, EventBus, Subscription, id_field};
use rookery_kernel::relations::{self, RelationChange};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::domain::Kind;
use crate::store::{Applied, Change, NotificationStore, Target};

/// The topics the notifications service consumes.
pub fn consumed() -> Vec<&'static str> {
    let mut topics = vec![
        FOLLOW_CREATED,
        POST_CREATED,
        POST_DELETED,
        VOTE_CHANGED,
        MESSAGE_SENT,
    ];
    topics.extend_from_slice(relations::TOPICS);
    topics
}

/// An optional id member: `None` when absent, null or not an id.
/// (No error built for the usual absent member: this runs several times per post.)
fn optional_id(payload: &Value, name: &str) -> Option<i64> {
    let v = &payload[name];
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .filter(|id| *id > 0)
}

fn at(event: &Event) -> i64 {
    if event.created_at > 0 {
        event.created_at
    } else {
        rookery_kernel::time::now_ms()
    }
}

/// The targets of a new post: the parent's author (reply), the original's
/// author (repost), each mentioned account (mention; not the one already
/// told of the reply).
fn post_targets(payload: &Value, post_id: i64) -> Vec<Target> {
    let mut targets = Vec::new();
    if let (Some(parent), Some(author)) = (
        optional_id(payload, "in_reply_to"),
        optional_id(payload, "in_reply_to_author_id"),
    ) {
        targets.push(Target {
            user_id: author,
            kind: Kind::Reply,
            post_id: Some(post_id),
            related_post_id: Some(parent),
            object_id: post_id,
        });
    }
    if let (Some(original), Some(author)) = (
        optional_id(payload, "repost_of"),
        optional_id(payload, "repost_of_author_id"),
    ) {
        targets.push(Target {
            user_id: author,
            kind: Kind::Repost,
            post_id: Some(original),
            related_post_id: Some(post_id),
            object_id: original,
        });
    }
    let replied_to = targets
        .iter()
        .find(|t| t.kind == Kind::Reply)
        .map(|t| t.user_id);
    let mentioned = payload["mentions"].as_array().into_iter().flatten();
    for user_id in mentioned.filter_map(|m| optional_id(m, "user_id")) {
        let told = replied_to == Some(user_id)
            || targets
                .iter()
                .any(|t| t.kind == Kind::Mention && t.user_id == user_id);
        if !told {
            targets.push(Target {
                user_id,
                kind: Kind::Mention,
                post_id: Some(post_id),
                related_post_id: None,
                object_id: post_id,
            });
        }
    }
    targets
}

/// The change an event asks for; `None` for events that notify nobody.
pub fn parse(event: &Event) -> anyhow::Result<Option<Applied>> {
    let p = &event.payload;
    let notify = |actor_id: i64, targets: Vec<Target>| {
        (!targets.is_empty()).then(|| Change::Notify {
            actor_id,
            created_at: at(event),
            targets,
        })
    };
    let change = match event.topic.as_str() {
        FOLLOW_CREATED => notify(
            id_field(p, "follower_id")?,
            vec![Target {
                user_id: id_field(p, "followee_id")?,
                kind: Kind::Follow,
                post_id: None,
                related_post_id: None,
                object_id: 0,
            }],
        ),
        POST_CREATED => {
            let post_id = id_field(p, "post_id")?;
            notify(id_field(p, "author_id")?, post_targets(p, post_id))
        }
        POST_DELETED => Some(Change::PostDeleted(id_field(p, "post_id")?)),
        VOTE_CHANGED => {
            // Only a new up vote notifies; a later down vote or removal does not retract it.
            let up = p["direction"].as_str() == Some("up") && p["previous"].as_str() != Some("up");
            match (up, optional_id(p, "voter_id")) {
                (true, Some(voter)) => {
                    let post_id = id_field(p, "post_id")?;
                    notify(
                        voter,
                        vec![Target {
                            user_id: id_field(p, "author_id")?,
                            kind: Kind::Like,
                            post_id: Some(post_id),
                            related_post_id: None,
                            object_id: post_id,
                        }],
                    )
                }
                _ => None,
            }
        }
        MESSAGE_SENT => notify(
            id_field(p, "sender_id")?,
            vec![Target {
                user_id: id_field(p, "recipient_id")?,
                kind: Kind::Message,
                post_id: None,
                related_post_id: None,
                object_id: id_field(p, "message_id")?,
            }],
        ),
        _ => RelationChange::parse(event)?.map(Change::Relation),
    };
    Ok(change.map(|change| Applied {
        event_id: event.id,
        change,
    }))
}

/// The notifications service's durable consumer. Subscribe before any relay starts.
pub async fn subscribe(bus: &dyn EventBus) -> anyhow::Result<Subscription> {
    bus.subscribe("notifications", &consumed()).await
}

/// Applies events until `shutdown` (see [`rookery_kernel::events::run_consumer`]):
/// each delivery in one transaction, deduplicated by event id.
pub async fn run_consumer(
    store: Arc<dyn NotificationStore>,
    sub: Subscription,
    shutdown: CancellationToken,
) {
    let apply = |batch: Vec<Applied>| {
        let store = store.clone();
        async move { Ok(store.apply(&batch).await?) }
    };
    events::run_consumer("notifications", sub, parse, apply, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(topic: &str, payload: Value) -> Event {
        Event {
            id: 1,
            topic: topic.into(),
            payload,
            created_at: 5,
        }
    }

    fn targets(applied: Option<Applied>) -> Vec<Target> {
        match applied.map(|a| a.change) {
            Some(Change::Notify { targets, .. }) => targets,
            other => panic!("not a notification: {other:?}"),
        }
    }

    #[test]
    fn a_reply_mentioning_its_parent_author_notifies_them_once() {
        let created = event(
            POST_CREATED,
            json!({"post_id": "10", "author_id": "1", "in_reply_to": "9",
                   "in_reply_to_author_id": "2", "repost_of": null, "repost_of_author_id": null,
                   "mentions": [{"user_id": "2", "username": "b"}, {"user_id": "3", "username": "c"},
                                {"user_id": "3", "username": "c"}, {"username": "no id"}]}),
        );
        let kinds: Vec<(i64, Kind)> = targets(parse(&created).unwrap())
            .iter()
            .map(|t| (t.user_id, t.kind))
            .collect();
        assert_eq!(kinds, vec![(2, Kind::Reply), (3, Kind::Mention)]);
    }

    #[test]
    fn older_payloads_notify_what_they_can() {
        // Before the enriched payloads: no author of the parent, no mentions.
        let old = event(
            POST_CREATED,
            json!({"post_id": "10", "author_id": "1", "in_reply_to": "9", "repost_of": null}),
        );
        assert_eq!(parse(&old).unwrap(), None);
        let vote = event(
            VOTE_CHANGED,
            json!({"post_id": "10", "author_id": "1", "upvotes": 1}),
        );
        assert_eq!(parse(&vote).unwrap(), None);
        assert!(parse(&event(FOLLOW_CREATED, json!({"follower_id": "x"}))).is_err());
    }

    #[test]
    fn only_a_new_up_vote_is_a_like() {
        let vote = |direction: Value, previous: Value| {
            event(
                VOTE_CHANGED,
                json!({"post_id": "10", "author_id": "1", "voter_id": "4",
                       "direction": direction, "previous": previous}),
            )
        };
        let like = targets(parse(&vote(json!("up"), json!(null))).unwrap());
        assert_eq!((like[0].user_id, like[0].kind), (1, Kind::Like));
        assert!(parse(&vote(json!("up"), json!("down"))).unwrap().is_some());
        assert_eq!(parse(&vote(json!("up"), json!("up"))).unwrap(), None);
        assert_eq!(parse(&vote(json!("down"), json!("up"))).unwrap(), None);
        assert_eq!(parse(&vote(json!(null), json!("up"))).unwrap(), None);
    }
}
