//! One test suite for every `NotificationStore` implementation: SQLite
//! always, PostgreSQL when `ROOKERY_TEST_POSTGRES_URL` is set. Events go
//! through the consumer's parser, as the bus delivers them.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_kernel::events::Event;
use rookery_kernel::events::topics::*;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::{RelationChange, RelationKind};
use rookery_notifications::domain::Kind;
use rookery_notifications::events::parse;
use rookery_notifications::store::{
    CachedNotificationStore, ListQuery, Notification, postgres, sqlite,
};
use rookery_notifications::{
    NotificationStore, PostgresNotificationStore, SqliteNotificationStore,
};
use serde_json::{Value, json};

const ALICE: i64 = 1;
const BOB: i64 = 2;
const CAROL: i64 = 3;
const DAVE: i64 = 4;

/// Builds events with fresh, increasing ids.
struct Events(AtomicI64);

impl Events {
    fn event(&self, topic: &str, payload: Value) -> Event {
        Event {
            id: self.0.fetch_add(1, Ordering::Relaxed),
            topic: topic.into(),
            payload,
            created_at: 1_700_000_000_000,
        }
    }

    fn follow(&self, follower: i64, followee: i64) -> Event {
        self.event(
            FOLLOW_CREATED,
            json!({"follower_id": follower.to_string(), "followee_id": followee.to_string()}),
        )
    }

    /// A post by `author`: a reply to `parent` (id, author), a repost of
    /// `original` (id, author), mentioning `mentions`.
    fn post(
        &self,
        id: i64,
        author: i64,
        parent: Option<(i64, i64)>,
        original: Option<(i64, i64)>,
        mentions: &[i64],
    ) -> Event {
        let s = |v: Option<i64>| v.map(|v| v.to_string());
        self.event(
            POST_CREATED,
            json!({
                "post_id": id.to_string(), "author_id": author.to_string(), "author": "x",
                "community": null, "title": null, "created_at": 0,
                "in_reply_to": s(parent.map(|p| p.0)),
                "in_reply_to_author_id": s(parent.map(|p| p.1)),
                "repost_of": s(original.map(|o| o.0)),
                "repost_of_author_id": s(original.map(|o| o.1)),
                "mentions": mentions.iter()
                    .map(|m| json!({"user_id": m.to_string(), "username": format!("user{m}")}))
                    .collect::<Vec<_>>(),
                "tags": [],
            }),
        )
    }

    fn vote(&self, post: i64, author: i64, voter: i64, direction: Value, previous: Value) -> Event {
        self.event(
            VOTE_CHANGED,
            json!({"post_id": post.to_string(), "author_id": author.to_string(),
                   "voter_id": voter.to_string(), "voter": "x",
                   "direction": direction, "previous": previous, "upvotes": 1, "downvotes": 0}),
        )
    }

    fn like(&self, post: i64, author: i64, voter: i64) -> Event {
        self.vote(post, author, voter, json!("up"), Value::Null)
    }

    fn message(&self, id: i64, from: i64, to: i64) -> Event {
        self.event(
            MESSAGE_SENT,
            json!({"message_id": id.to_string(), "sender_id": from.to_string(), "sender": "x",
                   "recipient_id": to.to_string(), "recipient": "y", "created_at": 0}),
        )
    }

    fn deleted(&self, post: i64, author: i64) -> Event {
        self.event(
            POST_DELETED,
            json!({"post_id": post.to_string(), "author_id": author.to_string()}),
        )
    }

    fn relation(&self, kind: RelationKind, user: i64, target: i64, active: bool) -> Event {
        let change = RelationChange {
            kind,
            user_id: user,
            target_id: target,
            active,
        };
        let mut event = change.event(&IdGenerator::new(9), 0);
        event.id = self.0.fetch_add(1, Ordering::Relaxed);
        event
    }
}

/// Parses and applies events as one delivery.
async fn apply(store: &dyn NotificationStore, events: &[Event]) {
    let batch: Vec<_> = events.iter().filter_map(|e| parse(e).unwrap()).collect();
    store.apply(&batch).await.unwrap();
}

fn query(user_id: i64) -> ListQuery {
    ListQuery {
        user_id,
        kinds: Vec::new(),
        unread_only: false,
        before: None,
        limit: 100,
    }
}

async fn all(store: &dyn NotificationStore, user_id: i64) -> Vec<Notification> {
    store.list(&query(user_id)).await.unwrap()
}

/// (kind, actor, post, object) of a user's notifications, newest first.
async fn summary(
    store: &dyn NotificationStore,
    user_id: i64,
) -> Vec<(Kind, i64, Option<i64>, i64)> {
    all(store, user_id)
        .await
        .iter()
        .map(|n| (n.kind, n.actor_id, n.post_id, n.object_id))
        .collect()
}

async fn every_type_is_produced(store: &dyn NotificationStore, ev: &Events) {
    // Alice's post 100; Bob follows, replies (101), reposts (102), likes,
    // mentions her (103) and messages her (500).
    apply(
        store,
        &[
            ev.follow(BOB, ALICE),
            ev.post(101, BOB, Some((100, ALICE)), None, &[]),
            ev.post(102, BOB, None, Some((100, ALICE)), &[]),
            ev.like(100, ALICE, BOB),
            ev.post(103, BOB, None, None, &[ALICE, CAROL]),
            ev.message(500, BOB, ALICE),
        ],
    )
    .await;
    assert_eq!(
        summary(store, ALICE).await,
        vec![
            (Kind::Message, BOB, None, 500),
            (Kind::Mention, BOB, Some(103), 103),
            (Kind::Like, BOB, Some(100), 100),
            (Kind::Repost, BOB, Some(100), 100),
            (Kind::Reply, BOB, Some(101), 101),
            (Kind::Follow, BOB, None, 0),
        ]
    );
    assert_eq!(
        summary(store, CAROL).await,
        vec![(Kind::Mention, BOB, Some(103), 103)]
    );
    let newest = all(store, ALICE).await;
    assert!(newest.iter().all(|n| !n.read && n.user_id == ALICE));
    assert!(newest.iter().all(|n| n.created_at == 1_700_000_000_000));
    assert_eq!(store.unread_count(ALICE).await.unwrap(), 6);
}

async fn own_actions_notify_nobody(store: &dyn NotificationStore, ev: &Events) {
    // Dave's post 200: he replies to it, reposts it, likes it, mentions himself.
    apply(
        store,
        &[
            ev.follow(DAVE, DAVE),
            ev.post(201, DAVE, Some((200, DAVE)), None, &[DAVE]),
            ev.post(202, DAVE, None, Some((200, DAVE)), &[]),
            ev.like(200, DAVE, DAVE),
            ev.message(501, DAVE, DAVE),
        ],
    )
    .await;
    assert!(all(store, DAVE).await.is_empty());
}

async fn muted_and_blocked_actors_notify_nobody(store: &dyn NotificationStore, ev: &Events) {
    let (muter, blocker, blocked, actor) = (10, 11, 12, 13);
    apply(
        store,
        &[
            ev.relation(RelationKind::Mute, muter, actor, true),
            ev.relation(RelationKind::Block, blocker, actor, true),
            // The actor blocks this one.
            ev.relation(RelationKind::Block, actor, blocked, true),
        ],
    )
    .await;
    for user in [muter, blocker, blocked] {
        apply(
            store,
            &[
                ev.follow(actor, user),
                ev.like(300 + user, user, actor),
                ev.message(600 + user, actor, user),
                ev.post(400 + user, actor, None, None, &[user]),
            ],
        )
        .await;
        assert!(all(store, user).await.is_empty(), "user {user}");
    }
    // A mute made and undone within one delivery applies in order.
    apply(
        store,
        &[
            ev.relation(RelationKind::Mute, muter, actor, false),
            ev.follow(actor, muter),
            ev.relation(RelationKind::Mute, muter, actor, true),
            ev.like(310, muter, actor),
        ],
    )
    .await;
    // The follow came while unmuted; the like while muted. Unmuting shows it.
    apply(
        store,
        &[ev.relation(RelationKind::Mute, muter, actor, false)],
    )
    .await;
    assert_eq!(
        summary(store, muter).await,
        vec![(Kind::Follow, actor, None, 0)]
    );
    // A mute event older than the unmute, delivered late, does not revive the mute.
    let stale = ev.relation(RelationKind::Mute, muter, actor, true);
    apply(
        store,
        &[ev.relation(RelationKind::Mute, muter, actor, false)],
    )
    .await;
    apply(store, &[stale]).await;
    assert_eq!(
        summary(store, muter).await,
        vec![(Kind::Follow, actor, None, 0)]
    );
}

async fn replays_create_nothing_twice(store: &dyn NotificationStore, ev: &Events) {
    let (author, fan) = (20, 21);
    let batch = [ev.follow(fan, author), ev.like(700, author, fan)];
    apply(store, &batch).await;
    apply(store, &batch).await;
    // The same event twice in one delivery, too.
    apply(store, &[batch[1].clone(), batch[1].clone()]).await;
    // A like removed and given again: still one notification (and a down
    // vote or removal never retracts it).
    apply(
        store,
        &[
            ev.vote(700, author, fan, Value::Null, json!("up")),
            ev.vote(700, author, fan, json!("down"), Value::Null),
            ev.vote(700, author, fan, json!("up"), json!("down")),
            ev.follow(fan, author),
        ],
    )
    .await;
    assert_eq!(
        summary(store, author).await,
        vec![
            (Kind::Like, fan, Some(700), 700),
            (Kind::Follow, fan, None, 0)
        ]
    );
}

async fn fifty_mentions_are_fifty_rows(store: &dyn NotificationStore, ev: &Events) {
    let mentioned: Vec<i64> = (1000..1050).collect();
    apply(store, &[ev.post(800, 30, None, None, &mentioned)]).await;
    for user in &mentioned {
        assert_eq!(
            summary(store, *user).await,
            vec![(Kind::Mention, 30, Some(800), 800)],
            "user {user}"
        );
    }
}

async fn deleted_posts_take_their_notifications(store: &dyn NotificationStore, ev: &Events) {
    let (author, other) = (40, 41);
    // Post 900 by the author: liked, replied to (901), reposted (902); post
    // 903 mentions the author.
    apply(
        store,
        &[
            ev.like(900, author, other),
            ev.post(901, other, Some((900, author)), None, &[]),
            ev.post(902, other, None, Some((900, author)), &[]),
            ev.post(903, other, None, None, &[author]),
            ev.message(904, other, author),
            ev.follow(other, author),
        ],
    )
    .await;
    assert_eq!(all(store, author).await.len(), 6);
    apply(store, &[ev.deleted(900, author)]).await;
    // The like, the reply to it and the repost of it are gone; a message
    // whose id happens to equal a deleted post's stays.
    assert_eq!(
        summary(store, author).await,
        vec![
            (Kind::Follow, other, None, 0),
            (Kind::Message, other, None, 904),
            (Kind::Mention, other, Some(903), 903),
        ]
    );
    apply(store, &[ev.deleted(903, other), ev.deleted(904, other)]).await;
    assert_eq!(
        summary(store, author).await,
        vec![
            (Kind::Follow, other, None, 0),
            (Kind::Message, other, None, 904)
        ]
    );
    // A reposted repost deleted takes only its repost notification.
    apply(
        store,
        &[ev.post(905, other, None, Some((906, author)), &[])],
    )
    .await;
    apply(store, &[ev.deleted(905, other)]).await;
    assert_eq!(all(store, author).await.len(), 2);
}

async fn read_state_is_a_watermark(store: &dyn NotificationStore, ev: &Events) {
    let user = 50;
    apply(
        store,
        &[
            ev.follow(51, user),
            ev.follow(52, user),
            ev.follow(53, user),
        ],
    )
    .await;
    let ids: Vec<i64> = all(store, user).await.iter().map(|n| n.id).collect();
    assert_eq!(store.unread_count(user).await.unwrap(), 3);
    // Up to the middle one: two read.
    assert_eq!(store.mark_read(user, Some(ids[1])).await.unwrap(), 1);
    let read: Vec<bool> = all(store, user).await.iter().map(|n| n.read).collect();
    assert_eq!(read, vec![false, true, true]);
    // Never backwards.
    assert_eq!(store.mark_read(user, Some(ids[2])).await.unwrap(), 1);
    // Default: everything up to the newest; newer ones are unread.
    assert_eq!(store.mark_read(user, None).await.unwrap(), 0);
    apply(store, &[ev.follow(54, user)]).await;
    assert_eq!(store.unread_count(user).await.unwrap(), 1);
    let unread = store
        .list(&ListQuery {
            unread_only: true,
            ..query(user)
        })
        .await
        .unwrap();
    assert_eq!(unread.len(), 1);
    assert_eq!(unread[0].actor_id, 54);
    // Marking for someone without notifications is fine.
    assert_eq!(store.mark_read(59, None).await.unwrap(), 0);
    assert_eq!(store.mark_read(59, Some(i64::MAX)).await.unwrap(), 0);
}

async fn filters_and_pages(store: &dyn NotificationStore, ev: &Events) {
    let user = 60;
    let mut events = Vec::new();
    for i in 0..5 {
        events.push(ev.follow(61 + i, user));
        events.push(ev.like(1100 + i, user, 61 + i));
        events.push(ev.message(1200 + i, 61 + i, user));
    }
    apply(store, &events).await;
    let only = |kinds: Vec<Kind>, unread_only| ListQuery {
        kinds,
        unread_only,
        ..query(user)
    };
    let likes = store.list(&only(vec![Kind::Like], false)).await.unwrap();
    assert_eq!(likes.len(), 5);
    assert!(likes.iter().all(|n| n.kind == Kind::Like));
    let two = store
        .list(&only(vec![Kind::Follow, Kind::Message], false))
        .await
        .unwrap();
    assert_eq!(two.len(), 10);
    assert!(two.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert!(two.iter().all(|n| n.kind != Kind::Like));
    // Read the older half; unread and by type combine.
    let everything = all(store, user).await;
    store.mark_read(user, Some(everything[7].id)).await.unwrap();
    let unread_likes = store.list(&only(vec![Kind::Like], true)).await.unwrap();
    let expected: Vec<i64> = everything[..7]
        .iter()
        .filter(|n| n.kind == Kind::Like)
        .map(|n| n.id)
        .collect();
    assert_eq!(
        unread_likes.iter().map(|n| n.id).collect::<Vec<_>>(),
        expected
    );
    // Pages of 4 by keyset: every notification once, in order.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list(&ListQuery {
                before,
                limit: 4,
                ..query(user)
            })
            .await
            .unwrap();
        seen.extend(page.iter().map(|n| n.id));
        if page.len() < 4 {
            break;
        }
        before = page.last().map(|n| n.id);
    }
    assert_eq!(seen, everything.iter().map(|n| n.id).collect::<Vec<_>>());
}

async fn hidden_accounts_are_hidden_at_read_time(store: &dyn NotificationStore, ev: &Events) {
    let (user, friend, pest, bully) = (70, 71, 72, 73);
    apply(
        store,
        &[
            ev.follow(friend, user),
            ev.follow(pest, user),
            ev.follow(bully, user),
        ],
    )
    .await;
    assert_eq!(store.unread_count(user).await.unwrap(), 3);
    // The user mutes the pest; the bully blocks the user.
    apply(
        store,
        &[
            ev.relation(RelationKind::Mute, user, pest, true),
            ev.relation(RelationKind::Block, bully, user, true),
        ],
    )
    .await;
    assert_eq!(
        summary(store, user).await,
        vec![(Kind::Follow, friend, None, 0)]
    );
    assert_eq!(store.unread_count(user).await.unwrap(), 1);
    assert_eq!(store.mark_read(user, None).await.unwrap(), 0);
    // Undone: they are back (read, as the watermark passed them).
    apply(
        store,
        &[
            ev.relation(RelationKind::Mute, user, pest, false),
            ev.relation(RelationKind::Block, bully, user, false),
        ],
    )
    .await;
    let back = all(store, user).await;
    assert_eq!(back.len(), 3);
    assert!(back.iter().all(|n| n.read));
    // Someone else's mute of the pest changes nothing for the user.
    apply(
        store,
        &[ev.relation(RelationKind::Mute, friend, pest, true)],
    )
    .await;
    assert_eq!(all(store, user).await.len(), 3);
}

async fn suite(store: Arc<dyn NotificationStore>) {
    let ev = Events(AtomicI64::new(1));
    let store = store.as_ref();
    every_type_is_produced(store, &ev).await;
    own_actions_notify_nobody(store, &ev).await;
    muted_and_blocked_actors_notify_nobody(store, &ev).await;
    replays_create_nothing_twice(store, &ev).await;
    fifty_mentions_are_fifty_rows(store, &ev).await;
    deleted_posts_take_their_notifications(store, &ev).await;
    read_state_is_a_watermark(store, &ev).await;
    filters_and_pages(store, &ev).await;
    hidden_accounts_are_hidden_at_read_time(store, &ev).await;
    store.apply(&[]).await.unwrap();
    store.ping().await.unwrap();
}

/// A SQLite store in a fresh directory (kept alive by the caller).
async fn sqlite_store() -> (tempfile::TempDir, SqliteDb, SqliteNotificationStore) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(
        &sqlite_url_in(dir.path(), "notifications"),
        &sqlite::MIGRATOR,
    )
    .await
    .unwrap();
    let store = SqliteNotificationStore::new(db.clone(), Arc::new(IdGenerator::new(1)));
    (dir, db, store)
}

#[tokio::test]
async fn sqlite_notification_store_suite() {
    let (_dir, db, store) = sqlite_store().await;
    suite(Arc::new(store)).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_notification_store_suite() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    let store = PostgresNotificationStore::new(pg.pool.clone(), Arc::new(IdGenerator::new(1)));
    suite(Arc::new(store)).await;
    pg.cleanup().await;
}

/// The cache of `rookery serve` in front of SQLite: the same suite reads
/// every page again after each change, so a page or count kept past a
/// change that concerns it fails it.
#[tokio::test]
async fn cached_notification_store_suite() {
    let (_dir, db, inner) = sqlite_store().await;
    suite(Arc::new(CachedNotificationStore::new(Arc::new(inner)))).await;
    db.close().await;
}

/// A page read once is served again from memory, and the recipient's next
/// notification, a mark read and a deleted post each show at once.
#[tokio::test]
async fn cached_pages_follow_every_change() {
    let (_dir, db, inner) = sqlite_store().await;
    let store = CachedNotificationStore::new(Arc::new(inner));
    let ev = Events(AtomicI64::new(1));
    apply(&store, &[ev.follow(BOB, ALICE)]).await;
    let first = all(&store, ALICE).await;
    assert_eq!(first.len(), 1);
    assert_eq!(all(&store, ALICE).await, first);
    assert_eq!(store.unread_count(ALICE).await.unwrap(), 1);

    apply(&store, &[ev.follow(CAROL, ALICE)]).await;
    assert_eq!(all(&store, ALICE).await.len(), 2);
    assert_eq!(store.unread_count(ALICE).await.unwrap(), 2);

    assert_eq!(store.mark_read(ALICE, None).await.unwrap(), 0);
    assert!(all(&store, ALICE).await.iter().all(|n| n.read));
    assert_eq!(store.unread_count(ALICE).await.unwrap(), 0);

    // Another recipient's change (a deleted post) reaches every page.
    apply(&store, &[ev.post(100, DAVE, None, None, &[ALICE])]).await;
    assert_eq!(all(&store, ALICE).await.len(), 3);
    assert_eq!(store.unread_count(ALICE).await.unwrap(), 1);
    apply(&store, &[ev.deleted(100, DAVE)]).await;
    assert_eq!(all(&store, ALICE).await.len(), 2);
    assert_eq!(store.unread_count(ALICE).await.unwrap(), 0);

    // A block hides the blocked account's notifications from both pages.
    apply(
        &store,
        &[ev.relation(RelationKind::Block, ALICE, BOB, true)],
    )
    .await;
    let shown: Vec<i64> = all(&store, ALICE)
        .await
        .iter()
        .map(|n| n.actor_id)
        .collect();
    assert_eq!(shown, [CAROL]);
    db.close().await;
}
