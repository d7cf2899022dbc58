//! Negative and authorization tests: every protected route of API.md, through
//! the gateway on a real socket, refuses missing, wrong, revoked, deactivated
//! and malformed credentials with a JSON 401, and another user's valid
//! credentials cannot act on (or learn of) the first user's objects.
//!
//! The table of protected routes is checked against the generated OpenAPI
//! document, so a new protected route cannot escape these tests.
//!
//! Failed authentication is rate limited per client IP (100 per 15 minutes)
//! and per username (10). Each sweep of failures therefore comes from its own
//! loopback address (127.0.0.x) and wrong passwords are spread over several
//! accounts, so every answer here is the 401 under test, not a lockout's 429.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;
use common::{Server, User, expect, json, send_json};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// One protected operation: its OpenAPI path, the concrete path on the
/// fixture's objects, and a body that would succeed for their owner.
struct Op {
    method: Method,
    template: &'static str,
    path: String,
    body: Option<Value>,
}

impl Op {
    fn new(method: Method, template: &'static str, path: String, body: Option<Value>) -> Self {
        Self {
            method,
            template,
            path,
            body,
        }
    }

    fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Ids of alice's objects the operations aim at.
struct Ids {
    /// Alice's micro-post, upvoted by alice and bob.
    post: String,
    poll: String,
    /// Alice to bob, with quick replies; bob marked it a favorite.
    message: String,
}

/// Every protected method and path of API.md, aimed at alice's objects.
fn protected(ids: &Ids) -> Vec<Op> {
    use Method as M;
    let (p, poll, m) = (&ids.post, &ids.poll, &ids.message);
    vec![
        Op::new(
            M::DELETE,
            "/api/v1/auth/token",
            "/api/v1/auth/token".into(),
            None,
        ),
        Op::new(
            M::GET,
            "/api/v1/auth/whoami",
            "/api/v1/auth/whoami".into(),
            None,
        ),
        Op::new(
            M::PATCH,
            "/api/v1/users/{username}",
            "/api/v1/users/alice".into(),
            Some(
                json!({"bio": "changed", "email": "evil@example.com", "password": "new password 1"}),
            ),
        ),
        Op::new(
            M::DELETE,
            "/api/v1/users/{username}",
            "/api/v1/users/alice".into(),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/users/{username}/follow",
            "/api/v1/users/bob/follow".into(),
            None,
        ),
        Op::new(
            M::DELETE,
            "/api/v1/users/{username}/follow",
            "/api/v1/users/bob/follow".into(),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/users/{username}/block",
            "/api/v1/users/bob/block".into(),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/users/{username}/mute",
            "/api/v1/users/bob/mute".into(),
            None,
        ),
        Op::new(
            M::DELETE,
            "/api/v1/users/{username}/block",
            "/api/v1/users/bob/block".into(),
            None,
        ),
        Op::new(
            M::DELETE,
            "/api/v1/users/{username}/mute",
            "/api/v1/users/bob/mute".into(),
            None,
        ),
        Op::new(M::GET, "/api/v1/blocks", "/api/v1/blocks".into(), None),
        Op::new(M::GET, "/api/v1/mutes", "/api/v1/mutes".into(), None),
        Op::new(
            M::GET,
            "/api/v1/relationships",
            "/api/v1/relationships?usernames=bob".into(),
            None,
        ),
        Op::new(
            M::GET,
            "/api/v1/notifications",
            "/api/v1/notifications".into(),
            None,
        ),
        Op::new(
            M::GET,
            "/api/v1/notifications/unread_count",
            "/api/v1/notifications/unread_count".into(),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/notifications/read",
            "/api/v1/notifications/read".into(),
            Some(json!({})),
        ),
        Op::new(
            M::POST,
            "/api/v1/posts",
            "/api/v1/posts".into(),
            Some(json!({"text": "sneaky"})),
        ),
        Op::new(
            M::PATCH,
            "/api/v1/posts/{id}",
            format!("/api/v1/posts/{p}"),
            Some(json!({"text": "edited"})),
        ),
        Op::new(
            M::DELETE,
            "/api/v1/posts/{id}",
            format!("/api/v1/posts/{p}"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/posts/{id}/repost",
            format!("/api/v1/posts/{p}/repost"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/posts/{id}/replies",
            format!("/api/v1/posts/{p}/replies"),
            Some(json!({"text": "a reply"})),
        ),
        Op::new(
            M::GET,
            "/api/v1/timelines/home",
            "/api/v1/timelines/home".into(),
            None,
        ),
        Op::new(
            M::GET,
            "/api/v1/reposts",
            format!("/api/v1/reposts?of={p}"),
            None,
        ),
        Op::new(
            M::PUT,
            "/api/v1/posts/{id}/vote",
            format!("/api/v1/posts/{p}/vote"),
            Some(json!({"direction": "down"})),
        ),
        Op::new(
            M::DELETE,
            "/api/v1/posts/{id}/vote",
            format!("/api/v1/posts/{p}/vote"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/posts/{id}/upvote",
            format!("/api/v1/posts/{p}/upvote"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/posts/{id}/downvote",
            format!("/api/v1/posts/{p}/downvote"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/posts/{id}/like",
            format!("/api/v1/posts/{p}/like"),
            None,
        ),
        Op::new(
            M::DELETE,
            "/api/v1/posts/{id}/like",
            format!("/api/v1/posts/{p}/like"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/polls",
            "/api/v1/polls".into(),
            Some(json!({"question": "q?", "options": ["a", "b"]})),
        ),
        Op::new(
            M::POST,
            "/api/v1/polls/{id}/votes",
            format!("/api/v1/polls/{poll}/votes"),
            Some(json!({"choice": 0})),
        ),
        Op::new(
            M::POST,
            "/api/v1/messages",
            "/api/v1/messages".into(),
            Some(json!({"to": "bob", "text": "hello"})),
        ),
        Op::new(
            M::GET,
            "/api/v1/messages",
            "/api/v1/messages?box=all".into(),
            None,
        ),
        Op::new(
            M::GET,
            "/api/v1/messages/{id}",
            format!("/api/v1/messages/{m}"),
            None,
        ),
        Op::new(
            M::DELETE,
            "/api/v1/messages/{id}",
            format!("/api/v1/messages/{m}"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/messages/{id}/replies",
            format!("/api/v1/messages/{m}/replies"),
            Some(json!({"text": "a reply"})),
        ),
        Op::new(
            M::GET,
            "/api/v1/messages/{id}/replies",
            format!("/api/v1/messages/{m}/replies"),
            None,
        ),
        Op::new(
            M::POST,
            "/api/v1/messages/{id}/favorite",
            format!("/api/v1/messages/{m}/favorite"),
            None,
        ),
        Op::new(
            M::DELETE,
            "/api/v1/messages/{id}/favorite",
            format!("/api/v1/messages/{m}/favorite"),
            None,
        ),
    ]
}

/// Method and path of every operation the OpenAPI document marks as needing
/// credentials (a security requirement without the empty, anonymous one).
fn documented_protected() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(rookery::openapi::document()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op.get("security").and_then(Value::as_array) else {
                continue;
            };
            let anonymous_ok = security
                .iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()));
            if !security.is_empty() && !anonymous_ok {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_table_covers_every_protected_route_of_the_openapi_document() {
    let ids = Ids {
        post: "1".into(),
        poll: "2".into(),
        message: "3".into(),
    };
    let table: BTreeSet<(String, String)> = protected(&ids)
        .iter()
        .map(|op| (op.method.to_string(), op.template.to_string()))
        .collect();
    let documented = documented_protected();
    assert_eq!(
        table, documented,
        "the authorization table and the OpenAPI document disagree on protected routes"
    );
    for (_, template) in &table {
        assert!(
            rookery_gateway::ROUTES.iter().any(|(r, _)| r == template),
            "{template} is not routed by the gateway"
        );
    }
}

/// A client whose connections come from `127.0.0.{last}` (its own client IP
/// for the gateway's failure counts).
fn client_from(last: u8) -> Client {
    Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .build()
        .unwrap()
}

fn request(s: &Server, client: &Client, op: &Op) -> RequestBuilder {
    let rb = client.request(op.method.clone(), format!("{}{}", s.base, op.path));
    match &op.body {
        Some(body) => rb.json(body),
        None => rb,
    }
}

/// API.md's 401: JSON error `unauthorized` and `WWW-Authenticate` naming both schemes.
async fn expect_401(rb: RequestBuilder, what: &str) {
    let resp = rb.send().await.unwrap();
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
    assert_eq!(body["code"], "unauthorized", "{what}: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
    let www = www.unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
    assert_eq!(www, r#"Basic realm="rookery", Bearer"#, "{what}");
}

fn basic_header(username: &str, password: &str) -> String {
    let raw = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

async fn created(rb: RequestBuilder) -> Value {
    let (status, body) = send_json(rb).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn ok(rb: RequestBuilder) -> Value {
    let (status, body) = send_json(rb).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Alice, bob and mallory; alice's post (upvoted by alice and bob), community
/// post, poll (one vote) and message to bob (bob's favorite); bob follows alice.
async fn setup() -> (Server, [User; 3], Ids, String) {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let mallory = s.user("mallory").await;
    let post = created(
        alice
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "alice's own words"})),
    )
    .await;
    let post = post["id"].as_str().unwrap().to_string();
    let community = created(alice.basic(s.req(Method::POST, "/api/v1/posts")).json(
        &json!({"title": "alice's title", "community": "rust", "text": "long text", "url": "https://example.com/a"}),
    ))
    .await;
    let community = community["id"].as_str().unwrap().to_string();
    for user in [&alice, &bob] {
        ok(user
            .basic(s.req(Method::PUT, &format!("/api/v1/posts/{post}/vote")))
            .json(&json!({"direction": "up"})))
        .await;
    }
    let poll = created(
        alice
            .basic(s.req(Method::POST, "/api/v1/polls"))
            .json(&json!({"question": "tea or coffee?", "options": ["tea", "coffee"]})),
    )
    .await;
    let poll = poll["id"].as_str().unwrap().to_string();
    created(
        alice
            .basic(s.req(Method::POST, &format!("/api/v1/polls/{poll}/votes")))
            .json(&json!({"choice": 0})),
    )
    .await;
    let message = created(
        alice
            .basic(s.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "bob", "text": "secret plans", "quick_replies": ["yes", "no"]})),
    )
    .await;
    let message = message["id"].as_str().unwrap().to_string();
    ok(bob.basic(s.req(
        Method::POST,
        &format!("/api/v1/messages/{message}/favorite"),
    )))
    .await;
    created(bob.basic(s.req(Method::POST, "/api/v1/users/alice/follow"))).await;
    let ids = Ids {
        post,
        poll,
        message,
    };
    (s, [alice, bob, mallory], ids, community)
}

/// What alice and bob see of alice's objects, read back as their owners
/// (without eventually consistent counters, which may still be moving).
async fn snapshot(s: &Server, alice: &User, bob: &User, ids: &Ids, community: &str) -> Value {
    let get = |user: &User, path: String| ok(user.basic(s.req(Method::GET, &path)));
    let mut me = get(alice, "/api/v1/auth/whoami".into()).await;
    me.as_object_mut().unwrap().remove("karma");
    let mut posts = Vec::new();
    for id in [&ids.post, &community.to_string()] {
        let post = get(alice, format!("/api/v1/posts/{id}")).await;
        posts.push(json!({
            "post": [&post["author"], &post["text"], &post["title"], &post["url"], &post["edited_at"]],
            "history": get(alice, format!("/api/v1/posts/{id}/history")).await,
        }));
    }
    let ids_of = |page: Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    let names_of = |page: Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["username"].clone())
            .collect()
    };
    let m = &ids.message;
    json!({
        "alice": me,
        "posts": posts,
        "alice's timeline": ids_of(get(alice, "/api/v1/users/alice/posts".into()).await),
        "tally as alice": get(alice, format!("/api/v1/posts/{}/votes", ids.post)).await,
        "tally as bob": get(bob, format!("/api/v1/posts/{}/votes", ids.post)).await,
        "poll": get(alice, format!("/api/v1/polls/{}", ids.poll)).await,
        "message as alice": get(alice, format!("/api/v1/messages/{m}")).await,
        "message as bob": get(bob, format!("/api/v1/messages/{m}")).await,
        "replies as alice": get(alice, format!("/api/v1/messages/{m}/replies")).await,
        "replies as bob": get(bob, format!("/api/v1/messages/{m}/replies")).await,
        "alice's messages": ids_of(get(alice, "/api/v1/messages?box=all".into()).await),
        "bob's messages": ids_of(get(bob, "/api/v1/messages?box=all".into()).await),
        "alice's followers": names_of(get(alice, "/api/v1/users/alice/followers".into()).await),
        "alice follows": names_of(get(alice, "/api/v1/users/alice/following".into()).await),
    })
}

#[tokio::test]
async fn every_protected_route_refuses_bad_credentials_with_a_json_401() {
    let (s, [alice, bob, _], ids, community) = setup().await;
    let ops = protected(&ids);
    let before = snapshot(&s, &alice, &bob, &ids, &community).await;

    // No credentials; a client-supplied identity header does not count as any.
    for op in &ops {
        expect_401(
            request(&s, &s.client, op),
            &format!("{}, anonymous", op.label()),
        )
        .await;
        expect_401(
            request(&s, &s.client, op).header("x-rookery-identity", "alice"),
            &format!("{}, forged identity header", op.label()),
        )
        .await;
    }

    // Wrong passwords of real accounts (fewer than 10 per account: the
    // username lockout is users_api's subject), and an unknown account.
    let mut wrong = Vec::new();
    for i in 0..4 {
        wrong.push(s.user(&format!("wrong{i}")).await);
    }
    let from = client_from(2);
    for (i, op) in ops.iter().enumerate() {
        let user = &wrong[i % wrong.len()];
        expect_401(
            request(&s, &from, op).basic_auth(&user.name, Some("not the password")),
            &format!("{}, wrong password", op.label()),
        )
        .await;
        expect_401(
            request(&s, &from, op).basic_auth(format!("nobody{i}"), Some("whatever1")),
            &format!("{}, unknown account", op.label()),
        )
        .await;
    }

    // A revoked bearer token; another token of the same account still works.
    let revoked = s.token(&alice).await;
    let kept = s.token(&alice).await;
    let resp = s
        .req(Method::DELETE, "/api/v1/auth/token")
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let from = client_from(3);
    for op in &ops {
        expect_401(
            request(&s, &from, op).bearer_auth(&revoked),
            &format!("{}, revoked token", op.label()),
        )
        .await;
    }
    let me = ok(s.req(Method::GET, "/api/v1/auth/whoami").bearer_auth(&kept)).await;
    assert_eq!(me["username"], "alice");

    // Deactivated accounts: neither their tokens nor their passwords work.
    let mut gone = Vec::new();
    for i in 0..4 {
        let user = s.user(&format!("gone{i}")).await;
        let token = s.token(&user).await;
        let resp = user
            .basic(s.req(Method::DELETE, &format!("/api/v1/users/{}", user.name)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        gone.push((user, token));
    }
    let from = client_from(4);
    for (i, op) in ops.iter().enumerate() {
        let (user, token) = &gone[i % gone.len()];
        expect_401(
            request(&s, &from, op).bearer_auth(token),
            &format!("{}, token of a deactivated account", op.label()),
        )
        .await;
        expect_401(
            user.basic(request(&s, &from, op)),
            &format!("{}, password of a deactivated account", op.label()),
        )
        .await;
    }

    // Malformed Authorization headers: 401, never a 500. Each kind from its
    // own address (bearer failures count against the address).
    let mut tampered = kept.clone();
    let last = if tampered.pop() == Some('A') {
        'B'
    } else {
        'A'
    };
    tampered.push(last);
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let malformed: Vec<(&str, HeaderValue)> = vec![
        (
            "unknown scheme",
            HeaderValue::from_static("Digest username=\"alice\""),
        ),
        ("scheme alone", HeaderValue::from_static("Basic")),
        ("empty", HeaderValue::from_static("")),
        (
            "bad base64",
            HeaderValue::from_static("Basic !!!not*base64!!!"),
        ),
        (
            "no colon",
            HeaderValue::from_str(&format!("Basic {}", b64(b"alice"))).unwrap(),
        ),
        (
            "not UTF-8 inside",
            HeaderValue::from_str(&format!("Basic {}", b64(b"\xff\xfe:\xfd"))).unwrap(),
        ),
        (
            "not ASCII",
            HeaderValue::from_bytes(b"Basic \xe9t\xe9").unwrap(),
        ),
        ("garbage bearer", HeaderValue::from_static("Bearer garbage")),
        ("empty bearer", HeaderValue::from_static("Bearer ")),
        ("three dots", HeaderValue::from_static("Bearer a.b.c")),
        (
            "tampered token",
            HeaderValue::from_str(&format!("Bearer {tampered}")).unwrap(),
        ),
        (
            "huge bearer",
            HeaderValue::from_str(&format!("Bearer {}", "x".repeat(8000))).unwrap(),
        ),
        (
            "two credentials",
            HeaderValue::from_str(&format!(
                "{}, Bearer {kept}",
                basic_header("alice", &alice.password)
            ))
            .unwrap(),
        ),
    ];
    for (k, (kind, value)) in malformed.iter().enumerate() {
        let from = client_from(10 + k as u8);
        for op in &ops {
            expect_401(
                request(&s, &from, op).header(AUTHORIZATION, value.clone()),
                &format!("{}, {kind} Authorization", op.label()),
            )
            .await;
        }
    }

    // Nothing of alice's changed, and her own credentials still work.
    assert_eq!(snapshot(&s, &alice, &bob, &ids, &community).await, before);
    s.stop().await;
}

/// Mallory, signed in as herself (Bearer, then Basic), on alice's objects:
/// every attempt is refused as API.md says, and nothing of alice's changes.
#[tokio::test]
async fn another_users_credentials_cannot_touch_or_see_alices_objects() {
    let (s, [alice, bob, mallory], ids, community) = setup().await;
    // A deleted post of alice's: gone for everyone (404 before 403).
    let deleted = created(
        alice
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "soon gone"})),
    )
    .await;
    let deleted = deleted["id"].as_str().unwrap().to_string();
    let resp = alice
        .basic(s.req(Method::DELETE, &format!("/api/v1/posts/{deleted}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let before = snapshot(&s, &alice, &bob, &ids, &community).await;

    let token = s.token(&mallory).await;
    let as_bearer = |rb: RequestBuilder| rb.bearer_auth(&token);
    let as_basic = |rb: RequestBuilder| mallory.basic(rb);
    let modes: [(&str, &dyn Fn(RequestBuilder) -> RequestBuilder); 2] =
        [("bearer", &as_bearer), ("basic", &as_basic)];
    for (mode, auth) in modes {
        let m = |method: Method, path: String| auth(s.req(method, &path));
        // Posts: 403 for the author's only routes (API.md), 404 once deleted.
        for (id, edit) in [
            (&ids.post, json!({"text": "mallory was here"})),
            (
                &community,
                json!({"title": "mallory was here", "url": "https://evil.example"}),
            ),
        ] {
            let path = format!("/api/v1/posts/{id}");
            expect(
                m(Method::PATCH, path.clone()).json(&edit),
                StatusCode::FORBIDDEN,
                "forbidden",
            )
            .await;
            expect(m(Method::DELETE, path), StatusCode::FORBIDDEN, "forbidden").await;
        }
        let path = format!("/api/v1/posts/{deleted}");
        expect(
            m(Method::PATCH, path.clone()).json(&json!({"text": "x"})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        expect(m(Method::DELETE, path), StatusCode::NOT_FOUND, "not_found").await;

        // Alice's account: 403, whatever the spelling of her name.
        for name in ["alice", "ALICE", " alice"] {
            let path = format!("/api/v1/users/{name}");
            for body in [
                json!({"bio": "pwned"}),
                json!({"email": "mallory2@example.com"}),
                json!({"password": "mallory's choice"}),
            ] {
                expect(
                    m(Method::PATCH, path.clone()).json(&body),
                    StatusCode::FORBIDDEN,
                    "forbidden",
                )
                .await;
            }
            expect(m(Method::DELETE, path), StatusCode::FORBIDDEN, "forbidden").await;
        }
        // The public view of alice, never her private one.
        let view = ok(m(Method::GET, "/api/v1/users/alice".into())).await;
        assert!(view.get("email").is_none(), "{mode}: {view}");
        let me = ok(m(Method::GET, "/api/v1/auth/whoami".into())).await;
        assert_eq!(me["username"], "mallory");

        // Messages: someone else's message does not exist for her. Each
        // answer is exactly the one for an id that was never used, so not
        // even the status tells her it is there.
        let message_ops = |id: &str| -> Vec<(Method, String, Option<Value>)> {
            let one = format!("/api/v1/messages/{id}");
            vec![
                (Method::GET, one.clone(), None),
                (Method::DELETE, one.clone(), None),
                (Method::POST, format!("{one}/favorite"), None),
                (Method::DELETE, format!("{one}/favorite"), None),
                (Method::GET, format!("{one}/replies"), None),
                (Method::GET, format!("{one}/replies?limit=1"), None),
                (
                    Method::POST,
                    format!("{one}/replies"),
                    Some(json!({"text": "hi bob"})),
                ),
                (
                    Method::POST,
                    format!("{one}/replies"),
                    Some(json!({"quick_reply": 0})),
                ),
                (
                    Method::POST,
                    format!("{one}/replies"),
                    Some(json!({"quick_reply": 1})),
                ),
                (
                    Method::POST,
                    format!("{one}/replies"),
                    Some(json!({"quick_reply": 9})),
                ),
                (
                    Method::POST,
                    format!("{one}/replies"),
                    Some(json!({"quick_reply": -1})),
                ),
            ]
        };
        let unused = "1";
        for ((method, path, body), (_, unused_path, _)) in message_ops(&ids.message)
            .into_iter()
            .zip(message_ops(unused))
        {
            let send = |path: &str| {
                let rb = m(method.clone(), path.to_string());
                match &body {
                    Some(b) => rb.json(b),
                    None => rb,
                }
            };
            let (status, answer) = send_json(send(&path)).await;
            let (_, never) = send_json(send(&unused_path)).await;
            let what = format!("{mode}: {method} {path} {body:?}");
            assert_eq!(status, StatusCode::NOT_FOUND, "{what}: {answer}");
            assert_eq!(answer, never, "{what}");
        }
        for query in ["box=inbox", "box=sent", "box=all", "box=all&favorite=true"] {
            let page = ok(m(Method::GET, format!("/api/v1/messages?{query}"))).await;
            assert_eq!(page["items"], json!([]), "{mode} {query}");
        }

        // Removing "her" vote, like or follow touches only hers.
        for path in [
            format!("/api/v1/posts/{}/vote", ids.post),
            format!("/api/v1/posts/{}/like", ids.post),
        ] {
            let tally = ok(m(Method::DELETE, path)).await;
            assert_eq!(tally["upvotes"], 2, "{tally}");
            assert_eq!(tally["my_vote"], Value::Null, "{tally}");
        }
        let resp = m(Method::DELETE, "/api/v1/users/alice/follow".into())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }

    // Her logout ends her token only.
    let alice_token = s.token(&alice).await;
    let resp = s
        .req(Method::DELETE, "/api/v1/auth/token")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_401(
        s.req(Method::GET, "/api/v1/auth/whoami")
            .bearer_auth(&token),
        "mallory's revoked token",
    )
    .await;
    let me = ok(s
        .req(Method::GET, "/api/v1/auth/whoami")
        .bearer_auth(&alice_token))
    .await;
    assert_eq!(me["username"], "alice");

    // Nothing of alice's changed: read back as the owners.
    assert_eq!(snapshot(&s, &alice, &bob, &ids, &community).await, before);
    // Her password is still hers (an uncached check: a fresh client's first
    // request carries no session, but the credential cache is server-side,
    // so ask for a token, which always verifies the password).
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .json(&json!({"username": "alice", "password": alice.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .json(&json!({"username": "alice", "password": "mallory's choice"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

/// API.md: "after 10 failures for one username within 15 minutes, further
/// attempts get 429 ... (a success before the limit resets the count)" — also
/// when the success is answered from the credential cache.
#[tokio::test]
async fn a_cached_success_resets_the_failure_count() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let whoami = |rb: RequestBuilder| async move { rb.send().await.unwrap().status() };
    // Her client signs in once: the credentials are cached from here on.
    assert_eq!(
        whoami(alice.basic(s.req(Method::GET, "/api/v1/auth/whoami"))).await,
        StatusCode::OK
    );
    for round in 0..3 {
        for _ in 0..9 {
            let status = whoami(
                s.req(Method::GET, "/api/v1/auth/whoami")
                    .basic_auth("alice", Some("a guess")),
            )
            .await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "round {round}");
        }
        let status = whoami(alice.basic(s.req(Method::GET, "/api/v1/auth/whoami"))).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "round {round}: the success should reset the count"
        );
    }
    s.stop().await;
}
