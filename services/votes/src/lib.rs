//! The votes service: up/down votes and likes on posts, tallies, top lists,
//! score sorting, and polls. It keeps a replica of post facts from `post.*`
//! events and publishes `vote.changed` through its outbox.
//!
//! Status: the store (both databases) and the events are here; the HTTP
//! handlers, the consumer task and the wiring into `rookery serve` come next
//! (see docs/status.md).

use std::sync::Arc;

use rookery_kernel::ids::IdGenerator;

pub mod events;
pub mod store;

pub use store::{PostgresVoteStore, SqliteVoteStore, VoteStore};

/// The service's store on the database named by `url` (created and migrated).
pub async fn open_store(url: &str, ids: Arc<IdGenerator>) -> anyhow::Result<OpenedStore> {
    let pg_ids = ids.clone();
    rookery_kernel::db::open_store(
        url,
        (&store::sqlite::MIGRATOR, &store::postgres::MIGRATOR),
        |db, signal| Arc::new(SqliteVoteStore::new(db, ids, signal)) as Arc<dyn VoteStore>,
        |pool, signal| Arc::new(PostgresVoteStore::new(pool, pg_ids, signal)) as Arc<dyn VoteStore>,
    )
    .await
}

/// An opened store of this service.
pub type OpenedStore = rookery_kernel::db::OpenedStore<dyn VoteStore>;
