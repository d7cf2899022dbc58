//! The Mastodon client API on its own origin, so existing Mastodon apps
//! (toot, Mastodon.py, masto.js and what is built on them) work against
//! Rookery unchanged. It is a client of the public API (the gateway's API
//! router in process in `rookery serve`, the gateway over HTTP scaled out)
//! and owns only its OAuth apps, codes and app tokens.

use std::sync::Arc;

use ::http::{HeaderName, Method};
use axum::Router;
use axum::routing::{delete, get, post};
use rookery_gateway::Upstream;
use rookery_gateway::client::Api;
use rookery_kernel::http::ReadyCheck;
use tokio_util::sync::CancellationToken;

pub mod ctx;
pub mod entities;
pub mod error;
pub mod http;
pub mod native;
pub mod paging;
pub mod params;
pub mod render;
pub mod scopes;
pub mod store;
pub mod streaming;

pub use store::{MastodonStore, PostgresMastodonStore, SqliteMastodonStore};

/// The Mastodon version Rookery speaks: 4.3's API (API version 2), in the
/// `X.Y.Z (compatible; ...)` form clients parse.
pub const MASTODON_VERSION: &str = "4.3.0";

#[derive(Debug, Clone)]
pub struct MastodonConfig {
    /// Where the web client serves people's and posts' pages
    /// (`ROOKERY_WEB_URL`), for `url` fields and avatars.
    pub web_url: String,
    /// The instance's name (`ROOKERY_INSTANCE_TITLE`, default "Rookery").
    pub title: String,
    /// This API's own public origin (`ROOKERY_MASTODON_URL`), for what is
    /// rendered outside a request (streamed statuses).
    pub public_url: String,
}

impl MastodonConfig {
    pub fn from_env(default_web_url: &str, default_public_url: &str) -> Self {
        Self {
            public_url: std::env::var("ROOKERY_MASTODON_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default_public_url.to_string())
                .trim_end_matches('/')
                .to_string(),
            web_url: std::env::var("ROOKERY_WEB_URL")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default_web_url.to_string())
                .trim_end_matches('/')
                .to_string(),
            title: std::env::var("ROOKERY_INSTANCE_TITLE")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "Rookery".to_string()),
        }
    }

    pub fn version(&self) -> String {
        format!(
            "{MASTODON_VERSION} (compatible; Rookery {})",
            env!("CARGO_PKG_VERSION")
        )
    }
}

pub struct MastodonService {
    pub api: Api,
    pub store: Arc<dyn MastodonStore>,
    pub config: MastodonConfig,
    pub hub: streaming::Hub,
    /// The stores themselves, where this process holds them (`rookery serve`).
    pub direct: Option<Arc<dyn native::DirectReads>>,
    /// Which posts carry a poll, held in memory where this process is the
    /// only writer of the links (`rookery serve`, with `direct`); `None`
    /// scaled out, where other instances link polls too.
    poll_links: Option<PollLinks>,
    /// Statuses' caller-independent JSON, written once per version.
    pub written: render::StatusMemo,
}

/// Every poll link, loaded at first use and kept as this process writes
/// them: most pages show no poll, and asking the database which of a page's
/// posts have one cost more than any other part of the page. A link is
/// written under the lock that a load also holds, so a load never misses
/// one written while it read.
#[derive(Default)]
struct PollLinks(tokio::sync::RwLock<Option<std::collections::HashMap<i64, i64>>>);

impl PollLinks {
    async fn of(
        &self,
        store: &dyn MastodonStore,
        post_ids: &[i64],
    ) -> store::StoreResult<Vec<(i64, i64)>> {
        let pick = |links: &std::collections::HashMap<i64, i64>| {
            post_ids
                .iter()
                .filter_map(|id| Some((*id, *links.get(id)?)))
                .collect()
        };
        if let Some(links) = self.0.read().await.as_ref() {
            return Ok(pick(links));
        }
        let mut loaded = self.0.write().await;
        if loaded.is_none() {
            *loaded = Some(store.poll_links().await?.into_iter().collect());
        }
        Ok(loaded.as_ref().map(pick).unwrap_or_default())
    }

    async fn link(
        &self,
        store: &dyn MastodonStore,
        post_id: i64,
        poll_id: i64,
    ) -> store::StoreResult<()> {
        let mut loaded = self.0.write().await;
        store.link_poll(post_id, poll_id).await?;
        if let Some(links) = loaded.as_mut() {
            // As the table: the first link of a post stays.
            links.entry(post_id).or_insert(poll_id);
        }
        Ok(())
    }
}

impl MastodonService {
    /// `api`: where the public API answers (the gateway).
    pub fn new(api: Upstream, store: Arc<dyn MastodonStore>, config: MastodonConfig) -> Arc<Self> {
        Self::build(api, store, config, None)
    }

    /// [`Self::new`] whose pages read accounts, posts and the caller's
    /// votes and reposts from `direct` rather than through the API.
    pub fn with_direct_reads(
        api: Upstream,
        store: Arc<dyn MastodonStore>,
        config: MastodonConfig,
        direct: Arc<dyn native::DirectReads>,
    ) -> Arc<Self> {
        Self::build(api, store, config, Some(direct))
    }

    fn build(
        api: Upstream,
        store: Arc<dyn MastodonStore>,
        config: MastodonConfig,
        direct: Option<Arc<dyn native::DirectReads>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            api: Api::new(api),
            store,
            config,
            hub: streaming::Hub::default(),
            poll_links: direct.is_some().then(PollLinks::default),
            direct,
            written: render::StatusMemo::default(),
        })
    }

    /// (post id, poll id) for those of `post_ids` that carry a poll.
    pub async fn polls_of(&self, post_ids: &[i64]) -> store::StoreResult<Vec<(i64, i64)>> {
        match &self.poll_links {
            Some(links) => links.of(self.store.as_ref(), post_ids).await,
            None => self.store.polls_of(post_ids).await,
        }
    }

    /// Links a status's post to the poll made with it.
    pub async fn link_poll(&self, post_id: i64, poll_id: i64) -> store::StoreResult<()> {
        match &self.poll_links {
            Some(links) => links.link(self.store.as_ref(), post_id, poll_id).await,
            None => self.store.link_poll(post_id, poll_id).await,
        }
    }
}

/// CORS as Mastodon sends it: any origin, no cookies, the paging and rate
/// limit headers readable by scripts.
fn cors() -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static("link"),
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(std::time::Duration::from_secs(3600))
}

/// The Mastodon API's router. Trailing slashes are trimmed before routing
/// (clients call `/api/v1/instance/` and `/oauth/authorize/`).
pub fn router(svc: Arc<MastodonService>) -> Router {
    use http::{accounts, instance, notifications, oauth, statuses, timelines};
    let routes = Router::new()
        .route("/api/v1/instance", get(instance::v1))
        .route("/api/v2/instance", get(instance::v2))
        .route("/api/v1/custom_emojis", get(instance::custom_emojis))
        .route("/api/v1/preferences", get(instance::preferences))
        .route(
            "/api/v1/markers",
            get(instance::markers).post(instance::save_markers),
        )
        .route("/api/v1/filters", get(instance::empty_list))
        .route("/api/v2/filters", get(instance::empty_list))
        .route("/api/v1/lists", get(instance::empty_list))
        .route("/api/v1/follow_requests", get(instance::empty_list))
        .route("/api/v1/announcements", get(instance::empty_list))
        .route("/api/v1/bookmarks", get(instance::empty_list))
        .route("/api/v1/trends/tags", get(instance::trending_tags))
        .route(
            "/headers/original/missing.png",
            get(instance::missing_header),
        )
        .route("/api/v1/apps", post(oauth::create_app))
        .route("/api/v1/apps/verify_credentials", get(oauth::verify_app))
        .route(
            "/oauth/authorize",
            get(oauth::authorize_page).post(oauth::authorize),
        )
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route(
            "/api/v1/accounts/verify_credentials",
            get(accounts::verify_credentials),
        )
        .route(
            "/api/v1/accounts/update_credentials",
            axum::routing::patch(accounts::update_credentials),
        )
        .route(
            "/api/v1/accounts/relationships",
            get(accounts::relationships),
        )
        .route("/api/v1/accounts/lookup", get(accounts::lookup))
        .route("/api/v1/accounts/search", get(accounts::search))
        .route("/api/v1/accounts/{id}", get(accounts::show))
        .route("/api/v1/accounts/{id}/statuses", get(accounts::statuses))
        .route("/api/v1/accounts/{id}/followers", get(accounts::followers))
        .route("/api/v1/accounts/{id}/following", get(accounts::following))
        .route("/api/v1/accounts/{id}/{action}", post(accounts::act))
        .route("/api/v1/blocks", get(accounts::blocks))
        .route("/api/v1/mutes", get(accounts::mutes))
        .route("/api/v1/statuses", post(statuses::create))
        .route(
            "/api/v1/statuses/{id}",
            get(statuses::show)
                .put(statuses::edit)
                .delete(statuses::remove),
        )
        .route("/api/v1/statuses/{id}/context", get(statuses::context))
        .route("/api/v1/statuses/{id}/{action}", post(statuses::act))
        .route("/api/v1/polls/{id}", get(statuses::poll))
        .route("/api/v1/polls/{id}/votes", post(statuses::vote))
        .route("/api/v1/timelines/home", get(timelines::home))
        .route("/api/v1/timelines/public", get(timelines::public))
        .route("/api/v1/timelines/tag/{tag}", get(timelines::tag))
        .route("/api/v1/conversations", get(timelines::conversations))
        .route("/api/v2/search", get(timelines::search))
        .route("/api/v1/notifications", get(notifications::list))
        .route("/api/v1/notifications/clear", post(notifications::clear))
        .route("/api/v1/notifications/{id}", get(notifications::show))
        .route(
            "/api/v1/notifications/{id}/dismiss",
            post(notifications::dismiss),
        )
        .route(
            "/api/v1/conversations/{id}",
            delete(timelines::forget_conversation),
        )
        .route("/api/v1/streaming", get(streaming::websocket))
        .route("/api/v1/streaming/health", get(streaming::health))
        .route("/api/v1/streaming/{*path}", get(streaming::sse))
        .fallback(instance::not_found)
        .method_not_allowed_fallback(instance::not_found)
        .with_state(svc)
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024))
        .layer(cors())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(error::MastoError::unavailable(
                "a handler panicked",
            ))
        }));
    let trimmed = tower_http::normalize_path::NormalizePathLayer::trim_trailing_slash();
    Router::new().fallback_service(tower::Layer::layer(&trimmed, routes))
}

/// The router of a standalone instance: the API plus `/healthz`, `/readyz`
/// (its store answers) and `/metrics`.
pub fn instance_router(svc: Arc<MastodonService>) -> Router {
    let store = svc.store.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let store = store.clone();
        Box::pin(async move { store.ping().await.map_err(|e| e.to_string()) })
    });
    rookery_kernel::http::ops_routes(ready).merge(router(svc))
}

/// Forgets expired authorization codes every ten minutes until `shutdown`.
pub async fn sweep_codes(store: Arc<dyn MastodonStore>, shutdown: CancellationToken) {
    loop {
        match store
            .delete_expired_codes(rookery_kernel::time::now_ms())
            .await
        {
            Ok(n) if n > 0 => tracing::info!(expired = n, "oauth codes swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot sweep oauth codes"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
    }
}

/// The store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str) -> anyhow::Result<OpenedStore> {
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, _| Arc::new(SqliteMastodonStore::new(db)) as Arc<dyn MastodonStore>,
        |pool, _| Arc::new(PostgresMastodonStore::new(pool)) as Arc<dyn MastodonStore>,
    )
    .await
}

pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn MastodonStore>;
