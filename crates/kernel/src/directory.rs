//! Asking the owning service about an account that a replica (fed by
//! `user.*` events) does not know yet: its `user.registered` event may still
//! be on the way, or no bus connects the processes.

use async_trait::async_trait;

use crate::{ApiError, ApiResult};

/// What another service keeps of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub active: bool,
}

#[async_trait]
pub trait AccountDirectory: Send + Sync {
    /// The account named `username` (case-insensitively), deactivated ones
    /// included; `None` when there is none.
    async fn account(&self, username: &str) -> anyhow::Result<Option<Account>>;
}

/// The account of `username` as a service with a replica of accounts sees
/// it: the replica first; after a miss the users service through
/// `directory`, whose answer goes to `remember` (so the next lookup is
/// local). 503 when the users service cannot be asked.
pub async fn replica_or_directory<E: Into<ApiError>>(
    username: &str,
    replica: impl Future<Output = Result<Option<Account>, E>>,
    directory: &dyn AccountDirectory,
    remember: impl AsyncFnOnce(&Account) -> Result<(), E>,
) -> ApiResult<Option<Account>> {
    if let Some(account) = replica.await.map_err(Into::into)? {
        return Ok(Some(account));
    }
    let asked = directory.account(username).await.map_err(|err| {
        tracing::warn!(error = %err, username, "asking the users service failed");
        ApiError::unavailable("the users service is unavailable, try again")
    })?;
    if let Some(account) = &asked {
        remember(account).await.map_err(Into::into)?;
    }
    Ok(asked)
}

/// The SQL of an `accounts (id, username, username_key, active)` replica,
/// the same on SQLite and PostgreSQL, so every replica keeps the same rules.
pub mod replica_sql {
    /// `$1` username_key, `$2` id. A username names one account: a row of it
    /// under another id is stale (a restored or foreign users database); the
    /// newest fact wins rather than a unique violation that would stop the
    /// consumer. Run before [`UPSERT`].
    pub const DELETE_STALE: &str = "DELETE FROM accounts WHERE username_key = $1 AND id <> $2";
    /// `$1` id, `$2` username, `$3` username_key, `$4` active. Deactivation is final.
    pub const UPSERT: &str = "INSERT INTO accounts (id, username, username_key, active)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (id) DO UPDATE SET active = accounts.active AND excluded.active";
}
