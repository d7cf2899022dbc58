//! Per-route figures from goose's metrics plus the failure reasons the
//! checks recorded: the summary table and the JSON report.

use std::collections::BTreeMap;
use std::time::Duration;

use goose::metrics::{GooseMetrics, GooseRequestMetricTimingData};
use serde::Serialize;

use super::{LoadConfig, Shared};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub url: String,
    pub users: usize,
    pub ramp_up_secs: f64,
    pub duration_secs: f64,
    pub elapsed_secs: f64,
    pub seed: u64,
    /// Usernames of the run are `ld<run_id>_<n>`.
    pub run_id: String,
    /// Each user connected from its own loopback address.
    pub spread_sources: bool,
    pub requests: u64,
    pub failures: u64,
    pub routes: Vec<RouteReport>,
    /// Failure reasons per route, most frequent first.
    pub failure_reasons: Vec<Failure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// `METHOD /path/{template}`.
    pub route: String,
    /// The service behind the route: users, posts, votes or messages.
    pub service: String,
    pub requests: u64,
    pub failures: u64,
    /// Goose records whole milliseconds (rounded to 10 ms above 100 ms).
    pub p50_ms: u64,
    pub p90_ms: u64,
    pub p99_ms: u64,
    pub max_ms: u64,
    pub mean_ms: f64,
    pub status_codes: BTreeMap<u16, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub route: String,
    pub reason: String,
    pub count: u64,
    /// The first occurrence's request and answer, shortened.
    pub example: String,
}

impl Report {
    pub fn route(&self, route: &str) -> Option<&RouteReport> {
        self.routes.iter().find(|r| r.route == route)
    }

    /// The summary table, one line per route, then the failure reasons.
    pub fn table(&self) -> String {
        let width = self
            .routes
            .iter()
            .map(|r| r.route.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let mut out = format!(
            "{:<width$} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7}\n",
            "route", "requests", "failures", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for r in &self.routes {
            out.push_str(&format!(
                "{:<width$} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7}\n",
                r.route, r.requests, r.failures, r.p50_ms, r.p90_ms, r.p99_ms, r.max_ms
            ));
        }
        out.push_str(&format!(
            "{:<width$} {:>9} {:>8}\n",
            "total", self.requests, self.failures
        ));
        out.push_str(&format!(
            "{} users, ramp-up {:.0}s, duration {:.0}s, {:.0} requests/s\n",
            self.users,
            self.ramp_up_secs,
            self.duration_secs,
            self.requests as f64 / self.elapsed_secs.max(0.001)
        ));
        if !self.failure_reasons.is_empty() {
            out.push_str("\nfailures:\n");
            for f in &self.failure_reasons {
                out.push_str(&format!("{:>7}  {}: {}\n", f.count, f.route, f.reason));
                if !f.example.is_empty() {
                    out.push_str(&format!("         e.g. {}\n", f.example));
                }
            }
        }
        out
    }
}

/// The service answering `route` (a route template, as the gateway routes it).
pub fn service_of(route: &str) -> &'static str {
    let path = route.split_once(' ').map_or(route, |(_, p)| p);
    rookery_gateway::ROUTES
        .iter()
        .find(|(template, _)| *template == path)
        .map_or("other", |(_, service)| service)
}

/// The smallest recorded time with at least `q` of the requests at or below it.
fn percentile(data: &GooseRequestMetricTimingData, q: f64) -> u64 {
    let total: usize = data.times.values().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((q * total as f64).ceil() as usize).max(1);
    let mut seen = 0;
    for (ms, count) in &data.times {
        seen += count;
        if seen >= rank {
            return (*ms as u64).min(data.maximum_time as u64);
        }
    }
    data.maximum_time as u64
}

pub(super) fn build(
    config: &LoadConfig,
    shared: &Shared,
    metrics: &GooseMetrics,
    elapsed: Duration,
) -> Report {
    let mut routes: Vec<RouteReport> = metrics
        .requests
        .values()
        .map(|agg| {
            let data = &agg.raw_data;
            RouteReport {
                route: agg.path.clone(),
                service: service_of(&agg.path).to_string(),
                requests: (agg.success_count + agg.fail_count) as u64,
                failures: agg.fail_count as u64,
                p50_ms: percentile(data, 0.50),
                p90_ms: percentile(data, 0.90),
                p99_ms: percentile(data, 0.99),
                max_ms: data.maximum_time as u64,
                mean_ms: data.total_time as f64 / data.counter.max(1) as f64,
                status_codes: agg
                    .status_code_counts
                    .iter()
                    .map(|(code, n)| (*code, *n as u64))
                    .collect(),
            }
        })
        .collect();
    routes.sort_by(|a, b| {
        (a.service.as_str(), route_path(&a.route), &a.route).cmp(&(
            b.service.as_str(),
            route_path(&b.route),
            &b.route,
        ))
    });
    let mut failure_reasons: Vec<Failure> = shared
        .failures
        .lock()
        .map(|f| {
            f.iter()
                .map(|((route, reason), (count, example))| Failure {
                    route: route.clone(),
                    reason: reason.clone(),
                    count: *count,
                    example: example.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    failure_reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.route.cmp(&b.route)));
    Report {
        url: config.url.clone(),
        users: config.users,
        ramp_up_secs: config.ramp_up.as_secs_f64(),
        duration_secs: config.duration.as_secs_f64(),
        elapsed_secs: elapsed.as_secs_f64(),
        seed: config.seed,
        run_id: shared.run_id.clone(),
        spread_sources: shared.spread,
        requests: routes.iter().map(|r| r.requests).sum(),
        failures: routes.iter().map(|r| r.failures).sum(),
        routes,
        failure_reasons,
    }
}

fn route_path(route: &str) -> &str {
    route.split_once(' ').map_or(route, |(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_services() {
        assert_eq!(service_of("POST /api/v1/users"), "users");
        assert_eq!(service_of("POST /api/v1/auth/token"), "users");
        assert_eq!(service_of("GET /api/v1/users/{username}/posts"), "posts");
        assert_eq!(service_of("GET /api/v1/users/{username}/likes"), "votes");
        assert_eq!(service_of("PUT /api/v1/posts/{id}/vote"), "votes");
        assert_eq!(service_of("GET /api/v1/posts/{id}/votes"), "votes");
        assert_eq!(service_of("GET /api/v1/posts/{id}/replies"), "posts");
        assert_eq!(service_of("POST /api/v1/polls/{id}/votes"), "votes");
        assert_eq!(service_of("GET /api/v1/messages/{id}"), "messages");
        assert_eq!(service_of("GET /api/v1/notifications"), "notifications");
        assert_eq!(service_of("GET /api/v1/tags/{tag}/posts"), "posts");
        assert_eq!(service_of("GET /api/v1/search"), "posts");
        assert_eq!(service_of("POST /api/v1/users/{username}/block"), "users");
        assert_eq!(service_of("GET /api/v1/nowhere"), "other");
    }

    #[test]
    fn percentiles_walk_the_histogram() {
        let data = GooseRequestMetricTimingData {
            times: (1..=100).map(|ms| (ms, 1)).collect(),
            minimum_time: 1,
            maximum_time: 100,
            total_time: 5050,
            counter: 100,
        };
        assert_eq!(percentile(&data, 0.5), 50);
        assert_eq!(percentile(&data, 0.99), 99);
        assert_eq!(percentile(&data, 1.0), 100);
    }
}
