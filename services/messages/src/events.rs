//! Events the messages service consumes: its replica of accounts. It
//! publishes none yet (its outbox is relayed like every service's).

use std::sync::Arc;

use rookery_kernel::events::topics::{USER_DEACTIVATED, USER_REGISTERED};
use rookery_kernel::events::{self, Event, EventBus, Subscription, id_field};
use tokio_util::sync::CancellationToken;

use crate::store::{Account, MessageStore};

/// The topics the messages service consumes.
pub const CONSUMED: &[&str] = &[USER_REGISTERED, USER_DEACTIVATED];

/// The account an event tells of; `None` for topics the service ignores.
pub fn parse(event: &Event) -> anyhow::Result<Option<Account>> {
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
/// Remembering accounts is idempotent, so no processed-event log is kept.
pub async fn run_consumer(
    store: Arc<dyn MessageStore>,
    sub: Subscription,
    shutdown: CancellationToken,
) {
    let apply = |accounts: Vec<Account>| {
        let store = store.clone();
        async move { Ok(store.remember_accounts(&accounts).await?) }
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
            Some(Account {
                id: 7,
                username: "Bob".into(),
                active: true
            })
        );
        let gone = event(USER_DEACTIVATED, json!({"user_id": "7", "username": "Bob"}));
        assert!(!parse(&gone).unwrap().unwrap().active);
        assert_eq!(parse(&event("post.created", json!({}))).unwrap(), None);
        assert!(parse(&event(USER_REGISTERED, json!({"user_id": "x"}))).is_err());
    }
}
