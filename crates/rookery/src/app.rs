//! Wiring services together: the embedded process (`rookery serve`) and single
//! service instances (`rookery service`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use rookery_gateway::{Gateway, HttpPool, Upstream};
use rookery_kernel::db::sqlite_url_in;
use rookery_kernel::events::{EventBus, InProcessBus, run_relay};
use rookery_kernel::identity::IdentityKeys;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::secret::Secret;
use rookery_posts::store::CachedPostStore;
use rookery_posts::timeline::RedisTimelines;
use rookery_posts::{PostStore, PostsService, TimelineConfig};
use rookery_users::store::CachedUserStore;
use rookery_users::{AuthConfig, UserStore, UsersService};
use rookery_votes::store::PostFacts;
use rookery_votes::{PostDirectory, VotesService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

type Closer =
    Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

/// A running set of routers and their background tasks.
pub struct App {
    pub router: Router,
    pub bus: Arc<dyn EventBus>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    closers: Vec<Closer>,
}

impl App {
    /// Stops background work and closes databases.
    pub async fn close(self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        for close in self.closers {
            close().await;
        }
    }

    /// Serves until `stop` resolves; in-flight requests finish first.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let service = self
            .router
            .clone()
            .into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service)
            .with_graceful_shutdown(stop)
            .await
            .context("serving")?;
        self.close().await;
        Ok(())
    }
}

/// Everything in one process: the gateway in front of in-process services,
/// each with its own SQLite database under `data_dir`.
pub async fn embedded(data_dir: &Path) -> anyhow::Result<App> {
    let timelines = TimelineConfig::from_env();
    embedded_with(data_dir, timelines, redis_timelines(&timelines).await?).await
}

/// Home timelines in Redis when `REDIS_URL` is set (keys prefixed `ROOKERY_REDIS_PREFIX`, default `rookery:`).
pub async fn redis_timelines(config: &TimelineConfig) -> anyhow::Result<Option<RedisTimelines>> {
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let prefix =
                std::env::var("ROOKERY_REDIS_PREFIX").unwrap_or_else(|_| "rookery:".into());
            Ok(Some(
                RedisTimelines::connect(&url, &prefix, config.cap)
                    .await
                    .context("connecting to Redis (REDIS_URL)")?,
            ))
        }
        Err(_) => Ok(None),
    }
}

/// [`embedded`] with explicit home-timeline settings (tests use a low fan-out
/// threshold, or Redis under a prefix of their own).
pub async fn embedded_with(
    data_dir: &Path,
    timelines: TimelineConfig,
    redis: Option<RedisTimelines>,
) -> anyhow::Result<App> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let secret = Secret::load_or_create(data_dir)?;
    let ids = Arc::new(IdGenerator::from_env());
    let bus: Arc<dyn EventBus> = InProcessBus::new();
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();

    let users = rookery_users::open_store(&sqlite_url_in(data_dir, "users"), ids.clone()).await?;
    // This process is the only server of its databases: caches are exact.
    let users_store: Arc<dyn UserStore> = Arc::new(CachedUserStore::new(users.store.clone()));
    let auth_config = AuthConfig {
        single_instance: true,
        ..AuthConfig::from_env()
    };
    let users_service = UsersService::new(users_store, &secret, auth_config).await?;
    let users_router = rookery_users::router(users_service.clone());

    let posts = rookery_posts::open_store(&sqlite_url_in(data_dir, "posts"), ids.clone()).await?;
    let posts_store: Arc<dyn PostStore> = Arc::new(CachedPostStore::new(posts.store.clone()));
    // Consumers subscribe before any relay publishes.
    let votes = rookery_votes::open_store(&sqlite_url_in(data_dir, "votes"), ids.clone()).await?;
    let votes_events = rookery_votes::events::subscribe(bus.as_ref()).await?;
    tasks.spawn(rookery_votes::events::run_consumer(
        votes.store.clone(),
        votes_events,
        shutdown.clone(),
    ));
    let posts_service = start_posts(
        posts_store,
        &secret,
        timelines,
        redis,
        bus.as_ref(),
        &tasks,
        &shutdown,
    )
    .await?;
    for (outbox, signal) in [
        (users.outbox.clone(), users.signal.clone()),
        (posts.outbox.clone(), posts.signal.clone()),
        (votes.outbox.clone(), votes.signal.clone()),
    ] {
        tasks.spawn(run_relay(outbox, bus.clone(), signal, shutdown.clone()));
    }
    let posts_router = rookery_posts::router(posts_service);
    let votes_service = VotesService::new(
        votes.store.clone(),
        IdentityKeys::new(&secret),
        Arc::new(PostsDirectory {
            posts: Upstream::InProcess(posts_router.clone()),
        }),
    );

    let upstreams = HashMap::from([
        ("users".to_string(), Upstream::InProcess(users_router)),
        ("posts".to_string(), Upstream::InProcess(posts_router)),
        (
            "votes".to_string(),
            Upstream::InProcess(rookery_votes::router(votes_service)),
        ),
    ]);
    let gateway = Gateway::new(upstreams, Some(users_service))?;
    Ok(App {
        router: rookery_gateway::router(gateway, crate::openapi::document()),
        bus,
        shutdown,
        tasks,
        closers: vec![users.close, posts.close, votes.close],
    })
}

/// One users service instance on `DATABASE_URL` (SQLite or PostgreSQL).
///
/// No relay runs here yet: a standalone instance has no bus to other
/// processes until the NATS JetStream bus lands, so its events wait in the
/// outbox (nothing is lost) instead of being published to nobody.
pub async fn users_instance(database_url: &str, secret: &Secret) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let users = rookery_users::open_store(database_url, ids).await?;
    let service = UsersService::new(users.store.clone(), secret, AuthConfig::from_env()).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let bus: Arc<dyn EventBus> = InProcessBus::new();
    Ok(App {
        router: rookery_users::router(service),
        bus,
        shutdown,
        tasks,
        closers: vec![users.close],
    })
}

/// One votes service instance on `DATABASE_URL`, asking the posts instances
/// at `posts` (base URLs) about posts it does not know yet. Like a standalone
/// users instance it keeps its `vote.changed` events in the outbox until the
/// JetStream bus connects the processes.
pub async fn votes_instance(
    database_url: &str,
    secret: &Secret,
    posts: &[String],
) -> anyhow::Result<App> {
    let bases = posts;
    let ids = Arc::new(IdGenerator::from_env());
    let votes = rookery_votes::open_store(database_url, ids).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let posts = HttpPool::new("posts", bases)?;
    tasks.spawn(posts.clone().run_health_checks(shutdown.clone()));
    let service = VotesService::new(
        votes.store.clone(),
        IdentityKeys::new(secret),
        Arc::new(PostsDirectory {
            posts: Upstream::Http(posts),
        }),
    );
    Ok(App {
        router: rookery_votes::router(service),
        bus: InProcessBus::new(),
        shutdown,
        tasks,
        closers: vec![votes.close],
    })
}

/// The gateway alone, in front of HTTP instances (`service` -> base URLs).
pub fn gateway_only(upstreams: &HashMap<String, Vec<String>>) -> anyhow::Result<App> {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut pools = HashMap::new();
    for (service, bases) in upstreams {
        let pool = HttpPool::new(service, bases)?;
        tasks.spawn(pool.clone().run_health_checks(shutdown.clone()));
        pools.insert(service.clone(), Upstream::Http(pool));
    }
    let gateway = Gateway::new(pools, None)?;
    Ok(App {
        router: rookery_gateway::router(gateway, crate::openapi::document()),
        bus: InProcessBus::new(),
        shutdown,
        tasks,
        closers: Vec::new(),
    })
}

/// One posts service instance on `DATABASE_URL`. It relays and consumes its
/// own events (fan-out of its posts) in-process; the follow graph arrives
/// from the users service once the NATS JetStream bus connects them.
pub async fn posts_instance(database_url: &str, secret: &Secret) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let posts = rookery_posts::open_store(database_url, ids).await?;
    let timelines = TimelineConfig::from_env();
    let redis = redis_timelines(&timelines).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let bus: Arc<dyn EventBus> = InProcessBus::new();
    let service = start_posts(
        posts.store.clone(),
        secret,
        timelines,
        redis,
        bus.as_ref(),
        &tasks,
        &shutdown,
    )
    .await?;
    tasks.spawn(run_relay(
        posts.outbox.clone(),
        bus.clone(),
        posts.signal.clone(),
        shutdown.clone(),
    ));
    Ok(App {
        router: rookery_posts::router(service),
        bus,
        shutdown,
        tasks,
        closers: vec![posts.close],
    })
}

/// The posts service and its background work: the event consumer (subscribed
/// here, before any relay starts) and the timeline trimmer.
async fn start_posts(
    store: Arc<dyn PostStore>,
    secret: &Secret,
    timelines: TimelineConfig,
    redis: Option<RedisTimelines>,
    bus: &dyn EventBus,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<PostsService>> {
    let events = rookery_posts::events::subscribe(bus).await?;
    tasks.spawn(rookery_posts::events::run_consumer(
        store.clone(),
        events,
        timelines,
        redis.clone(),
        shutdown.clone(),
    ));
    tasks.spawn(rookery_posts::events::run_timeline_trimmer(
        store.clone(),
        timelines,
        shutdown.clone(),
    ));
    Ok(PostsService::new(
        store,
        IdentityKeys::new(secret),
        timelines,
        redis,
    ))
}

/// The posts service answering the votes service's misses through its API
/// (`GET /internal/v1/posts/{id}`), in-process or over HTTP.
struct PostsDirectory {
    posts: Upstream,
}

#[async_trait::async_trait]
impl PostDirectory for PostsDirectory {
    async fn facts(&self, id: i64) -> anyhow::Result<Option<PostFacts>> {
        use http_body_util::BodyExt;
        let req =
            http::Request::get(format!("/internal/v1/posts/{id}")).body(bytes::Bytes::new())?;
        let response = self
            .posts
            .send(req)
            .await
            .map_err(|e| anyhow::anyhow!("posts service: {}", e.message))?;
        let status = response.status();
        if status == http::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        anyhow::ensure!(status.is_success(), "posts service answered {status}");
        let body = response.into_body().collect().await?.to_bytes();
        let payload: serde_json::Value = serde_json::from_slice(&body)?;
        Ok(Some(rookery_votes::events::post_facts(&payload)?))
    }
}
