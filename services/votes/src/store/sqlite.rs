//! SQLite implementation of [`VoteStore`].

use std::sync::Arc;

use async_trait::async_trait;
use rookery_kernel::db::SqliteDb;
use rookery_kernel::events::{OutboxSignal, outbox_insert_sqlite};
use rookery_kernel::group_commit::{GroupCommit, GroupWriter};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use sqlx::{SqliteConnection, SqlitePool};

use super::sql_store::sql_vote_store;
use super::{
    Account, Applied, Change, Direction, Like, NewPoll, Poll, PollOption, PollStore, PostFacts,
    Ranked, StoreError, StoreResult, Tally, VoteStore,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteVoteStore {
    db: SqliteDb,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
    /// Votes go through one writer task that commits them in groups.
    votes: Option<GroupCommit<SqliteVoteStore>>,
}

/// One vote: who, on which post, which way (`None` removes it).
pub struct VoteJob {
    user_id: i64,
    post_id: i64,
    direction: Option<Direction>,
}

/// Votes waiting for the writer at most (back-pressure beyond that).
const VOTE_QUEUE: usize = 1024;
/// Votes committed together at most.
const GROUP_COMMIT: usize = 256;

impl SqliteVoteStore {
    /// Starts the group-commit writer task (on the current Tokio runtime); it
    /// ends when the store is dropped.
    pub fn new(db: SqliteDb, ids: Arc<IdGenerator>, outbox: OutboxSignal) -> Self {
        let writer = Self {
            db: db.clone(),
            ids: ids.clone(),
            outbox: outbox.clone(),
            votes: None,
        };
        Self {
            db,
            ids,
            outbox,
            votes: Some(GroupCommit::start(writer, VOTE_QUEUE, GROUP_COMMIT)),
        }
    }

    async fn vote_committed(
        &self,
        user_id: i64,
        post_id: i64,
        direction: Option<Direction>,
    ) -> StoreResult<Tally> {
        let job = VoteJob {
            user_id,
            post_id,
            direction,
        };
        match &self.votes {
            Some(votes) => votes.submit(job).await,
            None => self.vote_alone(user_id, post_id, direction).await,
        }
    }

    fn reader(&self) -> &rookery_kernel::db::Readers {
        &self.db.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.db.writer
    }

    async fn begin_write(&self) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        self.db.begin_write().await
    }
}

/// SQLite has one writer, so throughput is commits per second: votes that
/// arrive together share one transaction. A refused vote (unknown post)
/// writes nothing, so it needs no savepoint.
#[async_trait]
impl GroupWriter for SqliteVoteStore {
    type Job = VoteJob;
    type Done = Tally;
    type Refused = StoreError;

    async fn commit_group(&self, jobs: &[VoteJob]) -> sqlx::Result<Vec<StoreResult<Tally>>> {
        let mut tx = self.db.begin_write().await?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            match self
                .vote_in(&mut tx, job.user_id, job.post_id, job.direction)
                .await
            {
                Err(StoreError::Database(e)) => return Err(e),
                outcome => outcomes.push(outcome),
            }
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}

sql_vote_store!(
    SqliteVoteStore,
    SqliteConnection,
    outbox_insert_sqlite,
    "",
    vote_committed,
    rookery_kernel::db::sqlite_json_ids
);
