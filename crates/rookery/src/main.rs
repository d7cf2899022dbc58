//! `rookery`: every Rookery service in one binary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use rookery::{app, bench, seed};
use rookery_kernel::db::sqlite_url_in;
use rookery_kernel::secret::Secret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

// A faster allocator than glibc's for many small, short-lived allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rookery",
    version,
    about = "Rookery: a social platform backend as microservices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: the gateway and every service, on SQLite.
    Serve {
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
    },
    /// Run one instance of one service (configured by DATABASE_URL, ROOKERY_SECRET;
    /// NATS_URL connects instances through NATS JetStream).
    Service {
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
    },
    /// Run the gateway alone in front of service instances.
    Gateway {
        #[arg(long, default_value = "127.0.0.1:8080", env = "ROOKERY_LISTEN")]
        listen: String,
        /// `service=http://host:port[,http://host:port...]`, repeatable; host
        /// names are re-resolved. Instances may also register themselves.
        #[arg(long = "upstream")]
        upstreams: Vec<String>,
        /// A second listener for the Mastodon client API (to `mastodon` instances).
        #[arg(long, env = "ROOKERY_MASTODON_LISTEN")]
        mastodon_listen: Option<String>,
    },
    /// Start a local formation: the gateway and N instances of each service
    /// as separate processes on PostgreSQL (one database per service), with
    /// Redis and NATS when given. Runs until Ctrl-C or SIGTERM.
    Up {
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
    },
    /// Create or upgrade the databases, then exit.
    Migrate {
        /// A database URL to migrate (the --service's); defaults to every
        /// service's SQLite file under --data-dir.
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        /// Whose schema --database-url gets.
        #[arg(long, value_enum, default_value = "users")]
        service: ServiceName,
        #[arg(long, default_value = "./data", env = "ROOKERY_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Load sample accounts and follows, or a real social graph.
    Seed {
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
    },
    /// Measure request rates and latencies through a gateway.
    Bench {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// `auth`: healthz vs Basic whoami vs profile reads. `timeline`: healthz
        /// vs home timelines of random seeded users, then home timelines open
        /// loop at half the measured rate. `compose`: healthz vs posting as
        /// random seeded users. `vote`: healthz vs votes on the 100 newest posts.
        /// `hot`: healthz vs a community's hot listing, then open loop at half
        /// the measured rate.
        /// `messages-send`: healthz vs messages between random seeded users.
        /// `inbox`: healthz vs inboxes of random seeded users, then inboxes
        /// open loop at half the measured rate.
        #[arg(long, value_enum, default_value = "auth")]
        workload: Workload,
        /// Seconds per target.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// The account of the `auth` workload.
        #[arg(long, default_value = "user0")]
        username: String,
        /// Password of the seeded accounts.
        #[arg(long, default_value = "rookery-seed-password")]
        password: String,
        /// Seeded accounts `user0..` to pick from (Reed98: 962).
        #[arg(long, default_value_t = 962)]
        users: usize,
        /// The community of the `hot` workload.
        #[arg(long, default_value = "rust")]
        community: String,
        /// Also find the highest open-loop rate of the workload's target at
        /// which p99 stays within this many ms with no errors (bisection).
        #[arg(long)]
        p99_ms: Option<u64>,
        /// With --p99-ms: then offer twice the rate found, open loop over
        /// --stress-clients concurrent clients, and report what was accepted
        /// (its latency from the intended send time) and what was shed (429/503).
        #[arg(long)]
        stress: bool,
        /// The offered rate of the --stress run instead of twice the rate
        /// --p99-ms finds (to compare configurations at one rate).
        #[arg(long, requires = "stress")]
        stress_rate: Option<f64>,
        /// The Mastodon API's origin (the `mastodon-*` workloads).
        #[arg(long, default_value = "http://127.0.0.1:8081")]
        mastodon_url: String,
        /// Streams the `mastodon-streams` workload opens.
        #[arg(long, default_value_t = 1000)]
        streams: usize,
        /// The server's pid: `mastodon-streams` reports its memory growth.
        #[arg(long)]
        server_pid: Option<u32>,
        /// Concurrent clients (connections) of the --stress run: more than
        /// the server admits at once (`ROOKERY_MAX_IN_FLIGHT`).
        #[arg(long, default_value_t = 1024)]
        stress_clients: usize,
    },
    /// Simulate users running realistic sessions across every service
    /// (register, log in, follow, post, reply, repost, vote, like, read
    /// timelines, edit, delete, polls, direct messages, log out), checking
    /// every answer. Prints per-route p50/p90/p99; exits non-zero on any failure.
    Load {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Concurrent simulated users.
        #[arg(long, default_value_t = 100)]
        users: usize,
        /// Time over which the users start (e.g. 10s, 1m).
        #[arg(long, default_value = "10s", value_parser = rookery::load::parse_duration)]
        ramp_up: Duration,
        /// How long every user runs once all have started.
        #[arg(long, default_value = "60s", value_parser = rookery::load::parse_duration)]
        duration: Duration,
        /// Mean pause between a user's steps (uniform in [t/2, 3t/2]; 0 for none).
        #[arg(long, default_value = "1s", value_parser = rookery::load::parse_duration)]
        think_time: Duration,
        /// Write the figures and failure reasons as JSON here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Seeds each user's choices; usernames stay unique per run.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Send every user's requests from one source address (by default,
        /// against a 127.x.x.x gateway each user gets its own 127.0.0.x).
        #[arg(long)]
        single_source: bool,
    },
    /// Print the OpenAPI document (docs/openapi.json is this output).
    Openapi,
}

#[derive(Clone, Copy, ValueEnum)]
enum Workload {
    Auth,
    /// Home timelines (10 posts) of random seeded users: the mix's 60%.
    Timeline,
    /// Another random seeded user's timeline (10 posts): the mix's 30%.
    UserTimeline,
    /// Posts by random seeded users: the mix's 10%.
    Compose,
    /// Home timeline of --username alone (e.g. few vs many followees).
    HomeOf,
    /// Random seeded users voting up or down on the 100 newest posts.
    Vote,
    /// `GET /posts?community=--community&sort=hot&limit=20`.
    Hot,
    /// DeathStarBench's social network mix on random seeded users: 60% home
    /// timeline, 30% another user's timeline, 10% compose (10 posts a read).
    Dsb,
    /// Random seeded users messaging other random seeded users.
    MessagesSend,
    /// Inboxes (20 newest messages) of random seeded users.
    Inbox,
    /// Notifications (20 newest) of random seeded users.
    Notifications,
    /// The web client's home page (`GET /`, 20 posts) of random seeded
    /// users logged in through the login form (the first --users, at most 200).
    WebHome,
    /// `GET /search?q=<two common words of the seeded posts>&type=posts`.
    SearchPosts,
    /// `GET /search?q=user<digits>&type=users`: username prefix search.
    SearchUsers,
    /// Compose with a mention and two tags (compare with `compose`).
    ComposeTagged,
    /// Home timelines (20) of random seeded users: native, then the same on
    /// the Mastodon API (--mastodon-url), then that open loop at half its rate.
    MastodonHome,
    /// Posting as random seeded users: native `POST /posts`, then Mastodon's
    /// `POST /statuses`.
    MastodonCompose,
    /// --streams WebSocket `public` streams on the Mastodon API, then 20 posts
    /// timed from request to arrival on every stream (memory with --server-pid).
    MastodonStreams,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceName {
    Users,
    Posts,
    Votes,
    Messages,
    Notifications,
    Web,
    Mastodon,
}

impl ServiceName {
    fn as_str(self) -> &'static str {
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

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    rookery_kernel::telemetry::init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve {
            listen,
            data_dir,
            mastodon_listen,
        } => {
            let app = app::embedded(&data_dir).await?;
            let listener = bind(&listen).await?;
            let address = listener.local_addr()?;
            tracing::info!(%address, data_dir = %data_dir.display(), "rookery serving; docs at /docs");
            let mut extra = Vec::new();
            if mastodon_listen != "off" {
                let mastodon = bind(&mastodon_listen).await?;
                tracing::info!(address = %mastodon.local_addr()?, "Mastodon client API serving");
                let config = rookery_mastodon::MastodonConfig::from_env(
                    &format!("http://{address}"),
                    &format!("http://{}", mastodon.local_addr()?),
                );
                if let Some(router) = app.mastodon_router(config).await? {
                    extra.push((mastodon, router));
                }
            }
            app.serve_with(listener, extra, shutdown_signal()).await
        }
        Command::Service {
            name,
            listen,
            database_url,
            data_dir,
            register,
            advertise,
        } => {
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
                    app::votes_instance(&url, &secret, &posts, &users).await?
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
        Command::Up {
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
        } => {
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
                mastodon_gateway: (mastodon > 0 && mastodon_listen != "off")
                    .then_some(mastodon_listen),
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
        Command::Gateway {
            listen,
            upstreams,
            mastodon_listen,
        } => {
            let upstreams = parse_upstreams(&upstreams)?;
            let app = app::gateway_only_with(
                &upstreams,
                rookery_gateway::PoolConfig::from_env(),
                app::gateway_options_from_env().await?,
            )?;
            let listener = bind(&listen).await?;
            let address = listener.local_addr()?;
            tracing::info!(%address, "gateway serving");
            let mut extra = Vec::new();
            if let Some(second) = mastodon_listen.filter(|l| l != "off") {
                let mastodon = bind(&second).await?;
                tracing::info!(address = %mastodon.local_addr()?, "gateway serving the Mastodon API");
                let config = rookery_mastodon::MastodonConfig::from_env(
                    &format!("http://{address}"),
                    &format!("http://{}", mastodon.local_addr()?),
                );
                if let Some(router) = app.mastodon_router(config).await? {
                    extra.push((mastodon, router));
                }
            }
            app.serve_with(listener, extra, shutdown_signal()).await
        }
        Command::Migrate {
            database_url,
            data_dir,
            service,
        } => {
            let database_url_given = database_url.is_some();
            let url = match database_url {
                Some(url) => url,
                None => {
                    std::fs::create_dir_all(&data_dir)?;
                    sqlite_url_in(&data_dir, "users")
                }
            };
            let ids = std::sync::Arc::new(rookery_kernel::ids::IdGenerator::from_env());
            match database_url_given {
                // One URL: the database of the service named by --service.
                true => match service {
                    ServiceName::Users => {
                        (rookery_users::open_store(&url, ids).await?.close)().await
                    }
                    ServiceName::Posts => {
                        (rookery_posts::open_store(&url, ids).await?.close)().await
                    }
                    ServiceName::Votes => {
                        (rookery_votes::open_store(&url, ids).await?.close)().await
                    }
                    ServiceName::Messages => {
                        (rookery_messages::open_store(&url, ids).await?.close)().await
                    }
                    ServiceName::Notifications => {
                        (rookery_notifications::open_store(&url, ids).await?.close)().await
                    }
                    ServiceName::Web => (rookery_web::open_store(&url).await?.close)().await,
                    ServiceName::Mastodon => {
                        (rookery_mastodon::open_store(&url).await?.close)().await
                    }
                },
                false => {
                    (rookery_users::open_store(&url, ids.clone()).await?.close)().await;
                    let posts = sqlite_url_in(&data_dir, "posts");
                    (rookery_posts::open_store(&posts, ids.clone()).await?.close)().await;
                    let votes = sqlite_url_in(&data_dir, "votes");
                    (rookery_votes::open_store(&votes, ids.clone()).await?.close)().await;
                    let messages = sqlite_url_in(&data_dir, "messages");
                    (rookery_messages::open_store(&messages, ids.clone())
                        .await?
                        .close)()
                    .await;
                    let notifications = sqlite_url_in(&data_dir, "notifications");
                    (rookery_notifications::open_store(&notifications, ids)
                        .await?
                        .close)()
                    .await;
                    let web = sqlite_url_in(&data_dir, "web");
                    (rookery_web::open_store(&web).await?.close)().await;
                    let mastodon = sqlite_url_in(&data_dir, "mastodon");
                    (rookery_mastodon::open_store(&mastodon).await?.close)().await;
                }
            }
            println!("databases migrated");
            Ok(())
        }
        Command::Seed {
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
        Command::Seed {
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
        Command::Bench {
            url,
            workload,
            seconds,
            connections,
            username,
            password,
            users,
            community,
            p99_ms,
            stress,
            stress_rate,
            stress_clients,
            mastodon_url,
            streams,
            server_pid,
        } => {
            if let Workload::MastodonStreams = workload {
                let tokens = bench::mastodon_tokens(&mastodon_url, 1, &password).await?;
                let r = bench::streams(&mastodon_url, &tokens[0], streams, 20, server_pid).await?;
                println!(
                    "{} public streams, {} posts: delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {} missed",
                    r.streams, r.posts, r.p50_ms, r.p99_ms, r.max_ms, r.missed
                );
                if let Some((before, during)) = r.rss_kib {
                    println!(
                        "server RSS {:.1} MiB before, {:.1} MiB with the streams open (+{:.1} MiB)",
                        before as f64 / 1024.0,
                        during as f64 / 1024.0,
                        (during as f64 - before as f64) / 1024.0
                    );
                }
                return Ok(());
            }
            anyhow::ensure!(
                !stress || p99_ms.is_some() || stress_rate.is_some(),
                "--stress needs --p99-ms (it offers twice the rate found) or --stress-rate"
            );
            use bench::{Auth, Target};
            let duration = Duration::from_secs(seconds);
            let seeded = Auth::RandomSeeded {
                count: users,
                password: password.clone(),
            };
            let healthz = Target::get("GET /healthz", "/healthz", Auth::None);
            let targets = match workload {
                Workload::Auth => vec![
                    healthz,
                    Target::get(
                        "GET /auth/whoami (Basic)",
                        "/api/v1/auth/whoami",
                        Auth::Basic {
                            username: username.clone(),
                            password,
                        },
                    ),
                    Target::get(
                        "GET /users/{username}",
                        &format!("/api/v1/users/{username}"),
                        Auth::None,
                    ),
                ],
                Workload::Timeline => vec![
                    healthz,
                    Target::get(
                        "GET /timelines/home?limit=10",
                        "/api/v1/timelines/home?limit=10",
                        seeded,
                    ),
                ],
                Workload::UserTimeline => vec![
                    healthz,
                    Target::get(
                        "GET /users/{other}/posts?limit=10",
                        "/api/v1/users/user{other}/posts?limit=10",
                        seeded,
                    ),
                ],
                Workload::HomeOf => vec![
                    healthz,
                    Target::get(
                        &format!("GET /timelines/home?limit=10 as {username}"),
                        "/api/v1/timelines/home?limit=10",
                        Auth::Basic {
                            username: username.clone(),
                            password,
                        },
                    ),
                ],
                Workload::Compose => vec![
                    healthz,
                    Target {
                        name: "POST /posts".into(),
                        method: http::Method::POST,
                        path: "/api/v1/posts".into(),
                        body: Some(r#"{"text": "bench post {n} by user{user}"}"#.into()),
                        auth: seeded,
                        rate: None,
                        picks: Vec::new(),
                        mix: Vec::new(),
                    },
                ],
                Workload::Vote => vec![
                    healthz,
                    Target {
                        name: "PUT /posts/{id}/vote (100 posts)".into(),
                        method: http::Method::PUT,
                        path: "/api/v1/posts/{pick}/vote".into(),
                        body: Some(r#"{"direction": "{updown}"}"#.into()),
                        auth: seeded,
                        rate: None,
                        picks: bench::newest_post_ids(&url, 100).await?,
                        mix: Vec::new(),
                    },
                ],
                Workload::Dsb => {
                    let compose = Target {
                        name: "POST /posts".into(),
                        method: http::Method::POST,
                        path: "/api/v1/posts".into(),
                        body: Some(r#"{"text": "dsb post {n} by user{user}"}"#.into()),
                        ..Target::get("", "", Auth::None)
                    };
                    let mix = vec![
                        (
                            60,
                            Target::get("", "/api/v1/timelines/home?limit=10", Auth::None),
                        ),
                        (
                            30,
                            Target::get("", "/api/v1/users/user{other}/posts?limit=10", Auth::None),
                        ),
                        (10, compose),
                    ];
                    vec![
                        healthz,
                        Target {
                            mix,
                            ..Target::get(
                                "DSB mix (60% home, 30% user, 10% compose)",
                                "/healthz",
                                seeded,
                            )
                        },
                    ]
                }
                Workload::Hot => vec![
                    healthz,
                    Target::get(
                        &format!("GET /posts?community={community}&sort=hot&limit=20"),
                        &format!("/api/v1/posts?community={community}&sort=hot&limit=20"),
                        Auth::None,
                    ),
                ],
                Workload::MessagesSend => vec![
                    healthz,
                    Target {
                        name: "POST /messages".into(),
                        method: http::Method::POST,
                        path: "/api/v1/messages".into(),
                        body: Some(
                            r#"{"to": "user{other}", "text": "bench message {n} from user{user}"}"#
                                .into(),
                        ),
                        auth: seeded,
                        rate: None,
                        picks: Vec::new(),
                        mix: Vec::new(),
                    },
                ],
                Workload::Inbox => vec![
                    healthz,
                    Target::get(
                        "GET /messages?box=inbox&limit=20",
                        "/api/v1/messages?box=inbox&limit=20",
                        seeded,
                    ),
                ],
                Workload::Notifications => vec![
                    healthz,
                    Target::get(
                        "GET /notifications?limit=20",
                        "/api/v1/notifications?limit=20",
                        seeded,
                    ),
                ],
                Workload::WebHome => {
                    let cookies = bench::web_sessions(&url, users.min(200), &password).await?;
                    let html = bench::page_weight(&url, "/", Some(&cookies[0]), "identity").await?;
                    let gzip = bench::page_weight(&url, "/", Some(&cookies[0]), "gzip").await?;
                    let brotli = bench::page_weight(&url, "/", Some(&cookies[0]), "br").await?;
                    let css =
                        bench::page_weight(&url, rookery_web::assets::css_url(), None, "identity")
                            .await?;
                    let js =
                        bench::page_weight(&url, rookery_web::assets::js_url(), None, "identity")
                            .await?;
                    println!(
                        "page weight of / (logged in as user0): HTML {html} B (gzip {gzip} B, br {brotli} B) + CSS {css} B + JS {js} B = {} B uncompressed",
                        html + css + js
                    );
                    vec![
                        healthz,
                        Target::get("GET / (web home, 20 posts)", "/", Auth::Cookies(cookies)),
                    ]
                }
                Workload::SearchPosts => vec![
                    healthz,
                    Target::get(
                        "GET /search?q=coffee+morning&type=posts",
                        "/api/v1/search?q=coffee+morning&type=posts",
                        Auth::None,
                    ),
                ],
                Workload::SearchUsers => vec![
                    healthz,
                    Target::get(
                        "GET /search?q=user{other}&type=users",
                        "/api/v1/search?q=user{other}&type=users",
                        Auth::None,
                    ),
                ],
                Workload::MastodonHome => {
                    let tokens =
                        bench::mastodon_tokens(&mastodon_url, users.min(200), &password).await?;
                    let masto = mastodon_url.trim_end_matches('/');
                    vec![
                        healthz,
                        Target::get(
                            "GET /timelines/home?limit=20 (native)",
                            "/api/v1/timelines/home?limit=20",
                            Auth::Bearers(tokens.clone()),
                        ),
                        Target::get(
                            "GET /api/v1/timelines/home?limit=20 (Mastodon)",
                            &format!("{masto}/api/v1/timelines/home?limit=20"),
                            Auth::Bearers(tokens),
                        ),
                    ]
                }
                Workload::MastodonCompose => {
                    let tokens =
                        bench::mastodon_tokens(&mastodon_url, users.min(200), &password).await?;
                    let masto = mastodon_url.trim_end_matches('/');
                    let post = |name: &str, path: String, body: &str| Target {
                        name: name.into(),
                        method: http::Method::POST,
                        path,
                        body: Some(body.into()),
                        auth: Auth::Bearers(tokens.clone()),
                        rate: None,
                        picks: Vec::new(),
                        mix: Vec::new(),
                    };
                    vec![
                        healthz,
                        post(
                            "POST /posts (native)",
                            "/api/v1/posts".into(),
                            r#"{"text": "bench post {n}"}"#,
                        ),
                        post(
                            "POST /api/v1/statuses (Mastodon)",
                            format!("{masto}/api/v1/statuses"),
                            r#"{"status": "bench status {n}"}"#,
                        ),
                    ]
                }
                Workload::MastodonStreams => unreachable!("handled above"),
                Workload::ComposeTagged => vec![
                    healthz,
                    Target {
                        name: "POST /posts (a mention, two tags)".into(),
                        method: http::Method::POST,
                        path: "/api/v1/posts".into(),
                        body: Some(
                            r#"{"text": "bench post {n} by user{user} @user{other} #bench #rust"}"#
                                .into(),
                        ),
                        auth: seeded,
                        rate: None,
                        picks: Vec::new(),
                        mix: Vec::new(),
                    },
                ],
            };
            let mut results = bench::run(&url, &targets, connections, duration).await?;
            if let Workload::MastodonHome = workload {
                let mut half = targets[2].clone();
                half.rate = Some(results[2].rate / 2.0);
                half.name = format!("{} @ {:.0}/s open loop", half.name, results[2].rate / 2.0);
                results.extend(bench::run(&url, &[half], connections, duration).await?);
            }
            if let Workload::Timeline
            | Workload::Hot
            | Workload::Inbox
            | Workload::Notifications
            | Workload::WebHome
            | Workload::SearchUsers = workload
            {
                // The latency bound is checked at half the sustained rate, open loop.
                let mut half = targets[1].clone();
                half.rate = Some(results[1].rate / 2.0);
                half.name = format!("{} @ {:.0}/s open loop", half.name, results[1].rate / 2.0);
                results.extend(bench::run(&url, &[half], connections, duration).await?);
            }
            let mut overload_rate = stress_rate;
            if let Some(bound) = p99_ms
                && stress_rate.is_none()
            {
                let (result, rate) = bench::sustainable_rate(
                    &url,
                    &targets[1],
                    connections,
                    duration,
                    Duration::from_millis(bound),
                )
                .await?;
                results.push(result);
                overload_rate = Some(2.0 * rate);
            }
            let mut overload = None;
            if stress && let Some(rate) = overload_rate {
                overload =
                    Some(bench::stress(&url, &targets[1], rate, duration, stress_clients).await?);
            }
            print!("{}", bench::report(&results));
            if let Some(overload) = overload {
                print!("{}", bench::stress_report(&overload));
            }
            Ok(())
        }
        Command::Load {
            url,
            users,
            ramp_up,
            duration,
            think_time,
            report,
            seed,
            single_source,
        } => {
            let config = rookery::load::LoadConfig {
                url,
                users,
                ramp_up,
                duration,
                seed,
                think_time,
                spread_sources: !single_source,
                progress: true,
            };
            println!(
                "{users} users against {}: ramp-up {:?}, then {:?}",
                config.url, ramp_up, duration
            );
            let result = rookery::load::run(&config).await?;
            print!("{}", result.table());
            if let Some(path) = report {
                std::fs::write(&path, serde_json::to_vec_pretty(&result)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("report: {}", path.display());
            }
            if result.failures > 0 {
                // A plain message and exit code 1 for CI, not an error trace.
                eprintln!("{} of {} requests failed", result.failures, result.requests);
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Openapi => {
            println!("{}", rookery::openapi::document().to_pretty_json()?);
            Ok(())
        }
    }
}

async fn bind(address: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))
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

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
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
