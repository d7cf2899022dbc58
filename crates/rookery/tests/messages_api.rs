//! The direct messages API through the gateway, on a real socket.

mod common;

use std::time::{Duration, Instant};

use common::{Server, User, expect, json, send_json};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// Sends as `from` and checks 201, `Location` and the body's participants.
async fn send(s: &Server, from: &User, body: Value) -> Value {
    let resp = from
        .basic(s.req(Method::POST, "/api/v1/messages"))
        .json(&body)
        .send()
        .await
        .unwrap();
    created(resp, &from.name).await
}

async fn reply(s: &Server, from: &User, id: &str, body: Value) -> Value {
    let resp = from
        .basic(s.req(Method::POST, &format!("/api/v1/messages/{id}/replies")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let message = created(resp, &from.name).await;
    assert_eq!(message["in_reply_to"], id);
    message
}

async fn created(resp: reqwest::Response, from: &str) -> Value {
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    let (status, message) = json(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    let id = message["id"].as_str().unwrap();
    assert!(id.bytes().all(|b| b.is_ascii_digit()), "{message}");
    assert_eq!(location, Some(format!("/api/v1/messages/{id}")));
    assert_eq!(message["from"], from);
    message
}

fn id(message: &Value) -> String {
    message["id"].as_str().unwrap().to_string()
}

async fn get(s: &Server, user: &User, path: &str) -> (StatusCode, Value) {
    send_json(user.basic(s.req(Method::GET, path))).await
}

/// The ids of a listing, every page followed through its `Link` header.
async fn pages(s: &Server, user: &User, path: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut url = format!("{}{path}", s.base);
    loop {
        let resp = user.basic(s.client.get(&url)).send().await.unwrap();
        let link = resp
            .headers()
            .get("link")
            .map(|v| v.to_str().unwrap().to_string());
        let (status, body) = json(resp).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        out.push(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(id)
                .collect::<Vec<_>>(),
        );
        match link {
            Some(link) => {
                assert!(body["next_cursor"].is_string(), "{body}");
                let next = link
                    .strip_prefix('<')
                    .and_then(|l| l.split_once(">; rel=\"next\""))
                    .unwrap_or_else(|| panic!("bad Link {link}"))
                    .0;
                url = next.to_string();
            }
            None => {
                assert!(body["next_cursor"].is_null(), "{body}");
                return out;
            }
        }
    }
}

async fn listing(s: &Server, user: &User, query: &str) -> Vec<String> {
    pages(s, user, &format!("/api/v1/messages{query}"))
        .await
        .concat()
}

/// Every route of a message, with a valid request for each.
fn routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    let one = format!("/api/v1/messages/{id}");
    vec![
        (Method::GET, one.clone(), None),
        (Method::DELETE, one.clone(), None),
        (
            Method::POST,
            format!("{one}/replies"),
            Some(json!({"text": "hi"})),
        ),
        (
            Method::POST,
            format!("{one}/replies"),
            Some(json!({"quick_reply": 0})),
        ),
        (Method::GET, format!("{one}/replies"), None),
        (Method::POST, format!("{one}/favorite"), None),
        (Method::DELETE, format!("{one}/favorite"), None),
    ]
}

fn with_body(req: RequestBuilder, body: &Option<Value>) -> RequestBuilder {
    match body {
        Some(b) => req.json(b),
        None => req,
    }
}

#[tokio::test]
async fn send_read_and_validation() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    // Strings are trimmed; the recipient is named case-insensitively.
    let m = send(
        &s,
        &alice,
        json!({"to": " BOB ", "text": "  lunch today?  ", "quick_replies": [" yes ", "no"], "extra": 1}),
    )
    .await;
    assert_eq!(m["to"], "bob");
    assert_eq!(m["text"], "lunch today?");
    assert_eq!(m["quick_replies"], json!(["yes", "no"]));
    assert_eq!(m["in_reply_to"], Value::Null);
    assert_eq!(m["favorite"], false);
    assert!(m["created_at"].as_str().unwrap().ends_with('Z'), "{m}");
    let path = format!("/api/v1/messages/{}", id(&m));
    for user in [&alice, &bob] {
        let (status, read) = get(&s, user, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read, m);
    }
    // Quick replies are optional.
    let plain = send(&s, &bob, json!({"to": "alice", "text": "hello"})).await;
    assert_eq!(plain["quick_replies"], json!([]));

    // 401 on every route without credentials, with WWW-Authenticate.
    let mut all = routes(&id(&m));
    all.push((
        Method::POST,
        "/api/v1/messages".into(),
        Some(json!({"to": "bob", "text": "x"})),
    ));
    all.push((Method::GET, "/api/v1/messages".into(), None));
    for (method, path, body) in &all {
        let resp = with_body(s.req(method.clone(), path), body)
            .send()
            .await
            .unwrap();
        let challenge = resp
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Basic realm="rookery", Bearer"#),
            "{method} {path}"
        );
        common::expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    // Bearer tokens work too.
    let token = s.token(&bob).await;
    let resp = s
        .req(Method::GET, &path)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // 400 with the offending field.
    let long = "x".repeat(2001);
    let six: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let invalid = [
        (json!({"text": "no recipient"}), "to"),
        (json!({"to": "  ", "text": "blank recipient"}), "to"),
        (json!({"to": 42, "text": "wrong type"}), "to"),
        (json!({"to": "alice", "text": "to myself"}), "to"),
        (json!({"to": "ALICE", "text": "to myself"}), "to"),
        (json!({"to": "bob"}), "text"),
        (json!({"to": "bob", "text": "   "}), "text"),
        (json!({"to": "bob", "text": long}), "text"),
        (json!({"to": "bob", "text": ["a"]}), "text"),
        (
            json!({"to": "bob", "text": "x", "quick_replies": six}),
            "quick_replies",
        ),
        (
            json!({"to": "bob", "text": "x", "quick_replies": ["x".repeat(101)]}),
            "quick_replies",
        ),
        (
            json!({"to": "bob", "text": "x", "quick_replies": [" "]}),
            "quick_replies",
        ),
        (
            json!({"to": "bob", "text": "x", "quick_replies": "yes"}),
            "quick_replies",
        ),
    ];
    for (body, field) in invalid {
        let err = expect(
            alice
                .basic(s.req(Method::POST, "/api/v1/messages"))
                .json(&body),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(err["field"], field, "{body}: {err}");
    }
    // The bounds themselves are fine: 2000 characters, 5 quick replies of 100.
    let max = send(
        &s,
        &alice,
        json!({"to": "bob", "text": "é".repeat(2000), "quick_replies": vec!["q".repeat(100); 5]}),
    )
    .await;
    assert_eq!(max["quick_replies"].as_array().unwrap().len(), 5);

    // 404: unknown recipient; ids that are not ids or name no message.
    let err = expect(
        alice
            .basic(s.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "nobody", "text": "hello?"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(err["field"], "to");
    expect(
        alice
            .basic(s.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "no such name!", "text": "hello?"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    for bad in [
        "abc",
        "0",
        "-1",
        "1.5",
        "99999999999999999999",
        "%ff%fe",
        "12345",
    ] {
        for (method, path, body) in routes(bad) {
            expect(
                with_body(alice.basic(s.req(method.clone(), &path)), &body),
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
        }
    }
    // Listing parameters.
    for (query, field) in [
        ("?box=trash", "box"),
        ("?favorite=maybe", "favorite"),
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?n=abc", "n"),
        ("?cursor=garbage!", "cursor"),
    ] {
        let err = expect(
            alice.basic(s.req(Method::GET, &format!("/api/v1/messages{query}"))),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(err["field"], field, "{query}: {err}");
    }
    expect(
        alice.basic(s.req(Method::PUT, "/api/v1/messages")),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    s.stop().await;
}

#[tokio::test]
async fn only_the_participants_see_a_message() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let carol = s.user("carol").await;
    let m = send(
        &s,
        &alice,
        json!({"to": "bob", "text": "secret", "quick_replies": ["ok"]}),
    )
    .await;
    let r = reply(&s, &bob, &id(&m), json!({"text": "noted"})).await;
    // To a third user every route answers 404, exactly as for no message.
    for target in [&m, &r] {
        for (method, path, body) in routes(&id(target)) {
            let err = expect(
                with_body(carol.basic(s.req(method.clone(), &path)), &body),
                StatusCode::NOT_FOUND,
                "not_found",
            )
            .await;
            let (_, nothing) = send_json(with_body(
                carol.basic(s.req(method.clone(), &path.replace(&id(target), "12345"))),
                &body,
            ))
            .await;
            assert_eq!(err, nothing, "{method} {path}");
        }
    }
    for query in ["", "?box=sent", "?box=all", "?box=all&favorite=true"] {
        assert!(listing(&s, &carol, query).await.is_empty(), "{query}");
    }
    // The participants' view is untouched.
    let (status, read) = get(&s, &bob, &format!("/api/v1/messages/{}", id(&m))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["favorite"], false);
    assert_eq!(listing(&s, &alice, "?box=all").await, vec![id(&r), id(&m)]);
    s.stop().await;
}

#[tokio::test]
async fn replies_and_quick_replies() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let m = send(
        &s,
        &alice,
        json!({"to": "bob", "text": "coffee?", "quick_replies": ["yes", "no"]}),
    )
    .await;
    let mid = id(&m);
    let replies_path = format!("/api/v1/messages/{mid}/replies");

    // The recipient picks a quick reply: its text, to the other participant.
    let picked = reply(&s, &bob, &mid, json!({"quick_reply": 1})).await;
    assert_eq!(
        (&picked["to"], &picked["text"]),
        (&json!("alice"), &json!("no"))
    );
    // Bad indexes, wrong types, both or neither.
    for body in [
        r#"{"quick_reply": 2}"#,
        r#"{"quick_reply": -1}"#,
        r#"{"quick_reply": "1"}"#,
        r#"{"quick_reply": 1.5}"#,
        r#"{"quick_reply": 99999999999999999999}"#,
        r#"{"quick_reply": 0, "text": "both"}"#,
    ] {
        let err = expect(
            bob.basic(s.req(Method::POST, &replies_path))
                .header("content-type", "application/json")
                .body(body),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(err["field"], "quick_reply", "{body}: {err}");
    }
    for body in [json!({}), json!({"text": " "}), json!({"text": 5})] {
        let err = expect(
            bob.basic(s.req(Method::POST, &replies_path)).json(&body),
            StatusCode::BAD_REQUEST,
            "invalid_input",
        )
        .await;
        assert_eq!(err["field"], "text", "{body}: {err}");
    }
    // The sender may answer in words (to the other participant), not with
    // the quick replies it offered itself.
    let err = expect(
        alice
            .basic(s.req(Method::POST, &replies_path))
            .json(&json!({"quick_reply": 0})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    assert!(
        err["error"].as_str().unwrap().contains("recipient"),
        "{err}"
    );
    let own = reply(
        &s,
        &alice,
        &mid,
        json!({"text": " or tea? ", "quick_replies": ["tea"]}),
    )
    .await;
    assert_eq!(
        (&own["to"], &own["text"]),
        (&json!("bob"), &json!("or tea?"))
    );
    // A reply can offer quick replies in turn, and be answered with them.
    let tea = reply(&s, &bob, &id(&own), json!({"quick_reply": 0})).await;
    assert_eq!(tea["text"], "tea");
    // A message offering nothing: every index is bad.
    let err = expect(
        alice
            .basic(s.req(
                Method::POST,
                &format!("/api/v1/messages/{}/replies", id(&picked)),
            ))
            .json(&json!({"quick_reply": 0})),
        StatusCode::BAD_REQUEST,
        "invalid_input",
    )
    .await;
    assert_eq!(err["field"], "quick_reply");

    // Replies of a message, oldest first, paginated with Link headers.
    let mut expected = vec![id(&picked), id(&own)];
    for n in 0..3 {
        expected.push(id(&reply(
            &s,
            &bob,
            &mid,
            json!({"text": format!("more {n}")}),
        )
        .await));
    }
    for user in [&alice, &bob] {
        let got = pages(&s, user, &format!("{replies_path}?limit=2")).await;
        assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
        assert_eq!(got.concat(), expected);
    }
    let (status, empty) = get(
        &s,
        &alice,
        &format!("/api/v1/messages/{}/replies", id(&tea)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty, json!({"items": [], "next_cursor": null}));
    // Conversations pile up; nothing is overwritten.
    assert_eq!(listing(&s, &bob, "?box=all").await.len(), 7);
    s.stop().await;
}

#[tokio::test]
async fn deletion_and_favorites_are_per_participant() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let m = send(&s, &alice, json!({"to": "bob", "text": "keep or delete"})).await;
    let other = send(&s, &alice, json!({"to": "bob", "text": "another"})).await;
    let path = format!("/api/v1/messages/{}", id(&m));

    // Favorites: the caller's own flag.
    let (status, fav) =
        send_json(alice.basic(s.req(Method::POST, &format!("{path}/favorite")))).await;
    assert_eq!((status, &fav["favorite"]), (StatusCode::OK, &json!(true)));
    let (status, again) =
        send_json(alice.basic(s.req(Method::POST, &format!("{path}/favorite")))).await;
    assert_eq!((status, &again["favorite"]), (StatusCode::OK, &json!(true)));
    assert_eq!(get(&s, &alice, &path).await.1["favorite"], true);
    assert_eq!(get(&s, &bob, &path).await.1["favorite"], false);
    assert_eq!(
        listing(&s, &alice, "?box=sent&favorite=true").await,
        vec![id(&m)]
    );
    assert_eq!(
        listing(&s, &alice, "?box=all&favorite=true").await,
        vec![id(&m)]
    );
    assert!(listing(&s, &alice, "?favorite=true").await.is_empty()); // her inbox
    assert!(listing(&s, &bob, "?box=all&favorite=true").await.is_empty());
    assert_eq!(
        listing(&s, &alice, "?box=sent&favorite=false").await,
        vec![id(&other), id(&m)]
    );
    let (status, unfav) =
        send_json(alice.basic(s.req(Method::DELETE, &format!("{path}/favorite")))).await;
    assert_eq!(
        (status, &unfav["favorite"]),
        (StatusCode::OK, &json!(false))
    );
    assert!(
        listing(&s, &alice, "?box=all&favorite=true")
            .await
            .is_empty()
    );
    let (_, bob_fav) = send_json(bob.basic(s.req(Method::POST, &format!("{path}/favorite")))).await;
    assert_eq!(bob_fav["favorite"], true);
    assert_eq!(listing(&s, &bob, "?favorite=true").await, vec![id(&m)]);

    // Deleting: gone for the caller only.
    let resp = bob
        .basic(s.req(Method::DELETE, &path))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    for (method, path, body) in routes(&id(&m)) {
        expect(
            with_body(bob.basic(s.req(method.clone(), &path)), &body),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(listing(&s, &bob, "").await, vec![id(&other)]);
    assert!(listing(&s, &bob, "?favorite=true").await.is_empty());
    let (status, kept) = get(&s, &alice, &path).await;
    assert_eq!(
        (status, &kept["text"]),
        (StatusCode::OK, &json!("keep or delete"))
    );
    assert_eq!(
        listing(&s, &alice, "?box=sent").await,
        vec![id(&other), id(&m)]
    );
    // The other participant can still reply; the deleter gets the reply.
    let r = reply(&s, &alice, &id(&m), json!({"text": "you deleted it?"})).await;
    assert_eq!(
        get(&s, &bob, &format!("/api/v1/messages/{}", id(&r)))
            .await
            .0,
        StatusCode::OK
    );
    // Once the sender deletes it too, it is gone for both.
    let resp = alice
        .basic(s.req(Method::DELETE, &path))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(get(&s, &alice, &path).await.0, StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn boxes_paginate_newest_first() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let mut to_bob = Vec::new();
    let mut to_alice = Vec::new();
    for n in 0..5 {
        to_bob.push(id(&send(
            &s,
            &alice,
            json!({"to": "bob", "text": format!("a{n}")}),
        )
        .await));
        if n < 3 {
            to_alice.push(id(&send(
                &s,
                &bob,
                json!({"to": "alice", "text": format!("b{n}")}),
            )
            .await));
        }
    }
    let newest_first = |ids: &[String]| ids.iter().rev().cloned().collect::<Vec<_>>();
    let inbox = pages(&s, &bob, "/api/v1/messages?box=inbox&limit=2").await;
    assert_eq!(
        inbox.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    assert_eq!(inbox.concat(), newest_first(&to_bob));
    // The default box is the inbox; `n` is an alias of `limit`.
    assert_eq!(
        pages(&s, &bob, "/api/v1/messages?n=4").await.concat(),
        newest_first(&to_bob)
    );
    let sent = pages(&s, &bob, "/api/v1/messages?box=sent&limit=2").await;
    assert_eq!(sent.concat(), newest_first(&to_alice));
    let mut everything: Vec<String> = to_bob.iter().chain(&to_alice).cloned().collect();
    everything.sort_by_key(|i| std::cmp::Reverse(i.parse::<i64>().unwrap()));
    for user in [&alice, &bob] {
        let all = pages(&s, user, "/api/v1/messages?box=all&limit=3").await;
        assert_eq!(all.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 2]);
        assert_eq!(all.concat(), everything);
    }
    // The Link header keeps the other parameters.
    let resp = bob
        .basic(s.req(Method::GET, "/api/v1/messages?box=all&limit=3"))
        .send()
        .await
        .unwrap();
    let link = resp.headers()["link"].to_str().unwrap().to_string();
    assert!(
        link.contains("box=all") && link.contains("limit=3") && link.contains("cursor="),
        "{link}"
    );
    s.stop().await;
}

#[tokio::test]
async fn recipients_must_exist_and_be_active() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    // Messaged right after registering: the replica may not have heard of
    // the account yet, and asks the users service.
    for name in ["dave", "erin", "Frank"] {
        s.user(name).await;
        let m = send(
            &s,
            &alice,
            json!({"to": name.to_lowercase(), "text": "welcome!"}),
        )
        .await;
        assert_eq!(m["to"], name);
    }
    let dave = User {
        name: "dave".into(),
        password: common::password("dave"),
    };
    let m = send(&s, &dave, json!({"to": "alice", "text": "hi alice"})).await;
    let resp = dave
        .basic(s.req(Method::DELETE, "/api/v1/users/dave"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // The deactivation reaches the replica: dave gets no new messages, nor replies.
    let started = Instant::now();
    loop {
        let resp = alice
            .basic(s.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": "dave", "text": "still there?"}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::NOT_FOUND {
            common::expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
            break;
        }
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert!(started.elapsed() < Duration::from_secs(2), "not within 2 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    expect(
        alice
            .basic(s.req(
                Method::POST,
                &format!("/api/v1/messages/{}/replies", id(&m)),
            ))
            .json(&json!({"text": "dave?"})),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // What was received stays readable.
    assert_eq!(
        get(&s, &alice, &format!("/api/v1/messages/{}", id(&m)))
            .await
            .0,
        StatusCode::OK
    );
    s.stop().await;
}

#[tokio::test]
async fn garbage_never_gives_a_server_error() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    s.user("bob").await;
    let m = send(
        &s,
        &alice,
        json!({"to": "bob", "text": "x", "quick_replies": ["a"]}),
    )
    .await;
    let huge = "x".repeat(300_000);
    let bodies: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "application/json"),
        (b"{".to_vec(), "application/json"),
        (b"null".to_vec(), "application/json"),
        (b"[]".to_vec(), "application/json"),
        (b"12".to_vec(), "application/json"),
        (vec![0xff, 0xfe, 0x00, 0x7b], "application/json"),
        (
            b"{\"to\": \"bob\", \"text\": \"\xff\xfe\"}".to_vec(),
            "application/json",
        ),
        (
            format!(
                "{{\"to\": \"{huge}\", \"text\": \"{huge}\", \"quick_replies\": [\"{huge}\"]}}"
            )
            .into_bytes(),
            "application/json",
        ),
        (
            format!(
                "{{\"to\": \"bob\", \"text\": \"hi\", \"quick_replies\": [{}\"a\"]}}",
                "\"a\",".repeat(50_000)
            )
            .into_bytes(),
            "application/json",
        ),
        ("[".repeat(100_000).into_bytes(), "application/json"),
        (
            b"to=%ff%fe&text=x&quick_reply=%ff".to_vec(),
            "application/x-www-form-urlencoded",
        ),
        (b"<xml/>".to_vec(), "text/xml"),
        (
            b"{\"to\": {\"nested\": [1]}, \"text\": 1e400, \"quick_reply\": 1e400}".to_vec(),
            "application/json",
        ),
        (
            b"{\"quick_reply\": null, \"text\": null}".to_vec(),
            "application/json",
        ),
    ];
    let routes = [
        "/api/v1/messages".to_string(),
        format!("/api/v1/messages/{}/replies", id(&m)),
    ];
    for path in &routes {
        for (body, ct) in &bodies {
            let resp = alice
                .basic(s.req(Method::POST, path))
                .header("content-type", *ct)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let (_, json_body) = json(resp).await;
            assert!(
                status.is_client_error(),
                "{path} {ct}: {status} {json_body}"
            );
        }
        let big = vec![b'a'; 1024 * 1024 + 10];
        let resp = alice
            .basic(s.req(Method::POST, path))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
        common::expect_error(resp, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    }
    // Form bodies are accepted too.
    let resp = alice
        .basic(s.req(Method::POST, "/api/v1/messages"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("to=bob&text=from+a+form")
        .send()
        .await
        .unwrap();
    let formed = created(resp, "alice").await;
    assert_eq!(formed["text"], "from a form");
    // Odd query strings on listings.
    for query in [
        "?box=%ff",
        "?limit=%00",
        "?cursor=%ff%fe",
        "?favorite=&box=",
        "?box=inbox&box=sent",
    ] {
        let resp = alice
            .basic(s.req(Method::GET, &format!("/api/v1/messages{query}")))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let (_, body) = json(resp).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{query}: {status} {body}"
        );
    }
    s.stop().await;
}

/// Found by schemathesis: `{"quick_reply": 0.0}`, an integer to JSON Schema
/// (the documented type), was a 400.
#[tokio::test]
async fn quick_reply_takes_an_integral_number() {
    let s = Server::embedded().await;
    let alice = s.user("alice").await;
    let bob = s.user("bob").await;
    let m = send(
        &s,
        &alice,
        json!({"to": "bob", "text": "coffee?", "quick_replies": ["yes", "no"]}),
    )
    .await;
    let picked = reply(&s, &bob, &id(&m), json!({"quick_reply": 0.0})).await;
    assert_eq!(picked["text"], "yes");
}
