//! The votes and polls API through the gateway, on a real socket.

mod common;

use std::time::{Duration, Instant};

use common::{Server, User, expect, send_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn post(s: &Server, user: &User, body: Value) -> String {
    let (status, post) =
        send_json(user.basic(s.req(Method::POST, "/api/v1/posts")).json(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{post}");
    post["id"].as_str().unwrap().to_string()
}

async fn tally(s: &Server, user: &User, method: Method, path: &str) -> Value {
    let (status, body) = send_json(user.basic(s.req(method, path))).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn counts(t: &Value) -> (i64, i64, i64, Value) {
    (
        t["upvotes"].as_i64().unwrap(),
        t["downvotes"].as_i64().unwrap(),
        t["score"].as_i64().unwrap(),
        t["my_vote"].clone(),
    )
}

/// Polls GET `path` until `check` holds, for at most 2 seconds.
async fn within_2s(s: &Server, path: &str, check: impl Fn(StatusCode, &Value) -> bool) {
    let started = Instant::now();
    loop {
        let (status, body) = send_json(s.req(Method::GET, path)).await;
        if check(status, &body) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "not within 2 s: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn votes_likes_and_tallies() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    // Votable the moment it exists (the replica learns it on the miss).
    let p = post(&s, &alice, json!({"text": "vote on me"})).await;
    let vote = format!("/api/v1/posts/{p}/vote");
    let (status, t) = send_json(
        bob.basic(s.req(Method::PUT, &vote))
            .json(&json!({"direction": "up"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(counts(&t), (1, 0, 1, json!("up")));
    assert_eq!(t["post_id"], p);
    // The same vote again changes nothing; the other way moves it.
    let (_, t) = send_json(
        bob.basic(s.req(Method::PUT, &vote))
            .json(&json!({"direction": "up"})),
    )
    .await;
    assert_eq!(counts(&t), (1, 0, 1, json!("up")));
    let t = tally(
        &s,
        &bob,
        Method::POST,
        &format!("/api/v1/posts/{p}/downvote"),
    )
    .await;
    assert_eq!(counts(&t), (0, 1, -1, json!("down")));
    let t = tally(&s, &bob, Method::GET, &format!("/api/v1/posts/{p}/votes")).await;
    assert_eq!(counts(&t), (0, 1, -1, json!("down")));
    let (_, t) = send_json(s.req(Method::GET, &format!("/api/v1/posts/{p}/votes"))).await;
    assert_eq!(counts(&t), (0, 1, -1, Value::Null));
    let t = tally(&s, &bob, Method::DELETE, &vote).await;
    assert_eq!(counts(&t), (0, 0, 0, Value::Null));
    let t = tally(&s, &bob, Method::POST, &format!("/api/v1/posts/{p}/upvote")).await;
    assert_eq!(counts(&t), (1, 0, 1, json!("up")));
    let t = tally(&s, &bob, Method::DELETE, &format!("/api/v1/posts/{p}/like")).await;
    assert_eq!(counts(&t), (0, 0, 0, Value::Null));
    // A like is an up vote.
    let t = tally(&s, &bob, Method::POST, &format!("/api/v1/posts/{p}/like")).await;
    assert_eq!(counts(&t), (1, 0, 1, json!("up")));
    let t = tally(&s, &alice, Method::POST, &format!("/api/v1/posts/{p}/like")).await;
    assert_eq!(counts(&t), (2, 0, 2, json!("up")));

    // The posts service hears of it (vote.changed) and shows the tallies.
    within_2s(&s, &format!("/api/v1/posts/{p}"), |_, b| {
        b["score"] == 2 && b["upvotes"] == 2
    })
    .await;

    // Errors.
    expect(
        s.req(Method::PUT, &vote).json(&json!({"direction": "up"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        s.req(Method::POST, &format!("/api/v1/posts/{p}/like")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        bob.basic(s.req(Method::PUT, &vote))
            .json(&json!({"direction": "sideways"})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        bob.basic(s.req(Method::PUT, &vote)).json(&json!({})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    for missing in ["/api/v1/posts/12345/vote", "/api/v1/posts/abc/vote"] {
        expect(
            bob.basic(s.req(Method::PUT, missing))
                .json(&json!({"direction": "up"})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    expect(
        s.req(Method::GET, "/api/v1/posts/12345/votes"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A deleted post can no longer be voted on.
    let status = alice
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{p}")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    within_2s(&s, &format!("/api/v1/posts/{p}/votes"), |status, _| {
        status == StatusCode::NOT_FOUND
    })
    .await;
    expect(
        bob.basic(s.req(Method::DELETE, &vote)),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn top_lists_and_sorting() {
    let s = Server::embedded().await;
    let voters = [s.user("v1").await, s.user("v2").await, s.user("v3").await];
    let author = s.user("author").await;
    let community = |title: &str, c: &str| json!({"title": title, "community": c, "url": "https://example.com"});
    let low = post(&s, &author, community("low", "rust")).await;
    let high = post(&s, &author, community("high", "rust")).await;
    let tie_old = post(&s, &author, community("tie old", "go")).await;
    let tie_new = post(&s, &author, community("tie new", "go")).await;
    let up =
        |v: &User, id: &str| v.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/upvote")));
    let down =
        |v: &User, id: &str| v.basic(s.req(Method::POST, &format!("/api/v1/posts/{id}/downvote")));
    for v in &voters {
        assert_eq!(up(v, &high).send().await.unwrap().status(), StatusCode::OK);
    }
    assert_eq!(
        down(&voters[0], &low).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        up(&voters[0], &tie_old).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        up(&voters[1], &tie_new).send().await.unwrap().status(),
        StatusCode::OK
    );

    let top_ids = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["post_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, body) = send_json(s.req(Method::GET, "/api/v1/votes/top")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Highest first; equal scores newer first.
    assert_eq!(
        top_ids(&body)[..4],
        [high.clone(), tie_new.clone(), tie_old.clone(), low.clone()]
    );
    assert_eq!(body["items"][0]["title"], "high");
    assert_eq!(body["items"][0]["author"], "author");
    assert_eq!(body["items"][0]["upvotes"], 3);
    let (_, body) = send_json(s.req(Method::GET, "/api/v1/votes/top?community=rust&limit=1")).await;
    assert_eq!(top_ids(&body), vec![high.clone()]);
    for bad in ["0", "101", "x"] {
        expect(
            s.req(Method::GET, &format!("/api/v1/votes/top?limit={bad}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
    }

    // Sort: by score, ties keep the input order, unknown ids count as 0.
    let (status, body) = send_json(s.req(Method::POST, "/api/v1/votes/sort").json(&json!({
        "post_ids": [low, "999999", high, "not-an-id", tie_old]
    })))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["post_ids"],
        json!([high, tie_old, "999999", "not-an-id", low])
    );
    let too_many: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    expect(
        s.req(Method::POST, "/api/v1/votes/sort")
            .json(&json!({"post_ids": too_many})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        s.req(Method::POST, "/api/v1/votes/sort")
            .json(&json!({"ids": []})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn polls() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let create = |body: Value| {
        alice
            .basic(s.req(Method::POST, "/api/v1/polls"))
            .json(&body)
    };
    let (status, poll) = send_json(create(
        json!({"question": "tabs or spaces?", "options": ["tabs", "spaces"]}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{poll}");
    assert_eq!(poll["author"], "alice");
    assert_eq!(
        poll["options"],
        json!([{"text": "tabs", "votes": 0}, {"text": "spaces", "votes": 0}])
    );
    assert_eq!(poll["total_votes"], 0);
    let id = poll["id"].as_str().unwrap().to_string();

    for bad in [
        json!({"question": "q", "options": ["only one"]}),
        json!({"question": "q", "options": (0..11).map(|i| i.to_string()).collect::<Vec<_>>()}),
        json!({"question": "q", "options": ["a", ""]}),
        json!({"question": "q", "options": ["a", "x".repeat(101)]}),
        json!({"question": " ", "options": ["a", "b"]}),
        json!({"options": ["a", "b"]}),
    ] {
        expect(create(bad), StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    expect(
        s.req(Method::POST, "/api/v1/polls")
            .json(&json!({"question": "q", "options": ["a", "b"]})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let vote = |user: &User, body: Value| {
        user.basic(s.req(Method::POST, &format!("/api/v1/polls/{id}/votes")))
            .json(&body)
    };
    let (status, after) = send_json(vote(&bob, json!({"choice": 1}))).await;
    assert_eq!(status, StatusCode::CREATED, "{after}");
    assert_eq!(
        (
            after["options"][1]["votes"].as_i64(),
            after["total_votes"].as_i64()
        ),
        (Some(1), Some(1))
    );
    expect(
        vote(&bob, json!({"choice": 0})),
        StatusCode::CONFLICT,
        "already_voted",
    )
    .await;
    expect(
        vote(&alice, json!({"choice": 2})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        vote(&alice, json!({"choice": "x"})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        alice
            .basic(s.req(Method::POST, "/api/v1/polls/12345/votes"))
            .json(&json!({"choice": 0})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::GET, "/api/v1/polls/12345"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::GET, "/api/v1/polls/zzz"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let (status, read) = send_json(s.req(Method::GET, &format!("/api/v1/polls/{id}"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["options"][1]["votes"], 1);
    s.stop().await;
}

#[tokio::test]
async fn garbage_never_gives_a_server_error() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let p = post(&s, &alice, json!({"text": "x"})).await;
    let bodies: [&[u8]; 6] = [
        b"",
        b"{",
        b"null",
        b"[]",
        b"{\"direction\": 7}",
        b"\xff\xfe",
    ];
    for (method, path) in [
        (Method::PUT, format!("/api/v1/posts/{p}/vote")),
        (Method::POST, "/api/v1/votes/sort".to_string()),
        (Method::POST, "/api/v1/polls".to_string()),
        (Method::POST, "/api/v1/polls/1/votes".to_string()),
    ] {
        for body in bodies {
            let resp = alice
                .basic(s.req(method.clone(), &path))
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert!(
                resp.status().is_client_error(),
                "{method} {path}: {}",
                resp.status()
            );
        }
    }
    s.stop().await;
}
