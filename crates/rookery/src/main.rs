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
    },
    /// Run one instance of one service (configured by DATABASE_URL, ROOKERY_SECRET).
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
    },
    /// Run the gateway alone in front of service instances.
    Gateway {
        #[arg(long, default_value = "127.0.0.1:8080", env = "ROOKERY_LISTEN")]
        listen: String,
        /// `service=http://host:port[,http://host:port...]`, repeatable.
        #[arg(long = "upstream", required = true)]
        upstreams: Vec<String>,
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
    },
    /// Print the OpenAPI document (docs/openapi.json is this output).
    Openapi,
}

#[derive(Clone, Copy, ValueEnum)]
enum Workload {
    Auth,
    Timeline,
    Compose,
    /// Home timeline of --username alone (e.g. few vs many followees).
    HomeOf,
    /// Random seeded users voting up or down on the 100 newest posts.
    Vote,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceName {
    Users,
    Posts,
    Votes,
}

impl ServiceName {
    fn as_str(self) -> &'static str {
        match self {
            ServiceName::Users => "users",
            ServiceName::Posts => "posts",
            ServiceName::Votes => "votes",
        }
    }
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
        Command::Serve { listen, data_dir } => {
            let app = app::embedded(&data_dir).await?;
            let listener = bind(&listen).await?;
            tracing::info!(address = %listener.local_addr()?, data_dir = %data_dir.display(), "rookery serving; docs at /docs");
            app.serve(listener, shutdown_signal()).await
        }
        Command::Service {
            name,
            listen,
            database_url,
            data_dir,
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
                ServiceName::Posts => app::posts_instance(&url, &secret).await?,
                ServiceName::Votes => {
                    let posts: Vec<String> = std::env::var("ROOKERY_POSTS_URL")
                        .context("votes needs ROOKERY_POSTS_URL: the posts instances' base URLs, comma-separated")?
                        .split(',')
                        .map(|u| u.trim().to_string())
                        .filter(|u| !u.is_empty())
                        .collect();
                    app::votes_instance(&url, &secret, &posts).await?
                }
            };
            let listener = bind(&listen).await?;
            tracing::info!(address = %listener.local_addr()?, service = name.as_str(), "service serving");
            app.serve(listener, shutdown_signal()).await
        }
        Command::Gateway { listen, upstreams } => {
            let upstreams = parse_upstreams(&upstreams)?;
            let app = app::gateway_only(&upstreams)?;
            let listener = bind(&listen).await?;
            tracing::info!(address = %listener.local_addr()?, "gateway serving");
            app.serve(listener, shutdown_signal()).await
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
                },
                false => {
                    (rookery_users::open_store(&url, ids.clone()).await?.close)().await;
                    let posts = sqlite_url_in(&data_dir, "posts");
                    (rookery_posts::open_store(&posts, ids.clone()).await?.close)().await;
                    let votes = sqlite_url_in(&data_dir, "votes");
                    (rookery_votes::open_store(&votes, ids).await?.close)().await;
                }
            }
            println!("databases migrated");
            Ok(())
        }
        Command::Seed {
            graph,
            password,
            url: Some(api),
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
            println!(
                "seeded {} users and {} follows in {:.1}s (password: {password})",
                report.users_created,
                report.follows_created,
                started.elapsed().as_secs_f64()
            );
            if let (Some(api), Some(dir), true) = (api, graph, posts_per_user > 0) {
                let (nodes, _) = seed::read_graph(&dir)?;
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
        } => {
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
                    },
                ],
            };
            let mut results = bench::run(&url, &targets, connections, duration).await?;
            if let Workload::Timeline = workload {
                // The latency bound is checked at half the sustained rate, open loop.
                let mut half = targets[1].clone();
                half.rate = Some(results[1].rate / 2.0);
                half.name = format!("{} @ {:.0}/s open loop", half.name, results[1].rate / 2.0);
                results.extend(bench::run(&url, &[half], connections, duration).await?);
            }
            print!("{}", bench::report(&results));
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
