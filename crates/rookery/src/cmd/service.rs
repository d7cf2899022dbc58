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
    #[command(flatten)]
    connections: super::ConnectionArgs,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        name,
        listen,
        database_url,
        data_dir,
        register,
        advertise,
        connections,
    } = args;
    let url = database_url.unwrap_or_else(|| sqlite_url_in(&data_dir, name.as_str()));
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&data_dir)?;
    }
    let secret = match Secret::from_env()? {
        Some(s) => s,
        None => Secret::load_or_create(&data_dir)?,
    };
    let heartbeat = Duration::from_millis(
        std::env::var("ROOKERY_HEARTBEAT_INTERVAL_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000u64)
            .max(1),
    );
    // Other services' instances: the URL list when given (IPs or DNS
    // names), else the gateways' registry when registering there.
    let peers = |var: &str| match optional_base_urls(var) {
        urls if !urls.is_empty() => Ok(app::Peers::Urls(urls)),
        _ if !register.is_empty() => match app::admin_token() {
            Some(token) => Ok(app::Peers::Registry(app::RegistrySource {
                gateways: register.clone(),
                admin_token: Some(token),
                interval: heartbeat,
            })),
            None => Err(anyhow::anyhow!(
                "without {var}, {} reads its peers from the gateways' registry, which needs ROOKERY_ADMIN_TOKEN",
                name.as_str()
            )),
        },
        _ => Ok(app::Peers::None),
    };
    // Votes, messages and notifications cannot work without them.
    let required = |var: &str, of: &str| match peers(var)? {
        app::Peers::None => Err(anyhow::anyhow!(
            "{} needs {var} (the {of} instances' base URLs, comma-separated) or --register to find them in the gateways' registry",
            name.as_str()
        )),
        found => Ok(found),
    };
    // The web client and the Mastodon API call the public API: the
    // gateways given, or those the instance registers with.
    let gateways = |needed_by: &str| match optional_base_urls("ROOKERY_GATEWAY_URL") {
        urls if !urls.is_empty() => Ok(urls),
        _ if !register.is_empty() => Ok(register.clone()),
        _ => Err(anyhow::anyhow!(
            "{needed_by} needs ROOKERY_GATEWAY_URL (the gateways' base URLs, comma-separated) or --register"
        )),
    };
    let app = match name {
        ServiceName::Users => app::users_instance(&url, &secret).await?,
        // Optional for posts: without it the author replica alone answers.
        ServiceName::Posts => {
            app::posts_instance(&url, &secret, peers("ROOKERY_USERS_URL")?).await?
        }
        ServiceName::Votes => {
            // Polls in DynamoDB (dynamodb://...), or beside the votes.
            let polls = std::env::var("POLLS_DATABASE_URL").ok();
            app::votes_instance(
                &url,
                polls.as_deref(),
                &secret,
                required("ROOKERY_POSTS_URL", "posts")?,
                required("ROOKERY_USERS_URL", "users")?,
            )
            .await?
        }
        ServiceName::Messages => {
            app::messages_instance(&url, &secret, required("ROOKERY_USERS_URL", "users")?).await?
        }
        ServiceName::Notifications => {
            app::notifications_instance(
                &url,
                &secret,
                required("ROOKERY_USERS_URL", "users")?,
                required("ROOKERY_POSTS_URL", "posts")?,
            )
            .await?
        }
        ServiceName::Web => app::web_instance(&url, &gateways("web")?).await?,
        ServiceName::Mastodon => app::mastodon_instance(&url, &gateways("mastodon")?).await?,
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
                interval: heartbeat,
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
    let served = app
        .serve(listener, connections.limits(), stop.cancelled_owned())
        .await;
    if let Some(registration) = registration {
        let _ = registration.await;
    }
    served
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
