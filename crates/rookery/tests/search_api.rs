//! Search, and blocks and mutes in the posts service (replies, home
//! timelines, search), through the gateway on a real socket. Relation
//! changes are published on the bus as the users service would: the
//! in-process bus returns once every consumer applied them.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, User, expect, send_json};
use reqwest::{Method, StatusCode};
use rookery_kernel::events::{EventBus, id_field, topics};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::{RelationChange, RelationKind};
use serde_json::{Value, json};

/// A server with its bus, and the user ids its registrations announced.
struct Harness {
    s: Server,
    bus: Arc<dyn EventBus>,
    ids: Arc<Mutex<HashMap<String, i64>>>,
    events: IdGenerator,
}

impl Harness {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = rookery::app::embedded(dir.path()).await.unwrap();
        Self::on(app, dir).await
    }

    async fn on(app: rookery::app::App, dir: tempfile::TempDir) -> Self {
        let bus = app.bus.clone();
        let mut sub = bus
            .subscribe("search-test", &[topics::USER_REGISTERED])
            .await
            .unwrap();
        let ids: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
        let seen = ids.clone();
        // Acknowledged at once: the relay waits for every subscriber.
        tokio::spawn(async move {
            while let Some(delivery) = sub.next().await {
                for event in &delivery.events {
                    let name = event.payload["username"].as_str().unwrap_or_default();
                    let id = id_field(&event.payload, "user_id").unwrap();
                    seen.lock().unwrap().insert(name.to_string(), id);
                }
                delivery.ack();
            }
        });
        Self {
            s: Server::serve(app, dir).await,
            bus,
            ids,
            events: IdGenerator::new(77),
        }
    }

    async fn id(&self, name: &str) -> i64 {
        let started = Instant::now();
        loop {
            if let Some(id) = self.ids.lock().unwrap().get(name) {
                return *id;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{name}: no user.registered"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Publishes a block or mute (made or undone) of `user` on `target`.
    async fn relation(&self, kind: RelationKind, user: &User, target: &User, active: bool) {
        let change = RelationChange {
            kind,
            user_id: self.id(&user.name).await,
            target_id: self.id(&target.name).await,
            active,
        };
        let event = change.event(&self.events, rookery_kernel::time::now_ms());
        self.bus.publish(&[event]).await.unwrap();
    }

    async fn post(&self, user: &User, body: Value) -> String {
        let (status, post) = send_json(
            user.basic(self.s.req(Method::POST, "/api/v1/posts"))
                .json(&body),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        post["id"].as_str().unwrap().to_string()
    }

    async fn search(&self, user: Option<&User>, query: &[(&str, &str)]) -> Value {
        let req = self.s.req(Method::GET, "/api/v1/search").query(query);
        let req = match user {
            Some(u) => u.basic(req),
            None => req,
        };
        let (status, body) = send_json(req).await;
        assert_eq!(status, StatusCode::OK, "{query:?}: {body}");
        for kind in ["users", "posts", "tags"] {
            assert!(body[kind].is_array(), "{query:?}: {body}");
        }
        body
    }

    async fn home(&self, user: &User, limit: usize) -> Vec<String> {
        let path = format!("/api/v1/timelines/home?limit={limit}");
        let (status, page) = send_json(user.basic(self.s.req(Method::GET, &path))).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        ids(&page["items"])
    }

    /// Polls the home timeline until `check` holds (fan-out is asynchronous).
    async fn home_within_2s(&self, user: &User, check: impl Fn(&[String]) -> bool) -> Vec<String> {
        let started = Instant::now();
        loop {
            let home = self.home(user, 100).await;
            if check(&home) {
                return home;
            }
            assert!(started.elapsed() < Duration::from_secs(2), "{home:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn search_validates_its_parameters() {
    let h = Harness::start().await;
    let s = &h.s;
    let too_long = "a".repeat(201);
    for (query, field) in [
        (vec![], "q"),
        (vec![("q", "")], "q"),
        (vec![("q", "   ")], "q"),
        (vec![("q", too_long.as_str())], "q"),
        (vec![("q", "rust"), ("type", "people")], "type"),
        (vec![("q", "rust"), ("limit", "0")], "limit"),
        (vec![("q", "rust"), ("limit", "101")], "limit"),
        (vec![("q", "rust"), ("limit", "")], "limit"),
        (vec![("q", "rust"), ("limit", "x")], "limit"),
    ] {
        let body = expect(
            s.req(Method::GET, "/api/v1/search").query(&query),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], field, "{query:?}: {body}");
    }
    // 200 characters after trimming are fine.
    let padded = format!("  {}  ", "b".repeat(200));
    h.search(None, &[("q", &padded)]).await;
    h.s.stop().await;
}

#[tokio::test]
async fn search_finds_posts_and_tags_and_honours_blocks() {
    let h = Harness::start().await;
    let alice = h.s.user("alice").await;
    let bob = h.s.user("bob").await;
    let carol = h.s.user("carol").await;

    let twice = h
        .post(
            &bob,
            json!({"text": "Rust rust: the compiler, the compiler again"}),
        )
        .await;
    let once = h
        .post(&carol, json!({"text": "a rust compiler story #rustlang"}))
        .await;
    let titled = h
        .post(
            &carol,
            json!({"title": "Compiler internals for Rust", "community": "dev", "text": "long read"}),
        )
        .await;
    let _other = h.post(&alice, json!({"text": "rust only"})).await;
    let (status, _) =
        send_json(alice.basic(h.s.req(Method::POST, &format!("/api/v1/posts/{twice}/repost"))))
            .await;
    assert_eq!(status, StatusCode::CREATED);

    let found = h.search(None, &[("q", "rust compiler")]).await;
    let posts = ids(&found["posts"]);
    assert_eq!(posts.first(), Some(&twice), "{found}");
    assert_eq!(
        posts.len(),
        3,
        "every word required, reposts never: {found}"
    );
    assert!(posts.contains(&once) && posts.contains(&titled));
    // List items: a community post leaves out its text.
    let item = found["posts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == titled.as_str())
        .unwrap();
    assert!(item.get("text").is_none(), "{item}");
    assert!(found["tags"].as_array().unwrap().is_empty());
    // Users come from the users service when it searches; never with ids.
    for user in found["users"].as_array().unwrap() {
        assert!(user.get("user_id").is_none(), "{user}");
        assert!(user["username"].is_string(), "{user}");
    }

    // One kind only: the others are empty; limits apply per kind.
    let only_posts = h
        .search(
            None,
            &[("q", "rust compiler"), ("type", "posts"), ("limit", "1")],
        )
        .await;
    assert_eq!(ids(&only_posts["posts"]), [twice.as_str()]);
    assert!(only_posts["users"].as_array().unwrap().is_empty());
    let only_tags = h.search(None, &[("q", "rust"), ("type", "tags")]).await;
    assert!(only_tags["posts"].as_array().unwrap().is_empty());
    assert!(only_tags["users"].as_array().unwrap().is_empty());
    let only_users = h.search(None, &[("q", "alice"), ("type", "users")]).await;
    assert!(only_users["posts"].as_array().unwrap().is_empty());
    if let Some(first) = only_users["users"].as_array().unwrap().first() {
        assert_eq!(first["username"], "alice", "{only_users}");
    }

    // Edits re-index; deletes drop.
    let (status, _) = send_json(
        carol
            .basic(h.s.req(Method::PATCH, &format!("/api/v1/posts/{once}")))
            .json(&json!({"text": "now about giraffes"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let giraffes = h.search(None, &[("q", "Giraffe")]).await;
    assert_eq!(ids(&giraffes["posts"]), [once.as_str()]);
    let status = carol
        .basic(h.s.req(Method::DELETE, &format!("/api/v1/posts/{once}")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        h.search(None, &[("q", "giraffe")]).await["posts"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // A block hides the posts both ways; a mute does not (in search).
    h.relation(RelationKind::Block, &bob, &alice, true).await;
    h.relation(RelationKind::Mute, &alice, &carol, true).await;
    let q = [("q", "rust compiler")];
    let anonymous = ids(&h.search(None, &q).await["posts"]);
    assert_eq!(anonymous, [twice.clone(), titled.clone()]);
    assert_eq!(
        ids(&h.search(Some(&alice), &q).await["posts"]),
        [titled.as_str()]
    );
    assert_eq!(ids(&h.search(Some(&bob), &q).await["posts"]), anonymous);
    h.relation(RelationKind::Block, &bob, &alice, false).await;
    assert_eq!(ids(&h.search(Some(&alice), &q).await["posts"]), anonymous);
    h.s.stop().await;
}

#[tokio::test]
async fn hostile_queries_never_fail() {
    let h = Harness::start().await;
    let alice = h.s.user("alice").await;
    h.post(
        &alice,
        json!({"text": "NEAR the \"quoted\" (rust) * - : ^ end"}),
    )
    .await;
    // 200 characters of syntax, the most a query may have.
    let long: String = "\"rust\" NEAR(a b) -x* col:umn ^(y) ü "
        .repeat(10)
        .chars()
        .take(200)
        .collect();
    let long = long.as_str();
    let queries = [
        "\"",
        "\"\"",
        "\"unbalanced",
        "*",
        "rust*",
        "NEAR",
        "NEAR(rust end, 5)",
        "-rust",
        "text:rust",
        "title:(rust OR end)",
        "^rust",
        "AND OR NOT",
        "(((",
        ")))",
        "{text}: x",
        "'; DROP TABLE posts; --",
        "\\",
        "%",
        "_",
        "#",
        "#rust",
        "@alice",
        "ॐ मणि पद्मे हूँ",
        "東京 🦀 ﷽",
        "\u{0301}\u{200d}\u{fe0f}",
        "a:b:c-d+e|f&g!h<i>j~k",
        "!!!!!!!!",
        long,
    ];
    for q in queries {
        for user in [None, Some(&alice)] {
            h.search(user, &[("q", q)]).await;
        }
    }
    let found = h.search(None, &[("q", "NEAR(\"quoted\" rust*)")]).await;
    assert_eq!(ids(&found["posts"]).len(), 1, "{found}");
    h.s.stop().await;
}

#[tokio::test]
async fn replies_across_a_block_are_refused_both_ways() {
    let h = Harness::start().await;
    let alice = h.s.user("alice").await;
    let bob = h.s.user("bob").await;
    let carol = h.s.user("carol").await;
    let bobs = h.post(&bob, json!({"text": "bob's post"})).await;
    let alices = h.post(&alice, json!({"text": "alice's post"})).await;

    h.relation(RelationKind::Block, &bob, &alice, true).await;
    let reply = |user: &User, parent: &str, nested: bool| {
        let req = if nested {
            h.s.req(Method::POST, &format!("/api/v1/posts/{parent}/replies"))
                .json(&json!({"text": "a reply"}))
        } else {
            h.s.req(Method::POST, "/api/v1/posts")
                .json(&json!({"text": "a reply", "in_reply_to": parent}))
        };
        user.basic(req)
    };
    for nested in [false, true] {
        // The blocked one, and the one who blocks.
        expect(
            reply(&alice, &bobs, nested),
            StatusCode::FORBIDDEN,
            "blocked",
        )
        .await;
        expect(
            reply(&bob, &alices, nested),
            StatusCode::FORBIDDEN,
            "blocked",
        )
        .await;
        let (status, body) = send_json(reply(&carol, &bobs, nested)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // A mute refuses nothing; an unblock lifts the refusal at once.
    h.relation(RelationKind::Mute, &alice, &bob, true).await;
    h.relation(RelationKind::Block, &bob, &alice, false).await;
    let (status, body) = send_json(reply(&alice, &bobs, true)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // An unknown parent is still a 404.
    expect(
        reply(&alice, "123456789", false),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    h.s.stop().await;
}

#[tokio::test]
async fn home_timeline_leaves_out_hidden_accounts() {
    home_scenario(Harness::start().await).await;
}

/// The same with home timelines in Redis (`ROOKERY_TEST_REDIS_URL`).
#[tokio::test]
async fn home_timeline_in_redis_leaves_out_hidden_accounts() {
    let Ok(url) = std::env::var("ROOKERY_TEST_REDIS_URL") else {
        eprintln!("skipped: ROOKERY_TEST_REDIS_URL is not set");
        return;
    };
    let config = rookery_posts::TimelineConfig::default();
    let prefix = format!("test:{:016x}:", rand::random::<u64>());
    let redis = rookery_posts::timeline::RedisTimelines::connect(&url, &prefix, config.cap)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = rookery::app::embedded_with(dir.path(), config, Some(redis))
        .await
        .unwrap();
    home_scenario(Harness::on(app, dir).await).await;
}

async fn home_scenario(h: Harness) {
    let alice = h.s.user("alice").await;
    let bob = h.s.user("bob").await;
    let carol = h.s.user("carol").await;
    let dave = h.s.user("dave").await;
    for followee in ["bob", "carol"] {
        let status = alice
            .basic(h.s.req(Method::POST, &format!("/api/v1/users/{followee}/follow")))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }
    let from_bob = h.post(&bob, json!({"text": "from bob"})).await;
    let from_dave = h.post(&dave, json!({"text": "from dave"})).await;
    let (status, repost) =
        send_json(carol.basic(h.s.req(Method::POST, &format!("/api/v1/posts/{from_dave}/repost"))))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{repost}");
    let dave_reposted = repost["id"].as_str().unwrap().to_string();
    let carols: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(h.post(&carol, json!({"text": format!("carol {i}")})).await);
        }
        ids
    };
    // Bob posts more than a page after carol.
    let mut bobs = Vec::new();
    for i in 0..60 {
        bobs.push(h.post(&bob, json!({"text": format!("bob {i}")})).await);
    }
    let last = bobs.last().unwrap().clone();
    let home = h
        .home_within_2s(&alice, |home| home.first() == Some(&last))
        .await;
    assert!(home.contains(&from_bob) && home.contains(&dave_reposted));

    // Muting dave hides carol's repost of his post; nothing else.
    h.relation(RelationKind::Mute, &alice, &dave, true).await;
    let home = h.home(&alice, 100).await;
    assert!(!home.contains(&dave_reposted), "{home:?}");
    assert!(home.contains(&from_bob) && home.contains(&carols[0]));

    // Bob blocking alice hides all of bob's 61 posts; a page of 3 is still full.
    h.relation(RelationKind::Block, &bob, &alice, true).await;
    let expected: Vec<String> = carols.iter().rev().cloned().collect();
    assert_eq!(h.home(&alice, 3).await, expected);
    let home = h.home(&alice, 100).await;
    assert!(!home.contains(&from_bob) && !home.iter().any(|id| bobs.contains(id)));
    // The cursor pages on past the hidden posts.
    let (status, page) =
        send_json(alice.basic(h.s.req(Method::GET, "/api/v1/timelines/home?limit=2"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page["items"]), expected[..2]);
    let next = page["next_cursor"].as_str().unwrap();
    let (_, page) = send_json(
        alice.basic(
            h.s.req(Method::GET, "/api/v1/timelines/home")
                .query(&[("limit", "2"), ("cursor", next)]),
        ),
    )
    .await;
    assert_eq!(ids(&page["items"])[0], expected[2]);

    // Undone: at once back.
    h.relation(RelationKind::Block, &bob, &alice, false).await;
    h.relation(RelationKind::Mute, &alice, &dave, false).await;
    let home = h.home(&alice, 100).await;
    assert_eq!(home.first(), Some(&last));
    assert!(home.contains(&dave_reposted) && home.contains(&from_bob));
    // Blocks hide in both directions: alice blocking carol hides carol from alice.
    h.relation(RelationKind::Block, &alice, &carol, true).await;
    let home = h.home(&alice, 100).await;
    assert!(
        !home
            .iter()
            .any(|id| carols.contains(id) || *id == dave_reposted)
    );
    h.s.stop().await;
}
