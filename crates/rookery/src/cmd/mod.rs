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
