//! The Mastodon API's own data: OAuth apps, authorization codes, app
//! tokens, which statuses carry polls, and where each account cleared its
//! notifications. One trait, SQLite and PostgreSQL implementations (the same
//! SQL but for placeholders).

use async_trait::async_trait;

pub mod postgres;
pub mod sqlite;

pub use postgres::PostgresMastodonStore;
pub use sqlite::SqliteMastodonStore;

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub client_id: String,
    /// SHA-256 (hex) of the client secret; the secret itself is never stored.
    pub secret_hash: String,
    pub name: String,
    pub website: Option<String>,
    pub redirect_uris: Vec<String>,
    /// Space-separated, as registered.
    pub scopes: String,
    pub created_at: i64,
}

/// A code handed out at consent, waiting to be exchanged for its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub access_token: String,
    pub expires_at: i64,
}

/// A client_credentials token: the app itself, no account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppToken {
    pub token_hash: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait MastodonStore: Send + Sync + 'static {
    async fn create_app(&self, app: &App) -> StoreResult<()>;
    async fn app(&self, client_id: &str) -> StoreResult<Option<App>>;
    async fn create_code(&self, code: &AuthCode) -> StoreResult<()>;
    /// Removes and returns the code (a code works once), unless it expired
    /// before `now`.
    async fn take_code(&self, code_hash: &str, now: i64) -> StoreResult<Option<AuthCode>>;
    async fn create_app_token(&self, token: &AppToken) -> StoreResult<()>;
    async fn app_token(&self, token_hash: &str) -> StoreResult<Option<AppToken>>;
    async fn delete_app_token(&self, token_hash: &str) -> StoreResult<bool>;
    async fn link_poll(&self, post_id: i64, poll_id: i64) -> StoreResult<()>;
    /// (post id, poll id) for those of `post_ids` that carry a poll.
    async fn polls_of(&self, post_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
    /// Every (post id, poll id) link.
    async fn poll_links(&self) -> StoreResult<Vec<(i64, i64)>>;
    /// Notifications up to `up_to` leave the account's view (never moves back).
    async fn clear_notifications(&self, username: &str, up_to: i64) -> StoreResult<()>;
    async fn cleared_up_to(&self, username: &str) -> StoreResult<Option<i64>>;
    /// Forgets codes that expired before `now`; gives how many.
    async fn delete_expired_codes(&self, now: i64) -> StoreResult<u64>;
    async fn ping(&self) -> StoreResult<()>;
}

/// The key of an account (usernames are case-insensitive).
pub(crate) fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// Writes the SQL of a store with the given placeholders (`$p`) and the
/// engine's way of reading a JSON array of ids bound as text (`$ids`).
macro_rules! mastodon_store_sql {
    ($store:ty, $p1:literal, $p2:literal, $p3:literal, $p4:literal, $p5:literal, $p6:literal, $p7:literal, $ids:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::MastodonStore for $store {
            async fn create_app(&self, app: &$crate::store::App) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO apps (client_id, secret_hash, name, website, redirect_uris, scopes, created_at) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4, ", ", $p5, ", ", $p6, ", ", $p7, ")"
                ))
                .bind(&app.client_id)
                .bind(&app.secret_hash)
                .bind(&app.name)
                .bind(&app.website)
                .bind(app.redirect_uris.join("\n"))
                .bind(&app.scopes)
                .bind(app.created_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn app(&self, client_id: &str) -> $crate::store::StoreResult<Option<$crate::store::App>> {
                let row: Option<(String, String, String, Option<String>, String, String, i64)> = sqlx::query_as(concat!(
                    "SELECT client_id, secret_hash, name, website, redirect_uris, scopes, created_at FROM apps WHERE client_id = ",
                    $p1
                ))
                .bind(client_id)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(client_id, secret_hash, name, website, uris, scopes, created_at)| {
                    $crate::store::App {
                        client_id,
                        secret_hash,
                        name,
                        website,
                        redirect_uris: uris.lines().map(str::to_owned).collect(),
                        scopes,
                        created_at,
                    }
                }))
            }

            async fn create_code(&self, code: &$crate::store::AuthCode) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO auth_codes (code_hash, client_id, redirect_uri, scope, access_token, expires_at) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4, ", ", $p5, ", ", $p6, ")"
                ))
                .bind(&code.code_hash)
                .bind(&code.client_id)
                .bind(&code.redirect_uri)
                .bind(&code.scope)
                .bind(&code.access_token)
                .bind(code.expires_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn take_code(
                &self,
                code_hash: &str,
                now: i64,
            ) -> $crate::store::StoreResult<Option<$crate::store::AuthCode>> {
                // DELETE .. RETURNING: of two concurrent exchanges only one
                // gets the row.
                let row: Option<(String, String, String, String, String, i64)> = sqlx::query_as(concat!(
                    "DELETE FROM auth_codes WHERE code_hash = ", $p1,
                    " RETURNING code_hash, client_id, redirect_uri, scope, access_token, expires_at"
                ))
                .bind(code_hash)
                .fetch_optional(self.writer())
                .await?;
                Ok(row
                    .filter(|r| r.5 > now)
                    .map(|(code_hash, client_id, redirect_uri, scope, access_token, expires_at)| {
                        $crate::store::AuthCode { code_hash, client_id, redirect_uri, scope, access_token, expires_at }
                    }))
            }

            async fn create_app_token(&self, t: &$crate::store::AppToken) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO app_tokens (token_hash, client_id, scope, created_at) VALUES (",
                    $p1, ", ", $p2, ", ", $p3, ", ", $p4, ")"
                ))
                .bind(&t.token_hash)
                .bind(&t.client_id)
                .bind(&t.scope)
                .bind(t.created_at)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn app_token(&self, token_hash: &str) -> $crate::store::StoreResult<Option<$crate::store::AppToken>> {
                let row: Option<(String, String, String, i64)> = sqlx::query_as(concat!(
                    "SELECT token_hash, client_id, scope, created_at FROM app_tokens WHERE token_hash = ", $p1
                ))
                .bind(token_hash)
                .fetch_optional(self.reader())
                .await?;
                Ok(row.map(|(token_hash, client_id, scope, created_at)| {
                    $crate::store::AppToken { token_hash, client_id, scope, created_at }
                }))
            }

            async fn delete_app_token(&self, token_hash: &str) -> $crate::store::StoreResult<bool> {
                let done = sqlx::query(concat!("DELETE FROM app_tokens WHERE token_hash = ", $p1))
                    .bind(token_hash)
                    .execute(self.writer())
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn link_poll(&self, post_id: i64, poll_id: i64) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO status_polls (post_id, poll_id) VALUES (", $p1, ", ", $p2,
                    ") ON CONFLICT (post_id) DO NOTHING"
                ))
                .bind(post_id)
                .bind(poll_id)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn polls_of(&self, post_ids: &[i64]) -> $crate::store::StoreResult<Vec<(i64, i64)>> {
                if post_ids.is_empty() {
                    return Ok(Vec::new());
                }
                let ids = serde_json::to_string(post_ids).unwrap_or_else(|_| "[]".into());
                Ok(sqlx::query_as(concat!(
                    "SELECT post_id, poll_id FROM status_polls WHERE post_id IN (", $ids, ")"
                ))
                .bind(ids)
                .fetch_all(self.reader())
                .await?)
            }

            async fn poll_links(&self) -> $crate::store::StoreResult<Vec<(i64, i64)>> {
                Ok(sqlx::query_as("SELECT post_id, poll_id FROM status_polls")
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn clear_notifications(&self, username: &str, up_to: i64) -> $crate::store::StoreResult<()> {
                sqlx::query(concat!(
                    "INSERT INTO notification_clears (username_key, up_to) VALUES (", $p1, ", ", $p2,
                    ") ON CONFLICT (username_key) DO UPDATE SET up_to = CASE WHEN excluded.up_to > notification_clears.up_to THEN excluded.up_to ELSE notification_clears.up_to END"
                ))
                .bind($crate::store::username_key(username))
                .bind(up_to)
                .execute(self.writer())
                .await?;
                Ok(())
            }

            async fn cleared_up_to(&self, username: &str) -> $crate::store::StoreResult<Option<i64>> {
                Ok(sqlx::query_scalar(concat!(
                    "SELECT up_to FROM notification_clears WHERE username_key = ", $p1
                ))
                .bind($crate::store::username_key(username))
                .fetch_optional(self.reader())
                .await?)
            }

            async fn delete_expired_codes(&self, now: i64) -> $crate::store::StoreResult<u64> {
                let done = sqlx::query(concat!("DELETE FROM auth_codes WHERE expires_at <= ", $p1))
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
pub(crate) use mastodon_store_sql;
