//! Group commit for SQLite's one writer: its throughput is commits per
//! second, so writes that arrive together share one transaction. Requests
//! queue their jobs for one writer task, which takes whatever has gathered
//! (up to a group's size), commits it, and answers each request with its own
//! outcome.

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

/// Commits a group of jobs in one transaction.
#[async_trait]
pub trait GroupWriter: Send + Sync + 'static {
    type Job: Send + 'static;
    /// What a committed job answers.
    type Done: Send + 'static;
    /// Why a job was refused (or the group failed).
    type Refused: From<sqlx::Error> + Send + 'static;

    /// Commits `jobs` in one transaction and gives one outcome per job, in
    /// order; a refused job must not undo the others. `Err` when the group
    /// failed as a whole (e.g. the database is unavailable).
    async fn commit_group(
        &self,
        jobs: &[Self::Job],
    ) -> sqlx::Result<Vec<Result<Self::Done, Self::Refused>>>;
}

type Outcome<W> = Result<<W as GroupWriter>::Done, <W as GroupWriter>::Refused>;
type Queued<W> = (<W as GroupWriter>::Job, oneshot::Sender<Outcome<W>>);

/// The queue in front of a [`GroupWriter`]'s task.
pub struct GroupCommit<W: GroupWriter> {
    queue: mpsc::Sender<Queued<W>>,
}

impl<W: GroupWriter> GroupCommit<W> {
    /// Starts the writer task on the current Tokio runtime. At most `queue`
    /// jobs wait (senders wait beyond that: back-pressure) and at most
    /// `group` commit together. The task ends when this handle is dropped.
    pub fn start(writer: W, queue: usize, group: usize) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        tokio::spawn(run(writer, rx, group.max(1)));
        Self { queue: tx }
    }

    /// Queues `job` and waits for its outcome.
    pub async fn submit(&self, job: W::Job) -> Outcome<W> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((job, reply))
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run<W: GroupWriter>(writer: W, mut rx: mpsc::Receiver<Queued<W>>, group: usize) {
    while let Some(first) = rx.recv().await {
        let mut queued = vec![first];
        while queued.len() < group {
            match rx.try_recv() {
                Ok(next) => queued.push(next),
                Err(_) => break,
            }
        }
        let (jobs, replies): (Vec<_>, Vec<_>) = queued.into_iter().unzip();
        match writer.commit_group(&jobs).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, jobs = jobs.len(), "group commit failed");
                for reply in replies {
                    let _ = reply.send(Err(same_error(&err).into()));
                }
            }
        }
    }
}

/// A copy of `err` for each job of a failed group (sqlx errors are not
/// `Clone`), keeping the kinds that tell "unavailable, retry" (503) apart.
fn same_error(err: &sqlx::Error) -> sqlx::Error {
    match err {
        sqlx::Error::PoolTimedOut => sqlx::Error::PoolTimedOut,
        sqlx::Error::PoolClosed => sqlx::Error::PoolClosed,
        sqlx::Error::Io(io) => sqlx::Error::Io(std::io::Error::new(io.kind(), io.to_string())),
        other => sqlx::Error::Protocol(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Doubles even numbers, refuses odd ones, fails groups containing 13.
    struct Doubler {
        groups: Arc<AtomicUsize>,
    }

    #[derive(Debug)]
    enum Refused {
        Odd,
        Db,
    }

    impl From<sqlx::Error> for Refused {
        fn from(_: sqlx::Error) -> Self {
            Refused::Db
        }
    }

    #[async_trait]
    impl GroupWriter for Doubler {
        type Job = u32;
        type Done = u32;
        type Refused = Refused;

        async fn commit_group(&self, jobs: &[u32]) -> sqlx::Result<Vec<Result<u32, Refused>>> {
            self.groups.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            if jobs.contains(&13) {
                return Err(sqlx::Error::PoolTimedOut);
            }
            Ok(jobs
                .iter()
                .map(|&j| {
                    if j % 2 == 0 {
                        Ok(j * 2)
                    } else {
                        Err(Refused::Odd)
                    }
                })
                .collect())
        }
    }

    #[tokio::test]
    async fn jobs_that_arrive_together_commit_together() {
        let groups = Arc::new(AtomicUsize::new(0));
        let commit = Arc::new(GroupCommit::start(
            Doubler {
                groups: groups.clone(),
            },
            64,
            16,
        ));
        let tasks: Vec<_> = (0..40u32)
            .map(|j| {
                let commit = commit.clone();
                tokio::spawn(async move { (j, commit.submit(j * 2).await) })
            })
            .collect();
        for task in tasks {
            let (j, outcome) = task.await.unwrap();
            assert_eq!(outcome.unwrap(), j * 4);
        }
        assert!(groups.load(Ordering::SeqCst) < 40, "no grouping happened");
        assert!(matches!(commit.submit(3).await, Err(Refused::Odd)));
        assert!(matches!(commit.submit(13).await, Err(Refused::Db)));
    }
}
