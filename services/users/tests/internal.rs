//! Service-to-service routes of the users service: its router on a real socket.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, sqlite_url_in};
use rookery_kernel::events::OutboxSignal;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::secret::Secret;
use rookery_users::auth::AuthConfig;
use rookery_users::store::{NewUser, User, sqlite};
use rookery_users::{SqliteUserStore, UsersService, router};
use serde_json::Value;

struct Fixture {
    svc: Arc<UsersService>,
    base: String,
    http: reqwest::Client,
    db: SqliteDb,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "users"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = Arc::new(SqliteUserStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    ));
    let svc = UsersService::new(store, &Secret::from_bytes(&[7; 32]), AuthConfig::default())
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(svc.clone())).into_future());
    Fixture {
        svc,
        base,
        http: reqwest::Client::new(),
        db,
        _dir: dir,
    }
}

impl Fixture {
    async fn user(&self, name: &str, bio: &str) -> User {
        self.svc
            .store
            .create_user(NewUser {
                username: name.into(),
                email: format!("{name}@example.com"),
                password_hash: "h".into(),
                bio: bio.into(),
            })
            .await
            .unwrap()
    }

    async fn get(&self, path_and_query: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("application/json"), "{status} {ct}");
        (status, resp.json().await.unwrap())
    }
}

fn names(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn users_by_ids_answers_active_accounts_only() {
    let f = fixture().await;
    let alice = f.user("alice", "hello").await;
    let bob = f.user("bob", "").await;
    let gone = f.user("gone", "").await;
    f.svc.store.follow(alice.id, bob.id).await.unwrap();
    f.svc.store.deactivate(gone.id).await.unwrap();

    let (status, body) = f
        .get(&format!(
            "/internal/v1/users?ids={},{}, {},{},999",
            alice.id, bob.id, gone.id, alice.id
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let mut got = names(&body);
    got.sort();
    assert_eq!(got, ["alice", "bob"]);
    let a = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap();
    assert_eq!(a["user_id"], alice.id.to_string());
    assert_eq!(a["bio"], "hello");
    assert_eq!(a["following_count"], 1);
    assert_eq!(a["followers_count"], 0);
    assert_eq!(a["karma"], 0);
    assert!(a["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(a.get("email").is_none(), "{a}");

    let (status, body) = f.get("/internal/v1/users?ids=").await;
    assert_eq!((status, body["items"].as_array().unwrap().len()), (200, 0));
    let (status, body) = f.get("/internal/v1/users").await;
    assert_eq!((status, body["items"].as_array().unwrap().len()), (200, 0));

    for bad in ["abc", "1,x", "-1", "0", "1.5", "99999999999999999999"] {
        let (status, body) = f.get(&format!("/internal/v1/users?ids={bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_input", "{body}");
    }
    let many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let (status, _) = f
        .get(&format!("/internal/v1/users?ids={}", many.join(",")))
        .await;
    assert_eq!(status, 400);
    let hundred: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let (status, _) = f
        .get(&format!("/internal/v1/users?ids={}", hundred.join(",")))
        .await;
    assert_eq!(status, 200);
    f.db.close().await;
}

#[tokio::test]
async fn users_search_route() {
    let f = fixture().await;
    let ann = f.user("ann", "likes Rust").await;
    f.user("Annabel", "").await;
    let rusty = f.user("rusty", "").await;
    let viewer = f.user("viewer", "").await;
    f.svc.store.block(ann.id, viewer.id).await.unwrap();

    let (status, body) = f.get("/internal/v1/users/search?q=ANN").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["ann", "Annabel"]);
    assert_eq!(body["items"][0]["user_id"], ann.id.to_string());
    assert!(body["items"][0].get("email").is_none());
    // Prefix first, then bio words.
    let (_, body) = f.get("/internal/v1/users/search?q=rust").await;
    assert_eq!(names(&body), ["rusty", "ann"]);
    assert_eq!(body["items"][0]["user_id"], rusty.id.to_string());
    let (_, body) = f.get("/internal/v1/users/search?q=rust&limit=1").await;
    assert_eq!(names(&body), ["rusty"]);
    // Whoever blocks the viewer (or is blocked by them) is left out.
    let (_, body) = f
        .get(&format!(
            "/internal/v1/users/search?q=ann&viewer={}",
            viewer.id
        ))
        .await;
    assert_eq!(names(&body), ["Annabel"]);

    for bad in [
        "q=",
        "q=%20%20",
        "q=a&limit=0",
        "q=a&limit=101",
        "q=a&limit=x",
        "q=a&viewer=x",
        "q=a&viewer=-3",
    ] {
        let (status, body) = f.get(&format!("/internal/v1/users/search?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_input", "{body}");
    }
    let junk = "%22*NEAR(-x%20a:b%20(%20)%5E'%5C".repeat(20);
    for q in [
        "%22",
        "*",
        "NEAR(",
        "-x",
        "a:b",
        "(",
        ")",
        "%5E",
        "'",
        "%5C",
        "%25",
        "_",
        "%F0%9F%A6%80",
        junk.as_str(),
    ] {
        let (status, body) = f.get(&format!("/internal/v1/users/search?q={q}")).await;
        assert_eq!(status, 200, "{q}: {body}");
    }

    // Without `q` the path is the account lookup of a user named "search".
    let (status, _) = f.get("/internal/v1/users/search").await;
    assert_eq!(status, 404);
    let search = f.user("search", "").await;
    let (status, body) = f.get("/internal/v1/users/search").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], search.id.to_string());
    f.db.close().await;
}

/// With a delivery wait, a block answers only once the relay delivered its
/// event to every consumer (the embedded mode's "at once").
#[tokio::test]
async fn a_block_answers_after_its_event_was_delivered() {
    use rookery_kernel::events::{
        DeliveryWait, EventBus, InProcessBus, RelayProgress, run_relay_tracked,
    };
    use rookery_kernel::identity::{AuthMethod, IDENTITY_HEADER, Identity};
    use tokio_util::sync::CancellationToken;

    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "users"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let signal = OutboxSignal::default();
    let store = Arc::new(SqliteUserStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        signal.clone(),
    ));
    let progress = RelayProgress::default();
    let svc = UsersService::new(store, &Secret::from_bytes(&[7; 32]), AuthConfig::default())
        .await
        .unwrap()
        .with_delivery_wait(DeliveryWait {
            signal: signal.clone(),
            progress: progress.clone(),
        });
    let bus = InProcessBus::new();
    let mut sub = bus
        .subscribe("probe", rookery_kernel::relations::TOPICS)
        .await
        .unwrap();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(delivery) = sub.next().await {
            record
                .lock()
                .unwrap()
                .extend(delivery.events.iter().map(|e| e.topic.clone()));
            delivery.ack();
        }
    });
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(run_relay_tracked(
        Arc::new(db.clone()),
        bus.clone() as Arc<dyn EventBus>,
        signal,
        progress,
        shutdown.clone(),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(svc.clone())).into_future());

    let new = |name: &str| NewUser {
        username: name.into(),
        email: format!("{name}@example.com"),
        password_hash: "h".into(),
        bio: String::new(),
    };
    let alice = svc.store.create_user(new("alice")).await.unwrap();
    svc.store.create_user(new("bob")).await.unwrap();
    let identity = svc.identity.sign(&Identity {
        user_id: alice.id,
        username: "alice".into(),
        method: AuthMethod::Basic,
        session_id: None,
    });
    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/api/v1/users/bob/block"))
        .header(IDENTITY_HEADER, &identity)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(*seen.lock().unwrap(), ["block.created"]);
    let resp = http
        .delete(format!("{base}/api/v1/users/bob/block"))
        .header(IDENTITY_HEADER, &identity)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(*seen.lock().unwrap(), ["block.created", "block.removed"]);
    shutdown.cancel();
    relay.await.unwrap();
    db.close().await;
}
