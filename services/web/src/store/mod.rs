//! The web client's own data: sessions. One trait, SQLite and PostgreSQL
//! implementations (the same SQL but for placeholders).

use async_trait::async_trait;

pub mod cached;
pub mod postgres;
pub mod sqlite;

pub use cached::CachedSessionStore;
pub use postgres::PostgresSessionStore;
pub use sqlite::SqliteSessionStore;

/// A logged-in browser: the bearer token the users API issued for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the cookie's value; the value itself is never stored.
    pub id_hash: String,
    pub username: String,
    pub token: String,
    /// The synchronizer token every state-changing form of this session carries.
    pub csrf: String,
    pub created_at: i64,
    /// Milliseconds since the epoch; the token's own expiry.
    pub expires_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    async fn create(&self, session: &Session) -> StoreResult<()>;
    /// The session with this id hash, unless it expired before `now`.
    async fn find(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>>;
    async fn delete(&self, id_hash: &str) -> StoreResult<()>;
    /// Ends every session of the account (password change, deactivation);
    /// gives how many there were.
    async fn delete_for_user(&self, username: &str) -> StoreResult<u64>;
    /// Forgets sessions that expired before `now`.
    async fn delete_expired(&self, now: i64) -> StoreResult<u64>;
    async fn ping(&self) -> StoreResult<()>;
}

/// The key sessions of one account share (usernames are case-insensitive).
pub(crate) fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Writes the SQL of a store with the given placeholders.
macro_rules! session_store_sql {
    ($store:ty, $p1:literal, $p2:literal, $p3:literal, $p4:literal, $p5:literal, $p6:literal, $p7:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::SessionStore for $store {
            async fn create(&self, s: &$crate::store::Session) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO sessions (id_hash, username_key, username, token, csrf, created_at, expires_at) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4, ", ", $p5, ", ", $p6, ", ", $p7, ")"
                ))
                .bind(&s.id_hash)
                .bind($crate::store::username_key(&s.username))
                .bind(&s.username)
                .bind(&s.token)
                .bind(&s.csrf)
                .bind(s.created_at)
                .bind(s.expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn find(
                &self,
                id_hash: &str,
                now: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::Session>> {
                let row: Option<(String, String, String, String, i64, i64)> = sqlx::query_as(concat!(
                    "SELECT id_hash, username, token, csrf, created_at, expires_at FROM sessions WHERE id_hash = ",
                    $p1, " AND expires_at > ", $p2
                ))
                .bind(id_hash)
                .bind(now)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(id_hash, username, token, csrf, created_at, expires_at)| {
                    $crate::store::Session { id_hash, username, token, csrf, created_at, expires_at }
                }))
            }

            async fn delete(&self, id_hash: &str) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!("DELETE FROM sessions WHERE id_hash = ", $p1))
                    .bind(id_hash)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn delete_for_user(&self, username: &str) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query(concat!("DELETE FROM sessions WHERE username_key = ", $p1))
                    .bind($crate::store::username_key(username))
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn delete_expired(&self, now: i64) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query(concat!("DELETE FROM sessions WHERE expires_at <= ", $p1))
                    .bind(now)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected())
            }

            async fn ping(&self) -> $crate::store::StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.reader()).await?;
                Ok(())
            }
        }
    };
}
pub(crate) use session_store_sql;
