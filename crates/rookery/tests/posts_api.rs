//! The posts and timelines API through the gateway, on a real socket.

mod common;

use std::time::{Duration, Instant};

use common::{Server, User, expect, json, send_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn post(s: &Server, user: &User, body: Value) -> Value {
    let (status, post) =
        send_json(user.basic(s.req(Method::POST, "/api/v1/posts")).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    post
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `path` as `user` until `check` holds, for at most 2 seconds.
async fn within_2s(s: &Server, user: &User, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = send_json(user.basic(s.req(Method::GET, path))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if check(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "not within 2 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn create_read_edit_delete() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;

    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/posts"))
        .json(&json!({"text": "  hello world  ", "unknown": 1}))
        .send()
        .await
        .unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let (status, p) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        location,
        format!("/api/v1/posts/{}", p["id"].as_str().unwrap())
    );
    assert_eq!(p["text"], "hello world");
    assert_eq!(p["author"], "alice");
    for field in [
        "title",
        "community",
        "url",
        "edited_at",
        "in_reply_to",
        "repost_of",
    ] {
        assert!(p[field].is_null(), "{field}: {p}");
    }
    for field in [
        "reply_count",
        "repost_count",
        "upvotes",
        "downvotes",
        "score",
    ] {
        assert_eq!(p[field], 0, "{field}");
    }
    let (status, got) = send_json(s.req(Method::GET, &location)).await;
    assert_eq!((status, &got), (StatusCode::OK, &p));

    // Community post with title, community, url.
    let c = post(&s, &alice, json!({"title": "Rust 2026", "community": "rust", "url": "https://www.rust-lang.org/", "text": "body"})).await;
    assert_eq!(c["community"], "rust");
    assert_eq!(c["url"], "https://www.rust-lang.org/");

    // Only the author edits; history keeps earlier versions, oldest first.
    let path = format!("/api/v1/posts/{}", p["id"].as_str().unwrap());
    expect(
        bob.basic(s.req(Method::PATCH, &path))
            .json(&json!({"text": "hijack"})),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    expect(
        s.req(Method::PATCH, &path).json(&json!({"text": "anon"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let (status, e1) = send_json(
        alice
            .basic(s.req(Method::PATCH, &path))
            .json(&json!({"text": "edited once"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(e1["text"], "edited once");
    assert!(e1["edited_at"].is_string());
    send_json(
        alice
            .basic(s.req(Method::PATCH, &path))
            .json(&json!({"text": "edited twice"})),
    )
    .await;
    let (_, history) = send_json(s.req(Method::GET, &format!("{path}/history"))).await;
    let texts: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello world", "edited once"]);
    assert!(history["items"][0]["edited_at"].is_string());
    expect(
        alice
            .basic(s.req(Method::PATCH, &path))
            .json(&json!({"title": "no"})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        alice
            .basic(s.req(Method::PATCH, &path))
            .json(&json!({"text": ""})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    let cpath = format!("/api/v1/posts/{}", c["id"].as_str().unwrap());
    let (status, ce) = send_json(
        alice
            .basic(s.req(Method::PATCH, &cpath))
            .json(&json!({"title": "Rust 2027", "url": "http://example.org/x"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            ce["title"].as_str(),
            ce["url"].as_str(),
            ce["text"].as_str()
        ),
        (
            Some("Rust 2027"),
            Some("http://example.org/x"),
            Some("body")
        )
    );
    expect(
        alice
            .basic(s.req(Method::PATCH, &cpath))
            .json(&json!({"community": "go"})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;

    // Delete: only the author; then 404 everywhere.
    expect(
        bob.basic(s.req(Method::DELETE, &path)),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let resp = alice
        .basic(s.req(Method::DELETE, &path))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect(
        s.req(Method::GET, &path),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::GET, &format!("{path}/history")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        alice.basic(s.req(Method::DELETE, &path)),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        alice
            .basic(s.req(Method::PATCH, &path))
            .json(&json!({"text": "x"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for bad in [
        "/api/v1/posts/0",
        "/api/v1/posts/abc",
        "/api/v1/posts/99999999999999999999",
        "/api/v1/posts/123",
    ] {
        expect(s.req(Method::GET, bad), StatusCode::NOT_FOUND, "not_found").await;
    }
    let (_, public) = send_json(s.req(Method::GET, "/api/v1/timelines/public")).await;
    assert!(!ids(&public).contains(&p["id"].as_str().unwrap().to_string()));
    s.stop().await;
}

#[tokio::test]
async fn validation() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let cases = [
        (json!({}), "text"),
        (json!({"text": ""}), "text"),
        (json!({"text": "   "}), "text"),
        (json!({"text": "x".repeat(501)}), "text"),
        (json!({"text": 5}), "text"),
        (json!({"title": "t"}), "community"),
        (json!({"community": "rust"}), "title"),
        (json!({"title": "", "community": "rust"}), "title"),
        (
            json!({"title": "x".repeat(301), "community": "rust"}),
            "title",
        ),
        (json!({"title": "t", "community": "Rust"}), "community"),
        (json!({"title": "t", "community": "a-b"}), "community"),
        (
            json!({"title": "t", "community": "x".repeat(51)}),
            "community",
        ),
        (
            json!({"title": "t", "community": "rust", "url": "ftp://x.org"}),
            "url",
        ),
        (
            json!({"title": "t", "community": "rust", "url": "not a url"}),
            "url",
        ),
        (
            json!({"title": "t", "community": "rust", "text": "x".repeat(40_001)}),
            "text",
        ),
        (json!({"text": "hi", "url": "https://x.org"}), "url"),
    ];
    for (body, field) in cases {
        let err = expect(
            alice
                .basic(s.req(Method::POST, "/api/v1/posts"))
                .json(&body),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(err["field"], field, "{body}");
    }
    post(&s, &alice, json!({"text": "x".repeat(500)})).await;
    post(
        &s,
        &alice,
        json!({"title": "x".repeat(300), "community": "x".repeat(50), "text": "y".repeat(40_000)}),
    )
    .await;
    expect(
        alice
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "hi", "in_reply_to": "12345"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        alice
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .header("idempotency-key", "k".repeat(65))
            .json(&json!({"text": "hi"})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        s.req(Method::POST, "/api/v1/posts")
            .json(&json!({"text": "hi"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    for q in [
        "sort=best",
        "limit=0",
        "limit=101",
        "cursor=zzz",
        "community=Bad-Name",
    ] {
        expect(
            s.req(Method::GET, &format!("/api/v1/posts?{q}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
    }
    s.stop().await;
}

#[tokio::test]
async fn idempotent_create() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let send = |u: &User, key: &str, text: &str| {
        u.basic(s.req(Method::POST, "/api/v1/posts"))
            .header("idempotency-key", key)
            .json(&json!({"text": text}))
    };
    let (st1, first) = send_json(send(&alice, "abc", "once")).await;
    let (st2, second) = send_json(send(&alice, "abc", "twice")).await;
    assert_eq!((st1, st2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(second["text"], "once");
    // Same key, another user: a post of their own.
    let (_, theirs) = send_json(send(&bob, "abc", "bob's")).await;
    assert_ne!(theirs["id"], first["id"]);
    // Concurrent retries: still one post.
    let results =
        futures::future::join_all((0..8).map(|_| send_json(send(&alice, "race", "concurrent"))))
            .await;
    let mut distinct: Vec<String> = results
        .iter()
        .map(|(_, p)| p["id"].as_str().unwrap().to_string())
        .collect();
    distinct.dedup();
    assert_eq!(distinct.len(), 1, "{results:?}");
    let (_, mine) = send_json(s.req(Method::GET, "/api/v1/users/alice/posts")).await;
    assert_eq!(ids(&mine).len(), 2);
    s.stop().await;
}

#[tokio::test]
async fn reposts_and_replies() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let p = post(&s, &alice, json!({"text": "original"})).await;
    let id = p["id"].as_str().unwrap();

    let (status, rp) =
        send_json(bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/repost")))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(rp["author"], "bob");
    assert_eq!(
        rp["repost_of"],
        json!({"id": id, "url": format!("/api/v1/posts/{id}")})
    );
    expect(
        bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/repost"))),
        StatusCode::CONFLICT,
        "already_reposted",
    )
    .await;
    expect(
        bob.basic(s.req(Method::POST, "/api/v1/posts/123/repost")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::POST, &format!("/api/v1/posts/{id}/repost")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let mut reply_ids = Vec::new();
    for i in 0..3 {
        let (status, r) = send_json(
            bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/replies")))
                .json(&json!({"text": format!("reply {i}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(r["in_reply_to"], id);
        reply_ids.push(r["id"].as_str().unwrap().to_string());
    }
    let r = post(
        &s,
        &alice,
        json!({"text": "via in_reply_to", "in_reply_to": id}),
    )
    .await;
    reply_ids.push(r["id"].as_str().unwrap().to_string());
    expect(
        bob.basic(s.req(Method::POST, "/api/v1/posts/123/replies"))
            .json(&json!({"text": "x"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/replies")))
            .json(&json!({"text": ""})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;

    // Oldest first, paginated.
    let (_, page1) =
        send_json(s.req(Method::GET, &format!("/api/v1/posts/{id}/replies?limit=3"))).await;
    assert_eq!(ids(&page1), reply_ids[..3]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = send_json(s.req(
        Method::GET,
        &format!("/api/v1/posts/{id}/replies?limit=3&cursor={cursor}"),
    ))
    .await;
    assert_eq!(ids(&page2), reply_ids[3..]);
    expect(
        s.req(Method::GET, "/api/v1/posts/123/replies"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let (_, original) = send_json(s.req(Method::GET, &format!("/api/v1/posts/{id}"))).await;
    assert_eq!(
        (
            original["reply_count"].as_i64(),
            original["repost_count"].as_i64()
        ),
        (Some(4), Some(1))
    );
    // The user timeline has posts and reposts.
    let (_, bobs) = send_json(s.req(Method::GET, "/api/v1/users/bob/posts")).await;
    assert!(ids(&bobs).contains(&rp["id"].as_str().unwrap().to_string()));
    expect(
        s.req(Method::GET, "/api/v1/users/nobody/posts"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Deleting the original takes its reposts along.
    alice
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{id}")))
        .send()
        .await
        .unwrap();
    expect(
        s.req(
            Method::GET,
            &format!("/api/v1/posts/{}", rp["id"].as_str().unwrap()),
        ),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn listings_sorts_and_the_list_item_rule() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let m = post(&s, &alice, json!({"text": "micro"})).await;
    let c1 = post(
        &s,
        &alice,
        json!({"title": "one", "community": "rust", "url": "https://a.b/", "text": "secret body"}),
    )
    .await;
    let c2 = post(&s, &alice, json!({"title": "two", "community": "rust"})).await;
    let g = post(&s, &alice, json!({"title": "go", "community": "golang"})).await;

    let (_, all) = send_json(s.req(Method::GET, "/api/v1/posts")).await;
    assert_eq!(
        ids(&all),
        [&g["id"], &c2["id"], &c1["id"], &m["id"]].map(|v| v.as_str().unwrap().to_string())
    );
    for item in all["items"].as_array().unwrap() {
        if item["title"].is_string() {
            assert!(
                item.get("text").is_none() && item.get("url").is_none(),
                "{item}"
            );
        } else {
            assert_eq!(item["text"], "micro");
        }
    }
    let (_, rust) = send_json(s.req(Method::GET, "/api/v1/communities/rust/posts")).await;
    assert_eq!(
        ids(&rust),
        [&c2["id"], &c1["id"]].map(|v| v.as_str().unwrap().to_string())
    );
    let (_, rust2) = send_json(s.req(Method::GET, "/api/v1/posts?community=rust")).await;
    assert_eq!(ids(&rust), ids(&rust2));
    let (_, by_alice) = send_json(s.req(Method::GET, "/api/v1/posts?author=ALICE&limit=2")).await;
    assert_eq!(ids(&by_alice).len(), 2);
    let (_, nobody) = send_json(s.req(Method::GET, "/api/v1/posts?author=nobody")).await;
    assert!(ids(&nobody).is_empty());
    for sort in ["hot", "top", "controversial", "new"] {
        let mut seen = Vec::new();
        let mut url = format!("/api/v1/posts?sort={sort}&limit=1");
        loop {
            let resp = s.req(Method::GET, &url).send().await.unwrap();
            let link = resp
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_string());
            let (_, page) = json(resp).await;
            seen.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert!(link.unwrap().contains(c));
                    url = format!("/api/v1/posts?sort={sort}&limit=1&cursor={c}");
                }
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!((seen.len(), unique.len()), (4, 4), "{sort}: {seen:?}");
    }
    // A cursor of one sort is no cursor of another.
    let (_, top) = send_json(s.req(Method::GET, "/api/v1/posts?sort=top&limit=1")).await;
    let c = top["next_cursor"].as_str().unwrap();
    expect(
        s.req(Method::GET, &format!("/api/v1/posts?sort=new&cursor={c}")),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        s.req(Method::GET, "/api/v1/communities/Not-Valid/posts"),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn paging_while_posts_arrive_never_repeats_or_skips() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let mut created = Vec::new();
    for i in 0..10 {
        created.push(
            post(&s, &alice, json!({"text": format!("p{i}")})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut seen = Vec::new();
    let mut url = "/api/v1/timelines/public?limit=3".to_string();
    loop {
        let (_, page) = send_json(s.req(Method::GET, &url)).await;
        seen.extend(ids(&page));
        // New posts land between page reads.
        post(&s, &alice, json!({"text": "newer"})).await;
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/api/v1/timelines/public?limit=3&cursor={c}"),
            None => break,
        }
    }
    created.reverse();
    assert_eq!(seen, created);
    s.stop().await;
}

#[tokio::test]
async fn home_timeline_fan_out_unfollow_and_delete() {
    home_timeline_scenario(Server::embedded().await).await;
}

/// The same with home timelines in Redis (`ROOKERY_TEST_REDIS_URL`), plus the cap.
#[tokio::test]
async fn home_timelines_in_redis() {
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
    home_timeline_scenario(Server::serve(app, dir).await).await;

    // A capped timeline keeps the newest entries.
    let small = rookery_posts::TimelineConfig {
        cap: 3,
        ..Default::default()
    };
    let redis = rookery_posts::timeline::RedisTimelines::connect(&url, &format!("{prefix}cap:"), 3)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = Server::serve(
        rookery::app::embedded_with(dir.path(), small, Some(redis))
            .await
            .unwrap(),
        dir,
    )
    .await;
    let poster = s.user("poster").await;
    let mut last = String::new();
    for i in 0..6 {
        last = post(&s, &poster, json!({"text": format!("n{i}")})).await["id"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let home = within_2s(&s, &poster, "/api/v1/timelines/home", |b| {
        ids(b).first() == Some(&last)
    })
    .await;
    assert_eq!(ids(&home).len(), 3);
    s.stop().await;
}

async fn home_timeline_scenario(s: Server) {
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    expect(
        s.req(Method::GET, "/api/v1/timelines/home"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let early = post(&s, &bob, json!({"text": "before the follow"})).await;
    alice
        .basic(s.req(Method::POST, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    // Following back-fills the followee's recent posts.
    within_2s(&s, &alice, "/api/v1/timelines/home", |b| {
        ids(b).contains(&early["id"].as_str().unwrap().to_string())
    })
    .await;

    let p = post(&s, &bob, json!({"text": "fan me out"})).await;
    let pid = p["id"].as_str().unwrap().to_string();
    within_2s(&s, &alice, "/api/v1/timelines/home", |b| {
        ids(b).first() == Some(&pid)
    })
    .await;
    // The author's own posts are in their home timeline; others' are not.
    within_2s(&s, &bob, "/api/v1/timelines/home", |b| {
        ids(b).first() == Some(&pid)
    })
    .await;
    let mine = post(&s, &alice, json!({"text": "my own"})).await;
    within_2s(&s, &alice, "/api/v1/timelines/home", |b| {
        ids(b).first() == mine["id"].as_str().map(String::from).as_ref()
    })
    .await;
    let (_, carols) = send_json(carol.basic(s.req(Method::GET, "/api/v1/timelines/home"))).await;
    assert!(ids(&carols).is_empty());

    // Reposts by followees show up too.
    let cp = post(&s, &carol, json!({"text": "carol's"})).await;
    let (_, rp) = send_json(bob.basic(s.req(
        Method::POST,
        &format!("/api/v1/posts/{}/repost", cp["id"].as_str().unwrap()),
    )))
    .await;
    let rpid = rp["id"].as_str().unwrap().to_string();
    within_2s(&s, &alice, "/api/v1/timelines/home", |b| {
        ids(b).contains(&rpid)
    })
    .await;

    // A deleted post disappears everywhere at once.
    bob.basic(s.req(Method::DELETE, &format!("/api/v1/posts/{pid}")))
        .send()
        .await
        .unwrap();
    for (user, path) in [
        (&alice, "/api/v1/timelines/home"),
        (&bob, "/api/v1/timelines/home"),
        (&alice, "/api/v1/timelines/public"),
        (&alice, "/api/v1/users/bob/posts"),
        (&alice, "/api/v1/posts"),
    ] {
        let (_, page) = send_json(user.basic(s.req(Method::GET, path))).await;
        assert!(!ids(&page).contains(&pid), "{path}");
    }

    // Unfollowing removes their posts.
    alice
        .basic(s.req(Method::DELETE, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    within_2s(&s, &alice, "/api/v1/timelines/home", |b| {
        b["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["author"] != "bob")
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn high_follower_authors_are_merged_at_read_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = rookery_posts::TimelineConfig {
        fanout_threshold: 1,
        ..Default::default()
    };
    let s = Server::serve(
        rookery::app::embedded_with(dir.path(), config, None)
            .await
            .unwrap(),
        dir,
    )
    .await;
    let star = s.user("star").await;
    let fans = [s.user("fan1").await, s.user("fan2").await];
    for fan in &fans {
        fan.basic(s.req(Method::POST, "/api/v1/users/star/follow"))
            .send()
            .await
            .unwrap();
    }
    // The star has 2 followers > threshold 1: no fan-out, merged on read. The
    // celebrity list is refreshed every few seconds, so allow for that.
    let p = post(&s, &star, json!({"text": "hello fans"})).await;
    let pid = p["id"].as_str().unwrap().to_string();
    for fan in &fans {
        let started = Instant::now();
        loop {
            let (_, home) =
                send_json(fan.basic(s.req(Method::GET, "/api/v1/timelines/home"))).await;
            if ids(&home).first() == Some(&pid) {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(8), "{home}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    s.stop().await;
}

#[tokio::test]
async fn garbage_never_gives_a_server_error() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let p = post(&s, &alice, json!({"text": "target"})).await;
    let id = p["id"].as_str().unwrap();
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[1,2]".to_vec(),
        vec![0xff, 0xfe, 0xfd],
        b"{\"text\": {\"a\": 1}, \"in_reply_to\": [1]}".to_vec(),
        b"{\"text\": 12, \"title\": false}".to_vec(),
        format!(
            "{{\"title\": \"{}\", \"community\": \"r\"}}",
            "t".repeat(100_000)
        )
        .into_bytes(),
        "[".repeat(50_000).into_bytes(),
    ];
    let routes = [
        (Method::POST, "/api/v1/posts".to_string()),
        (Method::PATCH, format!("/api/v1/posts/{id}")),
        (Method::POST, format!("/api/v1/posts/{id}/replies")),
    ];
    for (method, path) in &routes {
        for body in &bodies {
            let resp = alice
                .basic(s.req(method.clone(), path))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let (_, b) = json(resp).await;
            assert!(status.is_client_error(), "{method} {path}: {status} {b}");
        }
    }
    // Replying to ids that are no post's.
    for in_reply_to in [
        json!("-5"),
        json!(12),
        json!("1e5"),
        json!("99999999999999999999"),
    ] {
        let resp = alice
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "x", "in_reply_to": in_reply_to}))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_client_error(),
            "{in_reply_to}: {}",
            resp.status()
        );
    }
    for path in [
        "/api/v1/posts?sort=%ff",
        "/api/v1/posts?limit=1e9",
        "/api/v1/timelines/public?cursor=%00",
        "/api/v1/posts/%ff/replies",
        "/api/v1/users/%ff/posts",
    ] {
        let resp = s.req(Method::GET, path).send().await.unwrap();
        let status = resp.status();
        let (_, b) = json(resp).await;
        assert!(status.is_client_error(), "{path}: {status} {b}");
    }
    let (status, still) = send_json(s.req(Method::GET, &format!("/api/v1/posts/{id}"))).await;
    assert_eq!(
        (status, still["text"].as_str()),
        (StatusCode::OK, Some("target"))
    );
    s.stop().await;
}

/// A user timeline is there from the moment the account is: the posts
/// service asks the users service about an account its replica does not know
/// yet (its `user.registered` still on the way) instead of answering 404.
/// Deterministic: the accounts are registered at a users instance on the
/// embedded data directory and their events dropped from its outbox, so the
/// posts replica never hears of them.
#[tokio::test]
async fn user_timeline_of_an_account_the_posts_replica_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let secret = rookery_kernel::secret::Secret::load_or_create(dir.path()).unwrap();
    let users_url = rookery_kernel::db::sqlite_url_in(dir.path(), "users");
    let users = Server::serve(
        rookery::app::users_instance_on(&users_url, &secret, None)
            .await
            .unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let carol = users.user("carol").await;
    let dave = users.user("dave").await;
    users.stop().await;
    let db = sqlx::SqlitePool::connect(&users_url).await.unwrap();
    let dropped = sqlx::query("DELETE FROM outbox")
        .execute(&db)
        .await
        .unwrap();
    assert_eq!(dropped.rows_affected(), 2, "one user.registered each");
    db.close().await;

    let app = rookery::app::embedded(dir.path()).await.unwrap();
    let s = Server::serve(app, tempfile::tempdir().unwrap()).await;
    // Case does not matter, as for every username.
    let (status, page) = send_json(s.req(Method::GET, "/api/v1/users/CAROL/posts")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"], json!([]));
    // The answer is remembered, and the timeline fills as usual.
    let p = post(&s, &carol, json!({"text": "first!"})).await;
    let (status, page) = send_json(s.req(Method::GET, "/api/v1/users/carol/posts")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), vec![p["id"].as_str().unwrap().to_string()]);
    // Deactivated (the replica never had the account): 404 all the same.
    let resp = dave
        .basic(s.req(Method::DELETE, "/api/v1/users/dave"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for _ in 0..2 {
        expect(
            s.req(Method::GET, "/api/v1/users/dave/posts"),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    expect(
        s.req(Method::GET, "/api/v1/users/nobody/posts"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    s.stop().await;
}

/// Register, then read the new account's timeline at once: never 404.
#[tokio::test]
async fn user_timeline_right_after_registering() {
    let s = Server::embedded().await;
    for n in 0..25 {
        let name = format!("newcomer{n}");
        s.user(&name).await;
        let (status, page) =
            send_json(s.req(Method::GET, &format!("/api/v1/users/{name}/posts"))).await;
        assert_eq!(status, StatusCode::OK, "{name}: {page}");
        assert_eq!(page["items"], json!([]), "{name}");
    }
    s.stop().await;
}

/// `GET /api/v1/posts?ids=`: full posts (as `GET /posts/{id}` gives them)
/// in the order asked, each once, unknown and deleted ones left out.
#[tokio::test]
async fn posts_by_ids() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let micro = post(&s, &alice, json!({"text": "hello #rust @bob"})).await;
    let community = post(
        &s,
        &alice,
        json!({"title": "A link", "community": "rust", "text": "the body", "url": "https://example.com/x"}),
    )
    .await;
    let gone = post(&s, &bob, json!({"text": "soon gone"})).await;
    let (m, c, g) = (
        micro["id"].as_str().unwrap(),
        community["id"].as_str().unwrap(),
        gone["id"].as_str().unwrap(),
    );
    let resp = bob
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{g}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    let resp = s
        .req(
            Method::GET,
            &format!("/api/v1/posts?ids={c},%20{m},{g},999999,{c}&sort=top&limit=5"),
        )
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("link").is_none());
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), [c, m]);
    assert_eq!(body["next_cursor"], Value::Null);
    for (item, id) in body["items"].as_array().unwrap().iter().zip([c, m]) {
        let (_, single) = send_json(s.req(Method::GET, &format!("/api/v1/posts/{id}"))).await;
        assert_eq!(item, &single);
    }
    assert_eq!(body["items"][0]["text"], "the body");
    assert_eq!(body["items"][0]["url"], "https://example.com/x");
    assert_eq!(body["items"][1]["mentions"], json!(["bob"]));
    let (_, body) = send_json(s.req(Method::GET, &format!("/api/v1/posts?ids={g}"))).await;
    assert_eq!(body["items"], json!([]));

    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let (status, _) = send_json(s.req(
        Method::GET,
        &format!("/api/v1/posts?ids={}", hundred.join(",")),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        format!("{},101", hundred.join(",")),
        String::new(),
        format!("{m},"),
        format!("{m},,{c}"),
        "abc".into(),
        "-1".into(),
        "1.5".into(),
        "99999999999999999999".into(),
    ] {
        let body = expect(
            s.req(Method::GET, &format!("/api/v1/posts?ids={bad}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], "ids", "{bad}: {body}");
    }
    s.stop().await;
}

/// `GET /api/v1/reposts?of=`: the caller's reposts of the given originals.
#[tokio::test]
async fn my_reposts_of_given_posts() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let one = post(&s, &alice, json!({"text": "one"})).await;
    let two = post(&s, &alice, json!({"text": "two"})).await;
    let three = post(&s, &alice, json!({"text": "three"})).await;
    let (one, two, three) = (
        one["id"].as_str().unwrap(),
        two["id"].as_str().unwrap(),
        three["id"].as_str().unwrap(),
    );
    let mut reposts = Vec::new();
    for id in [three, one] {
        let (status, rp) =
            send_json(bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/repost")))).await;
        assert_eq!(status, StatusCode::CREATED, "{rp}");
        reposts.push(rp["id"].as_str().unwrap().to_string());
    }
    let path = format!("/api/v1/reposts?of={one},{two},{three},{one},424242");
    let (status, body) = send_json(bob.basic(s.req(Method::GET, &path))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"items": [
            {"id": reposts[1], "repost_of": one},
            {"id": reposts[0], "repost_of": three},
        ]})
    );
    // Someone else's reposts are not the caller's.
    let (_, body) = send_json(alice.basic(s.req(Method::GET, &path))).await;
    assert_eq!(body, json!({"items": []}));
    // A deleted repost is no longer one.
    let resp = bob
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{}", reposts[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let (_, body) = send_json(bob.basic(s.req(Method::GET, &path))).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");

    expect(
        s.req(Method::GET, &path),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let (status, _) = send_json(bob.basic(s.req(
        Method::GET,
        &format!("/api/v1/reposts?of={}", hundred.join(",")),
    )))
    .await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        "/api/v1/reposts".to_string(),
        "/api/v1/reposts?of=".into(),
        format!("/api/v1/reposts?of={one},x"),
        format!("/api/v1/reposts?of={},101", hundred.join(",")),
    ] {
        let body = expect(
            bob.basic(s.req(Method::GET, &bad)),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], "of", "{bad}: {body}");
    }
    s.stop().await;
}
