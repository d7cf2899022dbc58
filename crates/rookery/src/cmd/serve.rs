//! `rookery serve`: the gateway and every service in one process, on SQLite.

use std::path::PathBuf;

use rookery::app;

use super::{bind, shutdown_signal};

#[derive(clap::Args)]
pub struct Args {
    /// Address of the gateway.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ROOKERY_LISTEN")]
    listen: String,
    /// Where the SQLite databases and the generated secret live.
    #[arg(long, default_value = "./data", env = "ROOKERY_DATA_DIR")]
    data_dir: PathBuf,
    /// Address of the Mastodon client API (its own origin); `off` disables it.
    #[arg(
        long,
        default_value = "127.0.0.1:8081",
        env = "ROOKERY_MASTODON_LISTEN"
    )]
    mastodon_listen: String,
    #[command(flatten)]
    connections: super::ConnectionArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        listen,
        data_dir,
        mastodon_listen,
        connections,
    } = args;
    let app = app::embedded(&data_dir).await?;
    let listener = bind(&listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data_dir = %data_dir.display(), "rookery serving; docs at /docs");
    let extra = super::mastodon_listener(&app, &mastodon_listen, address).await?;
    app.serve_with(listener, extra, connections.limits(), shutdown_signal())
        .await
}
