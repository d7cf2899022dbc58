//! Wiring services together: the embedded process (`rookery serve`) and single
//! service instances (`rookery service`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use rookery_gateway::{
    Gateway, GatewayOptions, HttpPool, PoolConfig, RateLimitConfig, RateLimiter, Upstream,
};
use rookery_kernel::db::sqlite_url_in;
use rookery_kernel::directory::{Account, AccountDirectory};
use rookery_kernel::events::nats::{JetStreamBus, JetStreamConfig};
use rookery_kernel::events::{
    DeliveryWait, EventBus, InProcessBus, OutboxSource, RelayProgress, run_relay, run_relay_tracked,
};
use rookery_kernel::identity::IdentityKeys;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::render_memo::RenderMemo;
use rookery_kernel::secret::Secret;
use rookery_messages::MessagesService;
use rookery_notifications::store::CachedNotificationStore;
use rookery_notifications::{AccountViews, NotificationStore, NotificationsService, PostViews};
use rookery_posts::http::PostView;
use rookery_posts::search::UserSearch;
use rookery_posts::store::CachedPostStore;
use rookery_posts::timeline::RedisTimelines;
use rookery_posts::{PostStore, PostsService, TimelineConfig};
use rookery_users::http::UserView;
use rookery_users::store::CachedUserStore;
use rookery_users::{AuthConfig, UserStore, UsersService};
use rookery_votes::store::PostFacts;
use rookery_votes::{PostDirectory, VotesService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::server::{self, ConnectionLimits};

type Closer =
    Box<dyn FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send>;

/// Accounts and posts whose notification views `rookery serve` keeps written.
const VIEWS_WRITTEN: usize = 20_000;

/// How long the extra listeners' open connections (streams) may take to end
/// once the process stops.
const STREAMS_GRACE: std::time::Duration = std::time::Duration::from_secs(2);
/// How long the main listener's requests in progress may take to finish once
/// the process stops (above the gateway's 10 s upstream timeout; a
/// standalone mastodon instance's streams are cut then).
const REQUESTS_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// A running set of routers and their background tasks.
pub struct App {
    pub router: Router,
    pub bus: Arc<dyn EventBus>,
    /// The outboxes of a standalone service instance, for runtimes that
    /// publish them themselves before answering (Lambda); empty otherwise.
    pub outboxes: Vec<Arc<dyn OutboxSource>>,
    /// What the Mastodon API needs in `rookery serve` (its own listener).
    pub mastodon: Option<MastodonParts>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    closers: Vec<Closer>,
}

/// Where the Mastodon API's origin comes from.
pub enum MastodonParts {
    /// In process (`rookery serve`): the gateway's API router it calls and
    /// its store.
    Embedded {
        api: Router,
        store: Arc<dyn rookery_mastodon::MastodonStore>,
        direct: Arc<dyn rookery_mastodon::native::DirectReads>,
    },
    /// A standalone gateway: a pool of `mastodon` instances behind it.
    Proxy(Router),
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
        limits: ConnectionLimits,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.serve_with(listener, Vec::new(), limits, stop).await
    }

    /// [`Self::serve`] with more listeners, each with its router (the
    /// Mastodon API's origin); all stop together. Streams (SSE, WebSocket)
    /// never finish by themselves: those of the extra listeners still open
    /// after a short grace are cut.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        extra: Vec<(TcpListener, Router)>,
        limits: ConnectionLimits,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stopping = CancellationToken::new();
        let slots = server::connection_slots(&limits);
        let mut others = tokio::task::JoinSet::new();
        for (listener, router) in extra {
            others.spawn(server::serve(
                listener,
                router,
                limits,
                slots.clone(),
                stopping.clone(),
                STREAMS_GRACE,
            ));
        }
        let trigger = stopping.clone();
        tokio::spawn(async move {
            stop.await;
            trigger.cancel();
        });
        server::serve(
            listener,
            self.router.clone(),
            limits,
            slots,
            stopping.clone(),
            REQUESTS_GRACE,
        )
        .await;
        while others.join_next().await.is_some() {}
        self.close().await;
        Ok(())
    }

    /// The router of the Mastodon API's origin (embedded processes and
    /// gateways); `config` matters in process only, where this also starts
    /// the streaming hub on the bus.
    pub async fn mastodon_router(
        &self,
        config: rookery_mastodon::MastodonConfig,
    ) -> anyhow::Result<Option<Router>> {
        Ok(match &self.mastodon {
            None => None,
            Some(MastodonParts::Embedded { api, store, direct }) => {
                let service = rookery_mastodon::MastodonService::with_direct_reads(
                    Upstream::InProcess(api.clone()),
                    store.clone(),
                    config,
                    direct.clone(),
                );
                let events = self
                    .bus
                    .subscribe("mastodon-streaming", rookery_mastodon::streaming::TOPICS)
                    .await?;
                self.tasks.spawn(rookery_mastodon::streaming::run_hub(
                    service.clone(),
                    rookery_mastodon::streaming::EventSource::Bus(events),
                    self.shutdown.clone(),
                ));
                Some(rookery_mastodon::router(service))
            }
            Some(MastodonParts::Proxy(router)) => Some(router.clone()),
        })
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
    embedded_with_gateway(data_dir, timelines, redis, GatewayOptions::local()).await
}

/// [`embedded_with`] with the gateway's rate limits and in-flight limit given
/// instead of read from the environment (the stress test sets them as an
/// operator would).
pub async fn embedded_with_gateway(
    data_dir: &Path,
    timelines: TimelineConfig,
    redis: Option<RedisTimelines>,
    gateway_options: GatewayOptions,
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
    // Blocks and mutes answer once every consumer applied them ("at once").
    let users_progress = RelayProgress::default();
    let users_service = UsersService::new(users_store.clone(), &secret, auth_config)
        .await?
        .with_delivery_wait(DeliveryWait {
            signal: users.signal.clone(),
            progress: users_progress.clone(),
        });
    // Consumers subscribe before any relay publishes.
    let users_events = rookery_users::events::subscribe(bus.as_ref()).await?;
    tasks.spawn(rookery_users::events::run_consumer(
        users_store.clone(),
        users_events,
        shutdown.clone(),
    ));
    let users_router = rookery_users::router(users_service.clone());

    let posts = rookery_posts::open_store(&sqlite_url_in(data_dir, "posts"), ids.clone()).await?;
    let posts_store: Arc<dyn PostStore> = Arc::new(CachedPostStore::new(posts.store.clone()));
    let votes = rookery_votes::open_store(&sqlite_url_in(data_dir, "votes"), ids.clone()).await?;
    // One process casts every vote: the caller's own votes can be held in memory.
    let vote_store: Arc<dyn rookery_votes::VoteStore> = Arc::new(
        rookery_votes::store::CachedVoteStore::new(votes.store.clone()),
    );
    let votes_events = rookery_votes::events::subscribe(bus.as_ref()).await?;
    tasks.spawn(rookery_votes::events::run_consumer(
        vote_store.clone(),
        votes_events,
        shutdown.clone(),
    ));
    // Messages may live elsewhere (DynamoDB: docs/dynamodb.md), e.g. to
    // compare stores in one process.
    let messages_url = std::env::var("ROOKERY_MESSAGES_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| sqlite_url_in(data_dir, "messages"));
    let messages = rookery_messages::open_store(&messages_url, ids.clone()).await?;
    let messages_events = rookery_messages::events::subscribe(bus.as_ref()).await?;
    tasks.spawn(rookery_messages::events::run_consumer(
        messages.store.clone(),
        messages_events,
        shutdown.clone(),
    ));
    let notifications =
        rookery_notifications::open_store(&sqlite_url_in(data_dir, "notifications"), ids.clone())
            .await?;
    // The only writer of its store: pages and unread counts are kept exactly.
    let notifications_store: Arc<dyn NotificationStore> =
        Arc::new(CachedNotificationStore::new(notifications.store.clone()));
    let notifications_events = rookery_notifications::events::subscribe(bus.as_ref()).await?;
    tasks.spawn(rookery_notifications::events::run_consumer(
        notifications_store.clone(),
        notifications_events,
        shutdown.clone(),
    ));
    let posts_service = start_posts(
        posts_store.clone(),
        &secret,
        timelines,
        redis,
        Some(Arc::new(UsersDirectory {
            users: Upstream::InProcess(users_router.clone()),
            store: Some(users_store.clone()),
        })),
        bus.as_ref(),
        &tasks,
        &shutdown,
    )
    .await?;
    tasks.spawn(run_relay_tracked(
        users.outbox.clone(),
        bus.clone(),
        users.signal.clone(),
        users_progress,
        shutdown.clone(),
    ));
    for (outbox, signal) in [
        (posts.outbox.clone(), posts.signal.clone()),
        (votes.outbox.clone(), votes.signal.clone()),
        (messages.outbox.clone(), messages.signal.clone()),
        (notifications.outbox.clone(), notifications.signal.clone()),
    ] {
        tasks.spawn(run_relay(outbox, bus.clone(), signal, shutdown.clone()));
    }
    let posts_router = rookery_posts::router(posts_service.clone());
    let votes_service = VotesService::new(
        vote_store.clone(),
        votes.store.clone().polls(),
        IdentityKeys::new(&secret),
        Arc::new(PostsDirectory {
            posts: Upstream::InProcess(posts_router.clone()),
        }),
        Arc::new(UsersDirectory {
            users: Upstream::InProcess(users_router.clone()),
            store: None,
        }),
    );

    let messages_service = MessagesService::new(
        messages.store.clone(),
        IdentityKeys::new(&secret),
        Arc::new(UsersDirectory {
            users: Upstream::InProcess(users_router.clone()),
            store: None,
        }),
    );

    let notifications_service = NotificationsService::new(
        notifications_store,
        IdentityKeys::new(&secret),
        // One process: the stores' caches answer directly (no request, no
        // JSON encoded and parsed again per page).
        Arc::new(LocalAccountViews {
            store: users_store.clone(),
            written: RenderMemo::new(VIEWS_WRITTEN),
        }),
        Arc::new(LocalPostViews {
            store: posts_store.clone(),
            written: RenderMemo::new(VIEWS_WRITTEN),
        }),
    );
    // The Mastodon layer's batch reads, straight from the stores.
    let mastodon_reads = Arc::new(LocalMastodonReads {
        users: users_store.clone(),
        posts: posts_store,
        posts_service,
        votes: vote_store,
        authenticator: users_service.clone(),
        identity: IdentityKeys::new(&secret),
    });

    let upstreams = HashMap::from([
        ("users".to_string(), Upstream::InProcess(users_router)),
        ("posts".to_string(), Upstream::InProcess(posts_router)),
        (
            "votes".to_string(),
            Upstream::InProcess(rookery_votes::router(votes_service)),
        ),
        (
            "messages".to_string(),
            Upstream::InProcess(rookery_messages::router(messages_service)),
        ),
        (
            "notifications".to_string(),
            Upstream::InProcess(rookery_notifications::router(notifications_service)),
        ),
    ]);
    // One process: its own buckets, no admin routes (there are no instances to manage).
    let gateway = Gateway::new(upstreams, Some(users_service), gateway_options)?;
    let api = rookery_gateway::router(gateway, crate::openapi::document());
    let (pages, web_close) = web_pages(data_dir, api.clone(), &tasks, &shutdown).await?;
    let mastodon = rookery_mastodon::open_store(&sqlite_url_in(data_dir, "mastodon")).await?;
    tasks.spawn(rookery_mastodon::sweep_codes(
        mastodon.store.clone(),
        shutdown.clone(),
    ));
    Ok(App {
        mastodon: Some(MastodonParts::Embedded {
            api: api.clone(),
            store: mastodon.store.clone(),
            direct: mastodon_reads,
        }),
        router: rookery_gateway::with_pages(api, Upstream::InProcess(pages)),
        bus,
        shutdown,
        tasks,
        outboxes: Vec::new(),
        closers: vec![
            users.close,
            posts.close,
            votes.close,
            messages.close,
            notifications.close,
            web_close,
            mastodon.close,
        ],
    })
}

/// The web client in process: a client of the gateway's API router (so
/// authentication and rate limits apply as to any client), its sessions in
/// `web.db`.
async fn web_pages(
    data_dir: &Path,
    api: Router,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<(Router, Closer)> {
    let web = rookery_web::open_store(&sqlite_url_in(data_dir, "web")).await?;
    tasks.spawn(rookery_web::sweep_sessions(
        web.store.clone(),
        shutdown.clone(),
    ));
    let service = rookery_web::WebService::new(Upstream::InProcess(api), web.store.clone());
    Ok((rookery_web::router(service), web.close))
}

/// One web client instance: sessions on `DATABASE_URL`, the public API at
/// the gateways `gateways` (base URLs).
pub async fn web_instance(database_url: &str, gateways: &[String]) -> anyhow::Result<App> {
    let web = rookery_web::open_store(database_url).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let gateway = HttpPool::new("gateway", gateways)?;
    tasks.spawn(gateway.clone().run_health_checks(shutdown.clone()));
    tasks.spawn(rookery_web::sweep_sessions(
        web.store.clone(),
        shutdown.clone(),
    ));
    let service = rookery_web::WebService::new(Upstream::Http(gateway), web.store.clone());
    Ok(App {
        mastodon: None,
        router: rookery_web::instance_router(service),
        bus: InProcessBus::new(),
        shutdown,
        tasks,
        outboxes: Vec::new(),
        closers: vec![web.close],
    })
}

/// One Mastodon API instance: its store on `DATABASE_URL`, the public API
/// at the gateways `gateways` (base URLs).
pub async fn mastodon_instance(database_url: &str, gateways: &[String]) -> anyhow::Result<App> {
    let mastodon = rookery_mastodon::open_store(database_url).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let gateway = HttpPool::new("gateway", gateways)?;
    tasks.spawn(gateway.clone().run_health_checks(shutdown.clone()));
    tasks.spawn(rookery_mastodon::sweep_codes(
        mastodon.store.clone(),
        shutdown.clone(),
    ));
    let default_web = gateways
        .first()
        .map(String::as_str)
        .unwrap_or("http://127.0.0.1:8080");
    let service = rookery_mastodon::MastodonService::new(
        Upstream::Http(gateway),
        mastodon.store.clone(),
        rookery_mastodon::MastodonConfig::from_env(default_web, "http://127.0.0.1:8081"),
    );
    // Every instance hears every post (a live fan-out, not a shared
    // durable consumer): each has its own streaming connections.
    if let Some(config) = JetStreamConfig::from_env() {
        let live =
            rookery_kernel::events::nats::watch(&config, rookery_mastodon::streaming::TOPICS)
                .await
                .context("connecting to NATS (NATS_URL) for streaming")?;
        tasks.spawn(rookery_mastodon::streaming::run_hub(
            service.clone(),
            rookery_mastodon::streaming::EventSource::Live(live),
            shutdown.clone(),
        ));
    }
    Ok(App {
        mastodon: None,
        router: rookery_mastodon::instance_router(service),
        bus: InProcessBus::new(),
        shutdown,
        tasks,
        outboxes: Vec::new(),
        closers: vec![mastodon.close],
    })
}

/// Where an instance finds another service's instances.
#[derive(Clone, Debug, Default)]
pub enum Peers {
    /// Nowhere: the service is not asked (where asking it is optional).
    #[default]
    None,
    /// These base URLs (host names are re-resolved, so DNS names follow
    /// their records).
    Urls(Vec<String>),
    /// What the gateways' registry lists, followed while running
    /// (`rookery service --register` without a URL list).
    Registry(RegistrySource),
}

/// The gateways whose registry [`Peers::Registry`] follows.
#[derive(Clone, Debug)]
pub struct RegistrySource {
    pub gateways: Vec<String>,
    pub admin_token: Option<String>,
    pub interval: std::time::Duration,
}

impl From<&[String]> for Peers {
    fn from(urls: &[String]) -> Self {
        match urls.is_empty() {
            true => Peers::None,
            false => Peers::Urls(urls.to_vec()),
        }
    }
}

impl<const N: usize> From<&[String; N]> for Peers {
    fn from(urls: &[String; N]) -> Self {
        Peers::from(urls.as_slice())
    }
}

impl From<&Vec<String>> for Peers {
    fn from(urls: &Vec<String>) -> Self {
        Peers::from(urls.as_slice())
    }
}

/// The pool of `service`'s instances that `peers` gives, its health checks
/// and registry following running in `tasks`; None for [`Peers::None`].
fn peer_pool(
    service: &str,
    peers: &Peers,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<Arc<HttpPool>>> {
    let pool = match peers {
        Peers::None => return Ok(None),
        Peers::Urls(urls) => HttpPool::new(service, urls)?,
        Peers::Registry(source) => {
            let pool = HttpPool::new(service, &[])?;
            tasks.spawn(
                rookery_gateway::discovery::RegistryFollower {
                    gateways: source.gateways.clone(),
                    admin_token: source.admin_token.clone(),
                    pools: vec![pool.clone()],
                    interval: source.interval,
                }
                .run(shutdown.clone()),
            );
            pool
        }
    };
    tasks.spawn(pool.clone().run_health_checks(shutdown.clone()));
    Ok(Some(pool))
}

/// [`peer_pool`] of a service the instance cannot work without: with
/// [`Peers::None`] an empty pool, so what needs it answers 503
/// (`rookery service` refuses to start so; tests build such instances).
fn required_peer_pool(
    service: &str,
    peers: &Peers,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> anyhow::Result<Arc<HttpPool>> {
    match peer_pool(service, peers, tasks, shutdown)? {
        Some(pool) => Ok(pool),
        None => HttpPool::new(service, &[]),
    }
}

pub async fn instance_bus() -> anyhow::Result<Option<Arc<dyn EventBus>>> {
    let Some(config) = JetStreamConfig::from_env() else {
        return Ok(None);
    };
    let bus = JetStreamBus::connect(config)
        .await
        .context("connecting to NATS JetStream (NATS_URL)")?;
    Ok(Some(Arc::new(bus)))
}

/// One users service instance on `DATABASE_URL` (SQLite or PostgreSQL), on
/// the bus of [`instance_bus`].
pub async fn users_instance(database_url: &str, secret: &Secret) -> anyhow::Result<App> {
    users_instance_on(database_url, secret, instance_bus().await?).await
}

/// [`users_instance`] on `bus`. With a bus it relays its events and applies
/// karma from votes; without one its events wait in the outbox (nothing is
/// lost) instead of being published to nobody.
pub async fn users_instance_on(
    database_url: &str,
    secret: &Secret,
    bus: Option<Arc<dyn EventBus>>,
) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let users = rookery_users::open_store(database_url, ids).await?;
    let service = UsersService::new(users.store.clone(), secret, AuthConfig::from_env()).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let bus = match bus {
        Some(bus) => {
            // Consumers subscribe before the relay publishes.
            let events = rookery_users::events::subscribe(bus.as_ref()).await?;
            tasks.spawn(rookery_users::events::run_consumer(
                users.store.clone(),
                events,
                shutdown.clone(),
            ));
            if bus.background_relay() {
                tasks.spawn(run_relay(
                    users.outbox.clone(),
                    bus.clone(),
                    users.signal.clone(),
                    shutdown.clone(),
                ));
            }
            bus
        }
        None => InProcessBus::new(),
    };
    Ok(App {
        mastodon: None,
        router: rookery_users::router(service),
        bus,
        shutdown,
        tasks,
        outboxes: vec![users.outbox.clone()],
        closers: vec![users.close],
    })
}

/// One votes service instance on `DATABASE_URL` (polls too, unless
/// `polls_url` names a DynamoDB table prefix for them), asking the posts
/// instances at `posts` and the users instances at `users` (base URLs) about
/// posts and accounts it does not know yet; on the bus of [`instance_bus`].
pub async fn votes_instance(
    database_url: &str,
    polls_url: Option<&str>,
    secret: &Secret,
    posts: impl Into<Peers>,
    users: impl Into<Peers>,
) -> anyhow::Result<App> {
    let bus = instance_bus().await?;
    votes_instance_on(database_url, polls_url, secret, posts, users, bus).await
}

/// [`votes_instance`] on `bus`. With a bus it relays its `vote.changed`
/// events and keeps its replicas of posts and accounts from theirs; without
/// one its events wait in the outbox.
pub async fn votes_instance_on(
    database_url: &str,
    polls_url: Option<&str>,
    secret: &Secret,
    posts: impl Into<Peers>,
    users: impl Into<Peers>,
    bus: Option<Arc<dyn EventBus>>,
) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let votes = rookery_votes::open_store(database_url, ids.clone()).await?;
    let polls = rookery_votes::open_poll_store(polls_url, &votes, ids).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let posts = required_peer_pool("posts", &posts.into(), &tasks, &shutdown)?;
    let users = required_peer_pool("users", &users.into(), &tasks, &shutdown)?;
    let bus = match bus {
        Some(bus) => {
            let events = rookery_votes::events::subscribe(bus.as_ref()).await?;
            tasks.spawn(rookery_votes::events::run_consumer(
                votes.store.clone(),
                events,
                shutdown.clone(),
            ));
            if bus.background_relay() {
                tasks.spawn(run_relay(
                    votes.outbox.clone(),
                    bus.clone(),
                    votes.signal.clone(),
                    shutdown.clone(),
                ));
            }
            bus
        }
        None => InProcessBus::new(),
    };
    let service = VotesService::new(
        votes.store.clone(),
        polls,
        IdentityKeys::new(secret),
        Arc::new(PostsDirectory {
            posts: Upstream::Http(posts),
        }),
        Arc::new(UsersDirectory {
            users: Upstream::Http(users),
            store: None,
        }),
    );
    Ok(App {
        mastodon: None,
        router: rookery_votes::router(service),
        bus,
        shutdown,
        tasks,
        outboxes: vec![votes.outbox.clone()],
        closers: vec![votes.close],
    })
}

/// One messages service instance on `DATABASE_URL`, asking the users
/// instances at `users` (base URLs) about accounts its replica does not know;
/// on the bus of [`instance_bus`].
pub async fn messages_instance(
    database_url: &str,
    secret: &Secret,
    users: impl Into<Peers>,
) -> anyhow::Result<App> {
    messages_instance_on(database_url, secret, users, instance_bus().await?).await
}

/// [`messages_instance`] on `bus`. With a bus its replica of accounts follows
/// the users service's events; without one every account it learns comes
/// from the users instances' answers.
pub async fn messages_instance_on(
    database_url: &str,
    secret: &Secret,
    users: impl Into<Peers>,
    bus: Option<Arc<dyn EventBus>>,
) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let messages = rookery_messages::open_store(database_url, ids).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let users = required_peer_pool("users", &users.into(), &tasks, &shutdown)?;
    let bus = match bus {
        Some(bus) => {
            let events = rookery_messages::events::subscribe(bus.as_ref()).await?;
            tasks.spawn(rookery_messages::events::run_consumer(
                messages.store.clone(),
                events,
                shutdown.clone(),
            ));
            if bus.background_relay() {
                tasks.spawn(run_relay(
                    messages.outbox.clone(),
                    bus.clone(),
                    messages.signal.clone(),
                    shutdown.clone(),
                ));
            }
            bus
        }
        None => InProcessBus::new(),
    };
    let service = MessagesService::new(
        messages.store.clone(),
        IdentityKeys::new(secret),
        Arc::new(UsersDirectory {
            users: Upstream::Http(users),
            store: None,
        }),
    );
    Ok(App {
        mastodon: None,
        router: rookery_messages::router(service),
        bus,
        shutdown,
        tasks,
        outboxes: vec![messages.outbox.clone()],
        closers: vec![messages.close],
    })
}

/// One notifications service instance on `DATABASE_URL`, showing accounts
/// and posts asked of the users instances at `users` and the posts
/// instances at `posts` (base URLs); on the bus of [`instance_bus`].
pub async fn notifications_instance(
    database_url: &str,
    secret: &Secret,
    users: impl Into<Peers>,
    posts: impl Into<Peers>,
) -> anyhow::Result<App> {
    notifications_instance_on(database_url, secret, users, posts, instance_bus().await?).await
}

/// [`notifications_instance`] on `bus`. With a bus it builds notifications
/// from the other services' events; without one it has none to build (its
/// routes still answer).
pub async fn notifications_instance_on(
    database_url: &str,
    secret: &Secret,
    users: impl Into<Peers>,
    posts: impl Into<Peers>,
    bus: Option<Arc<dyn EventBus>>,
) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let notifications = rookery_notifications::open_store(database_url, ids).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let users = required_peer_pool("users", &users.into(), &tasks, &shutdown)?;
    let posts = required_peer_pool("posts", &posts.into(), &tasks, &shutdown)?;
    let bus = match bus {
        Some(bus) => {
            let events = rookery_notifications::events::subscribe(bus.as_ref()).await?;
            tasks.spawn(rookery_notifications::events::run_consumer(
                notifications.store.clone(),
                events,
                shutdown.clone(),
            ));
            if bus.background_relay() {
                tasks.spawn(run_relay(
                    notifications.outbox.clone(),
                    bus.clone(),
                    notifications.signal.clone(),
                    shutdown.clone(),
                ));
            }
            bus
        }
        None => InProcessBus::new(),
    };
    let service = NotificationsService::new(
        notifications.store.clone(),
        IdentityKeys::new(secret),
        Arc::new(UsersViews {
            users: Upstream::Http(users),
        }),
        Arc::new(PostsViews {
            posts: Upstream::Http(posts),
        }),
    );
    Ok(App {
        mastodon: None,
        router: rookery_notifications::router(service),
        bus,
        shutdown,
        tasks,
        outboxes: vec![notifications.outbox.clone()],
        closers: vec![notifications.close],
    })
}

/// The gateway alone, in front of HTTP instances (`service` -> base URLs),
/// configured from the environment but with in-process rate limit buckets.
pub fn gateway_only(upstreams: &HashMap<String, Vec<String>>) -> anyhow::Result<App> {
    let options = GatewayOptions {
        admin_token: admin_token(),
        ..GatewayOptions::local()
    };
    gateway_only_with(upstreams, PoolConfig::from_env(), options)
}

/// `ROOKERY_ADMIN_TOKEN`, if set and not empty.
pub fn admin_token() -> Option<String> {
    std::env::var("ROOKERY_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
}

/// A standalone gateway's options from the environment: rate limits shared
/// through Redis when `REDIS_URL` is set, and the admin token.
pub async fn gateway_options_from_env() -> anyhow::Result<GatewayOptions> {
    let config = RateLimitConfig::from_env();
    let limiter = match std::env::var("REDIS_URL") {
        Ok(url) => {
            let prefix =
                std::env::var("ROOKERY_REDIS_PREFIX").unwrap_or_else(|_| "rookery:".into());
            RateLimiter::shared(config, &url, &prefix)
                .await
                .context("connecting to Redis (REDIS_URL) for rate limits")?
        }
        Err(_) => RateLimiter::new(config, None),
    };
    Ok(GatewayOptions {
        limiter,
        admin_token: admin_token(),
        ..GatewayOptions::local()
    })
}

/// [`gateway_only`] with explicit settings (tests use short timeouts and small limits).
pub fn gateway_only_with(
    upstreams: &HashMap<String, Vec<String>>,
    pool_config: PoolConfig,
    options: GatewayOptions,
) -> anyhow::Result<App> {
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    let mut pools = HashMap::new();
    // Every service gets a pool, empty ones too: instances may register later.
    for service in rookery_gateway::SERVICES
        .iter()
        .map(|s| s.to_string())
        .chain(upstreams.keys().cloned())
    {
        if pools.contains_key(&service) {
            continue;
        }
        let bases = upstreams.get(&service).map_or(&[][..], Vec::as_slice);
        let pool = HttpPool::with_config(&service, bases, pool_config)?;
        tasks.spawn(pool.clone().run_health_checks(shutdown.clone()));
        pools.insert(service, Upstream::Http(pool));
    }
    let mastodon = pools
        .get("mastodon")
        .cloned()
        .map(|pool| MastodonParts::Proxy(rookery_gateway::forward_all(pool)));
    let gateway = Gateway::new(pools, None, options)?;
    tasks.spawn(gateway.clone().watch_credential_events(shutdown.clone()));
    Ok(App {
        mastodon,
        router: rookery_gateway::router(gateway, crate::openapi::document()),
        bus: InProcessBus::new(),
        outboxes: Vec::new(),
        shutdown,
        tasks,
        closers: Vec::new(),
    })
}

/// One posts service instance on `DATABASE_URL`, asking the users instances
/// at `users` (base URLs; none: the author replica alone answers) about
/// accounts its replica does not know yet; on the bus of [`instance_bus`].
pub async fn posts_instance(
    database_url: &str,
    secret: &Secret,
    users: impl Into<Peers>,
) -> anyhow::Result<App> {
    posts_instance_on(database_url, secret, users, instance_bus().await?).await
}

/// [`posts_instance`] on `bus`: with JetStream the follow graph and vote
/// counts arrive from the users and votes services, and the instances share
/// the `posts` consumer; without a bus it relays and consumes its own events
/// (fan-out of its posts) in-process, and learns accounts only from the
/// users instances at `users`.
pub async fn posts_instance_on(
    database_url: &str,
    secret: &Secret,
    users: impl Into<Peers>,
    bus: Option<Arc<dyn EventBus>>,
) -> anyhow::Result<App> {
    let ids = Arc::new(IdGenerator::from_env());
    let posts = rookery_posts::open_store(database_url, ids).await?;
    let timelines = TimelineConfig::from_env();
    let redis = redis_timelines(&timelines).await?;
    let (shutdown, tasks) = (CancellationToken::new(), TaskTracker::new());
    let accounts = peer_pool("users", &users.into(), &tasks, &shutdown)?.map(|users| {
        Arc::new(UsersDirectory {
            users: Upstream::Http(users),
            store: None,
        })
    });
    let bus: Arc<dyn EventBus> = bus.unwrap_or_else(|| InProcessBus::new());
    // Subscribes the consumer before the relay below starts.
    let service = start_posts(
        posts.store.clone(),
        secret,
        timelines,
        redis,
        accounts,
        bus.as_ref(),
        &tasks,
        &shutdown,
    )
    .await?;
    if bus.background_relay() {
        tasks.spawn(run_relay(
            posts.outbox.clone(),
            bus.clone(),
            posts.signal.clone(),
            shutdown.clone(),
        ));
    }
    Ok(App {
        mastodon: None,
        router: rookery_posts::router(service),
        bus,
        shutdown,
        tasks,
        outboxes: vec![posts.outbox.clone()],
        closers: vec![posts.close],
    })
}

/// The posts service and its background work: the event consumer (subscribed
/// here, before any relay starts) and the timeline trimmer. `accounts` is
/// asked about accounts the author replica does not know yet, and searches
/// for users.
#[allow(clippy::too_many_arguments)]
async fn start_posts(
    store: Arc<dyn PostStore>,
    secret: &Secret,
    timelines: TimelineConfig,
    redis: Option<RedisTimelines>,
    accounts: Option<Arc<UsersDirectory>>,
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
        accounts.clone().map(|a| a as Arc<dyn AccountDirectory>),
        accounts.map(|a| a as Arc<dyn UserSearch>),
    ))
}

/// `GET path` of a service's internal API, in-process or over HTTP: the JSON
/// body, or `None` on 404.
async fn ask(upstream: &Upstream, path: &str) -> anyhow::Result<Option<serde_json::Value>> {
    use http_body_util::BodyExt;
    let req = http::Request::get(path).body(bytes::Bytes::new())?;
    let response = upstream
        .send(req)
        .await
        .map_err(|e| anyhow::anyhow!("{path}: {}", e.message))?;
    let status = response.status();
    if status == http::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    anyhow::ensure!(status.is_success(), "{path} answered {status}");
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Some(serde_json::from_slice(&body)?))
}

/// The posts service answering the votes service's misses through its API
/// (`GET /internal/v1/posts/{id}`), in-process or over HTTP.
struct PostsDirectory {
    posts: Upstream,
}

#[async_trait::async_trait]
impl PostDirectory for PostsDirectory {
    async fn facts(&self, id: i64) -> anyhow::Result<Option<PostFacts>> {
        ask(&self.posts, &format!("/internal/v1/posts/{id}"))
            .await?
            .map(|payload| rookery_votes::events::post_facts(&payload))
            .transpose()
    }

    async fn list_items(&self, ids: &[i64]) -> anyhow::Result<Vec<serde_json::Value>> {
        batch(&self.posts, "/internal/v1/posts", ids).await
    }
}

/// The `items` of a service's internal batch lookup (`{path}?ids=1,2`, at
/// most 100 ids a request), in as few requests as `ids` allows.
async fn batch(
    upstream: &Upstream,
    path: &str,
    ids: &[i64],
) -> anyhow::Result<Vec<serde_json::Value>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(100) {
        let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
        let body = ask(upstream, &format!("{path}?ids={}", list.join(",")))
            .await?
            .ok_or_else(|| anyhow::anyhow!("{path}: no batch lookup"))?;
        match body {
            serde_json::Value::Object(mut map) => match map.remove("items") {
                Some(serde_json::Value::Array(items)) => out.extend(items),
                _ => anyhow::bail!("{path}: batch answer without items"),
            },
            _ => anyhow::bail!("{path}: batch answer is not an object"),
        }
    }
    Ok(out)
}

/// Public views of accounts for notifications, from the users service's
/// batch lookup (`GET /internal/v1/users?ids=`), in-process or over HTTP.
struct UsersViews {
    users: Upstream,
}

/// `items` keyed by their id member `key`, written as JSON again without
/// the members in `drop` (ids other services address accounts by).
fn raw_by_id(
    items: Vec<serde_json::Value>,
    key: &str,
    drop: &[&str],
) -> anyhow::Result<HashMap<i64, Arc<serde_json::value::RawValue>>> {
    let mut out = HashMap::with_capacity(items.len());
    for mut item in items {
        let Ok(id) = rookery_kernel::events::id_field(&item, key) else {
            continue;
        };
        if let Some(object) = item.as_object_mut() {
            for member in drop {
                object.remove(*member);
            }
        }
        out.insert(id, Arc::from(serde_json::value::to_raw_value(&item)?));
    }
    Ok(out)
}

#[async_trait::async_trait]
impl AccountViews for UsersViews {
    async fn accounts(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Arc<serde_json::value::RawValue>>> {
        // The public view is addressed by username.
        raw_by_id(
            batch(&self.users, "/internal/v1/users", ids).await?,
            "user_id",
            &["user_id"],
        )
    }
}

/// Post list items for notifications, from the posts service's batch
/// lookup (`GET /internal/v1/posts?ids=`), in-process or over HTTP.
struct PostsViews {
    posts: Upstream,
}

#[async_trait::async_trait]
impl PostViews for PostsViews {
    async fn posts(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Arc<serde_json::value::RawValue>>> {
        raw_by_id(
            batch(&self.posts, "/internal/v1/posts", ids).await?,
            "id",
            &[],
        )
    }
}

/// Public views of accounts for notifications in `rookery serve`, from the
/// users store in the same process (its cache is exact there): no request,
/// no JSON parsed again, and each account written once per version.
struct LocalAccountViews {
    store: Arc<dyn UserStore>,
    written: RenderMemo<rookery_users::store::User>,
}

#[async_trait::async_trait]
impl AccountViews for LocalAccountViews {
    async fn accounts(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Arc<serde_json::value::RawValue>>> {
        let users = self.store.shared_users_by_ids(ids).await?;
        users
            .iter()
            .filter(|u| u.active)
            .map(|u| {
                let view = self.written.view(u.id, u, |u| {
                    serde_json::value::to_raw_value(&UserView::public(u))
                })?;
                Ok((u.id, view))
            })
            .collect()
    }
}

/// Post list items for notifications in `rookery serve`, from the posts
/// store in the same process, each written once per version.
struct LocalPostViews {
    store: Arc<dyn PostStore>,
    written: RenderMemo<rookery_posts::store::Post>,
}

#[async_trait::async_trait]
impl PostViews for LocalPostViews {
    async fn posts(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<HashMap<i64, Arc<serde_json::value::RawValue>>> {
        let posts = self.store.shared_posts_by_ids(ids).await?;
        posts
            .iter()
            .map(|p| {
                let view = self.written.view(p.id, p, |p| {
                    serde_json::value::to_raw_value(&PostView::list_item(p.clone()))
                })?;
                Ok((p.id, view))
            })
            .collect()
    }
}

/// The Mastodon layer's batch reads in `rookery serve`: the stores' answers
/// as the routes they stand for give them (see
/// [`rookery_mastodon::native::DirectReads`]), without requests.
struct LocalMastodonReads {
    users: Arc<dyn UserStore>,
    posts: Arc<dyn PostStore>,
    /// For home timelines (blocks, mutes and followed celebrities applied).
    posts_service: Arc<PostsService>,
    votes: Arc<dyn rookery_votes::VoteStore>,
    /// What the gateway asks to accept a bearer token.
    authenticator: Arc<UsersService>,
    identity: IdentityKeys,
}

#[async_trait::async_trait]
impl rookery_mastodon::native::DirectReads for LocalMastodonReads {
    async fn posts(
        &self,
        ids: &[i64],
    ) -> anyhow::Result<Vec<rookery_gateway::client::views::Post>> {
        let found = self.posts.shared_posts_by_ids(ids).await?;
        Ok(found.iter().map(|p| client_post(p)).collect())
    }

    async fn home(
        &self,
        viewer: i64,
        before: Option<i64>,
        limit: usize,
    ) -> anyhow::Result<Vec<rookery_gateway::client::views::Post>> {
        let found = self
            .posts_service
            .home_posts(viewer, before, limit)
            .await
            .map_err(|e| anyhow::anyhow!("home timeline: {}", e.message))?;
        Ok(found.iter().map(|p| client_post(p)).collect())
    }

    async fn users(
        &self,
        names: &[String],
    ) -> anyhow::Result<Vec<rookery_gateway::client::views::User>> {
        let found = self.users.users_by_usernames(names).await?;
        Ok(found
            .iter()
            .filter(|u| u.active)
            .map(|u| {
                let view = UserView::public(u);
                rookery_gateway::client::views::User {
                    username: view.username,
                    bio: view.bio,
                    karma: view.karma,
                    created_at: view.created_at,
                    followers_count: view.followers_count,
                    following_count: view.following_count,
                    email: None,
                }
            })
            .collect())
    }

    async fn account_of(&self, bearer: &str) -> anyhow::Result<Option<i64>> {
        use rookery_kernel::identity::Authenticate;
        let authorization = format!("Bearer {bearer}");
        Ok(
            match self.authenticator.authenticate(&authorization, None).await {
                Ok(identity) => self.identity.verify(&identity).map(|i| i.user_id),
                Err(_) => None,
            },
        )
    }

    async fn votes(&self, viewer: i64, ids: &[i64]) -> anyhow::Result<Vec<(i64, String)>> {
        let mine = self.votes.my_votes(viewer, ids).await?;
        Ok(mine
            .into_iter()
            .map(|(post_id, direction)| (post_id, direction.as_str().to_string()))
            .collect())
    }

    async fn reposts(&self, viewer: i64, ids: &[i64]) -> anyhow::Result<Vec<(i64, i64)>> {
        let found = self.posts.reposts_by(viewer, ids).await?;
        Ok(found
            .into_iter()
            .map(|(repost, original)| (original, repost))
            .collect())
    }
}

/// A post as the API client reads the route's full view (the route's one
/// encoder of posts, without JSON written and parsed again).
fn client_post(post: &rookery_posts::store::Post) -> rookery_gateway::client::views::Post {
    let view = PostView::full(post.clone());
    rookery_gateway::client::views::Post {
        id: view.id,
        author: view.author,
        text: view.text.flatten(),
        title: view.title,
        community: view.community,
        url: view.url.flatten(),
        created_at: view.created_at,
        edited_at: view.edited_at,
        in_reply_to: view.in_reply_to,
        repost_of: view
            .repost_of
            .map(|r| rookery_gateway::client::views::RepostOf { id: r.id }),
        reply_count: view.reply_count,
        repost_count: view.repost_count,
        upvotes: view.upvotes,
        downvotes: view.downvotes,
        score: view.score,
        tags: view.tags,
        mentions: view.mentions,
    }
}

/// The users service answering a replica's misses of accounts
/// (`GET /internal/v1/users/{username}`), in-process or over HTTP.
pub struct UsersDirectory {
    users: Upstream,
    /// In `rookery serve`: the users store itself, which searches answer
    /// from without a request and its JSON parsed again.
    store: Option<Arc<dyn UserStore>>,
}

#[async_trait::async_trait]
impl AccountDirectory for UsersDirectory {
    async fn account(&self, username: &str) -> anyhow::Result<Option<Account>> {
        // No account has a name outside this alphabet (and it needs no escaping).
        let valid = (1..=30).contains(&username.len())
            && username
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Ok(None);
        }
        let Some(body) = ask(&self.users, &format!("/internal/v1/users/{username}")).await? else {
            return Ok(None);
        };
        Ok(Some(Account {
            id: rookery_kernel::events::id_field(&body, "user_id")?,
            username: body["username"].as_str().unwrap_or(username).to_string(),
            active: body["active"].as_bool().unwrap_or(false),
        }))
    }
}

#[async_trait::async_trait]
impl UserSearch for UsersDirectory {
    async fn search_users(
        &self,
        q: &str,
        limit: usize,
        viewer: Option<i64>,
    ) -> anyhow::Result<Vec<serde_json::Value>> {
        if let Some(store) = &self.store {
            let q = q.trim();
            if q.is_empty() {
                return Ok(Vec::new());
            }
            let users = store.search_users(q, viewer, limit).await?;
            return users
                .iter()
                .map(|u| Ok(serde_json::to_value(UserView::public(u))?))
                .collect();
        }
        // (The serializer is not Send: done with before any await.)
        let path = {
            let mut query = url::form_urlencoded::Serializer::new(String::new());
            query
                .append_pair("q", q)
                .append_pair("limit", &limit.to_string());
            if let Some(viewer) = viewer {
                query.append_pair("viewer", &viewer.to_string());
            }
            format!("/internal/v1/users/search?{}", query.finish())
        };
        // No such route (a users service without search): no users.
        let Some(mut body) = ask(&self.users, &path).await? else {
            return Ok(Vec::new());
        };
        match body.get_mut("items").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(items)) => Ok(items),
            _ => anyhow::bail!("users search answer without items"),
        }
    }
}
