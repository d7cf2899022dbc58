//! Scaled out: service instances on PostgreSQL, each on its own socket,
//! behind a gateway that reaches them over HTTP. Skipped without
//! `ROOKERY_TEST_POSTGRES_URL`.

mod common;

use std::collections::HashMap;

use common::{Server, expect_error, send_json};
use reqwest::{Method, StatusCode};
use rookery_kernel::secret::Secret;
use serde_json::json;

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

#[tokio::test]
async fn users_instances_on_postgres_behind_an_http_gateway() {
    let Ok(base) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
        return;
    };
    let (url, admin, schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let one = Server::serve(
        rookery::app::users_instance(&url, &secret).await.unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let two = Server::serve(
        rookery::app::users_instance(&url, &secret).await.unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let upstreams = HashMap::from([(
        "users".to_string(),
        vec![one.base.clone(), two.base.clone()],
    )]);
    let gw = Server::serve(
        rookery::app::gateway_only(&upstreams).unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;

    let alice = gw.user("alice").await;
    let bob = gw.user("bob").await;
    expect_error(
        gw.register("ALICE").await,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
    // A token issued by one instance works on both (the gateway spreads requests over them).
    let token = gw.token(&alice).await;
    for _ in 0..4 {
        let resp = gw
            .req(Method::GET, "/api/v1/auth/whoami")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = bob
            .basic(gw.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let resp = alice
        .basic(gw.req(Method::POST, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (_, followers) = send_json(gw.req(Method::GET, "/api/v1/users/bob/followers")).await;
    assert_eq!(followers["items"][0]["username"], "alice");

    // Logout on one instance is seen by the other at once.
    let resp = gw
        .req(Method::DELETE, "/api/v1/auth/token")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for _ in 0..2 {
        let resp = gw
            .req(Method::GET, "/api/v1/auth/whoami")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // A password change on one instance kills cached Basic credentials on both.
    let resp = bob
        .basic(gw.req(Method::PATCH, "/api/v1/users/bob"))
        .json(&json!({"password": "another password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for _ in 0..2 {
        let resp = bob
            .basic(gw.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }

    // One instance goes away: reads keep working on the other.
    one.stop().await;
    for _ in 0..4 {
        let resp = gw
            .req(Method::GET, "/api/v1/users/alice")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    gw.stop().await;
    two.stop().await;
    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await;
}

#[tokio::test]
async fn posts_instances_on_postgres_behind_an_http_gateway() {
    let Ok(base) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
        return;
    };
    let (users_url, admin, users_schema) = pg_schema_url(&base).await;
    let (posts_url, _, posts_schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let serve = |app| async { Server::serve(app, tempfile::tempdir().unwrap()).await };
    let users = serve(
        rookery::app::users_instance(&users_url, &secret)
            .await
            .unwrap(),
    )
    .await;
    let posts_a = serve(
        rookery::app::posts_instance(&posts_url, &secret, &[])
            .await
            .unwrap(),
    )
    .await;
    let posts_b = serve(
        rookery::app::posts_instance(&posts_url, &secret, &[])
            .await
            .unwrap(),
    )
    .await;
    let upstreams = HashMap::from([
        ("users".to_string(), vec![users.base.clone()]),
        (
            "posts".to_string(),
            vec![posts_a.base.clone(), posts_b.base.clone()],
        ),
    ]);
    let gw = serve(rookery::app::gateway_only(&upstreams).unwrap()).await;

    let alice = gw.user("alice").await;
    let bob = gw.user("bob").await;
    // Creates land on either instance; idempotency holds across them.
    let mut ids = Vec::new();
    for i in 0..4 {
        let (status, p) = send_json(
            alice
                .basic(gw.req(Method::POST, "/api/v1/posts"))
                .header("idempotency-key", format!("k{}", i / 2))
                .json(&json!({"text": format!("post {i}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        ids.push(p["id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[2], ids[3]);
    assert_ne!(ids[0], ids[2]);
    let (_, reply) = send_json(
        bob.basic(gw.req(Method::POST, &format!("/api/v1/posts/{}/replies", ids[0])))
            .json(&json!({"text": "hi"})),
    )
    .await;
    assert_eq!(reply["in_reply_to"], ids[0].as_str());
    let (_, listed) = send_json(gw.req(Method::GET, "/api/v1/users/alice/posts")).await;
    let listed: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[0].as_str()]);
    expect_error(
        bob.basic(gw.req(Method::DELETE, &format!("/api/v1/posts/{}", ids[0])))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // An edit or a delete through whichever instance the gateway picks is
    // what both instances serve at once (instances keep no copies of posts,
    // docs/architecture.md: the bound on staleness is zero).
    let path = format!("/api/v1/posts/{}", ids[2]);
    let (status, edited) = send_json(
        alice
            .basic(gw.req(Method::PATCH, &path))
            .json(&json!({"text": "post 2, edited"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    for instance in [&posts_a, &posts_b] {
        let (status, seen) = send_json(instance.req(Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{seen}");
        assert_eq!(seen["text"], "post 2, edited", "{}", instance.base);
    }
    let deleted = alice
        .basic(gw.req(Method::DELETE, &path))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    for instance in [&posts_a, &posts_b] {
        let seen = instance.req(Method::GET, &path).send().await.unwrap();
        assert_eq!(seen.status(), StatusCode::NOT_FOUND, "{}", instance.base);
        let (_, listed) = send_json(instance.req(Method::GET, "/api/v1/users/alice/posts")).await;
        assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    }

    // Each instance fans out its own posts: the author's home timeline has them.
    let started = std::time::Instant::now();
    loop {
        let (_, home) = send_json(alice.basic(gw.req(Method::GET, "/api/v1/timelines/home"))).await;
        if home["items"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(started.elapsed().as_secs() < 2, "{home}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    gw.stop().await;
    for s in [posts_a, posts_b, users] {
        s.stop().await;
    }
    for schema in [users_schema, posts_schema] {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await;
    }
}

#[tokio::test]
async fn votes_instance_on_postgres_asks_posts_and_users_over_http() {
    let Ok(base) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
        return;
    };
    let (users_url, admin, users_schema) = pg_schema_url(&base).await;
    let (posts_url, _, posts_schema) = pg_schema_url(&base).await;
    let (votes_url, _, votes_schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let serve = |app| async { Server::serve(app, tempfile::tempdir().unwrap()).await };
    let users = serve(
        rookery::app::users_instance(&users_url, &secret)
            .await
            .unwrap(),
    )
    .await;
    let posts = serve(
        rookery::app::posts_instance(&posts_url, &secret, &[])
            .await
            .unwrap(),
    )
    .await;
    let votes = serve(
        rookery::app::votes_instance(
            &votes_url,
            None,
            &secret,
            std::slice::from_ref(&posts.base),
            std::slice::from_ref(&users.base),
        )
        .await
        .unwrap(),
    )
    .await;
    let upstreams = HashMap::from([
        ("users".to_string(), vec![users.base.clone()]),
        ("posts".to_string(), vec![posts.base.clone()]),
        ("votes".to_string(), vec![votes.base.clone()]),
    ]);
    let gw = serve(rookery::app::gateway_only(&upstreams).unwrap()).await;
    let alice = gw.user("alice").await;
    let (_, p) = send_json(
        alice
            .basic(gw.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "vote across processes"})),
    )
    .await;
    let id = p["id"].as_str().unwrap();
    // The votes instance has no event of it: it asks the posts instance.
    let (status, t) =
        send_json(alice.basic(gw.req(Method::POST, &format!("/api/v1/posts/{id}/like")))).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        (t["upvotes"].as_i64(), t["my_vote"].as_str()),
        (Some(1), Some("up"))
    );
    expect_error(
        alice
            .basic(gw.req(Method::POST, "/api/v1/posts/12345/like"))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Likes: the account is asked of the users instance, the posts' list
    // items of the posts instance.
    let (status, likes) = send_json(gw.req(Method::GET, "/api/v1/users/alice/likes")).await;
    assert_eq!(status, StatusCode::OK, "{likes}");
    assert_eq!(likes["items"][0]["id"], id);
    assert_eq!(likes["items"][0]["text"], "vote across processes");
    expect_error(
        gw.req(Method::GET, "/api/v1/users/nobody/likes")
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    gw.stop().await;
    for s in [votes, posts, users] {
        s.stop().await;
    }
    for schema in [users_schema, posts_schema, votes_schema] {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await;
    }
}

#[tokio::test]
async fn messages_instance_on_postgres_asks_users_over_http() {
    let Ok(base) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
        return;
    };
    let (users_url, admin, users_schema) = pg_schema_url(&base).await;
    let (messages_url, _, messages_schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let serve = |app| async { Server::serve(app, tempfile::tempdir().unwrap()).await };
    let users = serve(
        rookery::app::users_instance(&users_url, &secret)
            .await
            .unwrap(),
    )
    .await;
    let messages = serve(
        rookery::app::messages_instance(&messages_url, &secret, std::slice::from_ref(&users.base))
            .await
            .unwrap(),
    )
    .await;
    let upstreams = HashMap::from([
        ("users".to_string(), vec![users.base.clone()]),
        ("messages".to_string(), vec![messages.base.clone()]),
    ]);
    let gw = serve(rookery::app::gateway_only(&upstreams).unwrap()).await;
    let alice = gw.user("alice").await;
    let bob = gw.user("bob").await;
    // No event reaches the messages instance: it asks the users instance.
    let (status, m) = send_json(
        alice
            .basic(gw.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "BOB", "text": "across processes"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["to"], "bob");
    let path = format!("/api/v1/messages/{}", m["id"].as_str().unwrap());
    let (status, read) = send_json(bob.basic(gw.req(Method::GET, &path))).await;
    assert_eq!(
        (status, &read["text"]),
        (StatusCode::OK, &json!("across processes"))
    );
    expect_error(
        alice
            .basic(gw.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "nobody", "text": "hello?"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    gw.stop().await;
    for s in [messages, users] {
        s.stop().await;
    }
    for schema in [users_schema, messages_schema] {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await;
    }
}

#[tokio::test]
async fn posts_instance_on_postgres_asks_users_over_http() {
    let Ok(base) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
        return;
    };
    let (users_url, admin, users_schema) = pg_schema_url(&base).await;
    let (posts_url, _, posts_schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let serve = |app| async { Server::serve(app, tempfile::tempdir().unwrap()).await };
    let users = serve(
        rookery::app::users_instance(&users_url, &secret)
            .await
            .unwrap(),
    )
    .await;
    // No bus: no user.registered ever reaches the posts instance.
    let posts = serve(
        rookery::app::posts_instance_on(
            &posts_url,
            &secret,
            std::slice::from_ref(&users.base),
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    let upstreams = HashMap::from([
        ("users".to_string(), vec![users.base.clone()]),
        ("posts".to_string(), vec![posts.base.clone()]),
    ]);
    let gw = serve(rookery::app::gateway_only(&upstreams).unwrap()).await;
    let alice = gw.user("alice").await;
    let bob = gw.user("bob").await;
    // At once, and without any event: the posts instance asks the users instance.
    let (status, page) = send_json(gw.req(Method::GET, "/api/v1/users/alice/posts")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"], json!([]));
    let (_, p) = send_json(
        alice
            .basic(gw.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "known at once"})),
    )
    .await;
    let (status, page) = send_json(gw.req(Method::GET, "/api/v1/users/ALICE/posts")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["items"][0]["id"], p["id"]);
    // A deactivated account is unknown to its timeline, replica or not.
    let resp = bob
        .basic(gw.req(Method::DELETE, "/api/v1/users/bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for path in ["/api/v1/users/bob/posts", "/api/v1/users/nobody/posts"] {
        expect_error(
            gw.req(Method::GET, path).send().await.unwrap(),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // The users instance gone: a miss is 503 (try again), the replica still answers.
    users.stop().await;
    let (status, page) = send_json(gw.req(Method::GET, "/api/v1/users/alice/posts")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (status, body) = send_json(gw.req(Method::GET, "/api/v1/users/carol/posts")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    gw.stop().await;
    posts.stop().await;
    for schema in [users_schema, posts_schema] {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await;
    }
}

/// Polls `path` (as `user`, if any) until `check` holds, for up to 2 s.
async fn within_2s(
    gw: &Server,
    user: Option<&common::User>,
    path: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let req = gw.req(Method::GET, path);
        let req = match user {
            Some(u) => u.basic(req),
            None => req,
        };
        let (status, body) = send_json(req).await;
        if status == StatusCode::OK && check(&body) {
            return body;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "not within 2 s: {path}: {status} {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn instances_on_postgres_connected_by_nats_jetstream() {
    use rookery_kernel::events::EventBus;
    use rookery_kernel::events::nats::{JetStreamBus, JetStreamConfig};
    use std::sync::Arc;
    let (Ok(base), Ok(nats)) = (
        std::env::var("ROOKERY_TEST_POSTGRES_URL"),
        std::env::var("ROOKERY_TEST_NATS_URL"),
    ) else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL or ROOKERY_TEST_NATS_URL is not set");
        return;
    };
    // A stream and subjects of this test's own.
    let tag = format!("{:016x}", rand::random::<u64>());
    let mut config = JetStreamConfig::new(&nats);
    config.stream = format!("T_{tag}");
    config.prefix = format!("t{tag}.events");
    // Each instance has its own connection, as separate processes would.
    let bus = || async {
        let bus: Arc<dyn EventBus> = Arc::new(JetStreamBus::connect(config.clone()).await.unwrap());
        Some(bus)
    };
    let (users_url, admin, users_schema) = pg_schema_url(&base).await;
    let (posts_url, _, posts_schema) = pg_schema_url(&base).await;
    let (votes_url, _, votes_schema) = pg_schema_url(&base).await;
    let (messages_url, _, messages_schema) = pg_schema_url(&base).await;
    let (notifications_url, _, notifications_schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let serve = |app| async { Server::serve(app, tempfile::tempdir().unwrap()).await };
    let users = serve(
        rookery::app::users_instance_on(&users_url, &secret, bus().await)
            .await
            .unwrap(),
    )
    .await;
    let posts_a = serve(
        rookery::app::posts_instance_on(&posts_url, &secret, &[], bus().await)
            .await
            .unwrap(),
    )
    .await;
    let posts_b = serve(
        rookery::app::posts_instance_on(&posts_url, &secret, &[], bus().await)
            .await
            .unwrap(),
    )
    .await;
    let posts_bases = vec![posts_a.base.clone(), posts_b.base.clone()];
    let votes = serve(
        rookery::app::votes_instance_on(
            &votes_url,
            None,
            &secret,
            &posts_bases,
            std::slice::from_ref(&users.base),
            bus().await,
        )
        .await
        .unwrap(),
    )
    .await;
    let messages = serve(
        rookery::app::messages_instance_on(
            &messages_url,
            &secret,
            std::slice::from_ref(&users.base),
            bus().await,
        )
        .await
        .unwrap(),
    )
    .await;
    // Two notifications instances on one database share its consumer.
    let mut notifications = Vec::new();
    for _ in 0..2 {
        let app = rookery::app::notifications_instance_on(
            &notifications_url,
            &secret,
            std::slice::from_ref(&users.base),
            &posts_bases,
            bus().await,
        )
        .await
        .unwrap();
        notifications.push(serve(app).await);
    }
    let upstreams = HashMap::from([
        ("users".to_string(), vec![users.base.clone()]),
        ("posts".to_string(), posts_bases.clone()),
        ("votes".to_string(), vec![votes.base.clone()]),
        ("messages".to_string(), vec![messages.base.clone()]),
        (
            "notifications".to_string(),
            notifications.iter().map(|n| n.base.clone()).collect(),
        ),
    ]);
    let gw = serve(rookery::app::gateway_only(&upstreams).unwrap()).await;

    let alice = gw.user("alice").await;
    let bob = gw.user("bob").await;
    let (status, first) = send_json(
        bob.basic(gw.req(Method::POST, "/api/v1/posts"))
            .json(&json!({"text": "before the follow"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The follow is made on the users instance; the posts instances learn it
    // from JetStream (backfill of bob's post, then fan-out of the next ones).
    let resp = alice
        .basic(gw.req(Method::POST, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    within_2s(&gw, Some(&alice), "/api/v1/timelines/home", |home| {
        home["items"][0]["id"] == first["id"]
    })
    .await;
    let mut ids = vec![first["id"].clone()];
    for i in 0..4 {
        let (status, p) = send_json(
            bob.basic(gw.req(Method::POST, "/api/v1/posts"))
                .json(&json!({"text": format!("after the follow {i}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{p}");
        ids.push(p["id"].clone());
    }
    ids.reverse();
    let home = within_2s(&gw, Some(&alice), "/api/v1/timelines/home", |home| {
        home["items"].as_array().unwrap().len() >= ids.len()
    })
    .await;
    let listed: Vec<serde_json::Value> = home["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    // Each post once: neither posts instance applied an event the other did.
    assert_eq!(listed, ids, "{home}");

    // A vote on the votes instance reaches the post's score in the posts
    // service and the author's karma in the users service.
    let id = ids[0].as_str().unwrap();
    let (status, t) =
        send_json(alice.basic(gw.req(Method::POST, &format!("/api/v1/posts/{id}/like")))).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    within_2s(&gw, None, &format!("/api/v1/posts/{id}"), |p| {
        p["score"] == 1
    })
    .await;
    within_2s(&gw, None, "/api/v1/users/bob", |u| u["karma"] == 1).await;

    // The follow and the like reach bob's notifications, each once although
    // two instances share the events.
    let notes = within_2s(&gw, Some(&bob), "/api/v1/notifications", |n| {
        n["items"].as_array().unwrap().len() >= 2
    })
    .await;
    let items = notes["items"].as_array().unwrap();
    let mut kinds: Vec<&str> = items.iter().map(|n| n["type"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["follow", "like"], "{notes}");
    let like = items.iter().find(|n| n["type"] == "like").unwrap();
    assert_eq!(like["account"]["username"], "alice");
    assert_eq!(like["post"]["id"], ids[0]);
    // A block made on the users instance reaches votes over JetStream.
    let resp = bob
        .basic(gw.req(Method::POST, "/api/v1/users/alice/block"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let started = std::time::Instant::now();
    loop {
        let resp = alice
            .basic(gw.req(Method::POST, &format!("/api/v1/posts/{id}/upvote")))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::FORBIDDEN {
            break;
        }
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(started.elapsed().as_secs() < 2, "block not within 2 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // ... and hides alice from bob's notifications.
    within_2s(&gw, Some(&bob), "/api/v1/notifications", |n| {
        n["items"].as_array().unwrap().is_empty()
    })
    .await;

    // A deactivation made on the users instance reaches the messages
    // instance's replica of accounts (it would not ask again about carol).
    let carol = gw.user("carol").await;
    let (status, m) = send_json(
        alice
            .basic(gw.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "carol", "text": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let resp = carol
        .basic(gw.req(Method::DELETE, "/api/v1/users/carol"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let started = std::time::Instant::now();
    loop {
        let resp = alice
            .basic(gw.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "carol", "text": "still there?"}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::NOT_FOUND {
            break;
        }
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert!(started.elapsed().as_secs() < 2, "not within 2 s");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // Every event reached the posts consumer once, shared by both instances.
    let inspect = JetStreamBus::connect(config.clone()).await.unwrap();
    let started = std::time::Instant::now();
    let state = loop {
        let state = inspect.consumer_state("posts").await.unwrap();
        if state.pending == 0 && state.ack_pending == 0 {
            break state;
        }
        assert!(started.elapsed().as_secs() < 2, "{state:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(state.redelivered, 0, "{state:?}");
    assert_eq!(state.delivered, state.last_stream_sequence, "{state:?}");

    gw.stop().await;
    for s in notifications {
        s.stop().await;
    }
    for s in [messages, votes, posts_a, posts_b, users] {
        s.stop().await;
    }
    inspect.delete_stream().await.unwrap();
    for schema in [
        users_schema,
        posts_schema,
        votes_schema,
        messages_schema,
        notifications_schema,
    ] {
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await;
    }
}

/// Two gateways keep the credentials they verified; a logout, a password
/// change or a deactivation through one stops them at once there, and at
/// the other as soon as the users service's event arrives over NATS.
#[tokio::test]
async fn credentials_revoked_through_one_gateway_stop_working_at_every_gateway() {
    use rookery_gateway::{GatewayOptions, PoolConfig};
    use rookery_kernel::events::EventBus;
    use rookery_kernel::events::nats::{JetStreamBus, JetStreamConfig};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    let (Ok(base), Ok(nats)) = (
        std::env::var("ROOKERY_TEST_POSTGRES_URL"),
        std::env::var("ROOKERY_TEST_NATS_URL"),
    ) else {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL or ROOKERY_TEST_NATS_URL is not set");
        return;
    };
    let tag = format!("{:016x}", rand::random::<u64>());
    let mut config = JetStreamConfig::new(&nats);
    config.stream = format!("T_{tag}");
    config.prefix = format!("t{tag}.events");
    let bus: Arc<dyn EventBus> = Arc::new(JetStreamBus::connect(config.clone()).await.unwrap());
    let (users_url, admin, schema) = pg_schema_url(&base).await;
    let secret = Secret::from_bytes(b"a test secret that is long enough!!");
    let users = Server::serve(
        rookery::app::users_instance_on(&users_url, &secret, Some(bus))
            .await
            .unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let upstreams = HashMap::from([("users".to_string(), vec![users.base.clone()])]);
    let gateway = || async {
        let options = GatewayOptions {
            events: Some(config.clone()),
            ..GatewayOptions::local()
        };
        let app =
            rookery::app::gateway_only_with(&upstreams, PoolConfig::default(), options).unwrap();
        Server::serve(app, tempfile::tempdir().unwrap()).await
    };
    let (a, b) = (gateway().await, gateway().await);
    // The watchers subscribe in the background; give them a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let whoami = |gw: &Server, auth: &str| {
        gw.req(Method::GET, "/api/v1/auth/whoami")
            .header("authorization", auth)
            .send()
    };
    let status_at = async |gw: &Server, auth: &str| whoami(gw, auth).await.unwrap().status();
    // Polls until `auth` is refused at `gw`: the event's way, well under the cache's TTL.
    let refused_soon = async |gw: &Server, auth: &str| {
        let started = Instant::now();
        while status_at(gw, auth).await != StatusCode::UNAUTHORIZED {
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "still accepted after 3 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    // Logout through a: refused at a at once, at b soon after.
    let alice = a.user("alice").await;
    let bearer = format!("Bearer {}", a.token(&alice).await);
    for gw in [&a, &b] {
        assert_eq!(status_at(gw, &bearer).await, StatusCode::OK);
    }
    let resp = a
        .req(Method::DELETE, "/api/v1/auth/token")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(status_at(&a, &bearer).await, StatusCode::UNAUTHORIZED);
    refused_soon(&b, &bearer).await;

    // A new password through b: the old Basic credentials go everywhere.
    let old_basic = format!(
        "Basic {}",
        base64_encode(&format!("alice:{}", common::password("alice")))
    );
    for gw in [&a, &b] {
        assert_eq!(status_at(gw, &old_basic).await, StatusCode::OK);
    }
    let resp = b
        .req(Method::PATCH, "/api/v1/users/alice")
        .header("authorization", &old_basic)
        .json(&json!({"password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(status_at(&b, &old_basic).await, StatusCode::UNAUTHORIZED);
    refused_soon(&a, &old_basic).await;

    // Deactivation through a: b stops honouring the account too.
    let carol = a.user("carol").await;
    let carol_basic = format!(
        "Basic {}",
        base64_encode(&format!("carol:{}", common::password("carol")))
    );
    assert_eq!(status_at(&b, &carol_basic).await, StatusCode::OK);
    let resp = carol
        .basic(a.req(Method::DELETE, "/api/v1/users/carol"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(status_at(&a, &carol_basic).await, StatusCode::UNAUTHORIZED);
    refused_soon(&b, &carol_basic).await;

    a.stop().await;
    b.stop().await;
    users.stop().await;
    let _ = JetStreamBus::connect(config)
        .await
        .unwrap()
        .delete_stream()
        .await;
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
}

fn base64_encode(raw: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(raw)
}
