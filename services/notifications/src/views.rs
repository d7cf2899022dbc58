//! What a notification shows of other services' objects, asked of them in
//! one batch per page (the app wires these to the users and posts
//! services' internal routes over HTTP, or to their stores in-process).
//! Views come as JSON already written (shared: one account or post is in
//! many pages), so a page embeds them as they are.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;

/// Public views of accounts (as `GET /api/v1/users/{username}` shows them).
#[async_trait]
pub trait AccountViews: Send + Sync {
    /// The public views of those of `ids` (at most 100) that are active
    /// accounts, by id; unknown and deactivated ones are left out.
    async fn accounts(&self, ids: &[i64]) -> anyhow::Result<HashMap<i64, Arc<RawValue>>>;
}

/// Post list items.
#[async_trait]
pub trait PostViews: Send + Sync {
    /// The list items of those of `ids` (at most 100) that exist, by id;
    /// unknown and deleted ones are left out.
    async fn posts(&self, ids: &[i64]) -> anyhow::Result<HashMap<i64, Arc<RawValue>>>;
}
