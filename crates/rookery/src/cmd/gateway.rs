//! `rookery gateway`: the gateway alone in front of service instances.

use std::collections::HashMap;

use anyhow::Context;
use rookery::app;

use super::{bind, shutdown_signal};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:8080", env = "ROOKERY_LISTEN")]
    listen: String,
    /// `service=http://host:port[,http://host:port...]`, repeatable; host
    /// names are re-resolved. Instances may also register themselves.
    #[arg(long = "upstream")]
    upstreams: Vec<String>,
    /// A second listener for the Mastodon client API (to `mastodon` instances).
    #[arg(long, env = "ROOKERY_MASTODON_LISTEN")]
    mastodon_listen: Option<String>,
    #[command(flatten)]
    connections: super::ConnectionArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        listen,
        upstreams,
        mastodon_listen,
        connections,
    } = args;
    let upstreams = parse_upstreams(&upstreams)?;
    let app = app::gateway_only_with(
        &upstreams,
        rookery_gateway::PoolConfig::from_env(),
        app::gateway_options_from_env().await?,
    )?;
    let listener = bind(&listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "gateway serving");
    let extra = match &mastodon_listen {
        Some(second) => super::mastodon_listener(&app, second, address).await?,
        None => Vec::new(),
    };
    app.serve_with(listener, extra, connections.limits(), shutdown_signal())
        .await
}

/// `users=http://a:1,http://b:2` entries into service -> instance URLs.
fn parse_upstreams(specs: &[String]) -> anyhow::Result<HashMap<String, Vec<String>>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for spec in specs {
        let (service, urls) = spec
            .split_once('=')
            .with_context(|| format!("--upstream {spec:?}: expected service=http://host:port"))?;
        out.entry(service.trim().to_string()).or_default().extend(
            urls.split(',')
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty()),
        );
    }
    Ok(out)
}
