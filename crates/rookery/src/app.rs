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
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::secret::Secret;
use rookery_users::store::CachedUserStore;
use rookery_users::{AuthConfig, UserStore, UsersService};
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
    tasks.spawn(run_relay(
        users.outbox.clone(),
        bus.clone(),
        users.signal.clone(),
        shutdown.clone(),
    ));
    let users_router = rookery_users::router(users_service.clone());

    let upstreams = HashMap::from([("users".to_string(), Upstream::InProcess(users_router))]);
    let gateway = Gateway::new(upstreams, Some(users_service))?;
    Ok(App {
        router: rookery_gateway::router(gateway, crate::openapi::document()),
        bus,
        shutdown,
        tasks,
        closers: vec![users.close],
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
