//! Seeding: a few sample accounts, or a real social graph (socfb-Reed98: one
//! account per node, each undirected edge as two follows), written in bulk
//! straight into the users database (safe while the server runs: SQLite WAL,
//! PostgreSQL transactions); events go through the outbox as usual.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rookery_kernel::ids::IdGenerator;
use rookery_users::auth::PasswordHasher;
use rookery_users::store::NewUser;

/// Seeded accounts are `user0`, `user1`, ...; sample accounts have names.
pub const SAMPLE_USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "frank"];

pub struct SeedReport {
    pub users_created: usize,
    pub follows_created: usize,
}

/// Loads `<dir>/<name>.edges` (`a b` per line, `%` comments) and `.nodes`.
pub fn read_graph(dir: &Path) -> anyhow::Result<(usize, Vec<(usize, usize)>)> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .context("graph directory has no name")?;
    let edges_path = dir.join(format!("{name}.edges"));
    let text = std::fs::read_to_string(&edges_path)
        .with_context(|| format!("reading {}", edges_path.display()))?;
    let mut edges = Vec::new();
    let mut max_node = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('%') || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
            anyhow::bail!("{}:{}: expected two node ids", edges_path.display(), n + 1);
        };
        let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
        max_node = max_node.max(a).max(b);
        edges.push((a, b));
    }
    let nodes = std::fs::read_to_string(dir.join(format!("{name}.nodes")))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(max_node + 1);
    Ok((nodes, edges))
}

/// Seeds the users database at `database_url`.
pub async fn seed(
    database_url: &str,
    graph: Option<&Path>,
    password: &str,
) -> anyhow::Result<SeedReport> {
    let opened = rookery_users::open_store(database_url, Arc::new(IdGenerator::from_env())).await?;
    // One argon2 hash for every seeded account: same password, fast seeding.
    let password_hash = PasswordHasher::default()
        .hash(password)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let new_user = |name: &str| NewUser {
        username: name.to_string(),
        email: format!("{name}@example.com"),
        password_hash: password_hash.clone(),
        bio: String::new(),
    };
    let (users, follows): (Vec<NewUser>, Vec<(String, String)>) = match graph {
        Some(dir) => {
            let (nodes, edges) = read_graph(dir)?;
            let users = (0..nodes).map(|i| new_user(&format!("user{i}"))).collect();
            let follows = edges
                .iter()
                .flat_map(|&(a, b)| {
                    let (a, b) = (format!("user{a}"), format!("user{b}"));
                    [(a.clone(), b.clone()), (b, a)]
                })
                .collect();
            (users, follows)
        }
        None => {
            let users = SAMPLE_USERS.iter().map(|n| new_user(n)).collect();
            // Everyone follows the next two sample users.
            let follows = (0..SAMPLE_USERS.len())
                .flat_map(|i| {
                    (1..=2).map(move |k| {
                        (
                            SAMPLE_USERS[i].to_string(),
                            SAMPLE_USERS[(i + k) % SAMPLE_USERS.len()].to_string(),
                        )
                    })
                })
                .collect();
            (users, follows)
        }
    };

    let bar = ProgressBar::new((users.len() + follows.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message("users");
    let users_len = users.len() as u64;
    let (users_created, _) = opened.store.import(users, Vec::new()).await?;
    bar.inc(users_len);
    bar.set_message("follows");
    let mut follows_created = 0;
    // Chunks keep each transaction short so a running server keeps writing.
    for chunk in follows.chunks(2_000) {
        let (_, created) = opened.store.import(Vec::new(), chunk.to_vec()).await?;
        follows_created += created;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_with_message("done");
    (opened.close)().await;
    Ok(SeedReport {
        users_created,
        follows_created,
    })
}

/// Seeds the sample accounts through a running gateway's public API (for a
/// server whose database this machine cannot reach). Graphs go to the
/// database in bulk instead (see [`seed`]).
pub async fn seed_over_http(base_url: &str, password: &str) -> anyhow::Result<SeedReport> {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client: Client<_, Full<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let base = base_url.trim_end_matches('/');
    let send = |path: String, body: Option<serde_json::Value>, auth: Option<String>| {
        let client = client.clone();
        async move {
            let mut req = http::Request::builder()
                .method(http::Method::POST)
                .uri(format!("{base}{path}"))
                .header(http::header::CONTENT_TYPE, "application/json");
            if let Some(auth) = auth {
                req = req.header(http::header::AUTHORIZATION, auth);
            }
            let body = body.map(|b| b.to_string()).unwrap_or_default();
            let resp = client
                .request(req.body(Full::new(body.into()))?)
                .await
                .with_context(|| format!("POST {base}{path}"))?;
            let status = resp.status();
            let text = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, String::from_utf8_lossy(&text).into_owned()))
        }
    };
    let mut report = SeedReport {
        users_created: 0,
        follows_created: 0,
    };
    for name in SAMPLE_USERS {
        let body = serde_json::json!({"username": name, "email": format!("{name}@example.com"), "password": password});
        let (status, text) = send("/api/v1/users".into(), Some(body), None).await?;
        match status.as_u16() {
            201 => report.users_created += 1,
            409 => {}
            _ => anyhow::bail!("registering {name}: {status} {text}"),
        }
    }
    for (i, name) in SAMPLE_USERS.iter().enumerate() {
        let auth = crate::bench::basic(name, password);
        for k in 1..=2 {
            let other = SAMPLE_USERS[(i + k) % SAMPLE_USERS.len()];
            let path = format!("/api/v1/users/{other}/follow");
            let (status, text) = send(path, None, Some(auth.clone())).await?;
            match status.as_u16() {
                201 => report.follows_created += 1,
                200 => {}
                _ => anyhow::bail!("{name} following {other}: {status} {text}"),
            }
        }
    }
    Ok(report)
}

/// Posts `per_user` posts for each of `user0..user{users-1}` through a running
/// gateway (the real write path, fan-out included), `concurrency` at a time.
/// Every fifth post is a community post in one of a few communities; every
/// post has eight common words, 20% two tags and 10% a mention.
pub async fn seed_posts_over_http(
    base_url: &str,
    users: usize,
    per_user: usize,
    password: &str,
    concurrency: usize,
) -> anyhow::Result<usize> {
    use futures::StreamExt;
    use http_body_util::{BodyExt, Full};

    const COMMUNITIES: &[&str] = &["rust", "music", "books", "campus", "news"];
    let client = crate::bench::client(concurrency);
    let base = base_url.trim_end_matches('/').to_string();
    let bar = ProgressBar::new((users * per_user) as u64);
    bar.set_style(
        ProgressStyle::with_template("   posts [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    let jobs = (0..per_user).flat_map(|k| (0..users).map(move |u| (u, k)));
    let results = futures::stream::iter(jobs)
        .map(|(u, k)| {
            let (client, base, bar) = (client.clone(), base.clone(), bar.clone());
            let auth = crate::bench::basic(&format!("user{u}"), password);
            async move {
                let words = seeded_words(u, k);
                let body = if k % 5 == 4 {
                    serde_json::json!({"title": format!("Thread {k} by user{u}: {words}"),
                        "community": COMMUNITIES[(u + k) % COMMUNITIES.len()],
                        "text": "Seeded community post."})
                } else {
                    serde_json::json!({"text": seeded_text(u, k, users, &words)})
                };
                let req = http::Request::post(format!("{base}/api/v1/posts"))
                    .header(http::header::AUTHORIZATION, auth)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .header("idempotency-key", format!("seed-{k}"))
                    .body(Full::new(bytes::Bytes::from(body.to_string())))?;
                let resp = client.request(req).await?;
                let status = resp.status();
                let text = resp.into_body().collect().await?.to_bytes();
                bar.inc(1);
                anyhow::ensure!(
                    status.as_u16() == 201,
                    "user{u}: {status} {}",
                    String::from_utf8_lossy(&text)
                );
                anyhow::Ok(())
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await;
    bar.finish();
    let created = results.iter().filter(|r| r.is_ok()).count();
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        anyhow::bail!("{created} posts created, then: {e}");
    }
    Ok(created)
}

/// Words everyone uses, so that searches for two of them match many posts
/// (as on a real site), drawn per post from a fixed pseudo-random sequence.
const SEED_WORDS: &[&str] = &[
    "coffee", "morning", "library", "exam", "music", "campus", "weekend", "party", "rain", "class",
    "dinner", "friends", "game", "book", "movie", "project", "coding", "rust", "garden", "bike",
    "concert", "lecture", "paper", "thesis", "pizza", "river", "sunny", "winter", "summer",
    "travel", "photo", "dance",
];

/// Tags of seeded posts (every fifth micro-post carries two).
const SEED_TAGS: &[&str] = &[
    "rust", "music", "books", "campus", "news", "food", "games", "art",
];

fn seeded_words(user: usize, k: usize) -> String {
    let mut x = (user as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64 + 1);
    (0..8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            SEED_WORDS[(x % SEED_WORDS.len() as u64) as usize]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A seeded micro-post: 20% of posts carry two tags, 10% mention another
/// seeded account.
fn seeded_text(user: usize, k: usize, users: usize, words: &str) -> String {
    let mut text = format!("Post {k} by user{user}: {words}");
    if k.is_multiple_of(5) {
        let tag = |i: usize| SEED_TAGS[(user + k + i) % SEED_TAGS.len()];
        text.push_str(&format!(" #{} #{}", tag(0), tag(3)));
    }
    if k % 10 == 1 && users > 1 {
        text.push_str(&format!(" @user{}", (user + 1 + k * 7) % users));
    }
    text
}

/// Seeds `count` messages between random pairs of `usernames` (accounts of
/// the users database at `users_url`) straight into the messages database at
/// `messages_url`, in transactions of 10,000 (a running server keeps
/// writing), after remembering the accounts in the messages replica. Every
/// tenth message offers two quick replies.
pub async fn seed_messages(
    users_url: &str,
    messages_url: &str,
    usernames: &[String],
    count: usize,
) -> anyhow::Result<usize> {
    use rookery_messages::store::{Account, NewMessage};

    let ids = Arc::new(IdGenerator::from_env());
    let users = rookery_users::open_store(users_url, ids.clone()).await?;
    let mut accounts = Vec::with_capacity(usernames.len());
    for name in usernames {
        let user = users
            .store
            .user_by_username(name)
            .await?
            .with_context(|| format!("no account {name}: seed the users first"))?;
        accounts.push(Account {
            id: user.id,
            username: user.username,
            active: user.active,
        });
    }
    (users.close)().await;
    anyhow::ensure!(accounts.len() >= 2, "messages need at least two accounts");

    let messages = rookery_messages::open_store(messages_url, ids).await?;
    messages.store.remember_accounts(&accounts).await?;
    let bar = ProgressBar::new(count as u64);
    bar.set_style(
        ProgressStyle::with_template("messages [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    let mut stored = 0;
    let mut next = 0;
    while next < count {
        let batch: Vec<NewMessage> = (next..count.min(next + 10_000))
            .map(|i| {
                let from = rand::random_range(0..accounts.len());
                // Anyone but the sender.
                let to = (from + rand::random_range(1..accounts.len())) % accounts.len();
                let (from, to) = (&accounts[from], &accounts[to]);
                NewMessage {
                    sender_id: from.id,
                    sender: from.username.clone(),
                    recipient_id: to.id,
                    recipient: to.username.clone(),
                    text: format!(
                        "Seeded message {i} from {} to {}.",
                        from.username, to.username
                    ),
                    quick_replies: if i % 10 == 0 {
                        vec!["Sounds good".into(), "Not now".into()]
                    } else {
                        Vec::new()
                    },
                    in_reply_to: None,
                }
            })
            .collect();
        next += batch.len();
        stored += messages.store.import(&batch).await?;
        bar.inc(batch.len() as u64);
    }
    bar.finish();
    (messages.close)().await;
    Ok(stored)
}
