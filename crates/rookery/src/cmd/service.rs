//! `rookery service <name>`: one instance of one service.

use std::path::PathBuf;
use std::time::Duration;

use rookery::app;
use rookery_kernel::db::sqlite_url_in;
use rookery_kernel::secret::Secret;
use tokio_util::sync::CancellationToken;

use super::{ServiceName, bind, shutdown_signal};

#[derive(clap::Args)]
pub struct Args {
    #[arg(value_enum)]
    name: ServiceName,
    #[arg(long, default_value = "127.0.0.1:5001")]
    listen: String,
    /// `sqlite://path.db` or `postgres://...`; defaults to SQLite under --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long, default_value = "./data", env = "ROOKERY_DATA_DIR")]
    data_dir: PathBuf,
    /// Gateway base URLs (comma-separated) to register with and heartbeat to;
    /// needs the gateways' `ROOKERY_ADMIN_TOKEN`.
    #[arg(long = "register", env = "ROOKERY_REGISTER_URL", value_delimiter = ',')]
    register: Vec<String>,
    /// The base URL gateways should use for this instance; defaults to
    /// `http://<--listen address>`.
    #[arg(long, env = "ROOKERY_ADVERTISE_URL")]
    advertise: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        name,
        listen,
        database_url,
        data_dir,
        register,
        advertise,
    } = args;
    let url = database_url.unwrap_or_else(|| sqlite_url_in(&data_dir, name.as_str()));
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&data_dir)?;
    }
    let secret = match Secret::from_env()? {
        Some(s) => s,
        None => Secret::load_or_create(&data_dir)?,
    };
    let app = match name {
        ServiceName::Users => app::users_instance(&url, &secret).await?,
        ServiceName::Posts => {
            // Optional: without it the author replica alone answers.
            let users = optional_base_urls("ROOKERY_USERS_URL");
            app::posts_instance(&url, &secret, &users).await?
        }
        ServiceName::Votes => {
            let posts = base_urls("ROOKERY_POSTS_URL", "votes", "posts")?;
            let users = base_urls("ROOKERY_USERS_URL", "votes", "users")?;
            // Polls in DynamoDB (dynamodb://...), or beside the votes.
            let polls = std::env::var("POLLS_DATABASE_URL").ok();
            app::votes_instance(&url, polls.as_deref(), &secret, &posts, &users).await?
        }
        ServiceName::Messages => {
            let users = base_urls("ROOKERY_USERS_URL", "messages", "users")?;
            app::messages_instance(&url, &secret, &users).await?
        }
        ServiceName::Notifications => {
            let users = base_urls("ROOKERY_USERS_URL", "notifications", "users")?;
            let posts = base_urls("ROOKERY_POSTS_URL", "notifications", "posts")?;
            app::notifications_instance(&url, &secret, &users, &posts).await?
        }
        ServiceName::Web => {
            // A client of the public API: it calls the gateways.
            let gateways = base_urls("ROOKERY_GATEWAY_URL", "web", "gateway")?;
            app::web_instance(&url, &gateways).await?
        }
        ServiceName::Mastodon => {
            // A client of the public API, like the web client.
            let gateways = base_urls("ROOKERY_GATEWAY_URL", "mastodon", "gateway")?;
            app::mastodon_instance(&url, &gateways).await?
        }
    };
    let listener = bind(&listen).await?;
    let address = listener.local_addr()?;
    tracing::info!(%address, service = name.as_str(), "service serving");
    let stop = CancellationToken::new();
    let registration = match register.is_empty() {
        true => None,
        false => {
            let advertise = match advertise {
                Some(url) => url,
                None if address.ip().is_unspecified() => anyhow::bail!(
                    "--register with --listen {address} needs --advertise (ROOKERY_ADVERTISE_URL): the URL gateways should use"
                ),
                None => format!("http://{address}"),
            };
            let registration = rookery_gateway::discovery::Registration {
                gateways: register,
                service: name.as_str().to_string(),
                advertise,
                admin_token: app::admin_token(),
                interval: Duration::from_millis(
                    std::env::var("ROOKERY_HEARTBEAT_INTERVAL_MS")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(2000u64)
                        .max(1),
                ),
            };
            Some(tokio::spawn(registration.run(stop.clone())))
        }
    };
    let signalled = stop.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        // Deregistration runs while in-flight requests drain.
        signalled.cancel();
    });
    let served = app.serve(listener, stop.cancelled_owned()).await;
    if let Some(registration) = registration {
        let _ = registration.await;
    }
    served
}

/// Base URLs of another service's instances from `var` (comma-separated).
fn base_urls(var: &str, needed_by: &str, of: &str) -> anyhow::Result<Vec<String>> {
    let urls = optional_base_urls(var);
    anyhow::ensure!(
        !urls.is_empty(),
        "{needed_by} needs {var}: the {of} instances' base URLs, comma-separated"
    );
    Ok(urls)
}

/// The comma-separated base URLs in `var`; none when it is unset or empty.
fn optional_base_urls(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect()
}
