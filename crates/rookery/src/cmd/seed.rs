//! `rookery seed`: sample accounts and follows, or a real social graph.

use std::path::PathBuf;
use std::time::Duration;

use rookery::seed;
use rookery_kernel::db::sqlite_url_in;

#[derive(clap::Args)]
pub struct Args {
    /// A graph directory such as ../shared/data/socfb-Reed98 (accounts user0..userN-1).
    #[arg(long)]
    graph: Option<PathBuf>,
    /// Password of every seeded account.
    #[arg(long, default_value = "rookery-seed-password")]
    password: String,
    /// A running gateway: without --graph, the sample accounts are created
    /// through its API; --posts-per-user posts go through it too.
    #[arg(long)]
    url: Option<String>,
    /// With --graph and --url: this many posts per seeded account, posted
    /// through the API (fan-out included; idempotent per account and index).
    #[arg(long, default_value_t = 0, requires_all = ["graph", "url"])]
    posts_per_user: usize,
    /// This many direct messages between random seeded accounts, written
    /// in bulk straight into the messages database.
    #[arg(long, default_value_t = 0)]
    messages: usize,
    /// Messages database URL; defaults to the SQLite file under --data-dir.
    #[arg(long, env = "MESSAGES_DATABASE_URL")]
    messages_database_url: Option<String>,
    /// Users database URL; defaults to the SQLite file under --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    database_url: Option<String>,
    #[arg(long, default_value = "./data", env = "ROOKERY_DATA_DIR")]
    data_dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            graph,
            password,
            url: Some(api),
            messages: 0,
            ..
        } if graph.is_none() => {
            let report = seed::seed_over_http(&api, &password).await?;
            println!(
                "seeded {} users and {} follows through {api} (password: {password})",
                report.users_created, report.follows_created
            );
            Ok(())
        }
        Args {
            graph,
            password,
            database_url,
            data_dir,
            url: api,
            posts_per_user,
            messages,
            messages_database_url,
        } => {
            let url = match database_url {
                Some(url) => url,
                None => {
                    std::fs::create_dir_all(&data_dir)?;
                    sqlite_url_in(&data_dir, "users")
                }
            };
            let started = std::time::Instant::now();
            let report = seed::seed(&url, graph.as_deref(), &password).await?;
            let nodes = match &graph {
                Some(dir) => Some(seed::read_graph(dir)?.0),
                None => None,
            };
            println!(
                "seeded {} users and {} follows in {:.1}s (password: {password})",
                report.users_created,
                report.follows_created,
                started.elapsed().as_secs_f64()
            );
            if messages > 0 {
                let usernames: Vec<String> = match nodes {
                    Some(n) => (0..n).map(|i| format!("user{i}")).collect(),
                    None => seed::SAMPLE_USERS.iter().map(|s| s.to_string()).collect(),
                };
                let messages_url =
                    messages_database_url.unwrap_or_else(|| sqlite_url_in(&data_dir, "messages"));
                let started = std::time::Instant::now();
                let stored = seed::seed_messages(&url, &messages_url, &usernames, messages).await?;
                println!(
                    "stored {stored} messages in {:.1}s",
                    started.elapsed().as_secs_f64()
                );
            }
            if let (Some(api), Some(nodes), true) = (api, nodes, posts_per_user > 0) {
                let started = std::time::Instant::now();
                // Give the server a moment to replicate the new accounts' events.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let posts =
                    seed::seed_posts_over_http(&api, nodes, posts_per_user, &password, 32).await?;
                println!(
                    "posted {posts} posts in {:.1}s",
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
    }
}
