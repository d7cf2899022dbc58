//! One test suite for every `PostStore` implementation: SQLite always,
//! PostgreSQL when `ROOKERY_TEST_POSTGRES_URL` is set.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_kernel::events::{OutboxSignal, OutboxSource};
use rookery_kernel::ids::IdGenerator;
use rookery_posts::TimelineConfig;
use rookery_posts::domain::{PostBody, Sort};
use rookery_posts::store::{
    Account, Applied, Change, HomeMerge, IdempotencyKey, ListCursor, ListQuery, NewPost, PostStore,
    RelationChange, RelationKind, StoreError, postgres, sqlite,
};

/// Applies one consumed event with the default timeline settings (or a fan-out threshold).
async fn apply(store: &dyn PostStore, event_id: i64, change: Change, threshold: Option<i64>) {
    let mut config = TimelineConfig::default();
    if let Some(t) = threshold {
        config.fanout_threshold = t;
    }
    store
        .apply_events(&[Applied { event_id, change }], &config, None)
        .await
        .unwrap();
}
use rookery_posts::store::CachedPostStore;
use rookery_posts::{PostgresPostStore, SqlitePostStore};

fn ids_of(posts: &[rookery_posts::store::Post]) -> Vec<i64> {
    posts.iter().map(|p| p.id).collect()
}

fn micro(author: i64, text: &str) -> NewPost {
    NewPost {
        author_id: author,
        author: format!("u{author}"),
        body: PostBody {
            text: Some(text.into()),
            title: None,
            community: None,
            url: None,
        },
        in_reply_to: None,
        repost_of: None,
    }
}

fn community(author: i64, title: &str, community: &str) -> NewPost {
    NewPost {
        body: PostBody {
            text: None,
            title: Some(title.into()),
            community: Some(community.into()),
            url: Some("https://example.com/a".into()),
        },
        ..micro(author, "")
    }
}

/// Where home timelines live: the `home_timeline` table (trimmed to a cap),
/// or memory (embedded mode's cache, computed from the follow graph).
#[derive(PartialEq)]
enum Timelines {
    Table,
    Memory,
}

async fn suite(store: Arc<dyn PostStore>, outbox: Arc<dyn OutboxSource>, timelines: Timelines) {
    let ids = IdGenerator::new(9);
    let ev = || ids.next();
    for (id, name) in [(1, "u1"), (2, "u2"), (3, "u3")] {
        apply(
            store.as_ref(),
            ev(),
            Change::UserRegistered {
                id,
                username: name.into(),
            },
            None,
        )
        .await;
    }
    // Deactivation is final: a late (redelivered or reordered) registration
    // event does not bring the account back.
    apply(
        store.as_ref(),
        ev(),
        Change::UserRegistered {
            id: 4,
            username: "u4".into(),
        },
        None,
    )
    .await;
    apply(
        store.as_ref(),
        ev(),
        Change::UserDeactivated { id: 4 },
        None,
    )
    .await;
    apply(
        store.as_ref(),
        ev(),
        Change::UserRegistered {
            id: 4,
            username: "u4".into(),
        },
        None,
    )
    .await;
    let u4 = store.author_by_username("u4").await.unwrap().unwrap();
    assert!(
        !u4.active,
        "a late registration revived a deactivated account"
    );

    // Create, read, reply, repost.
    let (a, replayed) = store.create_post(micro(1, "first"), None).await.unwrap();
    assert!(!replayed);
    assert_eq!(store.post(a.id).await.unwrap().unwrap(), a);
    let mut reply = micro(2, "a reply");
    reply.in_reply_to = Some(a.id);
    let (r, _) = store.create_post(reply, None).await.unwrap();
    let mut orphan = micro(2, "to nowhere");
    orphan.in_reply_to = Some(42);
    assert!(matches!(
        store.create_post(orphan, None).await,
        Err(StoreError::ParentNotFound)
    ));
    let mut repost = micro(3, "first");
    repost.repost_of = Some(a.id);
    let (rp, _) = store.create_post(repost.clone(), None).await.unwrap();
    assert_eq!(rp.repost_of, Some(a.id));
    assert!(matches!(
        store.create_post(repost, None).await,
        Err(StoreError::AlreadyReposted)
    ));
    // A repost of a repost reposts the original.
    let mut again = micro(2, "first");
    again.repost_of = Some(rp.id);
    let (rp2, _) = store.create_post(again, None).await.unwrap();
    assert_eq!(rp2.repost_of, Some(a.id));
    let a_now = store.post(a.id).await.unwrap().unwrap();
    assert_eq!((a_now.reply_count, a_now.repost_count), (1, 2));
    // Each user's reposts of given originals (one query); the repost of a
    // repost counts as a repost of the original.
    assert_eq!(
        store.reposts_by(3, &[r.id, a.id, 424_242]).await.unwrap(),
        [(rp.id, a.id)]
    );
    assert_eq!(
        store.reposts_by(2, &[a.id, rp.id]).await.unwrap(),
        [(rp2.id, a.id)]
    );
    assert!(store.reposts_by(1, &[a.id]).await.unwrap().is_empty());
    assert!(store.reposts_by(3, &[]).await.unwrap().is_empty());
    let mut batch = ids_of(&store.posts_by_ids(&[rp.id, a.id, 424_242]).await.unwrap());
    batch.sort_unstable();
    let mut want = vec![a.id, rp.id];
    want.sort_unstable();
    assert_eq!(batch, want);
    let replies = store.replies(a.id, None, 10).await.unwrap();
    assert_eq!(replies.iter().map(|p| p.id).collect::<Vec<_>>(), [r.id]);

    // Idempotency keys: a replay returns the first post; another user's key is theirs.
    let key = |user, window_ms| IdempotencyKey {
        user_id: user,
        key: "k-1".into(),
        window_ms,
    };
    let (k1, _) = store
        .create_post(micro(1, "once"), Some(key(1, 60_000)))
        .await
        .unwrap();
    let (k2, replayed) = store
        .create_post(micro(1, "twice"), Some(key(1, 60_000)))
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!((k2.id, k2.text.as_deref()), (k1.id, Some("once")));
    let (k3, replayed) = store
        .create_post(micro(2, "other user"), Some(key(2, 60_000)))
        .await
        .unwrap();
    assert!(!replayed);
    assert_ne!(k3.id, k1.id);
    // Outside the window the key starts over.
    let (k4, replayed) = store
        .create_post(micro(1, "later"), Some(key(1, -1)))
        .await
        .unwrap();
    assert!(!replayed);
    assert_ne!(k4.id, k1.id);

    // Edits keep history, oldest first.
    let edited = store
        .edit_post(
            a.id,
            PostBody {
                text: Some("second".into()),
                title: None,
                community: None,
                url: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(edited.text.as_deref(), Some("second"));
    assert!(edited.edited_at.is_some());
    store
        .edit_post(
            a.id,
            PostBody {
                text: Some("third".into()),
                title: None,
                community: None,
                url: None,
            },
        )
        .await
        .unwrap();
    let history = store.history(a.id).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|h| h.text.as_deref().unwrap())
            .collect::<Vec<_>>(),
        ["first", "second"]
    );

    // Listings: only top-level originals; sorts; keyset cursors.
    let (c1, _) = store
        .create_post(community(1, "one", "rust"), None)
        .await
        .unwrap();
    let (c2, _) = store
        .create_post(community(2, "two", "rust"), None)
        .await
        .unwrap();
    let (c3, _) = store
        .create_post(community(3, "three", "go"), None)
        .await
        .unwrap();
    apply(
        store.as_ref(),
        ev(),
        Change::VoteChanged {
            post_id: c1.id,
            community: None,
            upvotes: 5,
            downvotes: 0,
            seq: 1,
        },
        None,
    )
    .await;
    apply(
        store.as_ref(),
        ev(),
        Change::VoteChanged {
            post_id: c2.id,
            community: None,
            upvotes: 3,
            downvotes: 3,
            seq: 1,
        },
        None,
    )
    .await;
    // An older tally never overwrites a newer one.
    apply(
        store.as_ref(),
        ev(),
        Change::VoteChanged {
            post_id: c1.id,
            community: None,
            upvotes: 0,
            downvotes: 9,
            seq: 0,
        },
        None,
    )
    .await;
    let c1_now = store.post(c1.id).await.unwrap().unwrap();
    assert_eq!((c1_now.upvotes, c1_now.downvotes, c1_now.score), (5, 0, 5));
    let list = |community: Option<&str>, sort, after, limit| ListQuery {
        community: community.map(Into::into),
        author_id: None,
        sort,
        after,
        limit,
    };
    let rust_new = store
        .list(&list(Some("rust"), Sort::New, None, 10))
        .await
        .unwrap();
    assert_eq!(ids_of(&rust_new), [c2.id, c1.id]);
    let top = store.list(&list(None, Sort::Top, None, 2)).await.unwrap();
    assert_eq!(top[0].id, c1.id);
    let rest = store
        .list(&list(
            None,
            Sort::Top,
            Some(ListCursor::Ranked(top[1].score as f64, top[1].id)),
            100,
        ))
        .await
        .unwrap();
    let mut all_top = ids_of(&top);
    all_top.extend(ids_of(&rest));
    let everything = store.list(&list(None, Sort::New, None, 100)).await.unwrap();
    assert_eq!(
        all_top.len(),
        everything.len(),
        "keyset pages cover the listing exactly once"
    );
    assert!(
        everything
            .iter()
            .all(|p| p.in_reply_to.is_none() && p.repost_of.is_none())
    );
    let contro = store
        .list(&list(None, Sort::Controversial, None, 1))
        .await
        .unwrap();
    assert_eq!(contro[0].id, c2.id);
    let hot = store
        .list(&list(Some("rust"), Sort::Hot, None, 10))
        .await
        .unwrap();
    assert_eq!(hot[0].id, c1.id);
    let after_hot = store
        .list(&list(
            Some("rust"),
            Sort::Hot,
            Some(ListCursor::Ranked(hot[0].hot, hot[0].id)),
            10,
        ))
        .await
        .unwrap();
    assert_eq!(ids_of(&after_hot), [c2.id]);
    let go = store
        .list(&list(Some("go"), Sort::New, None, 10))
        .await
        .unwrap();
    assert_eq!(ids_of(&go), [c3.id]);
    let mut by_author = list(None, Sort::New, None, 10);
    by_author.author_id = Some(2);
    assert!(
        store
            .list(&by_author)
            .await
            .unwrap()
            .iter()
            .all(|p| p.author_id == 2)
    );

    // Timelines: user (posts and reposts) and public, newest first.
    let u3 = store.user_timeline(3, None, 10).await.unwrap();
    assert_eq!(ids_of(&u3), [c3.id, rp.id]);
    let public = store.public_timeline(None, 3).await.unwrap();
    assert_eq!(public[0].id, c3.id);
    let next = store
        .public_timeline(Some(public[2].id), 100)
        .await
        .unwrap();
    assert!(next.iter().all(|p| p.id < public[2].id));

    // Follow graph replica, fan-out, backfill, unfollow.
    apply(
        store.as_ref(),
        ev(),
        Change::Follow {
            follower: 2,
            followee: 1,
        },
        None,
    )
    .await;
    let follow_event = ev();
    for _ in 0..2 {
        // The second delivery is a replay: no double count.
        apply(
            store.as_ref(),
            follow_event,
            Change::Follow {
                follower: 3,
                followee: 1,
            },
            None,
        )
        .await;
    }
    assert_eq!(
        store
            .author_by_username("U1")
            .await
            .unwrap()
            .unwrap()
            .followers_count,
        2
    );
    // Backfill: 2 now sees 1's earlier posts.
    let home2 = store
        .home_timeline(2, None, 100, &HomeMerge::default())
        .await
        .unwrap();
    assert!(home2.iter().any(|p| p.id == c1.id), "backfilled");
    let (fresh, _) = store.create_post(micro(1, "fresh"), None).await.unwrap();
    apply(
        store.as_ref(),
        ev(),
        Change::PostCreated {
            post_id: fresh.id,
            author_id: 1,
        },
        None,
    )
    .await;
    for reader in [1, 2, 3] {
        let home = store
            .home_timeline(reader, None, 10, &HomeMerge::default())
            .await
            .unwrap();
        assert_eq!(home[0].id, fresh.id, "reader {reader}");
    }
    apply(
        store.as_ref(),
        ev(),
        Change::Unfollow {
            follower: 3,
            followee: 1,
        },
        None,
    )
    .await;
    let home3 = store
        .home_timeline(3, None, 100, &HomeMerge::default())
        .await
        .unwrap();
    assert!(home3.iter().all(|p| p.author_id != 1));
    // Home timelines computed from the follow graph (what embedded mode
    // reads): the posts of the reader and of whom they follow, newest first,
    // below a cursor.
    let computed_home = |reader: i64| {
        let store = store.clone();
        async move {
            let mut authors = store.followed_among(reader, &[1, 2, 3]).await.unwrap();
            authors.push(reader);
            let mut ids = Vec::new();
            for author in authors {
                ids.extend(ids_of(
                    &store.user_timeline(author, None, 100).await.unwrap(),
                ));
            }
            ids.sort_unstable_by(|a, b| b.cmp(a));
            ids
        }
    };
    let all = computed_home(2).await;
    assert!(all.len() > 2);
    assert_eq!(store.followed_post_ids(2, None, 100).await.unwrap(), all);
    assert_eq!(
        store.followed_post_ids(2, Some(all[0]), 1).await.unwrap(),
        [all[1]]
    );
    assert_eq!(store.followed_post_ids(2, None, 3).await.unwrap(), all[..3]);
    assert_eq!(
        store.followed_post_ids(3, None, 100).await.unwrap(),
        computed_home(3).await
    );

    // High-follower authors are not fanned out but merged at read time.
    let (celeb_post, _) = store
        .create_post(micro(1, "to the masses"), None)
        .await
        .unwrap();
    apply(
        store.as_ref(),
        ev(),
        Change::PostCreated {
            post_id: celeb_post.id,
            author_id: 1,
        },
        Some(0),
    )
    .await;
    let plain = store
        .home_timeline(2, None, 10, &HomeMerge::default())
        .await
        .unwrap();
    assert_ne!(plain[0].id, celeb_post.id);
    assert_eq!(store.celebrities(0).await.unwrap(), [1]);
    assert_eq!(store.followed_among(2, &[1, 3]).await.unwrap(), [1]);
    assert!(store.followed_among(3, &[1]).await.unwrap().is_empty());
    let merged = store
        .home_timeline(
            2,
            None,
            10,
            &HomeMerge {
                celebrities: vec![1],
            },
        )
        .await
        .unwrap();
    assert_eq!(merged[0].id, celeb_post.id);
    let mut seen = merged.iter().map(|p| p.id).collect::<Vec<_>>();
    seen.dedup();
    assert_eq!(
        seen.len(),
        merged.len(),
        "no duplicates when merged and fanned-out overlap"
    );

    // Deleting takes the post (and its reposts) out of everything.
    assert!(store.delete_post(a.id).await.unwrap());
    assert!(!store.delete_post(a.id).await.unwrap());
    assert!(store.post(a.id).await.unwrap().is_none());
    assert!(store.post(rp.id).await.unwrap().is_none());
    assert!(store.history(a.id).await.unwrap().is_empty());
    assert!(store.reposts_by(3, &[a.id]).await.unwrap().is_empty());
    assert!(store.posts_by_ids(&[a.id, rp.id]).await.unwrap().is_empty());
    for reader in [1, 2] {
        let home = store
            .home_timeline(reader, None, 100, &HomeMerge::default())
            .await
            .unwrap();
        assert!(home.iter().all(|p| p.id != a.id && p.id != rp.id));
    }
    assert!(
        store
            .public_timeline(None, 100)
            .await
            .unwrap()
            .iter()
            .all(|p| p.id != a.id)
    );
    // Deleting a reply gives its parent's count back.
    assert!(store.delete_post(r.id).await.unwrap());

    // Deactivated accounts stay known but inactive.
    apply(
        store.as_ref(),
        ev(),
        Change::UserDeactivated { id: 3 },
        None,
    )
    .await;
    assert!(
        !store
            .author_by_username("u3")
            .await
            .unwrap()
            .unwrap()
            .active
    );

    // Accounts the users service told about: remembered as told; an active
    // answer does not revive a deactivated account, and a row of the same
    // username under another id is stale and goes.
    let account = |id, username: &str, active| Account {
        id,
        username: username.into(),
        active,
    };
    store
        .remember_account(&account(40, "Newcomer", true))
        .await
        .unwrap();
    let known = store.author_by_username("NEWCOMER").await.unwrap().unwrap();
    assert_eq!(
        (known.id, known.username.as_str(), known.active),
        (40, "Newcomer", true)
    );
    store
        .remember_account(&account(3, "u3", true))
        .await
        .unwrap();
    assert!(
        !store
            .author_by_username("u3")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    store
        .remember_account(&account(41, "gone", false))
        .await
        .unwrap();
    assert!(
        !store
            .author_by_username("gone")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    store
        .remember_account(&account(42, "newcomer", true))
        .await
        .unwrap();
    assert_eq!(
        store
            .author_by_username("newcomer")
            .await
            .unwrap()
            .unwrap()
            .id,
        42
    );

    // Trimming cuts long timelines back to their newest entries (there is
    // no table to trim when they are kept in memory).
    if timelines == Timelines::Table {
        trims_the_table(store.as_ref()).await;
    } else {
        assert_eq!(store.trim_timelines(2, 0).await.unwrap(), 0);
    }

    // Every change wrote its event.
    let events = outbox.unpublished(1_000).await.unwrap();
    let count = |t: &str| events.iter().filter(|(_, e)| e.topic == t).count();
    assert!(count("post.created") >= 12);
    assert_eq!(count("post.edited"), 2);
    assert_eq!(count("post.deleted"), 4); // a, its two reposts, the reply
}

async fn trims_the_table(store: &dyn PostStore) {
    let before = store
        .home_timeline(2, None, 100, &HomeMerge::default())
        .await
        .unwrap();
    assert!(before.len() > 2, "{}", before.len());
    assert!(store.trim_timelines(2, 0).await.unwrap() > 0);
    let after = store
        .home_timeline(2, None, 100, &HomeMerge::default())
        .await
        .unwrap();
    assert!(!after.is_empty() && after.len() <= 2);
    assert_eq!(ids_of(&after), ids_of(&before[..after.len()]));
    assert_eq!(store.trim_timelines(2, 0).await.unwrap(), 0);
}

#[tokio::test]
async fn sqlite_post_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = SqlitePostStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    suite(Arc::new(store), Arc::new(db.clone()), Timelines::Table).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_post_store_suite() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    let store = PostgresPostStore::new(
        pg.pool.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    suite(Arc::new(store), Arc::new(pg.pool.clone()), Timelines::Table).await;
    pg.cleanup().await;
}

fn sqlite_store(db: &SqliteDb) -> Arc<dyn PostStore> {
    Arc::new(SqlitePostStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    ))
}

/// The caches of embedded mode change nothing a caller can see.
#[tokio::test]
async fn cached_post_store_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let cached = CachedPostStore::new(sqlite_store(&db));
    suite(Arc::new(cached), Arc::new(db.clone()), Timelines::Memory).await;
    db.close().await;
}

/// Embedded home timelines follow fan-out, edits, votes and unfollows
/// without writing the `home_timeline` table; pages beyond the kept ids,
/// and every page after a restart, are computed from the follow graph.
#[tokio::test]
async fn cached_home_timelines_follow_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let table = sqlite_store(&db);
    let cached = CachedPostStore::new(table.clone());
    let ids = IdGenerator::new(9);
    for (id, name) in [(1, "u1"), (2, "u2")] {
        let change = Change::UserRegistered {
            id,
            username: name.into(),
        };
        apply(&cached, ids.next(), change, None).await;
    }
    let follow = Change::Follow {
        follower: 2,
        followee: 1,
    };
    apply(&cached, ids.next(), follow, None).await;
    let home = |store: Arc<dyn PostStore>, before: Option<i64>, limit: usize| async move {
        store
            .home_timeline(2, before, limit, &HomeMerge::default())
            .await
            .unwrap()
    };
    let cached: Arc<dyn PostStore> = Arc::new(cached);
    assert!(home(cached.clone(), None, 10).await.is_empty()); // now cached, empty

    let mut created = Vec::new();
    for i in 0..250 {
        let (p, _) = cached
            .create_post(micro(1, &format!("p{i}")), None)
            .await
            .unwrap();
        created.push(p.id);
    }
    let changes: Vec<Applied> = created
        .iter()
        .map(|&post_id| Applied {
            event_id: ids.next(),
            change: Change::PostCreated {
                post_id,
                author_id: 1,
            },
        })
        .collect();
    cached
        .apply_events(&changes, &TimelineConfig::default(), None)
        .await
        .unwrap();
    // Every page, inside and beyond the kept ids, holds the followee's
    // posts newest first; so does a fresh cache (a restart), which has to
    // compute them.
    let newest_first: Vec<i64> = created.iter().rev().copied().collect();
    let restarted: Arc<dyn PostStore> = Arc::new(CachedPostStore::new(table.clone()));
    for store in [cached.clone(), restarted] {
        let mut before = None;
        let mut seen = Vec::new();
        loop {
            let page = home(store.clone(), before, 30).await;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            seen.extend(ids_of(&page));
        }
        assert_eq!(seen, newest_first);
    }
    // The fan-out wrote no table rows (~40 random b-tree pages per post).
    assert!(home(table.clone(), None, 10).await.is_empty());
    // Computed while u1 is merged at read time (over the fan-out
    // threshold), the timeline still holds u1's posts once u1 is not.
    let restarted = CachedPostStore::new(table.clone());
    let merged = HomeMerge {
        celebrities: vec![1],
    };
    let page = restarted.home_timeline(2, None, 5, &merged).await.unwrap();
    assert_eq!(ids_of(&page), newest_first[..5]);
    let page = restarted
        .home_timeline(2, None, 5, &HomeMerge::default())
        .await
        .unwrap();
    assert_eq!(ids_of(&page), newest_first[..5]);

    let newest = *created.last().unwrap();
    let edited = PostBody {
        text: Some("edited".into()),
        title: None,
        community: None,
        url: None,
    };
    cached.edit_post(newest, edited).await.unwrap();
    assert_eq!(
        home(cached.clone(), None, 1).await[0].text.as_deref(),
        Some("edited")
    );
    let vote = Change::VoteChanged {
        post_id: newest,
        community: None,
        upvotes: 3,
        downvotes: 1,
        seq: 1,
    };
    apply(cached.as_ref(), ids.next(), vote, None).await;
    assert_eq!(home(cached.clone(), None, 1).await[0].score, 2);
    let (reply, _) = cached
        .create_post(
            NewPost {
                in_reply_to: Some(newest),
                ..micro(2, "reply")
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(cached.post(newest).await.unwrap().unwrap().reply_count, 1);
    cached.delete_post(reply.id).await.unwrap();
    assert_eq!(home(cached.clone(), None, 1).await[0].reply_count, 0);
    cached.delete_post(newest).await.unwrap();
    assert_ne!(home(cached.clone(), None, 1).await[0].id, newest);

    let unfollow = Change::Unfollow {
        follower: 2,
        followee: 1,
    };
    apply(cached.as_ref(), ids.next(), unfollow, None).await;
    assert!(home(cached.clone(), None, 10).await.is_empty());
    db.close().await;
}

/// Cached listing pages follow creates, votes and deletes: after each change
/// every sort of every listing equals the table's.
#[tokio::test]
async fn cached_listings_match_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let table = sqlite_store(&db);
    let cached: Arc<dyn PostStore> = Arc::new(CachedPostStore::new(table.clone()));
    let ids = IdGenerator::new(9);
    let queries = || {
        let mut all = Vec::new();
        for community in [None, Some("rust".to_string()), Some("go".to_string())] {
            for sort in [Sort::New, Sort::Hot, Sort::Top, Sort::Controversial] {
                all.push(ListQuery {
                    community: community.clone(),
                    author_id: None,
                    sort,
                    after: None,
                    limit: 3,
                });
            }
        }
        all
    };
    let same = |step: &'static str| {
        let (cached, table) = (cached.clone(), table.clone());
        async move {
            for query in queries() {
                // Twice: the second answer comes from the cached page.
                for _ in 0..2 {
                    assert_eq!(
                        cached.list(&query).await.unwrap(),
                        table.list(&query).await.unwrap(),
                        "{step}: {query:?}"
                    );
                }
            }
        }
    };
    let mut posts = Vec::new();
    for (i, c) in ["rust", "go", "rust", "go", "rust"].iter().enumerate() {
        let (p, _) = cached
            .create_post(community(1, &format!("t{i}"), c), None)
            .await
            .unwrap();
        posts.push(p);
    }
    same("created").await;
    let (micro_post, _) = cached.create_post(micro(1, "m"), None).await.unwrap();
    same("micro-post").await;
    let vote = |post: &rookery_posts::store::Post, up: i64, down: i64| Change::VoteChanged {
        post_id: post.id,
        community: post.community.clone(),
        upvotes: up,
        downvotes: down,
        seq: up + down,
    };
    apply(cached.as_ref(), ids.next(), vote(&posts[0], 9, 0), None).await;
    same("vote on the oldest rust post").await;
    apply(cached.as_ref(), ids.next(), vote(&posts[1], 4, 4), None).await;
    apply(cached.as_ref(), ids.next(), vote(&micro_post, 0, 2), None).await;
    same("votes in go and on a micro-post").await;
    cached.delete_post(posts[0].id).await.unwrap();
    same("deleted").await;
    // A reply is not listed.
    cached
        .create_post(
            NewPost {
                in_reply_to: Some(posts[2].id),
                ..micro(2, "reply")
            },
            None,
        )
        .await
        .unwrap();
    same("reply").await;
    db.close().await;
}

/// Cached user timelines follow creates (replies and reposts too) and
/// deletes, beyond the kept ids as well; cached authors follow registrations,
/// follows and deactivations.
#[tokio::test]
async fn cached_user_timelines_and_authors_follow_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let table = sqlite_store(&db);
    let cached: Arc<dyn PostStore> = Arc::new(CachedPostStore::new(table.clone()));
    let ids = IdGenerator::new(9);
    for (id, name) in [(1, "u1"), (2, "u2")] {
        let change = Change::UserRegistered {
            id,
            username: name.into(),
        };
        apply(cached.as_ref(), ids.next(), change, None).await;
    }
    // Every page of u1's timeline, from the cache and from the database.
    let same_pages = |label: &'static str| {
        let (cached, table) = (cached.clone(), table.clone());
        async move {
            let mut before = None;
            let mut pages = 0;
            loop {
                let page = cached.user_timeline(1, before, 40).await.unwrap();
                assert_eq!(
                    page,
                    table.user_timeline(1, before, 40).await.unwrap(),
                    "{label}"
                );
                let Some(last) = page.last() else { break };
                before = Some(last.id);
                pages += 1;
            }
            pages
        }
    };
    assert_eq!(same_pages("empty, now cached").await, 0);
    let mut created = Vec::new();
    for i in 0..230 {
        let (p, _) = cached
            .create_post(micro(1, &format!("p{i}")), None)
            .await
            .unwrap();
        created.push(p);
    }
    assert_eq!(same_pages("after creates").await, 6);
    let (reply, _) = cached
        .create_post(
            NewPost {
                in_reply_to: Some(created[0].id),
                ..micro(1, "reply")
            },
            None,
        )
        .await
        .unwrap();
    let (repost, _) = cached
        .create_post(
            NewPost {
                repost_of: Some(created[1].id),
                ..micro(1, "")
            },
            None,
        )
        .await
        .unwrap();
    let newest = cached.user_timeline(1, None, 2).await.unwrap();
    assert_eq!(ids_of(&newest), [repost.id, reply.id]);
    same_pages("after a reply and a repost").await;
    cached.delete_post(reply.id).await.unwrap();
    assert_eq!(
        cached.user_timeline(1, None, 1).await.unwrap()[0].id,
        repost.id
    );
    same_pages("after a delete").await;

    // Authors: read (and cached), then changed by events.
    let u2 = cached.author_by_username("U2").await.unwrap().unwrap();
    assert_eq!((u2.id, u2.followers_count, u2.active), (2, 0, true));
    let follow = Change::Follow {
        follower: 1,
        followee: 2,
    };
    apply(cached.as_ref(), ids.next(), follow, None).await;
    let u2 = cached.author_by_username("u2").await.unwrap().unwrap();
    assert_eq!(u2.followers_count, 1);
    apply(
        cached.as_ref(),
        ids.next(),
        Change::UserDeactivated { id: 2 },
        None,
    )
    .await;
    assert!(
        !cached
            .author_by_username("u2")
            .await
            .unwrap()
            .unwrap()
            .active
    );
    // The username registered again under a new id: the name moves.
    let again = Change::UserRegistered {
        id: 7,
        username: "u2".into(),
    };
    apply(cached.as_ref(), ids.next(), again, None).await;
    assert_eq!(
        cached.author_by_username("u2").await.unwrap().unwrap().id,
        7
    );
    db.close().await;
}

/// Tags and mentions: parsed from the body on create and edit, indexed and
/// counted, listed by tag, by name and by trend, and carried by the events.
async fn tags_suite(store: Arc<dyn PostStore>, outbox: Arc<dyn OutboxSource>) {
    use rookery_posts::domain::first_id_at;
    let ids = IdGenerator::new(9);
    for (id, name) in [(1, "Alice"), (2, "bob"), (3, "carol"), (4, "dave")] {
        let change = Change::UserRegistered {
            id,
            username: name.into(),
        };
        apply(store.as_ref(), ids.next(), change, None).await;
    }
    apply(
        store.as_ref(),
        ids.next(),
        Change::UserDeactivated { id: 3 },
        None,
    )
    .await;
    let names = |post: &rookery_posts::store::Post| -> Vec<String> {
        post.mentions.iter().map(|m| m.username.clone()).collect()
    };
    let text = |t: &str| PostBody {
        text: Some(t.into()),
        title: None,
        community: None,
        url: None,
    };

    // Mentions: active accounts only, spelled as the account spells itself,
    // case-insensitive, unknown names ignored, in order, unique.
    let (first, _) = store
        .create_post(
            micro(1, "hi @bob @ALICE @carol @nobody @Bob #Rust #fun #rust"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(*first.tags, ["rust", "fun"]);
    assert_eq!(names(&first), ["bob", "Alice"]);
    assert_eq!(first.mentions[0].user_id, 2);
    assert_eq!(store.post(first.id).await.unwrap().unwrap(), first);
    let found = store
        .authors_by_usernames(&["ALICE".into(), "carol".into(), "nobody".into()])
        .await
        .unwrap();
    let mut found: Vec<(i64, bool)> = found.iter().map(|a| (a.id, a.active)).collect();
    found.sort_unstable();
    assert_eq!(found, [(1, true), (3, false)]);
    assert!(store.authors_by_usernames(&[]).await.unwrap().is_empty());

    // Replies and community posts carry tags; reposts none of their own.
    let mut reply = micro(2, "agreed #rust @alice");
    reply.in_reply_to = Some(first.id);
    let (reply, _) = store.create_post(reply, None).await.unwrap();
    assert_eq!(reply.in_reply_to_author_id, Some(1));
    assert_eq!(*reply.tags, ["rust"]);
    assert_eq!(names(&reply), ["Alice"]);
    let mut repost = micro(2, "hi @bob #rust");
    repost.repost_of = Some(first.id);
    let (repost, _) = store.create_post(repost, None).await.unwrap();
    assert!(repost.tags.is_empty() && repost.mentions.is_empty());
    assert_eq!(repost.repost_of_author_id, Some(1));
    let mut again = micro(4, "");
    again.repost_of = Some(repost.id);
    let (again, _) = store.create_post(again, None).await.unwrap();
    assert_eq!(
        (again.repost_of, again.repost_of_author_id),
        (Some(first.id), Some(1))
    );
    let mut board = community(4, "#Title of a #RUST thread", "rust");
    board.body.text = Some("body #rust #zig".into());
    let (board, _) = store.create_post(board, None).await.unwrap();
    assert_eq!(*board.tags, ["title", "rust", "zig"]);

    // By tag, newest first, keyset-paginated; unknown tags have no posts.
    let rust = store.tag_posts("rust", None, 10).await.unwrap();
    assert_eq!(ids_of(&rust), [board.id, reply.id, first.id]);
    let page = store.tag_posts("rust", None, 2).await.unwrap();
    assert_eq!(ids_of(&page), [board.id, reply.id]);
    let rest = store.tag_posts("rust", Some(reply.id), 2).await.unwrap();
    assert_eq!(ids_of(&rest), [first.id]);
    assert!(
        store
            .tag_posts("nothing", None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Counts: all time, and from a post id on (the trending window).
    let counts = |tags: Vec<rookery_posts::store::TagCount>| -> Vec<(String, i64, i64)> {
        tags.into_iter()
            .map(|t| (t.name, t.post_count, t.recent_count))
            .collect()
    };
    let row = |n: &str, all: i64, recent: i64| (n.to_string(), all, recent);
    assert_eq!(
        counts(store.trending_tags(0, 10).await.unwrap()),
        [
            row("rust", 3, 3),
            row("fun", 1, 1),
            row("title", 1, 1),
            row("zig", 1, 1)
        ]
    );
    assert_eq!(
        counts(store.trending_tags(first.id + 1, 2).await.unwrap()),
        [row("rust", 3, 2), row("title", 1, 1)]
    );
    assert!(
        store
            .trending_tags(first_id_at(rookery_kernel::time::now_ms() + 60_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        counts(store.tags_by_name(None, first.id + 1, 10).await.unwrap()),
        [
            row("fun", 1, 0),
            row("rust", 3, 2),
            row("title", 1, 1),
            row("zig", 1, 1)
        ]
    );
    assert_eq!(
        counts(store.tags_by_name(Some("rust"), 0, 1).await.unwrap()),
        [row("title", 1, 1)]
    );

    // An edit recomputes both: rust loses a post, fun keeps its one.
    let edited = store
        .edit_post(first.id, text("now #fun and #new with @carol @dave"))
        .await
        .unwrap();
    assert_eq!(*edited.tags, ["fun", "new"]);
    assert_eq!(names(&edited), ["dave"]);
    assert_eq!(store.post(first.id).await.unwrap().unwrap(), edited);
    assert_eq!(
        ids_of(&store.tag_posts("rust", None, 10).await.unwrap()),
        [board.id, reply.id]
    );
    assert_eq!(
        counts(store.trending_tags(0, 10).await.unwrap()),
        [
            row("rust", 2, 2),
            row("fun", 1, 1),
            row("new", 1, 1),
            row("title", 1, 1),
            row("zig", 1, 1)
        ]
    );
    // The last post of a tag going takes the tag with it.
    store.edit_post(first.id, text("plain")).await.unwrap();
    let names_now = |tags: Vec<rookery_posts::store::TagCount>| -> Vec<String> {
        tags.into_iter().map(|t| t.name).collect()
    };
    assert_eq!(
        names_now(store.tags_by_name(None, 0, 10).await.unwrap()),
        ["rust", "title", "zig"]
    );

    // A delete removes its rows (the board post; the first with its reposts).
    assert!(store.delete_post(board.id).await.unwrap());
    assert!(store.delete_post(first.id).await.unwrap());
    assert_eq!(
        counts(store.trending_tags(0, 10).await.unwrap()),
        [row("rust", 1, 1)]
    );
    assert_eq!(
        ids_of(&store.tag_posts("rust", None, 10).await.unwrap()),
        [reply.id]
    );
    assert!(store.tag_posts("title", None, 10).await.unwrap().is_empty());
    // Names order bytewise on both engines (whatever the database's collation).
    store
        .create_post(micro(2, "#ab #a_b #a1 #B"), None)
        .await
        .unwrap();
    assert_eq!(
        names_now(store.tags_by_name(None, 0, 10).await.unwrap()),
        ["a1", "a_b", "ab", "b", "rust"]
    );
    assert_eq!(
        names_now(store.tags_by_name(Some("a_b"), 0, 10).await.unwrap()),
        ["ab", "b", "rust"]
    );

    // The events carry the authors replied to and reposted, mentions and tags.
    let events = outbox.unpublished(1_000).await.unwrap();
    let payload = |topic: &str, id: i64| {
        events
            .iter()
            .map(|(_, e)| e)
            .find(|e| e.topic == topic && e.payload["post_id"].as_str() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("no {topic} of {id}"))
            .payload
            .clone()
    };
    let created = payload("post.created", first.id);
    assert_eq!(created["tags"], serde_json::json!(["rust", "fun"]));
    assert_eq!(
        created["mentions"],
        serde_json::json!([{"user_id": "2", "username": "bob"}, {"user_id": "1", "username": "Alice"}])
    );
    assert!(created["in_reply_to_author_id"].is_null() && created["repost_of_author_id"].is_null());
    assert_eq!(
        payload("post.created", reply.id)["in_reply_to_author_id"],
        "1"
    );
    assert_eq!(
        payload("post.created", again.id)["repost_of_author_id"],
        "1"
    );
    assert_eq!(
        payload("post.created", again.id)["tags"],
        serde_json::json!([])
    );
    let edits: Vec<_> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e.topic == "post.edited")
        .collect();
    assert_eq!(edits[0].payload["tags"], serde_json::json!(["fun", "new"]));
    assert_eq!(
        edits[0].payload["mentions"],
        serde_json::json!([{"user_id": "4", "username": "dave"}])
    );

    // Many at once (on SQLite they commit together, in one batch): every
    // post keeps its own tags and mentions, and the counters add up exactly.
    let before = |name: &str| {
        let store = store.clone();
        let name = name.to_string();
        async move {
            store
                .tags_by_name(None, 0, 1000)
                .await
                .unwrap()
                .into_iter()
                .find(|t| t.name == name)
                .map_or(0, |t| t.post_count)
        }
    };
    let (batch_before, odd_before) = (before("batch").await, before("odd").await);
    let creates = (0..60).map(|i| {
        let store = store.clone();
        async move {
            let text = if i % 2 == 0 {
                format!("post {i} #batch #odd @bob @nobody{i}")
            } else {
                format!("post {i} #batch @ALICE @dave #batch")
            };
            let (post, _) = store.create_post(micro(4, &text), None).await.unwrap();
            (i, post)
        }
    });
    let created = futures::future::join_all(creates).await;
    for (i, post) in &created {
        if i % 2 == 0 {
            assert_eq!(*post.tags, ["batch", "odd"], "{i}");
            assert_eq!(names(post), ["bob"], "{i}");
        } else {
            assert_eq!(*post.tags, ["batch"], "{i}");
            assert_eq!(names(post), ["Alice", "dave"], "{i}");
        }
        assert_eq!(&store.post(post.id).await.unwrap().unwrap(), post);
    }
    assert_eq!(before("batch").await, batch_before + 60);
    assert_eq!(before("odd").await, odd_before + 30);
    let tagged = store.tag_posts("odd", None, 100).await.unwrap();
    assert_eq!(tagged.len(), 30);
}

#[tokio::test]
async fn sqlite_tags_and_mentions() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    tags_suite(sqlite_store(&db), Arc::new(db.clone())).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_tags_and_mentions() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    let store = PostgresPostStore::new(
        pg.pool.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    );
    tags_suite(Arc::new(store), Arc::new(pg.pool.clone())).await;
    pg.cleanup().await;
}

/// The cached trending page follows every write that changes tags.
#[tokio::test]
async fn cached_tags_and_mentions() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let cached = CachedPostStore::new(sqlite_store(&db));
    tags_suite(Arc::new(cached), Arc::new(db.clone())).await;
    db.close().await;
}

// ---- Search and the relations replica ----

fn words(q: &str) -> Vec<String> {
    rookery_posts::search::words(q)
}

async fn search(store: &dyn PostStore, q: &str, viewer: Option<i64>) -> Vec<i64> {
    ids_of(&store.search_posts(&words(q), viewer, 20).await.unwrap())
}

fn relation(kind: RelationKind, user_id: i64, target_id: i64, active: bool) -> Change {
    Change::Relation(RelationChange {
        kind,
        user_id,
        target_id,
        active,
    })
}

/// Ranking, required words, re-indexing on edit and delete, hostile
/// queries, blocks, and tags by prefix (the `tags` table holds `rust` 5,
/// `rustacean` 9, `ruby` 3 and `rust_lang` 0).
async fn search_suite(store: Arc<dyn PostStore>) {
    let store = store.as_ref();
    let once = store
        .create_post(micro(1, "A rust compiler story"), None)
        .await
        .unwrap()
        .0;
    let twice = store
        .create_post(micro(1, "Rust, rust and the compiler: compiler news"), None)
        .await
        .unwrap()
        .0;
    let one_word = store
        .create_post(micro(1, "rust only here"), None)
        .await
        .unwrap()
        .0;
    let titled = store
        .create_post(community(2, "Compiler internals of Rust", "dev"), None)
        .await
        .unwrap()
        .0;
    // A repost carries its original's text but is not a match of its own.
    let mut repost = micro(2, "Rust, rust and the compiler: compiler news");
    repost.repost_of = Some(twice.id);
    let repost = store.create_post(repost, None).await.unwrap().0;

    let found = search(store, "rust compiler", None).await;
    assert_eq!(found.first(), Some(&twice.id), "{found:?}");
    assert!(
        found.contains(&once.id) && found.contains(&titled.id),
        "{found:?}"
    );
    assert!(!found.contains(&one_word.id), "every word is required");
    assert!(!found.contains(&repost.id), "reposts never match");
    assert_eq!(found.len(), 3);
    // Case, order and punctuation of the query do not matter; stems match.
    assert_eq!(search(store, "COMPILERS, Rust!", None).await, found);
    assert_eq!(
        store
            .search_posts(&words("rust compiler"), None, 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // Equal matches: newest first.
    let old = store
        .create_post(micro(3, "zebra crossing"), None)
        .await
        .unwrap()
        .0;
    let new = store
        .create_post(micro(3, "zebra crossing"), None)
        .await
        .unwrap()
        .0;
    assert_eq!(
        search(store, "zebra crossing", None).await,
        [new.id, old.id]
    );

    // Edits re-index; deletes drop.
    let body = PostBody {
        text: Some("a giraffe instead".into()),
        title: None,
        community: None,
        url: None,
    };
    store.edit_post(old.id, body).await.unwrap();
    assert_eq!(search(store, "zebra", None).await, [new.id]);
    assert_eq!(search(store, "giraffe", None).await, [old.id]);
    assert!(store.delete_post(new.id).await.unwrap());
    assert!(search(store, "zebra", None).await.is_empty());
    // Deleting an original takes its reposts out too, and the index stays whole.
    assert!(store.delete_post(twice.id).await.unwrap());
    assert_eq!(search(store, "rust compiler", None).await.len(), 2);

    // Blocks either way hide posts from search; mutes do not.
    let apply_one = |change| async move { apply(store, next_event(), change, None).await };
    apply_one(relation(RelationKind::Block, 7, 2, true)).await;
    apply_one(relation(RelationKind::Block, 1, 8, true)).await;
    apply_one(relation(RelationKind::Mute, 9, 1, true)).await;
    let all = search(store, "rust compiler", None).await;
    assert_eq!(all.len(), 2);
    assert_eq!(search(store, "rust compiler", Some(7)).await, [once.id]);
    assert_eq!(search(store, "rust compiler", Some(8)).await, [titled.id]);
    assert_eq!(search(store, "rust compiler", Some(9)).await, all);

    // Hostile queries (and posts) are words, never syntax.
    let hostile = [
        r#"""#,
        r#""unbalanced"#,
        "*",
        "rust*",
        "NEAR(rust compiler, 2)",
        "rust NEAR compiler",
        "-rust",
        "text:rust",
        "title:(rust OR compiler)",
        "^rust",
        "rust AND OR NOT",
        "(((",
        "{text title}: rust",
        "'; DROP TABLE posts; --",
        "\\",
        "ॐ मणि पद्मे हूँ",
        "東京 🦀 ﷽",
        "\u{0301}\u{200d}\u{fe0f}",
        "a:b:c-d+e|f&g!h<i>j~k",
    ];
    for q in hostile {
        store
            .create_post(micro(4, q), None)
            .await
            .unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
    let long = "rust* \"near\" -(x) ^y: ".repeat(20);
    for q in hostile.iter().copied().chain([long.as_str()]) {
        store
            .search_posts(&words(q), Some(9), 20)
            .await
            .unwrap_or_else(|e| panic!("{q:?}: {e}"));
    }
    // The words of hostile text are found like any others.
    assert_eq!(search(store, "NEAR(rust compiler, 2)", None).await.len(), 1);
    assert_eq!(search(store, "rust NEAR compiler", None).await.len(), 2);
    assert!(store.search_posts(&[], None, 20).await.unwrap().is_empty());
    assert!(search(store, "\"*-:(^", None).await.is_empty());

    // Tags by prefix, most used first; unused ones are left out.
    let tags = |prefix: &'static str, limit| async move {
        store
            .search_tags(prefix, limit)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.name, t.post_count))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        tags("rust", 20).await,
        [("rustacean".to_string(), 9), ("rust".to_string(), 5)]
    );
    assert_eq!(tags("ru", 2).await.len(), 2);
    assert_eq!(tags("ru", 20).await.len(), 3);
    assert!(tags("zz", 20).await.is_empty());
    assert!(tags("", 20).await.is_empty());
}

static NEXT_EVENT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_000_000);

fn next_event() -> i64 {
    NEXT_EVENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The relations replica: blocks hide both ways, mutes one way; a
/// redelivered event changes nothing and an older one never wins.
async fn relations_suite(store: Arc<dyn PostStore>) {
    let store = store.as_ref();
    let sorted = |mut v: Vec<i64>| {
        v.sort_unstable();
        v
    };
    let hidden = |viewer| async move { sorted(store.hidden_from(viewer).await.unwrap()) };
    assert!(hidden(21).await.is_empty());
    assert!(!store.blocked_either_way(21, 22).await.unwrap());

    apply(
        store,
        100,
        relation(RelationKind::Block, 21, 22, true),
        None,
    )
    .await;
    apply(store, 101, relation(RelationKind::Mute, 21, 23, true), None).await;
    assert_eq!(hidden(21).await, [22, 23]);
    assert_eq!(hidden(22).await, [21], "a block hides both ways");
    assert!(hidden(23).await.is_empty(), "a mute hides one way");
    assert!(store.blocked_either_way(21, 22).await.unwrap());
    assert!(store.blocked_either_way(22, 21).await.unwrap());
    assert!(!store.blocked_either_way(21, 23).await.unwrap());

    // Unblock, then the block's event again (redelivered), then an older
    // block event: the newest change stays.
    apply(
        store,
        102,
        relation(RelationKind::Block, 21, 22, false),
        None,
    )
    .await;
    apply(
        store,
        100,
        relation(RelationKind::Block, 21, 22, true),
        None,
    )
    .await;
    apply(store, 99, relation(RelationKind::Block, 21, 22, true), None).await;
    assert_eq!(hidden(21).await, [23]);
    assert!(hidden(22).await.is_empty());
    assert!(!store.blocked_either_way(21, 22).await.unwrap());

    // Blocked again, in a batch with an unmute.
    let config = TimelineConfig::default();
    store
        .apply_events(
            &[
                Applied {
                    event_id: 103,
                    change: relation(RelationKind::Block, 22, 21, true),
                },
                Applied {
                    event_id: 104,
                    change: relation(RelationKind::Mute, 21, 23, false),
                },
            ],
            &config,
            None,
        )
        .await
        .unwrap();
    assert_eq!(hidden(21).await, [22]);
    assert_eq!(hidden(22).await, [21]);
    assert!(store.blocked_either_way(21, 22).await.unwrap());
}

const SEED_TAGS: &str = "INSERT INTO tags (name, post_count) VALUES
    ('rust', 5), ('rustacean', 9), ('ruby', 3), ('rust_lang', 0)";

#[tokio::test]
async fn sqlite_search_and_relations() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    sqlx::query(SEED_TAGS).execute(&db.writer).await.unwrap();
    search_suite(sqlite_store(&db)).await;
    relations_suite(sqlite_store(&db)).await;
    // The index matches its content table.
    sqlx::query("INSERT INTO posts_fts (posts_fts, rank) VALUES ('integrity-check', 1)")
        .execute(&db.writer)
        .await
        .unwrap();
    db.close().await;
}

#[tokio::test]
async fn cached_search_and_relations() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "posts"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    sqlx::query(SEED_TAGS).execute(&db.writer).await.unwrap();
    search_suite(Arc::new(CachedPostStore::new(sqlite_store(&db)))).await;
    // Cached hidden sets change at once with the relations applied.
    relations_suite(Arc::new(CachedPostStore::new(sqlite_store(&db)))).await;
    db.close().await;
}

#[tokio::test]
async fn postgres_search_and_relations() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    sqlx::query(SEED_TAGS).execute(&pg.pool).await.unwrap();
    let store = || -> Arc<dyn PostStore> {
        Arc::new(PostgresPostStore::new(
            pg.pool.clone(),
            Arc::new(IdGenerator::new(1)),
            OutboxSignal::default(),
        ))
    };
    search_suite(store()).await;
    relations_suite(store()).await;
    pg.cleanup().await;
}
