//! DynamoDB implementation of [`MessageStore`]: one table,
//! `<prefix>messages`, keyed by `pk` (string) and `sk` (number).
//!
//! | item | `pk` | `sk` | indexes |
//! |---|---|---|---|
//! | a participant's copy of a message (all of it) | `box#<owner>` | message id | `by_box` (`<owner>#sent` / `<owner>#inbox`), `favorites` (`<owner>`, only while a favorite), `replies` (`<owner>#<parent>`, replies only) |
//! | an account of the replica | `account#<lowercased username>` | 0 | |
//! | a block or mute of the replica | `relation#<user>#<target>#<kind>` | 0 | |
//! | an outbox event | `outbox` | event id | `outbox_pending` (while unpublished) |
//!
//! Each copy holds the whole message, so deleting one's copy is one
//! `DeleteItem` and the other participant keeps theirs. A send is one
//! `TransactWriteItems`: both copies, the `message.sent` event, and the
//! checks that neither blocks the other and that a replied-to message is in
//! the sender's mailbox; no event is lost and none is written for a send
//! that did not happen.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValue, TransactWriteItem,
};
use rookery_kernel::dynamo::{
    self, DynamoOutbox, DynamoUrl, Item, OUTBOX_INDEX, TableSpec, b, condition_failed, describe,
    get_bool, get_n, get_opt_n, get_s, n, s,
};
use rookery_kernel::events::OutboxSignal;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::relations::RelationKind;
use rookery_kernel::time::now_ms;

use super::{
    Account, BoxQuery, Message, MessageBox, MessageStore, NewMessage, RelationChange, StoreError,
    StoreResult,
};

const BY_BOX: (&str, &str) = ("by_box", "box_pk");
const FAVORITES: (&str, &str) = ("favorites", "fav_pk");
const REPLIES: (&str, &str) = ("replies", "reply_pk");

/// The table of the store under `url` (for `rookery migrate` and tests).
pub fn table_spec(url: &DynamoUrl) -> TableSpec<'static> {
    TableSpec {
        name: url.table("messages"),
        indexes: &[BY_BOX, FAVORITES, REPLIES, OUTBOX_INDEX],
    }
}

pub struct DynamoMessageStore {
    client: Client,
    table: String,
    ids: Arc<IdGenerator>,
    outbox: OutboxSignal,
}

fn failed<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    StoreError::Backend(describe(&err))
}

fn corrupt(err: anyhow::Error) -> StoreError {
    StoreError::Backend(format!("unreadable item: {err:#}"))
}

fn mailbox_pk(owner: i64) -> AttributeValue {
    s(format!("box#{owner}"))
}

/// The primary key `pk`, `sk` of an item.
fn item_key(pk: AttributeValue, sk: i64) -> Item {
    HashMap::from([("pk".to_string(), pk), ("sk".to_string(), n(sk))])
}

/// The key of the account item of `username` (case-insensitive).
fn account_key(username: &str) -> String {
    format!("account#{}", username.trim().to_lowercase())
}

fn account_pk(username: &str) -> AttributeValue {
    s(account_key(username))
}

fn account_item(account: &Account) -> Item {
    let mut item = item_key(account_pk(&account.username), 0);
    item.extend([
        ("id".to_string(), n(account.id)),
        ("username".to_string(), s(&account.username)),
        ("active".to_string(), b(account.active)),
    ]);
    item
}

fn relation_key(user: i64, target: i64, kind: RelationKind) -> String {
    format!("relation#{user}#{target}#{}", kind.as_i16())
}

fn relation_pk(user: i64, target: i64, kind: RelationKind) -> AttributeValue {
    s(relation_key(user, target, kind))
}

/// A replied-to message in `owner`'s mailbox, as one value for a set.
fn parent_key(owner: i64, parent: i64) -> String {
    format!("parent#{owner}#{parent}")
}

fn parent_key_of(copy: &Item) -> StoreResult<String> {
    let pk = get_s(copy, "pk").map_err(corrupt)?;
    let owner = pk
        .strip_prefix("box#")
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| StoreError::Backend(format!("unexpected item {pk}")))?;
    Ok(parent_key(owner, get_n(copy, "sk").map_err(corrupt)?))
}

/// `owner`'s copy of `m` (`sent`: the sender's).
fn copy_item(m: &Message, owner: i64, sent: bool) -> Item {
    let mut item = HashMap::from([
        ("pk".to_string(), mailbox_pk(owner)),
        ("sk".to_string(), n(m.id)),
        (
            BY_BOX.1.to_string(),
            s(format!("{owner}#{}", if sent { "sent" } else { "inbox" })),
        ),
        ("sent".to_string(), b(sent)),
        ("favorite".to_string(), b(false)),
        ("sender_id".to_string(), n(m.sender_id)),
        ("sender".to_string(), s(&m.sender)),
        ("recipient_id".to_string(), n(m.recipient_id)),
        ("recipient".to_string(), s(&m.recipient)),
        ("text".to_string(), s(&m.text)),
        (
            "quick_replies".to_string(),
            AttributeValue::L(m.quick_replies.iter().map(s).collect()),
        ),
        ("created_at".to_string(), n(m.created_at)),
    ]);
    if let Some(parent) = m.in_reply_to {
        item.insert("in_reply_to".into(), n(parent));
        item.insert(REPLIES.1.into(), s(format!("{owner}#{parent}")));
    }
    item
}

fn from_item(item: &Item) -> StoreResult<Message> {
    let read = || -> anyhow::Result<Message> {
        Ok(Message {
            id: get_n(item, "sk")?,
            sender_id: get_n(item, "sender_id")?,
            sender: get_s(item, "sender")?,
            recipient_id: get_n(item, "recipient_id")?,
            recipient: get_s(item, "recipient")?,
            text: get_s(item, "text")?,
            quick_replies: match item.get("quick_replies") {
                Some(AttributeValue::L(list)) => {
                    list.iter().filter_map(|v| v.as_s().ok().cloned()).collect()
                }
                _ => Vec::new(),
            },
            in_reply_to: get_opt_n(item, "in_reply_to")?,
            created_at: get_n(item, "created_at")?,
            favorite: get_bool(item, "favorite"),
        })
    };
    read().map_err(corrupt)
}

/// Why a send's transaction was refused, from its cancellation reasons.
#[derive(Debug, PartialEq)]
enum Refusal {
    Blocked,
    NoParent,
}

impl DynamoMessageStore {
    /// One account, with a conditional put so that it never undoes a
    /// deactivation written meanwhile.
    async fn remember_account(&self, account: &Account) -> StoreResult<()> {
        // A new name, or a name now held by another account (the stale one
        // goes): the whole item. The same account again: only a deactivation
        // changes it (it is final).
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(account_item(account)))
            .condition_expression("attribute_not_exists(pk) OR id <> :id")
            .expression_attribute_values(":id", n(account.id))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => {
                if !account.active {
                    self.client
                        .update_item()
                        .table_name(&self.table)
                        .key("pk", account_pk(&account.username))
                        .key("sk", n(0))
                        .update_expression("SET active = :no")
                        .expression_attribute_values(":no", b(false))
                        .send()
                        .await
                        .map_err(failed)?;
                }
                Ok(())
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// Opens the store under `url`, creating its table when missing.
    pub async fn open(
        url: &DynamoUrl,
        ids: Arc<IdGenerator>,
        outbox: OutboxSignal,
    ) -> anyhow::Result<(Self, DynamoOutbox)> {
        let client = url.client().await;
        let spec = table_spec(url);
        dynamo::ensure_table(&client, &spec).await?;
        let relay = DynamoOutbox {
            client: client.clone(),
            table: spec.name.clone(),
        };
        Ok((
            Self {
                client,
                table: spec.name,
                ids,
                outbox,
            },
            relay,
        ))
    }

    fn not_blocked(&self, user: i64, target: i64) -> TransactWriteItem {
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .key("pk", relation_pk(user, target, RelationKind::Block))
                    .key("sk", n(0))
                    .condition_expression("attribute_not_exists(pk) OR active = :no")
                    .expression_attribute_values(":no", b(false))
                    .build()
                    .expect("condition check"),
            )
            .build()
    }

    fn put(&self, item: Item) -> TransactWriteItem {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .expect("put"),
            )
            .build()
    }

    /// Stores `new` in one transaction (with its event when `notify`).
    async fn store_one(&self, new: &NewMessage, notify: bool) -> StoreResult<Message> {
        let message = new.stored(self.ids.next(), now_ms());
        // The order matters: cancellation reasons come back by position.
        // One transaction may not touch an item twice (a note to oneself).
        let myself = new.sender_id == new.recipient_id;
        let mut actions = vec![self.not_blocked(new.sender_id, new.recipient_id)];
        if !myself {
            actions.push(self.not_blocked(new.recipient_id, new.sender_id));
        }
        let block_checks = actions.len();
        actions.push(self.put(copy_item(&message, message.sender_id, true)));
        if !myself {
            actions.push(self.put(copy_item(&message, message.recipient_id, false)));
        }
        if notify {
            let event = crate::events::message_sent(&self.ids, &message);
            actions.push(
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name(&self.table)
                            .set_item(Some(dynamo::outbox_item(&event)))
                            .build()
                            .expect("put"),
                    )
                    .build(),
            );
        }
        if let Some(parent) = new.in_reply_to {
            actions.push(
                TransactWriteItem::builder()
                    .condition_check(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .key("pk", mailbox_pk(new.sender_id))
                            .key("sk", n(parent))
                            .condition_expression("attribute_exists(pk)")
                            .build()
                            .expect("condition check"),
                    )
                    .build(),
            );
        }
        let parent_index = new.in_reply_to.map(|_| actions.len() - 1);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(actions))
            .send()
            .await
        {
            Ok(_) => Ok(message),
            Err(err) => match refusal(&err, block_checks, parent_index) {
                Some(Refusal::Blocked) => Err(StoreError::Blocked),
                Some(Refusal::NoParent) => Err(StoreError::NotFound),
                None => Err(failed(err)),
            },
        }
    }

    /// What would refuse some of `messages`, as the `pk`s of the relation
    /// items that are active blocks and the [`parent_key`]s of replied-to
    /// messages the sender does not have; two batched reads in all.
    async fn refused(&self, messages: &[NewMessage]) -> StoreResult<HashSet<String>> {
        let mut blocks = HashSet::new();
        let mut parents = HashSet::new();
        for m in messages {
            blocks.insert((m.sender_id, m.recipient_id));
            blocks.insert((m.recipient_id, m.sender_id));
            if let Some(parent) = m.in_reply_to {
                parents.insert((m.sender_id, parent));
            }
        }
        let mut keys: Vec<Item> = blocks
            .iter()
            .map(|(user, target)| item_key(relation_pk(*user, *target, RelationKind::Block), 0))
            .collect();
        keys.extend(
            parents
                .iter()
                .map(|(owner, id)| item_key(mailbox_pk(*owner), *id)),
        );
        let found = dynamo::batch_get(&self.client, &self.table, keys)
            .await
            .map_err(|e| StoreError::Backend(format!("{e:#}")))?;
        let mut refused: HashSet<String> = parents
            .iter()
            .map(|(owner, id)| parent_key(*owner, *id))
            .collect();
        for item in &found {
            let pk = get_s(item, "pk").map_err(corrupt)?;
            if pk.starts_with("relation#") {
                if get_bool(item, "active") {
                    refused.insert(pk);
                }
            } else {
                refused.remove(&parent_key_of(item)?);
            }
        }
        Ok(refused)
    }

    /// Reads up to `limit` items of a query, page after page (a filter or
    /// DynamoDB's 1 MB pages can make one page short).
    async fn collect(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = query
                .clone()
                .limit(limit.clamp(1, 1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(failed)?;
            for item in page.items() {
                found.push(from_item(item)?);
                if found.len() == limit {
                    return Ok(found);
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(found),
            }
        }
    }

    async fn copy(&self, viewer: i64, id: i64) -> StoreResult<Option<Message>> {
        dynamo::get_consistent(&self.client, &self.table, mailbox_pk(viewer), id)
            .await
            .map_err(StoreError::Backend)?
            .as_ref()
            .map(from_item)
            .transpose()
    }
}

/// Which of a send's checks failed: the `block_checks` come first, the
/// parent check (when any) at `parent_index`.
fn refusal<R>(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        R,
    >,
    block_checks: usize,
    parent_index: Option<usize>,
) -> Option<Refusal> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    let TransactWriteItemsError::TransactionCanceledException(cancel) = err.as_service_error()?
    else {
        return None;
    };
    let failed_at: Vec<usize> = cancel
        .cancellation_reasons()
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code() == Some("ConditionalCheckFailed"))
        .map(|(i, _)| i)
        .collect();
    if failed_at.iter().any(|i| *i < block_checks) {
        Some(Refusal::Blocked)
    } else if parent_index.is_some_and(|p| failed_at.contains(&p)) {
        Some(Refusal::NoParent)
    } else {
        None
    }
}

#[async_trait]
impl MessageStore for DynamoMessageStore {
    async fn remember_accounts(&self, accounts: &[Account]) -> StoreResult<()> {
        if let [account] = accounts {
            return self.remember_account(account).await;
        }
        // A batch (a consumer catching up, a replay): one read of what is
        // stored, then writes of only what changed, 25 per call. One
        // conditional put per account made a replay of 1,000 accounts
        // 1,000 round trips.
        let mut latest: HashMap<String, Account> = HashMap::new();
        for account in accounts {
            latest
                .entry(account_key(&account.username))
                .and_modify(|held| {
                    if held.id != account.id {
                        *held = account.clone();
                    } else {
                        // Deactivation is final.
                        held.active &= account.active;
                    }
                })
                .or_insert_with(|| account.clone());
        }
        let keys = latest.keys().map(|pk| item_key(s(pk), 0)).collect();
        let stored: HashMap<String, (i64, bool)> =
            dynamo::batch_get(&self.client, &self.table, keys)
                .await
                .map_err(|e| StoreError::Backend(format!("{e:#}")))?
                .iter()
                .map(|item| {
                    Ok((
                        get_s(item, "pk").map_err(corrupt)?,
                        (
                            get_n(item, "id").map_err(corrupt)?,
                            get_bool(item, "active"),
                        ),
                    ))
                })
                .collect::<StoreResult<_>>()?;
        let changed: Vec<Item> = latest
            .into_iter()
            .filter_map(|(pk, mut a)| match stored.get(&pk) {
                Some((id, active)) if *id == a.id => {
                    a.active &= *active;
                    (a.active != *active).then_some(a)
                }
                _ => Some(a),
            })
            .map(|a| account_item(&a))
            .collect();
        dynamo::batch_put(&self.client, &self.table, changed)
            .await
            .map_err(|e| StoreError::Backend(format!("{e:#}")))
    }

    async fn apply_relations(&self, changes: &[(i64, RelationChange)]) -> StoreResult<()> {
        for (event_id, change) in changes {
            // Newest event wins: an older one delivered again changes nothing.
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(
                    "pk",
                    relation_pk(change.user_id, change.target_id, change.kind),
                )
                .item("sk", n(0))
                .item("active", b(change.active))
                .item("event_id", n(*event_id))
                .condition_expression("attribute_not_exists(pk) OR event_id < :e")
                .expression_attribute_values(":e", n(*event_id))
                .send()
                .await;
            match put {
                Ok(_) => {}
                Err(e) if condition_failed(&e) => {}
                Err(e) => return Err(failed(e)),
            }
        }
        Ok(())
    }

    async fn account(&self, username: &str) -> StoreResult<Option<Account>> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", account_pk(username))
            .key("sk", n(0))
            .send()
            .await
            .map_err(failed)?;
        let Some(item) = found.item else {
            return Ok(None);
        };
        Ok(Some(Account {
            id: get_n(&item, "id").map_err(corrupt)?,
            username: get_s(&item, "username").map_err(corrupt)?,
            active: get_bool(&item, "active"),
        }))
    }

    async fn send(&self, message: NewMessage) -> StoreResult<Message> {
        let sent = self.store_one(&message, true).await;
        if sent.is_ok() {
            self.outbox.notify_one();
        }
        sent
    }

    async fn import(&self, messages: &[NewMessage]) -> StoreResult<usize> {
        // Bulk loads need no transaction per message: the checks a send
        // makes are read in batches first, then the copies are written 25
        // per call. Not atomic as a whole (a failed import leaves part of
        // it); imported messages carry no events, as on SQL.
        let refused = self.refused(messages).await?;
        let now = now_ms();
        let mut items = Vec::with_capacity(messages.len() * 2);
        let mut stored = 0;
        for new in messages {
            let blocked = refused.contains(&relation_key(
                new.sender_id,
                new.recipient_id,
                RelationKind::Block,
            )) || refused.contains(&relation_key(
                new.recipient_id,
                new.sender_id,
                RelationKind::Block,
            ));
            let orphan = new
                .in_reply_to
                .is_some_and(|parent| refused.contains(&parent_key(new.sender_id, parent)));
            if blocked || orphan {
                continue;
            }
            let message = new.stored(self.ids.next(), now);
            items.push(copy_item(&message, message.sender_id, true));
            if message.sender_id != message.recipient_id {
                items.push(copy_item(&message, message.recipient_id, false));
            }
            stored += 1;
        }
        dynamo::batch_put(&self.client, &self.table, items)
            .await
            .map_err(|e| StoreError::Backend(format!("{e:#}")))?;
        Ok(stored)
    }

    async fn message(&self, viewer: i64, id: i64) -> StoreResult<Option<Message>> {
        self.copy(viewer, id).await
    }

    async fn list(&self, query: &BoxQuery) -> StoreResult<Vec<Message>> {
        let owner = query.owner_id;
        let before = query.before.unwrap_or(i64::MAX);
        let base = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .expression_attribute_values(":before", n(before));
        let box_name = match query.mailbox {
            MessageBox::Inbox => Some("inbox"),
            MessageBox::Sent => Some("sent"),
            MessageBox::All => None,
        };
        let request = match (query.favorites_only, box_name) {
            // Favorites are few: their index, filtered by box.
            (true, mailbox) => {
                let q = base
                    .index_name(FAVORITES.0)
                    .key_condition_expression("fav_pk = :owner AND sk < :before")
                    .expression_attribute_values(":owner", s(owner.to_string()));
                match mailbox {
                    Some(name) => q
                        .filter_expression("sent = :sent")
                        .expression_attribute_values(":sent", b(name == "sent")),
                    None => q,
                }
            }
            (false, Some(name)) => base
                .index_name(BY_BOX.0)
                .key_condition_expression("box_pk = :box AND sk < :before")
                .expression_attribute_values(":box", s(format!("{owner}#{name}"))),
            (false, None) => base
                .key_condition_expression("pk = :pk AND sk < :before")
                .expression_attribute_values(":pk", mailbox_pk(owner)),
        };
        self.collect(request, query.limit).await
    }

    async fn replies(
        &self,
        viewer: i64,
        id: i64,
        after: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        if self.copy(viewer, id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let request = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(REPLIES.0)
            .key_condition_expression("reply_pk = :parent AND sk > :after")
            .expression_attribute_values(":parent", s(format!("{viewer}#{id}")))
            .expression_attribute_values(":after", n(after.unwrap_or(0)));
        self.collect(request, limit).await
    }

    async fn delete(&self, viewer: i64, id: i64) -> StoreResult<()> {
        match self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", mailbox_pk(viewer))
            .key("sk", n(id))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(failed(e)),
        }
    }

    async fn set_favorite(&self, viewer: i64, id: i64, favorite: bool) -> StoreResult<Message> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", mailbox_pk(viewer))
            .key("sk", n(id))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":f", b(favorite))
            .return_values(ReturnValue::AllNew);
        // The favorites index holds only favorites (a sparse key).
        let update = if favorite {
            update
                .update_expression("SET favorite = :f, fav_pk = :owner")
                .expression_attribute_values(":owner", s(viewer.to_string()))
        } else {
            update.update_expression("SET favorite = :f REMOVE fav_pk")
        };
        match update.send().await {
            Ok(out) => from_item(out.attributes.as_ref().ok_or(StoreError::NotFound)?),
            Err(e) if condition_failed(&e) => Err(StoreError::NotFound),
            Err(e) => Err(failed(e)),
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        dynamo::ping(&self.client, &self.table)
            .await
            .map_err(StoreError::Backend)
    }
}
