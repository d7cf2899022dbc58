//! DynamoDB implementation of [`PollStore`]: one table, `<prefix>polls`,
//! keyed by `pk` (string) and `sk` (number).
//!
//! | item | `pk` | `sk` | attributes |
//! |---|---|---|---|
//! | a poll | `poll#<id>` | 0 | author, question, `options` (list), `option_count`, `votes` (list of counts), `total_votes`, created_at |
//! | an account's vote in it | `poll#<id>` | the account id (> 0) | choice |
//!
//! A vote is one `TransactWriteItems`: the vote item, put only if absent
//! (one vote per account, decided by DynamoDB and not by a read before),
//! and the poll's counters incremented under the condition that the poll
//! exists and has that option. Either both happen or neither does.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use rookery_kernel::dynamo::{self, DynamoUrl, Item, TableSpec, describe, get_n, get_s, n, s};
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::time::now_ms;
use std::sync::Arc;

use super::{NewPoll, Poll, PollOption, PollStore, StoreError, StoreResult};

/// The table of the store under `url` (for `rookery migrate` and tests).
pub fn table_spec(url: &DynamoUrl) -> TableSpec<'static> {
    TableSpec {
        name: url.table("polls"),
        indexes: &[],
    }
}

pub struct DynamoPollStore {
    client: Client,
    table: String,
    ids: Arc<IdGenerator>,
}

fn failed<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    StoreError::Backend(describe(&err))
}

fn poll_pk(id: i64) -> AttributeValue {
    s(format!("poll#{id}"))
}

fn from_item(item: &Item) -> anyhow::Result<Poll> {
    let pk = get_s(item, "pk")?;
    let id = pk
        .strip_prefix("poll#")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected item {pk}"))?;
    let list = |key: &str| match item.get(key) {
        Some(AttributeValue::L(values)) => Ok(values.as_slice()),
        _ => Err(anyhow::anyhow!("poll {id} has no list {key}")),
    };
    let counts = list("votes")?
        .iter()
        .map(|v| match v {
            AttributeValue::N(count) => Ok(count.parse()?),
            _ => anyhow::bail!("poll {id} has a count that is no number"),
        })
        .collect::<anyhow::Result<Vec<i64>>>()?;
    let texts = list("options")?;
    if texts.len() != counts.len() {
        anyhow::bail!(
            "poll {id} has {} options but {} counts",
            texts.len(),
            counts.len()
        );
    }
    let options = texts
        .iter()
        .zip(counts)
        .map(|(text, votes)| match text {
            AttributeValue::S(text) => Ok(PollOption {
                text: text.clone(),
                votes,
            }),
            _ => anyhow::bail!("poll {id} has an option that is no string"),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Poll {
        id,
        author: get_s(item, "author")?,
        question: get_s(item, "question")?,
        options,
        total_votes: get_n(item, "total_votes")?,
        created_at: get_n(item, "created_at")?,
    })
}

impl DynamoPollStore {
    /// Opens the store under `url`, creating its table when missing.
    pub async fn open(url: &DynamoUrl, ids: Arc<IdGenerator>) -> anyhow::Result<Self> {
        let client = url.client().await;
        let spec = table_spec(url);
        dynamo::ensure_table(&client, &spec).await?;
        Ok(Self {
            client,
            table: spec.name,
            ids,
        })
    }

    async fn read(&self, id: i64) -> StoreResult<Option<Poll>> {
        dynamo::get_consistent(&self.client, &self.table, poll_pk(id), 0)
            .await
            .map_err(StoreError::Backend)?
            .as_ref()
            .map(from_item)
            .transpose()
            .map_err(|e| StoreError::Backend(format!("unreadable poll: {e:#}")))
    }
}

#[async_trait]
impl PollStore for DynamoPollStore {
    async fn create_poll(&self, poll: NewPoll) -> StoreResult<Poll> {
        let id = self.ids.next();
        let now = now_ms();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(HashMap::from([
                ("pk".to_string(), poll_pk(id)),
                ("sk".to_string(), n(0)),
                ("author_id".to_string(), n(poll.author_id)),
                ("author".to_string(), s(&poll.author)),
                ("question".to_string(), s(&poll.question)),
                (
                    "options".to_string(),
                    AttributeValue::L(poll.options.iter().map(s).collect()),
                ),
                ("option_count".to_string(), n(poll.options.len() as i64)),
                (
                    "votes".to_string(),
                    AttributeValue::L(poll.options.iter().map(|_| n(0)).collect()),
                ),
                ("total_votes".to_string(), n(0)),
                ("created_at".to_string(), n(now)),
            ])))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(failed)?;
        Ok(Poll {
            id,
            author: poll.author,
            question: poll.question,
            options: poll
                .options
                .into_iter()
                .map(|text| PollOption { text, votes: 0 })
                .collect(),
            total_votes: 0,
            created_at: now,
        })
    }

    async fn poll(&self, id: i64) -> StoreResult<Option<Poll>> {
        self.read(id).await
    }

    async fn poll_choice(&self, poll_id: i64, user_id: i64) -> StoreResult<Option<i64>> {
        if user_id <= 0 {
            return Ok(None);
        }
        dynamo::get_consistent(&self.client, &self.table, poll_pk(poll_id), user_id)
            .await
            .map_err(StoreError::Backend)?
            .map(|item| get_n(&item, "choice"))
            .transpose()
            .map_err(|e| StoreError::Backend(format!("unreadable vote: {e:#}")))
    }

    async fn vote_in_poll(&self, poll_id: i64, user_id: i64, choice: i64) -> StoreResult<Poll> {
        // Options are at most 10: a choice outside 0..10 can never count,
        // and an account id is positive (sk 0 is the poll itself).
        if !(0..10).contains(&choice) || user_id <= 0 {
            return match self.read(poll_id).await? {
                None => Err(StoreError::NotFound),
                Some(_) if user_id <= 0 => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::ChoiceOutOfRange),
            };
        }
        let vote = TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .item("pk", poll_pk(poll_id))
                    .item("sk", n(user_id))
                    .item("choice", n(choice))
                    .item("created_at", n(now_ms()))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put"),
            )
            .build();
        let count = TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.table)
                    .key("pk", poll_pk(poll_id))
                    .key("sk", n(0))
                    // A list element by a literal index (paths take no
                    // placeholders); `if_not_exists` so that a choice past
                    // the last option fails the condition, not the syntax.
                    .update_expression(format!(
                        "SET votes[{choice}] = if_not_exists(votes[{choice}], :zero) + :one, \
                         total_votes = total_votes + :one"
                    ))
                    .condition_expression("attribute_exists(pk) AND option_count > :choice")
                    .expression_attribute_values(":one", n(1))
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":choice", n(choice))
                    .build()
                    .expect("update"),
            )
            .build();
        let result = self
            .client
            .transact_write_items()
            .transact_items(vote)
            .transact_items(count)
            .send()
            .await;
        if let Err(err) = result {
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
            let TransactWriteItemsError::TransactionCanceledException(cancel) = err
                .as_service_error()
                .ok_or_else(|| StoreError::Backend(describe(&err)))?
            else {
                return Err(failed(err));
            };
            let refused = |i: usize| {
                cancel.cancellation_reasons().get(i).and_then(|r| r.code())
                    == Some("ConditionalCheckFailed")
            };
            return match (refused(0), refused(1)) {
                // The poll's own check first: unknown poll or no such option.
                (_, true) => match self.read(poll_id).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::ChoiceOutOfRange),
                },
                (true, false) => Err(StoreError::AlreadyVoted),
                (false, false) => Err(StoreError::Backend(describe(&err))),
            };
        }
        self.read(poll_id).await?.ok_or(StoreError::NotFound)
    }

    async fn ping(&self) -> StoreResult<()> {
        dynamo::ping(&self.client, &self.table)
            .await
            .map_err(StoreError::Backend)
    }
}
