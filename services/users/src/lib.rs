//! The users service: accounts, credentials, bearer tokens, follows, karma.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use rookery_kernel::events::DeliveryWait;
use rookery_kernel::http::{ReadyCheck, finish_router, ops_routes};
use rookery_kernel::identity::{IdentityKeys, verify_identity};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::secret::Secret;
use utoipa::OpenApi;

pub mod auth;
pub mod domain;
pub mod events;
pub mod http;
pub mod store;

pub use auth::{AuthConfig, Authenticator};
pub use store::{PostgresUserStore, SqliteUserStore, UserStore};

/// What the handlers share.
pub struct UsersService {
    pub store: Arc<dyn UserStore>,
    pub auth: Authenticator,
    pub identity: IdentityKeys,
    /// Set in the embedded mode: block and mute changes answer once every
    /// consumer applied them (see [`UsersService::with_delivery_wait`]).
    delivery: OnceLock<DeliveryWait>,
}

/// The service's store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str, ids: Arc<IdGenerator>) -> anyhow::Result<OpenedStore> {
    let pg_ids = ids.clone();
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, signal| Arc::new(SqliteUserStore::new(db, ids, signal)) as Arc<dyn UserStore>,
        |pool, signal| Arc::new(PostgresUserStore::new(pool, pg_ids, signal)) as Arc<dyn UserStore>,
    )
    .await
}

/// An opened store of this service.
pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn UserStore>;

impl UsersService {
    pub async fn new(
        store: Arc<dyn UserStore>,
        secret: &Secret,
        config: AuthConfig,
    ) -> anyhow::Result<Arc<Self>> {
        let auth = Authenticator::new(store.clone(), secret, config)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Arc::new(Self {
            store,
            auth,
            identity: IdentityKeys::new(secret),
            delivery: OnceLock::new(),
        }))
    }

    /// Makes block and mute changes wait (at most 2 s) until the relay
    /// delivered their events before answering. A second call changes nothing.
    pub fn with_delivery_wait(self: Arc<Self>, wait: DeliveryWait) -> Arc<Self> {
        let _ = self.delivery.set(wait);
        self
    }

    /// Waits for the events just committed to be delivered, when configured.
    pub async fn wait_for_delivery(&self, limit: Duration) {
        if let Some(wait) = self.delivery.get()
            && !wait.wait(limit).await
        {
            tracing::warn!("block or mute change not delivered within {limit:?}");
        }
    }
}

/// Every route of the service, with the shared layers.
pub fn router(svc: Arc<UsersService>) -> Router {
    use http::{auth as a, follows as f, internal as i, relations as r, users as u};
    let store = svc.store.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    let api = Router::new()
        .route("/api/v1/users", post(u::register).get(u::list))
        .route(
            "/api/v1/users/{username}",
            get(u::get).patch(u::update).delete(u::deactivate),
        )
        .route(
            "/api/v1/users/{username}/follow",
            post(f::follow).delete(f::unfollow),
        )
        .route(
            "/api/v1/users/{username}/block",
            post(r::block).delete(r::unblock),
        )
        .route(
            "/api/v1/users/{username}/mute",
            post(r::mute).delete(r::unmute),
        )
        .route("/api/v1/blocks", get(r::blocks))
        .route("/api/v1/relationships", get(r::relationships))
        .route("/api/v1/mutes", get(r::mutes))
        .route("/api/v1/users/{username}/followers", get(f::followers))
        .route("/api/v1/users/{username}/following", get(f::following))
        .route(
            "/api/v1/auth/token",
            post(a::create_token).delete(a::revoke_token),
        )
        .route("/api/v1/auth/whoami", get(a::whoami))
        .route("/internal/v1/authenticate", post(i::authenticate))
        .route("/internal/v1/users", get(i::users_batch))
        .route("/internal/v1/users/search", get(i::search))
        .route("/internal/v1/users/{username}", get(i::account))
        .layer(middleware::from_fn_with_state(
            svc.identity.clone(),
            verify_identity,
        ))
        .with_state(svc);
    finish_router(api.merge(ops_routes(ready)), "users")
}

/// The users part of the public OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        http::users::register, http::users::list, http::users::get, http::users::update,
        http::users::deactivate, http::auth::create_token, http::auth::revoke_token,
        http::auth::whoami, http::follows::follow, http::follows::unfollow,
        http::follows::followers, http::follows::following,
        http::relations::block, http::relations::unblock, http::relations::mute,
        http::relations::unmute, http::relations::blocks, http::relations::mutes,
        http::relations::relationships,
    ),
    components(schemas(rookery_kernel::error::ErrorBody)),
    tags(
        (name = "users", description = "Accounts and profiles"),
        (name = "auth", description = "Bearer tokens"),
        (name = "follows", description = "The follow graph"),
        (name = "blocks", description = "Blocks and mutes (private to who makes them)"),
    )
)]
pub struct UsersApi;
