//! One test suite for every `UserStore` implementation: SQLite always,
//! PostgreSQL when `ROOKERY_TEST_POSTGRES_URL` is set.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_kernel::events::{OutboxSignal, OutboxSource};
use rookery_kernel::ids::IdGenerator;
use rookery_users::store::{
    CachedUserStore, KarmaChange, NewUser, StoreError, UserStore, UserUpdate, postgres, sqlite,
};
use rookery_users::{PostgresUserStore, SqliteUserStore};

/// A store on a fresh SQLite database (kept while the directory lives).
async fn sqlite_store() -> (Arc<dyn UserStore>, SqliteDb, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "users"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = SqliteUserStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    (Arc::new(store), db, dir)
}

/// A store in a schema of its own, when `ROOKERY_TEST_POSTGRES_URL` is set.
async fn postgres_store() -> Option<(Arc<dyn UserStore>, TestPostgres)> {
    let pg = TestPostgres::from_env(&postgres::MIGRATOR).await?;
    let store = PostgresUserStore::new(
        pg.pool.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    Some((Arc::new(store), pg))
}

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.to_string(),
        email: format!("{name}@Example.com"),
        password_hash: "hash".into(),
        bio: String::new(),
    }
}

async fn suite(store: Arc<dyn UserStore>, outbox: Arc<dyn OutboxSource>) {
    // Registration and case-insensitive uniqueness.
    let alice = store.create_user(new_user("Alice")).await.unwrap();
    assert_eq!(alice.username, "Alice");
    assert!(alice.active);
    let mut dup = new_user("ALICE");
    dup.email = "other@example.com".into();
    let dup = store.create_user(dup).await;
    assert!(matches!(dup, Err(StoreError::UsernameTaken)), "{dup:?}");
    let mut same_email = new_user("alice2");
    same_email.email = "ALICE@example.COM".into();
    assert!(matches!(
        store.create_user(same_email).await,
        Err(StoreError::EmailTaken)
    ));
    let bob = store.create_user(new_user("bob")).await.unwrap();
    let carol = store.create_user(new_user("carol")).await.unwrap();
    assert_eq!(
        store.user_by_username("aLiCe").await.unwrap().unwrap().id,
        alice.id
    );
    assert!(store.user_by_username("nobody").await.unwrap().is_none());

    // Batch lookup by ids: one query, unknown ids left out, duplicates once.
    let mut batch: Vec<i64> = store
        .users_by_ids(&[carol.id, alice.id, 424_242, alice.id])
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    batch.sort_unstable();
    let mut want = vec![alice.id, carol.id];
    want.sort_unstable();
    assert_eq!(batch, want);
    assert!(store.users_by_ids(&[]).await.unwrap().is_empty());

    // Batch lookup by usernames: one query, case-insensitive, unknown names
    // left out, duplicates once.
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut batch: Vec<i64> = store
        .users_by_usernames(&names(&["CAROL", "alice", "nobody", "Alice"]))
        .await
        .unwrap()
        .iter()
        .map(|u| u.id)
        .collect();
    batch.sort_unstable();
    assert_eq!(batch, want);
    assert!(store.users_by_usernames(&[]).await.unwrap().is_empty());

    // By email, case-insensitively (registered as `alice@Example.com`).
    let by_email = store.user_by_email("ALICE@example.COM").await.unwrap();
    assert_eq!(by_email.map(|u| u.id), Some(alice.id));
    assert!(
        store
            .user_by_email("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );

    // Listing by username, keyset.
    let page = store.list_users(None, 2).await.unwrap();
    assert_eq!(
        page.iter().map(|u| u.username.as_str()).collect::<Vec<_>>(),
        ["Alice", "bob"]
    );
    let rest = store.list_users(Some("bob"), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].username, "carol");

    // Follows: idempotent, counted, listed newest first.
    assert!(store.follow(alice.id, bob.id).await.unwrap());
    assert!(!store.follow(alice.id, bob.id).await.unwrap());
    assert!(store.follow(carol.id, bob.id).await.unwrap());
    assert!(store.follow(bob.id, alice.id).await.unwrap());
    let bob_now = store.user_by_id(bob.id).await.unwrap().unwrap();
    assert_eq!((bob_now.followers_count, bob_now.following_count), (2, 1));
    let followers = store.followers(bob.id, None, 10).await.unwrap();
    assert_eq!(
        followers
            .iter()
            .map(|f| f.user.username.as_str())
            .collect::<Vec<_>>(),
        ["carol", "Alice"]
    );
    let after_first = store
        .followers(bob.id, Some(followers[0].follow_id), 10)
        .await
        .unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].user.id, alice.id);
    assert_eq!(
        store.following(alice.id, None, 10).await.unwrap()[0]
            .user
            .id,
        bob.id
    );
    assert!(store.unfollow(carol.id, bob.id).await.unwrap());
    assert!(!store.unfollow(carol.id, bob.id).await.unwrap());
    assert_eq!(
        store
            .user_by_id(bob.id)
            .await
            .unwrap()
            .unwrap()
            .followers_count,
        1
    );

    // Updates; email uniqueness; password change bumps auth_version and revokes sessions.
    let session = store
        .create_session(alice.id, rookery_kernel::time::now_ms() + 60_000)
        .await
        .unwrap();
    assert_eq!(
        store
            .session_user(session, rookery_kernel::time::now_ms())
            .await
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    let taken = store
        .update_user(
            alice.id,
            UserUpdate {
                email: Some("BOB@example.com".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(taken, Err(StoreError::EmailTaken)));
    let updated = store
        .update_user(
            alice.id,
            UserUpdate {
                bio: Some("hello".into()),
                password_hash: Some("new".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.bio, "hello");
    assert_eq!(updated.password_hash, "new");
    assert_eq!(updated.auth_version, alice.auth_version + 1);
    assert!(
        store
            .session_user(session, rookery_kernel::time::now_ms())
            .await
            .unwrap()
            .is_none()
    );

    // Sessions: revoke and expiry.
    let s2 = store
        .create_session(bob.id, rookery_kernel::time::now_ms() + 60_000)
        .await
        .unwrap();
    store.revoke_session(s2).await.unwrap();
    assert!(
        store
            .session_user(s2, rookery_kernel::time::now_ms())
            .await
            .unwrap()
            .is_none()
    );
    let s3 = store.create_session(bob.id, 1).await.unwrap();
    assert!(
        store
            .session_user(s3, rookery_kernel::time::now_ms())
            .await
            .unwrap()
            .is_none()
    );

    // Deactivation: sessions revoked, follows gone both ways, name kept.
    let s4 = store
        .create_session(bob.id, rookery_kernel::time::now_ms() + 60_000)
        .await
        .unwrap();
    store.deactivate(bob.id).await.unwrap();
    let gone = store.user_by_id(bob.id).await.unwrap().unwrap();
    assert!(!gone.active);
    let gone = store.users_by_usernames(&["BOB".into()]).await.unwrap();
    assert_eq!(gone.len(), 1);
    assert!(!gone[0].active, "the batch shows the deactivation");
    assert!(
        store
            .session_user(s4, rookery_kernel::time::now_ms())
            .await
            .unwrap()
            .is_none()
    );
    let alice_now = store.user_by_id(alice.id).await.unwrap().unwrap();
    assert_eq!(
        (alice_now.followers_count, alice_now.following_count),
        (0, 0)
    );
    let mut again = new_user("BOB");
    again.email = "new-bob@example.com".into();
    assert!(matches!(
        store.create_user(again).await,
        Err(StoreError::UsernameTaken)
    ));
    assert!(
        store
            .list_users(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|u| u.id != bob.id)
    );

    // Failure counters: fixed windows.
    let subjects = vec!["u:alice".to_string(), "ip:1.2.3.4".to_string()];
    store
        .record_auth_failure(&subjects, 1_000, 500)
        .await
        .unwrap();
    store
        .record_auth_failure(&subjects, 1_100, 500)
        .await
        .unwrap();
    let counts = store.auth_failures(&subjects, 600).await.unwrap();
    assert_eq!(counts.len(), 2);
    assert!(
        counts
            .iter()
            .all(|(_, c)| c.failures == 2 && c.window_start == 1_000)
    );
    // The window closed: counting restarts.
    store
        .record_auth_failure(&subjects[..1], 2_000, 500)
        .await
        .unwrap();
    let counts = store.auth_failures(&subjects[..1], 1_500).await.unwrap();
    assert_eq!(counts[0].1.failures, 1);
    store.clear_auth_failures("u:alice").await.unwrap();
    assert!(
        store
            .auth_failures(&subjects[..1], 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Bulk import skips existing users and follows.
    let (users, follows) = store
        .import(
            vec![new_user("dave"), new_user("Alice")],
            vec![
                ("dave".into(), "Alice".into()),
                ("dave".into(), "alice".into()),
                ("dave".into(), "nobody".into()),
                ("dave".into(), "dave".into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!((users, follows), (1, 1));

    // Every change above wrote its event in the same transaction.
    let events = outbox.unpublished(1_000).await.unwrap();
    let topics: Vec<&str> = events.iter().map(|(_, e)| e.topic.as_str()).collect();
    assert_eq!(
        topics.iter().filter(|t| **t == "user.registered").count(),
        4
    );
    assert_eq!(topics.iter().filter(|t| **t == "follow.created").count(), 4);
    // carol unfollowed bob; bob's deactivation removed alice->bob and bob->alice.
    assert_eq!(topics.iter().filter(|t| **t == "follow.removed").count(), 3);
    assert_eq!(
        topics.iter().filter(|t| **t == "user.deactivated").count(),
        1
    );
    let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    outbox.mark_published(&seqs).await.unwrap();
    assert!(outbox.unpublished(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn sqlite_store_suite() {
    let (store, db, _dir) = sqlite_store().await;
    suite(store, Arc::new(db.clone())).await;
    db.close().await;
}

/// The read-through cache of embedded mode changes nothing a caller sees.
#[tokio::test]
async fn cached_store_suite() {
    let (store, db, _dir) = sqlite_store().await;
    suite(Arc::new(CachedUserStore::new(store)), Arc::new(db.clone())).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_store_suite() {
    let Some((store, pg)) = postgres_store().await else {
        return;
    };
    suite(store, Arc::new(pg.pool.clone())).await;
    pg.cleanup().await;
}

/// Two registrations of one name at the same time: the database decides.
async fn concurrent_registration(store: Arc<dyn UserStore>) {
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut u = new_user(if i % 2 == 0 { "race" } else { "RACE" });
            u.email = format!("race{i}@example.com");
            store.create_user(u).await
        }));
    }
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::UsernameTaken) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn sqlite_concurrent_registration() {
    let (store, db, _dir) = sqlite_store().await;
    concurrent_registration(store).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_concurrent_registration() {
    let Some((store, pg)) = postgres_store().await else {
        return;
    };
    concurrent_registration(store).await;
    pg.cleanup().await;
}

fn tally(post_id: i64, author_id: i64, score: i64, seq: i64) -> KarmaChange {
    KarmaChange::Tally {
        post_id,
        author_id,
        score,
        seq,
    }
}

async fn karma_of(store: &dyn UserStore, id: i64) -> i64 {
    store.user_by_id(id).await.unwrap().unwrap().karma
}

/// Karma from tallies: exact, idempotent under replays and reordering, and
/// kept when a post is deleted.
async fn karma(store: Arc<dyn UserStore>) {
    let alice = store.create_user(new_user("kalice")).await.unwrap().id;
    let bob = store.create_user(new_user("kbob")).await.unwrap().id;
    let (p1, p2, p3) = (9_001, 9_002, 9_003);
    let moved = store
        .apply_karma(&[
            tally(p1, alice, 1, 1),
            tally(p1, alice, 2, 2),
            tally(p2, alice, -1, 1),
        ])
        .await
        .unwrap();
    assert_eq!(moved, vec![alice]);
    assert_eq!(karma_of(store.as_ref(), alice).await, 1);
    // A replayed batch, and an older tally arriving late, change nothing.
    let moved = store
        .apply_karma(&[tally(p1, alice, 2, 2), tally(p1, alice, 1, 1)])
        .await
        .unwrap();
    assert!(moved.is_empty());
    assert_eq!(karma_of(store.as_ref(), alice).await, 1);
    // Newer tallies move it by the difference; other authors are untouched.
    store
        .apply_karma(&[tally(p2, alice, 3, 5), tally(p3, bob, -2, 1)])
        .await
        .unwrap();
    assert_eq!(karma_of(store.as_ref(), alice).await, 5);
    assert_eq!(karma_of(store.as_ref(), bob).await, -2);
    // Deleting a post keeps what it earned; tallies after that are ignored,
    // also within the same batch.
    store
        .apply_karma(&[
            KarmaChange::PostDeleted {
                post_id: p1,
                author_id: alice,
            },
            tally(p1, alice, 10, 3),
        ])
        .await
        .unwrap();
    assert_eq!(karma_of(store.as_ref(), alice).await, 5);
    store.apply_karma(&[tally(p1, alice, 7, 9)]).await.unwrap();
    assert_eq!(karma_of(store.as_ref(), alice).await, 5);
    // A deletion seen before any tally of the post freezes it at zero.
    store
        .apply_karma(&[
            KarmaChange::PostDeleted {
                post_id: 9_004,
                author_id: bob,
            },
            tally(9_004, bob, 4, 1),
        ])
        .await
        .unwrap();
    assert_eq!(karma_of(store.as_ref(), bob).await, -2);

    // Concurrent appliers (instances sharing the consumer) of one post's
    // tallies: whatever the interleaving, the newest tally wins exactly.
    let mut handles = Vec::new();
    for seq in 1..=40 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store.apply_karma(&[tally(9_005, bob, seq, seq)]).await
        }));
    }
    for h in handles {
        h.await.unwrap().unwrap();
    }
    assert_eq!(karma_of(store.as_ref(), bob).await, -2 + 40);
}

#[tokio::test]
async fn sqlite_karma() {
    let (store, db, _dir) = sqlite_store().await;
    karma(store).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_karma() {
    let Some((store, pg)) = postgres_store().await else {
        return;
    };
    karma(store).await;
    pg.cleanup().await;
}

/// The topics of the outbox rows not yet published, oldest first; marks them published.
async fn drain_topics(outbox: &dyn OutboxSource) -> Vec<(String, serde_json::Value)> {
    let events = outbox.unpublished(1_000).await.unwrap();
    let seqs: Vec<i64> = events.iter().map(|(s, _)| *s).collect();
    outbox.mark_published(&seqs).await.unwrap();
    events
        .into_iter()
        .map(|(_, e)| (e.topic, e.payload))
        .collect()
}

fn counts(user: &rookery_users::store::User) -> (i64, i64) {
    (user.followers_count, user.following_count)
}

/// Blocks and mutes: a block removes follows both ways in its transaction
/// with their events and counts; changes are idempotent; lists are newest first.
async fn relations(store: Arc<dyn UserStore>, outbox: Arc<dyn OutboxSource>) {
    let a = store.create_user(new_user("ra")).await.unwrap();
    let b = store.create_user(new_user("rb")).await.unwrap();
    let c = store.create_user(new_user("rc")).await.unwrap();
    let d = store.create_user(new_user("rd")).await.unwrap();
    store.follow(a.id, b.id).await.unwrap();
    store.follow(b.id, a.id).await.unwrap();
    store.follow(a.id, c.id).await.unwrap();
    store.follow(c.id, b.id).await.unwrap();
    drain_topics(outbox.as_ref()).await;

    assert!(!store.blocked_either_way(a.id, b.id).await.unwrap());
    assert!(store.block(a.id, b.id).await.unwrap());
    assert!(store.blocked_either_way(a.id, b.id).await.unwrap());
    assert!(store.blocked_either_way(b.id, a.id).await.unwrap());
    assert!(!store.blocked_either_way(a.id, c.id).await.unwrap());
    let user = |id| {
        let store = store.clone();
        async move { store.user_by_id(id).await.unwrap().unwrap() }
    };
    // a: followed by nobody now, follows only c; b: followed by c only, follows nobody.
    assert_eq!(counts(&user(a.id).await), (0, 1));
    assert_eq!(counts(&user(b.id).await), (1, 0));
    assert_eq!(counts(&user(c.id).await), (1, 1));
    let events = drain_topics(outbox.as_ref()).await;
    let topics: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics.iter().filter(|t| **t == "follow.removed").count(), 2);
    assert_eq!(topics.last(), Some(&"block.created"));
    let removed: Vec<(String, String)> = events
        .iter()
        .filter(|(t, _)| t == "follow.removed")
        .map(|(_, p)| {
            (
                p["follower_id"].as_str().unwrap().to_string(),
                p["followee_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(removed.contains(&(a.id.to_string(), b.id.to_string())));
    assert!(removed.contains(&(b.id.to_string(), a.id.to_string())));
    let block = &events.last().unwrap().1;
    assert_eq!(block["user_id"], a.id.to_string());
    assert_eq!(block["target_id"], b.id.to_string());

    // Re-blocking changes nothing and writes nothing.
    assert!(!store.block(a.id, b.id).await.unwrap());
    assert!(drain_topics(outbox.as_ref()).await.is_empty());

    // Following is refused both ways while blocked.
    assert!(matches!(
        store.follow(b.id, a.id).await,
        Err(StoreError::Blocked)
    ));
    assert!(matches!(
        store.follow(a.id, b.id).await,
        Err(StoreError::Blocked)
    ));
    assert!(drain_topics(outbox.as_ref()).await.is_empty());

    // Lists: newest first, keyset pages; only the maker's own.
    assert!(store.block(a.id, c.id).await.unwrap());
    assert!(store.block(a.id, d.id).await.unwrap());
    assert!(store.block(d.id, c.id).await.unwrap());
    let list = store.blocks(a.id, None, 10).await.unwrap();
    let names: Vec<&str> = list.iter().map(|e| e.user.username.as_str()).collect();
    assert_eq!(names, ["rd", "rc", "rb"]);
    let first = store.blocks(a.id, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .blocks(a.id, Some(first[1].relation_id), 2)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|e| e.user.id).collect::<Vec<_>>(), [b.id]);
    assert_eq!(store.blocks(d.id, None, 10).await.unwrap().len(), 1);
    assert!(store.blocks(b.id, None, 10).await.unwrap().is_empty());
    assert!(store.mutes(a.id, None, 10).await.unwrap().is_empty());

    // Unblock: once, with its event; follows are allowed again.
    drain_topics(outbox.as_ref()).await;
    assert!(store.unblock(a.id, b.id).await.unwrap());
    assert!(!store.unblock(a.id, b.id).await.unwrap());
    let events = drain_topics(outbox.as_ref()).await;
    assert_eq!(
        events.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        ["block.removed"]
    );
    assert!(!store.blocked_either_way(a.id, b.id).await.unwrap());
    assert!(store.follow(b.id, a.id).await.unwrap());

    // Mutes: nothing but the mute itself.
    assert!(store.mute(b.id, a.id).await.unwrap());
    assert!(!store.mute(b.id, a.id).await.unwrap());
    assert!(store.mute(b.id, c.id).await.unwrap());
    assert!(!store.blocked_either_way(a.id, b.id).await.unwrap());
    assert_eq!(counts(&user(a.id).await), (1, 0));
    let muted: Vec<i64> = store
        .mutes(b.id, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.user.id)
        .collect();
    assert_eq!(muted, [c.id, a.id]);
    assert!(store.unmute(b.id, a.id).await.unwrap());
    assert!(!store.unmute(b.id, a.id).await.unwrap());
    let events = drain_topics(outbox.as_ref()).await;
    assert_eq!(
        events.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        [
            "follow.created",
            "mute.created",
            "mute.created",
            "mute.removed"
        ]
    );
    // A deactivated account leaves the lists.
    store.deactivate(c.id).await.unwrap();
    assert_eq!(
        store
            .mutes(b.id, None, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.user.id)
            .collect::<Vec<_>>(),
        Vec::<i64>::new()
    );
}

#[tokio::test]
async fn sqlite_relations() {
    let (store, db, _dir) = sqlite_store().await;
    relations(store, Arc::new(db.clone())).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_relations() {
    let Some((store, pg)) = postgres_store().await else {
        return;
    };
    relations(store, Arc::new(pg.pool.clone())).await;
    pg.cleanup().await;
}

fn with_bio(name: &str, bio: &str) -> NewUser {
    NewUser {
        bio: bio.to_string(),
        ..new_user(name)
    }
}

async fn search_names(store: &dyn UserStore, q: &str, viewer: Option<i64>) -> Vec<String> {
    store
        .search_users(q, viewer, 20)
        .await
        .unwrap_or_else(|e| panic!("{q:?}: {e}"))
        .into_iter()
        .map(|u| u.username)
        .collect()
}

/// Users search: username prefix matches first, then bio words; the index
/// follows bio changes and deactivation; blocks are left out both ways; no
/// query text is ever syntax.
async fn search(store: Arc<dyn UserStore>) {
    let rust_fan = store
        .create_user(with_bio("zed", "I write Rust and coffee"))
        .await
        .unwrap();
    store
        .create_user(with_bio("Rustacean", "crabs"))
        .await
        .unwrap();
    store.create_user(with_bio("rust_2", "")).await.unwrap();
    let other = store
        .create_user(with_bio("amy", "rust is fun, coffee too"))
        .await
        .unwrap();
    store
        .create_user(with_bio("r_x", "nothing here"))
        .await
        .unwrap();
    store
        .create_user(with_bio("rxy", "nothing here"))
        .await
        .unwrap();

    // Prefix matches by username, then bio matches; nobody twice.
    let got = search_names(store.as_ref(), "RUST", None).await;
    assert_eq!(got[..2], ["rust_2", "Rustacean"]);
    let mut bio_part = got[2..].to_vec();
    bio_part.sort();
    assert_eq!(bio_part, ["amy", "zed"]);
    // `_` is a literal character, not a wildcard.
    assert_eq!(search_names(store.as_ref(), "r_", None).await, ["r_x"]);
    // Every word must be in the bio.
    assert_eq!(
        search_names(store.as_ref(), "coffee write", None).await,
        ["zed"]
    );
    assert!(
        search_names(store.as_ref(), "coffee crabs", None)
            .await
            .is_empty()
    );
    // The limit holds across both parts.
    assert_eq!(store.search_users("rust", None, 3).await.unwrap().len(), 3);

    // Bio changes and deactivation are followed.
    store
        .update_user(
            rust_fan.id,
            UserUpdate {
                bio: Some("now only tea".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(search_names(store.as_ref(), "coffee", None).await, ["amy"]);
    assert_eq!(search_names(store.as_ref(), "tea", None).await, ["zed"]);
    store.deactivate(rust_fan.id).await.unwrap();
    assert!(search_names(store.as_ref(), "tea", None).await.is_empty());
    assert!(search_names(store.as_ref(), "ze", None).await.is_empty());

    // Blocks hide accounts from the search both ways.
    let viewer = store.create_user(new_user("viewer")).await.unwrap();
    store.block(viewer.id, other.id).await.unwrap();
    assert!(
        search_names(store.as_ref(), "coffee", Some(viewer.id))
            .await
            .is_empty()
    );
    let blocker = store
        .create_user(with_bio("blocker", "coffee lover"))
        .await
        .unwrap();
    assert_eq!(
        search_names(store.as_ref(), "coffee", Some(viewer.id)).await,
        ["blocker"]
    );
    store.block(blocker.id, viewer.id).await.unwrap();
    assert!(
        search_names(store.as_ref(), "coffee", Some(viewer.id))
            .await
            .is_empty()
    );
    assert_eq!(search_names(store.as_ref(), "coffee", None).await.len(), 2);
    // Mutes do not hide anyone from search.
    store.mute(viewer.id, blocker.id).await.unwrap();
    store.unblock(blocker.id, viewer.id).await.unwrap();
    assert_eq!(
        search_names(store.as_ref(), "coffee", Some(viewer.id)).await,
        ["blocker"]
    );

    // Hostile input is words (or nothing), never an error.
    let junk = "x\"*(".repeat(80);
    let hostile = [
        "\"",
        "*",
        "NEAR(",
        "NEAR(a b, 2)",
        "-x",
        "a:b",
        "(",
        ")",
        "^",
        "'",
        "\\",
        "''; DROP TABLE users; --",
        "coffee OR tea",
        "coffee AND NOT tea",
        "bio:coffee",
        "%",
        "_",
        "%_%",
        "rust*",
        "{a b}",
        "a + b",
        "日本語 カタカナ",
        "émoji 🦀 crab",
        "\u{0}",
        junk.as_str(),
    ];
    for q in hostile {
        search_names(store.as_ref(), q, Some(viewer.id)).await;
    }
    let long = "word ".repeat(70);
    search_names(store.as_ref(), &long, None).await;
    // Syntax characters separate words: `coffee*` is the word coffee.
    assert_eq!(
        search_names(store.as_ref(), "\"coffee*\"", None)
            .await
            .len(),
        2
    );
    assert_eq!(search_names(store.as_ref(), "%", None).await.len(), 0);
}

#[tokio::test]
async fn sqlite_search() {
    let (store, db, _dir) = sqlite_store().await;
    search(store).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_search() {
    let Some((store, pg)) = postgres_store().await else {
        return;
    };
    search(store).await;
    pg.cleanup().await;
}
