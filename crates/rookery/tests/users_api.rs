//! The users and authentication API through the gateway, on a real socket.

mod common;

use common::{Server, expect, expect_error, json, password, send_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn register_read_and_views() {
    let s = Server::embedded().await;
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .json(
            &json!({"username": "  Alice ", "email": " Alice@Example.com ",
                      "password": "  long enough  ", "bio": " hi ", "extra": [1, 2]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["location"], "/api/v1/users/Alice");
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["username"], "Alice");
    assert_eq!(body["email"], "Alice@Example.com");
    assert_eq!(body["bio"], "hi");
    assert_eq!(body["karma"], 0);
    assert_eq!(body["followers_count"], 0);
    assert_eq!(body["following_count"], 0);
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("password").is_none() && body.get("password_hash").is_none());

    // Public view: no email; case-insensitive lookup.
    let (status, public) = send_json(s.req(Method::GET, "/api/v1/users/alice")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(public["username"], "Alice");
    assert!(public.get("email").is_none());
    // Private view for yourself (password was trimmed at registration).
    let (_, private) = send_json(
        s.req(Method::GET, "/api/v1/users/ALICE")
            .basic_auth("alice", Some("long enough")),
    )
    .await;
    assert_eq!(private["email"], "Alice@Example.com");
    // Someone else sees the public view.
    let bob = s.user("bob").await;
    let (_, seen) = send_json(bob.basic(s.req(Method::GET, "/api/v1/users/alice"))).await;
    assert!(seen.get("email").is_none());

    expect(
        s.req(Method::GET, "/api/v1/users/nobody"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn registration_validation() {
    let s = Server::embedded().await;
    let valid = json!({"username": "ok_name", "email": "a@example.com", "password": "password1"});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"email": "a@example.com", "password": "password1"}),
            "username",
        ),
        (
            json!({"username": "", "email": "a@example.com", "password": "password1"}),
            "username",
        ),
        (
            json!({"username": "bad-name", "email": "a@example.com", "password": "password1"}),
            "username",
        ),
        (
            json!({"username": "x".repeat(31), "email": "a@example.com", "password": "password1"}),
            "username",
        ),
        (
            json!({"username": "ünïcode", "email": "a@example.com", "password": "password1"}),
            "username",
        ),
        (
            json!({"username": 42, "email": "a@example.com", "password": "password1"}),
            "username",
        ),
        (
            json!({"username": "ok", "email": "not-an-email", "password": "password1"}),
            "email",
        ),
        (json!({"username": "ok", "password": "password1"}), "email"),
        (
            json!({"username": "ok", "email": "a@b", "password": "password1"}),
            "email",
        ),
        (
            json!({"username": "ok", "email": "a@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "ok", "email": "a@example.com", "password": "p".repeat(257)}),
            "password",
        ),
        (
            json!({"username": "ok", "email": "a@example.com"}),
            "password",
        ),
        (
            json!({"username": "ok", "email": "a@example.com", "password": ["x"]}),
            "password",
        ),
        (
            json!({"username": "ok", "email": "a@example.com", "password": "password1", "bio": "b".repeat(501)}),
            "bio",
        ),
        (
            json!({"username": "ok", "email": "a@example.com", "password": "password1", "bio": 7}),
            "bio",
        ),
    ];
    for (body, field) in cases {
        let resp = s
            .req(Method::POST, "/api/v1/users")
            .json(&body)
            .send()
            .await
            .unwrap();
        let err = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;
        assert_eq!(err["field"], field, "{body}");
    }
    // Boundaries that are allowed.
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .json(
            &json!({"username": "x".repeat(30), "email": "b@example.com",
                      "password": "p".repeat(256), "bio": "é".repeat(500)}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    // Form-encoded bodies are accepted too.
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .form(&[
            ("username", "formuser"),
            ("email", "f@example.com"),
            ("password", "password1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .json(&valid)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    s.stop().await;
}

#[tokio::test]
async fn registration_conflicts_and_race() {
    let s = Server::embedded().await;
    s.user("carol").await;
    let err = expect_error(
        s.register("CAROL").await,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
    assert_eq!(err["field"], "username");
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .json(&json!({"username": "carol2", "email": "CAROL@example.com", "password": "password1"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::CONFLICT, "email_taken").await;

    // Two registrations of one name at once: exactly one wins.
    let (a, b) = tokio::join!(
        s.req(Method::POST, "/api/v1/users")
            .json(&json!({"username": "race", "email": "r1@example.com", "password": "password1"}))
            .send(),
        s.req(Method::POST, "/api/v1/users")
            .json(&json!({"username": "RACE", "email": "r2@example.com", "password": "password1"}))
            .send(),
    );
    let mut statuses = [a.unwrap().status().as_u16(), b.unwrap().status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [201, 409]);
    s.stop().await;
}

#[tokio::test]
async fn list_users_paginates() {
    let s = Server::embedded().await;
    for name in ["dave", "Bob", "erin", "alice", "carol"] {
        s.user(name).await;
    }
    let mut names = Vec::new();
    let mut url = "/api/v1/users?limit=2".to_string();
    let mut pages = 0;
    loop {
        let resp = s.req(Method::GET, &url).send().await.unwrap();
        let link = resp
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        let (status, body) = json(resp).await;
        assert_eq!(status, StatusCode::OK);
        pages += 1;
        for item in body["items"].as_array().unwrap() {
            assert!(item.get("email").is_none());
            names.push(item["username"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(cursor) => {
                let link = link.expect("Link header with a next page");
                assert!(link.ends_with("rel=\"next\""), "{link}");
                assert!(link.contains(cursor), "{link}");
                // The Link URL is followable as is.
                let next = link.trim_start_matches('<').split('>').next().unwrap();
                assert!(next.starts_with(&s.base), "{next}");
                url = next.trim_start_matches(&s.base).to_string();
            }
            None => {
                assert!(link.is_none());
                break;
            }
        }
    }
    assert_eq!(names, ["alice", "Bob", "carol", "dave", "erin"]);
    assert_eq!(pages, 3);
    let (_, body) = send_json(s.req(Method::GET, "/api/v1/users?n=1")).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    for bad in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "n=-1",
        "cursor=!!!",
        "cursor=Zm9v",
    ] {
        let resp = s
            .req(Method::GET, &format!("/api/v1/users?{bad}"))
            .send()
            .await
            .unwrap();
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;
    }
    s.stop().await;
}

#[tokio::test]
async fn tokens_basic_and_logout() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    // Without credentials.
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Basic realm="rookery", Bearer"#
    );
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Basic.
    let (status, me) = send_json(alice.basic(s.req(Method::GET, "/api/v1/auth/whoami"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], "alice@example.com");
    // Token from Basic and from a body.
    let (status, tok) = send_json(alice.basic(s.req(Method::POST, "/api/v1/auth/token"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tok["token_type"], "Bearer");
    assert_eq!(tok["username"], "alice");
    assert!(tok["expires_in"].as_u64().unwrap() > 0);
    let token = tok["access_token"].as_str().unwrap().to_string();
    let (status, tok2) = send_json(
        s.req(Method::POST, "/api/v1/auth/token")
            .json(&json!({"username": "ALICE", "password": password("alice")})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token2 = tok2["access_token"].as_str().unwrap().to_string();
    // Bad credentials on the token endpoint.
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .json(&json!({"username": "alice", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Bearer works; logout revokes only that token.
    let whoami = |t: &str| {
        s.req(Method::GET, "/api/v1/auth/whoami")
            .bearer_auth(t.to_string())
            .send()
    };
    assert_eq!(whoami(&token).await.unwrap().status(), StatusCode::OK);
    let resp = s
        .req(Method::DELETE, "/api/v1/auth/token")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(
        whoami(&token).await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(whoami(&token2).await.unwrap().status(), StatusCode::OK);
    // Logout needs a bearer token; garbage tokens and schemes are 401.
    let resp = alice
        .basic(s.req(Method::DELETE, "/api/v1/auth/token"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "bearer_required").await;
    let resp = s
        .req(Method::DELETE, "/api/v1/auth/token")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(
        whoami("not.a.token").await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .header("authorization", "Digest abc")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .header("authorization", "Basic !!!")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // A bearer token cannot be exchanged for another.
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .bearer_auth(&token2)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    s.stop().await;
}

#[tokio::test]
async fn a_client_supplied_identity_header_is_ignored() {
    let s = Server::embedded().await;
    s.user("alice").await;
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwibmFtZSI6ImFsaWNlIn0.sig";
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .header("x-rookery-identity", forged)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = s
        .req(Method::DELETE, "/api/v1/users/alice")
        .header("x-rookery-identity", forged)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    s.stop().await;
}

#[tokio::test]
async fn update_profile_and_password() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let token = s.token(&alice).await;

    let (status, body) = send_json(
        alice
            .basic(s.req(Method::PATCH, "/api/v1/users/alice"))
            .json(&json!({"bio": "  new bio ", "email": "ALICE@new.example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["bio"], "new bio");
    assert_eq!(body["email"], "ALICE@new.example.com");
    // Not yours: 403. No such account: 404. No auth: 401.
    let resp = bob
        .basic(s.req(Method::PATCH, "/api/v1/users/alice"))
        .json(&json!({"bio": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = bob
        .basic(s.req(Method::PATCH, "/api/v1/users/ghost"))
        .json(&json!({"bio": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = s
        .req(Method::PATCH, "/api/v1/users/alice")
        .json(&json!({"bio": "x"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    // Conflicts and validation.
    let resp = alice
        .basic(s.req(Method::PATCH, "/api/v1/users/alice"))
        .json(&json!({"email": "bob@example.com"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::CONFLICT, "email_taken").await;
    for (body, field) in [
        (json!({"email": "nope"}), "email"),
        (json!({"bio": "x".repeat(501)}), "bio"),
        (json!({"password": "short"}), "password"),
        (json!({"bio": false}), "bio"),
    ] {
        let resp = alice
            .basic(s.req(Method::PATCH, "/api/v1/users/alice"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let err = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_input").await;
        assert_eq!(err["field"], field);
    }
    // Bob's profile did not change.
    let (_, bob_now) = send_json(bob.basic(s.req(Method::GET, "/api/v1/auth/whoami"))).await;
    assert_eq!(bob_now["bio"], "");

    // A new password revokes old credentials and tokens at once.
    let resp = alice
        .basic(s.req(Method::PATCH, "/api/v1/users/alice"))
        .json(&json!({"password": "a brand new password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = alice
        .basic(s.req(Method::GET, "/api/v1/auth/whoami"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .basic_auth("alice", Some("a brand new password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn deactivation_revokes_everything_and_reserves_the_name() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let token = s.token(&alice).await;
    assert_eq!(
        bob.basic(s.req(Method::POST, "/api/v1/users/alice/follow"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    let resp = bob
        .basic(s.req(Method::DELETE, "/api/v1/users/alice"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = s
        .req(Method::DELETE, "/api/v1/users/alice")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;

    let resp = alice
        .basic(s.req(Method::DELETE, "/api/v1/users/alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect(
        s.req(Method::GET, "/api/v1/users/alice"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        alice.basic(s.req(Method::GET, "/api/v1/auth/whoami")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        s.req(Method::GET, "/api/v1/auth/whoami")
            .bearer_auth(&token),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        alice.basic(s.req(Method::POST, "/api/v1/auth/token")),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Gone from lists and counts; the name stays reserved.
    let (_, list) = send_json(s.req(Method::GET, "/api/v1/users")).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (_, b) = send_json(s.req(Method::GET, "/api/v1/users/bob")).await;
    assert_eq!(b["following_count"], 0);
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .json(&json!({"username": "Alice", "email": "other@example.com", "password": "password1"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::CONFLICT, "username_taken").await;
    // Following a deactivated account: 404.
    let resp = bob
        .basic(s.req(Method::POST, "/api/v1/users/alice/follow"))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    s.stop().await;
}

#[tokio::test]
async fn follows_and_lists() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;

    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(resp.headers().contains_key("location"));
    let (_, body) = json(resp).await;
    assert_eq!(body["username"], "bob");
    assert_eq!(body["followers_count"], 1);
    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/users/BOB/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = carol
        .basic(s.req(Method::POST, "/api/v1/users/bob/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let resp = bob
        .basic(s.req(Method::POST, "/api/v1/users/alice/follow"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);

    expect(
        alice.basic(s.req(Method::POST, "/api/v1/users/alice/follow")),
        StatusCode::CONFLICT,
        "self_follow",
    )
    .await;
    expect(
        alice.basic(s.req(Method::POST, "/api/v1/users/ghost/follow")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::POST, "/api/v1/users/bob/follow"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, followers) = send_json(s.req(Method::GET, "/api/v1/users/bob/followers")).await;
    assert_eq!(names(&followers), ["carol", "alice"]);
    let (_, page1) = send_json(s.req(Method::GET, "/api/v1/users/bob/followers?limit=1")).await;
    assert_eq!(names(&page1), ["carol"]);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = send_json(s.req(
        Method::GET,
        &format!("/api/v1/users/bob/followers?limit=1&cursor={cursor}"),
    ))
    .await;
    assert_eq!(names(&page2), ["alice"]);
    assert!(page2["next_cursor"].is_null());
    let (_, following) = send_json(s.req(Method::GET, "/api/v1/users/alice/following")).await;
    assert_eq!(names(&following), ["bob"]);
    expect(
        s.req(Method::GET, "/api/v1/users/ghost/followers"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::GET, "/api/v1/users/ghost/following"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    let (_, b) = send_json(s.req(Method::GET, "/api/v1/users/bob")).await;
    assert_eq!(
        (b["followers_count"].as_i64(), b["following_count"].as_i64()),
        (Some(2), Some(1))
    );

    expect(
        alice.basic(s.req(Method::DELETE, "/api/v1/users/ghost/follow")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        alice.basic(s.req(Method::DELETE, "/api/v1/users/ghost")),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Unfollow: 204, also when not following.
    for _ in 0..2 {
        let resp = alice
            .basic(s.req(Method::DELETE, "/api/v1/users/bob/follow"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    }
    let (_, followers) = send_json(s.req(Method::GET, "/api/v1/users/bob/followers")).await;
    assert_eq!(names(&followers), ["carol"]);
    expect(
        s.req(Method::DELETE, "/api/v1/users/bob/follow"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_username() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    // A success before the limit resets the count.
    for _ in 0..9 {
        let resp = s
            .req(Method::GET, "/api/v1/auth/whoami")
            .basic_auth("alice", Some("wrong password"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        alice
            .basic(s.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    for _ in 0..10 {
        let resp = s
            .req(Method::POST, "/api/v1/auth/token")
            .json(&json!({"username": "alice", "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is refused until the window passes.
    let resp = alice
        .basic(s.req(Method::GET, "/api/v1/auth/whoami"))
        .send()
        .await
        .unwrap();
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 15 * 60, "{retry}");
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .json(&json!({"username": "ALICE", "password": "whatever1"}))
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Other accounts are unaffected.
    let bob = s.user("bob").await;
    assert_eq!(
        bob.basic(s.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.stop().await;
}

#[tokio::test]
async fn garbage_never_gives_a_server_error() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let huge = "x".repeat(200_000);
    let bodies: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "application/json"),
        (b"   ".to_vec(), "application/json"),
        (b"{".to_vec(), "application/json"),
        (b"null".to_vec(), "application/json"),
        (b"[]".to_vec(), "application/json"),
        (b"\"str\"".to_vec(), "application/json"),
        (b"12".to_vec(), "application/json"),
        (vec![0xff, 0xfe, 0x00, 0x7b], "application/json"),
        (b"{\"username\": \"\xff\xfe\"}".to_vec(), "application/json"),
        (format!("{{\"username\": \"{huge}\", \"email\": \"{huge}\", \"password\": \"{huge}\", \"bio\": \"{huge}\"}}").into_bytes(), "application/json"),
        ("[".repeat(100_000).into_bytes(), "application/json"),
        (b"username=%ff%fe&email=x".to_vec(), "application/x-www-form-urlencoded"),
        (b"<xml/>".to_vec(), "text/xml"),
        (b"{\"username\": {\"nested\": [1, {\"a\": null}]}, \"email\": 1e400}".to_vec(), "application/json"),
    ];
    // (The token route goes without Basic: with it, any body is fine.)
    let routes = [
        (Method::POST, "/api/v1/users", true),
        (Method::PATCH, "/api/v1/users/alice", true),
        (Method::POST, "/api/v1/auth/token", false),
    ];
    for (method, path, with_basic) in routes {
        for (body, ct) in &bodies {
            let mut req = s.req(method.clone(), path);
            if with_basic {
                req = alice.basic(req);
            }
            let resp = req
                .header("content-type", *ct)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let (_, json_body) = json(resp).await;
            assert!(
                status.is_client_error(),
                "{method} {path} {ct}: {status} {json_body}"
            );
        }
    }
    // Over 1 MiB: 413 with the JSON error.
    let big = vec![b'a'; 1024 * 1024 + 10];
    let resp = s
        .req(Method::POST, "/api/v1/users")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Odd paths and methods.
    expect(
        s.req(Method::GET, "/api/v1/nothing-here"),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect(
        s.req(Method::PUT, "/api/v1/users"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    expect(
        s.req(Method::GET, "/api/v1/users/%ff%fe"),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    expect(
        s.req(Method::GET, &format!("/api/v1/users/{}", "a".repeat(5000))),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Nothing stored was harmed.
    assert_eq!(
        alice
            .basic(s.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.stop().await;
}

#[tokio::test]
async fn operations_endpoints_and_request_ids() {
    let s = Server::embedded().await;
    let (status, body) = send_json(s.req(Method::GET, "/healthz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = send_json(s.req(Method::GET, "/readyz")).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    s.register("alice").await;
    let resp = s.req(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("rookery_http_requests_total"), "{text}");

    let resp = s
        .req(Method::GET, "/healthz")
        .header("x-request-id", "my-request-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "my-request-42");
    let resp = s
        .req(Method::GET, "/api/v1/users/nobody")
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["x-request-id"].to_str().unwrap().len() >= 16);

    let resp = s.req(Method::GET, "/docs/").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    let (status, doc) = send_json(s.req(Method::GET, "/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    s.stop().await;
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_ip() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    // 100 failures from one address, spread over many usernames.
    let mut tasks = Vec::new();
    for i in 0..100 {
        let req = s
            .req(Method::GET, "/api/v1/auth/whoami")
            .basic_auth(format!("nobody{}", i % 20), Some("wrong password"));
        tasks.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::UNAUTHORIZED);
    }
    // Now every attempt from that address is refused, good credentials included.
    let resp = alice
        .basic(s.req(Method::GET, "/api/v1/auth/whoami"))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Unauthenticated routes still work.
    assert_eq!(
        s.req(Method::GET, "/api/v1/users/alice")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    s.stop().await;
}

/// Found by schemathesis: the token endpoint's body is documented as
/// optional (`null` allowed) for HTTP Basic; a `null` body was a 400.
#[tokio::test]
async fn token_from_basic_with_a_null_body() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let (status, tok) = send_json(
        alice
            .basic(s.req(Method::POST, "/api/v1/auth/token"))
            .header("content-type", "application/json")
            .body("null"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["username"], "alice");
    // Without Basic, a null body names no one.
    expect(
        s.req(Method::POST, "/api/v1/auth/token")
            .header("content-type", "application/json")
            .body("null"),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    // Other non-objects stay a 400.
    expect(
        alice
            .basic(s.req(Method::POST, "/api/v1/auth/token"))
            .header("content-type", "application/json")
            .body("[]"),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
}

/// The claims of a bearer token (read without its key).
fn token_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

/// `scope` on the token endpoint (JSON, form and with Basic): validated,
/// normalized, echoed and carried in the token with the username; tokens
/// without it carry no scope.
#[tokio::test]
async fn tokens_with_a_scope() {
    let s = Server::embedded().await;
    s.user("Alice").await;
    let pw = password("Alice");
    let (status, tok) = send_json(s.req(Method::POST, "/api/v1/auth/token").json(
        &json!({"username": "alice", "password": pw, "scope": "  read write:statuses  read "}),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["scope"], "read write:statuses");
    assert_eq!(tok["username"], "Alice");
    let claims = token_claims(tok["access_token"].as_str().unwrap());
    assert_eq!(
        (&claims["username"], &claims["scope"]),
        (&json!("Alice"), &json!("read write:statuses"))
    );

    // A form body (as OAuth clients send), and Basic with a JSON scope.
    let (status, tok) = send_json(
        s.req(Method::POST, "/api/v1/auth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username=alice&password={pw}&scope=read+follow+push"
            )),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["scope"], "read follow push");
    let (status, tok) = send_json(
        s.req(Method::POST, "/api/v1/auth/token")
            .basic_auth("alice", Some(&pw))
            .json(&json!({"scope": "read"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["scope"], "read");
    assert_eq!(
        token_claims(tok["access_token"].as_str().unwrap())["scope"],
        "read"
    );

    // Without a scope: no `scope` in the answer or the token; the username is there.
    let (status, tok) = send_json(
        s.req(Method::POST, "/api/v1/auth/token")
            .json(&json!({"username": "ALICE", "password": pw, "scope": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert!(tok.get("scope").is_none(), "{tok}");
    let claims = token_claims(tok["access_token"].as_str().unwrap());
    assert_eq!(claims["username"], "Alice");
    assert!(claims.get("scope").is_none(), "{claims}");

    // Invalid scopes: 400 naming `scope`, before the password is looked at.
    let thirty_one = vec!["read"; 31].join(" ");
    let long = format!("{} x", "a".repeat(1000));
    for bad in [
        json!(""),
        json!("   "),
        json!("Read"),
        json!("read,write"),
        json!("read:"),
        json!("read::x"),
        json!("wr1te"),
        json!(thirty_one),
        json!(long),
        json!(5),
        json!(["read"]),
    ] {
        for pass in [pw.as_str(), "not the password"] {
            let body = expect(
                s.req(Method::POST, "/api/v1/auth/token")
                    .json(&json!({"username": "alice", "password": pass, "scope": bad})),
                StatusCode::BAD_REQUEST,
                "invalid_input",
            )
            .await;
            assert_eq!(body["field"], "scope", "{bad}: {body}");
        }
    }
    s.stop().await;
}

/// toot's password login sends the email address: the account registered
/// with it logs in, case-insensitively, under the same failure limit.
#[tokio::test]
async fn email_logins() {
    let s = Server::embedded().await;
    s.user("Carol").await;
    let pw = password("Carol");
    let (status, tok) = send_json(
        s.req(Method::POST, "/api/v1/auth/token")
            .json(&json!({"username": " CAROL@Example.com ", "password": pw})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tok}");
    assert_eq!(tok["username"], "Carol");
    let token = tok["access_token"].as_str().unwrap();
    let (status, me) =
        send_json(s.req(Method::GET, "/api/v1/auth/whoami").bearer_auth(token)).await;
    assert_eq!((status, &me["username"]), (StatusCode::OK, &json!("Carol")));
    for (login, pass) in [
        ("carol@example.com", "not the password"),
        ("nobody@example.com", pw.as_str()),
    ] {
        expect(
            s.req(Method::POST, "/api/v1/auth/token")
                .json(&json!({"username": login, "password": pass})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    // Failures by email and by username share the username's limit (10).
    for i in 0..9 {
        let login = if i % 2 == 0 {
            "carol"
        } else {
            "carol@example.com"
        };
        expect(
            s.req(Method::POST, "/api/v1/auth/token")
                .json(&json!({"username": login, "password": "a guess!"})),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let resp = s
        .req(Method::POST, "/api/v1/auth/token")
        .json(&json!({"username": "carol", "password": pw}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().contains_key("retry-after"));
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    s.stop().await;
}

/// `GET /api/v1/users?usernames=`: the named accounts in the order asked,
/// each once, unknown and deactivated ones left out.
#[tokio::test]
async fn users_by_usernames() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    s.user("Bob").await;
    s.user("carol").await;
    let gone = s.user("gone").await;
    let resp = gone
        .basic(s.req(Method::DELETE, "/api/v1/users/gone"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let names = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let path = "/api/v1/users?usernames=carol,%20BOB%20,nobody,gone,Alice,bob&limit=1";
    let resp = s.req(Method::GET, path).send().await.unwrap();
    assert!(resp.headers().get("link").is_none());
    let (status, body) = json(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(names(&body), ["carol", "Bob", "alice"]);
    assert_eq!(body["next_cursor"], Value::Null);
    // The views are those of GET /users/{username}: private for yourself.
    let (_, carol) = send_json(s.req(Method::GET, "/api/v1/users/carol")).await;
    assert_eq!(body["items"][0], carol);
    let (_, mine) = send_json(alice.basic(s.req(Method::GET, path))).await;
    assert_eq!(mine["items"][2]["email"], "alice@example.com");
    assert!(mine["items"][0].get("email").is_none());
    // Page parameters are not used with `usernames`, but bad ones are refused.
    let (status, _) = send_json(s.req(Method::GET, "/api/v1/users?usernames=bob&limit=0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, body) = send_json(s.req(Method::GET, "/api/v1/users?usernames=nobody")).await;
    assert_eq!(body["items"], json!([]));

    let hundred: Vec<String> = (0..100).map(|i| format!("u{i}")).collect();
    let (status, _) = send_json(s.req(
        Method::GET,
        &format!("/api/v1/users?usernames={}", hundred.join(",")),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for bad in [
        format!("{},u100", hundred.join(",")),
        String::new(),
        "alice,,bob".into(),
        "alice,".into(),
        "%20".into(),
        "not-a-name".into(),
    ] {
        let body = expect(
            s.req(Method::GET, &format!("/api/v1/users?usernames={bad}")),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(body["field"], "usernames", "{bad}: {body}");
    }
    s.stop().await;
}
