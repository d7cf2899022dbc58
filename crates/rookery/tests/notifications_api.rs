//! The notifications API through the gateway of `rookery serve`, on a real
//! socket: actions through the other services' routes, notifications read
//! back as they arrive (polled, within the 2 seconds API.md allows).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{Server, User, expect, send_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn get(s: &Server, user: &User, path: &str) -> Value {
    let (status, body) = send_json(user.basic(s.req(Method::GET, path))).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

/// Polls the user's GET `path` until `check` holds, for at most 2 seconds.
async fn within_2s(s: &Server, user: &User, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let body = get(s, user, path).await;
        if check(&body) {
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{path} not within 2 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().unwrap()
}

fn types(page: &Value) -> Vec<&str> {
    items(page)
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect()
}

/// `count` accounts `{prefix}0..`, registered concurrently.
async fn users(s: &Server, prefix: &str, count: usize) -> Vec<User> {
    let register = |i| async move { s.user(&format!("{prefix}{i}")).await };
    futures::future::join_all((0..count).map(register)).await
}

async fn follow(s: &Server, who: &User, whom: &User) {
    let resp = who
        .basic(s.req(Method::POST, &format!("/api/v1/users/{}/follow", whom.name)))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
}

async fn unread(s: &Server, user: &User) -> i64 {
    get(s, user, "/api/v1/notifications/unread_count").await["count"]
        .as_i64()
        .unwrap()
}

async fn read(s: &Server, user: &User, body: Option<Value>) -> (StatusCode, Value) {
    let req = user.basic(s.req(Method::POST, "/api/v1/notifications/read"));
    send_json(match body {
        Some(body) => req.json(&body),
        None => req,
    })
    .await
}

async fn post(s: &Server, user: &User, path: &str, body: Value) -> String {
    let (status, post) = send_json(user.basic(s.req(Method::POST, path)).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {post}");
    post["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_follow_notifies_the_followee() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    follow(&s, &bob, &alice).await;
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| {
        !items(p).is_empty()
    })
    .await;
    let n = &items(&page)[0];
    assert_eq!(n["type"], "follow", "{n}");
    assert_eq!(n["read"], false);
    assert_eq!(n["post"], Value::Null);
    assert!(n.get("message_id").is_none(), "{n}");
    assert!(
        n["id"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit())
    );
    assert!(n["created_at"].as_str().unwrap().ends_with('Z'), "{n}");
    // The public view of the follower, addressed by username.
    assert_eq!(n["account"]["username"], "bob");
    assert!(n["account"]["followers_count"].is_i64(), "{n}");
    assert!(n["account"].get("user_id").is_none(), "{n}");
    assert_eq!(page["next_cursor"], Value::Null);
    // Nobody else is told; the follower is not told of their own action.
    assert!(items(&get(&s, &bob, "/api/v1/notifications").await).is_empty());
    assert_eq!(unread(&s, &alice).await, 1);

    // Following again after unfollowing: still one notification.
    let resp = bob
        .basic(s.req(Method::DELETE, "/api/v1/users/alice/follow"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    follow(&s, &bob, &alice).await;
    let carol = s.user("carol").await;
    follow(&s, &carol, &alice).await;
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).len() >= 2).await;
    let from: Vec<&Value> = items(&page)
        .iter()
        .map(|n| &n["account"]["username"])
        .collect();
    assert_eq!(from, [&json!("carol"), &json!("bob")]);

    // Read: everything by default, with or without a body.
    assert_eq!(
        read(&s, &alice, None).await,
        (StatusCode::OK, json!({"count": 0}))
    );
    assert_eq!(unread(&s, &alice).await, 0);
    let page = get(&s, &alice, "/api/v1/notifications").await;
    assert!(items(&page).iter().all(|n| n["read"] == true), "{page}");
    assert!(items(&get(&s, &alice, "/api/v1/notifications?unread=true").await).is_empty());
    s.stop().await;
}

#[tokio::test]
async fn read_watermark_filters_and_pages() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let fans: Vec<User> = users(&s, "fan", 5).await;
    for fan in &fans {
        follow(&s, fan, &alice).await;
    }
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).len() == 5).await;
    let ids: Vec<String> = items(&page)
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect();
    // Up to the third newest: the two newest stay unread.
    let (status, body) = read(&s, &alice, Some(json!({"up_to": ids[2]}))).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"count": 2})));
    // Never backwards.
    let (_, body) = read(&s, &alice, Some(json!({"up_to": ids[4]}))).await;
    assert_eq!(body, json!({"count": 2}));
    let unread_page = get(&s, &alice, "/api/v1/notifications?unread=true").await;
    let unread_ids: Vec<&str> = items(&unread_page)
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(unread_ids, [ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(unread(&s, &alice).await, 2);
    // Types filter.
    assert_eq!(
        types(&get(&s, &alice, "/api/v1/notifications?types=follow,like").await).len(),
        5
    );
    assert!(items(&get(&s, &alice, "/api/v1/notifications?types=like,message").await).is_empty());
    // Pages of two through the cursor: every notification once, newest first.
    let mut seen = Vec::new();
    let mut path = "/api/v1/notifications?limit=2".to_string();
    loop {
        let page = get(&s, &alice, &path).await;
        seen.extend(
            items(&page)
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/notifications?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    s.stop().await;
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    for (method, path) in [
        (Method::GET, "/api/v1/notifications"),
        (Method::GET, "/api/v1/notifications/unread_count"),
        (Method::POST, "/api/v1/notifications/read"),
    ] {
        expect(
            s.req(method.clone(), path),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let wrong = s
            .req(method, path)
            .basic_auth("alice", Some("wrong password"));
        expect(wrong, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    for (query, field) in [
        ("types=follow,poke", "types"),
        ("types=likes", "types"),
        ("unread=maybe", "unread"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=", "limit"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let req = alice.basic(s.req(Method::GET, &format!("/api/v1/notifications?{query}")));
        let body = expect(req, StatusCode::BAD_REQUEST, "invalid_input").await;
        assert_eq!(body["field"], field, "{query}: {body}");
    }
    for up_to in [
        json!("abc"),
        json!(""),
        json!(-3),
        json!({"id": 1}),
        json!("12x"),
    ] {
        let req = alice
            .basic(s.req(Method::POST, "/api/v1/notifications/read"))
            .json(&json!({ "up_to": up_to }));
        let body = expect(req, StatusCode::BAD_REQUEST, "invalid_input").await;
        assert_eq!(body["field"], "up_to", "{body}");
    }
    let malformed = alice
        .basic(s.req(Method::POST, "/api/v1/notifications/read"))
        .header("content-type", "application/json")
        .body("{\"up_to\":");
    expect(malformed, StatusCode::BAD_REQUEST, "invalid_input").await;
    // Types are case-insensitive and may repeat; an empty filter is all.
    for query in ["types=FOLLOW,follow", "types=", "unread=false", "unread="] {
        get(&s, &alice, &format!("/api/v1/notifications?{query}")).await;
    }
    for body in [json!({"up_to": null}), json!(null), json!({})] {
        let (status, answer) = read(&s, &alice, Some(body)).await;
        assert_eq!((status, answer), (StatusCode::OK, json!({"count": 0})));
    }
    s.stop().await;
}

/// 100 accounts following one at once: exactly 100 follow notifications.
#[tokio::test]
async fn concurrent_follows_notify_once_each() {
    let s = Server::embedded().await;
    let star = s.user("star").await;
    let fans: Vec<User> = users(&s, "fan", 100).await;
    futures::future::join_all(fans.iter().map(|fan| follow(&s, fan, &star))).await;
    let page = within_2s(&s, &star, "/api/v1/notifications?limit=100", |p| {
        items(p).len() >= 100
    })
    .await;
    let from: BTreeSet<&str> = items(&page)
        .iter()
        .map(|n| n["account"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(from.len(), 100);
    assert!(types(&page).iter().all(|t| *t == "follow"));
    assert_eq!(page["next_cursor"], Value::Null, "no 101st");
    assert_eq!(unread(&s, &star).await, 100);
    s.stop().await;
}

/// Likes, replies, reposts and messages through their own routes (the
/// enriched `vote.changed`, `post.created` and `message.sent` of the contract).
#[tokio::test]
async fn likes_replies_reposts_and_messages_notify() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let original = post(&s, &alice, "/api/v1/posts", json!({"text": "hello"})).await;
    let like = bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{original}/like")));
    assert_eq!(like.send().await.unwrap().status(), StatusCode::OK);
    let reply = post(
        &s,
        &bob,
        &format!("/api/v1/posts/{original}/replies"),
        json!({"text": "hi back"}),
    )
    .await;
    let repost = bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{original}/repost")));
    assert!(repost.send().await.unwrap().status().is_success());
    let message = post(
        &s,
        &bob,
        "/api/v1/messages",
        json!({"to": "alice", "text": "psst"}),
    )
    .await;
    // Her own like and reply tell her nothing.
    let own = alice.basic(s.req(Method::POST, &format!("/api/v1/posts/{original}/like")));
    assert_eq!(own.send().await.unwrap().status(), StatusCode::OK);
    post(
        &s,
        &alice,
        &format!("/api/v1/posts/{original}/replies"),
        json!({"text": "talking to myself"}),
    )
    .await;
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).len() >= 4).await;
    let mut by_type = std::collections::BTreeMap::new();
    for n in items(&page) {
        assert_eq!(n["account"]["username"], "bob", "{n}");
        by_type.insert(n["type"].as_str().unwrap().to_string(), n.clone());
    }
    assert_eq!(items(&page).len(), 4, "{page}");
    assert_eq!(by_type["like"]["post"]["id"], original.as_str());
    assert_eq!(by_type["reply"]["post"]["id"], reply.as_str());
    assert_eq!(by_type["repost"]["post"]["id"], original.as_str());
    assert_eq!(by_type["message"]["post"], Value::Null);
    assert_eq!(by_type["message"]["message_id"], message.as_str());
    // A later down vote does not retract the like; a liked-again post adds none.
    for direction in ["down", "up"] {
        let vote = bob
            .basic(s.req(Method::PUT, &format!("/api/v1/posts/{original}/vote")))
            .json(&json!({ "direction": direction }));
        assert_eq!(vote.send().await.unwrap().status(), StatusCode::OK);
    }
    // A deleted reply takes its notification (the delete is an event away).
    let delete = bob.basic(s.req(Method::DELETE, &format!("/api/v1/posts/{reply}")));
    assert!(delete.send().await.unwrap().status().is_success());
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| {
        !types(p).contains(&"reply")
    })
    .await;
    // The message and the posts' events travel through different relays, so
    // which of them was applied first (and so is newer) is not fixed.
    let mut left = types(&page);
    left.sort_unstable();
    assert_eq!(left, ["like", "message", "repost"]);
    s.stop().await;
}

/// 100 accounts liking one post at once: exactly 100 like notifications.
#[tokio::test]
async fn concurrent_likes_notify_once_each() {
    let s = Server::embedded().await;
    let star = s.user("star").await;
    let id = post(&s, &star, "/api/v1/posts", json!({"text": "like me"})).await;
    let fans = users(&s, "fan", 100).await;
    let like = |fan: &User| {
        let req = fan.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/like")));
        async move { assert_eq!(req.send().await.unwrap().status(), StatusCode::OK) }
    };
    futures::future::join_all(fans.iter().map(like)).await;
    let page = within_2s(
        &s,
        &star,
        "/api/v1/notifications?types=like&limit=100",
        |p| items(p).len() >= 100,
    )
    .await;
    let from: BTreeSet<&str> = items(&page)
        .iter()
        .map(|n| n["account"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(from.len(), 100);
    assert!(items(&page).iter().all(|n| n["post"]["id"] == id.as_str()));
    assert_eq!(page["next_cursor"], Value::Null, "no 101st");
    assert_eq!(unread(&s, &star).await, 100);
    s.stop().await;
}

/// Blocks and mutes hide notifications at read time (list and count), and
/// undoing them shows them again (creation-time filtering is in the store suite).
#[tokio::test]
async fn blocks_and_mutes_hide_notifications() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    follow(&s, &bob, &alice).await;
    follow(&s, &carol, &alice).await;
    within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).len() == 2).await;
    let relate = |user: &User, method: Method, path: String| {
        let req = user.basic(s.req(method, &path));
        async move {
            let status = req.send().await.unwrap().status();
            assert!(status.is_success(), "{path}: {status}");
        }
    };
    // Alice mutes bob; carol blocks alice (which also ends carol's follow).
    relate(&alice, Method::POST, "/api/v1/users/bob/mute".into()).await;
    relate(&carol, Method::POST, "/api/v1/users/alice/block".into()).await;
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).is_empty()).await;
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(unread(&s, &alice).await, 0);
    // Others still reach her meanwhile.
    let dave = s.user("dave").await;
    follow(&s, &dave, &alice).await;
    within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).len() == 1).await;
    relate(&alice, Method::DELETE, "/api/v1/users/bob/mute".into()).await;
    relate(&carol, Method::DELETE, "/api/v1/users/alice/block".into()).await;
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| items(p).len() == 3).await;
    let from: Vec<&str> = items(&page)
        .iter()
        .map(|n| n["account"]["username"].as_str().unwrap())
        .collect();
    assert_eq!(from, ["dave", "carol", "bob"]);
    assert_eq!(unread(&s, &alice).await, 3);
    s.stop().await;
}

/// A post mentioning accounts notifies each of them (not its author).
#[tokio::test]
async fn mentions_notify_the_mentioned() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let id = post(
        &s,
        &bob,
        "/api/v1/posts",
        json!({"text": "hi @alice and @Carol, says @bob"}),
    )
    .await;
    for user in [&alice, &carol] {
        let page = within_2s(&s, user, "/api/v1/notifications", |p| !items(p).is_empty()).await;
        assert_eq!(types(&page), ["mention"], "{page}");
        assert_eq!(items(&page)[0]["post"]["id"], id.as_str());
        assert_eq!(items(&page)[0]["account"]["username"], "bob");
    }
    assert!(items(&get(&s, &bob, "/api/v1/notifications").await).is_empty());
    s.stop().await;
}

/// A notification shows its post and account as they are now: views
/// written for an earlier read (`rookery serve` keeps them per version) are
/// not served after an edit, a vote or a profile change.
#[tokio::test]
async fn views_follow_edits_votes_and_profiles() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let id = post(&s, &bob, "/api/v1/posts", json!({"text": "first @alice"})).await;
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| {
        !items(p).is_empty()
    })
    .await;
    assert_eq!(items(&page)[0]["post"]["text"], "first @alice", "{page}");
    assert_eq!(items(&page)[0]["post"]["score"], 0, "{page}");
    assert_eq!(items(&page)[0]["account"]["bio"], "", "{page}");

    let path = format!("/api/v1/posts/{id}");
    let (status, body) = send_json(
        bob.basic(s.req(Method::PATCH, &path))
            .json(&json!({"text": "second @alice"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let page = within_2s(&s, &alice, "/api/v1/notifications", |p| {
        items(p)[0]["post"]["text"] == "second @alice"
    })
    .await;
    assert!(!items(&page)[0]["post"]["edited_at"].is_null(), "{page}");

    let vote = alice
        .basic(s.req(Method::PUT, &format!("{path}/vote")))
        .json(&json!({"direction": "up"}));
    assert_eq!(vote.send().await.unwrap().status(), StatusCode::OK);
    within_2s(&s, &alice, "/api/v1/notifications", |p| {
        items(p)[0]["post"]["score"] == 1
    })
    .await;

    let (status, body) = send_json(
        bob.basic(s.req(Method::PATCH, "/api/v1/users/bob"))
            .json(&json!({"bio": "now with a bio"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    within_2s(&s, &alice, "/api/v1/notifications", |p| {
        items(p)[0]["account"]["bio"] == "now with a bio"
    })
    .await;
    s.stop().await;
}
