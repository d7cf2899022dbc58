//! Blocks enforced by the services that replicate them (votes, messages)
//! through the gateway of `rookery serve`: in force as soon as the block
//! request has answered, both ways, and lifted by an unblock.

mod common;

use common::{Server, User, expect, send_json};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn post_of(s: &Server, author: &User, text: &str) -> String {
    let (status, body) = send_json(
        author
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .json(&json!({ "text": text })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn relation(s: &Server, who: &User, method: Method, path: &str, status: StatusCode) {
    let resp = who.basic(s.req(method, path)).send().await.unwrap();
    assert_eq!(resp.status(), status, "{path}");
}

/// What the blocked and the blocker may still do toward each other.
async fn answers(s: &Server, from: &User, to: &User, post_of_to: &str) -> [StatusCode; 3] {
    let vote = from
        .basic(s.req(Method::POST, &format!("/api/v1/posts/{post_of_to}/like")))
        .send()
        .await
        .unwrap()
        .status();
    let message = from
        .basic(s.req(Method::POST, "/api/v1/messages"))
        .json(&json!({"to": to.name, "text": "hello"}))
        .send()
        .await
        .unwrap()
        .status();
    let vote_put = from
        .basic(s.req(Method::PUT, &format!("/api/v1/posts/{post_of_to}/vote")))
        .json(&json!({"direction": "down"}))
        .send()
        .await
        .unwrap()
        .status();
    [vote, message, vote_put]
}

#[tokio::test]
async fn a_block_stops_votes_and_messages_both_ways_at_once() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let by_alice = post_of(&s, &alice, "alice writes").await;
    let by_bob = post_of(&s, &bob, "bob writes").await;

    // Before: everything works (a message first, to reply to later).
    let (status, first) = send_json(
        bob.basic(s.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "alice", "text": "hi alice"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["id"].as_str().unwrap().to_string();
    assert_eq!(
        answers(&s, &bob, &alice, &by_alice).await,
        [StatusCode::OK, StatusCode::CREATED, StatusCode::OK]
    );

    relation(
        &s,
        &alice,
        Method::POST,
        "/api/v1/users/bob/block",
        StatusCode::CREATED,
    )
    .await;
    // No waiting: the answer came after votes and messages applied the block.
    let blocked = [StatusCode::FORBIDDEN; 3];
    assert_eq!(answers(&s, &bob, &alice, &by_alice).await, blocked);
    assert_eq!(answers(&s, &alice, &bob, &by_bob).await, blocked);
    expect(
        bob.basic(s.req(Method::POST, &format!("/api/v1/posts/{by_alice}/upvote"))),
        StatusCode::FORBIDDEN,
        "blocked",
    )
    .await;
    expect(
        bob.basic(s.req(Method::POST, &format!("/api/v1/messages/{first}/replies")))
            .json(&json!({"text": "please"})),
        StatusCode::FORBIDDEN,
        "blocked",
    )
    .await;
    // Removing one's own earlier vote is still allowed.
    let (status, tally) =
        send_json(bob.basic(s.req(Method::DELETE, &format!("/api/v1/posts/{by_alice}/vote"))))
            .await;
    assert_eq!(
        (status, tally["my_vote"].clone()),
        (StatusCode::OK, json!(null))
    );
    // Nobody else is affected.
    assert_eq!(
        answers(&s, &carol, &alice, &by_alice).await,
        [StatusCode::OK, StatusCode::CREATED, StatusCode::OK]
    );
    // A mute is no block.
    relation(
        &s,
        &alice,
        Method::POST,
        "/api/v1/users/carol/mute",
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        answers(&s, &carol, &alice, &by_alice).await,
        [StatusCode::OK, StatusCode::CREATED, StatusCode::OK]
    );

    relation(
        &s,
        &alice,
        Method::DELETE,
        "/api/v1/users/bob/block",
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        answers(&s, &bob, &alice, &by_alice).await,
        [StatusCode::OK, StatusCode::CREATED, StatusCode::OK]
    );
    assert_eq!(
        answers(&s, &alice, &bob, &by_bob).await,
        [StatusCode::OK, StatusCode::CREATED, StatusCode::OK]
    );
    s.stop().await;
}
