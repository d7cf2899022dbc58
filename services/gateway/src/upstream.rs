//! Where the gateway sends a request: an in-process service router (embedded
//! mode) or a pool of HTTP instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rookery_kernel::ApiError;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long one upstream request may take before the client gets a 503.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
const HEALTH_INTERVAL: Duration = Duration::from_secs(2);

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

    pub fn healthy(&self) -> bool {
        match self {
            Upstream::InProcess(_) => true,
            Upstream::Http(pool) => pool
                .instances
                .iter()
                .any(|i| i.healthy.load(Ordering::Relaxed)),
        }
    }
}

pub struct Instance {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    pub healthy: AtomicBool,
    pub in_flight: AtomicUsize,
}

/// Instances of one service. Picks round robin among healthy instances; a
/// connect error marks the instance down and an idempotent request is retried
/// once on the next one; a background probe of `/healthz` readmits it.
pub struct HttpPool {
    pub service: String,
    pub instances: Vec<Instance>,
    next: AtomicUsize,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpPool {
    pub fn new(service: &str, bases: &[String]) -> anyhow::Result<Arc<Self>> {
        anyhow::ensure!(!bases.is_empty(), "no instances for {service}");
        let instances = bases
            .iter()
            .map(|b| {
                let base: Uri = b.trim_end_matches('/').parse()?;
                anyhow::ensure!(
                    base.scheme_str() == Some("http") && base.authority().is_some(),
                    "upstream {b} must be http://host:port"
                );
                Ok(Instance {
                    base: format!("http://{}", base.authority().expect("checked above")),
                    healthy: AtomicBool::new(true),
                    in_flight: AtomicUsize::new(0),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(2)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(256)
            .build(connector);
        Ok(Arc::new(Self {
            service: service.to_string(),
            instances,
            next: AtomicUsize::new(0),
            client,
        }))
    }

    fn pick(&self, exclude: Option<usize>) -> Option<usize> {
        let n = self.instances.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| Some(i) != exclude && self.instances[i].healthy.load(Ordering::Relaxed))
    }

    async fn send(&self, req: Request<Bytes>) -> Result<Response<Body>, ApiError> {
        let idempotent = matches!(
            *req.method(),
            http::Method::GET | http::Method::HEAD | http::Method::PUT | http::Method::DELETE
        );
        let first = self.pick(None).ok_or_else(|| {
            ApiError::unavailable(format!("no healthy {} instance", self.service))
        })?;
        match self.send_to(first, &req).await {
            Ok(resp) => Ok(resp),
            Err(err) if err.connect && idempotent => {
                let Some(second) = self.pick(Some(first)) else {
                    return Err(err.api);
                };
                self.send_to(second, &req).await.map_err(|e| e.api)
            }
            Err(err) => Err(err.api),
        }
    }

    async fn send_to(
        &self,
        index: usize,
        req: &Request<Bytes>,
    ) -> Result<Response<Body>, SendError> {
        let instance = &self.instances[index];
        let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let uri = format!("{}{}", instance.base, path)
            .parse::<Uri>()
            .map_err(|e| SendError {
                connect: false,
                api: ApiError::internal(e),
            })?;
        let mut out = Request::builder().method(req.method()).uri(uri);
        for (name, value) in req.headers() {
            out = out.header(name, value);
        }
        let out = out
            .body(Full::new(req.body().clone()))
            .map_err(|e| SendError {
                connect: false,
                api: ApiError::internal(e),
            })?;
        instance.in_flight.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(UPSTREAM_TIMEOUT, self.client.request(out)).await;
        instance.in_flight.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(Ok(resp)) => Ok(resp.map(Body::new)),
            Ok(Err(err)) => {
                let connect = err.is_connect();
                if connect {
                    instance.healthy.store(false, Ordering::Relaxed);
                    tracing::warn!(service = %self.service, instance = %instance.base, "instance unreachable; ejected");
                }
                Err(SendError {
                    connect,
                    api: ApiError::unavailable(format!("{} is unavailable", self.service)),
                })
            }
            Err(_) => Err(SendError {
                connect: false,
                api: ApiError::unavailable(format!("{} timed out", self.service)),
            }),
        }
    }

    /// Probes every instance's `/healthz` until `shutdown`.
    pub async fn run_health_checks(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            for instance in &self.instances {
                let uri = format!("{}/healthz", instance.base);
                let ok = match uri.parse::<Uri>() {
                    Ok(uri) => {
                        let req = Request::get(uri).body(Full::new(Bytes::new()));
                        match req {
                            Ok(req) => matches!(
                                tokio::time::timeout(Duration::from_secs(1), self.client.request(req)).await,
                                Ok(Ok(r)) if r.status().is_success()
                            ),
                            Err(_) => false,
                        }
                    }
                    Err(_) => false,
                };
                let was = instance.healthy.swap(ok, Ordering::Relaxed);
                if was != ok {
                    tracing::info!(service = %self.service, instance = %instance.base, healthy = ok, "instance health changed");
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(HEALTH_INTERVAL) => {}
            }
        }
    }
}

struct SendError {
    connect: bool,
    api: ApiError,
}
