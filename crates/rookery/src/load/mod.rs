//! `rookery load`: simulated users running realistic sessions against a
//! gateway, on the goose load-testing framework. Goose schedules the users
//! (ramp-up, duration, think time) and keeps per-request timings and failure
//! counts; this module adds the scenario, response checks with reasons, the
//! per-route p50/p90/p99 table and the JSON report.

mod report;
mod scenario;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use goose::goose::{GooseRequest, GooseUser, Scenario, Transaction, TransactionError};
use goose::metrics::GooseRequestMetric;
use goose::{GooseAttack, GooseScheduler};
use gumdrop::Options;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub use report::{Failure, Report, RouteReport};

type StepResult = Result<(), Box<TransactionError>>;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The gateway's base URL.
    pub url: String,
    pub users: usize,
    /// Time over which the users start.
    pub ramp_up: Duration,
    /// How long all users run once started (after the ramp-up).
    pub duration: Duration,
    /// Seeds each user's choices (who to follow, which post to vote on).
    pub seed: u64,
    /// Mean pause between a user's steps (uniform in [mean/2, 3*mean/2]).
    pub think_time: Duration,
    /// Give each user its own loopback source address (127.0.0.2, ...) when
    /// the target is on 127.0.0.0/8. See [`source_address`].
    pub spread_sources: bool,
    pub progress: bool,
}

/// Failed-authentication budget per client IP (API.md: 100 per 15 minutes,
/// then 429 for every credential from that IP). Checking that a logged-out
/// token stops working costs one failure, so with one source address only
/// this many sessions per run check it.
const REVOCATION_CHECKS_ONE_SOURCE: i64 = 20;

/// State shared by every simulated user of one run.
pub(crate) struct Shared {
    /// Unique per run, so repeated runs against one server never collide.
    pub run_id: String,
    pub seed: u64,
    pub spread: bool,
    /// Registered usernames.
    pub users: Mutex<Vec<String>>,
    /// Posts nobody deletes (safe to reply to, repost, vote on).
    pub posts: Mutex<Pool<PostRef>>,
    pub polls: Mutex<Pool<String>>,
    /// Messages waiting for their recipient to read and answer them.
    pub mailboxes: Mutex<HashMap<String, Vec<Pending>>>,
    pub revocation_checks: AtomicI64,
    pub requests: AtomicU64,
    pub failed: AtomicU64,
    pub active: AtomicUsize,
    pub failures: Mutex<HashMap<(String, String), (u64, String)>>,
}

#[derive(Debug, Clone)]
pub(crate) struct PostRef {
    pub id: String,
    pub author: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub id: String,
    pub from: String,
    pub text: String,
}

/// The newest `cap` entries.
pub(crate) struct Pool<T> {
    items: Vec<T>,
    next: usize,
    cap: usize,
}

impl<T: Clone> Pool<T> {
    fn new(cap: usize) -> Self {
        Self {
            items: Vec::new(),
            next: 0,
            cap,
        }
    }

    pub fn push(&mut self, item: T) {
        if self.items.len() < self.cap {
            self.items.push(item);
        } else {
            self.items[self.next] = item;
            self.next = (self.next + 1) % self.cap;
        }
    }

    pub fn items(&self) -> &[T] {
        &self.items
    }
}

/// One simulated user's own state, kept in goose's per-user session data.
pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub name: String,
    pub password: String,
    pub registered: bool,
    pub token: Option<String>,
    pub rng: rand::rngs::StdRng,
    pub following: HashSet<String>,
    pub reposted: HashSet<String>,
    pub polls_voted: HashSet<String>,
    pub iteration: u64,
    /// This iteration's micro-post.
    pub micro: Option<String>,
    /// The account this user blocks and mutes has been registered.
    pub bystander: bool,
}

impl Session {
    fn new(shared: Arc<Shared>, index: usize) -> Self {
        use rand::SeedableRng;
        let name = format!("ld{}_{index}", shared.run_id);
        let rng = rand::rngs::StdRng::seed_from_u64(
            shared.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        Self {
            password: format!("load-{name}-password"),
            name,
            shared,
            registered: false,
            token: None,
            rng,
            following: HashSet::new(),
            reposted: HashSet::new(),
            polls_voted: HashSet::new(),
            iteration: 0,
            micro: None,
            bystander: false,
        }
    }
}

/// Goose keeps one `Slot` per user; a step takes the session out and puts it
/// back, so steps get `&mut GooseUser` and `&mut Session` side by side.
struct Slot(Option<Session>);

fn take_session(user: &mut GooseUser, shared: &Arc<Shared>) -> Session {
    user.get_session_data_mut::<Slot>()
        .and_then(|slot| slot.0.take())
        .unwrap_or_else(|| Session::new(shared.clone(), user.weighted_users_index))
}

/// A goose transaction running `$f(user, session)`.
macro_rules! step {
    ($shared:expr, $seq:expr, $f:expr, $name:expr) => {
        step!($shared, $f, $name).set_sequence($seq)
    };
    ($shared:expr, $f:expr, $name:expr) => {{
        let shared = Arc::clone(&$shared);
        Transaction::new(Arc::new(move |user| {
            let shared = Arc::clone(&shared);
            Box::pin(async move {
                let mut session = take_session(user, &shared);
                let result = ($f)(user, &mut session).await;
                user.set_session_data(Slot(Some(session)));
                result
            })
        }))
        .set_name($name)
    }};
}

/// Who a request is sent as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Auth {
    None,
    Basic,
    Bearer,
}

/// One request and what it must answer.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    /// The route template, e.g. `GET /api/v1/posts/{id}`.
    pub route: &'static str,
    pub auth: Auth,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
    pub expect: StatusCode,
    /// A bearer token other than the session's (the logged-out one).
    pub token: Option<String>,
}

impl Req {
    pub fn new(method: Method, route: &'static str, path: String) -> Self {
        let expect = match method {
            Method::POST => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        Self {
            method,
            path,
            route,
            auth: Auth::None,
            body: None,
            headers: Vec::new(),
            expect,
            token: None,
        }
    }
    pub fn get(route: &'static str, path: String) -> Self {
        Self::new(Method::GET, route, path)
    }
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    pub fn expect(mut self, status: StatusCode) -> Self {
        self.expect = status;
        self
    }
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// A response whose status was the expected one.
pub(crate) struct Reply {
    pub route: &'static str,
    pub headers: HeaderMap,
    pub body: Value,
    pub metric: GooseRequestMetric,
}

impl Reply {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.body.get(key).and_then(Value::as_str)
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.body.get(key).and_then(Value::as_i64)
    }
    pub fn items(&self) -> &[Value] {
        self.body
            .get("items")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

/// Sends `req` as the session's user; a transport error, an unexpected
/// status or a body that is not JSON is a recorded failure.
pub(crate) async fn send(
    user: &mut GooseUser,
    s: &Session,
    req: Req,
) -> Result<Reply, Box<TransactionError>> {
    let url = user.build_url(&req.path)?;
    let mut rb = user.client.request(req.method.clone(), url);
    match (req.auth, &req.token, &s.token) {
        (Auth::Basic, _, _) | (Auth::Bearer, None, None) => {
            rb = rb.basic_auth(&s.name, Some(&s.password));
        }
        (Auth::Bearer, Some(token), _) | (Auth::Bearer, None, Some(token)) => {
            rb = rb.bearer_auth(token);
        }
        (Auth::None, _, _) => {}
    }
    for (name, value) in &req.headers {
        rb = rb.header(*name, value);
    }
    if let Some(body) = &req.body {
        rb = rb.json(body);
    }
    let request = GooseRequest::builder()
        .name(req.route)
        .expect_status_code(req.expect.as_u16())
        .set_request_builder(rb)
        .build();
    let mut goose = user.request(request).await?;
    s.shared.requests.fetch_add(1, Ordering::Relaxed);
    let response = match goose.response {
        Ok(r) => r,
        Err(e) => {
            let reason = format!("transport error: {}", without_url(&e));
            return Err(fail(
                user,
                s,
                &mut goose.request,
                req.route,
                reason,
                String::new(),
            ));
        }
    };
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            let reason = format!("reading the body: {}", without_url(&e));
            return Err(fail(
                user,
                s,
                &mut goose.request,
                req.route,
                reason,
                String::new(),
            ));
        }
    };
    let body: Value = if bytes.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v) => v,
            Err(_) => {
                let detail = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
                return Err(fail(
                    user,
                    s,
                    &mut goose.request,
                    req.route,
                    format!("{status}: body is not JSON"),
                    detail,
                ));
            }
        }
    };
    if status != req.expect {
        let code = body.get("code").and_then(Value::as_str).unwrap_or("-");
        let reason = format!("expected {}, got {status} ({code})", req.expect.as_u16());
        let detail = format!("{} {}: {}", req.method, req.path, excerpt(&body));
        return Err(fail(user, s, &mut goose.request, req.route, reason, detail));
    }
    Ok(Reply {
        route: req.route,
        headers,
        body,
        metric: goose.request,
    })
}

/// A failed check of `reply` unless `ok`.
pub(crate) fn check(
    user: &GooseUser,
    s: &Session,
    ok: bool,
    reply: &mut Reply,
    reason: impl FnOnce() -> String,
) -> StepResult {
    if ok {
        return Ok(());
    }
    let detail = excerpt(&reply.body);
    Err(fail(
        user,
        s,
        &mut reply.metric,
        reply.route,
        reason(),
        detail,
    ))
}

/// Records a failure of `route` with its reason (and one example), and marks
/// goose's metric of the request failed.
fn fail(
    user: &GooseUser,
    s: &Session,
    metric: &mut GooseRequestMetric,
    route: &str,
    reason: String,
    detail: String,
) -> Box<TransactionError> {
    s.shared.failed.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut failures) = s.shared.failures.lock() {
        let entry = failures
            .entry((route.to_string(), reason.clone()))
            .or_insert((0, detail));
        entry.0 += 1;
    }
    match user.set_failure(&reason, metric, None, None) {
        Err(e) => e,
        // set_failure always answers Err; keep a failure either way.
        Ok(()) => Box::new(TransactionError::RequestFailed {
            raw_request: metric.clone(),
        }),
    }
}

fn excerpt(body: &Value) -> String {
    let mut text = body.to_string();
    if text.len() > 300 {
        let mut end = 300;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Reason texts aggregate per route, so they leave out the URL (and its ids).
fn without_url(e: &reqwest::Error) -> String {
    let mut kind = if e.is_timeout() {
        "timeout".to_string()
    } else if e.is_connect() {
        "connect".to_string()
    } else {
        "request".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        kind = format!("{kind}: {inner}");
        source = inner.source();
    }
    kind
}

/// With `spread`, user `index` connects from its own loopback address, so
/// per-IP limits see 100 clients as 100 clients (the failed-authentication
/// limit of API.md is fixed at 100 per IP per 15 minutes). Only when the
/// target itself is on 127.0.0.0/8 (every such address is local on Linux).
fn source_address(url: &str, index: usize) -> Option<IpAddr> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_string();
    let target: Ipv4Addr = host.parse().ok()?;
    if !target.is_loopback() {
        return None;
    }
    // 127.0.0.2 upwards, skipping the target's own address.
    let first = u32::from(Ipv4Addr::new(127, 0, 0, 2));
    let mut n = first + index as u32;
    if u32::from(target) >= first && n >= u32::from(target) {
        n += 1;
    }
    (n < u32::from(Ipv4Addr::new(127, 255, 255, 255))).then(|| IpAddr::V4(Ipv4Addr::from(n)))
}

fn run_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Base 36 of the time (8 chars) and two random ones: unique per run.
    let mut n = millis % 36u64.pow(8) * 36 * 36 + rand::random_range(0..36 * 36);
    let mut out = Vec::new();
    for _ in 0..10 {
        out.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Runs the scenario and returns the report (also when requests failed).
pub async fn run(config: &LoadConfig) -> anyhow::Result<Report> {
    anyhow::ensure!(config.users >= 1, "--users must be at least 1");
    anyhow::ensure!(
        config.duration >= Duration::from_secs(1),
        "--duration must be at least 1s"
    );
    let base = config.url.trim_end_matches('/').to_string();
    let spread = config.spread_sources && source_address(&base, 0).is_some();
    let shared = Arc::new(Shared {
        run_id: run_id(),
        seed: config.seed,
        spread,
        users: Mutex::new(Vec::new()),
        posts: Mutex::new(Pool::new(500)),
        polls: Mutex::new(Pool::new(200)),
        mailboxes: Mutex::new(HashMap::new()),
        revocation_checks: AtomicI64::new(if spread {
            i64::MAX
        } else {
            REVOCATION_CHECKS_ONE_SOURCE
        }),
        requests: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        active: AtomicUsize::new(0),
        failures: Mutex::new(HashMap::new()),
    });

    // Goose's own options, as its command line would give them.
    let ramp = config.ramp_up.as_secs().to_string();
    let duration = config.duration.as_secs().to_string();
    let users = config.users.to_string();
    let mut args = vec![
        "--host",
        &base,
        "--users",
        &users,
        "--run-time",
        &duration,
        // Registrations happen during the ramp-up: keep them in the figures.
        "--no-reset-metrics",
        "--no-print-metrics",
        // No controllers listening on ports 5116/5117.
        "--no-telnet",
        "--no-websocket",
        "--quiet",
    ];
    if config.ramp_up.as_secs() >= 1 {
        args.extend(["--startup-time", &ramp]);
    } else {
        args.extend(["--hatch-rate", &users]);
    }
    let goose_config = goose::config::GooseConfiguration::parse_args_default(&args)
        .map_err(|e| anyhow::anyhow!("goose options: {e}"))?;

    let think = config.think_time;
    // Sequenced: each user runs the steps in this order, over and over.
    let social = Scenario::new("social user")
        .set_wait_time(think / 2, think + think / 2)
        .map_err(|e| anyhow::anyhow!("think time: {e}"))?
        .register_transaction(step!(shared, scenario::setup, "register").set_on_start())
        .register_transaction(step!(shared, 1, scenario::login, "log in"))
        .register_transaction(step!(shared, 2, scenario::follow, "follow"))
        .register_transaction(step!(shared, 3, scenario::post, "post"))
        .register_transaction(step!(shared, 4, scenario::interact, "reply and repost"))
        .register_transaction(step!(shared, 5, scenario::vote, "vote and like"))
        .register_transaction(step!(shared, 6, scenario::read, "read timelines"))
        .register_transaction(step!(shared, 7, scenario::edit, "edit and delete"))
        .register_transaction(step!(shared, 8, scenario::poll, "poll"))
        .register_transaction(step!(shared, 9, scenario::message, "send a message"))
        .register_transaction(step!(shared, 10, scenario::inbox, "answer messages"))
        .register_transaction(step!(
            shared,
            11,
            scenario::tag_and_mention,
            "mention, tag and search"
        ))
        .register_transaction(step!(
            shared,
            12,
            scenario::notifications,
            "read notifications"
        ))
        .register_transaction(step!(
            shared,
            13,
            scenario::block_and_mute,
            "block and mute"
        ))
        .register_transaction(step!(shared, 14, scenario::logout, "log out"));
    let attack = GooseAttack::initialize_with_config(goose_config)
        .context("starting goose")?
        .set_scheduler(GooseScheduler::RoundRobin)
        .register_scenario(social);

    let started = Instant::now();
    let progress = config.progress.then(|| {
        progress_bar(
            shared.clone(),
            config.ramp_up + config.duration,
            config.users,
        )
    });
    let metrics = attack.execute().await.context("running the load")?;
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }
    Ok(report::build(config, &shared, &metrics, started.elapsed()))
}

fn progress_bar(
    shared: Arc<Shared>,
    total: Duration,
    users: usize,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = indicatif::ProgressBar::new(total.as_secs().max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len}s  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let task = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(started.elapsed().as_secs());
                bar.set_message(format!(
                    "users {}/{users}  requests {}  failures {}",
                    shared.active.load(Ordering::Relaxed),
                    shared.requests.load(Ordering::Relaxed),
                    shared.failed.load(Ordering::Relaxed),
                ));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    (bar, task)
}

/// `10s`, `1500ms`, `2m`, `1h` or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected e.g. 10s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("{text:?}: unit must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?}: not a duration this can wait"))
}

/// [`parse_duration`] of more than zero (a timeout of 0 would close
/// everything at once).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match parse_duration(text)? {
        d if d.is_zero() => Err(format!("{text:?}: must be more than 0")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("99999999999999999999h").is_err());
        assert!(parse_positive_duration("0s").is_err());
        assert_eq!(parse_positive_duration("1ms"), Ok(Duration::from_millis(1)));
    }

    #[test]
    fn loopback_sources_skip_the_target() {
        let url = "http://127.0.0.1:8080";
        assert_eq!(source_address(url, 0), Some("127.0.0.2".parse().unwrap()));
        let url = "http://127.0.0.3:8080";
        assert_eq!(source_address(url, 1), Some("127.0.0.4".parse().unwrap()));
        assert_eq!(source_address("http://10.0.0.1:8080", 0), None);
        assert_eq!(source_address("http://localhost:8080", 0), None);
    }

    #[test]
    fn run_ids_fit_usernames() {
        let id = run_id();
        assert_eq!(id.len(), 10);
        // `ld<run id>_<index>` within the 30 characters of a username.
        assert!(format!("ld{id}_999999").len() <= 30);
    }
}
