//! Blocks and mutes through the gateway, on a real socket.

mod common;

use common::{Server, expect, json, send_json};
use reqwest::{Method, StatusCode};
use serde_json::Value;

fn names(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

async fn counts(s: &Server, name: &str) -> (i64, i64) {
    let (status, body) = send_json(s.req(Method::GET, &format!("/api/v1/users/{name}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (
        body["followers_count"].as_i64().unwrap(),
        body["following_count"].as_i64().unwrap(),
    )
}

#[tokio::test]
async fn block_unblock_and_what_a_block_refuses() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    for (who, whom) in [(&alice, "bob"), (&bob, "alice"), (&carol, "bob")] {
        let resp = who
            .basic(s.req(Method::POST, &format!("/api/v1/users/{whom}/follow")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    assert_eq!(counts(&s, "bob").await, (2, 1));

    // Without credentials: 401 on every route.
    for (method, path) in [
        (Method::POST, "/api/v1/users/bob/block"),
        (Method::DELETE, "/api/v1/users/bob/block"),
        (Method::POST, "/api/v1/users/bob/mute"),
        (Method::DELETE, "/api/v1/users/bob/mute"),
        (Method::GET, "/api/v1/blocks"),
        (Method::GET, "/api/v1/mutes"),
    ] {
        expect(
            s.req(method, path),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }

    // A new block: 201, the target's public view with the follows gone both ways.
    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/users/BOB/block"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/api/v1/blocks");
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["username"], "bob");
    assert!(body.get("email").is_none(), "{body}");
    assert_eq!(
        (
            body["followers_count"].as_i64(),
            body["following_count"].as_i64()
        ),
        (Some(1), Some(0))
    );
    assert_eq!(counts(&s, "alice").await, (0, 0));
    // Again: 200, nothing changes.
    let (status, body) =
        send_json(alice.basic(s.req(Method::POST, "/api/v1/users/bob/block"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["username"], "bob");

    // Following is refused both ways while the block lasts.
    expect(
        bob.basic(s.req(Method::POST, "/api/v1/users/alice/follow")),
        StatusCode::FORBIDDEN,
        "blocked",
    )
    .await;
    expect(
        alice.basic(s.req(Method::POST, "/api/v1/users/bob/follow")),
        StatusCode::FORBIDDEN,
        "blocked",
    )
    .await;
    // Others are not affected.
    let resp = carol
        .basic(s.req(Method::POST, "/api/v1/users/alice/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Errors: yourself, unknown, deactivated.
    expect(
        alice.basic(s.req(Method::POST, "/api/v1/users/alice/block")),
        StatusCode::CONFLICT,
        "self_block",
    )
    .await;
    for method in [Method::POST, Method::DELETE] {
        expect(
            alice.basic(s.req(method, "/api/v1/users/ghost/block")),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let dave = s.user("dave").await;
    let resp = dave
        .basic(s.req(Method::DELETE, "/api/v1/users/dave"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect(
        alice.basic(s.req(Method::POST, "/api/v1/users/dave/block")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Blocks are private: not in public views, and /blocks is the caller's own.
    let (_, list) = send_json(alice.basic(s.req(Method::GET, "/api/v1/blocks"))).await;
    assert_eq!(names(&list), ["bob"]);
    assert!(list["next_cursor"].is_null());
    let (_, theirs) = send_json(bob.basic(s.req(Method::GET, "/api/v1/blocks"))).await;
    assert_eq!(names(&theirs), Vec::<String>::new());
    let (_, carols) = send_json(carol.basic(s.req(Method::GET, "/api/v1/blocks"))).await;
    assert_eq!(names(&carols), Vec::<String>::new());
    let (_, profile) = send_json(carol.basic(s.req(Method::GET, "/api/v1/users/alice"))).await;
    let text = profile.to_string();
    assert!(!text.contains("block") && !text.contains("mute"), "{text}");

    // Unblock: 204, also when not blocked; following works again.
    for _ in 0..2 {
        let resp = alice
            .basic(s.req(Method::DELETE, "/api/v1/users/bob/block"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let (_, list) = send_json(alice.basic(s.req(Method::GET, "/api/v1/blocks"))).await;
    assert!(names(&list).is_empty());
    let resp = bob
        .basic(s.req(Method::POST, "/api/v1/users/alice/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // The one blocked cannot follow the blocker either.
    let resp = bob
        .basic(s.req(Method::POST, "/api/v1/users/carol/block"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    expect(
        carol.basic(s.req(Method::POST, "/api/v1/users/bob/follow")),
        StatusCode::FORBIDDEN,
        "blocked",
    )
    .await;
    // carol followed bob before: the block removed it.
    assert_eq!(counts(&s, "carol").await.1, 1);
    s.stop().await;
}

#[tokio::test]
async fn mutes_and_lists() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let others = ["m1", "m2", "m3"];
    for name in others {
        s.user(name).await;
    }
    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/users/m1/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    for name in others {
        let resp = alice
            .basic(s.req(Method::POST, &format!("/api/v1/users/{name}/mute")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["location"], "/api/v1/mutes");
        let (status, body) = json(resp).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["username"], name);
    }
    let (status, _) = send_json(alice.basic(s.req(Method::POST, "/api/v1/users/m2/mute"))).await;
    assert_eq!(status, StatusCode::OK);
    expect(
        alice.basic(s.req(Method::POST, "/api/v1/users/alice/mute")),
        StatusCode::CONFLICT,
        "self_mute",
    )
    .await;
    for method in [Method::POST, Method::DELETE] {
        expect(
            alice.basic(s.req(method, "/api/v1/users/ghost/mute")),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // A mute removes no follow and refuses nothing.
    assert_eq!(counts(&s, "m1").await, (1, 0));
    let m1 = common::User {
        name: "m1".into(),
        password: common::password("m1"),
    };
    let resp = m1
        .basic(s.req(Method::POST, "/api/v1/users/alice/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    // Most recent first, in pages.
    let (_, page1) = send_json(alice.basic(s.req(Method::GET, "/api/v1/mutes?limit=2"))).await;
    assert_eq!(names(&page1), ["m3", "m2"]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = send_json(alice.basic(s.req(
        Method::GET,
        &format!("/api/v1/mutes?limit=2&cursor={cursor}"),
    )))
    .await;
    assert_eq!(names(&page2), ["m1"]);
    assert!(page2["next_cursor"].is_null());
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=%21%21"] {
        expect(
            alice.basic(s.req(Method::GET, &format!("/api/v1/mutes?{bad}"))),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
    }
    // Only the caller's own; mutes are not blocks.
    let (_, theirs) = send_json(m1.basic(s.req(Method::GET, "/api/v1/mutes"))).await;
    assert!(names(&theirs).is_empty());
    let (_, blocks) = send_json(alice.basic(s.req(Method::GET, "/api/v1/blocks"))).await;
    assert!(names(&blocks).is_empty());

    for _ in 0..2 {
        let resp = alice
            .basic(s.req(Method::DELETE, "/api/v1/users/m2/mute"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let (_, list) = send_json(alice.basic(s.req(Method::GET, "/api/v1/mutes"))).await;
    assert_eq!(names(&list), ["m3", "m1"]);
    s.stop().await;
}
