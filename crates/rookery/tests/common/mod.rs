//! A real server on a real socket for integration tests.
#![allow(dead_code)]

use std::net::SocketAddr;

use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use rookery::server::ConnectionLimits;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct Server {
    pub base: String,
    /// The Mastodon API's origin ([`Server::with_mastodon`]; empty otherwise).
    pub mastodon: String,
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `rookery serve` on a random port with a fresh data directory.
    pub async fn embedded() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = rookery::app::embedded(dir.path()).await.unwrap();
        Self::serve(app, dir).await
    }

    /// [`Server::embedded`] with the Mastodon API on a second listener.
    pub async fn with_mastodon() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = rookery::app::embedded(dir.path()).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let mastodon = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mastodon_addr: SocketAddr = mastodon.local_addr().unwrap();
        let config = rookery_mastodon::MastodonConfig {
            web_url: format!("http://{addr}"),
            title: "Rookery".into(),
            public_url: format!("http://{mastodon_addr}"),
        };
        let router = app.mastodon_router(config).await.unwrap().unwrap();
        let mut server = Self::serve_on(
            app,
            dir,
            listener,
            vec![(mastodon, router)],
            ConnectionLimits::default(),
        )
        .await;
        server.mastodon = format!("http://{mastodon_addr}");
        server
    }

    pub async fn serve(app: rookery::app::App, dir: tempfile::TempDir) -> Self {
        Self::serve_limited(app, dir, ConnectionLimits::default()).await
    }

    /// [`Server::embedded`] with `limits` on its connections.
    pub async fn embedded_limited(limits: ConnectionLimits) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let app = rookery::app::embedded(dir.path()).await.unwrap();
        Self::serve_limited(app, dir, limits).await
    }

    pub async fn serve_limited(
        app: rookery::app::App,
        dir: tempfile::TempDir,
        limits: ConnectionLimits,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve_on(app, dir, listener, Vec::new(), limits).await
    }

    async fn serve_on(
        app: rookery::app::App,
        dir: tempfile::TempDir,
        listener: TcpListener,
        extra: Vec<(TcpListener, axum::Router)>,
        limits: ConnectionLimits,
    ) -> Self {
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve_with(listener, extra, limits, async move {
            let _ = rx.await;
        }));
        Self {
            mastodon: String::new(),
            base: format!("http://{addr}"),
            client: Client::new(),
            stop: Some(tx),
            task: Some(task),
            _dir: dir,
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
    }

    pub async fn register(&self, username: &str) -> Response {
        self.req(Method::POST, "/api/v1/users")
            .json(&json!({
                "username": username,
                "email": format!("{username}@example.com"),
                "password": password(username),
            }))
            .send()
            .await
            .unwrap()
    }

    /// Registers and checks 201.
    pub async fn user(&self, username: &str) -> User {
        let resp = self.register(username).await;
        assert_eq!(
            resp.status(),
            StatusCode::CREATED,
            "{:?}",
            resp.text().await
        );
        User {
            name: username.to_string(),
            password: password(username),
        }
    }

    pub async fn token(&self, user: &User) -> String {
        let resp = self
            .req(Method::POST, "/api/v1/auth/token")
            .basic_auth(&user.name, Some(&user.password))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_string()
    }
}

pub struct User {
    pub name: String,
    pub password: String,
}

impl User {
    pub fn basic(&self, rb: RequestBuilder) -> RequestBuilder {
        rb.basic_auth(&self.name, Some(&self.password))
    }
}

pub fn password(username: &str) -> String {
    format!("pw-{username}-secret")
}

/// Status plus JSON body; asserts the body is JSON.
pub async fn json(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert!(
        ct.starts_with("application/json"),
        "{status}: content-type {ct:?}, body {text:?}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

/// Asserts an API error: status, JSON `code`, and `error` text present.
pub async fn expect_error(resp: Response, status: StatusCode, code: &str) -> Value {
    let (got, body) = json(resp).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body
}

/// Sends and returns status plus JSON body.
pub async fn send_json(req: RequestBuilder) -> (StatusCode, Value) {
    json(req.send().await.unwrap()).await
}

/// Sends and asserts an API error (see [`expect_error`]).
pub async fn expect(req: RequestBuilder, status: StatusCode, code: &str) -> Value {
    expect_error(req.send().await.unwrap(), status, code).await
}
