//! A small HTTP benchmark. Closed loop (each connection sends its next request
//! when the previous answer arrives) to find a rate, or open loop at a fixed
//! rate, where latency counts from each request's intended send time (no
//! coordinated omission). Latencies go into an HdrHistogram. Targets run one
//! after another in one invocation, so rates compare as ratios to a baseline
//! (`GET /healthz`) measured in the same run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Who a request is sent as.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    /// One account.
    Basic {
        username: String,
        password: String,
    },
    /// A random seeded account `user0..user{count-1}` per request (same password).
    RandomSeeded {
        count: usize,
        password: String,
    },
    /// Web pages: a random one of these `Cookie` values (sessions logged in
    /// beforehand, see [`web_sessions`]) per request.
    Cookies(Vec<String>),
    /// A random one of these bearer tokens per request (see [`mastodon_tokens`]).
    Bearers(Vec<String>),
}

/// One kind of request to measure. In `path` and `body`, `{user}` becomes the
/// request's account index (with `Auth::RandomSeeded`), `{other}` a random
/// other account's index, `{n}` a counter,
/// `{pick}` a random one of `picks`, and `{updown}` `up` or `down` at random.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub method: Method,
    pub path: String,
    pub body: Option<String>,
    pub auth: Auth,
    /// Open loop at this many requests/s; closed loop when `None`.
    pub rate: Option<f64>,
    pub picks: Vec<String>,
    /// A mix: each request is one of these (method, path, body), picked by
    /// weight, sent with this target's credentials. Empty: this target's own.
    pub mix: Vec<(u32, Target)>,
}

impl Target {
    pub fn get(name: &str, path: &str, auth: Auth) -> Self {
        Self {
            name: name.into(),
            method: Method::GET,
            path: path.into(),
            body: None,
            auth,
            rate: None,
            picks: Vec::new(),
            mix: Vec::new(),
        }
    }

    /// The request to send this time: this target, or one of its mix by weight.
    fn pick(&self) -> &Target {
        let total: u32 = self.mix.iter().map(|(w, _)| w).sum();
        if total == 0 {
            return self;
        }
        let mut roll = rand::random_range(0..total);
        for (weight, spec) in &self.mix {
            if roll < *weight {
                return spec;
            }
            roll -= weight;
        }
        self
    }
}

#[derive(Debug, Clone)]
pub struct TargetResult {
    pub name: String,
    pub requests: u64,
    pub errors: u64,
    pub rate: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

pub fn basic(username: &str, password: &str) -> String {
    let raw = format!("{username}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Pre-built Authorization (or Cookie) values, so the load generator spends
/// its CPU on requests.
struct Credentials(Vec<String>, http::HeaderName);

impl Credentials {
    fn new(auth: &Auth) -> Self {
        let authorization = http::header::AUTHORIZATION;
        match auth {
            Auth::None => Self(Vec::new(), authorization),
            Auth::Basic { username, password } => {
                Self(vec![basic(username, password)], authorization)
            }
            Auth::RandomSeeded { count, password } => Self(
                (0..*count)
                    .map(|i| basic(&format!("user{i}"), password))
                    .collect(),
                authorization,
            ),
            Auth::Cookies(cookies) => Self(cookies.clone(), http::header::COOKIE),
            Auth::Bearers(tokens) => Self(
                tokens.iter().map(|t| format!("Bearer {t}")).collect(),
                authorization,
            ),
        }
    }
}

/// Logs seeded accounts `user0..user{count-1}` in through the web client's
/// login form; gives their `Cookie` header values.
pub async fn web_sessions(
    base_url: &str,
    count: usize,
    password: &str,
) -> anyhow::Result<Vec<String>> {
    let client = client(4);
    let base = base_url.trim_end_matches('/');
    let cookie_of = |resp: &http::Response<hyper::body::Incoming>, name: &str| {
        resp.headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    };
    let mut cookies = Vec::with_capacity(count);
    for i in 0..count {
        let page = client
            .request(Request::get(format!("{base}/login")).body(Full::new(Bytes::new()))?)
            .await?;
        let csrf_cookie = cookie_of(&page, "rookery_csrf")
            .context("the login page set no rookery_csrf cookie")?;
        let csrf = csrf_cookie.trim_start_matches("rookery_csrf=").to_string();
        let form = format!(
            "csrf={}&username=user{i}&password={}",
            urlencode(&csrf),
            urlencode(password)
        );
        let resp = client
            .request(
                Request::post(format!("{base}/login"))
                    .header(http::header::COOKIE, &csrf_cookie)
                    .header(
                        http::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(Full::new(Bytes::from(form)))?,
            )
            .await?;
        let session = cookie_of(&resp, "rookery_session")
            .with_context(|| format!("user{i} could not log in ({})", resp.status()))?;
        cookies.push(session);
    }
    Ok(cookies)
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Bytes of `path` as served, uncompressed and with `encoding` (e.g. gzip).
pub async fn page_weight(
    base_url: &str,
    path: &str,
    cookie: Option<&str>,
    encoding: &str,
) -> anyhow::Result<usize> {
    let client = client(1);
    let mut req = Request::get(format!("{}{path}", base_url.trim_end_matches('/')))
        .header(http::header::ACCEPT_ENCODING, encoding);
    if let Some(cookie) = cookie {
        req = req.header(http::header::COOKIE, cookie);
    }
    let resp = client.request(req.body(Full::new(Bytes::new()))?).await?;
    anyhow::ensure!(resp.status().is_success(), "{path}: {}", resp.status());
    Ok(resp.into_body().collect().await?.to_bytes().len())
}

/// `path` under `base`, unless it is a whole URL (a target on another
/// origin, e.g. the Mastodon API's, measured in the same run).
fn url_of(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{base}{path}")
    }
}

/// Bearer tokens of seeded accounts `user0..user{count-1}` from the
/// Mastodon API's password grant (one app registered for them).
pub async fn mastodon_tokens(
    mastodon_url: &str,
    count: usize,
    password: &str,
) -> anyhow::Result<Vec<String>> {
    let client = client(4);
    let base = mastodon_url.trim_end_matches('/');
    let app: serde_json::Value = send_json(
        &client,
        Request::post(format!("{base}/api/v1/apps"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                serde_json::json!({
                    "client_name": "rookery bench",
                    "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                    "scopes": "read write follow",
                })
                .to_string(),
            )))?,
    )
    .await?;
    let (id, secret) = (
        app["client_id"].as_str().unwrap_or_default().to_string(),
        app["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let mut tokens = Vec::with_capacity(count);
    for i in 0..count {
        let body = serde_json::json!({
            "grant_type": "password", "client_id": id, "client_secret": secret,
            "username": format!("user{i}"), "password": password, "scope": "read write follow",
        });
        let token: serde_json::Value = send_json(
            &client,
            Request::post(format!("{base}/oauth/token"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body.to_string())))?,
        )
        .await?;
        tokens.push(
            token["access_token"]
                .as_str()
                .context("no access_token from /oauth/token")?
                .to_string(),
        );
    }
    Ok(tokens)
}

async fn send_json(
    client: &HttpClient,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<serde_json::Value> {
    let uri = req.uri().clone();
    let resp = client.request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status.is_success(),
        "{uri}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    Ok(serde_json::from_slice(&body)?)
}

/// What [`streams`] measured.
pub struct StreamsResult {
    pub streams: usize,
    pub posts: usize,
    /// Post request sent -> `update` received, over every stream and post.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Deliveries that did not arrive within 10 s.
    pub missed: usize,
    /// The server's resident memory before opening and the most with all
    /// open, after opening or after the posts (KiB), when its pid was given.
    pub rss_kib: Option<(u64, u64)>,
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Opens `count` WebSocket `public` streams on the Mastodon API, then posts
/// `posts` statuses (as `token`'s account, one at a time) and times each
/// one's arrival on every stream.
pub async fn streams(
    mastodon_url: &str,
    token: &str,
    count: usize,
    posts: usize,
    server_pid: Option<u32>,
) -> anyhow::Result<StreamsResult> {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let before = server_pid.and_then(rss_kib);
    let ws_url = format!(
        "{}/api/v1/streaming?stream=public",
        mastodon_url.trim_end_matches('/').replacen("http", "ws", 1)
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    let mut readers = Vec::with_capacity(count);
    for i in 0..count {
        let (socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .with_context(|| format!("opening stream {i}"))?;
        let tx = tx.clone();
        readers.push(tokio::spawn(async move {
            let (_, mut incoming) = socket.split();
            while let Some(Ok(message)) = incoming.next().await {
                if let Message::Text(text) = message
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
                    && v["event"] == "update"
                    && let Some(payload) = v["payload"].as_str()
                    && let Ok(status) = serde_json::from_str::<serde_json::Value>(payload)
                    && let Some(id) = status["id"].as_str()
                {
                    let _ = tx.send((i, id.to_string(), Instant::now()));
                }
            }
        }));
    }
    drop(tx);
    // Let every subscription settle before the first post.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = server_pid.and_then(rss_kib);
    let client = client(1);
    let base = mastodon_url.trim_end_matches('/');
    let mut latencies = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut missed = 0;
    for n in 0..posts {
        let body = serde_json::json!({ "status": format!("stream bench {n}") });
        let sent = Instant::now();
        let status = send_json(
            &client,
            Request::post(format!("{base}/api/v1/statuses"))
                .header(http::header::CONTENT_TYPE, "application/json")
                .header(http::header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Full::new(Bytes::from(body.to_string())))?,
        )
        .await?;
        let id = status["id"].as_str().unwrap_or_default().to_string();
        let mut seen = vec![false; count];
        let mut arrived = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while arrived < count {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((i, got, at))) if got == id && !seen[i] => {
                    seen[i] = true;
                    arrived += 1;
                    latencies.record(at.duration_since(sent).as_micros() as u64)?;
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        missed += count - arrived;
    }
    // Buffers fill once statuses flow: the peak is after the posts.
    let after = server_pid.and_then(rss_kib);
    for reader in readers {
        reader.abort();
    }
    Ok(StreamsResult {
        streams: count,
        posts,
        p50_ms: latencies.value_at_quantile(0.5) as f64 / 1000.0,
        p99_ms: latencies.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: latencies.max() as f64 / 1000.0,
        missed,
        rss_kib: before.zip(during.max(after)),
    })
}

pub fn client(connections: usize) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build(connector)
}

/// Runs each target for `duration` over `connections` concurrent loops.
pub async fn run(
    base_url: &str,
    targets: &[Target],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Vec<TargetResult>> {
    let client = client(connections);
    let mut results = Vec::new();
    for target in targets {
        // Warm up connections and caches (e.g. the credential cache) first.
        run_target(
            &client,
            base_url,
            target,
            connections,
            Duration::from_millis(500),
        )
        .await?;
        results.push(run_target(&client, base_url, target, connections, duration).await?);
    }
    Ok(results)
}

async fn run_target(
    client: &HttpClient,
    base_url: &str,
    target: &Target,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<TargetResult> {
    let base = base_url.trim_end_matches('/').to_string();
    url_of(
        &base,
        &target.path.replace("{user}", "0").replace("{n}", "0"),
    )
    .parse::<Uri>()
    .with_context(|| format!("bad URL for {}", target.name))?;
    let credentials = Arc::new(Credentials::new(&target.auth));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    // Open loop: worker k sends at started + (k + i * connections) / rate.
    let interval = target
        .rate
        .map(|r| Duration::from_secs_f64(connections as f64 / r.max(0.001)));
    let mut workers = Vec::new();
    for k in 0..connections {
        let (client, target, base, credentials, counter) = (
            client.clone(),
            target.clone(),
            base.clone(),
            credentials.clone(),
            counter.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut ok, mut errors) = (0u64, 0u64);
            let mut next_send =
                interval.map(|i| started + i.mul_f64(k as f64 / connections as f64));
            loop {
                let intended = match (next_send, interval) {
                    (Some(at), Some(i)) => {
                        if at >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(at.into()).await;
                        next_send = Some(at + i);
                        at
                    }
                    _ => {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        now
                    }
                };
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = build_request(&target, &base, &credentials, n);
                match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.into_body().collect().await;
                        if status.is_success() {
                            ok += 1;
                        } else {
                            errors += 1;
                        }
                    }
                    Err(_) => errors += 1,
                }
                let _ = hist.record(intended.elapsed().as_micros() as u64);
            }
            (ok, errors, hist)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut ok, mut errors) = (0, 0);
    for w in workers {
        let (o, e, h) = w.await?;
        ok += o;
        errors += e;
        hist.add(h).ok();
    }
    let elapsed = started.elapsed();
    Ok(TargetResult {
        name: target.name.clone(),
        requests: ok,
        errors,
        rate: ok as f64 / elapsed.as_secs_f64(),
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
    })
}

/// The `n`th request of `target`: placeholders filled, credentials of a
/// random account (see [`Target`]).
fn build_request(
    target: &Target,
    base: &str,
    credentials: &Credentials,
    n: u64,
) -> Request<Full<Bytes>> {
    let accounts = credentials.0.len();
    let (user, other) = if accounts > 1 {
        let user = rand::random_range(0..accounts);
        (user, (user + rand::random_range(1..accounts)) % accounts)
    } else {
        (0, 0)
    };
    let pick = match target.picks.len() {
        0 => "",
        len => target.picks[rand::random_range(0..len)].as_str(),
    };
    let updown = if rand::random::<bool>() { "up" } else { "down" };
    let fill = |s: &str| {
        s.replace("{user}", &user.to_string())
            .replace("{other}", &other.to_string())
            .replace("{n}", &n.to_string())
            .replace("{pick}", pick)
            .replace("{updown}", updown)
    };
    let spec = target.pick();
    let mut req = Request::builder()
        .method(spec.method.clone())
        .uri(url_of(base, &fill(&spec.path)));
    if let Some(auth) = credentials.0.get(user) {
        req = req.header(&credentials.1, auth);
    }
    let body = match &spec.body {
        Some(b) => {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(fill(b))
        }
        None => Bytes::new(),
    };
    req.body(Full::new(body)).expect("valid request")
}

/// The highest open-loop rate at which `target` keeps its p99 within
/// `p99_bound` with no errors: from 90% of the closed-loop rate down in 30%
/// steps until one holds, then bisection (at most twelve runs of `duration`). The result names the rate
/// found, which comes second.
pub async fn sustainable_rate(
    base_url: &str,
    target: &Target,
    connections: usize,
    duration: Duration,
    p99_bound: Duration,
) -> anyhow::Result<(TargetResult, f64)> {
    let closed = run(
        base_url,
        std::slice::from_ref(target),
        connections,
        duration,
    )
    .await?;
    let (mut low, mut high) = (0.0_f64, closed[0].rate.max(1.0));
    let mut best: Option<TargetResult> = None;
    let mut rate = high * 0.9;
    // Down by 30% steps until a rate holds, then bisect to within 3%.
    for _ in 0..12 {
        let mut open = target.clone();
        open.rate = Some(rate);
        let result = run(base_url, &[open], connections, duration)
            .await?
            .remove(0);
        if result.errors == 0 && result.p99_us <= p99_bound.as_micros() as u64 {
            low = rate;
            best = Some(result);
        } else {
            high = rate;
        }
        if best.is_some() && high - low < high * 0.03 {
            break;
        }
        rate = if best.is_none() {
            high * 0.7
        } else {
            (low + high) / 2.0
        };
    }
    let mut best = best.with_context(|| {
        format!(
            "{}: no rate down to {low:.0}/s kept p99 within {p99_bound:?}",
            target.name
        )
    })?;
    best.name = format!(
        "{} @ {:.0}/s (p99 <= {} ms)",
        target.name,
        low,
        p99_bound.as_millis()
    );
    Ok((best, low))
}

/// A plain-text table of the results, with each rate as a ratio to the first.
pub fn report(results: &[TargetResult]) -> String {
    let mut out = format!(
        "{:<40} {:>10} {:>8} {:>12} {:>8} {:>9} {:>9} {:>9}\n",
        "target", "requests", "errors", "req/s", "ratio", "p50 ms", "p99 ms", "max ms"
    );
    let base = results
        .first()
        .map_or(1.0, |r| r.rate.max(f64::MIN_POSITIVE));
    for r in results {
        out.push_str(&format!(
            "{:<40} {:>10} {:>8} {:>12.0} {:>8.2} {:>9.3} {:>9.3} {:>9.3}\n",
            r.name,
            r.requests,
            r.errors,
            r.rate,
            r.rate / base,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0,
            r.max_us as f64 / 1000.0,
        ));
    }
    out
}

/// Ids of the newest `count` posts (at most 100), from the public timeline.
pub async fn newest_post_ids(base: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri: Uri = format!("{base}/api/v1/timelines/public?limit={}", count.min(100))
        .parse()
        .context("bad URL")?;
    let resp = client
        .get(uri)
        .await
        .context("reading the public timeline")?;
    let body = resp.into_body().collect().await?.to_bytes();
    let page: serde_json::Value = serde_json::from_slice(&body)?;
    let ids: Vec<String> = page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|p| p["id"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(!ids.is_empty(), "no posts to vote on: seed some first");
    Ok(ids)
}

/// An overload run: what was accepted, what was shed, and how long accepted
/// requests took.
#[derive(Debug, Clone)]
pub struct StressResult {
    pub name: String,
    /// Requests/s offered (open loop).
    pub offered_rate: f64,
    /// 2xx answers.
    pub accepted: u64,
    pub accepted_rate: f64,
    /// 429 and 503 answers (refused quickly instead of queued).
    pub shed: u64,
    /// Anything else: other statuses or no answer.
    pub errors: u64,
    /// 5xx other than 503: always a bug.
    pub server_errors: u64,
    /// Latency of accepted requests from their intended send time.
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// p99 of the shed answers (how quickly a refusal comes).
    pub shed_p99_us: u64,
}

/// Offers `target` open loop at `rate` requests/s for `duration` over
/// `connections` concurrent clients (kept-alive connections; client `k`
/// sends at `started + (k + i * connections) / rate`). Use many more clients
/// than the server admits at once, so that the offered load does not drop
/// when the server slows down: a client that falls behind sends at once, and
/// latency counts from the intended send time.
pub async fn stress(
    base_url: &str,
    target: &Target,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<StressResult> {
    let client = client(connections);
    // One second first opens the connections (not measured).
    stress_run(
        &client,
        base_url,
        target,
        rate,
        Duration::from_secs(1),
        connections,
    )
    .await?;
    stress_run(&client, base_url, target, rate, duration, connections).await
}

async fn stress_run(
    client: &HttpClient,
    base_url: &str,
    target: &Target,
    rate: f64,
    duration: Duration,
    connections: usize,
) -> anyhow::Result<StressResult> {
    let base = base_url.trim_end_matches('/').to_string();
    let credentials = Arc::new(Credentials::new(&target.auth));
    let counter = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(connections as f64 / rate.max(0.001));
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for k in 0..connections {
        let (client, target, base, credentials, counter) = (
            client.clone(),
            target.clone(),
            base.clone(),
            credentials.clone(),
            counter.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut accepted =
                Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
            let mut shed = accepted.clone();
            let (mut errors, mut server_errors) = (0u64, 0u64);
            let mut at = started + interval.mul_f64(k as f64 / connections as f64);
            while at < deadline {
                tokio::time::sleep_until(at.into()).await;
                let intended = at;
                at += interval;
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let req = build_request(&target, &base, &credentials, n);
                let status = match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.into_body().collect().await;
                        Some(status)
                    }
                    Err(_) => None,
                };
                let micros = intended.elapsed().as_micros() as u64;
                match status {
                    Some(s) if s.is_success() => {
                        let _ = accepted.record(micros);
                    }
                    Some(s) if s.as_u16() == 429 || s.as_u16() == 503 => {
                        let _ = shed.record(micros);
                    }
                    Some(s) => {
                        errors += 1;
                        if s.is_server_error() {
                            server_errors += 1;
                        }
                    }
                    None => errors += 1,
                }
            }
            (accepted, shed, errors, server_errors)
        }));
    }
    let mut accepted = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
    let mut shed = accepted.clone();
    let (mut errors, mut server_errors) = (0u64, 0u64);
    for w in workers {
        let (a, s, e, se) = w.await?;
        accepted.add(a).ok();
        shed.add(s).ok();
        errors += e;
        server_errors += se;
    }
    Ok(StressResult {
        name: format!(
            "{} @ {rate:.0}/s offered, open loop, {connections} clients",
            target.name
        ),
        offered_rate: rate,
        accepted: accepted.len(),
        accepted_rate: accepted.len() as f64 / started.elapsed().as_secs_f64(),
        shed: shed.len(),
        errors,
        server_errors,
        p50_us: accepted.value_at_quantile(0.50),
        p99_us: accepted.value_at_quantile(0.99),
        max_us: accepted.max(),
        shed_p99_us: shed.value_at_quantile(0.99),
    })
}

pub fn stress_report(r: &StressResult) -> String {
    format!(
        "{}\n  offered {:.0}/s; accepted {} ({:.0}/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms); \
         shed {} (429/503, p99 {:.3} ms); other errors {} (5xx other than 503: {})\n",
        r.name,
        r.offered_rate,
        r.accepted,
        r.accepted_rate,
        r.p50_us as f64 / 1000.0,
        r.p99_us as f64 / 1000.0,
        r.max_us as f64 / 1000.0,
        r.shed,
        r.shed_p99_us as f64 / 1000.0,
        r.errors,
        r.server_errors,
    )
}

/// One way of serving a request, timed: p50/p99/mean in microseconds.
pub struct OverheadResult {
    pub name: String,
    pub p50_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
}

/// The Lambda handler's overhead, in process (no sockets, no runtime API):
/// `GET /api/v1/posts/{id}` answered `iterations` times, one at a time,
/// (1) as an HTTP API (v2) event through the posts function, event JSON in
/// and response JSON out, as the runtime hands them over; (2) the same
/// function given the request directly (no event translation); (3) through
/// `rookery serve`'s gateway router. All on SQLite in a temporary directory.
pub async fn lambda_overhead(iterations: usize) -> anyhow::Result<Vec<OverheadResult>> {
    use crate::lambda::{Function, FunctionConfig, LambdaService};
    use rookery_kernel::events::{EventBus, InProcessBus};
    use tower::{Service, ServiceExt};

    let dir = tempfile_dir()?;
    let app = crate::app::embedded(&dir).await?;
    let gateway = app.router.clone();
    let call = |req: http::Request<axum::body::Body>| {
        let gateway = gateway.clone();
        async move {
            let response = gateway.oneshot(req).await.unwrap_or_else(|n| match n {});
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await?
                .to_bytes();
            anyhow::Ok((status, body))
        }
    };
    let register = serde_json::json!({
        "username": "bench", "email": "bench@example.com", "password": "bench-password-1",
    });
    let (status, _) = call(
        http::Request::post("/api/v1/users")
            .header("content-type", "application/json")
            .body(register.to_string().into())?,
    )
    .await?;
    anyhow::ensure!(status.is_success(), "registering: {status}");
    let (status, body) = call(
        http::Request::post("/api/v1/posts")
            .header("content-type", "application/json")
            .header("authorization", basic("bench", "bench-password-1"))
            .body(r#"{"text": "one post to read again and again"}"#.into())?,
    )
    .await?;
    anyhow::ensure!(status.is_success(), "posting: {status}");
    let post: serde_json::Value = serde_json::from_slice(&body)?;
    let id = match &post["id"] {
        serde_json::Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let path = format!("/api/v1/posts/{id}");

    let secret = rookery_kernel::secret::Secret::load_or_create(&dir)?;
    let built = Function::build(FunctionConfig {
        service: LambdaService::Posts,
        database_url: rookery_kernel::db::sqlite_url_in(&dir, "posts"),
        polls_url: None,
        secret,
        // Not asked: the read is anonymous.
        users: vec!["http://127.0.0.1:9".into()],
        posts: Vec::new(),
        bus: Some(InProcessBus::new() as std::sync::Arc<dyn EventBus>),
        jetstream: None,
    })
    .await?;
    let event = serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": "abc.lambda-url.eu-west-1.on.aws", "accept": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc", "domainName": "abc.lambda-url.eu-west-1.on.aws",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.9", "userAgent": "bench"},
            "requestId": "id", "routeKey": "$default", "stage": "$default", "time": "02/Dec/2026:01:00:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    })
    .to_string();

    let function = &built;
    let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(
        |req: lambda_http::Request| async move {
            Ok::<_, lambda_http::Error>(function.handle(req).await)
        },
    ));
    let mut results = Vec::new();
    for name in [
        "Lambda event -> posts function -> response JSON",
        "posts function, the request given directly",
        "rookery serve's gateway router (in process)",
    ] {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        // The first tenth warms caches and is not counted.
        for i in 0..iterations + iterations / 10 {
            let started = std::time::Instant::now();
            let ok = match name.chars().next() {
                Some('L') => {
                    let request: lambda_http::request::LambdaRequest =
                        serde_json::from_str(&event)?;
                    let response = adapter
                        .ready()
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .call(lambda_http::LambdaEvent::new(
                            request,
                            lambda_http::Context::default(),
                        ))
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                    let json = serde_json::to_string(&response)?;
                    json.contains("\"statusCode\":200")
                }
                Some('p') => {
                    let req = http::Request::get(path.as_str()).body(lambda_http::Body::Empty)?;
                    function.handle(req).await.status().is_success()
                }
                _ => {
                    let req = http::Request::get(path.as_str()).body(axum::body::Body::empty())?;
                    call(req).await?.0.is_success()
                }
            };
            anyhow::ensure!(ok, "{name}: the read failed");
            if i >= iterations / 10 {
                hist.record(started.elapsed().as_nanos().max(1) as u64 / 1000 + 1)?;
            }
        }
        results.push(OverheadResult {
            name: name.to_string(),
            p50_us: hist.value_at_quantile(0.5) as f64,
            p99_us: hist.value_at_quantile(0.99) as f64,
            mean_us: hist.mean(),
        });
    }
    built.close().await;
    app.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(results)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "rookery-lambda-bench-{}-{}",
        std::process::id(),
        rookery_kernel::time::now_ms()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
