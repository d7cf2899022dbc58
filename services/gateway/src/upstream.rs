//! Where the gateway sends a request: an in-process service router (embedded
//! mode) or a pool of HTTP instances.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use rookery_kernel::ApiError;
use rookery_kernel::identity::{SERVICE_HEADER, ServiceKeys};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Set by [`sign_calls`]: every request to an instance carries a service token.
static CALL_SIGNER: OnceLock<ServiceKeys> = OnceLock::new();

/// From now on, every request sent to HTTP instances carries a token of
/// `keys` in `x-rookery-service`: where the services' internal routes are
/// reachable from outside (Lambda function URLs), they answer only calls
/// that carry one. A second call changes nothing.
pub fn sign_calls(keys: ServiceKeys) {
    let _ = CALL_SIGNER.set(keys);
}

/// Registered instances per service beyond which registrations are refused.
pub const MAX_REGISTERED: usize = 1024;

/// Consecutive 5xx answers after which an instance is ejected until its probe passes.
const EJECT_AFTER_5XX: u32 = 5;

/// Instances one request may be sent to before the gateway gives up.
const MAX_ATTEMPTS: usize = 4;

fn env_or<T: std::str::FromStr>(var: &str, default: T) -> T {
    std::env::var(var)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// How soon an instance found down is probed again (at most the health interval).
pub const RECHECK_UNHEALTHY: Duration = Duration::from_millis(500);

/// How a pool treats its instances (`ROOKERY_UPSTREAM_*`, see docs/operations.md).
#[derive(Clone, Copy, Debug)]
pub struct PoolConfig {
    /// Per attempt, until the response head arrives; then 504.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Requests in flight per instance beyond which new ones get 503.
    pub max_in_flight: usize,
    /// Active `/healthz` probes, heartbeat expiry checks and DNS re-resolution.
    pub health_interval: Duration,
    /// A registered instance without a heartbeat for this long is removed.
    pub heartbeat_ttl: Duration,
    pub dns_interval: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            max_in_flight: 1024,
            health_interval: Duration::from_secs(2),
            heartbeat_ttl: Duration::from_secs(6),
            dns_interval: Duration::from_secs(5),
        }
    }
}

impl PoolConfig {
    pub fn from_env() -> Self {
        let d = Self::default();
        let ms = |var, default: Duration| {
            Duration::from_millis(env_or(var, default.as_millis() as u64).max(1))
        };
        Self {
            timeout: ms("ROOKERY_UPSTREAM_TIMEOUT_MS", d.timeout),
            connect_timeout: ms("ROOKERY_UPSTREAM_CONNECT_TIMEOUT_MS", d.connect_timeout),
            max_in_flight: env_or("ROOKERY_UPSTREAM_MAX_IN_FLIGHT", d.max_in_flight).max(1),
            health_interval: ms("ROOKERY_HEALTH_INTERVAL_MS", d.health_interval),
            heartbeat_ttl: ms("ROOKERY_HEARTBEAT_TTL_MS", d.heartbeat_ttl),
            dns_interval: ms("ROOKERY_DNS_INTERVAL_MS", d.dns_interval),
        }
    }
}

#[derive(Clone)]
pub enum Upstream {
    /// The service runs in this process: requests are handed to its router.
    InProcess(Router),
    /// Instances reached over HTTP.
    Http(Arc<HttpPool>),
}

impl Upstream {
    /// Sends a request whose body is already buffered (so it can be retried).
    pub async fn send(&self, req: Request<Bytes>) -> Result<Response<Body>, ApiError> {
        match self {
            Upstream::InProcess(router) => {
                let req = req.map(Body::from);
                Ok(router
                    .clone()
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|never| match never {}))
            }
            Upstream::Http(pool) => pool.send(req).await,
        }
    }

    /// False only for a pool that knows instances and none of them is healthy.
    pub fn ready(&self) -> bool {
        match self {
            Upstream::InProcess(_) => true,
            Upstream::Http(pool) => {
                let instances = pool.instances();
                instances.is_empty() || instances.iter().any(|i| i.is_healthy())
            }
        }
    }
}

/// How the pool learned of an instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `--upstream` with an IP address.
    Static,
    /// One address of an `--upstream` host name, re-resolved periodically.
    Dns,
    /// `POST /admin/instances`, kept alive by heartbeats.
    Registered,
    /// Listed by a gateway's registry, which a service instance follows for
    /// its peers ([`crate::discovery::RegistryFollower`]).
    Discovered,
    /// An https URL or one with a path (a Lambda function URL, a load
    /// balancer): balanced behind it, so never probed nor ejected here.
    Endpoint,
}

pub struct Instance {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    pub origin: Origin,
    /// For `Dns` instances: the `--upstream` entry they came from.
    dns_name: Option<String>,
    healthy: AtomicBool,
    in_flight: AtomicUsize,
    consecutive_5xx: AtomicU32,
    /// Milliseconds since the pool started.
    last_heartbeat_ms: AtomicU64,
}

impl Instance {
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn eject(&self, service: &str, why: &str) {
        if self.origin == Origin::Endpoint {
            return;
        }
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(service, instance = %self.base, why, "instance ejected");
        }
    }
}

/// Counts a request against its instance until dropped (also on cancellation).
struct InFlight(Arc<Instance>);

impl InFlight {
    /// None when the instance already has `max` requests in flight.
    fn acquire(instance: &Arc<Instance>, max: usize) -> Option<Self> {
        let before = instance.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = Self(instance.clone());
        (before < max).then_some(guard)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One instance as `GET /admin/instances` shows it.
#[derive(Serialize)]
pub struct InstanceView {
    pub service: String,
    pub url: String,
    pub healthy: bool,
    pub in_flight: usize,
    pub origin: Origin,
    /// Seconds since the last heartbeat (registered instances only).
    pub last_heartbeat_secs_ago: Option<f64>,
}

/// Instances of one service. Picks by power of two choices on in-flight
/// requests among healthy instances below the in-flight limit; connect errors
/// and bursts of 5xx eject an instance and `/healthz` probes readmit it;
/// requests never sent move on to other instances, and idempotent requests
/// left unanswered are retried once elsewhere.
pub struct HttpPool {
    pub service: String,
    config: PoolConfig,
    /// Replaced wholesale on membership changes so the hot path only clones an `Arc`.
    instances: RwLock<Arc<Vec<Arc<Instance>>>>,
    /// `--upstream` entries given as host names: `(authority, host, port)`.
    dns: Vec<(String, String, u16)>,
    started: Instant,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// `http://host:port` (no path) of `url`, or an error naming it.
pub fn base_of(url: &str) -> anyhow::Result<(String, String, u16)> {
    let uri: Uri = url.trim().trim_end_matches('/').parse()?;
    let authority = uri.authority().cloned();
    match (uri.scheme_str(), authority, uri.path()) {
        (Some("http"), Some(a), "" | "/") => {
            let port = a.port_u16().unwrap_or(80);
            let host = a.host().trim_start_matches('[').trim_end_matches(']');
            Ok((format!("http://{a}"), host.to_string(), port))
        }
        _ => anyhow::bail!("upstream {url} must be http://host:port"),
    }
}

/// An `https://` URL, or one with a path: a managed endpoint (a Lambda
/// function URL, a load balancer) rather than one instance. Its base is the
/// URL without a trailing slash.
fn endpoint_of(url: &str) -> Option<String> {
    let uri: Uri = url.trim().trim_end_matches('/').parse().ok()?;
    uri.authority()?;
    let https = uri.scheme_str() == Some("https");
    let path = !matches!(uri.path(), "" | "/");
    (uri.query().is_none() && matches!(uri.scheme_str(), Some("http" | "https")) && (https || path))
        .then(|| url.trim().trim_end_matches('/').to_string())
}

impl HttpPool {
    pub fn new(service: &str, bases: &[String]) -> anyhow::Result<Arc<Self>> {
        Self::with_config(service, bases, PoolConfig::from_env())
    }

    /// A pool of `bases` (possibly none: instances may register later).
    pub fn with_config(
        service: &str,
        bases: &[String],
        config: PoolConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let mut instances = Vec::new();
        let mut dns = Vec::new();
        for b in bases {
            if let Some(base) = endpoint_of(b) {
                instances.push(Arc::new(Instance::new(base, Origin::Endpoint, None, 0)));
                continue;
            }
            let (base, host, port) = base_of(b)?;
            if host.parse::<IpAddr>().is_ok() {
                instances.push(Arc::new(Instance::new(base, Origin::Static, None, 0)));
            } else {
                dns.push((base, host, port));
            }
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        // Plain HTTP passes through untouched; TLS only for https endpoints.
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            // rustls's one crypto provider in this build: ring.
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Arc::new(Self {
            service: service.to_string(),
            config,
            instances: RwLock::new(Arc::new(instances)),
            dns,
            started: Instant::now(),
            client,
        }))
    }

    pub fn instances(&self) -> Arc<Vec<Arc<Instance>>> {
        self.instances
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn update(&self, change: impl FnOnce(&mut Vec<Arc<Instance>>)) {
        let mut guard = self.instances.write().unwrap_or_else(|e| e.into_inner());
        let mut next = guard.as_ref().clone();
        change(&mut next);
        *guard = Arc::new(next);
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Registers `url` or renews its heartbeat; true when it is new.
    pub fn register(&self, url: &str) -> anyhow::Result<bool> {
        let (base, _, _) = base_of(url)?;
        let now = self.now_ms();
        if let Some(known) = self.instances().iter().find(|i| i.base == base) {
            known.last_heartbeat_ms.store(now, Ordering::Relaxed);
            return Ok(false);
        }
        let mut added = false;
        let mut full = false;
        self.update(|instances| {
            let registered = instances
                .iter()
                .filter(|i| i.origin == Origin::Registered)
                .count();
            full = registered >= MAX_REGISTERED;
            // Checked again under the write lock: two first heartbeats may race.
            if !full && !instances.iter().any(|i| i.base == base) {
                instances.push(Arc::new(Instance::new(
                    base.clone(),
                    Origin::Registered,
                    None,
                    now,
                )));
                added = true;
            }
        });
        anyhow::ensure!(
            !full,
            "{} already has {MAX_REGISTERED} registered instances",
            self.service
        );
        if added {
            tracing::info!(service = %self.service, instance = %base, "instance registered");
        }
        Ok(added)
    }

    /// Removes a registered instance; true when it was there.
    pub fn deregister(&self, url: &str) -> anyhow::Result<bool> {
        let (base, _, _) = base_of(url)?;
        let mut removed = false;
        self.update(|instances| {
            let before = instances.len();
            instances.retain(|i| !(i.base == base && i.origin == Origin::Registered));
            removed = instances.len() != before;
        });
        if removed {
            tracing::info!(service = %self.service, instance = %base, "instance deregistered");
        }
        Ok(removed)
    }

    /// Takes in what a registry lists now, `(url, healthy)`: listed
    /// instances join (with the registry's view of their health until this
    /// pool's own probe) or have their listing renewed; discovered ones
    /// no longer listed leave once unlisted for the heartbeat TTL, so a
    /// gateway that restarted and lists nothing yet empties no pool.
    /// Instances of other origins stay as they are.
    pub fn adopt(&self, listed: &[(String, bool)]) {
        let now = self.now_ms();
        let current = self.instances();
        let mut new = Vec::new();
        for (url, healthy) in listed {
            let Ok((base, _, _)) = base_of(url) else {
                // An https or path URL (a load balancer, a function URL)
                // is balanced behind itself: give it as a URL list instead.
                tracing::debug!(service = %self.service, url, "a listed endpoint is not followed");
                continue;
            };
            match current.iter().find(|i| i.base == base) {
                Some(known) => known.last_heartbeat_ms.store(now, Ordering::Relaxed),
                None if !new.iter().any(|(b, _)| b == &base) => new.push((base, *healthy)),
                None => {}
            }
        }
        if new.is_empty() {
            return;
        }
        self.update(|instances| {
            for (base, healthy) in new {
                if instances.iter().any(|i| i.base == base) {
                    continue;
                }
                tracing::info!(service = %self.service, instance = %base, "instance discovered");
                let instance = Instance::new(base, Origin::Discovered, None, now);
                instance.healthy.store(healthy, Ordering::Relaxed);
                instances.push(Arc::new(instance));
            }
        });
    }

    pub fn views(&self) -> Vec<InstanceView> {
        let now = self.now_ms();
        self.instances()
            .iter()
            .map(|i| InstanceView {
                service: self.service.clone(),
                url: i.base.clone(),
                healthy: i.is_healthy(),
                in_flight: i.in_flight(),
                origin: i.origin.clone(),
                last_heartbeat_secs_ago: matches!(
                    i.origin,
                    Origin::Registered | Origin::Discovered
                )
                .then(|| {
                    now.saturating_sub(i.last_heartbeat_ms.load(Ordering::Relaxed)) as f64 / 1000.0
                }),
            })
            .collect()
    }

    /// Power of two choices among healthy instances not yet `tried`,
    /// counted in flight; Err when none is healthy or all are at the limit.
    fn pick(&self, tried: &[Arc<Instance>]) -> Result<InFlight, ApiError> {
        let instances = self.instances();
        let candidates: Vec<&Arc<Instance>> = instances
            .iter()
            .filter(|i| i.is_healthy() && !tried.iter().any(|t| Arc::ptr_eq(t, i)))
            .collect();
        let chosen = match candidates.len() {
            0 => {
                return Err(ApiError::unavailable(format!(
                    "no healthy {} instance",
                    self.service
                )));
            }
            1 => candidates[0],
            n => {
                // Two distinct random candidates, without allocating.
                let mut rng = rand::rng();
                let i = rng.random_range(0..n);
                let j = (i + rng.random_range(1..n)) % n;
                let (a, b) = (candidates[i], candidates[j]);
                if b.in_flight() < a.in_flight() { b } else { a }
            }
        };
        InFlight::acquire(chosen, self.config.max_in_flight)
            .or_else(|| {
                // The pick is at its limit: any instance with room will do.
                candidates
                    .iter()
                    .find_map(|i| InFlight::acquire(i, self.config.max_in_flight))
            })
            .ok_or_else(|| {
                ApiError::unavailable(format!("{} is overloaded; try again", self.service))
            })
    }

    async fn send(&self, req: Request<Bytes>) -> Result<Response<Body>, ApiError> {
        let retryable = match *req.method() {
            http::Method::GET | http::Method::HEAD | http::Method::PUT | http::Method::DELETE => {
                true
            }
            http::Method::POST => req.headers().contains_key("idempotency-key"),
            _ => false,
        };
        // Unsent requests (connect refused: a dead instance not yet ejected)
        // move on to every other instance; unanswered idempotent ones get one
        // more try, so a burst of timeouts cannot multiply the load.
        let mut tried: Vec<Arc<Instance>> = Vec::new();
        let mut unanswered_retries = 0;
        loop {
            let slot = self.pick(&tried)?;
            let err = match self.send_to(&slot, &req).await {
                Ok(resp) => return Ok(resp),
                Err(err) => err,
            };
            let again = match err.failure {
                Failure::Unsent => tried.len() < MAX_ATTEMPTS - 1,
                Failure::Unanswered if retryable && unanswered_retries == 0 => {
                    unanswered_retries += 1;
                    true
                }
                _ => false,
            };
            tried.push(slot.0.clone());
            drop(slot);
            if !again || !self.has_untried(&tried) {
                return Err(err.api);
            }
        }
    }

    /// Whether a healthy instance remains outside `tried`.
    fn has_untried(&self, tried: &[Arc<Instance>]) -> bool {
        self.instances()
            .iter()
            .any(|i| i.is_healthy() && !tried.iter().any(|t| Arc::ptr_eq(t, i)))
    }

    async fn send_to(
        &self,
        slot: &InFlight,
        req: &Request<Bytes>,
    ) -> Result<Response<Body>, SendError> {
        let instance = &slot.0;
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let out = format!("{}{}", instance.base, path)
            .parse::<Uri>()
            .map_err(SendError::internal)
            .and_then(|uri| {
                let mut out = Request::builder().method(req.method()).uri(uri);
                if let Some(headers) = out.headers_mut() {
                    *headers = req.headers().clone();
                    // An endpoint is named by its host (TLS, virtual hosts).
                    if instance.origin == Origin::Endpoint {
                        headers.remove(http::header::HOST);
                    }
                    if let Some(token) = CALL_SIGNER.get().map(ServiceKeys::token)
                        && let Ok(value) = http::HeaderValue::from_str(&token)
                    {
                        headers.insert(SERVICE_HEADER, value);
                    }
                }
                out.body(Full::new(req.body().clone()))
                    .map_err(SendError::internal)
            })?;
        match tokio::time::timeout(self.config.timeout, self.client.request(out)).await {
            Ok(Ok(resp)) => {
                if resp.status().is_server_error()
                    && resp.status() != StatusCode::SERVICE_UNAVAILABLE
                {
                    let burst = instance.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1;
                    if burst >= EJECT_AFTER_5XX {
                        instance.eject(&self.service, "a burst of 5xx answers");
                    }
                } else {
                    instance.consecutive_5xx.store(0, Ordering::Relaxed);
                }
                Ok(resp.map(Body::new))
            }
            Ok(Err(err)) => {
                let connect = err.is_connect();
                if connect {
                    instance.eject(&self.service, "connect error");
                }
                // A broken connection (instance killed mid-request, a pooled
                // connection it closed) is unanswered, not unsent.
                Err(SendError {
                    failure: if connect {
                        Failure::Unsent
                    } else {
                        Failure::Unanswered
                    },
                    api: ApiError::unavailable(format!("{} is unavailable", self.service)),
                })
            }
            Err(_) => Err(SendError {
                failure: Failure::Unanswered,
                api: ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    format!("{} did not answer in time", self.service),
                ),
            }),
        }
    }

    /// Until `shutdown`: probes every instance's `/healthz` (each health
    /// interval, or every [`RECHECK_UNHEALTHY`] while one is down), removes
    /// registered instances whose heartbeats stopped and re-resolves host names.
    pub async fn run_health_checks(self: Arc<Self>, shutdown: CancellationToken) {
        let mut last_dns: Option<Instant> = None;
        loop {
            if !self.dns.is_empty()
                && last_dns.is_none_or(|t| t.elapsed() >= self.config.dns_interval)
            {
                self.resolve().await;
                last_dns = Some(Instant::now());
            }
            self.expire_heartbeats();
            let instances = self.instances();
            let probed = instances.iter().filter(|i| i.origin != Origin::Endpoint);
            futures::future::join_all(probed.map(|i| self.probe(i))).await;
            // An instance found down is asked again sooner: one that was
            // only starting (a formation starting together) is back in
            // rotation within half a second, not a whole interval.
            let pause = if instances.iter().any(|i| !i.is_healthy()) {
                self.config.health_interval.min(RECHECK_UNHEALTHY)
            } else {
                self.config.health_interval
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn probe(&self, instance: &Instance) {
        let ok = match format!("{}/healthz", instance.base).parse::<Uri>() {
            Ok(uri) => match Request::get(uri).body(Full::new(Bytes::new())) {
                Ok(req) => matches!(
                    tokio::time::timeout(self.config.connect_timeout, self.client.request(req)).await,
                    Ok(Ok(r)) if r.status().is_success()
                ),
                Err(_) => false,
            },
            Err(_) => false,
        };
        if ok {
            instance.consecutive_5xx.store(0, Ordering::Relaxed);
        }
        if instance.healthy.swap(ok, Ordering::Relaxed) != ok {
            tracing::info!(service = %self.service, instance = %instance.base, healthy = ok, "instance health changed");
        }
    }

    fn expire_heartbeats(&self) {
        let deadline = self
            .now_ms()
            .saturating_sub(self.config.heartbeat_ttl.as_millis() as u64);
        // Registered instances renew by heartbeats, discovered ones by
        // being listed again.
        let stale = |i: &Arc<Instance>| {
            matches!(i.origin, Origin::Registered | Origin::Discovered)
                && i.last_heartbeat_ms.load(Ordering::Relaxed) < deadline
        };
        if self.instances().iter().any(stale) {
            self.update(|instances| {
                instances.retain(|i| {
                    let keep = !stale(i);
                    if !keep {
                        tracing::warn!(service = %self.service, instance = %i.base, "heartbeats missed; instance removed");
                    }
                    keep
                })
            });
        }
    }

    /// Every A/AAAA record of each host name becomes an instance; addresses
    /// that went away are dropped. A failed lookup keeps the last answer.
    async fn resolve(&self) {
        for (name, host, port) in &self.dns {
            let addrs: Vec<String> = match tokio::net::lookup_host((host.as_str(), *port)).await {
                Ok(addrs) => addrs.map(|a| format!("http://{a}")).collect(),
                Err(e) => {
                    tracing::warn!(service = %self.service, name, error = %e, "DNS lookup failed");
                    continue;
                }
            };
            self.update(|instances| {
                instances.retain(|i| i.dns_name.as_ref() != Some(name) || addrs.contains(&i.base));
                for addr in &addrs {
                    if !instances.iter().any(|i| &i.base == addr) {
                        instances.push(Arc::new(Instance::new(
                            addr.clone(),
                            Origin::Dns,
                            Some(name.clone()),
                            0,
                        )));
                    }
                }
            });
        }
    }
}

impl Instance {
    fn new(base: String, origin: Origin, dns_name: Option<String>, now_ms: u64) -> Self {
        Self {
            base,
            origin,
            dns_name,
            healthy: AtomicBool::new(true),
            in_flight: AtomicUsize::new(0),
            consecutive_5xx: AtomicU32::new(0),
            last_heartbeat_ms: AtomicU64::new(now_ms),
        }
    }
}

/// Why an attempt got no answer.
#[derive(Clone, Copy, PartialEq)]
enum Failure {
    /// No connection: the request never reached the instance, so any
    /// request may go to another one.
    Unsent,
    /// The connection broke, or no answer came in time: the instance may
    /// have acted, so only idempotent requests may go again.
    Unanswered,
    /// Not the instance's doing (a request that cannot be built).
    Local,
}

struct SendError {
    failure: Failure,
    api: ApiError,
}

impl SendError {
    fn internal(e: impl std::fmt::Display) -> Self {
        Self {
            failure: Failure::Local,
            api: ApiError::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_and_urls_with_paths_are_endpoints() {
        assert_eq!(
            endpoint_of("https://abc.lambda-url.eu-west-1.on.aws/").as_deref(),
            Some("https://abc.lambda-url.eu-west-1.on.aws")
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:9000/lambda-url/rookery/").as_deref(),
            Some("http://127.0.0.1:9000/lambda-url/rookery")
        );
        assert_eq!(endpoint_of("http://10.0.0.5:5001"), None);
        assert_eq!(endpoint_of("http://users:5001/"), None);
        assert_eq!(endpoint_of("https://lb.example/?x=1"), None);
        assert_eq!(endpoint_of("ftp://example.com/x"), None);
    }

    #[test]
    fn endpoints_are_kept_as_given_and_never_ejected() {
        let pool = HttpPool::with_config(
            "users",
            &["https://abc.lambda-url.eu-west-1.on.aws/".to_string()],
            PoolConfig::default(),
        )
        .unwrap();
        let instances = pool.instances();
        assert_eq!(instances.len(), 1);
        assert_eq!(instances[0].base, "https://abc.lambda-url.eu-west-1.on.aws");
        assert_eq!(instances[0].origin, Origin::Endpoint);
        instances[0].eject("users", "a test");
        assert!(instances[0].is_healthy());
    }
}
