//! The API gateway: one public address in front of every service. It routes
//! by path, turns client credentials into a signed identity (through the users
//! service), forwards to in-process routers or HTTP instance pools, and serves
//! the OpenAPI document and its documentation page.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use ratelimit::Kind;
use rookery_kernel::events::nats::JetStreamConfig;
use rookery_kernel::events::topics;
use rookery_kernel::http::{ReadyCheck, finish_router, ops_routes};
use rookery_kernel::identity::{Authenticate, IDENTITY_HEADER};
use rookery_kernel::{ApiError, ApiResult};
use tokio_util::sync::CancellationToken;
use utoipa_swagger_ui::SwaggerUi;

pub mod admin;
pub mod client;
pub mod discovery;
pub mod identity_cache;
pub mod ratelimit;
pub mod upstream;

pub use identity_cache::{IdentityCache, IdentityCacheConfig};
pub use ratelimit::{Rate, RateLimitConfig, RateLimiter};
pub use upstream::{HttpPool, PoolConfig, Upstream};

/// Public routes and the service that serves each.
pub const ROUTES: &[(&str, &str)] = &[
    ("/api/v1/users", "users"),
    ("/api/v1/users/{username}", "users"),
    ("/api/v1/users/{username}/follow", "users"),
    ("/api/v1/users/{username}/followers", "users"),
    ("/api/v1/users/{username}/following", "users"),
    ("/api/v1/users/{username}/block", "users"),
    ("/api/v1/users/{username}/mute", "users"),
    ("/api/v1/blocks", "users"),
    ("/api/v1/mutes", "users"),
    ("/api/v1/relationships", "users"),
    ("/api/v1/auth/token", "users"),
    ("/api/v1/auth/whoami", "users"),
    ("/api/v1/posts", "posts"),
    ("/api/v1/posts/{id}", "posts"),
    ("/api/v1/posts/{id}/history", "posts"),
    ("/api/v1/posts/{id}/repost", "posts"),
    ("/api/v1/posts/{id}/replies", "posts"),
    ("/api/v1/reposts", "posts"),
    ("/api/v1/communities/{name}/posts", "posts"),
    ("/api/v1/users/{username}/posts", "posts"),
    ("/api/v1/timelines/public", "posts"),
    ("/api/v1/timelines/home", "posts"),
    ("/api/v1/tags", "posts"),
    ("/api/v1/tags/{tag}/posts", "posts"),
    ("/api/v1/search", "posts"),
    ("/api/v1/posts/{id}/vote", "votes"),
    ("/api/v1/posts/{id}/upvote", "votes"),
    ("/api/v1/posts/{id}/downvote", "votes"),
    ("/api/v1/posts/{id}/like", "votes"),
    ("/api/v1/posts/{id}/votes", "votes"),
    ("/api/v1/votes/top", "votes"),
    ("/api/v1/votes/sort", "votes"),
    ("/api/v1/votes/tallies", "votes"),
    ("/api/v1/users/{username}/likes", "votes"),
    ("/api/v1/polls", "votes"),
    ("/api/v1/polls/{id}", "votes"),
    ("/api/v1/polls/{id}/votes", "votes"),
    ("/api/v1/messages", "messages"),
    ("/api/v1/messages/{id}", "messages"),
    ("/api/v1/messages/{id}/replies", "messages"),
    ("/api/v1/messages/{id}/favorite", "messages"),
    ("/api/v1/notifications", "notifications"),
    ("/api/v1/notifications/unread_count", "notifications"),
    ("/api/v1/notifications/read", "notifications"),
];

/// Every service the gateway routes to (`web`: every path that is not the
/// API's), in the order a formation starts them (`rookery up`).
pub const SERVICES: &[&str] = &[
    "users",
    "posts",
    "votes",
    "messages",
    "notifications",
    "web",
    "mastodon",
];

/// Headers that belong to one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

pub struct Gateway {
    upstreams: HashMap<String, Upstream>,
    authenticator: Arc<dyn Authenticate>,
    limiter: RateLimiter,
    /// `ROOKERY_ADMIN_TOKEN`; without it the admin routes answer 404.
    admin_token: Option<String>,
    /// Credentials the users service verified (scaled out only).
    identities: Option<Arc<IdentityCache>>,
    events: Option<JetStreamConfig>,
    /// API requests being served by in-process services, and the most allowed.
    in_process: Arc<AtomicUsize>,
    max_in_process: usize,
}

/// Default of [`GatewayOptions::max_in_flight`] (`ROOKERY_MAX_IN_FLIGHT`).
pub const DEFAULT_MAX_IN_FLIGHT: usize = 128;

/// What a gateway enforces besides routing.
pub struct GatewayOptions {
    pub limiter: RateLimiter,
    pub admin_token: Option<String>,
    /// How long verified credentials are kept when the users service is
    /// reached over HTTP.
    pub identity_cache: IdentityCacheConfig,
    /// Where the users service's events are heard (NATS), so credentials
    /// revoked through another gateway leave this one's cache at once.
    pub events: Option<JetStreamConfig>,
    /// API requests served by in-process services (`rookery serve`) at once,
    /// all services together; beyond it 503 with `Retry-After: 1` instead of
    /// an unbounded queue. (HTTP instances have their own limit,
    /// [`PoolConfig::max_in_flight`].)
    pub max_in_flight: usize,
}

impl GatewayOptions {
    /// Rate limits, the in-flight limit and the identity cache from the
    /// environment, in-process buckets, no admin routes.
    pub fn local() -> Self {
        Self {
            limiter: RateLimiter::new(RateLimitConfig::from_env(), None),
            admin_token: None,
            identity_cache: IdentityCacheConfig::from_env(),
            events: JetStreamConfig::from_env(),
            max_in_flight: max_in_flight_from_env(),
        }
    }
}

/// `ROOKERY_MAX_IN_FLIGHT`, or [`DEFAULT_MAX_IN_FLIGHT`].
pub fn max_in_flight_from_env() -> usize {
    std::env::var("ROOKERY_MAX_IN_FLIGHT")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(DEFAULT_MAX_IN_FLIGHT)
        .max(1)
}

/// Counts a request against the in-process limit until dropped (also when
/// the client goes away and the request is cancelled).
struct InProcessSlot(Arc<AtomicUsize>);

impl InProcessSlot {
    fn acquire(count: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        let slot = Self(count.clone());
        (before < max).then_some(slot)
    }
}

impl Drop for InProcessSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Gateway {
    /// `upstreams` must include `users`. Without an `authenticator` (scaled
    /// out), credentials are checked by the users service over HTTP.
    pub fn new(
        upstreams: HashMap<String, Upstream>,
        authenticator: Option<Arc<dyn Authenticate>>,
        options: GatewayOptions,
    ) -> anyhow::Result<Arc<Self>> {
        let users = upstreams
            .get("users")
            .cloned()
            .context("the gateway needs a users upstream to authenticate requests")?;
        // In process, asking the users service costs no hop: nothing to keep.
        let identities = authenticator
            .is_none()
            .then(|| IdentityCache::new(options.identity_cache).map(Arc::new))
            .flatten();
        let authenticator = authenticator.unwrap_or_else(|| {
            Arc::new(UsersOverHttp {
                users,
                identities: identities.clone(),
            }) as Arc<dyn Authenticate>
        });
        Ok(Arc::new(Self {
            upstreams,
            authenticator,
            limiter: options.limiter,
            admin_token: options.admin_token.filter(|t| !t.is_empty()),
            identities,
            events: options.events,
            in_process: Arc::new(AtomicUsize::new(0)),
            max_in_process: options.max_in_flight.max(1),
        }))
    }

    /// Until `shutdown`, applies the users service's credential events to
    /// the identity cache (when there are both a cache and a bus), watching
    /// again after a lost connection.
    pub async fn watch_credential_events(self: Arc<Self>, shutdown: CancellationToken) {
        let (Some(cache), Some(config)) = (self.identities.clone(), self.events.clone()) else {
            return;
        };
        let topics = [
            topics::USER_DEACTIVATED,
            topics::USER_CREDENTIALS_CHANGED,
            topics::SESSION_REVOKED,
        ];
        loop {
            match rookery_kernel::events::nats::watch(&config, &topics).await {
                Ok(mut events) => loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        event = events.recv() => match event {
                            Some(e) => cache.apply_event(&e.topic, &e.payload),
                            None => break,
                        },
                    }
                },
                Err(err) => {
                    tracing::warn!(error = %err, "cannot watch credential events; retrying")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}

/// The gateway's router. `openapi` is the merged document of every service.
pub fn router(gateway: Arc<Gateway>, openapi: utoipa::openapi::OpenApi) -> Router {
    let mut api = Router::new();
    for (path, service) in ROUTES {
        if gateway.upstreams.contains_key(*service) {
            let service: &'static str = service;
            api = api.route(
                path,
                any(move |state: State<Arc<Gateway>>, req: Request| proxy(state, service, req)),
            );
        }
    }
    let probe = gateway.clone();
    let ready: ReadyCheck = Arc::new(move || {
        let gateway = probe.clone();
        Box::pin(async move {
            let down: Vec<&str> = gateway
                .upstreams
                .iter()
                .filter(|(_, u)| !u.ready())
                .map(|(name, _)| name.as_str())
                .collect();
            if down.is_empty() {
                Ok(())
            } else {
                Err(format!("no healthy instance of: {}", down.join(", ")))
            }
        })
    });
    let pages = gateway.upstreams.get("web").cloned();
    let api = api
        .merge(admin::routes())
        .with_state(gateway)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .merge(ops_routes(ready));
    let api = finish_router(api, "gateway");
    match pages {
        Some(pages) => with_pages(api, pages),
        None => api,
    }
}

/// True for the paths of the JSON API, the documentation and operations;
/// every other path is a web page.
pub fn is_api_path(path: &str) -> bool {
    const EXACT: &[&str] = &[
        "/api",
        "/internal",
        "/admin",
        "/docs",
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    ["/api/", "/internal/", "/admin/", "/docs/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || EXACT.contains(&path)
}

/// `api` for API paths (unknown ones keep its JSON 404), the web client
/// (`pages`: in process or a pool of `web` instances) for everything else.
pub fn with_pages(api: Router, pages: Upstream) -> Router {
    use tower::ServiceExt;
    Router::new().fallback(move |req: Request| {
        let (api, pages) = (api.clone(), pages.clone());
        async move {
            if is_api_path(req.uri().path()) {
                return api.oneshot(req).await.into_response();
            }
            match &pages {
                // In process the request goes on as it came, connection info included.
                Upstream::InProcess(router) => router.clone().oneshot(req).await.into_response(),
                Upstream::Http(_) => forward_page(&pages, req).await,
            }
        }
    })
}

/// A page request to a `web` instance: hop-by-hop headers dropped, the
/// client's address and scheme added.
async fn forward_page(pages: &Upstream, req: Request) -> Response {
    forward(pages, req, |status| match status {
        http::StatusCode::PAYLOAD_TOO_LARGE => {
            page_unavailable(status, "That was too much to send at once.")
        }
        _ => page_unavailable(status, "Rookery is busy. Try again in a moment."),
    })
    .await
}

/// Forwards a request as it came (hop-by-hop headers dropped, the client's
/// address added); `failed` answers when it is too large or no instance could.
async fn forward(
    upstream: &Upstream,
    req: Request,
    failed: impl Fn(http::StatusCode) -> Response,
) -> Response {
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let (mut parts, body) = req.into_parts();
    let body = match rookery_kernel::extract::read_body(&parts.headers, body).await {
        Ok(body) => body,
        Err(e) => return failed(e.status),
    };
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(IDENTITY_HEADER);
    if let Some(ip) = &client_ip {
        append_forwarded_for(&mut parts.headers, ip);
    }
    parts.extensions = http::Extensions::new();
    match upstream.send(http::Request::from_parts(parts, body)).await {
        Ok(response) => {
            let (mut parts, body) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Response::from_parts(parts, body)
        }
        Err(_) => failed(http::StatusCode::SERVICE_UNAVAILABLE),
    }
}

/// The gateway's second origin (the Mastodon API): every request goes to
/// `upstream` (a pool of `mastodon` instances) as it came; JSON errors in
/// Mastodon's shape when none answers.
pub fn forward_all(upstream: Upstream) -> Router {
    Router::new().fallback(move |req: Request| {
        let upstream = upstream.clone();
        async move {
            forward(&upstream, req, |status| {
                let mut response = (
                    status,
                    axum::Json(serde_json::json!({
                        "error": if status == http::StatusCode::PAYLOAD_TOO_LARGE {
                            "Request entity too large"
                        } else {
                            "The service is unavailable; try again"
                        }
                    })),
                )
                    .into_response();
                if status == http::StatusCode::SERVICE_UNAVAILABLE {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, http::HeaderValue::from_static("1"));
                }
                response
            })
            .await
        }
    })
}

/// The gateway's own HTML answer when no web instance could answer.
fn page_unavailable(status: http::StatusCode, message: &'static str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unavailable · Rookery</title></head><body><main><h1>Unavailable</h1><p>{message}</p></main></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::RETRY_AFTER, "1"),
        ],
        body,
    )
        .into_response()
}

async fn proxy(
    State(gateway): State<Arc<Gateway>>,
    service: &'static str,
    req: Request,
) -> ApiResult<Response> {
    let client_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let upstream = gateway
        .upstreams
        .get(service)
        .ok_or_else(|| ApiError::not_found("no such route"))?;
    if let Some(ip) = &client_ip {
        if let Err(limited) = gateway.limiter.check(Kind::Ip, ip).await {
            return Ok(limited.into_response());
        }
        let registration = service == "users"
            && req.method() == http::Method::POST
            && req.uri().path() == "/api/v1/users";
        if registration && let Err(limited) = gateway.limiter.check(Kind::Registration, ip).await {
            return Ok(limited.into_response());
        }
    }
    // Shed instead of queueing: past the limit, in-process services answer
    // 503 at once (before authentication and the body, which cost work too).
    let _slot = match upstream {
        Upstream::InProcess(_) => Some(
            InProcessSlot::acquire(&gateway.in_process, gateway.max_in_process)
                .ok_or_else(|| ApiError::unavailable("the server is overloaded; try again"))?,
        ),
        Upstream::Http(_) => None,
    };
    let (mut parts, body) = req.into_parts();
    let body = rookery_kernel::extract::read_body(&parts.headers, body).await?;

    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    // Identity comes only from the gateway's own authentication.
    headers.remove(IDENTITY_HEADER);
    if let Some(ip) = &client_ip {
        append_forwarded_for(headers, ip);
    }
    let mut caller_identity = None;
    if let Some(authorization) = headers.remove(header::AUTHORIZATION) {
        let authorization = authorization
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        match gateway
            .authenticator
            .authenticate(authorization, client_ip.as_deref())
            .await
        {
            Ok(token) => {
                if let Some(user) = identity_subject(&token)
                    && let Err(limited) = gateway.limiter.check(Kind::User, &user).await
                {
                    return Ok(limited.into_response());
                }
                if changes_state(&parts.method, parts.uri.path()) && read_only_bearer(authorization)
                {
                    return Err(ApiError::new(
                        http::StatusCode::FORBIDDEN,
                        "insufficient_scope",
                        "this token's scope is read-only: it grants no `write` scope",
                    ));
                }
                headers.insert(
                    IDENTITY_HEADER,
                    HeaderValue::from_str(&token).map_err(ApiError::internal)?,
                );
                caller_identity = Some(token);
            }
            Err(rejection) => return Ok(rejection),
        }
    }
    // A fresh request for the service: nothing of the gateway's routing
    // (matched path, connection info) leaks into the service's extractors.
    parts.extensions = http::Extensions::new();
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    let response = upstream
        .send(http::Request::from_parts(parts, body))
        .await?;
    if response.status().is_success()
        && let (Some(cache), Some(identity)) = (&gateway.identities, &caller_identity)
    {
        // A logout or credential change through here: its entries go now.
        cache.after_response(&method, &path, identity);
    }
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(parts, body))
}

/// The user id (`sub`) inside an identity token the users service just
/// issued: trusted as is, so no signature check (the gateway may not even
/// hold the secret).
fn identity_subject(token: &str) -> Option<String> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    // Compact JSON written by the users service: a scan is enough, and it is
    // on every authenticated request.
    const SUB: &[u8] = br#""sub":""#;
    let start = json.windows(SUB.len()).position(|w| w == SUB)? + SUB.len();
    let len = json[start..].iter().position(|&b| b == b'"')?;
    String::from_utf8(json[start..start + len].to_vec()).ok()
}

/// Whether a request may change something: any method but GET, HEAD and
/// OPTIONS, except logging out (a read-only token may end itself).
fn changes_state(method: &http::Method, path: &str) -> bool {
    use http::Method;
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let logout = *method == Method::DELETE && path == "/api/v1/auth/token";
    !(safe || logout)
}

/// Whether `authorization` is a bearer token issued for OAuth scopes none of
/// which is `write` or `write:...` (a read-only token). Read without its
/// key: only called once the users service verified the token (a cached
/// answer is for this exact header too). Tokens without a `scope` claim
/// have full access.
fn read_only_bearer(authorization: &str) -> bool {
    use base64::Engine;
    let Some((scheme, token)) = authorization.trim().split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    let Some(payload) = token.trim().split('.').nth(1) else {
        return false;
    };
    let Ok(json) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return false;
    };
    #[derive(serde::Deserialize)]
    struct Scoped {
        scope: Option<String>,
    }
    match serde_json::from_slice::<Scoped>(&json) {
        Ok(Scoped { scope: Some(scope) }) => !rookery_kernel::identity::scope_allows_writes(&scope),
        _ => false,
    }
}

/// Removes the fixed hop-by-hop headers and any header `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// `X-Forwarded-For: <what the client sent>, <client ip>`.
fn append_forwarded_for(headers: &mut HeaderMap, ip: &str) {
    let previous: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let value = if previous.is_empty() {
        ip.to_string()
    } else {
        format!("{}, {ip}", previous.join(", "))
    };
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert("x-forwarded-for", value);
    }
}

/// Asks a users instance who the credentials belong to
/// (`POST /internal/v1/authenticate`), unless it answered for the same
/// `Authorization` moments ago; its refusals (401/429) go to the client as is.
struct UsersOverHttp {
    users: Upstream,
    identities: Option<Arc<IdentityCache>>,
}

impl UsersOverHttp {
    async fn call(&self, authorization: &str, client_ip: Option<&str>) -> Result<String, Response> {
        if let Some(identity) = self.identities.as_ref().and_then(|c| c.get(authorization)) {
            return Ok(identity);
        }
        let identity = self.ask(authorization, client_ip).await?;
        if let Some(cache) = &self.identities {
            cache.insert(authorization, &identity);
        }
        Ok(identity)
    }

    async fn ask(&self, authorization: &str, client_ip: Option<&str>) -> Result<String, Response> {
        let body = serde_json::json!({"authorization": authorization, "client_ip": client_ip});
        let req = http::Request::post("/internal/v1/authenticate")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body.to_string()))
            .map_err(|e| ApiError::internal(e).into_response())?;
        let response = self
            .users
            .send(req)
            .await
            .map_err(IntoResponse::into_response)?;
        if !response.status().is_success() {
            return Err(response);
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| ApiError::internal(e).into_response())?
            .to_bytes();
        #[derive(serde::Deserialize)]
        struct Authenticated {
            identity: String,
        }
        serde_json::from_slice::<Authenticated>(&bytes)
            .map(|a| a.identity)
            .map_err(|e| ApiError::internal(e).into_response())
    }
}

impl Authenticate for UsersOverHttp {
    fn authenticate<'a>(
        &'a self,
        authorization: &'a str,
        client_ip: Option<&'a str>,
    ) -> BoxFuture<'a, Result<String, Response>> {
        Box::pin(self.call(authorization, client_ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_of_an_identity_token_is_read_without_its_key() {
        use base64::Engine;
        let claims = br#"{"sub":"7214859302147","name":"alice","method":"basic","aud":"rookery-internal","exp":1}"#;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims);
        let token = format!("eyJhbGciOiJIUzI1NiJ9.{payload}.signature");
        assert_eq!(identity_subject(&token).as_deref(), Some("7214859302147"));
        assert_eq!(identity_subject("not a token"), None);
        assert_eq!(identity_subject("a.%%%.c"), None);
    }

    #[test]
    fn tokens_without_a_write_scope_are_read_only() {
        use base64::Engine;
        let bearer = |claims: serde_json::Value| {
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(claims.to_string().as_bytes());
            format!("Bearer eyJhbGciOiJIUzI1NiJ9.{payload}.signature")
        };
        for read_only in ["read", "read push", "read:statuses", "writes"] {
            let header = bearer(serde_json::json!({"sub": "1", "scope": read_only}));
            assert!(read_only_bearer(&header), "{read_only}");
        }
        for writes in ["write", "read write", "read write:statuses"] {
            let header = bearer(serde_json::json!({"sub": "1", "scope": writes}));
            assert!(!read_only_bearer(&header), "{writes}");
        }
        // No scope claim (every token issued without `scope`): full access.
        assert!(!read_only_bearer(&bearer(serde_json::json!({"sub": "1"}))));
        assert!(!read_only_bearer("Basic YWxpY2U6cHc="));
        assert!(!read_only_bearer("Bearer garbage"));
        let get = http::Method::GET;
        assert!(!changes_state(&get, "/api/v1/posts"));
        assert!(!changes_state(&http::Method::HEAD, "/api/v1/posts"));
        assert!(!changes_state(&http::Method::OPTIONS, "/api/v1/posts"));
        assert!(changes_state(&http::Method::POST, "/api/v1/posts"));
        assert!(changes_state(&http::Method::PATCH, "/api/v1/users/a"));
        assert!(!changes_state(&http::Method::DELETE, "/api/v1/auth/token"));
        assert!(changes_state(&http::Method::POST, "/api/v1/auth/token"));
    }

    #[test]
    fn api_paths_stay_with_the_api_and_the_rest_are_pages() {
        for api in [
            "/api/v1/users",
            "/api/v1/nope",
            "/api",
            "/internal/v1/authenticate",
            "/admin/instances",
            "/docs",
            "/docs/index.html",
            "/openapi.json",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(is_api_path(api), "{api}");
        }
        for page in [
            "/",
            "/login",
            "/u/alice",
            "/static/app.css",
            "/apis",
            "/docsx",
            "/metrics/x",
        ] {
            assert!(!is_api_path(page), "{page}");
        }
    }
}
