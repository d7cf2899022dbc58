//! Events of the messages service: it publishes `message.sent` (for
//! notifications) and consumes its replicas of accounts and of blocks.

use std::sync::Arc;

use rookery_kernel::events::topics::{
    BLOCK_CREATED, BLOCK_REMOVED, MESSAGE_SENT, USER_DEACTIVATED, USER_REGISTERED,
};
use rookery_kernel::events::{self, Event, EventBus, Subscription, id_field};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::RelationChange;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::store::{Account, Message, MessageStore};

/// The topics the messages service consumes (mutes change nothing here).
pub const CONSUMED: &[&str] = &[
    USER_REGISTERED,
    USER_DEACTIVATED,
    BLOCK_CREATED,
    BLOCK_REMOVED,
];

/// The `message.sent` event of a stored message.
pub fn message_sent(ids: &IdGenerator, message: &Message) -> Event {
    Event {
        id: ids.next(),
        topic: MESSAGE_SENT.to_string(),
        payload: json!({
            "message_id": message.id.to_string(),
            "sender_id": message.sender_id.to_string(),
            "sender": message.sender,
            "recipient_id": message.recipient_id.to_string(),
            "recipient": message.recipient,
            "created_at": message.created_at,
        }),
        created_at: message.created_at,
    }
}

/// A consumed event, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Account(Account),
    /// With the id of the event that told of it (newest wins).
    Relation(i64, RelationChange),
}

/// The change an event tells of; `None` for topics the service ignores.
pub fn parse(event: &Event) -> anyhow::Result<Option<Change>> {
    if let Some(relation) = RelationChange::parse(event)? {
        return Ok(Some(Change::Relation(event.id, relation)));
    }
    parse_account(event).map(|a| a.map(Change::Account))
}

fn parse_account(event: &Event) -> anyhow::Result<Option<Account>> {
    let active = match event.topic.as_str() {
        USER_REGISTERED => true,
        USER_DEACTIVATED => false,
        _ => return Ok(None),
    };
    let username = event.payload["username"]
        .as_str()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| anyhow::anyhow!("event without a username"))?;
    Ok(Some(Account {
        id: id_field(&event.payload, "user_id")?,
        username: username.to_string(),
        active,
    }))
}

/// The messages service's durable consumer. Subscribe before any relay starts.
pub async fn subscribe(bus: &dyn EventBus) -> anyhow::Result<Subscription> {
    bus.subscribe("messages", CONSUMED).await
}

/// Applies events until `shutdown` (see [`rookery_kernel::events::run_consumer`]).
/// Remembering accounts is idempotent and relation changes apply newest
/// first, so no processed-event log is kept.
pub async fn run_consumer(
    store: Arc<dyn MessageStore>,
    sub: Subscription,
    shutdown: CancellationToken,
) {
    let apply = |changes: Vec<Change>| {
        let store = store.clone();
        async move {
            let (mut accounts, mut relations) = (Vec::new(), Vec::new());
            for change in changes {
                match change {
                    Change::Account(a) => accounts.push(a),
                    Change::Relation(id, r) => relations.push((id, r)),
                }
            }
            if !accounts.is_empty() {
                store.remember_accounts(&accounts).await?;
            }
            if !relations.is_empty() {
                store.apply_relations(&relations).await?;
            }
            Ok(())
        }
    };
    events::run_consumer("messages", sub, parse, apply, shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(topic: &str, payload: serde_json::Value) -> Event {
        Event {
            id: 1,
            topic: topic.into(),
            payload,
            created_at: 0,
        }
    }

    #[test]
    fn user_events_become_accounts() {
        let registered = event(USER_REGISTERED, json!({"user_id": "7", "username": "Bob"}));
        assert_eq!(
            parse(&registered).unwrap(),
            Some(Change::Account(Account {
                id: 7,
                username: "Bob".into(),
                active: true
            }))
        );
        let gone = event(USER_DEACTIVATED, json!({"user_id": "7", "username": "Bob"}));
        assert!(matches!(parse(&gone).unwrap(), Some(Change::Account(a)) if !a.active));
        let block = event(BLOCK_CREATED, json!({"user_id": "7", "target_id": "9"}));
        assert!(
            matches!(parse(&block).unwrap(), Some(Change::Relation(1, r)) if r.active && r.target_id == 9)
        );
        assert_eq!(parse(&event("post.created", json!({}))).unwrap(), None);
        assert!(parse(&event(USER_REGISTERED, json!({"user_id": "x"}))).is_err());
    }
}
