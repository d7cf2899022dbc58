//! The JetStream bus against a real NATS server; skipped without
//! `ROOKERY_TEST_NATS_URL`. Each test uses a stream and subject prefix of its own.

use std::collections::HashSet;
use std::time::Duration;

use rookery_kernel::events::nats::{JetStreamBus, JetStreamConfig};
use rookery_kernel::events::{Delivery, Event, EventBus, Subscription};
use serde_json::json;

const A: &str = "thing.created";
const B: &str = "thing.removed";
const C: &str = "other.changed";

/// A bus on a fresh stream, or `None` (test skipped) without a server.
async fn bus() -> Option<JetStreamBus> {
    let Ok(url) = std::env::var("ROOKERY_TEST_NATS_URL") else {
        eprintln!("skipped: ROOKERY_TEST_NATS_URL is not set");
        return None;
    };
    let tag = format!("{:016x}", rand::random::<u64>());
    let mut config = JetStreamConfig::new(&url);
    config.stream = format!("T_{tag}");
    config.prefix = format!("t{tag}.events");
    // Messages a dropped subscription had prefetched come back soon.
    config.ack_wait = Duration::from_secs(2);
    Some(JetStreamBus::connect(config).await.unwrap())
}

fn event(id: i64, topic: &str) -> Event {
    Event {
        id,
        topic: topic.to_string(),
        payload: json!({ "n": id }),
        created_at: 1_700_000_000_000 + id,
    }
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("no delivery within 10 s")
        .expect("subscription ended")
}

/// Acks deliveries until `n` events arrived; their ids, in order.
async fn receive(sub: &mut Subscription, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    while ids.len() < n {
        let delivery = next(sub).await;
        ids.extend(delivery.events.iter().map(|e| e.id));
        delivery.ack();
    }
    ids
}

#[tokio::test]
async fn a_batch_arrives_in_order_and_acked_events_do_not_come_back() {
    let Some(bus) = bus().await else { return };
    let mut sub = bus.subscribe("svc", &[A, B]).await.unwrap();
    let batch = [event(1, A), event(2, B), event(3, C), event(4, A)];
    bus.publish(&batch).await.unwrap();
    let delivery = next(&mut sub).await;
    let mut got = delivery.events.clone();
    delivery.ack();
    while got.len() < 3 {
        let delivery = next(&mut sub).await;
        got.extend(delivery.events.iter().cloned());
        delivery.ack();
    }
    // The topic it does not consume is left out; the rest arrive whole.
    assert_eq!(
        got,
        vec![batch[0].clone(), batch[1].clone(), batch[3].clone()]
    );

    drop(sub);
    let mut sub = bus.subscribe("svc", &[A, B]).await.unwrap();
    bus.publish(&[event(5, A)]).await.unwrap();
    assert_eq!(receive(&mut sub, 1).await, vec![5]);
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn an_unacknowledged_delivery_is_delivered_again() {
    let Some(bus) = bus().await else { return };
    let mut sub = bus.subscribe("svc", &[A]).await.unwrap();
    bus.publish(&[event(1, A), event(2, A)]).await.unwrap();
    let first = next(&mut sub).await;
    let dropped: HashSet<i64> = first.events.iter().map(|e| e.id).collect();
    assert!(dropped.contains(&1));
    drop(first); // the consumer failed to apply it
    let mut again = HashSet::new();
    while !again.is_superset(&dropped) {
        let delivery = next(&mut sub).await;
        again.extend(delivery.events.iter().map(|e| e.id));
        delivery.ack();
    }
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn the_same_event_published_twice_is_delivered_once() {
    let Some(bus) = bus().await else { return };
    let mut sub = bus.subscribe("svc", &[A]).await.unwrap();
    // A relay that retries a batch it had published (rows not yet marked).
    bus.publish(&[event(1, A), event(2, A)]).await.unwrap();
    bus.publish(&[event(1, A), event(2, A)]).await.unwrap();
    bus.publish(&[event(3, A)]).await.unwrap();
    // A duplicate would be stored before event 3.
    assert_eq!(receive(&mut sub, 3).await, vec![1, 2, 3]);
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn instances_of_one_consumer_share_the_events() {
    let Some(bus) = bus().await else { return };
    let mut one = bus.subscribe("svc", &[A]).await.unwrap();
    let mut two = bus.subscribe("svc", &[A]).await.unwrap();
    let total = 200;
    for id in 1..=total {
        bus.publish(&[event(id, A)]).await.unwrap();
    }
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while (seen.len() as i64) < total {
        let delivery = tokio::select! {
            d = one.next() => d,
            d = two.next() => d,
            _ = tokio::time::sleep_until(deadline) => panic!("only {} of {total} events", seen.len()),
        }
        .unwrap();
        seen.extend(delivery.events.iter().map(|e| e.id));
        delivery.ack();
    }
    // Each event went to exactly one of them.
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), unique.len(), "an event was delivered twice");
    assert_eq!(unique, (1..=total).collect());
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn every_consumer_gets_every_event() {
    let Some(bus) = bus().await else { return };
    let mut posts = bus.subscribe("posts", &[A, B]).await.unwrap();
    let mut users = bus.subscribe("users", &[A, B]).await.unwrap();
    bus.publish(&[event(1, A), event(2, B), event(3, A)])
        .await
        .unwrap();
    assert_eq!(receive(&mut posts, 3).await, vec![1, 2, 3]);
    assert_eq!(receive(&mut users, 3).await, vec![1, 2, 3]);
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn a_consumer_that_comes_back_gets_what_was_published_meanwhile() {
    let Some(bus) = bus().await else { return };
    let mut sub = bus.subscribe("svc", &[A]).await.unwrap();
    bus.publish(&[event(1, A)]).await.unwrap();
    assert_eq!(receive(&mut sub, 1).await, vec![1]);
    drop(sub);
    bus.publish(&[event(2, A), event(3, A)]).await.unwrap();
    let mut sub = bus.subscribe("svc", &[A]).await.unwrap();
    // At least once: what the old subscription had pulled but not applied
    // comes again (consumers dedupe by id, as here).
    let mut got = HashSet::new();
    while got.len() < 2 {
        let delivery = next(&mut sub).await;
        got.extend(delivery.events.iter().map(|e| e.id));
        delivery.ack();
    }
    assert_eq!(got, HashSet::from([2, 3]));
    bus.delete_stream().await.unwrap();
}

#[tokio::test]
async fn a_subscription_survives_losing_its_stream() {
    let Some(bus) = bus().await else { return };
    let mut sub = bus.subscribe("svc", &[A]).await.unwrap();
    bus.publish(&[event(1, A)]).await.unwrap();
    assert_eq!(receive(&mut sub, 1).await, vec![1]);
    // NATS loses the stream and its consumers (e.g. restarted without its
    // storage): publishing fails (a relay keeps its outbox rows and retries)
    // until the subscription has bound its consumer, and the stream, again.
    bus.delete_stream().await.unwrap();
    let started = std::time::Instant::now();
    while bus.publish(&[event(2, A)]).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no stream again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(receive(&mut sub, 1).await, vec![2]);
    bus.delete_stream().await.unwrap();
}
