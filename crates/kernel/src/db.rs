//! Opening databases: SQLite (WAL, busy timeout, foreign keys, one writer
//! connection and a pool of readers) or PostgreSQL, migrated on open.

mod readers;

pub use readers::{Reader, Readers};

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// SQLite SQL for the ids of a JSON array bound as text at `param` (an id
/// list as one parameter, so its statement is prepared once).
pub fn sqlite_json_ids(param: &str) -> String {
    format!("SELECT value FROM json_each({param})")
}

/// [`sqlite_json_ids`] for PostgreSQL.
pub fn postgres_json_ids(param: &str) -> String {
    format!("SELECT jsonb_array_elements_text({param}::jsonb)::bigint")
}

/// Which engine a `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_string()))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_string()))
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres:// (got {url:?})")
        }
    }
}

/// A SQLite database: SQLite allows one writer at a time, so writes go through
/// a single connection (no busy-retry storms) while reads use a pool. sqlx runs
/// each connection on its own thread, so no query blocks the async workers.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pub reader: Readers,
    /// Read transactions (one snapshot for several statements): sqlx's
    /// pool, whose transactions own their connection.
    pub snapshots: SqlitePool,
    pub writer: SqlitePool,
    /// One connection that copies the WAL back into the database file, so
    /// the writer's commits never pay for it.
    checkpointer: SqlitePool,
}

impl SqliteDb {
    pub async fn open(url: &str, migrator: &Migrator) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("bad SQLite URL {url}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("cache_size", "-16000")
            .pragma("temp_store", "memory")
            // Checkpoints run beside the writer (see `run_checkpoints`); this
            // is only the writer's backstop should they fall behind.
            .pragma("wal_autocheckpoint", "20000")
            .pragma("journal_size_limit", "67108864");
        // A local file cannot go stale like a network connection, and sqlx's
        // default ping before every acquire costs one more round trip to the
        // connection's thread per query.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("opening {url}"))?;
        migrator
            .run(&writer)
            .await
            .with_context(|| format!("migrating {url}"))?;
        let readers = std::thread::available_parallelism().map_or(4, |n| n.get().max(4));
        let reader = Readers::open(
            options.clone().read_only(true),
            readers,
            Duration::from_secs(10),
        )
        .await
        .with_context(|| format!("opening {url} for reading"))?;
        let snapshots = SqlitePoolOptions::new()
            .max_connections(2)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(10))
            .connect_lazy_with(options.clone().read_only(true));
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .with_context(|| format!("opening {url} for checkpoints"))?;
        tokio::spawn(run_checkpoints(checkpointer.clone()));
        Ok(Self {
            reader,
            snapshots,
            writer,
            checkpointer,
        })
    }

    /// A write transaction with `BEGIN IMMEDIATE`: it takes the write lock up
    /// front, so one that reads before it writes waits (busy timeout) for
    /// another process's writer instead of failing with SQLITE_BUSY when it
    /// would upgrade its read snapshot.
    pub async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.writer.begin_with("BEGIN IMMEDIATE").await
    }

    /// Checkpoints the WAL into the database file, then closes every
    /// connection: what is on disk afterwards is complete without the WAL.
    pub async fn close(&self) {
        self.checkpointer.close().await;
        self.reader.close().await;
        self.snapshots.close().await;
        if let Err(err) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await
        {
            tracing::warn!(error = %err, "WAL checkpoint on close failed");
        }
        self.writer.close().await;
    }
}

/// Passive checkpoints (they wait for no reader or writer) every 200 ms, until the pool closes.
async fn run_checkpoints(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(err) => tracing::debug!(error = %err, "WAL checkpoint failed"),
        }
    }
}

/// Opens a PostgreSQL pool and runs the migrations (sqlx takes an advisory
/// lock, so instances starting together migrate once).
pub async fn open_postgres(url: &str, migrator: &Migrator) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url).context("bad PostgreSQL URL")?;
    open_postgres_with(options, migrator).await
}

/// How recently a pooled PostgreSQL connection must have been used to be
/// handed out without a ping.
const ALIVE_WITHOUT_PING: Duration = Duration::from_millis(500);

pub async fn open_postgres_with(
    options: PgConnectOptions,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let max = std::env::var("DATABASE_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings every connection before handing it out: one more round
        // trip per query. A connection used within the last half second is
        // alive (HikariCP's bypass window); one idle longer, which may have
        // outlived a server restart, is still checked.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > ALIVE_WITHOUT_PING {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL")?;
    migrator.run(&pool).await.context("migrating PostgreSQL")?;
    Ok(pool)
}

/// SQLite URL of `<dir>/<name>.db`.
pub fn sqlite_url_in(dir: &std::path::Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(format!("{name}.db")).display())
}

/// PostgreSQL for tests: each test gets a schema of its own in the database of
/// `ROOKERY_TEST_POSTGRES_URL`, dropped by [`TestPostgres::cleanup`].
pub struct TestPostgres {
    pub pool: PgPool,
    admin: PgPool,
    schema: String,
}

impl TestPostgres {
    /// `None` (and a note on stderr) when `ROOKERY_TEST_POSTGRES_URL` is not set.
    pub async fn from_env(migrator: &Migrator) -> Option<Self> {
        let Ok(url) = std::env::var("ROOKERY_TEST_POSTGRES_URL") else {
            eprintln!("skipped: ROOKERY_TEST_POSTGRES_URL is not set");
            return None;
        };
        Some(
            Self::create(&url, migrator)
                .await
                .expect("PostgreSQL test database"),
        )
    }

    pub async fn create(url: &str, migrator: &Migrator) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let schema = format!("t_{:016x}", rand::random::<u64>());
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await?;
        let options = options.options([("search_path", schema.as_str())]);
        let pool = open_postgres_with(options, migrator).await?;
        Ok(Self {
            pool,
            admin,
            schema,
        })
    }

    pub async fn cleanup(self) {
        self.pool.close().await;
        let _ = sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .execute(&self.admin)
            .await;
        self.admin.close().await;
    }
}

/// A service's store opened from a `DATABASE_URL`, with the outbox its relay
/// reads, the signal that wakes the relay, and what closes the database.
pub struct OpenedStore<S: ?Sized> {
    pub store: std::sync::Arc<S>,
    pub outbox: std::sync::Arc<dyn crate::events::OutboxSource>,
    pub signal: crate::events::OutboxSignal,
    pub close: Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>,
}

/// Opens (creating and migrating) the database named by `url` and builds the
/// service's store on it: `sqlite` or `postgres` gets the opened database and
/// the outbox signal.
pub async fn open_store<S: ?Sized>(
    url: &str,
    migrators: (&Migrator, &Migrator),
    sqlite: impl FnOnce(SqliteDb, crate::events::OutboxSignal) -> std::sync::Arc<S>,
    postgres: impl FnOnce(PgPool, crate::events::OutboxSignal) -> std::sync::Arc<S>,
) -> anyhow::Result<OpenedStore<S>> {
    let signal = crate::events::OutboxSignal::default();
    Ok(match DatabaseUrl::parse(url)? {
        DatabaseUrl::Sqlite(url) => {
            let db = SqliteDb::open(&url, migrators.0).await?;
            let closer = db.clone();
            OpenedStore {
                store: sqlite(db.clone(), signal.clone()),
                outbox: std::sync::Arc::new(db),
                signal,
                close: Box::new(move || Box::pin(async move { closer.close().await })),
            }
        }
        DatabaseUrl::Postgres(url) => {
            let pool = open_postgres(&url, migrators.1).await?;
            let closer = pool.clone();
            OpenedStore {
                store: postgres(pool.clone(), signal.clone()),
                outbox: std::sync::Arc::new(pool),
                signal,
                close: Box::new(move || Box::pin(async move { closer.close().await })),
            }
        }
    })
}
