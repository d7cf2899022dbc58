//! Fault tests on a local formation of separate processes (gateway, users,
//! three posts instances) on PostgreSQL: instances die under load and come
//! back. Skipped without `ROOKERY_TEST_POSTGRES_URL`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use rookery::formation::{Discovery, Formation, Plan};
use serde_json::{Value, json};
use tokio::sync::Mutex;

/// The tests of this file restart shared servers: one at a time.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// `ROOKERY_TEST_POSTGRES_URL`, or None after saying the test is skipped.
fn test_postgres() -> Option<String> {
    let url = std::env::var("ROOKERY_TEST_POSTGRES_URL").ok();
    if url.is_none() {
        eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
    }
    url
}

fn plan(postgres: &str, posts: usize) -> (Plan, tempfile::TempDir) {
    let logs = tempfile::tempdir().unwrap();
    let plan = Plan {
        binary: env!("CARGO_BIN_EXE_rookery").into(),
        gateway: format!(
            "127.0.0.1:{}",
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        ),
        mastodon_gateway: None,
        first_port: 0,
        instances: BTreeMap::from([("users".to_string(), 1), ("posts".to_string(), posts)]),
        postgres: postgres.to_string(),
        database_prefix: format!("f{:012x}", rand::random::<u64>() >> 16),
        redis: None,
        nats: std::env::var("ROOKERY_TEST_NATS_URL").ok(),
        secret: "a formation secret that is long enough".into(),
        log_dir: logs.path().to_path_buf(),
        discovery: Discovery::Static,
    };
    (plan, logs)
}

/// Drops a formation's databases when the test ends, failed or not.
struct Databases(Plan);

impl Drop for Databases {
    fn drop(&mut self) {
        let plan = self.0.clone();
        // Drop cannot await: a thread with a runtime of its own does it.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(Formation::drop_databases(&plan))
        })
        .join();
    }
}

/// Prints the formation's logs when a test fails, so CI shows why.
fn dump_logs(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        eprintln!("--- {}", entry.path().display());
        for line in tail.into_iter().rev() {
            eprintln!("{line}");
        }
    }
}

async fn token(client: &Client, base: &str, name: &str) -> String {
    let password = format!("pw-{name}-secret");
    let resp = client
        .post(format!("{base}/api/v1/users"))
        .json(&json!({"username": name, "email": format!("{name}@example.com"), "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = client
        .post(format!("{base}/api/v1/auth/token"))
        .basic_auth(name, Some(&password))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// Creates a post under an idempotency key, retrying with the same key until
/// it is acknowledged (as a careful client does); the acknowledged id.
async fn create_acknowledged(client: &Client, base: &str, token: &str, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sent = client
            .post(format!("{base}/api/v1/posts"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&json!({"text": format!("post {key}")}))
            .send()
            .await;
        if let Ok(resp) = sent
            && resp.status() == StatusCode::CREATED
        {
            let body: Value = resp.json().await.unwrap();
            return body["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "{key} never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every id the user timeline lists, newest first, following the cursor.
async fn listed(client: &Client, base: &str, user: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = format!("{base}/api/v1/users/{user}/posts?limit=100");
    loop {
        let page: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            ids.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("{base}/api/v1/users/{user}/posts?limit=100&cursor={c}"),
            None => return ids,
        }
    }
}

/// Three posts instances under steady reads and writes; one is SIGKILLed
/// mid-run: no GET fails, every acknowledged post exists exactly once, and
/// the restarted instance rejoins (it serves alone once the others die).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_posts_instance_under_load_loses_nothing() {
    let Some(postgres) = test_postgres() else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let (plan, logs) = plan(&postgres, 3);
    let _databases = Databases(plan.clone());
    let mut formation = Formation::start(plan.clone()).await.unwrap();
    let base = formation.url().to_string();
    let client = Client::new();
    let writer = token(&client, &base, "writer").await;
    let mut seeded = Vec::new();
    for i in 0..10 {
        seeded.push(create_acknowledged(&client, &base, &writer, &format!("seed-{i}")).await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let gets = Arc::new(AtomicU64::new(0));
    let failed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = Vec::new();
    for reader in 0..4 {
        let (client, base, stop, gets, failed) = (
            client.clone(),
            base.clone(),
            stop.clone(),
            gets.clone(),
            failed.clone(),
        );
        let seeded = seeded.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = reader;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let path = if n % 2 == 0 {
                    format!("/api/v1/posts/{}", seeded[n % seeded.len()])
                } else {
                    "/api/v1/timelines/public?limit=5".to_string()
                };
                let outcome = client.get(format!("{base}{path}")).send().await;
                gets.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(resp) if resp.status() == StatusCode::OK => {}
                    Ok(resp) => failed
                        .lock()
                        .await
                        .push(format!("{path}: {}", resp.status())),
                    Err(e) => failed.lock().await.push(format!("{path}: {e}")),
                }
            }
        }));
    }
    let acknowledged: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    for w in 0..2 {
        let (client, base, stop, writer, acknowledged) = (
            client.clone(),
            base.clone(),
            stop.clone(),
            writer.clone(),
            acknowledged.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("w{w}-{i}");
                let id = create_acknowledged(&client, &base, &writer, &key).await;
                acknowledged.lock().await.insert(key, id);
                i += 1;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    formation.kill("posts", 1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    formation.restart("posts", 1).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }

    let failed = failed.lock().await.clone();
    let total = gets.load(Ordering::Relaxed);
    if !failed.is_empty() {
        dump_logs(logs.path());
    }
    assert!(
        total > 100,
        "too little load to mean anything: {total} GETs"
    );
    assert!(
        failed.is_empty(),
        "{} of {total} GETs failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(10)]
    );

    // Every acknowledged post is there exactly once; nothing else is.
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() > 10,
        "too few writes: {}",
        acknowledged.len()
    );
    let mut expected: HashSet<String> = acknowledged.values().cloned().collect();
    assert_eq!(expected.len(), acknowledged.len(), "two keys got one id");
    expected.extend(seeded);
    let listed = listed(&client, &base, "writer").await;
    let unique: HashSet<String> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "a post is listed twice");
    assert_eq!(unique, expected, "lost or extra posts");

    // The restarted instance rejoined: with the other two gone it serves
    // alone, once the gateway has ejected them.
    formation.kill("posts", 0).await.unwrap();
    formation.kill("posts", 2).await.unwrap();
    let id = &listed[0];
    let post = format!("{base}/api/v1/posts/{id}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(&post).send().await.unwrap().status() != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "the restarted instance serves nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..20 {
        let resp = client
            .get(format!("{base}/api/v1/posts/{id}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    formation.stop().await;
}

/// Restarts the machine's PostgreSQL (`pg_ctlcluster`), for the recovery test.
fn restart_postgres() -> bool {
    let Some(version) = std::fs::read_dir("/etc/postgresql")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
    else {
        return false;
    };
    std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .is_ok_and(|s| s.success())
}

/// PostgreSQL restarts under the services: they answer 503 (never 500)
/// while it is down and recover by themselves, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_recover_when_postgres_restarts() {
    let Some(postgres) = test_postgres() else {
        return;
    };
    if std::env::var("ROOKERY_TEST_RESTART_POSTGRES").is_err() {
        eprintln!(
            "skipped: ROOKERY_TEST_RESTART_POSTGRES is not set (it restarts the local server)"
        );
        return;
    }
    let _serial = SERIAL.lock().await;
    let (plan, logs) = plan(&postgres, 2);
    let _databases = Databases(plan.clone());
    let formation = Formation::start(plan.clone()).await.unwrap();
    let base = formation.url().to_string();
    let client = Client::new();
    let writer = token(&client, &base, "writer").await;
    let before = create_acknowledged(&client, &base, &writer, "before").await;

    assert!(restart_postgres(), "pg_ctlcluster restart failed");
    // Reads and writes work again without restarting any service.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = client
            .get(format!("{base}/api/v1/posts/{before}"))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
        if status == StatusCode::OK {
            break;
        }
        if Instant::now() > deadline {
            dump_logs(logs.path());
            panic!("no recovery: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = create_acknowledged(&client, &base, &writer, "after").await;
    let resp = client
        .get(format!("{base}/api/v1/users/writer"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ids = listed(&client, &base, "writer").await;
    assert_eq!(ids, vec![after, before]);
    formation.stop().await;
}

/// A NATS server of this test's own (JetStream, its own store), so it can be
/// killed and restarted without touching anyone else's.
struct OwnNats {
    port: u16,
    store: tempfile::TempDir,
    child: Option<tokio::process::Child>,
}

impl OwnNats {
    async fn start() -> Option<Self> {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let mut nats = Self {
            port,
            store: tempfile::tempdir().ok()?,
            child: None,
        };
        nats.spawn(binary).await;
        Some(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self, binary: &str) {
        let child = tokio::process::Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.store.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "nats-server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
        }
    }

    async fn restart(&mut self) {
        let binary = [
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap();
        self.spawn(binary).await;
    }
}

/// Polls `check` on GET `url` until it holds, for at most `limit`.
async fn eventually(
    client: &Client,
    url: &str,
    token: Option<&str>,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let mut req = client.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let body: Value = req.send().await.unwrap().json().await.unwrap();
        if check(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url}: not within {limit:?}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn item_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect()
}

/// NATS dies for 5 s while follows, posts and votes keep being written:
/// once it is back every event arrives (the outboxes held them) and none
/// has a double effect (timelines list each post once, karma is exact).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_written_while_nats_is_down_arrive_once() {
    let Some(postgres) = test_postgres() else {
        return;
    };
    if std::env::var("ROOKERY_TEST_NATS_URL").is_err() {
        eprintln!("skipped: ROOKERY_TEST_NATS_URL is not set");
        return;
    }
    let _serial = SERIAL.lock().await;
    let Some(mut nats) = OwnNats::start().await else {
        eprintln!("skipped: no nats-server binary");
        return;
    };
    let (mut plan, logs) = plan(&postgres, 2);
    plan.nats = Some(nats.url());
    plan.instances.insert("votes".into(), 1);
    let _databases = Databases(plan.clone());
    let formation = Formation::start(plan.clone()).await.unwrap();
    let base = formation.url().to_string();
    let client = Client::new();
    let author = token(&client, &base, "author").await;
    let mut followers = Vec::new();
    for i in 0..4 {
        followers.push(token(&client, &base, &format!("f{i}")).await);
    }
    let follow = |token: &str| {
        client
            .post(format!("{base}/api/v1/users/author/follow"))
            .bearer_auth(token)
            .send()
    };
    for f in &followers[..2] {
        assert!(follow(f).await.unwrap().status().is_success());
    }
    let first = create_acknowledged(&client, &base, &author, "first").await;
    let home = format!("{base}/api/v1/timelines/home?limit=100");
    for f in &followers[..2] {
        eventually(&client, &home, Some(f), Duration::from_secs(10), |p| {
            item_ids(p).contains(&first)
        })
        .await;
    }

    nats.kill().await;
    // Writes go on: each commits with its event in the outbox.
    let mut posts = vec![first.clone()];
    for i in 0..5 {
        posts.push(create_acknowledged(&client, &base, &author, &format!("down-{i}")).await);
    }
    for f in &followers[2..] {
        assert!(follow(f).await.unwrap().status().is_success());
    }
    for f in &followers {
        let resp = client
            .post(format!("{base}/api/v1/posts/{first}/upvote"))
            .bearer_auth(f)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    nats.restart().await;

    // Every follower (also those who followed during the outage) sees every
    // post exactly once; the votes reach the post and the author's karma.
    let mut expected = posts.clone();
    expected.sort();
    for f in &followers {
        let page = eventually(&client, &home, Some(f), Duration::from_secs(30), |p| {
            let mut ids = item_ids(p);
            ids.sort();
            ids == expected
        })
        .await;
        assert_eq!(item_ids(&page).len(), posts.len(), "{page}");
    }
    let votes = followers.len() as i64;
    eventually(
        &client,
        &format!("{base}/api/v1/posts/{first}"),
        None,
        Duration::from_secs(30),
        |p| p["upvotes"] == votes,
    )
    .await;
    let user = eventually(
        &client,
        &format!("{base}/api/v1/users/author"),
        None,
        Duration::from_secs(30),
        |u| u["karma"] == votes,
    )
    .await;
    assert_eq!(user["followers_count"], votes);
    // Nothing more arrives later (no double effect).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let user: Value = client
        .get(format!("{base}/api/v1/users/author"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["karma"], votes);
    drop(logs);
    formation.stop().await;
    nats.kill().await;
}

/// Polls `check` until it holds, for at most 30 s.
async fn until<F: std::future::Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/admin/instances` of a registry formation's gateway: (service, url) pairs.
async fn registered(client: &Client, base: &str, admin_token: &str) -> Vec<(String, String)> {
    let listing: Value = client
        .get(format!("{base}/admin/instances"))
        .bearer_auth(admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    listing["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["service"].as_str().unwrap().to_string(),
                i["url"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A post by `token` (created once acknowledged) and an upvote on it by
/// `voter`, which the votes instance can only count after asking a posts
/// instance about the new post (or hearing of it on the bus).
async fn post_and_upvote(client: &Client, base: &str, token: &str, voter: &str, key: &str) {
    let id = create_acknowledged(client, base, token, key).await;
    until("the upvote is counted", || async {
        client
            .post(format!("{base}/api/v1/posts/{id}/upvote"))
            .bearer_auth(voter)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;
}

/// A formation whose instances are given nothing but `--register
/// <gateway>`: votes and messages find users and posts in the gateway's
/// registry. A posts instance killed leaves the registry and the votes
/// instance's peers; restarted, it comes back to both; with the other one
/// killed then, votes can only be reaching the restarted instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formation_found_through_the_registry_alone_follows_instance_churn() {
    let Some(postgres) = test_postgres() else {
        return;
    };
    let _serial = SERIAL.lock().await;
    let (mut plan, logs) = plan(&postgres, 2);
    plan.discovery = Discovery::Registry;
    // No bus: votes learns of a post, and messages of an account, only by
    // asking a posts or users instance, which it has to find.
    plan.nats = None;
    plan.instances.insert("votes".into(), 1);
    plan.instances.insert("messages".into(), 1);
    let _databases = Databases(plan.clone());
    let mut formation = Formation::start(plan.clone()).await.unwrap();
    let (base, admin) = (
        formation.url().to_string(),
        formation.admin_token().unwrap().to_string(),
    );
    let client = Client::new();
    let listed = registered(&client, &base, &admin).await;
    assert_eq!(listed.len(), 5, "{listed:?}");

    let alice = token(&client, &base, "alice").await;
    let bob = token(&client, &base, "bob").await;
    post_and_upvote(&client, &base, &alice, &bob, "first").await;
    let sent = client
        .post(format!("{base}/api/v1/messages"))
        .bearer_auth(&alice)
        .json(&json!({"to": "bob", "text": "found through the registry"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);

    let first = formation.instance_url("posts", 0).unwrap().to_string();
    formation.kill("posts", 0).await.unwrap();
    until("the killed instance leaves the registry", || async {
        !registered(&client, &base, &admin)
            .await
            .iter()
            .any(|(_, url)| url == &first)
    })
    .await;
    post_and_upvote(&client, &base, &alice, &bob, "second").await;
    formation.restart("posts", 0).await.unwrap();
    until("the restarted instance is listed again", || async {
        registered(&client, &base, &admin)
            .await
            .iter()
            .any(|(_, url)| url == &first)
    })
    .await;
    formation.kill("posts", 1).await.unwrap();
    post_and_upvote(&client, &base, &alice, &bob, "third").await;
    formation.stop().await;
    drop(logs);
}
