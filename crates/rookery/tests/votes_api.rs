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

/// Polls GET `path` until `check` holds, for at most 10 seconds (events
/// usually arrive within milliseconds; the bound is for a loaded machine).
async fn eventually(s: &Server, path: &str, check: impl Fn(StatusCode, &Value) -> bool) {
    let started = Instant::now();
    loop {
        let (status, body) = send_json(s.req(Method::GET, path)).await;
        if check(status, &body) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not within 10 s: {status} {body}"
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
    eventually(&s, &format!("/api/v1/posts/{p}"), |_, b| {
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
    eventually(&s, &format!("/api/v1/posts/{p}/votes"), |status, _| {
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
    for bad in ["0", "101", "x", ""] {
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
    let resp = create(json!({"question": "tabs or spaces?", "options": ["tabs", "spaces"]}))
        .send()
        .await
        .unwrap();
    let location = resp.headers().get("location").cloned();
    let (status, poll) = common::json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{poll}");
    assert_eq!(
        location.and_then(|l| l.to_str().ok().map(String::from)),
        Some(format!("/api/v1/polls/{}", poll["id"].as_str().unwrap()))
    );
    assert_eq!(poll["author"], "alice");
    assert_eq!(
        poll["options"],
        json!([{"text": "tabs", "votes": 0}, {"text": "spaces", "votes": 0}])
    );
    assert_eq!(poll["total_votes"], 0);
    assert_eq!(poll["my_choice"], Value::Null);
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
    assert_eq!(after["my_choice"], 1);
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
    // `my_choice` is the caller's: null without credentials or a vote.
    assert_eq!(read["my_choice"], Value::Null);
    let path = format!("/api/v1/polls/{id}");
    let (_, as_bob) = send_json(bob.basic(s.req(Method::GET, &path))).await;
    assert_eq!(as_bob["my_choice"], 1);
    let (_, as_alice) = send_json(alice.basic(s.req(Method::GET, &path))).await;
    assert_eq!(as_alice["my_choice"], Value::Null);
    let (status, voted) = send_json(vote(&alice, json!({"choice": 0}))).await;
    assert_eq!(
        (status, &voted["my_choice"]),
        (StatusCode::CREATED, &json!(0))
    );
    let (_, as_alice) = send_json(alice.basic(s.req(Method::GET, &path))).await;
    assert_eq!(as_alice["my_choice"], 0);
    s.stop().await;
}

/// `GET /api/v1/votes/tallies?post_ids=`: tallies as `GET
/// /posts/{id}/votes` gives them, with the caller's votes, in the order
/// asked, each once; unknown posts left out.
#[tokio::test]
async fn tallies_of_several_posts() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let p1 = post(&s, &alice, json!({"text": "one"})).await;
    let p2 = post(&s, &alice, json!({"text": "two"})).await;
    let gone = post(&s, &alice, json!({"text": "gone"})).await;
    for (user, id, direction) in [
        (&alice, &p1, "up"),
        (&bob, &p1, "down"),
        (&bob, &p2, "up"),
        (&bob, &gone, "up"),
    ] {
        let (status, _) = send_json(
            user.basic(s.req(Method::PUT, &format!("/api/v1/posts/{id}/vote")))
                .json(&json!({"direction": direction})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let resp = alice
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{gone}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The votes service hears of the deletion.
    eventually(&s, &format!("/api/v1/posts/{gone}/votes"), |status, _| {
        status == StatusCode::NOT_FOUND
    })
    .await;

    let path = format!("/api/v1/votes/tallies?post_ids={p2},%20{gone},999999,{p1},{p2}");
    for (who, user) in [
        ("bob", Some(&bob)),
        ("alice", Some(&alice)),
        ("nobody", None),
    ] {
        let rb = s.req(Method::GET, &path);
        let rb = match user {
            Some(u) => u.basic(rb),
            None => rb,
        };
        let (status, body) = send_json(rb).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        let mut singles = Vec::new();
        for id in [&p2, &p1] {
            let rb = s.req(Method::GET, &format!("/api/v1/posts/{id}/votes"));
            let rb = match user {
                Some(u) => u.basic(rb),
                None => rb,
            };
            singles.push(send_json(rb).await.1);
        }
        assert_eq!(body, json!({"items": singles}), "{who}");
    }
    let (_, body) = send_json(bob.basic(s.req(Method::GET, &path))).await;
    assert_eq!(counts(&body["items"][0]), (1, 0, 1, json!("up")));
    assert_eq!(counts(&body["items"][1]), (1, 1, 0, json!("down")));

    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let (status, _) = send_json(s.req(
        Method::GET,
        &format!("/api/v1/votes/tallies?post_ids={}", hundred.join(",")),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        "".to_string(),
        "?post_ids=".into(),
        format!("?post_ids={p1},,{p2}"),
        format!("?post_ids={p1},x"),
        format!("?post_ids={},101", hundred.join(",")),
    ] {
        let body = expect(
            s.req(Method::GET, &format!("/api/v1/votes/tallies{bad}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], "post_ids", "{bad}: {body}");
    }
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

fn ids_of(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn likes_of_a_user() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let p1 = post(&s, &bob, json!({"text": "first"})).await;
    let p2 = post(
        &s,
        &bob,
        json!({"title": "a link", "community": "rust", "url": "https://example.com", "text": "body"}),
    )
    .await;
    let p3 = post(&s, &bob, json!({"text": "third"})).await;
    let p4 = post(&s, &bob, json!({"text": "disliked"})).await;
    let act = |method: Method, path: String| alice.basic(s.req(method, &path)).send();
    for p in [&p1, &p2, &p3] {
        assert_eq!(
            act(Method::POST, format!("/api/v1/posts/{p}/like"))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    act(Method::POST, format!("/api/v1/posts/{p4}/downvote"))
        .await
        .unwrap();

    // Most recent vote first; community posts are list items (no text, url).
    let (status, page) = send_json(s.req(Method::GET, "/api/v1/users/alice/likes")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids_of(&page), [p3.clone(), p2.clone(), p1.clone()]);
    assert_eq!(page["items"][0]["text"], "third");
    assert_eq!(page["items"][1]["title"], "a link");
    assert!(page["items"][1].get("text").is_none(), "{page}");
    assert_eq!(page["next_cursor"], Value::Null);
    // Usernames are case-insensitive, as everywhere.
    let (_, again) = send_json(s.req(Method::GET, "/api/v1/users/ALICE/likes")).await;
    assert_eq!(ids_of(&again), ids_of(&page));

    // Pages follow the cursor and the Link header.
    let resp = s
        .req(Method::GET, "/api/v1/users/alice/likes?limit=2")
        .send()
        .await
        .unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_string();
    assert!(link.ends_with("rel=\"next\""), "{link}");
    let (_, first) = common::json(resp).await;
    assert_eq!(ids_of(&first), [p3.clone(), p2.clone()]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = send_json(s.req(
        Method::GET,
        &format!("/api/v1/users/alice/likes?limit=2&cursor={cursor}"),
    ))
    .await;
    assert_eq!(ids_of(&second), vec![p1.clone()]);
    assert_eq!(second["next_cursor"], Value::Null);

    // Unliking removes it; liking again puts it first; a down vote is no like.
    act(Method::DELETE, format!("/api/v1/posts/{p3}/like"))
        .await
        .unwrap();
    act(Method::DELETE, format!("/api/v1/posts/{p1}/vote"))
        .await
        .unwrap();
    act(Method::POST, format!("/api/v1/posts/{p1}/upvote"))
        .await
        .unwrap();
    let (_, page) = send_json(s.req(Method::GET, "/api/v1/users/alice/likes")).await;
    assert_eq!(ids_of(&page), [p1.clone(), p2.clone()]);

    // A deleted post leaves the list.
    let status = bob
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{p2}")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually(&s, "/api/v1/users/alice/likes", |_, page| {
        ids_of(page) == [p1.clone()]
    })
    .await;

    // Someone who never voted has none; an account a moment old is known.
    let (status, page) = send_json(s.req(Method::GET, "/api/v1/users/bob/likes")).await;
    assert_eq!((status, page["items"].clone()), (StatusCode::OK, json!([])));
    s.user("newcomer").await;
    let (status, _) = send_json(s.req(Method::GET, "/api/v1/users/newcomer/likes")).await;
    assert_eq!(status, StatusCode::OK);

    // Unknown and deactivated accounts are 404; bad paging is 400.
    for unknown in ["nobody", "not%20a%20name", "x".repeat(40).as_str()] {
        expect(
            s.req(Method::GET, &format!("/api/v1/users/{unknown}/likes")),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    for bad in ["limit=0", "limit=101", "cursor=garbage", "n=x"] {
        expect(
            s.req(Method::GET, &format!("/api/v1/users/alice/likes?{bad}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
    }
    let status = alice
        .basic(s.req(Method::DELETE, "/api/v1/users/alice"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    eventually(&s, "/api/v1/users/alice/likes", |status, _| {
        status == StatusCode::NOT_FOUND
    })
    .await;
    s.stop().await;
}

#[tokio::test]
async fn karma_follows_votes() {
    let s = Server::embedded().await;
    let author = s.user("author").await;
    let voters = [s.user("v1").await, s.user("v2").await, s.user("v3").await];
    let p1 = post(&s, &author, json!({"text": "good"})).await;
    let p2 = post(&s, &author, json!({"text": "bad"})).await;
    let vote = |v: &User, p: &str, how: &str| {
        v.basic(s.req(Method::POST, &format!("/api/v1/posts/{p}/{how}")))
            .send()
    };
    for v in &voters {
        assert_eq!(
            vote(v, &p1, "upvote").await.unwrap().status(),
            StatusCode::OK
        );
    }
    vote(&voters[0], &p2, "downvote").await.unwrap();
    let karma_is = |k: i64| eventually(&s, "/api/v1/users/author", move |_, u| u["karma"] == k);
    karma_is(3 - 1).await;
    // Voters' own karma does not move.
    let (_, v1) = send_json(s.req(Method::GET, "/api/v1/users/v1")).await;
    assert_eq!(v1["karma"], 0);
    // Switching and removing votes move it; repeating does not.
    vote(&voters[1], &p1, "downvote").await.unwrap();
    vote(&voters[1], &p1, "downvote").await.unwrap();
    voters[0]
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{p2}/vote")))
        .send()
        .await
        .unwrap();
    karma_is(2 - 1).await;
    // Deleting a post keeps the karma it earned.
    author
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{p1}")))
        .send()
        .await
        .unwrap();
    eventually(&s, &format!("/api/v1/posts/{p1}/votes"), |status, _| {
        status == StatusCode::NOT_FOUND
    })
    .await;
    vote(&voters[2], &p2, "upvote").await.unwrap();
    karma_is(1 + 1).await;
    s.stop().await;
}

/// Replayed `vote.changed` events (as a relay that crashed between publishing
/// and marking would send again) are not counted twice.
#[tokio::test]
async fn karma_survives_replays() {
    let dir = tempfile::tempdir().unwrap();
    let users_url = rookery_kernel::db::sqlite_url_in(dir.path(), "users");
    let app = rookery::app::embedded(dir.path()).await.unwrap();
    let bus = app.bus.clone();
    let s = Server::serve(app, dir).await;
    let author = s.user("author").await;
    let voter = s.user("voter").await;
    let p = post(&s, &author, json!({"text": "replayed"})).await;
    let (_, tally) =
        send_json(voter.basic(s.req(Method::POST, &format!("/api/v1/posts/{p}/like")))).await;
    assert_eq!(tally["score"], 1);
    eventually(&s, "/api/v1/users/author", |_, u| u["karma"] == 1).await;
    let (_, tally) =
        send_json(voter.basic(s.req(Method::DELETE, &format!("/api/v1/posts/{p}/like")))).await;
    assert_eq!(tally["score"], 0);
    eventually(&s, "/api/v1/users/author", |_, u| u["karma"] == 0).await;
    // Both tallies again (the like's is older than the unlike's), under new
    // event ids and old ones alike.
    let users_db = sqlx::SqlitePool::connect(&users_url).await.unwrap();
    let (author_id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE username_key = 'author'")
        .fetch_one(&users_db)
        .await
        .unwrap();
    users_db.close().await;
    let replay = |event_id: i64, upvotes: i64, seq: i64| rookery_kernel::events::Event {
        id: event_id,
        topic: "vote.changed".into(),
        payload: json!({
            "post_id": p, "author_id": author_id.to_string(), "author": "author",
            "community": null, "upvotes": upvotes, "downvotes": 0, "score": upvotes, "seq": seq,
        }),
        created_at: 0,
    };
    for (event_id, upvotes, seq) in [(1, 1, 1), (2, 0, 2), (3, 1, 1), (3, 1, 1)] {
        bus.publish(&[replay(event_id, upvotes, seq)])
            .await
            .unwrap();
    }
    // publish returns once every consumer applied the events.
    let (_, user) = send_json(s.req(Method::GET, "/api/v1/users/author")).await;
    assert_eq!(user["karma"], 0);
    s.stop().await;
}

/// Found by schemathesis: a new poll's 201 had no `Location` (API.md: every
/// creating POST), and `{"choice": 1.0}`, an integer to JSON Schema, was a 400.
#[tokio::test]
async fn poll_location_and_integral_choices() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/polls"))
        .json(&json!({"question": "tea?", "options": ["yes", "no"]}))
        .send()
        .await
        .unwrap();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, poll) = common::json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{poll}");
    let id = poll["id"].as_str().unwrap();
    assert_eq!(location, Some(format!("/api/v1/polls/{id}")));
    let votes = format!("/api/v1/polls/{id}/votes");
    let vote = |body: &'static str| {
        alice
            .basic(s.req(Method::POST, &votes))
            .header("content-type", "application/json")
            .body(body)
    };
    for body in [
        r#"{"choice": 0.5}"#,
        r#"{"choice": "1"}"#,
        r#"{"choice": 2.0}"#,
    ] {
        expect(vote(body), StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    let (status, poll) = send_json(vote(r#"{"choice": 1.0}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{poll}");
    assert_eq!(poll["options"][1]["votes"], 1);
}
