//! Events the users service publishes (through its outbox).

use rookery_kernel::events::{Event, topics};
use rookery_kernel::ids::IdGenerator;
use serde_json::json;

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
