//! The direct messages service: messages between two users, replies and
//! quick replies, per-participant deletion and favorites. It keeps a replica
//! of accounts from `user.*` events (asking the users service after a miss)
//! so that only existing, active users receive messages.

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use rookery_kernel::ApiResult;
use rookery_kernel::directory::{AccountDirectory, replica_or_directory};
use rookery_kernel::http::{ReadyCheck, finish_router, ops_routes};
use rookery_kernel::identity::{IdentityKeys, verify_identity};
use rookery_kernel::ids::IdGenerator;
use utoipa::OpenApi;

pub mod domain;
pub mod events;
pub mod http;
pub mod store;

use store::Account;
pub use store::{DynamoMessageStore, MessageStore, PostgresMessageStore, SqliteMessageStore};

pub struct MessagesService {
    pub store: Arc<dyn MessageStore>,
    pub identity: IdentityKeys,
    directory: Arc<dyn AccountDirectory>,
}

impl MessagesService {
    pub fn new(
        store: Arc<dyn MessageStore>,
        identity: IdentityKeys,
        directory: Arc<dyn AccountDirectory>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            identity,
            directory,
        })
    }

    /// The account named `username` if it can receive messages: the replica
    /// first; after a miss (its `user.registered` may still be on the way)
    /// the users service, whose answer is remembered. `None` for an unknown
    /// or deactivated account.
    pub(crate) async fn active_account(&self, username: &str) -> ApiResult<Option<Account>> {
        let account = replica_or_directory(
            username,
            self.store.account(username),
            self.directory.as_ref(),
            async |account| {
                self.store
                    .remember_accounts(std::slice::from_ref(account))
                    .await
            },
        )
        .await?;
        Ok(account.filter(|a| a.active))
    }
}

pub fn router(svc: Arc<MessagesService>) -> Router {
    use http as h;
    let store = svc.store.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    let api = Router::new()
        .route(
            "/api/v1/messages",
            post(h::send_message).get(h::list_messages),
        )
        .route(
            "/api/v1/messages/{id}",
            get(h::get_message).delete(h::delete_message),
        )
        .route(
            "/api/v1/messages/{id}/replies",
            post(h::reply).get(h::list_replies),
        )
        .route(
            "/api/v1/messages/{id}/favorite",
            post(h::favorite).delete(h::unfavorite),
        )
        .layer(middleware::from_fn_with_state(
            svc.identity.clone(),
            verify_identity,
        ))
        .with_state(svc);
    finish_router(api.merge(ops_routes(ready)), "messages")
}

/// The messages part of the public OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        http::send_message, http::list_messages, http::get_message, http::delete_message,
        http::reply, http::list_replies, http::favorite, http::unfavorite,
    ),
    tags((name = "messages", description = "Direct messages between two users"))
)]
pub struct MessagesApi;

/// The service's store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str, ids: Arc<IdGenerator>) -> anyhow::Result<OpenedStore> {
    if url.starts_with("dynamodb://") {
        let url = rookery_kernel::dynamo::DynamoUrl::parse(url)?;
        let signal = rookery_kernel::events::OutboxSignal::default();
        let (store, outbox) = store::DynamoMessageStore::open(&url, ids, signal.clone()).await?;
        return Ok(OpenedStore {
            store: Arc::new(store),
            outbox: Arc::new(outbox),
            signal,
            close: Box::new(|| Box::pin(async {})),
        });
    }
    let pg_ids = ids.clone();
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, signal| Arc::new(SqliteMessageStore::new(db, ids, signal)) as Arc<dyn MessageStore>,
        |pool, signal| {
            Arc::new(PostgresMessageStore::new(pool, pg_ids, signal)) as Arc<dyn MessageStore>
        },
    )
    .await
}

/// An opened store of this service.
pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn MessageStore>;
