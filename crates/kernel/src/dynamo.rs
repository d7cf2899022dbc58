//! DynamoDB for the stores that can live there (messages; polls next):
//! `DATABASE_URL=dynamodb://<table prefix>?region=<region>&endpoint=<url>`,
//! credentials and, without `region`, the region from the standard AWS
//! environment. The official SDK with rustls on ring (no second TLS stack).
//! Also the outbox of such a store ([`DynamoOutbox`]): events are items of
//! the store's own table, written in the same `TransactWriteItems` as the
//! change they tell of, and found by the relay through a sparse index.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};

use crate::events::{Event, OutboxSource};

/// DynamoDB's limit of items in one `BatchWriteItem`; ours to keep, since
/// emulators do not all enforce it.
pub const BATCH_WRITE_LIMIT: usize = 25;
/// DynamoDB's limit of actions in one `TransactWriteItems`.
pub const TRANSACTION_LIMIT: usize = 100;
/// DynamoDB's limit of keys in one `BatchGetItem`.
pub const BATCH_GET_LIMIT: usize = 100;
/// Batch calls of one [`batch_put`] or [`batch_get`] in flight at once.
const BATCHES_IN_FLIGHT: usize = 4;
/// Rounds of retrying what DynamoDB left unprocessed (throttling) before
/// giving up.
const UNPROCESSED_ROUNDS: u32 = 8;

/// A parsed `dynamodb://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoUrl {
    /// Prepended to every table name (e.g. `rookery_` gives `rookery_messages`).
    pub prefix: String,
    pub region: Option<String>,
    /// A local emulator's URL; AWS's own endpoints without it.
    pub endpoint: Option<String>,
}

impl DynamoUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("dynamodb://")
            .with_context(|| format!("a DynamoDB URL starts with dynamodb:// (got {url:?})"))?;
        let (prefix, query) = rest.split_once('?').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/').to_string();
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            anyhow::bail!(
                "a DynamoDB table prefix has only letters, digits, _ - . (got {prefix:?})"
            );
        }
        let mut parsed = Self {
            prefix,
            region: None,
            endpoint: None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "region" => parsed.region = Some(value.into_owned()),
                "endpoint" => parsed.endpoint = Some(value.into_owned()),
                other => {
                    anyhow::bail!("unknown DynamoDB URL parameter {other:?} (region, endpoint)")
                }
            }
        }
        Ok(parsed)
    }

    pub fn table(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A client for this URL: region and endpoint from it when given, the
    /// rest (credentials above all) from the standard AWS environment; with
    /// an `endpoint` and no `AWS_ACCESS_KEY_ID`, a placeholder key.
    pub async fn client(&self) -> Client {
        use aws_smithy_http_client::tls;
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let mut loader =
            aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https);
        if let Some(region) = &self.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &self.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        // An emulator wants some region; AWS itself needs the real one.
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&config);
        if config.region().is_none() {
            builder = builder.region(aws_config::Region::new("us-east-1"));
        }
        // An emulator takes any key; without one in the environment the
        // SDK would go looking for an instance role it will never find.
        if self.endpoint.is_some() && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            builder = builder.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "rookery-emulator",
            ));
        }
        Client::from_conf(builder.build())
    }
}

/// A failed DynamoDB call as text (the SDK's errors are generic in the operation).
pub fn describe<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or_default()
            )
        }
        other => format!("{other:?}"),
    }
}

/// The error code of a service error (`ConditionalCheckFailedException`, ...).
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(service) => service.err().code(),
        _ => None,
    }
}

/// Whether a conditional write was refused because its condition did not hold.
pub fn condition_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    error_code(err) == Some("ConditionalCheckFailedException")
}

pub type Item = HashMap<String, AttributeValue>;

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn b(value: bool) -> AttributeValue {
    AttributeValue::Bool(value)
}

pub fn get_s(item: &Item, key: &str) -> anyhow::Result<String> {
    match item.get(key) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => anyhow::bail!("item has no string {key}"),
    }
}

pub fn get_n(item: &Item, key: &str) -> anyhow::Result<i64> {
    match item.get(key) {
        Some(AttributeValue::N(v)) => v.parse().with_context(|| format!("{key} is no integer")),
        _ => anyhow::bail!("item has no number {key}"),
    }
}

pub fn get_opt_n(item: &Item, key: &str) -> anyhow::Result<Option<i64>> {
    match item.get(key) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(item, key).map(Some),
    }
}

pub fn get_bool(item: &Item, key: &str) -> bool {
    matches!(item.get(key), Some(AttributeValue::Bool(true)))
}

/// The waits between rounds of retrying unprocessed batch items: 50 ms
/// doubling, as AWS advises for `UnprocessedItems`/`UnprocessedKeys`.
fn unprocessed_backoff(round: u32) -> std::time::Duration {
    std::time::Duration::from_millis(50 << round.min(6))
}

/// Writes `items` into `table` with `BatchWriteItem`: 25 per call (the
/// limit is kept here, emulators do not all enforce it), a few calls at a
/// time, retrying what the service leaves unprocessed. Not atomic: for
/// bulk loads whose items need no condition (fresh keys).
pub async fn batch_put(client: &Client, table: &str, items: Vec<Item>) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    use futures::StreamExt;
    let calls: Vec<Vec<WriteRequest>> = items
        .into_iter()
        .map(|item| {
            WriteRequest::builder()
                .put_request(
                    PutRequest::builder()
                        .set_item(Some(item))
                        .build()
                        .expect("put request"),
                )
                .build()
        })
        .collect::<Vec<_>>()
        .chunks(BATCH_WRITE_LIMIT)
        .map(<[_]>::to_vec)
        .collect();
    let mut results = futures::stream::iter(calls.into_iter().map(|requests| async move {
        let mut pending = requests;
        for round in 0..UNPROCESSED_ROUNDS {
            let out = client
                .batch_write_item()
                .request_items(table, pending)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("writing a batch into {table}: {}", describe(&e)))?;
            pending = out
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(unprocessed_backoff(round)).await;
        }
        anyhow::bail!(
            "DynamoDB kept {} items of a batch unprocessed",
            pending.len()
        )
    }))
    .buffer_unordered(BATCHES_IN_FLIGHT);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// The items of `table` under `keys` (those that exist, in no particular
/// order), read with strongly consistent `BatchGetItem`s of up to 100 keys.
/// `keys` must not repeat a key.
pub async fn batch_get(client: &Client, table: &str, keys: Vec<Item>) -> anyhow::Result<Vec<Item>> {
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    use futures::StreamExt;
    let calls: Vec<Vec<Item>> = keys.chunks(BATCH_GET_LIMIT).map(<[_]>::to_vec).collect();
    let mut results = futures::stream::iter(calls.into_iter().map(|keys| async move {
        let mut found = Vec::new();
        let mut pending = keys;
        for round in 0..UNPROCESSED_ROUNDS {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .consistent_read(true)
                .build()
                .expect("keys and attributes");
            let out = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("reading a batch of {table}: {}", describe(&e)))?;
            if let Some(mut items) = out.responses {
                found.extend(items.remove(table).unwrap_or_default());
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut left| left.remove(table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(found);
            }
            tokio::time::sleep(unprocessed_backoff(round)).await;
        }
        anyhow::bail!(
            "DynamoDB kept {} keys of a batch unprocessed",
            pending.len()
        )
    }))
    .buffer_unordered(BATCHES_IN_FLIGHT);
    let mut found = Vec::new();
    while let Some(result) = results.next().await {
        found.extend(result?);
    }
    Ok(found)
}

/// A table of the store's: `pk` (string) and `sk` (number) as its key, and
/// sparse global indexes, each keyed by its own string attribute and `sk`,
/// projecting every attribute.
pub struct TableSpec<'a> {
    pub name: String,
    /// (index name, its partition key attribute)
    pub indexes: &'a [(&'a str, &'a str)],
}

/// Creates the table when it does not exist yet (`rookery migrate` and
/// opening a store both do; a second time is harmless).
pub async fn ensure_table(client: &Client, spec: &TableSpec<'_>) -> anyhow::Result<()> {
    if client
        .describe_table()
        .table_name(&spec.name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .expect("key schema")
    };
    let attribute = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .expect("attribute definition")
    };
    let mut create = client
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk", ScalarAttributeType::S))
        .attribute_definitions(attribute("sk", ScalarAttributeType::N));
    for (index, partition) in spec.indexes {
        create = create
            .attribute_definitions(attribute(partition, ScalarAttributeType::S))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key(partition, KeyType::Hash))
                    .key_schema(key("sk", KeyType::Range))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .context("index definition")?,
            );
    }
    match create.send().await {
        Ok(_) => {}
        // Created meanwhile by another instance.
        Err(e) if error_code(&e) == Some("ResourceInUseException") => {}
        Err(e) => anyhow::bail!("creating table {}: {}", spec.name, describe(&e)),
    }
    Ok(())
}

/// The item of `table` at `pk`/`sk`, read strongly consistent (a store
/// reads its own writes); the error described.
pub async fn get_consistent(
    client: &Client,
    table: &str,
    pk: AttributeValue,
    sk: i64,
) -> Result<Option<Item>, String> {
    client
        .get_item()
        .table_name(table)
        .key("pk", pk)
        .key("sk", n(sk))
        .consistent_read(true)
        .send()
        .await
        .map(|found| found.item)
        .map_err(|e| describe(&e))
}

/// Whether `table` is reachable (a store's readiness); the error described.
pub async fn ping(client: &Client, table: &str) -> Result<(), String> {
    client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Deletes the table (tests clean up with it; an emulator copies its tables
/// in every transaction, so leftovers would slow every later run).
pub async fn drop_table(client: &Client, name: &str) -> anyhow::Result<()> {
    match client.delete_table().table_name(name).send().await {
        Ok(_) => Ok(()),
        Err(e) if error_code(&e) == Some("ResourceNotFoundException") => Ok(()),
        Err(e) => anyhow::bail!("deleting table {name}: {}", describe(&e)),
    }
}

/// The outbox index of a store's table: events carry `pending` until published.
pub const OUTBOX_INDEX: (&str, &str) = ("outbox_pending", "pending");
const OUTBOX_PK: &str = "outbox";
/// Published events are kept a week (DynamoDB's TTL on `expires_at` drops them).
const OUTBOX_KEPT_SECONDS: i64 = 7 * 24 * 3600;

/// The `Put` of an event into the outbox, for the change's transaction.
pub fn outbox_item(event: &Event) -> Item {
    HashMap::from([
        ("pk".to_string(), s(OUTBOX_PK)),
        ("sk".to_string(), n(event.id)),
        (OUTBOX_INDEX.1.to_string(), s("1")),
        ("topic".to_string(), s(&event.topic)),
        ("payload".to_string(), s(event.payload.to_string())),
        ("created_at".to_string(), n(event.created_at)),
    ])
}

/// The relay's view of the outbox items in `table` (the event id is the row number).
pub struct DynamoOutbox {
    pub client: Client,
    pub table: String,
}

#[async_trait]
impl OutboxSource for DynamoOutbox {
    async fn unpublished(&self, limit: i64) -> anyhow::Result<Vec<(i64, Event)>> {
        let mut events = Vec::new();
        let mut start: Option<Item> = None;
        while (events.len() as i64) < limit {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(OUTBOX_INDEX.0)
                .key_condition_expression("#p = :one")
                .expression_attribute_names("#p", OUTBOX_INDEX.1)
                .expression_attribute_values(":one", s("1"))
                .limit((limit - events.len() as i64).clamp(1, 1000) as i32)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("reading the outbox: {}", describe(&e)))?;
            for item in page.items() {
                let id = get_n(item, "sk")?;
                events.push((
                    id,
                    Event {
                        id,
                        topic: get_s(item, "topic")?,
                        payload: serde_json::from_str(&get_s(item, "payload")?)
                            .unwrap_or(serde_json::Value::Null),
                        created_at: get_n(item, "created_at")?,
                    },
                ));
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(events)
    }

    async fn mark_published(&self, seqs: &[i64]) -> anyhow::Result<()> {
        let now = crate::time::now_ms();
        let expires = now / 1000 + OUTBOX_KEPT_SECONDS;
        // One update per event (DynamoDB has no multi-item update), a
        // bounded number at a time.
        for chunk in seqs.chunks(BATCH_WRITE_LIMIT) {
            let updates = chunk.iter().map(|seq| {
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key("pk", s(OUTBOX_PK))
                    .key("sk", n(*seq))
                    .update_expression("REMOVE #p SET published_at = :now, expires_at = :exp")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_names("#p", OUTBOX_INDEX.1)
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":exp", n(expires))
                    .send()
            });
            for result in futures::future::join_all(updates).await {
                match result {
                    Ok(_) => {}
                    Err(e) if condition_failed(&e) => {}
                    Err(e) => anyhow::bail!("marking the outbox: {}", describe(&e)),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let url = DynamoUrl::parse(
            "dynamodb://rookery_?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A4566",
        )
        .unwrap();
        assert_eq!(url.prefix, "rookery_");
        assert_eq!(url.region.as_deref(), Some("eu-west-1"));
        assert_eq!(url.endpoint.as_deref(), Some("http://127.0.0.1:4566"));
        assert_eq!(url.table("messages"), "rookery_messages");
        assert_eq!(DynamoUrl::parse("dynamodb://").unwrap().prefix, "");
        assert!(DynamoUrl::parse("dynamodb://a b").is_err());
        assert!(DynamoUrl::parse("dynamodb://x?colour=red").is_err());
        assert!(DynamoUrl::parse("postgres://x").is_err());
    }
}
