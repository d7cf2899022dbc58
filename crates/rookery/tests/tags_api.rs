//! Hashtags and mentions through the gateway, on a real socket.

mod common;

use common::{Server, User, expect, send_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn post(s: &Server, user: &User, body: Value) -> Value {
    let (status, post) =
        send_json(user.basic(s.req(Method::POST, "/api/v1/posts")).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    post
}

async fn get(s: &Server, path: &str) -> Value {
    let (status, body) = send_json(s.req(Method::GET, path)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// `(name, post_count, recent_count)` of a tags page.
fn tag_rows(page: &Value) -> Vec<(String, i64, i64)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_string(),
                t["post_count"].as_i64().unwrap(),
                t["recent_count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn row(name: &str, all: i64, recent: i64) -> (String, i64, i64) {
    (name.to_string(), all, recent)
}

#[tokio::test]
async fn posts_carry_tags_and_mentions() {
    let s = Server::embedded().await;
    let alice = s.user("Alice").await;
    let bob = s.user("bob").await;

    // Compose: a mention of an account registered a moment ago (the posts
    // replica may not have it yet) and two tags; URLs and unknown names
    // are not mentions or tags.
    let carol = s.user("carol").await;
    let p = post(
        &s,
        &alice,
        json!({"text": "hey @CAROL and @nobody: #Rust #rust #fun https://x.com/#frag https://x.com/@bob"}),
    )
    .await;
    assert_eq!(p["tags"], json!(["rust", "fun"]));
    assert_eq!(p["mentions"], json!(["carol"]));
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(get(&s, &format!("/api/v1/posts/{id}")).await, p);

    // Always present, [] when none; a repost shows its own (none).
    let plain = post(&s, &bob, json!({"text": "nothing to see"})).await;
    assert_eq!(
        (&plain["tags"], &plain["mentions"]),
        (&json!([]), &json!([]))
    );
    let (status, repost) =
        send_json(bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/repost")))).await;
    assert_eq!(status, StatusCode::CREATED, "{repost}");
    assert_eq!(
        (&repost["tags"], &repost["mentions"]),
        (&json!([]), &json!([]))
    );
    // List items too (the community post's item leaves out text, not tags).
    let board = post(
        &s,
        &carol,
        json!({"title": "A #Zig thread", "community": "lang", "text": "@alice #rust"}),
    )
    .await;
    assert_eq!(board["tags"], json!(["zig", "rust"]));
    assert_eq!(board["mentions"], json!(["Alice"]));
    let public = get(&s, "/api/v1/timelines/public").await;
    let item = &public["items"][0];
    assert_eq!(item["id"], board["id"]);
    assert!(item.get("text").is_none());
    assert_eq!(
        (&item["tags"], &item["mentions"]),
        (&board["tags"], &board["mentions"])
    );

    // An edit recomputes both.
    let (status, edited) = send_json(
        alice
            .basic(s.req(Method::PATCH, &format!("/api/v1/posts/{id}")))
            .json(&json!({"text": "now #zig, with @bob"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["tags"], json!(["zig"]));
    assert_eq!(edited["mentions"], json!(["bob"]));
    assert_eq!(
        get(&s, &format!("/api/v1/posts/{id}")).await["tags"],
        json!(["zig"])
    );
    s.stop().await;
}

#[tokio::test]
async fn tag_listings() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let mut rust = Vec::new();
    for i in 0..3 {
        rust.push(post(&s, &alice, json!({"text": format!("#Rust number {i}")})).await);
    }
    post(&s, &alice, json!({"text": "#go #rust"})).await;
    post(&s, &alice, json!({"text": "#go"})).await;
    let only = post(&s, &alice, json!({"text": "#zig"})).await;

    // Newest first, case-insensitive, paged with the cursor.
    let page = get(&s, "/api/v1/tags/RUST/posts?limit=2").await;
    assert_eq!(page["items"][0]["text"], "#go #rust");
    assert_eq!(page["items"][1]["id"], rust[2]["id"]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest = get(
        &s,
        &format!("/api/v1/tags/rust/posts?limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(
        ids(&rest),
        [
            rust[1]["id"].as_str().unwrap(),
            rust[0]["id"].as_str().unwrap()
        ]
    );
    assert!(rest["next_cursor"].is_null());
    // Unknown tag: an empty list.
    let none = get(&s, "/api/v1/tags/nosuchtag/posts").await;
    assert_eq!(none, json!({"items": [], "next_cursor": null}));

    // Trending (the default): most posts in the last 24 h, ties by name.
    let trending = get(&s, "/api/v1/tags").await;
    assert_eq!(
        tag_rows(&trending),
        [row("rust", 4, 4), row("go", 2, 2), row("zig", 1, 1)]
    );
    assert_eq!(
        tag_rows(&get(&s, "/api/v1/tags?sort=trending&limit=1").await),
        [row("rust", 4, 4)]
    );
    // By name, paged.
    let by_name = get(&s, "/api/v1/tags?sort=name&limit=2").await;
    assert_eq!(tag_rows(&by_name), [row("go", 2, 2), row("rust", 4, 4)]);
    let cursor = by_name["next_cursor"].as_str().unwrap();
    let next = get(
        &s,
        &format!("/api/v1/tags?sort=name&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(tag_rows(&next), [row("zig", 1, 1)]);

    // Edits and deletes move the counts at once (the cached trending page too).
    let (status, _) = send_json(
        alice
            .basic(s.req(
                Method::PATCH,
                &format!("/api/v1/posts/{}", rust[0]["id"].as_str().unwrap()),
            ))
            .json(&json!({"text": "#zig now"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let resp = alice
        .basic(s.req(
            Method::DELETE,
            &format!("/api/v1/posts/{}", rust[1]["id"].as_str().unwrap()),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        tag_rows(&get(&s, "/api/v1/tags").await),
        [row("go", 2, 2), row("rust", 2, 2), row("zig", 2, 2)]
    );
    let resp = alice
        .basic(s.req(
            Method::DELETE,
            &format!("/api/v1/posts/{}", only["id"].as_str().unwrap()),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        ids(&get(&s, "/api/v1/tags/zig/posts").await),
        [rust[0]["id"].as_str().unwrap()]
    );
    s.stop().await;
}

#[tokio::test]
async fn tag_errors() {
    let s = Server::embedded().await;
    for path in [
        "/api/v1/tags/bad-tag/posts",
        "/api/v1/tags/%C3%A9t%C3%A9/posts",
        &format!("/api/v1/tags/{}/posts", "a".repeat(51)),
        "/api/v1/tags/%23rust/posts",
    ] {
        let body = expect(
            s.req(Method::GET, path),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], "tag", "{path}");
    }
    for (path, field) in [
        ("/api/v1/tags?sort=hot", "sort"),
        ("/api/v1/tags?limit=0", "limit"),
        ("/api/v1/tags?limit=101", "limit"),
        ("/api/v1/tags?limit=", "limit"),
        ("/api/v1/tags/rust/posts?limit=abc", "limit"),
        ("/api/v1/tags/rust/posts?cursor=garbage!", "cursor"),
        ("/api/v1/tags?sort=name&cursor=garbage!", "cursor"),
    ] {
        let body = expect(
            s.req(Method::GET, path),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], field, "{path}");
    }
    s.stop().await;
}
