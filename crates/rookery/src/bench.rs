//! A small closed-loop HTTP benchmark: N connections each send requests back
//! to back for a fixed time; latencies go into an HdrHistogram. Targets run
//! one after another in the same invocation, so their rates can be compared
//! as ratios (e.g. Basic-authenticated whoami vs. the `/healthz` baseline).

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

/// One kind of request to measure.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub path: String,
    pub authorization: Option<String>,
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

/// Runs each target for `duration` over `connections` concurrent loops.
pub async fn run(
    base_url: &str,
    targets: &[Target],
    connections: usize,
    duration: Duration,
) -> anyhow::Result<Vec<TargetResult>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build(connector);
    let mut results = Vec::new();
    for target in targets {
        let uri: Uri = format!("{}{}", base_url.trim_end_matches('/'), target.path)
            .parse()
            .with_context(|| format!("bad URL for {}", target.name))?;
        // Warm up connections and caches (e.g. the credential cache) first.
        run_target(
            &client,
            &uri,
            target,
            connections,
            Duration::from_millis(500),
        )
        .await?;
        let (requests, errors, hist, elapsed) =
            run_target(&client, &uri, target, connections, duration).await?;
        results.push(TargetResult {
            name: target.name.clone(),
            requests,
            errors,
            rate: requests as f64 / elapsed.as_secs_f64(),
            p50_us: hist.value_at_quantile(0.50),
            p99_us: hist.value_at_quantile(0.99),
            max_us: hist.max(),
        });
    }
    Ok(results)
}

async fn run_target(
    client: &Client<HttpConnector, Full<Bytes>>,
    uri: &Uri,
    target: &Target,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<(u64, u64, Histogram<u64>, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (client, uri, auth) = (client.clone(), uri.clone(), target.authorization.clone());
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let (mut ok, mut errors) = (0u64, 0u64);
            while Instant::now() < deadline {
                let mut req = Request::builder().method(Method::GET).uri(uri.clone());
                if let Some(auth) = &auth {
                    req = req.header(http::header::AUTHORIZATION, auth);
                }
                let req = req.body(Full::new(Bytes::new())).expect("static request");
                let sent = Instant::now();
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
                let _ = hist.record(sent.elapsed().as_micros() as u64);
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
    Ok((ok, errors, hist, started.elapsed()))
}

/// A plain-text table of the results, with each rate as a ratio to the first.
pub fn report(results: &[TargetResult]) -> String {
    let mut out = format!(
        "{:<28} {:>10} {:>8} {:>12} {:>8} {:>9} {:>9} {:>9}\n",
        "target", "requests", "errors", "req/s", "ratio", "p50 ms", "p99 ms", "max ms"
    );
    let base = results
        .first()
        .map_or(1.0, |r| r.rate.max(f64::MIN_POSITIVE));
    for r in results {
        out.push_str(&format!(
            "{:<28} {:>10} {:>8} {:>12.0} {:>8.2} {:>9.3} {:>9.3} {:>9.3}\n",
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
