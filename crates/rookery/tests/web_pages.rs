//! The web client through `rookery serve`'s gateway: real router, real
//! socket, real SQLite. A small cookie-keeping "browser" without JavaScript
//! (no redirects followed, so every 303 is checked).

mod common;

use std::collections::HashMap;

use common::Server;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

/// Form fields or headers.
type Fields<'a> = Vec<(&'a str, &'a str)>;

struct Browser {
    base: String,
    client: Client,
    cookies: HashMap<String, String>,
    /// The CSRF token of the last page seen.
    csrf: String,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn title(&self) -> &str {
        let start = self.body.find("<title>").map(|i| i + 7).unwrap_or(0);
        let end = self.body[start..].find("</title>").unwrap_or(0);
        &self.body[start..start + end]
    }

    /// Asserts a control with this visible text or label exists.
    fn has(&self, name: &str) -> &Self {
        let escaped = name.replace('\'', "&#39;");
        assert!(
            self.body.contains(&format!(">{name}<")) || self.body.contains(&format!(">{escaped}<")),
            "no control named {name:?} on {:?}:\n{}",
            self.title(),
            self.body
        );
        self
    }
}

impl Browser {
    fn new(server: &Server) -> Self {
        Self {
            base: server.base.clone(),
            client: Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        for value in resp.headers().get_all(SET_COOKIE) {
            let value = value.to_str().unwrap();
            let pair = value.split(';').next().unwrap();
            let (name, v) = pair.split_once('=').unwrap();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), v.to_string());
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap();
        if let Some(i) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[i + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_string();
        }
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    async fn post_with(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        self.finish(resp).await
    }

    /// A form POST with this browser's CSRF token, as a page would send it.
    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut fields = vec![("csrf", csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_with(path, &fields, &[]).await
    }

    async fn sign_up(server: &Server, username: &str) -> Self {
        let mut browser = Self::new(server);
        browser.get("/signup").await;
        let email = format!("{username}@example.com");
        let page = browser
            .post(
                "/signup",
                &[
                    ("username", username),
                    ("email", &email),
                    ("password", &common::password(username)),
                    ("bio", ""),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        browser.get("/").await;
        browser
    }
}

/// The page once it contains `needle` (timelines and notifications are
/// eventually consistent: within 2 seconds).
async fn eventually(browser: &mut Browser, path: &str, needle: &str) -> Page {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let page = browser.get(path).await;
        if page.body.contains(needle) || std::time::Instant::now() > deadline {
            assert!(
                page.body.contains(needle),
                "{path} never showed {needle:?}:\n{}",
                page.body
            );
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn api_get(server: &Server, path: &str) -> Value {
    let resp = server.req(reqwest::Method::GET, path).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    resp.json().await.unwrap()
}

async fn first_post_id(server: &Server, username: &str) -> String {
    let posts = api_get(server, &format!("/api/v1/users/{username}/posts")).await;
    posts["items"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn signing_up_logs_in_with_a_safe_session_cookie() {
    let server = Server::embedded().await;
    let mut browser = Browser::new(&server);
    let form = browser.get("/signup").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_eq!(form.title(), "Sign up · Rookery");
    form.has("Username")
        .has("Email")
        .has("Password")
        .has("Bio")
        .has("Sign up");
    let done = browser
        .post_with(
            "/signup",
            &[
                ("csrf", &browser.csrf.clone()),
                ("username", "alice"),
                ("email", "alice@example.com"),
                ("password", "correct horse battery"),
            ],
            &[("x-forwarded-proto", "https")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/");
    let cookie = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("rookery_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Secure"), "over https: {cookie}");
    let home = browser.get("/").await;
    assert_eq!(home.title(), "Home · Rookery");
    home.has("What's happening?").has("Post").has("Log out");

    // Over plain http the cookie cannot be Secure (it would never come back).
    let mut plain = Browser::new(&server);
    plain.get("/login").await;
    let done = plain
        .post(
            "/login",
            &[("username", "alice"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let cookie = done
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        cookie.contains("rookery_session=") && !cookie.contains("Secure"),
        "{cookie}"
    );

    // A taken name is said on the form, the entered values kept, never the password.
    let mut other = Browser::new(&server);
    other.get("/signup").await;
    let taken = other
        .post(
            "/signup",
            &[
                ("username", "alice"),
                ("email", "second@example.com"),
                ("password", "another password 1"),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(
        taken.body.contains("That username is taken"),
        "{}",
        taken.body
    );
    assert!(taken.body.contains("second@example.com"));
    assert!(!taken.body.contains("another password 1"));
    let wrong = other
        .post(
            "/login",
            &[("username", "alice"), ("password", "not it at all")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong username or password"));
    assert!(!other.cookies.contains_key("rookery_session"));
    server.stop().await;
}

#[tokio::test]
async fn every_page_answers_with_its_title_controls_and_policy() {
    let server = Server::embedded().await;
    let mut bob = Browser::sign_up(&server, "bob").await;
    let mut alice = Browser::sign_up(&server, "alice").await;
    assert_eq!(
        alice
            .post("/posts", &[("text", "hello #rust @bob")])
            .await
            .status,
        StatusCode::SEE_OTHER
    );
    let post_id = first_post_id(&server, "alice").await;
    let submitted = alice
        .post(
            "/c/rust",
            &[
                ("title", "A community post"),
                ("url", "https://example.com/"),
                ("text", ""),
            ],
        )
        .await;
    assert_eq!(submitted.status, StatusCode::SEE_OTHER);
    assert!(submitted.location().starts_with("/p/"));
    let poll = alice
        .post(
            "/polls",
            &[
                ("question", "Tea or coffee?"),
                ("option", "Tea"),
                ("option", "Coffee"),
                ("option", ""),
            ],
        )
        .await;
    assert_eq!(poll.status, StatusCode::SEE_OTHER);
    let poll_path = poll.location().to_string();
    let sent = alice
        .post(
            "/messages",
            &[
                ("to", "bob"),
                ("text", "hi bob"),
                ("quick_replies", "Yes\nNo"),
            ],
        )
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let thread = sent.location().to_string();

    let checks: Vec<(&str, &str, Vec<&str>)> = vec![
        ("/", "Home", vec!["What's happening?", "Post", "Log out"]),
        (
            "/u/bob",
            "bob (profile)",
            vec!["Follow", "Block", "Mute", "Message"],
        ),
        (
            &format!("/p/{post_id}"),
            "Post by alice",
            vec!["Upvote", "Downvote", "Repost", "Edit", "Delete", "Reply"],
        ),
        (
            "/c/rust",
            "c/rust",
            vec![
                "Hot",
                "New",
                "Top",
                "Controversial",
                "Title",
                "Link",
                "Text",
                "Submit",
            ],
        ),
        (
            "/messages",
            "Messages",
            vec!["Inbox", "Sent", "To", "Message", "Send"],
        ),
        (
            "/settings",
            "Settings",
            vec![
                "Bio",
                "Email",
                "New password",
                "Current password",
                "Save",
                "Deactivate account",
            ],
        ),
        ("/notifications", "Notifications", vec![]),
        ("/search?q=hello", "Search: hello", vec!["Search"]),
        (
            "/polls/new",
            "New poll",
            vec!["Question", "Option", "Create poll"],
        ),
        (
            &poll_path,
            "Poll: Tea or coffee?",
            vec!["Vote", "Tea", "Coffee"],
        ),
        (&thread, "Conversation with bob", vec!["Send"]),
        (
            "/settings/deactivate",
            "Deactivate account",
            vec!["Deactivate account"],
        ),
    ]
    .into_iter()
    .map(|(p, t, c)| (Box::leak(p.to_string().into_boxed_str()) as &str, t, c))
    .collect();
    for (path, title, controls) in checks {
        let page = alice.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert_eq!(page.title(), format!("{title} · Rookery"), "{path}");
        assert!(
            page.body.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{path}"
        );
        assert!(page.body.contains("<main id=\"main\">"), "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert!(!page.body.contains("<script>"), "{path}: inline script");
        assert!(!page.body.contains(" style="), "{path}: inline style");
        for control in controls {
            page.has(control);
        }
    }
    // Bob is offered the quick replies of Alice's message.
    let offered = bob.get(&thread).await;
    offered.has("Yes").has("No").has("Send");
    eventually(&mut bob, "/", "class=\"badge\"").await;

    let mut visitor = Browser::new(&server);
    let public = eventually(&mut visitor, "/", "hello").await;
    assert_eq!(public.title(), "Public timeline · Rookery");
    public.has("Log in").has("Sign up");
    let login = visitor.get("/login").await;
    login.has("Username").has("Password").has("Log in");
    // Assets come from the binary, cacheable, compressed when asked.
    for asset in ["/static/app.css", "/static/app.js", "/avatar/alice.svg"] {
        let resp = server
            .client
            .get(format!("{}{asset}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        assert!(
            resp.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
    }
    for path in ["/", "/static/app.css"] {
        let plain = rookery::bench::page_weight(&server.base, path, None, "identity")
            .await
            .unwrap();
        for encoding in ["gzip", "br"] {
            let packed = rookery::bench::page_weight(&server.base, path, None, encoding)
                .await
                .unwrap();
            assert!(
                packed * 2 < plain,
                "{path} {encoding}: {packed} of {plain} bytes"
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn forged_posts_are_refused_and_change_nothing() {
    let server = Server::embedded().await;
    let mut alice = Browser::sign_up(&server, "alice").await;
    let good = alice.csrf.clone();
    let attempts: Vec<(Fields, Fields)> = vec![
        (vec![("text", "forged 1")], vec![]),
        (
            vec![("csrf", "not-the-token"), ("text", "forged 2")],
            vec![],
        ),
        (
            vec![("csrf", &good), ("text", "forged 3")],
            vec![("origin", "http://evil.example")],
        ),
        (
            vec![("csrf", &good), ("text", "forged 4")],
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (form, headers) in attempts {
        let page = alice.post_with("/posts", &form, &headers).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{form:?} {headers:?}");
        assert!(page.body.contains("Not allowed"));
    }
    let forged_logout = alice.post_with("/logout", &[], &[]).await;
    assert_eq!(forged_logout.status, StatusCode::FORBIDDEN);
    let posts = api_get(&server, "/api/v1/users/alice/posts").await;
    assert_eq!(posts["items"].as_array().unwrap().len(), 0, "{posts}");
    // Still logged in, and the real form works (same-origin headers too).
    let origin = server.base.clone();
    let page = alice
        .post_with(
            "/posts",
            &[("csrf", &good), ("text", "real")],
            &[("origin", &origin), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let posts = api_get(&server, "/api/v1/users/alice/posts").await;
    assert_eq!(posts["items"][0]["text"], "real");
    // Login forms need the pre-login token too.
    let mut visitor = Browser::new(&server);
    let page = visitor
        .post_with("/login", &[("username", "alice"), ("password", "x")], &[])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    server.stop().await;
}

#[tokio::test]
async fn user_content_is_escaped_everywhere() {
    let server = Server::embedded().await;
    let mut bob = Browser::sign_up(&server, "bob").await;
    let mut alice = Browser::sign_up(&server, "alice").await;
    let xss = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'";
    alice.post("/posts", &[("text", xss)]).await;
    alice
        .post("/settings", &[("bio", xss), ("email", "alice@example.com")])
        .await;
    let sent = alice
        .post("/messages", &[("to", "bob"), ("text", xss)])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let thread = sent.location().to_string();
    let post_id = first_post_id(&server, "alice").await;
    for page in [
        eventually(&mut alice, "/", "alert(1)").await,
        alice.get("/u/alice").await,
        alice.get(&format!("/p/{post_id}")).await,
        bob.get(&thread).await,
        bob.get("/messages").await,
        bob.get("/search?q=alice").await,
    ] {
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{}",
            page.body
        );
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(!page.body.contains("<img src=x"), "{}", page.body);
    }
    server.stop().await;
}

#[tokio::test]
async fn logout_and_password_change_end_sessions() {
    let server = Server::embedded().await;
    let mut alice = Browser::sign_up(&server, "alice").await;
    let cookie = alice.cookies["rookery_session"].clone();
    let out = alice.post("/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!alice.cookies.contains_key("rookery_session"));
    // The old cookie is worth nothing now.
    alice.cookies.insert("rookery_session".into(), cookie);
    let settings = alice.get("/settings").await;
    assert_eq!(settings.status, StatusCode::SEE_OTHER);
    assert!(settings.location().starts_with("/login"));

    // Two browsers of one account; a password change in one ends both.
    let mut phone = Browser::new(&server);
    let mut laptop = Browser::new(&server);
    for b in [&mut phone, &mut laptop] {
        b.get("/login").await;
        let page = b
            .post(
                "/login",
                &[
                    ("username", "alice"),
                    ("password", &common::password("alice")),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        b.get("/settings").await;
    }
    let wrong = laptop
        .post(
            "/settings",
            &[
                ("bio", ""),
                ("email", "alice@example.com"),
                ("new_password", "a brand new password"),
                ("current_password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("current password is not right"));
    let changed = laptop
        .post(
            "/settings",
            &[
                ("bio", "new bio"),
                ("email", "alice@example.com"),
                ("new_password", "a brand new password"),
                ("current_password", &common::password("alice")),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), "/login?changed=1");
    for b in [&mut phone, &mut laptop] {
        let page = b.get("/settings").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(page.location().starts_with("/login"));
    }
    laptop.get("/login").await;
    let again = laptop
        .post(
            "/login",
            &[("username", "alice"), ("password", "a brand new password")],
        )
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let profile = api_get(&server, "/api/v1/users/alice").await;
    assert_eq!(profile["bio"], "new bio");
    server.stop().await;
}

/// A token revoked behind the web's back (here: through the API) ends the
/// session at the next page.
#[tokio::test]
async fn a_revoked_token_logs_the_browser_out() {
    let server = Server::embedded().await;
    let mut alice = Browser::sign_up(&server, "alice").await;
    let resp = server
        .req(reqwest::Method::PATCH, "/api/v1/users/alice")
        .basic_auth("alice", Some(common::password("alice")))
        .json(&json!({"password": "changed elsewhere 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let home = alice.get("/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.location(), "/login?expired=1");
    let visitor = alice.get("/").await;
    assert_eq!(visitor.title(), "Public timeline · Rookery");
    server.stop().await;
}

#[tokio::test]
async fn forms_work_without_javascript() {
    let server = Server::embedded().await;
    let mut bob = Browser::sign_up(&server, "bob").await;
    let mut alice = Browser::sign_up(&server, "alice").await;
    bob.post("/posts", &[("text", "bob's first")]).await;
    let bobs = first_post_id(&server, "bob").await;

    let follow = alice.post("/u/bob/follow", &[("next", "/u/bob")]).await;
    assert_eq!(
        (follow.status, follow.location()),
        (StatusCode::SEE_OTHER, "/u/bob")
    );
    let followers = api_get(&server, "/api/v1/users/bob/followers").await;
    assert_eq!(followers["items"][0]["username"], "alice");
    alice.get("/u/bob").await.has("Unfollow");

    let up = alice
        .post(&format!("/p/{bobs}/upvote"), &[("next", "/")])
        .await;
    assert_eq!((up.status, up.location()), (StatusCode::SEE_OTHER, "/"));
    assert_eq!(
        api_get(&server, &format!("/api/v1/posts/{bobs}/votes")).await["score"],
        1
    );
    // The script's request gets the votes box instead of a redirect.
    let csrf = alice.csrf.clone();
    let fragment = alice
        .post_with(
            &format!("/p/{bobs}/downvote"),
            &[("csrf", &csrf), ("next", "/")],
            &[("x-rookery-fragment", "1")],
        )
        .await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        fragment
            .body
            .starts_with(&format!("<span class=\"votes\" id=\"votes-{bobs}\">")),
        "{}",
        fragment.body
    );
    assert!(fragment.body.contains("-1"));
    assert_eq!(
        api_get(&server, &format!("/api/v1/posts/{bobs}/votes")).await["score"],
        -1
    );
    // The pressed button takes the vote back.
    assert!(fragment.body.contains("name=\"undo\""), "{}", fragment.body);
    let undone = alice
        .post(&format!("/p/{bobs}/downvote"), &[("undo", "1")])
        .await;
    assert_eq!(undone.status, StatusCode::SEE_OTHER);
    let score = api_get(&server, &format!("/api/v1/posts/{bobs}/votes")).await["score"].clone();
    assert_eq!(score, 0);

    let reply = alice
        .post(&format!("/p/{bobs}/reply"), &[("text", "a reply")])
        .await;
    assert_eq!(reply.location(), format!("/p/{bobs}"));
    let repost = alice
        .post(&format!("/p/{bobs}/repost"), &[("next", "/")])
        .await;
    assert_eq!(repost.status, StatusCode::SEE_OTHER);
    let page = alice.get(&format!("/p/{bobs}")).await;
    assert!(page.body.contains("a reply"));
    eventually(&mut alice, "/", "bob's first").await;

    // Edit and delete one's own post.
    alice.post("/posts", &[("text", "typo")]).await;
    let mine = first_post_id(&server, "alice").await;
    let edit = alice.get(&format!("/p/{mine}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK);
    alice
        .post(&format!("/p/{mine}/edit"), &[("text", "fixed")])
        .await;
    assert_eq!(
        api_get(&server, &format!("/api/v1/posts/{mine}")).await["text"],
        "fixed"
    );
    let deleted = alice
        .post(
            &format!("/p/{mine}/delete"),
            &[("next", &format!("/p/{mine}"))],
        )
        .await;
    assert_eq!(deleted.location(), "/");
    assert_eq!(
        alice.get(&format!("/p/{mine}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Polls, messages with a quick reply, block and mute.
    let poll = alice
        .post(
            "/polls",
            &[("question", "Q?"), ("option", "A"), ("option", "B")],
        )
        .await;
    let poll_path = poll.location().to_string();
    let voted = bob
        .post(&format!("{poll_path}/vote"), &[("choice", "1")])
        .await;
    assert_eq!(voted.location(), poll_path);
    let poll_id = poll_path.trim_start_matches("/polls/");
    assert_eq!(
        api_get(&server, &format!("/api/v1/polls/{poll_id}")).await["options"][1]["votes"],
        1
    );
    let sent = alice
        .post(
            "/messages",
            &[
                ("to", "bob"),
                ("text", "lunch?"),
                ("quick_replies", "Yes\nNo"),
            ],
        )
        .await;
    let thread = sent.location().to_string();
    bob.get(&thread).await;
    let answered = bob
        .post(&format!("{thread}/reply"), &[("quick_reply", "0")])
        .await;
    assert_eq!(answered.location(), thread);
    assert!(alice.get(&thread).await.body.contains(">Yes<"));
    let muted = alice.post("/u/bob/mute", &[]).await;
    assert_eq!(muted.status, StatusCode::SEE_OTHER);
    let blocked = alice.post("/u/bob/block", &[]).await;
    assert_eq!(blocked.status, StatusCode::SEE_OTHER);
    let settings = alice.get("/settings").await;
    settings.has("Unblock").has("Unmute");
    let profile = alice.get("/u/bob").await;
    profile.has("Unblock").has("Unmute").has("Follow");
    alice.post("/u/bob/unblock", &[("next", "/settings")]).await;
    assert!(!alice.get("/settings").await.body.contains(">Unblock<"));
    // Refusals are pages that say what was wrong, never a 500.
    let nobody = alice
        .post("/messages", &[("to", "nobody"), ("text", "hi")])
        .await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST);
    assert!(
        nobody.body.contains("no account with that name"),
        "{}",
        nobody.body
    );
    let empty = alice.post("/posts", &[("text", "   ")]).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    let bad_poll = alice
        .post("/polls", &[("question", "Q?"), ("option", "only one")])
        .await;
    assert_eq!(bad_poll.status, StatusCode::BAD_REQUEST);
    server.stop().await;
}

#[tokio::test]
async fn browsers_get_html_errors_and_the_api_keeps_json() {
    let server = Server::embedded().await;
    let mut visitor = Browser::new(&server);
    let missing = visitor.get("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(
        missing.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(missing.title(), "Page not found · Rookery");
    assert_eq!(visitor.get("/u/nobody").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        visitor.get("/p/not-a-number").await.status,
        StatusCode::NOT_FOUND
    );
    let api = server
        .req(reqwest::Method::GET, "/api/v1/no/such/route")
        .send()
        .await
        .unwrap();
    let (status, body) = common::json(api).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "no such route");
    // Pages needing an account send visitors to the login page.
    let settings = visitor.get("/settings").await;
    assert_eq!(settings.status, StatusCode::SEE_OTHER);
    assert!(settings.location().starts_with("/login"));

    // Login failures are limited as the API's are: "slow down".
    server.user("alice").await;
    visitor.get("/login").await;
    let mut last = None;
    for _ in 0..11 {
        last = Some(
            visitor
                .post(
                    "/login",
                    &[("username", "alice"), ("password", "wrong password")],
                )
                .await,
        );
    }
    let limited = last.unwrap();
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    assert_eq!(limited.title(), "Slow down · Rookery");
    assert!(limited.headers.contains_key("retry-after"));
    server.stop().await;
}

/// Scaled out: a `rookery service web` instance calls the gateway over HTTP
/// (here the embedded one) and keeps its own sessions.
#[tokio::test]
async fn a_web_instance_works_through_the_gateway_over_http() {
    let gateway = Server::embedded().await;
    let dir = tempfile::tempdir().unwrap();
    let url = rookery_kernel::db::sqlite_url_in(dir.path(), "web");
    let app = rookery::app::web_instance(&url, std::slice::from_ref(&gateway.base))
        .await
        .unwrap();
    let web = Server::serve(app, dir).await;
    let health = web
        .req(reqwest::Method::GET, "/readyz")
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let mut alice = Browser::sign_up(&web, "alice").await;
    let posted = alice
        .post("/posts", &[("text", "through the gateway")])
        .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER);
    eventually(&mut alice, "/", "through the gateway").await;
    // The post went through the public API.
    let posts = api_get(&gateway, "/api/v1/users/alice/posts").await;
    assert_eq!(posts["items"][0]["text"], "through the gateway");
    assert_eq!(
        alice.post("/logout", &[]).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(alice.get("/settings").await.status, StatusCode::SEE_OTHER);
    web.stop().await;
    gateway.stop().await;
}
