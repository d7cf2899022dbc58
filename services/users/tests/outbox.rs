//! The outbox relay delivers every event at least once, in order, and what a
//! consumer did not acknowledge survives a restart.

use std::sync::Arc;
use std::time::Duration;

use rookery_kernel::db::{SqliteDb, sqlite_url_in};
use rookery_kernel::events::{EventBus, InProcessBus, OutboxSignal, relay_once, run_relay};
use rookery_kernel::ids::IdGenerator;
use rookery_users::SqliteUserStore;
use rookery_users::store::{NewUser, UserStore, sqlite};
use tokio_util::sync::CancellationToken;

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        password_hash: "h".into(),
        bio: String::new(),
    }
}

async fn open(dir: &std::path::Path) -> (SqliteDb, Arc<SqliteUserStore>) {
    let db = SqliteDb::open(&sqlite_url_in(dir, "users"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = SqliteUserStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(3)),
        OutboxSignal::default(),
    );
    (db, Arc::new(store))
}

#[tokio::test]
async fn events_survive_a_restart_and_an_unacknowledged_delivery() {
    let dir = tempfile::tempdir().unwrap();
    // Writes happen while no relay runs (the process "crashes" before publishing).
    {
        let (db, store) = open(dir.path()).await;
        let a = store.create_user(new_user("alice")).await.unwrap();
        let b = store.create_user(new_user("bob")).await.unwrap();
        store.follow(a.id, b.id).await.unwrap();
        db.close().await;
    }
    let (db, _store) = open(dir.path()).await;
    let bus = InProcessBus::new();
    let mut sub = bus
        .subscribe("test", &["user.registered", "follow.created"])
        .await
        .unwrap();

    // A consumer that dies without acknowledging: the relay fails, nothing is marked.
    let crashing = tokio::spawn(async move {
        let delivery = sub.next().await.unwrap();
        drop(delivery);
        sub
    });
    assert!(relay_once(&db, bus.as_ref(), 100).await.is_err());
    let mut sub = crashing.await.unwrap();
    assert_eq!(
        rookery_kernel::events::OutboxSource::unpublished(&db, 100)
            .await
            .unwrap()
            .len(),
        3
    );

    // A healthy relay now delivers all three, in order (as one batch).
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(run_relay(
        Arc::new(db.clone()),
        bus.clone() as Arc<dyn EventBus>,
        OutboxSignal::default(),
        shutdown.clone(),
    ));
    let mut topics = Vec::new();
    while topics.len() < 3 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        for event in &delivery.events {
            if topics.is_empty() {
                assert_eq!(event.payload["username"], "alice");
            }
            topics.push(event.topic.clone());
        }
        delivery.ack();
    }
    assert_eq!(
        topics,
        ["user.registered", "user.registered", "follow.created"]
    );
    // Everything is marked once acknowledged.
    for _ in 0..50 {
        if rookery_kernel::events::OutboxSource::unpublished(&db, 10)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        rookery_kernel::events::OutboxSource::unpublished(&db, 10)
            .await
            .unwrap()
            .is_empty()
    );
    shutdown.cancel();
    relay.await.unwrap();
    db.close().await;
}

/// Published events older than a week are dropped as batches are marked,
/// oldest first; unpublished and recent ones stay.
#[tokio::test]
async fn old_published_events_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = open(dir.path()).await;
    for i in 0..600 {
        store.create_user(new_user(&format!("u{i}"))).await.unwrap();
    }
    let count = |sql: &'static str| {
        let db = db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&db.reader).await.unwrap();
            n
        }
    };
    // 590 events published long ago, 10 not yet.
    let week_and_a_day = 8 * 24 * 3600 * 1000;
    sqlx::query("UPDATE outbox SET published_at = ? WHERE seq <= 590")
        .bind(rookery_kernel::time::now_ms() - week_and_a_day)
        .execute(&db.writer)
        .await
        .unwrap();
    store.create_user(new_user("fresh")).await.unwrap();
    let bus = InProcessBus::new();
    // Each marked batch prunes a bounded slice of the oldest rows.
    relay_once(&db, bus.as_ref(), 5).await.unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 601 - 512);
    relay_once(&db, bus.as_ref(), 100).await.unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 11);
    assert_eq!(
        count("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL").await,
        0
    );
    relay_once(&db, bus.as_ref(), 100).await.unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM outbox").await, 11);
    db.close().await;
}
