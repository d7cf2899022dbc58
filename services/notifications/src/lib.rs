//! The notifications service: notifications built from other services'
//! events (follows, replies, mentions, reposts, likes, direct messages), read
//! state as a per-user watermark, and a replica of blocks and mutes so that
//! nobody is notified by an account hidden from them. Pages show accounts
//! and posts asked of the users and posts services, one batch each.

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use rookery_kernel::http::{ReadyCheck, finish_router, ops_routes};
use rookery_kernel::identity::{IdentityKeys, verify_identity};
use rookery_kernel::ids::IdGenerator;
use utoipa::OpenApi;

pub mod domain;
pub mod events;
pub mod http;
pub mod store;
pub mod views;

pub use store::{NotificationStore, PostgresNotificationStore, SqliteNotificationStore};
pub use views::{AccountViews, PostViews};

pub struct NotificationsService {
    pub store: Arc<dyn NotificationStore>,
    pub identity: IdentityKeys,
    accounts: Arc<dyn AccountViews>,
    posts: Arc<dyn PostViews>,
}

impl NotificationsService {
    pub fn new(
        store: Arc<dyn NotificationStore>,
        identity: IdentityKeys,
        accounts: Arc<dyn AccountViews>,
        posts: Arc<dyn PostViews>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            identity,
            accounts,
            posts,
        })
    }
}

pub fn router(svc: Arc<NotificationsService>) -> Router {
    use http as h;
    let store = svc.store.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    let api = Router::new()
        .route("/api/v1/notifications", get(h::list_notifications))
        .route("/api/v1/notifications/unread_count", get(h::unread_count))
        .route("/api/v1/notifications/read", post(h::mark_read))
        .layer(middleware::from_fn_with_state(
            svc.identity.clone(),
            verify_identity,
        ))
        .with_state(svc);
    finish_router(api.merge(ops_routes(ready)), "notifications")
}

/// The notifications part of the public OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(http::list_notifications, http::unread_count, http::mark_read),
    components(schemas(http::NotificationView, http::NotificationPage, http::CountView, http::ReadRequest)),
    tags((name = "notifications", description = "What others did that concerns you"))
)]
pub struct NotificationsApi;

/// The service's store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str, ids: Arc<IdGenerator>) -> anyhow::Result<OpenedStore> {
    let pg_ids = ids.clone();
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, _| Arc::new(SqliteNotificationStore::new(db, ids)) as Arc<dyn NotificationStore>,
        |pool, _| {
            Arc::new(PostgresNotificationStore::new(pool, pg_ids)) as Arc<dyn NotificationStore>
        },
    )
    .await
}

/// An opened store of this service.
pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn NotificationStore>;
