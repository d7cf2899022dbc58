//! `rookery`: every Rookery service in one binary.

use clap::{Parser, Subcommand};

mod cmd;

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
    Serve(cmd::serve::Args),
    /// Run one instance of one service (configured by DATABASE_URL, ROOKERY_SECRET;
    /// NATS_URL connects instances through NATS JetStream).
    Service(cmd::service::Args),
    /// Run one service as an AWS Lambda function (provided.al2023): its
    /// HTTP API or, with `--role events`, its events (docs/runbooks/aws.md).
    /// Configured by DATABASE_URL, ROOKERY_SECRET, NATS_URL, ROOKERY_USERS_URL
    /// and ROOKERY_POSTS_URL. Run as `bootstrap` without arguments, it reads
    /// ROOKERY_LAMBDA_SERVICE and ROOKERY_LAMBDA_ROLE.
    Lambda(cmd::lambda::Args),
    /// Run the gateway alone in front of service instances.
    Gateway(cmd::gateway::Args),
    /// Start a local formation: the gateway and N instances of each service
    /// as separate processes on PostgreSQL (one database per service), with
    /// Redis and NATS when given. Runs until Ctrl-C or SIGTERM.
    Up(cmd::up::Args),
    /// Create or upgrade the databases, then exit.
    Migrate(cmd::migrate::Args),
    /// Load sample accounts and follows, or a real social graph.
    Seed(cmd::seed::Args),
    /// Measure request rates and latencies through a gateway.
    Bench(cmd::bench::Args),
    /// Simulate users running realistic sessions across every service
    /// (register, log in, follow, post, reply, repost, vote, like, read
    /// timelines, edit, delete, polls, direct messages, log out), checking
    /// every answer. Prints per-route p50/p90/p99; exits non-zero on any failure.
    Load(cmd::load::Args),
    /// Print the OpenAPI document (docs/openapi.json is this output).
    Openapi,
}

fn main() -> anyhow::Result<()> {
    // Lambda's custom runtime starts an executable named `bootstrap`
    // without arguments: that is `rookery lambda`, configured by the
    // environment.
    let mut args = std::env::args_os();
    let bootstrap = args
        .next()
        .as_deref()
        .map(std::path::Path::new)
        .and_then(|p| p.file_name())
        .is_some_and(|name| name == "bootstrap");
    let cli = if bootstrap && args.next().is_none() {
        Cli::parse_from(["rookery", "lambda"])
    } else {
        Cli::parse()
    };
    rookery_kernel::telemetry::init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli.command))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => cmd::serve::run(args).await,
        Command::Service(args) => cmd::service::run(args).await,
        Command::Lambda(args) => cmd::lambda::run(args).await,
        Command::Gateway(args) => cmd::gateway::run(args).await,
        Command::Up(args) => cmd::up::run(args).await,
        Command::Migrate(args) => cmd::migrate::run(args).await,
        Command::Seed(args) => cmd::seed::run(args).await,
        Command::Bench(args) => cmd::bench::run(args).await,
        Command::Load(args) => cmd::load::run(args).await,
        Command::Openapi => cmd::openapi::run().await,
    }
}
