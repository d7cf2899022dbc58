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
        /// Seed the sample accounts through a running gateway's API instead
        /// of writing to the database (not for --graph, which loads in bulk).
        #[arg(long, conflicts_with = "graph")]
        url: Option<String>,
        /// Users database URL; defaults to the SQLite file under --data-dir.
        #[arg(long, env = "DATABASE_URL")]
        database_url: Option<String>,
        #[arg(long, default_value = "./data", env = "ROOKERY_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Measure request rates and latencies through a gateway (closed loop).
    Bench {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Seconds per target.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        /// An existing account for the authenticated targets.
        #[arg(long, default_value = "user0")]
        username: String,
        #[arg(long, default_value = "rookery-seed-password")]
        password: String,
    },
    /// Print the OpenAPI document (docs/openapi.json is this output).
    Openapi,
}

#[derive(Clone, Copy, ValueEnum)]
enum ServiceName {
    Users,
    Posts,
}

impl ServiceName {
    fn as_str(self) -> &'static str {
        match self {
            ServiceName::Users => "users",
            ServiceName::Posts => "posts",
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
                },
                false => {
                    (rookery_users::open_store(&url, ids.clone()).await?.close)().await;
                    let posts = sqlite_url_in(&data_dir, "posts");
                    (rookery_posts::open_store(&posts, ids).await?.close)().await;
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
            ..
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
            Ok(())
        }
        Command::Bench {
            url,
            seconds,
            connections,
            username,
            password,
        } => {
            let targets = vec![
                bench::Target {
                    name: "GET /healthz".into(),
                    path: "/healthz".into(),
                    authorization: None,
                },
                bench::Target {
                    name: "GET /auth/whoami (Basic)".into(),
                    path: "/api/v1/auth/whoami".into(),
                    authorization: Some(bench::basic(&username, &password)),
                },
                bench::Target {
                    name: "GET /users/{username}".into(),
                    path: format!("/api/v1/users/{username}"),
                    authorization: None,
                },
            ];
            let results =
                bench::run(&url, &targets, connections, Duration::from_secs(seconds)).await?;
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
