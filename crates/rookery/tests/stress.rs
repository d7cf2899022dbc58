//! Excessive load on the embedded server, on a real socket: a mixed
//! read/write workload first finds the rate the server sustains, then about
//! twice that rate is offered open loop (each request sent at its time,
//! whatever happened to the earlier ones) by many concurrent clients.
//!
//! The server must shed (503 or 429, with `Retry-After`) instead of queueing
//! without bound, never answer 500, keep every write it acknowledged with 201
//! exactly once (and nothing it did not acknowledge), and serve again at once
//! when the load stops. No timing is asserted here: the latency of accepted
//! requests under overload is measured by `rookery bench --stress`
//! (docs/benchmarks.md).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, User, send_json};
use reqwest::{Client, Method, StatusCode};
use rookery_gateway::{GatewayOptions, Rate, RateLimitConfig, RateLimiter};
use serde_json::{Value, json};

const USERS: usize = 12;
/// The operator's in-flight limit for the whole embedded process.
const MAX_IN_FLIGHT: usize = 16;
/// Concurrent clients of the closed-loop measurement: below the limit, so
/// nothing is shed while the sustainable rate is found.
const MEASURE_CLIENTS: usize = 8;

/// What one request was and how it ended.
#[derive(Clone, Debug)]
enum Kind {
    Post {
        author: usize,
        text: String,
    },
    Message {
        from: usize,
        to: usize,
        text: String,
    },
    Read,
}

struct Outcome {
    kind: Kind,
    /// None: the request got no HTTP answer.
    status: Option<StatusCode>,
    retry_after: bool,
    rate_limit_headers: bool,
    body: String,
}

/// The `n`th request of the mix: 60% reads (home timelines, user timelines,
/// inboxes, profiles), 20% posts, 20% messages, from a random user.
fn nth(n: u64, users: &[User]) -> (Kind, Method, String, Option<Value>, usize) {
    let u = rand::random_range(0..users.len());
    let other = (u + rand::random_range(1..users.len())) % users.len();
    match n % 10 {
        0 | 5 => {
            let text = format!("stress post {n} by {u}");
            let body = json!({ "text": text });
            (
                Kind::Post { author: u, text },
                Method::POST,
                "/api/v1/posts".into(),
                Some(body),
                u,
            )
        }
        1 | 6 => {
            let text = format!("stress message {n} from {u}");
            let body = json!({ "to": users[other].name, "text": text });
            let kind = Kind::Message {
                from: u,
                to: other,
                text,
            };
            (kind, Method::POST, "/api/v1/messages".into(), Some(body), u)
        }
        2 | 7 => (
            Kind::Read,
            Method::GET,
            "/api/v1/timelines/home?limit=10".into(),
            None,
            u,
        ),
        3 => {
            let path = format!("/api/v1/users/{}/posts?limit=10", users[other].name);
            (Kind::Read, Method::GET, path, None, u)
        }
        8 => (
            Kind::Read,
            Method::GET,
            "/api/v1/messages?limit=10".into(),
            None,
            u,
        ),
        _ => {
            let path = format!("/api/v1/users/{}", users[other].name);
            (Kind::Read, Method::GET, path, None, u)
        }
    }
}

async fn send(client: &Client, base: &str, users: &[User], n: u64) -> Outcome {
    let (kind, method, path, body, user) = nth(n, users);
    let mut rb = users[user].basic(client.request(method, format!("{base}{path}")));
    if let Some(body) = body {
        rb = rb.json(&body);
    }
    match rb.send().await {
        Ok(resp) => {
            let status = resp.status();
            let headers = resp.headers();
            let retry_after = headers.contains_key("retry-after");
            let rate_limit_headers = headers.contains_key("x-ratelimit-limit");
            let body = resp.text().await.unwrap_or_default();
            Outcome {
                kind,
                status: Some(status),
                retry_after,
                rate_limit_headers,
                body,
            }
        }
        Err(e) => Outcome {
            kind,
            status: None,
            retry_after: false,
            rate_limit_headers: false,
            body: e.to_string(),
        },
    }
}

/// Closed loop: `clients` loops each sending its next request when the
/// previous one is answered, for `duration`; the rate of 2xx answers.
async fn sustained_rate(
    s: &Server,
    users: &Arc<Vec<User>>,
    duration: Duration,
) -> (f64, Vec<Outcome>) {
    let started = Instant::now();
    let counter = Arc::new(std::sync::atomic::AtomicU64::new(1_000_000));
    let mut loops = Vec::new();
    for _ in 0..MEASURE_CLIENTS {
        let (client, base, users, counter) = (
            s.client.clone(),
            s.base.clone(),
            users.clone(),
            counter.clone(),
        );
        loops.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            while started.elapsed() < duration {
                let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                outcomes.push(send(&client, &base, &users, n).await);
            }
            outcomes
        }));
    }
    let mut outcomes = Vec::new();
    for l in loops {
        outcomes.extend(l.await.unwrap());
    }
    let ok = outcomes
        .iter()
        .filter(|o| o.status.is_some_and(|s| s.is_success()))
        .count();
    (ok as f64 / started.elapsed().as_secs_f64(), outcomes)
}

/// Open loop: request `i` is sent at `i / rate` seconds, each on its own
/// task, for `duration`.
async fn open_loop(
    s: &Server,
    users: &Arc<Vec<User>>,
    rate: f64,
    duration: Duration,
) -> Vec<Outcome> {
    let started = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut tasks = Vec::new();
    for i in 0u64.. {
        let at = started + interval.mul_f64(i as f64);
        if at - started >= duration {
            break;
        }
        tokio::time::sleep_until(at).await;
        let (client, base, users) = (s.client.clone(), s.base.clone(), users.clone());
        tasks.push(tokio::spawn(async move {
            send(&client, &base, &users, i).await
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    outcomes
}

/// Every page of a list, `limit=100`, through its `next_cursor`.
async fn all_items(s: &Server, user: &User, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = send_json(user.basic(s.req(Method::GET, &url))).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

fn counts<'a>(texts: impl Iterator<Item = &'a str>) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for t in texts {
        *out.entry(t.to_string()).or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twice_the_sustainable_rate_is_shed_without_losing_acknowledged_writes() {
    // Configured as an operator would: an in-flight limit for the process,
    // and per-IP / per-user limits (API.md's floor for one client is 5,000
    // requests/s, so those stay out of the way of this load).
    let dir = tempfile::tempdir().unwrap();
    let options = GatewayOptions {
        limiter: RateLimiter::new(
            RateLimitConfig {
                per_ip: Rate::per_second(20_000.0, 40_000.0),
                per_user: Rate::per_second(5_000.0, 10_000.0),
                registrations: Rate::per_hour(1_000.0),
            },
            None,
        ),
        admin_token: None,
        max_in_flight: MAX_IN_FLIGHT,
        ..GatewayOptions::local()
    };
    let app = rookery::app::embedded_with_gateway(dir.path(), Default::default(), None, options)
        .await
        .unwrap();
    let s = Server::serve(app, dir).await;
    let mut users = Vec::new();
    for i in 0..USERS {
        let user = s.user(&format!("u{i}")).await;
        // Sign in once, so argon2 is paid before the measurement.
        let (status, _) = send_json(user.basic(s.req(Method::GET, "/api/v1/auth/whoami"))).await;
        assert_eq!(status, StatusCode::OK);
        users.push(user);
    }
    let users = Arc::new(users);

    let (sustainable, mut outcomes) = sustained_rate(&s, &users, Duration::from_secs(1)).await;
    assert!(sustainable > 10.0, "{sustainable}/s");
    let shed_while_measuring = outcomes
        .iter()
        .filter(|o| o.status.is_some_and(|s| !s.is_success()))
        .count();
    assert_eq!(
        shed_while_measuring, 0,
        "the measurement itself was refused"
    );

    let overload = open_loop(&s, &users, 2.0 * sustainable, Duration::from_secs(3)).await;
    let offered = overload.len();
    outcomes.extend(overload);

    // Recovery: with the load gone, requests succeed at once (no backlog).
    for n in 0..20u64 {
        let o = send(&s.client, &s.base, &users, 2_000_000 + n).await;
        assert!(
            o.status.is_some_and(|s| s.is_success()),
            "after the load: {:?} {:?} {}",
            o.kind,
            o.status,
            o.body
        );
        outcomes.push(o);
    }

    let mut by_status: HashMap<Option<u16>, usize> = HashMap::new();
    for o in &outcomes {
        *by_status.entry(o.status.map(|s| s.as_u16())).or_insert(0) += 1;
    }
    eprintln!(
        "sustained {sustainable:.0}/s closed loop; offered {offered} at {:.0}/s; answers {by_status:?}",
        2.0 * sustainable
    );
    for o in &outcomes {
        let status = o
            .status
            .unwrap_or_else(|| panic!("no answer ({:?}): {}", o.kind, o.body));
        assert!(
            status.is_success()
                || status == StatusCode::SERVICE_UNAVAILABLE
                || status == StatusCode::TOO_MANY_REQUESTS,
            "{:?}: {status} {}",
            o.kind,
            o.body
        );
        if !status.is_success() {
            assert!(o.retry_after, "{status} without Retry-After: {}", o.body);
            let error: Value = serde_json::from_str(&o.body).unwrap();
            assert!(error["code"].is_string(), "{}", o.body);
        }
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert!(o.rate_limit_headers, "429 without X-RateLimit-*");
        }
    }
    let shed = outcomes
        .iter()
        .filter(|o| {
            o.status == Some(StatusCode::SERVICE_UNAVAILABLE)
                || o.status == Some(StatusCode::TOO_MANY_REQUESTS)
        })
        .count();
    assert!(
        shed > 0,
        "twice the sustainable rate was queued, not shed: {by_status:?}"
    );

    // Every acknowledged write is stored exactly once; a refused one not at all.
    let mut posted: Vec<Vec<String>> = vec![Vec::new(); USERS];
    let mut sent: Vec<Vec<String>> = vec![Vec::new(); USERS];
    let mut received: Vec<Vec<String>> = vec![Vec::new(); USERS];
    for o in &outcomes {
        let created = o.status == Some(StatusCode::CREATED);
        match &o.kind {
            Kind::Post { author, text } if created => posted[*author].push(text.clone()),
            Kind::Message { from, to, text } if created => {
                sent[*from].push(text.clone());
                received[*to].push(text.clone());
            }
            Kind::Post { .. } | Kind::Message { .. } => {
                assert!(o.status.is_some_and(|s| !s.is_success()), "{:?}", o.status)
            }
            Kind::Read => {}
        }
    }
    let acknowledged: usize = posted.iter().chain(&sent).map(Vec::len).sum();
    assert!(acknowledged > 0);
    for (i, user) in users.iter().enumerate() {
        let texts = |items: Vec<Value>| -> Vec<String> {
            items
                .iter()
                .map(|p| p["text"].as_str().unwrap().to_string())
                .collect()
        };
        let stored =
            texts(all_items(&s, user, &format!("/api/v1/users/{}/posts", user.name)).await);
        assert_eq!(
            counts(stored.iter().map(String::as_str)),
            counts(posted[i].iter().map(String::as_str)),
            "{}'s posts",
            user.name
        );
        let stored = texts(all_items(&s, user, "/api/v1/messages?box=sent").await);
        assert_eq!(
            counts(stored.iter().map(String::as_str)),
            counts(sent[i].iter().map(String::as_str)),
            "{}'s sent messages",
            user.name
        );
        let stored = texts(all_items(&s, user, "/api/v1/messages?box=inbox").await);
        assert_eq!(
            counts(stored.iter().map(String::as_str)),
            counts(received[i].iter().map(String::as_str)),
            "{}'s inbox",
            user.name
        );
    }
    let (status, _) = send_json(s.req(Method::GET, "/readyz")).await;
    assert_eq!(status, StatusCode::OK);
    s.stop().await;
}
