//! One test suite for every `VoteStore` implementation: SQLite always,
//! PostgreSQL when `ROOKERY_TEST_POSTGRES_URL` is set; one for every
//! `PollStore`: those two and DynamoDB when `ROOKERY_TEST_DYNAMODB_URL` is.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_kernel::dynamo::DynamoUrl;
use rookery_kernel::events::{OutboxSignal, OutboxSource};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::{RelationChange, RelationKind};
use rookery_votes::store::{
    Account, Applied, CachedVoteStore, Change, Direction, NewPoll, PostFacts, StoreError, postgres,
    sqlite,
};
use rookery_votes::{DynamoPollStore, PollStore, PostgresVoteStore, SqliteVoteStore, VoteStore};
use serde_json::json;

fn facts(id: i64, author_id: i64, community: Option<&str>, title: Option<&str>) -> PostFacts {
    PostFacts {
        id,
        author_id,
        author: format!("u{author_id}"),
        community: community.map(String::from),
        title: title.map(String::from),
        created_at: 1_000 + id,
        listed: true,
    }
}

async fn apply(store: &dyn VoteStore, event_id: i64, change: Change) {
    store
        .apply_events(&[Applied { event_id, change }])
        .await
        .unwrap();
}

async fn suite(store: Arc<dyn VoteStore>, outbox: Arc<dyn OutboxSource>) {
    let ids = IdGenerator::new(9);
    let (p1, p2, p3) = (101, 102, 103);
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostSeen(facts(p1, 1, None, None)),
    )
    .await;
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostSeen(facts(p2, 1, Some("rust"), Some("t2"))),
    )
    .await;
    let seen3 = ids.next();
    apply(
        store.as_ref(),
        seen3,
        Change::PostSeen(facts(p3, 2, Some("rust"), Some("t3"))),
    )
    .await;

    // Unknown posts cannot be voted on.
    assert!(matches!(
        store.vote(10, 999, Some(Direction::Up)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.tally(999, None).await.unwrap(), None);

    // Vote, repeat (nothing changes), switch, remove.
    let t = store.vote(10, p1, Some(Direction::Up)).await.unwrap();
    assert_eq!(
        (t.upvotes, t.downvotes, t.my_vote),
        (1, 0, Some(Direction::Up))
    );
    let t = store.vote(10, p1, Some(Direction::Up)).await.unwrap();
    assert_eq!((t.upvotes, t.downvotes), (1, 0));
    let t = store.vote(10, p1, Some(Direction::Down)).await.unwrap();
    assert_eq!((t.upvotes, t.downvotes, t.score()), (0, 1, -1));
    let t = store.tally(p1, Some(10)).await.unwrap().unwrap();
    assert_eq!(t.my_vote, Some(Direction::Down));
    assert_eq!(store.tally(p1, None).await.unwrap().unwrap().my_vote, None);
    assert_eq!(
        store.tally(p1, Some(11)).await.unwrap().unwrap().my_vote,
        None
    );
    let t = store.vote(10, p1, None).await.unwrap();
    assert_eq!((t.upvotes, t.downvotes, t.my_vote), (0, 0, None));
    store.vote(10, p1, None).await.unwrap(); // removing no vote changes nothing

    // Each change (not the repeats) wrote one vote.changed, seq increasing.
    let events = outbox.unpublished(1_000).await.unwrap();
    let changed: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.topic == "vote.changed")
        .collect();
    assert_eq!(changed.len(), 3);
    let seqs: Vec<i64> = changed
        .iter()
        .map(|(_, e)| e.payload["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    assert_eq!(changed[1].1.payload["downvotes"], 1);
    assert_eq!(changed[1].1.payload["author_id"], "1");
    // Who voted and how, now and before (notifications tell new likes by it).
    let moves: Vec<_> = changed
        .iter()
        .map(|(_, e)| {
            (
                e.payload["direction"].clone(),
                e.payload["previous"].clone(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        vec![
            (json!("up"), json!(null)),
            (json!("down"), json!("up")),
            (json!(null), json!("down"))
        ]
    );
    assert_eq!(changed[0].1.payload["voter_id"], "10");

    // Top lists: score, ties newer first, per community.
    store.vote(10, p2, Some(Direction::Up)).await.unwrap();
    store.vote(11, p2, Some(Direction::Up)).await.unwrap();
    store.vote(10, p3, Some(Direction::Up)).await.unwrap();
    store.vote(11, p3, Some(Direction::Up)).await.unwrap();
    store.vote(12, p1, Some(Direction::Up)).await.unwrap();
    let top = store.top(None, 10).await.unwrap();
    let order: Vec<i64> = top.iter().map(|r| r.id).collect();
    assert_eq!(order, vec![p3, p2, p1]);
    assert_eq!((top[0].score, top[0].title.as_deref()), (2, Some("t3")));
    // Replies and reposts are not ranked.
    let reply = PostFacts {
        listed: false,
        ..facts(105, 3, None, None)
    };
    apply(store.as_ref(), ids.next(), Change::PostSeen(reply)).await;
    for user in 20..25 {
        store.vote(user, 105, Some(Direction::Up)).await.unwrap();
    }
    assert!(
        store
            .top(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.id != 105)
    );
    let rust = store.top(Some("rust"), 1).await.unwrap();
    assert_eq!(rust.len(), 1);
    assert_eq!(rust[0].id, p3);
    assert!(store.top(Some("nope"), 10).await.unwrap().is_empty());

    let mut scores = store.scores(&[p1, p3, 999]).await.unwrap();
    scores.sort();
    assert_eq!(scores, vec![(p1, 1), (p3, 2)]);

    // Several tallies in one query, each with the viewer's vote; unknown
    // posts left out.
    let tallies = |viewer: Option<i64>, post_ids: Vec<i64>| {
        let store = store.clone();
        async move {
            let mut found = store.tallies(&post_ids, viewer).await.unwrap();
            found.sort_by_key(|t| t.post_id);
            found
                .into_iter()
                .map(|t| (t.post_id, t.upvotes, t.downvotes, t.my_vote))
                .collect::<Vec<_>>()
        }
    };
    let up = Some(Direction::Up);
    assert_eq!(
        tallies(Some(12), vec![p3, 999, p1, p2]).await,
        vec![(p1, 1, 0, up), (p2, 2, 0, None), (p3, 2, 0, None)]
    );
    assert_eq!(
        tallies(Some(10), vec![p2, p3]).await,
        vec![(p2, 2, 0, up), (p3, 2, 0, up)]
    );
    assert_eq!(tallies(None, vec![p1]).await, vec![(p1, 1, 0, None)]);
    assert!(tallies(Some(10), vec![]).await.is_empty());
    // The viewer's own votes alone: posts without one are left out.
    let mut mine = store.my_votes(10, &[p1, p2, p3, 999]).await.unwrap();
    mine.sort_by_key(|(post, _)| *post);
    assert_eq!(mine, vec![(p2, Direction::Up), (p3, Direction::Up)]);
    assert!(store.my_votes(12, &[p2, p3]).await.unwrap().is_empty());
    assert!(store.my_votes(10, &[]).await.unwrap().is_empty());

    // Likes: most recent upvote first, paged by vote id.
    let likes = store.likes(10, None, 10).await.unwrap();
    let liked: Vec<i64> = likes.iter().map(|l| l.post_id).collect();
    assert_eq!(liked, vec![p3, p2]);
    let rest = store.likes(10, Some(likes[0].vote_id), 10).await.unwrap();
    assert_eq!(rest.iter().map(|l| l.post_id).collect::<Vec<_>>(), vec![p2]);

    // An edit refreshes the title; a replayed event changes nothing.
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostSeen(facts(p3, 2, Some("rust"), Some("t3 edited"))),
    )
    .await;
    apply(
        store.as_ref(),
        seen3,
        Change::PostSeen(facts(p3, 2, Some("rust"), Some("t3"))),
    )
    .await;
    assert_eq!(
        store.post(p3).await.unwrap().unwrap().title.as_deref(),
        Some("t3 edited")
    );
    // A miss learned from the posts service does not overwrite what is known.
    store
        .remember_post(&facts(p3, 2, Some("rust"), Some("stale")))
        .await
        .unwrap();
    assert_eq!(
        store.post(p3).await.unwrap().unwrap().title.as_deref(),
        Some("t3 edited")
    );

    // Deleted posts leave every list and cannot be voted on, even if remembered again.
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostDeleted(facts(p3, 2, Some("rust"), None)),
    )
    .await;
    store
        .remember_post(&facts(p3, 2, Some("rust"), None))
        .await
        .unwrap();
    assert!(matches!(
        store.vote(12, p3, Some(Direction::Up)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.tally(p3, None).await.unwrap(), None);
    assert_eq!(store.post(p3).await.unwrap(), None);
    assert!(store.tallies(&[p3], Some(10)).await.unwrap().is_empty());
    assert_eq!(
        store.my_votes(10, &[p2, p3]).await.unwrap(),
        vec![(p2, Direction::Up)]
    );
    assert!(
        store
            .top(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.id != p3)
    );
    assert!(
        store
            .likes(10, None, 10)
            .await
            .unwrap()
            .iter()
            .all(|l| l.post_id != p3)
    );
    // A deletion that arrives before anything else is known still sticks.
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostDeleted(facts(104, 2, None, None)),
    )
    .await;
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostSeen(facts(104, 2, None, None)),
    )
    .await;
    assert_eq!(store.post(104).await.unwrap(), None);

    // Concurrent voters on one post: the tally is exact.
    apply(
        store.as_ref(),
        ids.next(),
        Change::PostSeen(facts(200, 3, None, None)),
    )
    .await;
    // Votes on an unknown post among them are refused without disturbing
    // the others (on SQLite they share group commits).
    let voters: Vec<_> = (0..200i64)
        .map(|user| {
            let store = store.clone();
            tokio::spawn(async move {
                let d = if user % 4 == 0 {
                    Direction::Down
                } else {
                    Direction::Up
                };
                store.vote(1_000 + user, 200, Some(d)).await.unwrap();
                assert!(matches!(
                    store.vote(1_000 + user, 998, Some(d)).await,
                    Err(StoreError::NotFound)
                ));
            })
        })
        .collect();
    for v in voters {
        v.await.unwrap();
    }
    let t = store.tally(200, None).await.unwrap().unwrap();
    assert_eq!((t.upvotes, t.downvotes), (150, 50));

    // Accounts: from events or a miss; case-insensitive; deactivation is final.
    let account = |id: i64, name: &str, active: bool| Account {
        id,
        username: name.to_string(),
        active,
    };
    assert_eq!(store.account("kim").await.unwrap(), None);
    apply(
        store.as_ref(),
        ids.next(),
        Change::Account(account(7, "Kim", true)),
    )
    .await;
    assert_eq!(
        store.account("KIM").await.unwrap(),
        Some(account(7, "Kim", true))
    );
    store
        .remember_account(&account(8, "lee", true))
        .await
        .unwrap();
    assert_eq!(store.account("lee").await.unwrap().map(|a| a.id), Some(8));
    apply(
        store.as_ref(),
        ids.next(),
        Change::Account(account(7, "Kim", false)),
    )
    .await;
    // A stale answer (or a replayed registration) does not revive it.
    store
        .remember_account(&account(7, "Kim", true))
        .await
        .unwrap();
    apply(
        store.as_ref(),
        ids.next(),
        Change::Account(account(7, "Kim", true)),
    )
    .await;
    assert_eq!(
        store.account("kim").await.unwrap(),
        Some(account(7, "Kim", false))
    );

    blocks_refuse_votes(store.as_ref(), &ids).await;
}

/// Polls: create, vote once, bounds, unknown polls, exact counts when 50
/// accounts vote at once.
async fn poll_suite(store: Arc<dyn PollStore>) {
    let poll = store
        .create_poll(NewPoll {
            author_id: 1,
            author: "u1".into(),
            question: "tabs or spaces?".into(),
            options: vec!["tabs".into(), "spaces".into()],
        })
        .await
        .unwrap();
    assert_eq!(poll.total_votes, 0);
    let after = store.vote_in_poll(poll.id, 10, 1).await.unwrap();
    assert_eq!((after.options[1].votes, after.total_votes), (1, 1));
    assert_eq!(store.poll_choice(poll.id, 10).await.unwrap(), Some(1));
    assert_eq!(store.poll_choice(poll.id, 11).await.unwrap(), None);
    assert_eq!(store.poll_choice(42, 10).await.unwrap(), None);
    assert!(matches!(
        store.vote_in_poll(poll.id, 10, 0).await,
        Err(StoreError::AlreadyVoted)
    ));
    assert!(matches!(
        store.vote_in_poll(poll.id, 11, 2).await,
        Err(StoreError::ChoiceOutOfRange)
    ));
    assert!(matches!(
        store.vote_in_poll(poll.id, 11, -1).await,
        Err(StoreError::ChoiceOutOfRange)
    ));
    assert!(matches!(
        store.vote_in_poll(42, 11, 0).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.poll(42).await.unwrap(), None);
    let voters: Vec<_> = (0..50i64)
        .map(|user| {
            let store = store.clone();
            let id = poll.id;
            tokio::spawn(async move { store.vote_in_poll(id, 2_000 + user, user % 2).await })
        })
        .collect();
    for v in voters {
        v.await.unwrap().unwrap();
    }
    let read = store.poll(poll.id).await.unwrap().unwrap();
    assert_eq!(read.options[0].votes, 25);
    assert_eq!(read.options[1].votes, 26);
    assert_eq!(read.total_votes, 51);
    assert_eq!(read.question, "tabs or spaces?");

    // A poll's text survives as written (quotes, Unicode).
    let odd = store
        .create_poll(NewPoll {
            author_id: 2,
            author: "u2".into(),
            question: "\"quoted\" — ünïcode? 🐦".into(),
            options: (0..10).map(|i| format!("option {i} ✓")).collect(),
        })
        .await
        .unwrap();
    let voted = store.vote_in_poll(odd.id, 10, 9).await.unwrap();
    assert_eq!(voted.options[9].votes, 1);
    assert_eq!(voted.options[9].text, "option 9 ✓");
    assert_eq!(store.poll(odd.id).await.unwrap().unwrap(), voted);
    assert!(matches!(
        store.vote_in_poll(odd.id, 11, 10).await,
        Err(StoreError::ChoiceOutOfRange)
    ));
    store.ping().await.unwrap();
}

fn block(user_id: i64, target_id: i64, active: bool) -> Change {
    Change::Relation(RelationChange {
        kind: RelationKind::Block,
        user_id,
        target_id,
        active,
    })
}

/// A vote between an author and an account one of them blocks is refused
/// both ways (an existing vote may still be removed); unblocking allows it
/// again, and an older block delivered late does not undo the unblock.
async fn blocks_refuse_votes(store: &dyn VoteStore, ids: &IdGenerator) {
    let post = 150;
    apply(
        store,
        ids.next(),
        Change::PostSeen(facts(post, 40, None, None)),
    )
    .await;
    store.vote(41, post, Some(Direction::Up)).await.unwrap();
    apply(store, ids.next(), block(40, 41, true)).await;
    assert!(matches!(
        store.vote(41, post, Some(Direction::Down)).await,
        Err(StoreError::Blocked)
    ));
    assert_eq!(store.vote(41, post, None).await.unwrap().upvotes, 0);
    apply(store, ids.next(), block(42, 40, true)).await;
    assert!(matches!(
        store.vote(42, post, Some(Direction::Up)).await,
        Err(StoreError::Blocked)
    ));
    // A mute is no block.
    let mute = Change::Relation(RelationChange {
        kind: RelationKind::Mute,
        user_id: 40,
        target_id: 43,
        active: true,
    });
    apply(store, ids.next(), mute).await;
    store.vote(43, post, Some(Direction::Up)).await.unwrap();
    // The author votes on their own post whatever they block.
    store.vote(40, post, Some(Direction::Up)).await.unwrap();
    // An older block arriving after a newer unblock does not undo it.
    let (older, unblocked_at) = (ids.next(), ids.next());
    apply(store, unblocked_at, block(40, 41, false)).await;
    apply(store, older, block(40, 41, true)).await;
    store.vote(41, post, Some(Direction::Up)).await.unwrap();
}

/// A SQLite vote store in `dir`, with its database.
async fn sqlite_store(dir: &std::path::Path) -> (SqliteDb, Arc<SqliteVoteStore>) {
    let db = SqliteDb::open(&sqlite_url_in(dir, "votes"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = SqliteVoteStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    (db, Arc::new(store))
}

#[tokio::test]
async fn sqlite_vote_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (db, store) = sqlite_store(dir.path()).await;
    suite(store.clone(), Arc::new(db.clone())).await;
    poll_suite(store.polls()).await;
    db.close().await;
}

/// The suite through `rookery serve`'s in-memory answers of the viewer's
/// own votes: every answer must stay what the table says.
#[tokio::test]
async fn cached_vote_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let (db, inner) = sqlite_store(dir.path()).await;
    suite(Arc::new(CachedVoteStore::new(inner)), Arc::new(db.clone())).await;
    db.close().await;
}

/// Answers kept in memory follow the viewer's own votes, failed ones and
/// deleted posts at once.
#[tokio::test]
async fn cached_votes_follow_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let (db, inner) = sqlite_store(dir.path()).await;
    let store = CachedVoteStore::new(inner.clone());
    let ids = IdGenerator::new(9);
    let (p1, p2) = (201, 202);
    for p in [p1, p2] {
        apply(
            &store,
            ids.next(),
            Change::PostSeen(facts(p, 1, None, None)),
        )
        .await;
    }
    let mine = async |store: &CachedVoteStore| {
        let mut found = store.my_votes(10, &[p1, p2]).await.unwrap();
        found.sort_by_key(|(post, _)| *post);
        found
    };
    // Asked twice before any vote (the second from memory), then after each vote.
    assert!(mine(&store).await.is_empty());
    assert!(mine(&store).await.is_empty());
    store.vote(10, p1, Some(Direction::Up)).await.unwrap();
    assert_eq!(mine(&store).await, vec![(p1, Direction::Up)]);
    store.vote(10, p1, Some(Direction::Down)).await.unwrap();
    store.vote(10, p2, Some(Direction::Up)).await.unwrap();
    assert_eq!(
        mine(&store).await,
        vec![(p1, Direction::Down), (p2, Direction::Up)]
    );
    store.vote(10, p1, None).await.unwrap();
    assert_eq!(mine(&store).await, vec![(p2, Direction::Up)]);
    // Another viewer's vote is not this one's.
    store.vote(11, p1, Some(Direction::Up)).await.unwrap();
    assert_eq!(mine(&store).await, vec![(p2, Direction::Up)]);
    // A vote the table refuses (a block) leaves the answer as the table has it.
    apply(
        &store,
        ids.next(),
        Change::Relation(RelationChange {
            kind: RelationKind::Block,
            user_id: 1,
            target_id: 10,
            active: true,
        }),
    )
    .await;
    assert!(matches!(
        store.vote(10, p1, Some(Direction::Up)).await,
        Err(StoreError::Blocked)
    ));
    assert_eq!(mine(&store).await, vec![(p2, Direction::Up)]);
    // A deleted post's vote leaves the answers.
    apply(
        &store,
        ids.next(),
        Change::PostDeleted(facts(p2, 1, None, None)),
    )
    .await;
    assert!(mine(&store).await.is_empty());
    assert_eq!(
        mine(&store).await,
        inner.my_votes(10, &[p1, p2]).await.unwrap()
    );
    db.close().await;
}

#[tokio::test]
async fn postgres_vote_store_suite() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    let store = PostgresVoteStore::new(
        pg.pool.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    let store = Arc::new(store);
    suite(store.clone(), Arc::new(pg.pool.clone())).await;
    poll_suite(store.polls()).await;
    pg.cleanup().await;
}

/// The poll suite on DynamoDB when `ROOKERY_TEST_DYNAMODB_URL` names an
/// emulator (`.ci/dynamodb/start`), in a table of its own per run.
#[tokio::test]
async fn dynamodb_poll_store_suite() {
    let Ok(endpoint) = std::env::var("ROOKERY_TEST_DYNAMODB_URL") else {
        eprintln!("skipped: ROOKERY_TEST_DYNAMODB_URL is not set");
        return;
    };
    let url = DynamoUrl::parse(&format!(
        "dynamodb://test_{}_?region=us-east-1&endpoint={endpoint}",
        IdGenerator::new(2).next()
    ))
    .unwrap();
    let store = DynamoPollStore::open(&url, Arc::new(IdGenerator::new(1)))
        .await
        .unwrap();
    poll_suite(Arc::new(store)).await;
    let table = rookery_votes::store::dynamodb::table_spec(&url).name;
    rookery_kernel::dynamo::drop_table(&url.client().await, &table)
        .await
        .unwrap();
}
