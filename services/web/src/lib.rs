//! The web client: server-rendered pages for people, served by the gateway at
//! the API's origin. It is a client of the public API (the gateway's API
//! router in process in `rookery serve`, the gateway over HTTP scaled out)
//! and owns only its sessions.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, header};
use rookery_gateway::Upstream;
use rookery_kernel::http::ReadyCheck;
use tokio_util::sync::CancellationToken;

pub mod api;
pub mod assets;
pub mod pages;
pub mod session;
pub mod store;
pub mod views;

pub use store::{PostgresSessionStore, SessionStore, SqliteSessionStore};

pub struct WebService {
    pub api: api::Api,
    pub sessions: Arc<dyn SessionStore>,
    /// Unread notification counts shown in the header, by session (id
    /// hash): (when asked, count). Notifications arrive within 2 seconds
    /// anyway; a count a second old costs every page one API call less.
    pub(crate) unread: quick_cache::sync::Cache<String, (i64, i64)>,
    /// Posts rendered once per version of their JSON.
    pub(crate) cards: views::Cards,
}

/// How long a header's unread count is reused.
pub(crate) const UNREAD_FRESH_MS: i64 = 1_000;

impl WebService {
    /// `api`: where the public API answers (the gateway).
    pub fn new(api: Upstream, sessions: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            api: api::Api::new(api),
            sessions,
            unread: quick_cache::sync::Cache::new(100_000),
            cards: views::Cards::default(),
        })
    }
}

/// The policy every page is served with: no inline script or style, nothing
/// from other origins, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The pages' router (mounted by the gateway at every non-API path).
pub fn router(svc: Arc<WebService>) -> Router {
    use pages::{account, community, inbox, other, people, posts};
    Router::new()
        .route("/", get(posts::home))
        .route("/posts", post(posts::create))
        .route("/login", get(account::login_page).post(account::login))
        .route("/signup", get(account::signup_page).post(account::signup))
        .route("/logout", post(account::logout))
        .route("/u/{name}", get(people::profile))
        .route("/u/{name}/{action}", post(people::relation))
        .route("/p/{id}", get(posts::show).post(posts::back_to_post))
        .route("/p/{id}/reply", post(posts::reply))
        .route("/p/{id}/upvote", post(posts::upvote))
        .route("/p/{id}/downvote", post(posts::downvote))
        .route("/p/{id}/repost", post(posts::repost))
        .route("/p/{id}/delete", post(posts::delete))
        .route("/p/{id}/edit", get(posts::edit_page).post(posts::edit))
        .route("/c/{name}", get(community::show).post(community::submit))
        .route("/messages", get(inbox::list).post(inbox::send))
        .route("/messages/{id}", get(inbox::thread))
        .route("/messages/{id}/reply", post(inbox::reply))
        .route("/notifications", get(inbox::notifications))
        .route(
            "/settings",
            get(people::settings_page).post(people::save_settings),
        )
        .route(
            "/settings/deactivate",
            get(people::deactivate_page).post(people::deactivate),
        )
        .route("/search", get(other::search))
        .route("/polls", post(other::create_poll))
        .route("/polls/new", get(other::new_poll))
        .route("/polls/{id}", get(other::show_poll))
        .route("/polls/{id}/vote", post(other::vote_poll))
        .route("/static/{name}", get(assets::static_file))
        .route("/avatar/{file}", get(assets::avatar))
        .fallback(pages::not_found)
        .method_not_allowed_fallback(pages::not_found)
        .with_state(svc)
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(middleware::from_fn(security_headers))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            pages::PageError::Unavailable("a page handler panicked".into()).into_response()
        }))
}

/// The router of a standalone web instance: pages plus `/healthz`,
/// `/readyz` (the session store answers) and `/metrics`.
pub fn instance_router(svc: Arc<WebService>) -> Router {
    let sessions = svc.sessions.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let sessions = sessions.clone();
        Box::pin(async move { sessions.ping().await.map_err(|e| e.to_string()) })
    });
    rookery_kernel::http::ops_routes(ready).merge(router(svc))
}

/// Forgets expired sessions every hour until `shutdown`.
pub async fn sweep_sessions(sessions: Arc<dyn SessionStore>, shutdown: CancellationToken) {
    loop {
        match sessions
            .delete_expired(rookery_kernel::time::now_ms())
            .await
        {
            Ok(n) if n > 0 => tracing::info!(expired = n, "web sessions swept"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot sweep web sessions"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}

/// The session store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str) -> anyhow::Result<OpenedStore> {
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, _| cached(Arc::new(SqliteSessionStore::new(db))),
        |pool, _| cached(Arc::new(PostgresSessionStore::new(pool))),
    )
    .await
}

fn cached(store: Arc<dyn SessionStore>) -> Arc<dyn SessionStore> {
    Arc::new(store::CachedSessionStore::new(store))
}

pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn SessionStore>;
