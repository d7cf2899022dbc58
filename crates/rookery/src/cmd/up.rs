//! `rookery up`: a local formation of separate processes on PostgreSQL.

use std::path::PathBuf;

use super::shutdown_signal;

#[derive(clap::Args)]
pub struct Args {
    /// The gateway's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Instances listen on consecutive ports from here.
    #[arg(long, default_value_t = 8101)]
    first_port: u16,
    #[arg(long, default_value_t = 1)]
    users: usize,
    #[arg(long, default_value_t = 2)]
    posts: usize,
    #[arg(long, default_value_t = 1)]
    votes: usize,
    #[arg(long, default_value_t = 1)]
    messages: usize,
    #[arg(long, default_value_t = 1)]
    notifications: usize,
    /// Web client instances (pages through the gateway).
    #[arg(long, default_value_t = 1)]
    web: usize,
    /// Mastodon API instances (behind the gateway's second listener).
    #[arg(long, default_value_t = 1)]
    mastodon: usize,
    /// The gateway's listener for the Mastodon API (`off`: none).
    #[arg(long, default_value = "127.0.0.1:8081")]
    mastodon_listen: String,
    /// The PostgreSQL server: databases `<prefix>_<service>` are created on it.
    #[arg(
        long,
        env = "ROOKERY_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres: String,
    #[arg(long, default_value = "rookery")]
    database_prefix: String,
    #[arg(long, env = "REDIS_URL")]
    redis: Option<String>,
    #[arg(long, env = "NATS_URL")]
    nats: Option<String>,
    /// Where each process's log goes (`<service>.<n>.log`).
    #[arg(long, default_value = "./formation-logs")]
    log_dir: PathBuf,
    /// `registry`: instances get only `--register <gateway>` and find each
    /// other in its registry; `static`: every process is given the others' URLs.
    #[arg(long, value_enum, default_value = "static")]
    discovery: rookery::formation::Discovery,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        listen,
        first_port,
        users,
        posts,
        votes,
        messages,
        notifications,
        web,
        mastodon,
        mastodon_listen,
        postgres,
        database_prefix,
        redis,
        nats,
        log_dir,
        discovery,
    } = args;
    use rookery::formation::{Formation, Plan};
    let secret = match std::env::var("ROOKERY_SECRET") {
        Ok(secret) => secret,
        // One formation, one secret; every process gets it.
        Err(_) => format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        ),
    };
    let plan = Plan {
        binary: std::env::current_exe()?,
        gateway: listen,
        mastodon_gateway: (mastodon > 0 && mastodon_listen != "off").then_some(mastodon_listen),
        first_port,
        instances: [
            ("users", users),
            ("posts", posts),
            ("votes", votes),
            ("messages", messages),
            ("notifications", notifications),
            ("web", web),
            ("mastodon", mastodon),
        ]
        .into_iter()
        .map(|(s, n)| (s.to_string(), n))
        .collect(),
        postgres,
        database_prefix,
        redis,
        nats,
        secret,
        log_dir,
        discovery,
    };
    let mut formation = Formation::start(plan).await?;
    tracing::info!(gateway = formation.url(), "formation up; Ctrl-C stops it");
    let outcome = tokio::select! {
        _ = shutdown_signal() => Ok(()),
        (name, status) = formation.watch() => Err(anyhow::anyhow!("{name} exited: {status:?}")),
    };
    formation.stop().await;
    outcome
}
