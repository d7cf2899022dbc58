//! `rookery lambda <service>`: one service as an AWS Lambda function, for
//! API Gateway REST APIs (v1 events), HTTP APIs (v2) and function URLs.
//!
//! The function is the service's own router behind the gateway's request
//! handling (the same credential check through the users service, scopes,
//! rate limits, body limits and JSON errors), since no gateway stands in
//! front of it. Three rules come from Lambda's execution model:
//! - Nothing runs between invocations (the sandbox is frozen), so no relay
//!   runs in the background: a request that changed something publishes
//!   its outbox to the bus before its response is returned. Events it could
//!   not publish (the bus away) stay in the outbox for the events function.
//! - The events function (`--events`, on a schedule and, for messages on
//!   DynamoDB, on the table's stream) publishes what is left in the outbox
//!   and applies the bus's events to the service, then returns.
//! - Functions call each other's `/internal/` routes over their function
//!   URLs, which are reachable from outside: those routes answer only calls
//!   that carry a service token signed with the shared secret.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::Method;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use rookery_gateway::{Gateway, GatewayOptions, IdentityCacheConfig, Upstream};
use rookery_kernel::ApiError;
use rookery_kernel::events::nats::{JetStreamBus, JetStreamConfig};
use rookery_kernel::events::{EventBus, OutboxSource, relay_once};
use rookery_kernel::identity::{SERVICE_HEADER, ServiceKeys};
use rookery_kernel::secret::Secret;
use tower::ServiceExt;

use crate::app::{self, App};

/// The services that run as functions (the web client and the Mastodon API
/// need long-lived connections and in-process calls; they do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LambdaService {
    Users,
    Posts,
    Votes,
    Messages,
    Notifications,
}

impl LambdaService {
    pub fn as_str(self) -> &'static str {
        match self {
            LambdaService::Users => "users",
            LambdaService::Posts => "posts",
            LambdaService::Votes => "votes",
            LambdaService::Messages => "messages",
            LambdaService::Notifications => "notifications",
        }
    }
}

/// Which function: the service's HTTP API, or its events (outbox and bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LambdaRole {
    Http,
    Events,
}

/// What a function is built from; [`FunctionConfig::from_env`] in production.
pub struct FunctionConfig {
    pub service: LambdaService,
    /// `DATABASE_URL`: PostgreSQL (or SQLite for tests), DynamoDB for messages.
    pub database_url: String,
    /// `POLLS_DATABASE_URL` (votes only): polls in DynamoDB.
    pub polls_url: Option<String>,
    pub secret: Secret,
    /// `ROOKERY_USERS_URL`: the users function (its function URL); unused by
    /// the users function itself.
    pub users: Vec<String>,
    /// `ROOKERY_POSTS_URL`: the posts function (votes and notifications ask it).
    pub posts: Vec<String>,
    /// The bus (NATS JetStream from `NATS_URL` in production). Without one
    /// the service keeps to itself as a standalone instance does (posts
    /// relays its own events in process): for tests.
    pub bus: Option<Arc<dyn EventBus>>,
    /// Set with a JetStream bus: where the events function reads how far its
    /// consumer is.
    pub jetstream: Option<Arc<JetStreamBus>>,
}

fn urls(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(String::from)
        .collect()
}

impl FunctionConfig {
    pub async fn from_env(service: LambdaService) -> anyhow::Result<Self> {
        let database_url = std::env::var("DATABASE_URL")
            .context("a function needs DATABASE_URL (postgres://... or dynamodb://...)")?;
        let secret = Secret::from_env()?
            .context("a function needs ROOKERY_SECRET, the same for every function")?;
        // Functions exchange events only through the bus.
        let config = JetStreamConfig::from_env()
            .context("a function needs NATS_URL (NATS JetStream, the event bus)")?;
        let bus = Arc::new(
            JetStreamBus::connect(config)
                .await
                .context("connecting to NATS JetStream (NATS_URL)")?,
        );
        let (bus, jetstream) = (Some(bus.clone() as Arc<dyn EventBus>), Some(bus));
        let needs = |var: &str, list: Vec<String>| {
            if list.is_empty() {
                anyhow::bail!("the {} function needs {var}", service.as_str());
            }
            Ok(list)
        };
        let users = match service {
            LambdaService::Users => Vec::new(),
            _ => needs("ROOKERY_USERS_URL", urls("ROOKERY_USERS_URL"))?,
        };
        let posts = match service {
            LambdaService::Votes | LambdaService::Notifications => {
                needs("ROOKERY_POSTS_URL", urls("ROOKERY_POSTS_URL"))?
            }
            _ => urls("ROOKERY_POSTS_URL"),
        };
        Ok(Self {
            service,
            database_url,
            polls_url: std::env::var("POLLS_DATABASE_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            secret,
            users,
            posts,
            bus,
            jetstream,
        })
    }
}

/// The function's bus as its service sees it: consumers subscribe as
/// usual, but no background relay runs; [`Function::handle`] and
/// [`Function::sweep`] publish the outbox themselves, while an invocation
/// is still running.
struct PublishedByInvocations(Arc<dyn EventBus>);

#[async_trait::async_trait]
impl EventBus for PublishedByInvocations {
    async fn publish(&self, events: &[rookery_kernel::events::Event]) -> anyhow::Result<()> {
        self.0.publish(events).await
    }

    async fn subscribe(
        &self,
        consumer: &str,
        topics: &[&str],
    ) -> anyhow::Result<rookery_kernel::events::Subscription> {
        self.0.subscribe(consumer, topics).await
    }

    fn background_relay(&self) -> bool {
        false
    }
}

/// A built function: its handler and what its runtime rules need.
pub struct Function {
    service: LambdaService,
    /// The gateway's handling in front of the service router.
    public: Router,
    /// The service router itself, for `/internal/` calls of other functions.
    internal: Router,
    service_keys: ServiceKeys,
    outboxes: Vec<Arc<dyn OutboxSource>>,
    bus: Option<Arc<dyn EventBus>>,
    jetstream: Option<Arc<JetStreamBus>>,
    /// Held for [`Function::close`] (its closers are `Send`, not `Sync`).
    app: std::sync::Mutex<Option<App>>,
}

/// Longest a request waits for its events to be published before answering
/// anyway (they stay in the outbox for the events function).
const PUBLISH_BUDGET: Duration = Duration::from_secs(3);
/// Events published per relay round.
const RELAY_BATCH: i64 = 256;

impl Function {
    pub async fn build(config: FunctionConfig) -> anyhow::Result<Self> {
        let FunctionConfig {
            service,
            database_url,
            polls_url,
            secret,
            users,
            posts,
            bus,
            jetstream,
        } = config;
        // Calls to other functions carry a service token.
        rookery_gateway::upstream::sign_calls(ServiceKeys::new(&secret));
        let url = database_url.as_str();
        let service_bus = bus
            .clone()
            .map(|bus| Arc::new(PublishedByInvocations(bus)) as Arc<dyn EventBus>);
        let bus_for = || service_bus.clone();
        let app = match service {
            LambdaService::Users => app::users_instance_on(url, &secret, bus_for()).await?,
            LambdaService::Posts => app::posts_instance_on(url, &secret, &users, bus_for()).await?,
            LambdaService::Votes => {
                app::votes_instance_on(
                    url,
                    polls_url.as_deref(),
                    &secret,
                    &posts,
                    &users,
                    bus_for(),
                )
                .await?
            }
            LambdaService::Messages => {
                app::messages_instance_on(url, &secret, &users, bus_for()).await?
            }
            LambdaService::Notifications => {
                app::notifications_instance_on(url, &secret, &users, &posts, bus_for()).await?
            }
        };
        let internal = app.router.clone();
        let mut upstreams = std::collections::HashMap::from([(
            service.as_str().to_string(),
            Upstream::InProcess(internal.clone()),
        )]);
        // Rate limits shared through Redis when REDIS_URL is set (every
        // function instance counts against the same buckets); no admin routes.
        let mut options = GatewayOptions {
            admin_token: None,
            ..app::gateway_options_from_env().await?
        };
        if service == LambdaService::Users {
            // Credentials are checked in this very process: nothing to keep.
            options.identity_cache = IdentityCacheConfig {
                ttl: Duration::ZERO,
                ..options.identity_cache
            };
        } else {
            let pool = rookery_gateway::HttpPool::new("users", &users)?;
            upstreams.insert("users".into(), Upstream::Http(pool));
        }
        // Requests for the other services' routes are not this function's.
        let gateway = Gateway::new(upstreams, None, options)?;
        let public = rookery_gateway::router(gateway, crate::openapi::document());
        Ok(Self {
            service,
            public,
            internal,
            service_keys: ServiceKeys::new(&secret),
            outboxes: app.outboxes.clone(),
            bus,
            jetstream,
            app: std::sync::Mutex::new(Some(app)),
        })
    }

    /// Answers one HTTP request of any of the three event formats.
    pub async fn handle(&self, req: lambda_http::Request) -> Response {
        let source_ip = source_ip(&req);
        let stage = stage_of(&req);
        let (mut parts, body) = req.into_parts();
        if let Some(stage) = stage
            && let Some(uri) = without_stage(&parts.uri, &stage)
        {
            parts.uri = uri;
        }
        if let Some(ip) = source_ip {
            // Where the gateway's per-IP rate limits look.
            parts.extensions.insert(ConnectInfo(SocketAddr::new(ip, 0)));
        }
        let changes = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        let internal = parts.uri.path().starts_with("/internal/");
        let signed = parts
            .headers
            .get(SERVICE_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| self.service_keys.verify(t));
        parts.headers.remove(SERVICE_HEADER);
        let req = http::Request::from_parts(parts, Body::from(body.to_vec()));
        let response = match (internal, signed) {
            (true, true) => self.internal.clone().oneshot(req).await,
            // As the gateway answers for routes it does not expose.
            (true, false) => Ok(ApiError::not_found("no such route").into_response()),
            (false, _) => self.public.clone().oneshot(req).await,
        }
        .unwrap_or_else(|never| match never {});
        if changes {
            self.publish_outbox(PUBLISH_BUDGET).await;
        }
        response
    }

    /// Publishes the outboxes until they are empty or `budget` has passed;
    /// how many events went out.
    pub async fn publish_outbox(&self, budget: Duration) -> usize {
        let Some(bus) = &self.bus else {
            return 0;
        };
        let started = Instant::now();
        let mut published = 0;
        for outbox in &self.outboxes {
            while started.elapsed() < budget {
                match relay_once(outbox.as_ref(), bus.as_ref(), RELAY_BATCH).await {
                    Ok(n) => {
                        published += n;
                        if (n as i64) < RELAY_BATCH {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "publishing the outbox failed; the events function will");
                        return published;
                    }
                }
            }
        }
        published
    }

    /// One invocation of the events function: the outbox published, then
    /// the bus's events for this service applied (its consumer runs while
    /// the invocation does) until none is pending or `budget` has passed.
    pub async fn sweep(&self, budget: Duration) -> serde_json::Value {
        let started = Instant::now();
        let published = self.publish_outbox(budget).await;
        let mut pending = None;
        if let Some(jetstream) = &self.jetstream {
            loop {
                match jetstream.consumer_state(self.service.as_str()).await {
                    Ok(state) => {
                        let left = state.pending + state.ack_pending;
                        pending = Some(left);
                        if left == 0 {
                            break;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "reading the consumer's state failed");
                        break;
                    }
                }
                if started.elapsed() >= budget {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // What arrived meanwhile may have written events of its own.
        let published = published + self.publish_outbox(Duration::from_secs(1)).await;
        serde_json::json!({
            "service": self.service.as_str(),
            "published": published,
            "pending": pending,
        })
    }

    /// Stops background work and closes the databases (tests; a real
    /// function is simply frozen and eventually dropped).
    pub async fn close(self) {
        let app = self.app.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(app) = app {
            app.close().await;
        }
    }
}

/// The client's address as API Gateway saw it.
fn source_ip(req: &lambda_http::Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.clone(),
        _ => None,
    }?;
    ip.parse().ok()
}

/// The stage `lambda_http` put in front of the path (it adds a named
/// stage unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set).
fn stage_of(req: &lambda_http::Request) -> Option<String> {
    if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() {
        return None;
    }
    let stage = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.stage.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.stage.clone(),
        _ => None,
    }?;
    (stage != "$default" && !stage.is_empty()).then_some(stage)
}

/// `uri` without its leading `/<stage>` (the routes know no stages).
fn without_stage(uri: &http::Uri, stage: &str) -> Option<http::Uri> {
    let path = uri.path();
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let rest = if rest.is_empty() { "/" } else { rest };
    let path_and_query = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    http::Uri::from_parts(parts).ok()
}

/// Runs the function until the Lambda runtime stops it.
pub async fn run(service: LambdaService, role: LambdaRole) -> anyhow::Result<()> {
    let function = Arc::new(Function::build(FunctionConfig::from_env(service).await?).await?);
    tracing::info!(service = service.as_str(), ?role, "Lambda function ready");
    let result = if role == LambdaRole::Events {
        let budget = Duration::from_secs(
            std::env::var("ROOKERY_LAMBDA_EVENTS_SECONDS")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(10),
        );
        lambda_http::lambda_runtime::run(lambda_http::service_fn(
            move |_event: lambda_http::lambda_runtime::LambdaEvent<serde_json::Value>| {
                let function = function.clone();
                async move { Ok::<_, lambda_http::Error>(function.sweep(budget).await) }
            },
        ))
        .await
    } else {
        lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
            let function = function.clone();
            async move { Ok::<_, lambda_http::Error>(function.handle(req).await) }
        }))
        .await
    };
    result.map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
}
