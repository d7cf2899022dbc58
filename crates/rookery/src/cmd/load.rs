//! `rookery load`: simulated users running realistic sessions, every answer checked.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

#[derive(clap::Args)]
pub struct Args {
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
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        url,
        users,
        ramp_up,
        duration,
        think_time,
        report,
        seed,
        single_source,
    } = args;
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
