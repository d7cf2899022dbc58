//! `rookery bench`: request rates and latencies through a gateway.

use std::time::Duration;

use clap::ValueEnum;
use rookery::bench;

#[derive(clap::Args)]
pub struct Args {
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
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let Args {
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
    } = args;
    if let Workload::Lambda = workload {
        // In process: no server, --url unused; --seconds x 1,000 reads each.
        let iterations = (seconds as usize * 1_000).max(1_000);
        println!("{iterations} reads of GET /api/v1/posts/{{id}}, one at a time, each way:");
        for r in bench::lambda_overhead(iterations).await? {
            println!(
                "{:<52} p50 {:>7.1} us  p99 {:>7.1} us  mean {:>7.1} us",
                r.name, r.p50_us, r.p99_us, r.mean_us
            );
        }
        return Ok(());
    }
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
                    r#"{"to": "user{other}", "text": "bench message {n} from user{user}"}"#.into(),
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
                bench::page_weight(&url, rookery_web::assets::css_url(), None, "identity").await?;
            let js =
                bench::page_weight(&url, rookery_web::assets::js_url(), None, "identity").await?;
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
            let tokens = bench::mastodon_tokens(&mastodon_url, users.min(200), &password).await?;
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
            let tokens = bench::mastodon_tokens(&mastodon_url, users.min(200), &password).await?;
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
        Workload::MastodonStreams | Workload::Lambda => unreachable!("handled above"),
        Workload::ComposeTagged => vec![
            healthz,
            Target {
                name: "POST /posts (a mention, two tags)".into(),
                method: http::Method::POST,
                path: "/api/v1/posts".into(),
                body: Some(
                    r#"{"text": "bench post {n} by user{user} @user{other} #bench #rust"}"#.into(),
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
        overload = Some(bench::stress(&url, &targets[1], rate, duration, stress_clients).await?);
    }
    print!("{}", bench::report(&results));
    if let Some(overload) = overload {
        print!("{}", bench::stress_report(&overload));
    }
    Ok(())
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
    /// In process, no server: `GET /posts/{id}` as a Lambda HTTP API event
    /// through the posts function vs the same request through the function
    /// directly and through `rookery serve`'s gateway router (--seconds x
    /// 1,000 reads each).
    Lambda,
}
