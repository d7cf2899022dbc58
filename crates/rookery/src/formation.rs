//! A local formation: the gateway and N instances of each service as
//! separate processes of this binary, on PostgreSQL (one database per
//! service), with Redis and NATS when given. `rookery up` runs one for demos
//! and by hand; the fault tests start one to kill and restart its parts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::{Child, Command};

/// The services a formation runs, in start order: the gateway's list, whose
/// order is that (votes and messages ask users and posts instances on a
/// miss; notifications shows their accounts and posts; web, a client of the
/// public API, calls the gateway; so does mastodon).
pub const SERVICES: &[&str] = rookery_gateway::SERVICES;

/// What to start.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `rookery` executable.
    pub binary: PathBuf,
    /// The gateway's address (`host:port`).
    pub gateway: String,
    /// The gateway's second listener, for the Mastodon API (`host:port`;
    /// None: no Mastodon origin).
    pub mastodon_gateway: Option<String>,
    /// Instances listen on consecutive ports from here; 0 picks free ports.
    pub first_port: u16,
    /// Instances per service (`SERVICES`); 0 leaves a service out.
    pub instances: BTreeMap<String, usize>,
    /// A PostgreSQL URL whose server gets one database per service,
    /// `<prefix>_<service>`, created when missing.
    pub postgres: String,
    pub database_prefix: String,
    pub redis: Option<String>,
    pub nats: Option<String>,
    /// The shared signing secret (`ROOKERY_SECRET`, >= 32 characters).
    pub secret: String,
    /// Each process writes `<name>.log` here.
    pub log_dir: PathBuf,
    pub discovery: Discovery,
}

/// How the processes of a formation find each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Discovery {
    /// Every process is given the others' URLs (`--upstream`,
    /// `ROOKERY_USERS_URL`, ...).
    #[default]
    Static,
    /// The gateway starts first with an admin token; every instance is
    /// given only `--register <gateway>`, and finds its peers in the
    /// gateway's registry.
    Registry,
}

/// One running (or stopped) process of the formation.
struct Process {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    base: String,
    child: Option<Child>,
}

pub struct Formation {
    plan: Plan,
    gateway: Process,
    /// By service, in index order.
    instances: BTreeMap<String, Vec<Process>>,
    admin_token: Option<String>,
}

impl Formation {
    /// Creates the databases, starts every instance and the gateway in
    /// front of them (first with [`Discovery::Registry`], last otherwise),
    /// and waits until all answer `/healthz` (and are registered).
    pub async fn start(plan: Plan) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&plan.log_dir)
            .with_context(|| format!("creating {}", plan.log_dir.display()))?;
        let mut next_port = plan.first_port;
        let mut bases: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for &service in SERVICES {
            let count = plan.instances.get(service).copied().unwrap_or(0);
            let list = bases.entry(service.to_string()).or_default();
            for _ in 0..count {
                let port = if plan.first_port == 0 {
                    free_port()?
                } else {
                    next_port += 1;
                    next_port - 1
                };
                list.push(format!("http://127.0.0.1:{port}"));
            }
        }
        let registry = plan.discovery == Discovery::Registry;
        let gateway_base = format!("http://{}", plan.gateway);
        let admin_token = format!("{:032x}", rand::random::<u128>());
        let mut gateway_args = vec!["gateway".into(), "--listen".into(), plan.gateway.clone()];
        if let Some(second) = &plan.mastodon_gateway {
            gateway_args.push("--mastodon-listen".into());
            gateway_args.push(second.clone());
        }
        let mut gateway_env = common_env(&plan);
        if registry {
            gateway_env.push(("ROOKERY_ADMIN_TOKEN".into(), admin_token.clone()));
        } else {
            for (service, urls) in &bases {
                if !urls.is_empty() {
                    gateway_args.push("--upstream".into());
                    gateway_args.push(format!("{service}={}", urls.join(",")));
                }
            }
        }
        let mut gateway = Process {
            name: "gateway".into(),
            args: gateway_args,
            env: gateway_env,
            base: gateway_base.clone(),
            child: None,
        };
        if registry {
            // Instances register with it as they start.
            gateway.spawn(&plan)?;
            wait_healthy(&gateway.base, Duration::from_secs(30)).await?;
        }
        let mut instances = BTreeMap::new();
        for &service in SERVICES {
            let urls = &bases[service];
            if urls.is_empty() {
                continue;
            }
            let database = create_database(&plan.postgres, &plan.database_prefix, service).await?;
            let mut env = common_env(&plan);
            env.push(("DATABASE_URL".into(), database));
            if registry {
                env.push(("ROOKERY_ADMIN_TOKEN".into(), admin_token.clone()));
            } else {
                env.push(("ROOKERY_POSTS_URL".into(), bases["posts"].join(",")));
                // Votes, messages and posts ask the users instances about
                // accounts their replicas do not know yet; notifications asks
                // users and posts for the views of its pages.
                env.push(("ROOKERY_USERS_URL".into(), bases["users"].join(",")));
                env.push(("ROOKERY_GATEWAY_URL".into(), gateway_base.clone()));
            }
            let mut processes = Vec::new();
            for (index, base) in urls.iter().enumerate() {
                let listen = base.trim_start_matches("http://").to_string();
                let mut args = vec!["service".into(), service.into(), "--listen".into(), listen];
                if registry {
                    args.extend(["--register".into(), gateway_base.clone()]);
                }
                let mut process = Process {
                    name: format!("{service}.{index}"),
                    args,
                    env: env.clone(),
                    base: base.clone(),
                    child: None,
                };
                process.spawn(&plan)?;
                processes.push(process);
            }
            // Wait per service: later ones ask these on a miss, and the first
            // instance of each migrates its database.
            for process in &processes {
                wait_healthy(&process.base, Duration::from_secs(60)).await?;
                if registry {
                    wait_registered(&gateway_base, &admin_token, service, &process.base).await?;
                }
            }
            instances.insert(service.to_string(), processes);
        }
        if !registry {
            gateway.spawn(&plan)?;
            wait_healthy(&gateway.base, Duration::from_secs(30)).await?;
        }
        Ok(Self {
            plan,
            gateway,
            instances,
            admin_token: registry.then_some(admin_token),
        })
    }

    /// The gateway's admin token ([`Discovery::Registry`] only).
    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    /// The gateway's base URL.
    pub fn url(&self) -> &str {
        &self.gateway.base
    }

    /// The base URL of one instance.
    pub fn instance_url(&self, service: &str, index: usize) -> anyhow::Result<&str> {
        Ok(&self.instance(service, index)?.base)
    }

    fn instance(&self, service: &str, index: usize) -> anyhow::Result<&Process> {
        self.instances
            .get(service)
            .and_then(|list| list.get(index))
            .with_context(|| format!("no instance {service}.{index}"))
    }

    fn instance_mut(&mut self, service: &str, index: usize) -> anyhow::Result<&mut Process> {
        self.instances
            .get_mut(service)
            .and_then(|list| list.get_mut(index))
            .with_context(|| format!("no instance {service}.{index}"))
    }

    /// SIGKILL: the instance dies mid-request, as on a crash.
    pub async fn kill(&mut self, service: &str, index: usize) -> anyhow::Result<()> {
        self.instance_mut(service, index)?.kill().await
    }

    /// Starts a killed instance again on its address and waits for it.
    pub async fn restart(&mut self, service: &str, index: usize) -> anyhow::Result<()> {
        let plan = self.plan.clone();
        let process = self.instance_mut(service, index)?;
        process.spawn(&plan)?;
        wait_healthy(&process.base, Duration::from_secs(60)).await
    }

    /// SIGTERM to everything (the gateway first), then waits for the exits.
    pub async fn stop(mut self) {
        self.gateway.terminate().await;
        for list in self.instances.values_mut() {
            for process in list.iter_mut() {
                process.terminate().await;
            }
        }
    }

    /// Waits until any process exits; its name and status (for `rookery up`).
    pub async fn watch(&mut self) -> (String, std::io::Result<std::process::ExitStatus>) {
        loop {
            for process in std::iter::once(&mut self.gateway)
                .chain(self.instances.values_mut().flat_map(|l| l.iter_mut()))
            {
                if let Some(child) = process.child.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    process.child = None;
                    return (process.name.clone(), Ok(status));
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Drops the formation's databases (tests clean up with it).
    pub async fn drop_databases(plan: &Plan) -> anyhow::Result<()> {
        let admin = sqlx::PgPool::connect(&plan.postgres).await?;
        for &service in SERVICES {
            let name = database_name(&plan.database_prefix, service);
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&admin)
                .await?;
        }
        admin.close().await;
        Ok(())
    }
}

impl Process {
    fn spawn(&mut self, plan: &Plan) -> anyhow::Result<()> {
        let log = log_file(&plan.log_dir, &self.name)?;
        let child = Command::new(&plan.binary)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // A test that panics must not leave processes behind.
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        self.child = Some(child);
        Ok(())
    }

    async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().await?;
        }
        Ok(())
    }

    /// SIGTERM, so in-flight requests finish; SIGKILL after 10 s.
    async fn terminate(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            // SAFETY: `kill` only sends a signal to a process id we started.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
}

/// A port on loopback that is free now (bound, then released for a child).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn common_env(plan: &Plan) -> Vec<(String, String)> {
    let mut env = vec![("ROOKERY_SECRET".to_string(), plan.secret.clone())];
    if let Some(redis) = &plan.redis {
        env.push(("REDIS_URL".into(), redis.clone()));
        env.push((
            "ROOKERY_REDIS_PREFIX".into(),
            format!("{}:", plan.database_prefix),
        ));
    }
    if let Some(nats) = &plan.nats {
        env.push(("NATS_URL".into(), nats.clone()));
        // One stream and subject prefix per formation, named like its
        // databases: formations sharing a NATS server never see each other's events.
        env.push((
            "ROOKERY_NATS_STREAM".into(),
            plan.database_prefix.to_uppercase(),
        ));
        env.push((
            "ROOKERY_NATS_PREFIX".into(),
            format!("{}.events", plan.database_prefix),
        ));
    }
    env
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    let path = dir.join(format!("{name}.log"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

fn database_name(prefix: &str, service: &str) -> String {
    format!("{prefix}_{service}")
}

/// Creates `<prefix>_<service>` on the server of `admin_url` if missing and
/// answers its URL.
async fn create_database(admin_url: &str, prefix: &str, service: &str) -> anyhow::Result<String> {
    let name = database_name(prefix, service);
    anyhow::ensure!(
        name.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "database prefix {prefix:?}: use lower-case letters, digits and _"
    );
    let admin = sqlx::PgPool::connect(admin_url)
        .await
        .with_context(|| format!("connecting to {admin_url}"))?;
    let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&admin)
        .await?;
    if exists.is_none() {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    admin.close().await;
    let mut url = url::Url::parse(admin_url).context("the PostgreSQL URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Waits until the gateway at `gateway` lists `base` as an instance of
/// `service` (it registers within a heartbeat of starting).
async fn wait_registered(
    gateway: &str,
    admin_token: &str,
    service: &str,
    base: &str,
) -> anyhow::Result<()> {
    let client = crate::bench::client(1);
    let started = Instant::now();
    loop {
        let listed =
            rookery_gateway::discovery::list_instances(&client, gateway, Some(admin_token));
        if listed
            .await
            .is_ok_and(|items| items.iter().any(|i| i.service == service && i.url == base))
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "{service} at {base} did not register with {gateway} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `GET {base}/healthz` until 200 or `limit`.
pub async fn wait_healthy(base: &str, limit: Duration) -> anyhow::Result<()> {
    let client = crate::bench::client(1);
    let started = Instant::now();
    loop {
        let uri: http::Uri = format!("{base}/healthz").parse()?;
        let req = http::Request::get(uri).body(http_body_util::Full::new(bytes::Bytes::new()))?;
        if let Ok(Ok(resp)) =
            tokio::time::timeout(Duration::from_secs(1), client.request(req)).await
            && resp.status().is_success()
        {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < limit,
            "{base} did not answer /healthz within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
