//! The subcommands, one module each.

pub mod bench;
pub mod gateway;
pub mod lambda;
pub mod load;
pub mod migrate;
pub mod openapi;
pub mod seed;
pub mod serve;
pub mod service;
pub mod up;

use anyhow::Context;
use clap::ValueEnum;
use tokio::net::TcpListener;

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ServiceName {
    Users,
    Posts,
    Votes,
    Messages,
    Notifications,
    Web,
    Mastodon,
}

impl ServiceName {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ServiceName::Users => "users",
            ServiceName::Posts => "posts",
            ServiceName::Votes => "votes",
            ServiceName::Messages => "messages",
            ServiceName::Notifications => "notifications",
            ServiceName::Web => "web",
            ServiceName::Mastodon => "mastodon",
        }
    }
}

pub(crate) async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))
}

/// The Mastodon API's listener on `address` (`off`: none) beside the API's
/// own at `api`: what [`rookery::app::App::serve_with`] takes as extra.
pub(crate) async fn mastodon_listener(
    app: &rookery::app::App,
    address: &str,
    api: std::net::SocketAddr,
) -> anyhow::Result<Vec<(TcpListener, axum::Router)>> {
    if address == "off" {
        return Ok(Vec::new());
    }
    let mastodon = bind(address).await?;
    let origin = mastodon.local_addr()?;
    tracing::info!(address = %origin, "Mastodon client API serving");
    let config = rookery_mastodon::MastodonConfig::from_env(
        &format!("http://{api}"),
        &format!("http://{origin}"),
    );
    Ok(match app.mastodon_router(config).await? {
        Some(router) => vec![(mastodon, router)],
        None => Vec::new(),
    })
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The bounds on every listener's connections (see `rookery::server`).
#[derive(clap::Args)]
pub(crate) struct ConnectionArgs {
    /// Time a client has to send a whole request head, from connecting or
    /// from the first byte of a later request (e.g. 10s).
    #[arg(long, env = "ROOKERY_HEADER_TIMEOUT", value_parser = rookery::load::parse_positive_duration)]
    header_timeout: Option<std::time::Duration>,
    /// Time a keep-alive connection may wait for its next request, and a
    /// request in progress may move no byte either way (e.g. 75s).
    #[arg(long, env = "ROOKERY_IDLE_TIMEOUT", value_parser = rookery::load::parse_positive_duration)]
    idle_timeout: Option<std::time::Duration>,
    /// Most connections open at once, all listeners together; more wait in
    /// the listen backlog (default 10,000 or half the descriptor limit).
    #[arg(long, env = "ROOKERY_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
}

impl ConnectionArgs {
    pub(crate) fn limits(&self) -> rookery::server::ConnectionLimits {
        let default = rookery::server::ConnectionLimits::default();
        rookery::server::ConnectionLimits {
            header_timeout: self.header_timeout.unwrap_or(default.header_timeout),
            idle_timeout: self.idle_timeout.unwrap_or(default.idle_timeout),
            max_connections: self
                .max_connections
                .map_or(default.max_connections, |n| n as usize),
        }
    }
}
