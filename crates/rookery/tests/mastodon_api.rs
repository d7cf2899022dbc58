//! The Mastodon client API on `rookery serve`'s second listener: real
//! routers, real sockets, real SQLite; requests shaped as toot, Mastodon.py
//! and masto.js send them (form, JSON and empty bodies, `key[]` arrays).

mod common;

use std::time::Duration;

use common::Server;
use reqwest::header::{LINK, LOCATION, SET_COOKIE};
use reqwest::{Client, Method, RequestBuilder, StatusCode, redirect};
use serde_json::{Value, json};

struct Masto {
    server: Server,
    client: Client,
    client_id: String,
    client_secret: String,
}

impl Masto {
    async fn start() -> Self {
        let server = Server::with_mastodon().await;
        let client = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        let mut masto = Self {
            server,
            client,
            client_id: String::new(),
            client_secret: String::new(),
        };
        // Mastodon.py registers with a form.
        let (status, app) = masto
            .send(masto.req(Method::POST, "/api/v1/apps").form(&[
                ("client_name", "tests"),
                ("scopes", "read write follow push"),
                (
                    "redirect_uris",
                    "urn:ietf:wg:oauth:2.0:oob\nhttps://app.example/cb",
                ),
                ("website", "https://app.example"),
            ]))
            .await;
        assert_eq!(status, StatusCode::OK, "{app}");
        masto.client_id = app["client_id"].as_str().unwrap().to_string();
        masto.client_secret = app["client_secret"].as_str().unwrap().to_string();
        masto
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.server.mastodon, path))
    }

    fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.req(method, path).bearer_auth(token)
    }

    async fn send(&self, req: RequestBuilder) -> (StatusCode, Value) {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.unwrap();
        assert!(
            ct.starts_with("application/json"),
            "{status} without JSON ({ct}): {text}"
        );
        (status, serde_json::from_str(&text).unwrap())
    }

    async fn ok(&self, req: RequestBuilder) -> Value {
        let (status, body) = self.send(req).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// A new account and a token with `scope` (the password grant, as
    /// toot's login_cli sends it).
    async fn account(&self, name: &str, scope: &str) -> String {
        let resp = self.server.register(name).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        self.login(name, scope).await
    }

    async fn login(&self, name: &str, scope: &str) -> String {
        let password = common::password(name);
        let token = self
            .ok(self.req(Method::POST, "/oauth/token").form(&[
                ("grant_type", "password"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
                ("username", name),
                ("password", &password),
                ("scope", scope),
            ]))
            .await;
        token["access_token"].as_str().unwrap().to_string()
    }

    /// `POST /api/v1/statuses/{id}/{action}` (favourite, reblog, ...).
    async fn act(&self, token: &str, id: &str, action: &str) -> Value {
        self.ok(self.authed(
            Method::POST,
            &format!("/api/v1/statuses/{id}/{action}"),
            token,
        ))
        .await
    }

    /// A vote for option `choice` of a poll, as Mastodon.py sends it.
    async fn vote(&self, token: &str, poll_id: &str, choice: &str) -> Value {
        self.ok(self
            .authed(
                Method::POST,
                &format!("/api/v1/polls/{poll_id}/votes"),
                token,
            )
            .form(&[("choices[]", choice)]))
            .await
    }

    /// A status with a poll, as Mastodon.py's form encodes it.
    async fn tea_or_coffee(&self, token: &str) -> Value {
        self.ok(self.authed(Method::POST, "/api/v1/statuses", token).form(&[
            ("status", "Tea or coffee?"),
            ("poll[options][]", "tea"),
            ("poll[options][]", "coffee"),
            ("poll[expires_in]", "86400"),
        ]))
        .await
    }

    async fn post(&self, token: &str, text: &str) -> Value {
        self.ok(self
            .authed(Method::POST, "/api/v1/statuses", token)
            .json(&json!({"status": text, "media_ids": [], "sensitive": false})))
            .await
    }
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Polls `check` until it holds (notifications and timelines follow events
/// within 2 seconds).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not within 5 s");
}

#[tokio::test]
async fn instance_apps_and_the_password_grant() {
    let m = Masto::start().await;
    // Trailing slashes, as Mastodon.py calls them.
    let v1 = m.ok(m.req(Method::GET, "/api/v1/instance/")).await;
    let version = v1["version"].as_str().unwrap();
    assert!(
        version.starts_with("4.3.0 (compatible; Rookery "),
        "{version}"
    );
    assert!(m.server.mastodon.ends_with(v1["uri"].as_str().unwrap()));
    assert!(
        v1["urls"]["streaming_api"]
            .as_str()
            .unwrap()
            .starts_with("ws://")
    );
    assert_eq!(v1["configuration"]["statuses"]["max_characters"], 500);
    let v2 = m.ok(m.req(Method::GET, "/api/v2/instance/")).await;
    assert_eq!(v2["api_versions"]["mastodon"], 2);
    assert_eq!(v2["version"], v1["version"]);

    // JSON registration (toot, masto.js); bad redirect URIs are refused.
    let app = m
        .ok(m.req(Method::POST, "/api/v1/apps").json(&json!({
            "client_name": "toot", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write follow"
        })))
        .await;
    assert_eq!(app["scopes"], json!(["follow", "read", "write"]));
    assert_eq!(app["redirect_uris"], json!(["urn:ietf:wg:oauth:2.0:oob"]));
    assert!(app["client_secret"].as_str().unwrap().len() >= 32);
    let (status, body) = m
        .send(
            m.req(Method::POST, "/api/v1/apps")
                .json(&json!({"client_name": "x", "redirect_uris": "/relative"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = m
        .send(
            m.req(Method::POST, "/api/v1/apps")
                .json(&json!({"redirect_uris": "urn:ietf:wg:oauth:2.0:oob"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    m.server.register("alice").await;
    let password = common::password("alice");
    // Every requested scope is echoed, `push` included; expires_in is an
    // integer (never null).
    let token = m
        .ok(m.req(Method::POST, "/oauth/token").form(&[
            ("grant_type", "password"),
            ("client_id", m.client_id.as_str()),
            ("client_secret", m.client_secret.as_str()),
            ("username", "alice"),
            ("password", password.as_str()),
            ("scope", "read write follow push"),
            ("redirect_uri", "urn:ietf:wg:oauth:2.0:oob"),
        ]))
        .await;
    assert_eq!(token["scope"], "follow push read write");
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["created_at"].is_i64());
    assert!(token["expires_in"].is_u64());
    let access = token["access_token"].as_str().unwrap();
    let me = m
        .ok(m.authed(Method::GET, "/api/v1/accounts/verify_credentials", access))
        .await;
    assert_eq!(me["id"], "alice");
    assert_eq!(me["acct"], "alice");
    assert_eq!(me["username"], "alice");
    assert!(me["url"].as_str().unwrap().ends_with("/u/alice"));
    assert!(me["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(me["source"]["privacy"], "public");

    // The e-mail address works as the username (toot asks for "Email").
    let by_email = m
        .ok(m.req(Method::POST, "/oauth/token").json(&json!({
            "grant_type": "password", "client_id": m.client_id, "client_secret": m.client_secret,
            "username": "alice@example.com", "password": password, "scope": "read",
        })))
        .await;
    assert_eq!(by_email["scope"], "read");

    let (status, body) = m
        .send(m.req(Method::POST, "/oauth/token").form(&[
            ("grant_type", "password"),
            ("client_id", m.client_id.as_str()),
            ("client_secret", m.client_secret.as_str()),
            ("username", "alice"),
            ("password", "wrong password"),
        ]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");
    assert!(body["error_description"].is_string());
    let (status, body) = m
        .send(m.req(Method::POST, "/oauth/token").form(&[
            ("grant_type", "password"),
            ("client_id", m.client_id.as_str()),
            ("client_secret", "not the secret"),
            ("username", "alice"),
            ("password", password.as_str()),
        ]))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_client");
    let (status, body) = m
        .send(m.req(Method::POST, "/oauth/token").form(&[
            ("grant_type", "implicit"),
            ("client_id", m.client_id.as_str()),
            ("client_secret", m.client_secret.as_str()),
        ]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
    // More than the app registered.
    let (status, body) = m
        .send(m.req(Method::POST, "/oauth/token").form(&[
            ("grant_type", "password"),
            ("client_id", m.client_id.as_str()),
            ("client_secret", m.client_secret.as_str()),
            ("username", "alice"),
            ("password", password.as_str()),
            ("scope", "read admin:read"),
        ]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");

    // Revoked tokens stop working (the native session ends).
    let revoked = m
        .ok(m.req(Method::POST, "/oauth/revoke").json(&json!({
            "client_id": m.client_id, "client_secret": m.client_secret, "token": access,
        })))
        .await;
    assert_eq!(revoked, json!({}));
    let (status, body) = m
        .send(m.authed(Method::GET, "/api/v1/accounts/verify_credentials", access))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    m.server.stop().await;
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

#[tokio::test]
async fn the_authorization_code_grant_with_its_page() {
    let m = Masto::start().await;
    m.server.register("alice").await;
    let password = common::password("alice");
    // Mastodon.py's literal extras; toot's trailing slash.
    let url = format!(
        "/oauth/authorize/?client_id={}&response_type=code&redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob&scope=read+write&force_login=False&state=None&lang=None",
        m.client_id
    );
    let page = m.req(Method::GET, &url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = page
        .headers()
        .get(SET_COOKIE)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let csp = page
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"));
    let cookie = cookie.split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorize tests"));
    let csrf = hidden(&html, "csrf");
    let form = |csrf: &str, password: &str| {
        vec![
            ("csrf".to_string(), csrf.to_string()),
            ("client_id".to_string(), m.client_id.clone()),
            (
                "redirect_uri".to_string(),
                "urn:ietf:wg:oauth:2.0:oob".to_string(),
            ),
            ("scope".to_string(), "read write".to_string()),
            ("response_type".to_string(), "code".to_string()),
            ("username".to_string(), "alice".to_string()),
            ("password".to_string(), password.to_string()),
            ("decision".to_string(), "authorize".to_string()),
        ]
    };
    // A forged form (no cookie, or no token) gives no code.
    let forged = m
        .req(Method::POST, "/oauth/authorize")
        .form(&form(&csrf, &password))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(!forged.text().await.unwrap().contains("id=\"code\""));
    let wrong = m
        .req(Method::POST, "/oauth/authorize")
        .header("cookie", &cookie)
        .form(&form(&csrf, "not the password"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password")
    );
    let granted = m
        .req(Method::POST, "/oauth/authorize")
        .header("cookie", &cookie)
        .form(&form(&csrf, &password))
        .send()
        .await
        .unwrap();
    assert_eq!(granted.status(), StatusCode::OK);
    let html = granted.text().await.unwrap();
    let start = html.find("<code id=\"code\">").unwrap() + "<code id=\"code\">".len();
    let code = html[start..start + html[start..].find('<').unwrap()].to_string();

    // masto.js sends JSON to the token endpoint.
    let exchange = json!({
        "grant_type": "authorization_code", "client_id": m.client_id, "client_secret": m.client_secret,
        "code": code, "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
    });
    let token = m
        .ok(m.req(Method::POST, "/oauth/token").json(&exchange))
        .await;
    assert_eq!(token["scope"], "read write");
    let access = token["access_token"].as_str().unwrap();
    let me = m
        .ok(m.authed(Method::GET, "/api/v1/accounts/verify_credentials", access))
        .await;
    assert_eq!(me["username"], "alice");
    // A code works once.
    let (status, body) = m
        .send(m.req(Method::POST, "/oauth/token").json(&exchange))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_grant");

    // A real redirect URI gets the code (and the state) in a redirect; a
    // denial gets access_denied.
    let url = format!(
        "/oauth/authorize?client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=xyz",
        m.client_id
    );
    let page = m.req(Method::GET, &url).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf2 = hidden(&html, "csrf");
    assert_eq!(hidden(&html, "state"), "xyz");
    let mut fields = form(&csrf2, &password);
    fields[2].1 = "https://app.example/cb".into();
    fields[3].1 = "read".into();
    fields.push(("state".into(), "xyz".into()));
    let redirected = m
        .req(Method::POST, "/oauth/authorize")
        .header("cookie", format!("rookery_oauth_csrf={csrf2}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(redirected.status(), StatusCode::SEE_OTHER);
    let location = redirected
        .headers()
        .get(LOCATION)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        location.starts_with("https://app.example/cb?code="),
        "{location}"
    );
    assert!(location.ends_with("&state=xyz"));
    fields[7].1 = "deny".into();
    let denied = m
        .req(Method::POST, "/oauth/authorize")
        .header("cookie", format!("rookery_oauth_csrf={csrf2}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let location = denied.headers().get(LOCATION).unwrap().to_str().unwrap();
    assert!(location.contains("error=access_denied"));

    // Unknown apps and unregistered redirect URIs get an error page.
    let bad = m
        .req(Method::GET, "/oauth/authorize?client_id=nope&response_type=code&redirect_uri=urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    m.server.stop().await;
}

#[tokio::test]
async fn scopes_are_enforced() {
    let m = Masto::start().await;
    let reader = m.account("alice", "read").await;
    let (status, body) = m
        .send(
            m.authed(Method::POST, "/api/v1/statuses", &reader)
                .json(&json!({"status": "hi"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    m.ok(m.authed(Method::GET, "/api/v1/timelines/home", &reader))
        .await;
    // The scoped token cannot write through the native API either.
    let native = m
        .server
        .req(Method::POST, "/api/v1/posts")
        .bearer_auth(&reader)
        .json(&json!({"text": "around the scopes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(native.status(), StatusCode::FORBIDDEN);

    let writer = m.login("alice", "write:statuses").await;
    m.post(&writer, "allowed").await;
    let (status, _) = m
        .send(m.authed(Method::GET, "/api/v1/notifications", &writer))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = m
        .send(m.authed(Method::POST, "/api/v1/accounts/alice/follow", &writer))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // An app token acts for no account.
    let app = m
        .ok(m.req(Method::POST, "/oauth/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", m.client_id.as_str()),
            ("client_secret", m.client_secret.as_str()),
            ("scope", "read"),
        ]))
        .await;
    let app_token = app["access_token"].as_str().unwrap();
    let (status, _) = m
        .send(m.authed(
            Method::GET,
            "/api/v1/accounts/verify_credentials",
            app_token,
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let me = m
        .ok(m.authed(Method::GET, "/api/v1/apps/verify_credentials", app_token))
        .await;
    assert_eq!(me["name"], "tests");
    assert!(me.get("client_secret").is_none());
    let (status, _) = m
        .send(m.authed(Method::GET, "/api/v1/timelines/home", "not-a-token"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = m.send(m.req(Method::GET, "/api/v1/timelines/home")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    m.server.stop().await;
}

#[tokio::test]
async fn statuses_threads_reblogs_and_favourites() {
    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow").await;
    let bob = m.account("bob", "read write follow").await;

    let first = m
        .post(&alice, "Hello @bob, #Rust <script>alert(1)</script>")
        .await;
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["account"]["acct"], "alice");
    assert_eq!(first["visibility"], "public");
    assert_eq!(first["mentions"][0]["acct"], "bob");
    assert_eq!(first["tags"][0]["name"], "rust");
    let content = first["content"].as_str().unwrap();
    assert!(
        content.contains("&lt;script&gt;") && !content.contains("<script>"),
        "{content}"
    );
    assert!(content.contains("class=\"u-url mention\""));
    assert!(
        first["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/p/{id}"))
    );
    assert!(first.get("scheduled_at").is_none());
    assert_eq!(first["favourited"], false);

    // Mastodon.py posts with a form; an Idempotency-Key makes a retry the same status.
    let reply = m
        .ok(m
            .authed(Method::POST, "/api/v1/statuses", &bob)
            .header("Idempotency-Key", "retry-1")
            .form(&[
                ("status", "a reply"),
                ("in_reply_to_id", id.as_str()),
                ("sensitive", "0"),
            ]))
        .await;
    let again = m
        .ok(m
            .authed(Method::POST, "/api/v1/statuses", &bob)
            .header("Idempotency-Key", "retry-1")
            .form(&[("status", "a reply"), ("in_reply_to_id", id.as_str())]))
        .await;
    assert_eq!(reply["id"], again["id"]);
    assert_eq!(reply["in_reply_to_id"], id.as_str());
    assert_eq!(reply["in_reply_to_account_id"], "alice");
    let nested = m
        .ok(m
            .authed(Method::POST, "/api/v1/statuses", &alice)
            .json(&json!({
                "status": "nested", "in_reply_to_id": reply["id"],
            })))
        .await;
    let context = m
        .ok(m.req(
            Method::GET,
            &format!("/api/v1/statuses/{}/context", reply["id"].as_str().unwrap()),
        ))
        .await;
    assert_eq!(ids(&context["ancestors"]), vec![id.clone()]);
    assert_eq!(
        ids(&context["descendants"]),
        vec![nested["id"].as_str().unwrap().to_string()]
    );
    let context = m
        .ok(m.req(Method::GET, &format!("/api/v1/statuses/{id}/context")))
        .await;
    assert_eq!(context["ancestors"], json!([]));
    assert_eq!(
        ids(&context["descendants"]),
        vec![
            reply["id"].as_str().unwrap().to_string(),
            nested["id"].as_str().unwrap().to_string()
        ]
    );

    // Reblog: a wrapper whose reblog is the original; twice gives the same.
    let reblog = m
        .ok(m.authed(Method::POST, &format!("/api/v1/statuses/{id}/reblog"), &bob))
        .await;
    assert_eq!(reblog["reblog"]["id"], id.as_str());
    assert_eq!(reblog["reblog"]["reblogged"], true);
    assert_eq!(reblog["account"]["acct"], "bob");
    let twice = m
        .ok(m.authed(Method::POST, &format!("/api/v1/statuses/{id}/reblog"), &bob))
        .await;
    assert_eq!(twice["id"], reblog["id"]);
    let undone = m
        .ok(m.authed(
            Method::POST,
            &format!("/api/v1/statuses/{id}/unreblog"),
            &bob,
        ))
        .await;
    assert_eq!(undone["id"], id.as_str());
    assert_eq!(undone["reblogged"], false);

    // Favourite with no body and no content type (toot, masto.js).
    let faved = m
        .ok(m.authed(
            Method::POST,
            &format!("/api/v1/statuses/{id}/favourite"),
            &bob,
        ))
        .await;
    assert_eq!(faved["favourited"], true);
    assert_eq!(faved["favourites_count"], 1);
    assert_eq!(faved["rookery"]["upvotes"], 1);
    let unfaved = m
        .ok(m.authed(
            Method::POST,
            &format!("/api/v1/statuses/{id}/unfavourite"),
            &bob,
        ))
        .await;
    assert_eq!(unfaved["favourited"], false);
    assert_eq!(unfaved["favourites_count"], 0);

    // A new status is rendered without reading the caller's state (it has
    // none yet); a retry with its Idempotency-Key returns the older status
    // with the state it has gained since.
    let keyed = |text: &str| {
        m.authed(Method::POST, "/api/v1/statuses", &bob)
            .header("Idempotency-Key", "retry-2")
            .json(&json!({ "status": text }))
    };
    let own = m.ok(keyed("my own")).await;
    assert_eq!(
        (own["favourited"].clone(), own["reblogged"].clone()),
        (json!(false), json!(false))
    );
    let own_id = own["id"].as_str().unwrap();
    for action in ["favourite", "reblog"] {
        m.ok(m.authed(
            Method::POST,
            &format!("/api/v1/statuses/{own_id}/{action}"),
            &bob,
        ))
        .await;
    }
    let replayed = m.ok(keyed("my own")).await;
    assert_eq!(replayed["id"], own_id);
    assert_eq!(replayed["favourited"], true);
    assert_eq!(replayed["reblogged"], true);

    // The caller's own state on a page read without its account (the
    // public timeline): shown for a valid token, and a token with altered
    // claims (bob's signature, alice's id) learns nothing: 401.
    m.ok(m.authed(
        Method::POST,
        &format!("/api/v1/statuses/{id}/favourite"),
        &bob,
    ))
    .await;
    let public = m
        .ok(m.authed(Method::GET, "/api/v1/timelines/public?limit=40", &bob))
        .await;
    let mine = public
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("the status on the public timeline");
    assert_eq!(mine["favourited"], true);
    let alice_claims = alice.split('.').nth(1).unwrap();
    let mut forged: Vec<&str> = bob.split('.').collect();
    forged[1] = alice_claims;
    let forged = forged.join(".");
    let (status, _) = m
        .send(m.authed(Method::GET, "/api/v1/timelines/public?limit=40", &forged))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    m.ok(m.authed(
        Method::POST,
        &format!("/api/v1/statuses/{id}/unfavourite"),
        &bob,
    ))
    .await;

    // Edits: the author only.
    let edited = m
        .ok(m
            .authed(Method::PUT, &format!("/api/v1/statuses/{id}"), &alice)
            .json(&json!({"status": "Edited"})))
        .await;
    assert!(edited["content"].as_str().unwrap().contains("Edited"));
    assert!(edited["edited_at"].is_string());
    let (status, _) = m
        .send(
            m.authed(Method::PUT, &format!("/api/v1/statuses/{id}"), &bob)
                .json(&json!({"status": "mine now"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = m
        .send(m.authed(Method::DELETE, &format!("/api/v1/statuses/{id}"), &bob))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let deleted = m
        .ok(m.authed(Method::DELETE, &format!("/api/v1/statuses/{id}"), &alice))
        .await;
    assert_eq!(deleted["text"], "Edited");
    let (status, body) = m
        .send(m.req(Method::GET, &format!("/api/v1/statuses/{id}")))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "Record not found");

    // Empty and oversized texts are refused as Mastodon refuses them.
    let (status, _) = m
        .send(
            m.authed(Method::POST, "/api/v1/statuses", &alice)
                .json(&json!({"status": ""})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = m
        .send(
            m.authed(Method::POST, "/api/v1/statuses", &alice)
                .json(&json!({"status": "x".repeat(501)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    m.server.stop().await;
}

/// The URL of one relation in a Link header.
fn link_url(link: &str, rel: &str) -> Option<String> {
    link.split(", ").find_map(|part| {
        let (url, r) = part.split_once("; ")?;
        (r == format!("rel=\"{rel}\"")).then(|| url.trim_matches(['<', '>']).to_string())
    })
}

#[tokio::test]
async fn timelines_page_as_mastodon_does() {
    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow").await;
    let bob = m.account("bob", "read write follow").await;
    let mut posted: Vec<String> = Vec::new();
    for i in 0..45 {
        let s = m.post(&alice, &format!("status {i} #paging")).await;
        posted.push(s["id"].as_str().unwrap().to_string());
    }
    let newest_first: Vec<String> = posted.iter().rev().cloned().collect();

    // Walk the public timeline by its Link headers until an empty page.
    let mut seen: Vec<String> = Vec::new();
    let mut url = format!(
        "{}/api/v1/timelines/public?local=true&limit=20",
        m.server.mastodon
    );
    let mut pages = 0;
    loop {
        let resp = m.client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let link = resp
            .headers()
            .get(LINK)
            .map(|v| v.to_str().unwrap().to_string());
        let page: Value = resp.json().await.unwrap();
        pages += 1;
        if page.as_array().unwrap().is_empty() {
            assert!(link.is_none(), "no Link header on an empty page");
            break;
        }
        let link = link.expect("a Link header on a page");
        assert!(link.starts_with('<'), "next comes first: {link}");
        let next = link_url(&link, "next").unwrap();
        let prev = link_url(&link, "prev").unwrap();
        assert!(
            next.starts_with(&m.server.mastodon)
                && next.contains("max_id=")
                && next.contains("local=true")
        );
        assert!(prev.contains("min_id="));
        seen.extend(ids(&page));
        url = next;
        assert!(pages < 10);
    }
    assert_eq!(seen, newest_first);

    // since_id: the newest above it; min_id: the page just above it; both newest first.
    let (x, above1, above2) = (&posted[5], &posted[6], &posted[7]);
    let since = m
        .ok(m.req(
            Method::GET,
            &format!("/api/v1/timelines/public?since_id={x}&limit=2"),
        ))
        .await;
    assert_eq!(ids(&since), newest_first[..2].to_vec());
    let min = m
        .ok(m.req(
            Method::GET,
            &format!("/api/v1/timelines/public?min_id={x}&limit=2"),
        ))
        .await;
    assert_eq!(ids(&min), vec![above2.clone(), above1.clone()]);
    let max = m
        .ok(m.req(
            Method::GET,
            &format!("/api/v1/timelines/public?max_id={x}&limit=2"),
        ))
        .await;
    assert_eq!(ids(&max), vec![posted[4].clone(), posted[3].clone()]);
    let (status, _) = m
        .send(m.req(Method::GET, "/api/v1/timelines/public?max_id=abc"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // remote timelines are empty (everything is local).
    assert_eq!(
        m.ok(m.req(Method::GET, "/api/v1/timelines/public?remote=true"))
            .await,
        json!([])
    );

    // Tag timeline, and the home timeline after a follow through Mastodon.
    let tagged = m
        .ok(m.req(Method::GET, "/api/v1/timelines/tag/Paging?limit=40"))
        .await;
    assert_eq!(ids(&tagged), newest_first[..40].to_vec());
    let rel = m
        .ok(m
            .authed(Method::POST, "/api/v1/accounts/alice/follow", &bob)
            .form(&[("reblogs", "1"), ("notify", "0")]))
        .await;
    assert_eq!(rel["following"], true);
    assert_eq!(rel["id"], "alice");
    let latest = m.post(&alice, "after the follow").await;
    eventually("the followee's status on the home timeline", || async {
        let home = m
            .ok(m.authed(Method::GET, "/api/v1/timelines/home?limit=5", &bob))
            .await;
        ids(&home).first() == latest["id"].as_str().map(str::to_string).as_ref()
    })
    .await;

    // An account's statuses and its following list (toot tui walks it).
    let mine = m
        .ok(m.req(
            Method::GET,
            "/api/v1/accounts/alice/statuses?limit=3&exclude_replies=true",
        ))
        .await;
    assert_eq!(ids(&mine)[0], latest["id"].as_str().unwrap());
    let following = m
        .ok(m.req(Method::GET, "/api/v1/accounts/bob/following"))
        .await;
    assert_eq!(ids(&following), vec!["alice"]);
    let followers = m
        .ok(m.req(Method::GET, "/api/v1/accounts/alice/followers/"))
        .await;
    assert_eq!(ids(&followers), vec!["bob"]);
    m.server.stop().await;
}

#[tokio::test]
async fn notifications_in_mastodon_types() {
    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow push").await;
    let bob = m.account("bob", "read write follow").await;
    let first = m.post(&alice, "notice me").await;
    let id = first["id"].as_str().unwrap();
    m.ok(m.authed(Method::POST, "/api/v1/accounts/alice/follow", &bob))
        .await;
    m.ok(m.authed(
        Method::POST,
        &format!("/api/v1/statuses/{id}/favourite"),
        &bob,
    ))
    .await;
    m.ok(m.authed(Method::POST, &format!("/api/v1/statuses/{id}/reblog"), &bob))
        .await;
    m.post(&bob, "hey @alice").await;
    eventually("four notifications", || async {
        let list = m
            .ok(m.authed(Method::GET, "/api/v1/notifications", &alice))
            .await;
        list.as_array().unwrap().len() == 4
    })
    .await;
    let list = m
        .ok(m.authed(Method::GET, "/api/v1/notifications", &alice))
        .await;
    let mut types: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, vec!["favourite", "follow", "mention", "reblog"]);
    for n in list.as_array().unwrap() {
        assert_eq!(n["account"]["acct"], "bob");
        assert!(n["id"].is_string() && n["created_at"].as_str().unwrap().ends_with('Z'));
    }
    let faves = m
        .ok(m.authed(
            Method::GET,
            "/api/v1/notifications?types[]=favourite",
            &alice,
        ))
        .await;
    assert_eq!(faves.as_array().unwrap().len(), 1);
    assert_eq!(faves[0]["status"]["id"], id);
    let others = m
        .ok(m.authed(
            Method::GET,
            "/api/v1/notifications?exclude_types[]=mention&exclude_types[]=follow",
            &alice,
        ))
        .await;
    let mut types: Vec<&str> = others
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, vec!["favourite", "reblog"]);
    let one = m
        .ok(m.authed(
            Method::GET,
            &format!("/api/v1/notifications/{}", list[0]["id"].as_str().unwrap()),
            &alice,
        ))
        .await;
    assert_eq!(one["id"], list[0]["id"]);

    // Clear: they are gone from this view; later ones still come.
    assert_eq!(
        m.ok(m.authed(Method::POST, "/api/v1/notifications/clear", &alice))
            .await,
        json!({})
    );
    assert_eq!(
        m.ok(m.authed(Method::GET, "/api/v1/notifications", &alice))
            .await,
        json!([])
    );
    m.post(&bob, "again @alice").await;
    eventually("a notification after clearing", || async {
        let list = m
            .ok(m.authed(Method::GET, "/api/v1/notifications", &alice))
            .await;
        list.as_array().unwrap().len() == 1 && list[0]["type"] == "mention"
    })
    .await;
    m.server.stop().await;
}

#[tokio::test]
async fn search_polls_direct_statuses_and_relationships() {
    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow").await;
    let bob = m.account("bob", "read write follow").await;
    m.post(&alice, "searching for rookery words #findme").await;

    // toot follow's search: accounts by name, resolve ignored.
    let found = m
        .ok(m.authed(
            Method::GET,
            "/api/v2/search?q=bob&resolve=true&type=accounts",
            &alice,
        ))
        .await;
    assert_eq!(found["accounts"][0]["acct"], "bob");
    assert_eq!(found["statuses"], json!([]));
    let found = m
        .ok(m.req(Method::GET, "/api/v2/search?q=rookery%20words"))
        .await;
    assert!(
        found["statuses"][0]["content"]
            .as_str()
            .unwrap()
            .contains("rookery words")
    );
    let found = m
        .ok(m.req(Method::GET, "/api/v2/search?q=%23find&type=hashtags"))
        .await;
    assert_eq!(found["hashtags"][0]["name"], "findme");
    let (status, _) = m.send(m.req(Method::GET, "/api/v2/search")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A poll, as Mastodon.py's form encodes it.
    let with_poll = m.tea_or_coffee(&alice).await;
    let poll = &with_poll["poll"];
    assert_eq!(poll["options"][1]["title"], "coffee");
    assert_eq!(poll["voted"], false);
    let poll_id = poll["id"].as_str().unwrap();
    let voted = m.vote(&bob, poll_id, "1").await;
    assert_eq!(voted["voted"], true);
    assert_eq!(voted["own_votes"], json!([1]));
    assert_eq!(voted["options"][1]["votes_count"], 1);
    let (status, _) = m
        .send(
            m.authed(
                Method::POST,
                &format!("/api/v1/polls/{poll_id}/votes"),
                &bob,
            )
            .json(&json!({"choices": ["0"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let shown = m
        .ok(m.authed(
            Method::GET,
            &format!("/api/v1/statuses/{}", with_poll["id"].as_str().unwrap()),
            &bob,
        ))
        .await;
    assert_eq!(shown["poll"]["own_votes"], json!([1]));

    // A direct status is a direct message to each mentioned account.
    let direct = m
        .ok(m
            .authed(Method::POST, "/api/v1/statuses", &alice)
            .json(&json!({"status": "@bob psst", "visibility": "direct"})))
        .await;
    assert_eq!(direct["visibility"], "direct");
    let conversations = m
        .ok(m.authed(Method::GET, "/api/v1/conversations/", &bob))
        .await;
    assert_eq!(conversations[0]["accounts"][0]["acct"], "alice");
    assert_eq!(conversations[0]["last_status"]["id"], direct["id"]);
    let (status, _) = m
        .send(
            m.authed(Method::POST, "/api/v1/statuses", &alice)
                .json(&json!({"status": "nobody", "visibility": "direct"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // Relationships, blocks and mutes.
    m.ok(m.authed(Method::POST, "/api/v1/accounts/alice/follow", &bob))
        .await;
    let rel = m
        .ok(m.authed(
            Method::GET,
            "/api/v1/accounts/relationships?id[]=alice&id[]=nobody",
            &bob,
        ))
        .await;
    assert_eq!(rel[0]["following"], true);
    assert_eq!(rel[0]["followed_by"], false);
    assert_eq!(rel[1]["following"], false);
    let muted = m
        .ok(m.authed(Method::POST, "/api/v1/accounts/alice/mute", &bob))
        .await;
    assert_eq!(muted["muting"], true);
    let blocked = m
        .ok(m.authed(Method::POST, "/api/v1/accounts/alice/block", &bob))
        .await;
    assert_eq!(blocked["blocking"], true);
    assert_eq!(blocked["following"], false, "a block ends the follow");
    let blocks = m.ok(m.authed(Method::GET, "/api/v1/blocks", &bob)).await;
    assert_eq!(ids(&blocks), vec!["alice"]);
    let unblocked = m
        .ok(m.authed(Method::POST, "/api/v1/accounts/alice/unblock", &bob))
        .await;
    assert_eq!(unblocked["blocking"], false);
    let lookup = m
        .ok(m.req(Method::GET, "/api/v1/accounts/lookup?acct=@alice"))
        .await;
    assert_eq!(lookup["id"], "alice");
    let (status, _) = m.send(m.req(Method::GET, "/api/v1/accounts/nobody")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    m.server.stop().await;
}

#[tokio::test]
async fn errors_cors_and_start_up_endpoints() {
    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow").await;
    let (status, body) = m.send(m.req(Method::GET, "/api/v1/nothing/here")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["error"].is_string());
    let (status, _) = m
        .send(
            m.authed(Method::POST, "/api/v1/statuses", &alice)
                .header("content-type", "application/json")
                .body("{broken"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A browser app's preflight and the exposed Link header.
    let preflight = m
        .req(Method::OPTIONS, "/api/v1/timelines/home")
        .header("origin", "https://elk.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "*"
    );
    let simple = m
        .req(Method::GET, "/api/v1/instance")
        .header("origin", "https://elk.example")
        .send()
        .await
        .unwrap();
    let exposed = simple
        .headers()
        .get("access-control-expose-headers")
        .unwrap()
        .to_str()
        .unwrap()
        .to_lowercase();
    assert!(exposed.contains("link"), "{exposed}");

    for path in [
        "/api/v1/preferences",
        "/api/v1/markers",
        "/api/v1/filters",
        "/api/v1/lists",
    ] {
        m.ok(m.authed(Method::GET, path, &alice)).await;
    }
    let prefs = m
        .ok(m.authed(Method::GET, "/api/v1/preferences", &alice))
        .await;
    assert_eq!(prefs["posting:default:visibility"], "public");
    assert_eq!(
        m.ok(m.req(Method::GET, "/api/v1/custom_emojis")).await,
        json!([])
    );
    let updated = m
        .ok(m
            .authed(Method::PATCH, "/api/v1/accounts/update_credentials", &alice)
            .form(&[("note", "new bio")]))
        .await;
    assert_eq!(updated["source"]["note"], "new bio");
    assert_eq!(updated["note"], "<p>new bio</p>");
    let header = m
        .req(Method::GET, "/headers/original/missing.png")
        .send()
        .await
        .unwrap();
    assert_eq!(header.headers().get("content-type").unwrap(), "image/png");
    m.server.stop().await;
}

/// Reads SSE lines until an `update` event whose payload contains `needle`.
async fn sse_update(resp: &mut reqwest::Response, needle: &str) -> Value {
    let mut buffer = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("an update within 10 s")
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let event = block.lines().find_map(|l| l.strip_prefix("event: "));
            let data = block.lines().find_map(|l| l.strip_prefix("data: "));
            if event == Some("update")
                && let Some(data) = data
                && data.contains(needle)
            {
                return serde_json::from_str(data).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn streaming_over_sse_and_websocket() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow").await;
    let bob = m.account("bob", "read write follow").await;
    m.ok(m.authed(Method::POST, "/api/v1/accounts/alice/follow", &bob))
        .await;
    let health = m
        .req(Method::GET, "/api/v1/streaming/health")
        .send()
        .await
        .unwrap();
    assert_eq!(health.text().await.unwrap(), "OK");

    // SSE: bob's user stream and an anonymous public stream.
    let mut user = m
        .authed(Method::GET, "/api/v1/streaming/user", &bob)
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), StatusCode::OK);
    let mut public = m
        .req(Method::GET, "/api/v1/streaming/public")
        .send()
        .await
        .unwrap();
    let mut tag = m
        .req(Method::GET, "/api/v1/streaming/hashtag?tag=streams")
        .send()
        .await
        .unwrap();
    let (status, _) = m.send(m.req(Method::GET, "/api/v1/streaming/user")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // WebSocket with the token as the subprotocol (masto.js), echoed back.
    let ws_url = format!(
        "{}/api/v1/streaming",
        m.server.mastodon.replace("http://", "ws://")
    );
    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", bob.parse().unwrap());
    let (mut socket, handshake) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        handshake
            .headers()
            .get("sec-websocket-protocol")
            .unwrap()
            .to_str()
            .unwrap(),
        bob
    );
    socket
        .send(Message::Text(
            json!({"type": "subscribe", "stream": "user"})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    // Subscriptions are read before the next post is made.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let posted = m.post(&alice, "live on the stream #streams").await;
    let id = posted["id"].as_str().unwrap();
    assert_eq!(sse_update(&mut user, id).await["account"]["acct"], "alice");
    assert_eq!(sse_update(&mut public, id).await["id"], id);
    assert_eq!(sse_update(&mut tag, id).await["tags"][0]["name"], "streams");
    let message = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await.unwrap().unwrap() {
                Message::Text(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    if v["event"] == "update" {
                        return v;
                    }
                }
                _ => continue,
            }
        }
    })
    .await
    .expect("an update on the WebSocket");
    assert_eq!(message["stream"], json!(["user"]));
    let payload: Value = serde_json::from_str(message["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["id"], id);
    m.server.stop().await;
}

/// Every status of `viewer`'s home page is what its own route shows that
/// viewer (pages write each status's shared part once per version: this
/// is what keeps them from ever showing an old one). Events still on their
/// way (a vote's karma) may change a status between the two reads, so a
/// difference must persist to fail.
async fn home_matches_each_status(m: &Masto, viewer: &str) -> Vec<Value> {
    let mut differing = String::new();
    for _ in 0..40 {
        let page = m
            .ok(m.authed(Method::GET, "/api/v1/timelines/home?limit=40", viewer))
            .await;
        let page = page.as_array().unwrap().clone();
        differing.clear();
        for status in &page {
            let id = status["id"].as_str().unwrap();
            let alone = m
                .ok(m.authed(Method::GET, &format!("/api/v1/statuses/{id}"), viewer))
                .await;
            if status != &alone {
                differing = format!("status {id}: on the page {status}, alone {alone}");
                break;
            }
        }
        if differing.is_empty() {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the home page is not what each status shows: {differing}");
}

fn by_id<'a>(page: &'a [Value], id: &str) -> &'a Value {
    page.iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("{id} is not on the page"))
}

#[tokio::test]
async fn home_pages_show_every_change_at_once() {
    let m = Masto::start().await;
    let alice = m.account("alice", "read write follow").await;
    let bob = m.account("bob", "read write follow").await;
    let carol = m.account("carol", "read write follow").await;
    m.ok(m.authed(Method::POST, "/api/v1/accounts/alice/follow", &bob))
        .await;
    let first = m.post(&alice, "first #rust for @carol").await;
    let id = first["id"].as_str().unwrap().to_string();
    let reply = m
        .ok(m
            .authed(Method::POST, "/api/v1/statuses", &alice)
            .json(&json!({"status": "and a reply", "in_reply_to_id": id})))
        .await;
    let with_poll = m.tea_or_coffee(&alice).await;

    eventually("alice's statuses on bob's home", || async {
        home_matches_each_status(&m, &bob).await.len() == 3
    })
    .await;
    // Twice: the second page is written from what the first one kept.
    for _ in 0..2 {
        let page = home_matches_each_status(&m, &bob).await;
        assert_eq!(page.len(), 3);
        let reply_shown = by_id(&page, reply["id"].as_str().unwrap());
        assert_eq!(reply_shown["in_reply_to_account_id"], "alice");
        assert_eq!(by_id(&page, &id)["favourited"], false);
    }
    // Alice's own page shows the same statuses with her own (absent) state.
    home_matches_each_status(&m, &alice).await;

    // A favourite, a reblog, an edit, a new follower, a poll vote: each
    // shows on the next page.
    m.act(&bob, &id, "favourite").await;
    // The caller's own favourite at once; the count as the vote's event arrives.
    let page = home_matches_each_status(&m, &bob).await;
    assert_eq!(by_id(&page, &id)["favourited"], true);
    eventually("the favourite counted", || async {
        let page = home_matches_each_status(&m, &bob).await;
        by_id(&page, &id)["favourites_count"] == 1
    })
    .await;
    let other_view = home_matches_each_status(&m, &alice).await;
    assert_eq!(by_id(&other_view, &id)["favourited"], false);
    assert_eq!(by_id(&other_view, &id)["favourites_count"], 1);
    // Taken back and given again: each at once on the caller's page.
    for (action, shown) in [("unfavourite", false), ("favourite", true)] {
        m.act(&bob, &id, action).await;
        let page = home_matches_each_status(&m, &bob).await;
        assert_eq!(by_id(&page, &id)["favourited"], shown, "after {action}");
    }

    let reblog = m.act(&bob, &id, "reblog").await;
    let reblog_id = reblog["id"].as_str().unwrap();
    eventually("bob's reblog on his home", || async {
        let page = home_matches_each_status(&m, &bob).await;
        page.iter().any(|s| s["id"] == reblog_id)
    })
    .await;
    let page = home_matches_each_status(&m, &bob).await;
    let wrapper = by_id(&page, reblog_id);
    assert_eq!(wrapper["reblog"]["id"], id.as_str());
    assert_eq!(wrapper["account"]["acct"], "bob");
    assert_eq!(wrapper["reblogged"], true);
    assert_eq!(wrapper["reblog"]["reblogged"], true);
    assert_eq!(wrapper["reblog"]["favourited"], true);
    assert_eq!(by_id(&page, &id)["reblogs_count"], 1);

    m.ok(m
        .authed(Method::PUT, &format!("/api/v1/statuses/{id}"), &alice)
        .json(&json!({"status": "edited #rust"})))
        .await;
    let page = home_matches_each_status(&m, &bob).await;
    let edited = by_id(&page, &id);
    assert!(edited["content"].as_str().unwrap().contains("edited"));
    assert!(edited["edited_at"].is_string());
    let wrapper = by_id(&page, reblog_id);
    assert!(
        wrapper["reblog"]["content"]
            .as_str()
            .unwrap()
            .contains("edited")
    );

    let followers = by_id(&page, &id)["account"]["followers_count"]
        .as_i64()
        .unwrap();
    m.ok(m.authed(Method::POST, "/api/v1/accounts/alice/follow", &carol))
        .await;
    let page = home_matches_each_status(&m, &bob).await;
    assert_eq!(
        by_id(&page, &id)["account"]["followers_count"],
        followers + 1
    );

    let poll_id = with_poll["poll"]["id"].as_str().unwrap();
    m.vote(&bob, poll_id, "1").await;
    let page = home_matches_each_status(&m, &bob).await;
    let poll = &by_id(&page, with_poll["id"].as_str().unwrap())["poll"];
    assert_eq!(poll["own_votes"], json!([1]));
    let page = home_matches_each_status(&m, &alice).await;
    let poll = &by_id(&page, with_poll["id"].as_str().unwrap())["poll"];
    assert_eq!(poll["voted"], false);
    assert_eq!(poll["options"][1]["votes_count"], 1);

    // A deleted status leaves the page (and its reblog with it).
    m.ok(m.authed(Method::DELETE, &format!("/api/v1/statuses/{id}"), &alice))
        .await;
    let page = home_matches_each_status(&m, &bob).await;
    assert!(
        page.iter()
            .all(|s| s["id"] != id.as_str() && s["reblog"]["id"] != id.as_str())
    );
}
