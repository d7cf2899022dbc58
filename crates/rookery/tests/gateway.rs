//! The HTTP gateway's load balancing, retries, timeouts, header handling and
//! shedding, against small test upstreams on real sockets.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use common::Server;
use reqwest::{Method, StatusCode};
use rookery_gateway::{GatewayOptions, PoolConfig, Rate, RateLimitConfig, RateLimiter};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

/// A stand-in service instance: answers every path with what it received,
/// counts requests, sleeps `?sleep_ms=` and, while `gate` has no permits,
/// holds requests for paths containing `/held`.
struct TestUpstream {
    name: &'static str,
    hits: AtomicUsize,
    gate: Semaphore,
    /// Answer 500 to everything but `/healthz`.
    failing: AtomicBool,
}

struct Running {
    base: String,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

impl TestUpstream {
    fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            name,
            hits: AtomicUsize::new(0),
            gate: Semaphore::new(0),
            failing: AtomicBool::new(false),
        })
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    async fn serve(self: &Arc<Self>, addr: &str) -> Running {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok" }))
            .fallback(answer)
            .with_state(self.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        Running {
            base: format!("http://{addr}"),
            addr,
            stop: Some(tx),
            task,
        }
    }
}

async fn answer(State(up): State<Arc<TestUpstream>>, req: Request) -> Response {
    up.hits.fetch_add(1, Ordering::SeqCst);
    if up.failing.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let sleep_ms = req
        .uri()
        .query()
        .and_then(|q| q.strip_prefix("sleep_ms="))
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = sleep_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if req.uri().path().contains("/held") {
        let _ = up.gate.acquire().await.map(|p| p.forget());
    }
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = if req.method() == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (
        status,
        [
            ("connection", "x-upstream-hop"),
            ("x-upstream-hop", "1"),
            ("keep-alive", "timeout=5"),
        ],
        axum::Json(json!({"instance": up.name, "headers": headers})),
    )
        .into_response()
}

fn config() -> PoolConfig {
    PoolConfig {
        timeout: Duration::from_millis(300),
        health_interval: Duration::from_millis(100),
        heartbeat_ttl: Duration::from_millis(500),
        ..PoolConfig::default()
    }
}

async fn gateway(users: &[&Running], config: PoolConfig) -> Server {
    let bases: Vec<String> = users.iter().map(|r| r.base.clone()).collect();
    gateway_with(&bases, config, GatewayOptions::local()).await
}

async fn gateway_with(users: &[String], config: PoolConfig, options: GatewayOptions) -> Server {
    let upstreams = HashMap::from([("users".to_string(), users.to_vec())]);
    Server::serve(
        rookery::app::gateway_only_with(&upstreams, config, options).unwrap(),
        tempfile::tempdir().unwrap(),
    )
    .await
}

/// Polls `check` until it holds or 10 s pass.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(gw: &Server, path: &str) -> (StatusCode, Value) {
    let resp = gw.req(Method::GET, path).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn power_of_two_choices_prefers_the_less_loaded_instance() {
    let (a, b) = (TestUpstream::new("a"), TestUpstream::new("b"));
    let (ra, rb) = (a.serve("127.0.0.1:0").await, b.serve("127.0.0.1:0").await);
    let gw = gateway(&[&ra, &rb], PoolConfig::default()).await;
    // Held requests pile up on whichever instance gets them; b never holds.
    b.gate.add_permits(1_000);
    let mut held = Vec::new();
    for _ in 0..4 {
        let req = gw.req(Method::GET, "/api/v1/users/held");
        held.push(tokio::spawn(
            async move { req.send().await.unwrap().status() },
        ));
    }
    eventually("a holds a request", async || a.hits() >= 1).await;
    // With a request in flight on a and none on b, every pick is b.
    let before = a.hits();
    for _ in 0..20 {
        let (status, body) = get(&gw, "/api/v1/users/x").await;
        assert_eq!(
            (status, body["instance"].as_str()),
            (StatusCode::OK, Some("b"))
        );
    }
    assert_eq!(a.hits(), before);
    a.gate.add_permits(1_000);
    for h in held {
        assert_eq!(h.await.unwrap(), StatusCode::OK);
    }
    gw.stop().await;
    ra.stop().await;
    rb.stop().await;
}

#[tokio::test]
async fn a_stopped_instance_is_retried_around_and_readmitted_when_back() {
    let (a, b) = (TestUpstream::new("a"), TestUpstream::new("b"));
    let (ra, rb) = (a.serve("127.0.0.1:0").await, b.serve("127.0.0.1:0").await);
    let gw = gateway(&[&ra, &rb], config()).await;
    for _ in 0..4 {
        assert_eq!(get(&gw, "/api/v1/users/x").await.0, StatusCode::OK);
    }
    let addr = ra.addr;
    ra.stop().await;
    for _ in 0..20 {
        let (status, body) = get(&gw, "/api/v1/users/x").await;
        assert_eq!(
            (status, body["instance"].as_str()),
            (StatusCode::OK, Some("b"))
        );
    }
    // Back on the same address: the probe readmits it and it gets traffic again.
    let ra = a.serve(&addr.to_string()).await;
    let before = a.hits();
    eventually("a gets traffic again", async || {
        get(&gw, "/api/v1/users/x").await;
        a.hits() > before
    })
    .await;
    gw.stop().await;
    ra.stop().await;
    rb.stop().await;
}

/// Two of three instances die before any probe notices: each request that
/// meets a refused connection moves on until it reaches the live one.
#[tokio::test]
async fn requests_move_past_every_dead_instance_to_a_live_one() {
    let (a, b, c) = (
        TestUpstream::new("a"),
        TestUpstream::new("b"),
        TestUpstream::new("c"),
    );
    let (ra, rb, rc) = (
        a.serve("127.0.0.1:0").await,
        b.serve("127.0.0.1:0").await,
        c.serve("127.0.0.1:0").await,
    );
    // Probes far apart, so ejection comes only from the requests themselves.
    let slow_probes = PoolConfig {
        health_interval: Duration::from_secs(3600),
        ..config()
    };
    let gw = gateway(&[&ra, &rb, &rc], slow_probes).await;
    assert_eq!(get(&gw, "/api/v1/users/x").await.0, StatusCode::OK);
    ra.stop().await;
    rb.stop().await;
    for _ in 0..30 {
        let (status, body) = get(&gw, "/api/v1/users/x").await;
        assert_eq!(
            (status, body["instance"].as_str()),
            (StatusCode::OK, Some("c"))
        );
    }
    gw.stop().await;
    rc.stop().await;
}

#[tokio::test]
async fn timeouts_give_504_and_only_idempotent_requests_are_retried() {
    let (slow, fast) = (TestUpstream::new("slow"), TestUpstream::new("fast"));
    let (rs, rf) = (
        slow.serve("127.0.0.1:0").await,
        fast.serve("127.0.0.1:0").await,
    );
    let gw = gateway(&[&rs, &rf], config()).await;
    // Held paths hang on the slow instance (its gate stays shut) and pass on the fast one.
    fast.gate.add_permits(1_000);
    let mut answered_fast = 0;
    for _ in 0..10 {
        let resp = gw
            .req(Method::POST, "/api/v1/users/held")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        match resp.status() {
            StatusCode::CREATED => answered_fast += 1,
            StatusCode::GATEWAY_TIMEOUT => {
                let body: Value = resp.json().await.unwrap();
                assert_eq!(body["code"], "upstream_timeout");
            }
            other => panic!("unexpected {other}"),
        }
    }
    // A POST without an Idempotency-Key that timed out was not resent.
    assert_eq!(fast.hits(), answered_fast);
    assert_eq!(slow.hits(), 10 - answered_fast);
    // With a key (and for GETs) a timed-out first attempt is retried on the other instance.
    for i in 0..10 {
        let resp = gw
            .req(Method::POST, "/api/v1/users/held")
            .header("idempotency-key", format!("k{i}"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let (status, _) = get(&gw, "/api/v1/users/held").await;
        assert_eq!(status, StatusCode::OK);
    }
    // Only one instance, and it is slow: 504.
    let gw_slow = gateway(&[&rs], config()).await;
    let (status, body) = get(&gw_slow, "/api/v1/users/held").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::GATEWAY_TIMEOUT, Some("upstream_timeout"))
    );
    slow.gate.add_permits(1_000);
    gw_slow.stop().await;
    gw.stop().await;
    rs.stop().await;
    rf.stop().await;
}

#[tokio::test]
async fn hop_by_hop_headers_are_stripped_and_forwarding_headers_set() {
    let up = TestUpstream::new("a");
    let running = up.serve("127.0.0.1:0").await;
    let gw = gateway(&[&running], config()).await;
    let resp = gw
        .req(Method::GET, "/api/v1/users/x")
        .header("connection", "keep-alive, x-client-hop")
        .header("x-client-hop", "1")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("te", "trailers")
        .header("x-forwarded-for", "203.0.113.7")
        .header("x-request-id", "req-12345")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-request-id"], "req-12345");
    assert!(resp.headers().get("x-upstream-hop").is_none());
    assert!(resp.headers().get("keep-alive").is_none());
    let body: Value = resp.json().await.unwrap();
    let seen = &body["headers"];
    for hop in ["x-client-hop", "proxy-authorization", "te"] {
        assert!(seen.get(hop).is_none(), "{hop} forwarded: {seen}");
    }
    assert_eq!(seen["x-forwarded-for"], "203.0.113.7, 127.0.0.1");
    assert_eq!(seen["x-request-id"], "req-12345");
    // Without one, the gateway makes a request id, passes it on and echoes it.
    let resp = gw.req(Method::GET, "/api/v1/users/x").send().await.unwrap();
    let echoed = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = resp.json().await.unwrap();
    assert!(!echoed.is_empty());
    assert_eq!(body["headers"]["x-request-id"], echoed.as_str());
    assert_eq!(body["headers"]["x-forwarded-for"], "127.0.0.1");
    gw.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn beyond_the_in_flight_limit_requests_are_shed_with_503() {
    let up = TestUpstream::new("a");
    let running = up.serve("127.0.0.1:0").await;
    let gw = gateway(
        &[&running],
        PoolConfig {
            max_in_flight: 1,
            ..PoolConfig::default()
        },
    )
    .await;
    let req = gw.req(Method::GET, "/api/v1/users/held");
    let held = tokio::spawn(async move { req.send().await.unwrap().status() });
    eventually("the first request is in flight", async || up.hits() == 1).await;
    let resp = gw.req(Method::GET, "/api/v1/users/x").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "unavailable");
    assert_eq!(up.hits(), 1);
    up.gate.add_permits(1);
    assert_eq!(held.await.unwrap(), StatusCode::OK);
    // The slot is free again.
    assert_eq!(get(&gw, "/api/v1/users/x").await.0, StatusCode::OK);
    gw.stop().await;
    running.stop().await;
}

const ADMIN_TOKEN: &str = "an admin token for tests";

fn with_admin_token() -> GatewayOptions {
    GatewayOptions {
        admin_token: Some(ADMIN_TOKEN.into()),
        ..GatewayOptions::local()
    }
}

async fn instances(gw: &Server) -> Vec<Value> {
    let resp = gw
        .req(Method::GET, "/admin/instances")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

async fn admin(gw: &Server, method: Method, body: Value) -> StatusCode {
    gw.req(method, "/admin/instances")
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn instances_register_heartbeat_expire_and_deregister() {
    let up = TestUpstream::new("a");
    let running = up.serve("127.0.0.1:0").await;
    // No instance yet: 503 until one registers.
    let gw = gateway_with(&[], config(), with_admin_token()).await;
    let (status, body) = get(&gw, "/api/v1/users/x").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    // The admin routes want the token.
    let resp = gw
        .req(Method::GET, "/admin/instances")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = gw
        .req(Method::GET, "/admin/instances")
        .bearer_auth("not the token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let entry = json!({"service": "users", "url": running.base});
    assert_eq!(
        admin(&gw, Method::POST, entry.clone()).await,
        StatusCode::CREATED
    );
    assert_eq!(
        admin(&gw, Method::POST, entry.clone()).await,
        StatusCode::OK
    );
    for bad in [
        json!({"service": "nope", "url": running.base}),
        json!({"service": "users", "url": "ftp://x"}),
        json!({"service": "users"}),
    ] {
        assert_eq!(admin(&gw, Method::POST, bad).await, StatusCode::BAD_REQUEST);
    }
    let listed = instances(&gw).await;
    let users: Vec<&Value> = listed.iter().filter(|i| i["service"] == "users").collect();
    assert_eq!(users.len(), 1, "{listed:?}");
    assert_eq!(users[0]["url"], running.base.as_str());
    assert_eq!(users[0]["origin"], "registered");
    assert_eq!(users[0]["healthy"], true);
    assert_eq!(users[0]["in_flight"], 0);
    let (status, body) = get(&gw, "/api/v1/users/x").await;
    assert_eq!(
        (status, body["instance"].as_str()),
        (StatusCode::OK, Some("a"))
    );
    // No more heartbeats: it goes away.
    eventually("the silent instance expires", async || {
        instances(&gw).await.is_empty()
    })
    .await;
    assert_eq!(
        get(&gw, "/api/v1/users/x").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        admin(&gw, Method::DELETE, entry.clone()).await,
        StatusCode::NOT_FOUND
    );
    gw.stop().await;

    // An instance's registration loop: heartbeats keep it, shutdown removes it at once.
    let gw = gateway_with(
        &[],
        PoolConfig {
            heartbeat_ttl: Duration::from_secs(3600),
            ..config()
        },
        with_admin_token(),
    )
    .await;
    let stop = tokio_util::sync::CancellationToken::new();
    let registration = tokio::spawn(
        rookery_gateway::discovery::Registration {
            gateways: vec![gw.base.clone()],
            service: "users".into(),
            advertise: running.base.clone(),
            admin_token: Some(ADMIN_TOKEN.into()),
            interval: Duration::from_millis(50),
        }
        .run(stop.clone()),
    );
    eventually("the instance registers", async || {
        get(&gw, "/api/v1/users/x").await.0 == StatusCode::OK
    })
    .await;
    stop.cancel();
    registration.await.unwrap();
    assert!(instances(&gw).await.is_empty());
    gw.stop().await;

    // Without a configured token the admin routes do not exist.
    let gw = gateway_with(&[], config(), GatewayOptions::local()).await;
    let resp = gw
        .req(Method::GET, "/admin/instances")
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    gw.stop().await;
    running.stop().await;
}

/// Effectively no refill during a test: a burst of `n`, then 429.
fn only(n: f64) -> Rate {
    Rate::per_second(n / 100_000.0, n)
}

fn limits(per_ip: Rate, per_user: Rate, registrations: Rate) -> GatewayOptions {
    GatewayOptions {
        limiter: RateLimiter::new(
            RateLimitConfig {
                per_ip,
                per_user,
                registrations,
            },
            None,
        ),
        admin_token: None,
        ..GatewayOptions::local()
    }
}

async fn expect_limited(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    for header in [
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(resp.headers().contains_key(header), "{header} missing");
    }
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
}

#[tokio::test]
async fn per_ip_limits_give_429_with_rate_limit_headers() {
    let up = TestUpstream::new("a");
    let running = up.serve("127.0.0.1:0").await;
    let big = Rate::per_second(1_000.0, 1_000.0);
    let gw = gateway_with(
        std::slice::from_ref(&running.base),
        config(),
        limits(only(3.0), big, big),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(get(&gw, "/api/v1/users/x").await.0, StatusCode::OK);
    }
    let resp = gw.req(Method::GET, "/api/v1/users/x").send().await.unwrap();
    assert_eq!(resp.headers()["x-ratelimit-limit"], "3");
    expect_limited(resp).await;
    assert_eq!(up.hits(), 3);
    gw.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn per_user_and_registration_limits_at_a_gateway_in_front_of_a_users_instance() {
    let dir = tempfile::tempdir().unwrap();
    let secret = rookery_kernel::secret::Secret::from_bytes(b"a test secret that is long enough!!");
    let url = rookery_kernel::db::sqlite_url_in(dir.path(), "users");
    let users = Server::serve(
        rookery::app::users_instance(&url, &secret).await.unwrap(),
        dir,
    )
    .await;
    let big = Rate::per_second(1_000.0, 1_000.0);
    let gw = gateway_with(
        std::slice::from_ref(&users.base),
        config(),
        limits(big, only(3.0), only(2.0)),
    )
    .await;
    let alice = gw.user("alice").await;
    gw.user("bob").await;
    // A third registration from this address is one too many.
    expect_limited(gw.register("carol").await).await;
    for _ in 0..3 {
        let resp = alice
            .basic(gw.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
    expect_limited(
        alice
            .basic(gw.req(Method::GET, "/api/v1/auth/whoami"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // Other callers, and anonymous requests from the same address, go on.
    assert_eq!(get(&gw, "/api/v1/users/alice").await.0, StatusCode::OK);
    gw.stop().await;
    users.stop().await;
}

#[tokio::test]
async fn limits_are_shared_between_gateways_through_redis() {
    let Ok(redis_url) = std::env::var("ROOKERY_TEST_REDIS_URL") else {
        eprintln!("skipped: ROOKERY_TEST_REDIS_URL is not set");
        return;
    };
    let up = TestUpstream::new("a");
    let running = up.serve("127.0.0.1:0").await;
    let prefix = format!("test:{:016x}:", rand::random::<u64>());
    let big = Rate::per_second(1_000.0, 1_000.0);
    let config_limits = RateLimitConfig {
        per_ip: only(4.0),
        per_user: big,
        registrations: big,
    };
    let mut gateways = Vec::new();
    for _ in 0..2 {
        let limiter = RateLimiter::shared(config_limits, &redis_url, &prefix)
            .await
            .unwrap();
        let options = GatewayOptions {
            limiter,
            admin_token: None,
            ..GatewayOptions::local()
        };
        gateways.push(gateway_with(std::slice::from_ref(&running.base), config(), options).await);
    }
    // Four requests in all, alternating between the gateways, then both refuse.
    for i in 0..4 {
        assert_eq!(
            get(&gateways[i % 2], "/api/v1/users/x").await.0,
            StatusCode::OK
        );
    }
    for gw in &gateways {
        expect_limited(gw.req(Method::GET, "/api/v1/users/x").send().await.unwrap()).await;
    }
    assert_eq!(up.hits(), 4);
    for gw in gateways {
        gw.stop().await;
    }
    running.stop().await;
}

#[tokio::test]
async fn host_name_upstreams_are_resolved_to_instances() {
    let up = TestUpstream::new("a");
    let running = up.serve("127.0.0.1:0").await;
    let by_name = format!("http://localhost:{}", running.addr.port());
    let gw = gateway_with(&[by_name], config(), with_admin_token()).await;
    // Every address of the name is an instance; ones nothing listens on (say
    // ::1) are ejected and retried around.
    eventually("the name resolves", async || {
        get(&gw, "/api/v1/users/x").await.0 == StatusCode::OK
    })
    .await;
    let listed = instances(&gw).await;
    assert!(
        listed
            .iter()
            .any(|i| i["url"] == running.base.as_str() && i["origin"] == "dns"),
        "{listed:?}"
    );
    gw.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn a_burst_of_5xx_ejects_an_instance_until_its_probe_passes() {
    let (a, b) = (TestUpstream::new("a"), TestUpstream::new("b"));
    let (ra, rb) = (a.serve("127.0.0.1:0").await, b.serve("127.0.0.1:0").await);
    let rare_probes = PoolConfig {
        health_interval: Duration::from_secs(3600),
        ..config()
    };
    let gw = gateway_with(
        &[ra.base.clone(), rb.base.clone()],
        rare_probes,
        with_admin_token(),
    )
    .await;
    a.failing.store(true, Ordering::SeqCst);
    eventually("a is ejected", async || {
        get(&gw, "/api/v1/users/x").await;
        instances(&gw)
            .await
            .iter()
            .any(|i| i["url"] == ra.base.as_str() && i["healthy"] == false)
    })
    .await;
    let before = a.hits();
    for _ in 0..20 {
        let (status, body) = get(&gw, "/api/v1/users/x").await;
        assert_eq!(
            (status, body["instance"].as_str()),
            (StatusCode::OK, Some("b"))
        );
    }
    assert_eq!(a.hits(), before);
    gw.stop().await;
    ra.stop().await;
    rb.stop().await;
}

/// A formation starting together: an instance that was not listening yet
/// at the first probe is probed again soon (not a whole interval later).
#[tokio::test]
async fn an_instance_down_at_the_first_probe_is_back_soon_after_it_starts() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let rare_probes = PoolConfig {
        health_interval: Duration::from_secs(3600),
        ..config()
    };
    let gw = gateway_with(&[format!("http://{addr}")], rare_probes, with_admin_token()).await;
    eventually("found down", async || {
        instances(&gw).await.iter().any(|i| i["healthy"] == false)
    })
    .await;
    let up = TestUpstream::new("late");
    let running = up.serve(&addr).await;
    eventually("in rotation", async || {
        get(&gw, "/api/v1/users/x").await.0 == StatusCode::OK
    })
    .await;
    gw.stop().await;
    running.stop().await;
}

/// An instance's registration loop with the gateway at `gw`, until `stop`.
fn register_with(
    gw: &Server,
    service: &str,
    instance: &Server,
    stop: &tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(
        rookery_gateway::discovery::Registration {
            gateways: vec![gw.base.clone()],
            service: service.into(),
            advertise: instance.base.clone(),
            admin_token: Some(ADMIN_TOKEN.into()),
            interval: Duration::from_millis(50),
        }
        .run(stop.clone()),
    )
}

/// A formation started with registration alone: no instance is given
/// another's URL. The messages instance finds users instances in the
/// gateway's registry (it has no bus, so every new recipient is a question
/// to users), and follows them as one is added and the other removed.
#[tokio::test]
async fn a_formation_found_through_the_registry_follows_instances_coming_and_going() {
    use rookery::app::{Peers, RegistrySource};
    use rookery_kernel::db::sqlite_url_in;
    let secret = rookery_kernel::secret::Secret::from_bytes(b"a test secret that is long enough!!");
    let dir = tempfile::tempdir().unwrap();
    let users_db = sqlite_url_in(dir.path(), "users");
    let gw = gateway_with(&[], config(), with_admin_token()).await;
    let serve = async |app| Server::serve(app, tempfile::tempdir().unwrap()).await;

    let first_users = serve(
        rookery::app::users_instance(&users_db, &secret)
            .await
            .unwrap(),
    )
    .await;
    let registry = Peers::Registry(RegistrySource {
        gateways: vec![gw.base.clone()],
        admin_token: Some(ADMIN_TOKEN.into()),
        interval: Duration::from_millis(50),
    });
    let messages = serve(
        rookery::app::messages_instance_on(
            &sqlite_url_in(dir.path(), "messages"),
            &secret,
            registry,
            None,
        )
        .await
        .unwrap(),
    )
    .await;
    let (stop_first, stop_rest) = (
        tokio_util::sync::CancellationToken::new(),
        tokio_util::sync::CancellationToken::new(),
    );
    let first_registration = register_with(&gw, "users", &first_users, &stop_first);
    let messages_registration = register_with(&gw, "messages", &messages, &stop_rest);
    eventually("both instances are registered", async || {
        instances(&gw).await.len() == 2
    })
    .await;

    let send = async |from: &common::User, to: &str| {
        from.basic(gw.req(Method::POST, "/api/v1/messages"))
            .json(&json!({"to": to, "text": "found you"}))
            .send()
            .await
            .unwrap()
            .status()
    };
    let alice = gw.user("alice").await;
    gw.user("bob").await;
    // The messages instance may not have read the listing yet: it answers
    // 503 until it has, never an error of its own.
    eventually(
        "messages finds users in the registry",
        async || match send(&alice, "bob").await {
            StatusCode::CREATED => true,
            StatusCode::SERVICE_UNAVAILABLE => false,
            other => panic!("unexpected {other}"),
        },
    )
    .await;

    // A second users instance joins, the first leaves.
    let second_users = serve(
        rookery::app::users_instance(&users_db, &secret)
            .await
            .unwrap(),
    )
    .await;
    let second_registration = register_with(&gw, "users", &second_users, &stop_rest);
    eventually("the second users instance is registered", async || {
        instances(&gw).await.len() == 3
    })
    .await;
    stop_first.cancel();
    first_registration.await.unwrap();
    first_users.stop().await;
    // carol is new to the messages instance: it must ask users, and only
    // the second instance is left to answer.
    gw.user("carol").await;
    eventually(
        "messages follows the second users instance",
        async || match send(&alice, "carol").await {
            StatusCode::CREATED => true,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::BAD_GATEWAY => false,
            other => panic!("unexpected {other}"),
        },
    )
    .await;
    assert_eq!(send(&alice, "bob").await, StatusCode::CREATED);

    stop_rest.cancel();
    second_registration.await.unwrap();
    messages_registration.await.unwrap();
    gw.stop().await;
    messages.stop().await;
    second_users.stop().await;
}
