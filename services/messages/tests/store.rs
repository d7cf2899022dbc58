//! One test suite for every `MessageStore` implementation: SQLite always,
//! PostgreSQL when `ROOKERY_TEST_POSTGRES_URL` is set, DynamoDB when
//! `ROOKERY_TEST_DYNAMODB_URL` is.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_kernel::dynamo::DynamoUrl;
use rookery_kernel::events::{OutboxSignal, OutboxSource, topics};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::{RelationChange, RelationKind};
use rookery_messages::store::{
    Account, BoxQuery, Message, MessageBox, NewMessage, StoreError, postgres, sqlite,
};
use rookery_messages::{
    DynamoMessageStore, MessageStore, PostgresMessageStore, SqliteMessageStore,
};

const ALICE: i64 = 1;
const BOB: i64 = 2;
const CAROL: i64 = 3;

fn account(id: i64, username: &str, active: bool) -> Account {
    Account {
        id,
        username: username.into(),
        active,
    }
}

fn name(id: i64) -> String {
    ["", "alice", "bob", "carol"][id as usize].to_string()
}

fn new(from: i64, to: i64, text: &str) -> NewMessage {
    NewMessage {
        sender_id: from,
        sender: name(from),
        recipient_id: to,
        recipient: name(to),
        text: text.into(),
        quick_replies: Vec::new(),
        in_reply_to: None,
    }
}

fn reply(from: i64, to: i64, text: &str, parent: i64) -> NewMessage {
    NewMessage {
        in_reply_to: Some(parent),
        ..new(from, to, text)
    }
}

async fn list(
    store: &dyn MessageStore,
    owner_id: i64,
    mailbox: MessageBox,
    favorites_only: bool,
) -> Vec<i64> {
    store
        .list(&BoxQuery {
            owner_id,
            mailbox,
            favorites_only,
            before: None,
            limit: 100,
        })
        .await
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect()
}

fn ids(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.id).collect()
}

async fn suite(store: Arc<dyn MessageStore>) {
    let s = store.as_ref();

    // The replica of accounts: case-insensitive lookups; deactivation sticks.
    s.remember_accounts(&[
        account(ALICE, "Alice", true),
        account(BOB, "bob", true),
        account(CAROL, "carol", true),
    ])
    .await
    .unwrap();
    assert_eq!(
        s.account(" ALICE ").await.unwrap(),
        Some(account(ALICE, "Alice", true))
    );
    assert_eq!(s.account("nobody").await.unwrap(), None);
    s.remember_accounts(&[account(4, "dave", false)])
        .await
        .unwrap();
    s.remember_accounts(&[account(4, "dave", true)])
        .await
        .unwrap();
    assert!(!s.account("dave").await.unwrap().unwrap().active);
    // The same rules for a batch (a consumer catching up), whose accounts
    // may repeat a name.
    s.remember_accounts(&[
        account(4, "dave", true),
        account(5, "erin", true),
        account(5, "erin", false),
        account(5, "erin", true),
        account(6, "Gina", true),
        account(7, "gina", true),
    ])
    .await
    .unwrap();
    assert!(!s.account("dave").await.unwrap().unwrap().active);
    assert!(!s.account("erin").await.unwrap().unwrap().active);
    assert_eq!(
        s.account("GINA").await.unwrap(),
        Some(account(7, "gina", true))
    );
    s.remember_accounts(&[account(7, "gina", false), account(8, "hal", true)])
        .await
        .unwrap();
    assert!(!s.account("gina").await.unwrap().unwrap().active);
    assert_eq!(
        s.account("hal").await.unwrap(),
        Some(account(8, "hal", true))
    );

    // Sending: both participants see it, nobody else does.
    let first = s
        .send(NewMessage {
            quick_replies: vec!["yes".into(), "no".into()],
            ..new(ALICE, BOB, "lunch?")
        })
        .await
        .unwrap();
    assert_eq!(
        (first.sender.as_str(), first.recipient.as_str()),
        ("alice", "bob")
    );
    assert_eq!(first.quick_replies, vec!["yes", "no"]);
    assert!(!first.favorite);
    assert_eq!(first.in_reply_to, None);
    assert_eq!(s.message(BOB, first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(
        s.message(ALICE, first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(s.message(CAROL, first.id).await.unwrap(), None);
    assert_eq!(s.message(BOB, 999).await.unwrap(), None);
    assert_eq!(first.other_participant(ALICE), (BOB, "bob"));
    assert_eq!(first.other_participant(BOB), (ALICE, "alice"));

    // Messages between the same two people never overwrite each other.
    let second = s.send(new(ALICE, BOB, "lunch?")).await.unwrap();
    let third = s.send(new(BOB, ALICE, "sure")).await.unwrap();
    assert!(first.id < second.id && second.id < third.id);
    assert_eq!(
        list(s, BOB, MessageBox::Inbox, false).await,
        vec![second.id, first.id]
    );
    assert_eq!(list(s, BOB, MessageBox::Sent, false).await, vec![third.id]);
    assert_eq!(
        list(s, ALICE, MessageBox::All, false).await,
        vec![third.id, second.id, first.id]
    );
    assert!(list(s, CAROL, MessageBox::All, false).await.is_empty());

    // Replies: to the other participant, oldest first, only for participants.
    let r1 = s.send(reply(BOB, ALICE, "yes", first.id)).await.unwrap();
    let r2 = s.send(reply(ALICE, BOB, "great", first.id)).await.unwrap();
    assert_eq!(r1.in_reply_to, Some(first.id));
    let replies = s.replies(ALICE, first.id, None, 10).await.unwrap();
    assert_eq!(ids(&replies), vec![r1.id, r2.id]);
    assert_eq!(
        ids(&s.replies(BOB, first.id, Some(r1.id), 10).await.unwrap()),
        vec![r2.id]
    );
    assert_eq!(
        ids(&s.replies(BOB, first.id, None, 1).await.unwrap()),
        vec![r1.id]
    );
    assert!(
        s.replies(BOB, second.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.replies(CAROL, first.id, None, 10).await,
        Err(StoreError::NotFound)
    ));
    // Someone who does not have the message cannot reply to it.
    assert!(matches!(
        s.send(reply(CAROL, ALICE, "me too", first.id)).await,
        Err(StoreError::NotFound)
    ));

    // Favorites are per participant.
    let fav = s.set_favorite(BOB, first.id, true).await.unwrap();
    assert!(fav.favorite);
    assert!(s.message(BOB, first.id).await.unwrap().unwrap().favorite);
    assert!(!s.message(ALICE, first.id).await.unwrap().unwrap().favorite);
    s.set_favorite(BOB, third.id, true).await.unwrap();
    assert_eq!(
        list(s, BOB, MessageBox::All, true).await,
        vec![third.id, first.id]
    );
    assert_eq!(list(s, BOB, MessageBox::Inbox, true).await, vec![first.id]);
    assert_eq!(list(s, BOB, MessageBox::Sent, true).await, vec![third.id]);
    assert!(list(s, ALICE, MessageBox::All, true).await.is_empty());
    assert!(matches!(
        s.set_favorite(CAROL, first.id, true).await,
        Err(StoreError::NotFound)
    ));
    let unfav = s.set_favorite(BOB, third.id, false).await.unwrap();
    assert!(!unfav.favorite);
    assert_eq!(list(s, BOB, MessageBox::All, true).await, vec![first.id]);

    // Deleting is for oneself only; once neither has it, it is gone.
    assert!(matches!(
        s.delete(CAROL, first.id).await,
        Err(StoreError::NotFound)
    ));
    s.delete(BOB, first.id).await.unwrap();
    assert_eq!(s.message(BOB, first.id).await.unwrap(), None);
    assert!(s.message(ALICE, first.id).await.unwrap().is_some());
    assert!(matches!(
        s.delete(BOB, first.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_favorite(BOB, first.id, false).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.replies(BOB, first.id, None, 10).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.send(reply(BOB, ALICE, "again", first.id)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        list(s, BOB, MessageBox::Inbox, false).await,
        vec![r2.id, second.id]
    );
    assert!(list(s, BOB, MessageBox::All, true).await.is_empty());
    // A reply the caller deleted leaves their replies listing only.
    s.delete(ALICE, r1.id).await.unwrap();
    assert_eq!(
        ids(&s.replies(ALICE, first.id, None, 10).await.unwrap()),
        vec![r2.id]
    );
    s.delete(ALICE, first.id).await.unwrap();
    assert_eq!(s.message(ALICE, first.id).await.unwrap(), None);

    // Pages: newest first below the cursor, every message exactly once.
    let imported: Vec<NewMessage> = (0..1_050)
        .map(|i| new(CAROL, ALICE, &format!("bulk {i}")))
        .collect();
    assert_eq!(s.import(&imported).await.unwrap(), 1_050);
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = s
            .list(&BoxQuery {
                owner_id: CAROL,
                mailbox: MessageBox::Sent,
                favorites_only: false,
                before,
                limit: 100,
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|m| m.id);
        seen.extend(page.into_iter().map(|m| m.id));
    }
    assert_eq!(seen.len(), 1_050);
    assert!(seen.windows(2).all(|w| w[0] > w[1]));

    // Concurrent sends (grouped into shared commits on SQLite) are all kept.
    let senders: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.send(new(BOB, CAROL, &format!("n{i}"))).await })
        })
        .collect();
    let mut sent = Vec::new();
    for task in senders {
        sent.push(task.await.unwrap().unwrap().id);
    }
    sent.sort_unstable();
    sent.dedup();
    assert_eq!(sent.len(), 200);
    let inbox = store
        .list(&BoxQuery {
            owner_id: CAROL,
            mailbox: MessageBox::Inbox,
            favorites_only: false,
            before: None,
            limit: 1_000,
        })
        .await
        .unwrap();
    assert_eq!(inbox.len(), 200);
    blocks_stop_messages_both_ways(store.as_ref()).await;
    store.ping().await.unwrap();
}

fn block(event_id: i64, user_id: i64, target_id: i64, active: bool) -> (i64, RelationChange) {
    let change = RelationChange {
        kind: RelationKind::Block,
        user_id,
        target_id,
        active,
    };
    (event_id, change)
}

async fn blocks_stop_messages_both_ways(store: &dyn MessageStore) {
    store
        .apply_relations(&[block(100, ALICE, CAROL, true)])
        .await
        .unwrap();
    for (from, to) in [(ALICE, CAROL), (CAROL, ALICE)] {
        assert!(matches!(
            store.send(new(from, to, "hi")).await,
            Err(StoreError::Blocked)
        ));
    }
    // A replayed older event does not undo the newer unblock.
    store
        .apply_relations(&[
            block(101, ALICE, CAROL, false),
            block(100, ALICE, CAROL, true),
        ])
        .await
        .unwrap();
    store
        .send(new(CAROL, ALICE, "friends again"))
        .await
        .unwrap();
    // A mute changes nothing for messages.
    let mute = RelationChange {
        kind: RelationKind::Mute,
        ..block(0, ALICE, BOB, true).1
    };
    store.apply_relations(&[(102, mute)]).await.unwrap();
    store.send(new(BOB, ALICE, "still here")).await.unwrap();
}

/// Every message sent (not seeded by import) left one `message.sent` event.
async fn outbox_holds_one_event_per_sent_message(outbox: &dyn OutboxSource) {
    let events = outbox.unpublished(100_000).await.unwrap();
    let sent: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.topic == topics::MESSAGE_SENT)
        .collect();
    assert!(!sent.is_empty());
    let (_, first) = sent[0];
    for member in [
        "message_id",
        "sender_id",
        "sender",
        "recipient_id",
        "recipient",
    ] {
        assert!(
            !first.payload[member].is_null(),
            "{member}: {}",
            first.payload
        );
    }
}

#[tokio::test]
async fn sqlite_message_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "messages"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = SqliteMessageStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    suite(Arc::new(store)).await;
    outbox_holds_one_event_per_sent_message(&db).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_message_store_suite() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    let store = PostgresMessageStore::new(
        pg.pool.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    suite(Arc::new(store)).await;
    outbox_holds_one_event_per_sent_message(&pg.pool).await;
    pg.cleanup().await;
}

/// The same suite on DynamoDB when `ROOKERY_TEST_DYNAMODB_URL` names an
/// emulator (`.ci/dynamodb/start`), in a table of its own per run.
#[tokio::test]
async fn dynamodb_message_store_suite() {
    let Ok(endpoint) = std::env::var("ROOKERY_TEST_DYNAMODB_URL") else {
        eprintln!("skipped: ROOKERY_TEST_DYNAMODB_URL is not set");
        return;
    };
    let url = DynamoUrl::parse(&format!(
        "dynamodb://test_{}_?region=us-east-1&endpoint={endpoint}",
        IdGenerator::new(1).next()
    ))
    .unwrap();
    let ids = Arc::new(IdGenerator::new(1));
    let (store, outbox) = DynamoMessageStore::open(&url, ids.clone(), OutboxSignal::default())
        .await
        .unwrap();
    let store = Arc::new(store);
    suite(store.clone()).await;
    outbox_holds_one_event_per_sent_message(&outbox).await;
    concurrent_sends_all_arrive(store.as_ref()).await;
    // Published events leave the relay's index.
    let pending = outbox.unpublished(100_000).await.unwrap();
    let seqs: Vec<i64> = pending.iter().map(|(seq, _)| *seq).collect();
    outbox.mark_published(&seqs).await.unwrap();
    assert!(outbox.unpublished(100).await.unwrap().is_empty());
    let table = rookery_messages::store::dynamodb::table_spec(&url).name;
    rookery_kernel::dynamo::drop_table(&url.client().await, &table)
        .await
        .unwrap();
}

/// 50 sends at once from different accounts to one: every one is in the
/// inbox, once, with its event.
async fn concurrent_sends_all_arrive(store: &dyn MessageStore) {
    let sends = (0..50).map(|i| {
        store.send(NewMessage {
            sender_id: 1_000 + i,
            sender: format!("sender{i}"),
            ..new(ALICE, BOB, &format!("hello {i}"))
        })
    });
    let sent = futures::future::join_all(sends).await;
    assert!(sent.iter().all(|s| s.is_ok()), "{sent:?}");
    let inbox = store
        .list(&BoxQuery {
            owner_id: BOB,
            mailbox: MessageBox::Inbox,
            favorites_only: false,
            before: None,
            limit: 200,
        })
        .await
        .unwrap();
    let texts: std::collections::HashSet<&str> = inbox
        .iter()
        .filter(|m| m.sender_id >= 1_000)
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(texts.len(), 50);
}
