//! Tokens issued for OAuth scopes: one without `write` (nor any
//! `write:...`) is read-only on the whole native API. The gateway refuses
//! its other requests with 403 `insufficient_scope`, in `rookery serve` and
//! in front of HTTP instances alike; logging out still works.

mod common;

use std::collections::HashMap;

use common::{Server, User, expect, password, send_json};
use reqwest::{Method, RequestBuilder, StatusCode};
use rookery_kernel::secret::Secret;
use serde_json::{Value, json};

async fn scoped_token(s: &Server, user: &User, scope: Option<&str>) -> String {
    let mut body = json!({"username": user.name, "password": user.password});
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    let (status, tok) = send_json(s.req(Method::POST, "/api/v1/auth/token").json(&body)).await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    tok["access_token"].as_str().unwrap().to_string()
}

async fn insufficient_scope(rb: RequestBuilder, what: &str) {
    let body = expect(rb, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {body}"
    );
}

/// Every kind of write, aimed at real objects (each would succeed with a
/// full-access token).
fn writes(post: &str, poll: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/api/v1/posts".into(),
            Some(json!({"text": "hi"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/posts/{post}"),
            Some(json!({"text": "edited"})),
        ),
        (Method::DELETE, format!("/api/v1/posts/{post}"), None),
        (Method::POST, format!("/api/v1/posts/{post}/repost"), None),
        (
            Method::POST,
            format!("/api/v1/posts/{post}/replies"),
            Some(json!({"text": "re"})),
        ),
        (
            Method::PUT,
            format!("/api/v1/posts/{post}/vote"),
            Some(json!({"direction": "up"})),
        ),
        (Method::DELETE, format!("/api/v1/posts/{post}/vote"), None),
        (Method::POST, format!("/api/v1/posts/{post}/like"), None),
        (
            Method::POST,
            "/api/v1/polls".into(),
            Some(json!({"question": "q?", "options": ["a", "b"]})),
        ),
        (
            Method::POST,
            format!("/api/v1/polls/{poll}/votes"),
            Some(json!({"choice": 0})),
        ),
        (Method::POST, "/api/v1/users/bob/follow".into(), None),
        (Method::DELETE, "/api/v1/users/bob/follow".into(), None),
        (Method::POST, "/api/v1/users/bob/block".into(), None),
        (Method::POST, "/api/v1/users/bob/mute".into(), None),
        (
            Method::PATCH,
            "/api/v1/users/alice".into(),
            Some(json!({"bio": "changed"})),
        ),
        (Method::DELETE, "/api/v1/users/alice".into(), None),
        (
            Method::POST,
            "/api/v1/messages".into(),
            Some(json!({"to": "bob", "text": "hi"})),
        ),
        (
            Method::POST,
            "/api/v1/notifications/read".into(),
            Some(json!({})),
        ),
    ]
}

#[tokio::test]
async fn read_only_tokens_cannot_write_in_process() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    s.user("bob").await;
    let (_, post) = send_json(
        alice
            .basic(s.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "mine"})),
    )
    .await;
    let post = post["id"].as_str().unwrap().to_string();
    let (_, poll) = send_json(
        alice
            .basic(s.req(Method::POST, "/api/v1/polls"))
            .json(&json!({"question": "tea?", "options": ["yes", "no"]})),
    )
    .await;
    let poll = poll["id"].as_str().unwrap().to_string();

    for scope in ["read", "read push", "read:statuses admin:read"] {
        let token = scoped_token(&s, &alice, Some(scope)).await;
        // Reads work.
        for path in [
            "/api/v1/auth/whoami".to_string(),
            "/api/v1/timelines/home".into(),
            format!("/api/v1/posts/{post}"),
            "/api/v1/notifications".into(),
            "/api/v1/messages".into(),
        ] {
            let resp = s
                .req(Method::GET, &path)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{scope}: GET {path}");
        }
        let resp = s
            .req(Method::HEAD, "/api/v1/auth/whoami")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_ne!(resp.status(), StatusCode::FORBIDDEN, "{scope}: HEAD");
        // Writes do not, and change nothing.
        for (method, path, body) in writes(&post, &poll) {
            let rb = s.req(method.clone(), &path).bearer_auth(&token);
            let rb = match body {
                Some(b) => rb.json(&b),
                None => rb,
            };
            insufficient_scope(rb, &format!("{scope}: {method} {path}")).await;
        }
        // A read-only token cannot be traded for a full one either.
        insufficient_scope(
            s.req(Method::POST, "/api/v1/auth/token")
                .bearer_auth(&token),
            "token exchange",
        )
        .await;
        // Logging out is allowed: the token ends.
        let resp = s
            .req(Method::DELETE, "/api/v1/auth/token")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT, "{scope}: logout");
        expect(
            s.req(Method::GET, "/api/v1/auth/whoami")
                .bearer_auth(&token),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    // Bad credentials are still a 401, not a 403.
    expect(
        s.req(Method::POST, "/api/v1/posts")
            .bearer_auth("garbage")
            .json(&json!({"text": "x"})),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let (status, still) = send_json(s.req(Method::GET, &format!("/api/v1/posts/{post}"))).await;
    assert_eq!((status, &still["text"]), (StatusCode::OK, &json!("mine")));
    let (_, me) = send_json(alice.basic(s.req(Method::GET, "/api/v1/auth/whoami"))).await;
    assert_eq!(me["bio"], "");

    // A write scope, any `write:...`, or no scope at all: writes work.
    for scope in [Some("read write"), Some("write:statuses"), None] {
        let token = scoped_token(&s, &alice, scope).await;
        let (status, body) = send_json(
            s.req(Method::POST, "/api/v1/posts")
                .bearer_auth(&token)
                .json(&json!({"text": "allowed"})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{scope:?}: {body}");
    }
    // Basic credentials have no scope.
    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    s.stop().await;
}

async fn pg_schema_url(base: &str) -> (String, sqlx::PgPool, String) {
    let admin = sqlx::PgPool::connect(base).await.unwrap();
    let schema = format!("t_{:016x}", rand::random::<u64>());
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        admin,
        schema,
    )
}

/// Scaled out: users instances on PostgreSQL behind a gateway that reaches
/// them over HTTP (and keeps verified identities for a while): the same
/// refusals, also when the identity comes from the gateway's cache, and
/// before any instance of the route's service is asked.
#[tokio::test]
async fn read_only_tokens_cannot_write_through_an_http_gateway() {
    let Ok(base) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
        return;
    };
    let (url, admin, schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let users = Server::serve(
        rookery::app::users_instance(&url, &secret).await.unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let upstreams = HashMap::from([("users".to_string(), vec![users.base.clone()])]);
    let gw = Server::serve(
        rookery::app::gateway_only(&upstreams).unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let alice = gw.user("alice").await;
    gw.user("bob").await;
    let read = scoped_token(&gw, &alice, Some("read push")).await;
    for _ in 0..2 {
        let (status, me) = send_json(
            gw.req(Method::GET, "/api/v1/auth/whoami")
                .bearer_auth(&read),
        )
        .await;
        assert_eq!((status, &me["username"]), (StatusCode::OK, &json!("alice")));
        insufficient_scope(
            gw.req(Method::POST, "/api/v1/users/bob/follow")
                .bearer_auth(&read),
            "follow",
        )
        .await;
        insufficient_scope(
            gw.req(Method::PATCH, "/api/v1/users/alice")
                .bearer_auth(&read)
                .json(&json!({"bio": "x"})),
            "profile",
        )
        .await;
        // No posts instance runs: the refusal comes from the gateway itself.
        insufficient_scope(
            gw.req(Method::POST, "/api/v1/posts")
                .bearer_auth(&read)
                .json(&json!({"text": "x"})),
            "post",
        )
        .await;
    }
    let (_, bob) = send_json(gw.req(Method::GET, "/api/v1/users/bob")).await;
    assert_eq!(bob["followers_count"], 0);
    let write = scoped_token(&gw, &alice, Some("read write")).await;
    let resp = gw
        .req(Method::POST, "/api/v1/users/bob/follow")
        .bearer_auth(&write)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    // The email works as the login here too.
    let (status, tok) = send_json(gw.req(Method::POST, "/api/v1/auth/token").json(
        &json!({"username": "Alice@Example.com", "password": password("alice"), "scope": "read"}),
    ))
    .await;
    assert_eq!((status, &tok["scope"]), (StatusCode::OK, &json!("read")));
    let resp = gw
        .req(Method::DELETE, "/api/v1/auth/token")
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    gw.stop().await;
    users.stop().await;
    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await;
}
