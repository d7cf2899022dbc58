//! SQLite read connections reused without sqlx's release ping.
//!
//! sqlx's pool tests every connection it takes back with a ping, in a task
//! it spawns: for SQLite that is one more round trip to the connection's
//! worker thread (two thread wake-ups) and a task per statement, as much as
//! a short indexed read costs itself. A read-only connection to a local
//! file has nothing to flush or test, so [`Readers`] hands its connections
//! back to the idle list as they are. A statement on a connection is still
//! one round trip to its thread, so no query blocks the async workers.

use std::sync::{Arc, Mutex};

use either::Either;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteQueryResult, SqliteRow};
use sqlx::{ConnectOptions, Connection, Describe, Execute, Executor, Sqlite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bounded set of read-only connections to one SQLite file.
#[derive(Clone)]
pub struct Readers {
    inner: Arc<Inner>,
}

struct Inner {
    options: SqliteConnectOptions,
    idle: Mutex<Vec<SqliteConnection>>,
    /// One permit per connection that may exist.
    permits: Arc<Semaphore>,
    acquire_timeout: std::time::Duration,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("available", &self.inner.permits.available_permits())
            .finish()
    }
}

/// A connection lent by [`Readers`]; dropping it gives it back.
pub struct Reader {
    conn: Option<SqliteConnection>,
    /// Set when a statement failed in a way that may leave the connection
    /// unusable: it is closed instead of reused.
    broken: bool,
    pool: Arc<Inner>,
    _permit: OwnedSemaphorePermit,
}

impl Readers {
    /// Opens `first` connection at once (so a bad file fails here), up to
    /// `max` on demand. `options` should be read-only.
    pub async fn open(
        options: SqliteConnectOptions,
        max: usize,
        acquire_timeout: std::time::Duration,
    ) -> sqlx::Result<Self> {
        let first = options.connect().await?;
        Ok(Self {
            inner: Arc::new(Inner {
                options,
                idle: Mutex::new(vec![first]),
                permits: Arc::new(Semaphore::new(max.max(1))),
                acquire_timeout,
            }),
        })
    }

    /// A connection: an idle one, else a new one while under the bound,
    /// else the first given back (up to the acquire timeout).
    pub async fn acquire(&self) -> sqlx::Result<Reader> {
        let permit = tokio::time::timeout(
            self.inner.acquire_timeout,
            self.inner.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
        .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.inner.options.connect().await?,
        };
        Ok(Reader {
            conn: Some(conn),
            broken: false,
            pool: self.inner.clone(),
            _permit: permit,
        })
    }

    /// Closes the idle connections and refuses new acquisitions; lent ones
    /// close when given back.
    pub async fn close(&self) {
        self.inner.permits.close();
        let idle = std::mem::take(&mut *self.inner.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

impl std::ops::Deref for Reader {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a lent connection is present until dropped")
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a lent connection is present until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.broken || self.pool.permits.is_closed() {
            // Dropping a SQLite connection ends its worker thread.
            drop(conn);
            return;
        }
        self.pool
            .idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(conn);
    }
}

/// Errors after which a connection is not trusted again (its worker or
/// its file went away); statement errors leave it usable.
fn breaks_connection(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed
    )
}

// As sqlx's own `impl Executor for &Pool`, with a connection of [`Readers`].
impl<'p> Executor<'p> for &'_ Readers {
    type Database = Sqlite;

    fn fetch_many<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxStream<'e, Result<Either<SqliteQueryResult, SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        Box::pin(async_stream::try_stream! {
            let mut conn = pool.acquire().await?;
            let mut rows = (&mut *conn).fetch_many(query);
            while let Some(item) = rows.next().await {
                match item {
                    Ok(v) => yield v,
                    Err(err) => {
                        drop(rows);
                        conn.broken = breaks_connection(&err);
                        Err(err)?;
                        break;
                    }
                }
            }
        })
    }

    fn fetch_optional<'e, 'q: 'e, E>(
        self,
        query: E,
    ) -> BoxFuture<'e, Result<Option<SqliteRow>, sqlx::Error>>
    where
        E: 'q + Execute<'q, Sqlite>,
    {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            let found = (&mut *conn).fetch_optional(query).await;
            if let Err(err) = &found {
                conn.broken = breaks_connection(err);
            }
            found
        })
    }

    fn prepare_with<'e, 'q: 'e>(
        self,
        sql: &'q str,
        parameters: &'e [sqlx::sqlite::SqliteTypeInfo],
    ) -> BoxFuture<'e, Result<sqlx::sqlite::SqliteStatement<'q>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            (&mut *conn).prepare_with(sql, parameters).await
        })
    }

    fn describe<'e, 'q: 'e>(
        self,
        sql: &'q str,
    ) -> BoxFuture<'e, Result<Describe<Sqlite>, sqlx::Error>> {
        let pool = self.clone();
        Box::pin(async move {
            let mut conn = pool.acquire().await?;
            (&mut *conn).describe(sql).await
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn readers(max: usize) -> (tempfile::TempDir, Readers) {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true);
        let mut writer = options.connect().await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3)")
            .execute(&mut writer)
            .await
            .unwrap();
        let readers = Readers::open(options.read_only(true), max, Duration::from_millis(200))
            .await
            .unwrap();
        (dir, readers)
    }

    #[tokio::test]
    async fn a_connection_given_back_is_lent_again_as_it_was() {
        let (_dir, readers) = readers(1).await;
        {
            let mut conn = readers.acquire().await.unwrap();
            sqlx::query("PRAGMA cache_size = 1234")
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        let mut conn = readers.acquire().await.unwrap();
        let size: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(size, 1234, "the same connection, not a new one");
    }

    #[tokio::test]
    async fn statements_run_through_the_readers_and_writes_are_refused() {
        let (_dir, readers) = readers(2).await;
        let all: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(&readers)
            .await
            .unwrap();
        assert_eq!(all, vec![1, 2, 3]);
        let one: Option<i64> = sqlx::query_scalar("SELECT x FROM t WHERE x = $1")
            .bind(2)
            .fetch_optional(&readers)
            .await
            .unwrap();
        assert_eq!(one, Some(2));
        let refused = sqlx::query("INSERT INTO t VALUES (4)")
            .execute(&readers)
            .await;
        assert!(refused.is_err(), "read-only connections");
        // A failed statement leaves the connection usable.
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(&readers)
            .await
            .unwrap();
        assert_eq!(count, 3);
    }

    #[tokio::test]
    async fn lending_is_bounded_and_ends_at_close() {
        let (_dir, readers) = readers(1).await;
        let held = readers.acquire().await.unwrap();
        assert!(matches!(
            readers.acquire().await,
            Err(sqlx::Error::PoolTimedOut)
        ));
        drop(held);
        drop(readers.acquire().await.unwrap());
        readers.close().await;
        assert!(matches!(
            readers.acquire().await,
            Err(sqlx::Error::PoolClosed)
        ));
    }
}
