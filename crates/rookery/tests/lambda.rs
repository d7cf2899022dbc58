//! The Lambda functions' handlers, driven in process with API Gateway REST
//! (v1), HTTP API (v2) and function URL events the way the Lambda runtime
//! delivers them (`lambda_http`'s adapter: event JSON in, response JSON out).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use rookery::lambda::{Function, FunctionConfig, LambdaService};
use rookery_kernel::db::sqlite_url_in;
use rookery_kernel::events::{Event, EventBus, InProcessBus, Subscription, topics};
use rookery_kernel::identity::{SERVICE_HEADER, ServiceKeys};
use rookery_kernel::secret::Secret;
use serde_json::{Value, json};
use tower::{Service, ServiceExt};

fn secret() -> Secret {
    Secret::from_bytes(b"a test secret that is long enough!!")
}

/// The in-process bus, remembering what was published (and when: before
/// or after a response).
#[derive(Default)]
struct RecordingBus {
    inner: Arc<InProcessBus>,
    published: Mutex<Vec<Event>>,
    /// Publishing fails while set (NATS unreachable).
    down: AtomicBool,
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, events: &[Event]) -> anyhow::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            anyhow::bail!("the bus is down");
        }
        self.inner.publish(events).await?;
        self.published.lock().unwrap().extend_from_slice(events);
        Ok(())
    }

    async fn subscribe(&self, consumer: &str, topics: &[&str]) -> anyhow::Result<Subscription> {
        self.inner.subscribe(consumer, topics).await
    }
}

impl RecordingBus {
    fn topics(&self) -> Vec<String> {
        self.published
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.topic.clone())
            .collect()
    }
}

async fn function(
    service: LambdaService,
    dir: &std::path::Path,
    users: Vec<String>,
    bus: Option<Arc<dyn EventBus>>,
) -> Function {
    Function::build(FunctionConfig {
        service,
        database_url: sqlite_url_in(dir, service.as_str()),
        polls_url: None,
        secret: secret(),
        users,
        posts: Vec::new(),
        bus,
        jetstream: None,
    })
    .await
    .unwrap()
}

/// One request as an event of `format`, through the runtime's adapter;
/// gives the response event.
async fn invoke(function: &Function, event: Value) -> Value {
    let request: lambda_http::request::LambdaRequest =
        serde_json::from_value(event.clone()).unwrap();
    let mut adapter = lambda_http::Adapter::from(lambda_http::service_fn(
        |req: lambda_http::Request| async move {
            Ok::<_, lambda_http::Error>(function.handle(req).await)
        },
    ));
    let response = adapter
        .ready()
        .await
        .unwrap()
        .call(lambda_http::LambdaEvent::new(
            request,
            lambda_http::Context::default(),
        ))
        .await
        .unwrap();
    serde_json::to_value(response).unwrap()
}

/// The response's status and body (decoded from base64 when so marked).
fn status_and_body(response: &Value) -> (u64, Vec<u8>) {
    let status = response["statusCode"].as_u64().unwrap();
    let body = response["body"].as_str().unwrap_or_default();
    let bytes = if response["isBase64Encoded"] == json!(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap()
    } else {
        body.as_bytes().to_vec()
    };
    (status, bytes)
}

fn json_of(response: &Value) -> (u64, Value) {
    let (status, body) = status_and_body(response);
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value)
}

/// A request, in any of the three event formats.
#[derive(Clone, Default)]
struct Req {
    method: &'static str,
    path: String,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    base64: bool,
    stage: Option<&'static str>,
}

fn req(method: &'static str, path: &str) -> Req {
    Req {
        method,
        path: path.into(),
        ..Req::default()
    }
}

impl Req {
    fn json(mut self, body: Value) -> Self {
        self.headers
            .push(("content-type", "application/json".into()));
        self.body = Some(body.to_string().into_bytes());
        self
    }

    fn basic(mut self, user: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.headers
            .push(("authorization", format!("Basic {encoded}")));
        self
    }

    fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn encoded_body(&self) -> Value {
        match &self.body {
            None => Value::Null,
            Some(bytes) if self.base64 => {
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
            Some(bytes) => json!(String::from_utf8(bytes.clone()).unwrap()),
        }
    }

    /// API Gateway REST API (payload 1.0): the path without the stage, the
    /// stage in the request context.
    fn v1(&self) -> Value {
        let mut headers = serde_json::Map::new();
        let mut multi = serde_json::Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.to_string(), json!(value));
            multi.insert(name.to_string(), json!([value]));
        }
        headers.insert(
            "Host".into(),
            json!("abc123.execute-api.eu-west-1.amazonaws.com"),
        );
        let mut query = serde_json::Map::new();
        let mut multi_query = serde_json::Map::new();
        for (name, value) in &self.query {
            query.insert(name.to_string(), json!(value));
            let list = multi_query
                .entry(name.to_string())
                .or_insert_with(|| json!([]));
            list.as_array_mut().unwrap().push(json!(value));
        }
        json!({
            "resource": "/{proxy+}",
            "path": self.path,
            "httpMethod": self.method,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query) },
            "multiValueQueryStringParameters": if multi_query.is_empty() { Value::Null } else { Value::Object(multi_query) },
            "pathParameters": {"proxy": self.path.trim_start_matches('/')},
            "stageVariables": null,
            "requestContext": {
                "accountId": "123456789012",
                "resourceId": "us4z18",
                "stage": self.stage.unwrap_or("prod"),
                "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                "identity": {"sourceIp": "203.0.113.7", "userAgent": "test"},
                "resourcePath": "/{proxy+}",
                "httpMethod": self.method,
                "apiId": "abc123",
                "path": format!("/{}{}", self.stage.unwrap_or("prod"), self.path),
            },
            "body": self.encoded_body(),
            "isBase64Encoded": self.base64,
        })
    }

    /// HTTP API (payload 2.0) and function URLs: `rawPath` holds a named
    /// stage; `$default` has none.
    fn v2(&self) -> Value {
        let stage = self.stage.unwrap_or("$default");
        let raw_path = match stage {
            "$default" => self.path.clone(),
            named => format!("/{named}{}", self.path),
        };
        let raw_query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.query.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            headers.insert(name.to_string(), json!(value));
        }
        headers.insert("host".into(), json!("abc123.lambda-url.eu-west-1.on.aws"));
        json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.lambda-url.eu-west-1.on.aws",
                "domainPrefix": "abc123",
                "http": {
                    "method": self.method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": "198.51.100.9",
                    "userAgent": "test"
                },
                "requestId": "id",
                "routeKey": "$default",
                "stage": stage,
                "time": "02/Dec/2026:01:00:00 +0000",
                "timeEpoch": 1796173200000i64
            },
            "body": self.encoded_body(),
            "isBase64Encoded": self.base64,
        })
    }
}

/// A users service on a real socket, as the functions reach it (over HTTP).
async fn users_service(dir: &std::path::Path) -> common::Server {
    let app = rookery::app::users_instance_on(&sqlite_url_in(dir, "users"), &secret(), None)
        .await
        .unwrap();
    common::Server::serve(app, tempfile::tempdir().unwrap()).await
}

fn register(username: &str) -> Req {
    req("POST", "/api/v1/users").json(json!({
        "username": username,
        "email": format!("{username}@example.com"),
        "password": common::password(username),
    }))
}

#[tokio::test]
async fn users_function_answers_every_event_format() {
    let dir = tempfile::tempdir().unwrap();
    let users = function(LambdaService::Users, dir.path(), Vec::new(), None).await;

    // Sign-up through an HTTP API event, a base64 body through a REST one.
    let (status, alice) = json_of(&invoke(&users, register("alice").v2()).await);
    assert_eq!(status, 201, "{alice}");
    assert_eq!(alice["username"], "alice");
    let mut bob = register("bob");
    bob.base64 = true;
    let (status, _) = json_of(&invoke(&users, bob.v1()).await);
    assert_eq!(status, 201);

    // Credentials checked by the function itself, behind any stage.
    let whoami = req("GET", "/api/v1/auth/whoami").basic("alice", &common::password("alice"));
    for (format, event) in [
        ("v1 prod", whoami.v1()),
        ("v2 $default", whoami.v2()),
        (
            "v2 named stage",
            Req {
                stage: Some("live"),
                ..whoami.clone()
            }
            .v2(),
        ),
    ] {
        let (status, body) = json_of(&invoke(&users, event).await);
        assert_eq!(status, 200, "{format}: {body}");
        assert_eq!(body["username"], "alice", "{format}");
    }
    let wrong = req("GET", "/api/v1/auth/whoami").basic("alice", "not her password");
    let (status, body) = json_of(&invoke(&users, wrong.v2()).await);
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].is_string());

    // Query strings reach the handlers (a bad limit is the usual 400).
    let mut page = req("GET", "/api/v1/users/alice/followers");
    page.query = vec![("limit", "0".into())];
    let (status, body) = json_of(&invoke(&users, page.v1()).await);
    assert_eq!(status, 400, "{body}");
    page.query = vec![("limit", "5".into())];
    let (status, body) = json_of(&invoke(&users, page.v2()).await);
    assert_eq!(status, 200, "{body}");

    // Errors stay JSON: unknown route, malformed and empty bodies, too large.
    let (status, body) = json_of(&invoke(&users, req("GET", "/api/v1/nowhere").v2()).await);
    assert_eq!((status, body["error"].is_string()), (404, true), "{body}");
    let mut broken = register("carol");
    broken.body = Some(b"{\"username\": ".to_vec());
    let (status, body) = json_of(&invoke(&users, broken.v1()).await);
    assert_eq!(status, 400, "{body}");
    let mut empty = register("carol");
    empty.body = None;
    let (status, body) = json_of(&invoke(&users, empty.v2()).await);
    assert_eq!(status, 400, "{body}");
    let mut huge = register("carol");
    huge.body = Some(vec![b'x'; 2 * 1024 * 1024]);
    let (status, _) = json_of(&invoke(&users, huge.v2()).await);
    assert_eq!(status, 413);

    // A binary answer travels base64-encoded (the docs page's icon).
    let icon = invoke(&users, req("GET", "/docs/favicon-32x32.png").v2()).await;
    let (status, bytes) = status_and_body(&icon);
    assert_eq!(status, 200);
    assert_eq!(icon["isBase64Encoded"], json!(true));
    assert_eq!(&bytes[1..4], b"PNG");

    // Internal routes answer other functions only (a service token).
    let internal = req("GET", "/internal/v1/users/alice");
    let (status, _) = json_of(&invoke(&users, internal.v2()).await);
    assert_eq!(status, 404);
    let forged = internal.clone().header(SERVICE_HEADER, "forged");
    let (status, _) = json_of(&invoke(&users, forged.v2()).await);
    assert_eq!(status, 404);
    let other_secret = ServiceKeys::new(&Secret::from_bytes(b"some other secret, long enough!!"));
    let wrong_key = internal
        .clone()
        .header(SERVICE_HEADER, &other_secret.token());
    let (status, _) = json_of(&invoke(&users, wrong_key.v2()).await);
    assert_eq!(status, 404);
    let signed = internal.header(SERVICE_HEADER, &ServiceKeys::new(&secret()).token());
    let (status, body) = json_of(&invoke(&users, signed.v2()).await);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["username"], "alice");

    users.close().await;
}

#[tokio::test]
async fn posts_function_checks_credentials_with_users_and_publishes_before_answering() {
    let dir = tempfile::tempdir().unwrap();
    // The users service the function asks (over HTTP, as across functions).
    let users = users_service(dir.path()).await;
    users.user("alice").await;
    users.user("bob").await;

    let bus = Arc::new(RecordingBus::default());
    let posts = function(
        LambdaService::Posts,
        dir.path(),
        vec![users.base.clone()],
        Some(bus.clone() as Arc<dyn EventBus>),
    )
    .await;
    let compose = req("POST", "/api/v1/posts")
        .json(json!({"text": "hello from a function @bob #lambda"}))
        .basic("alice", &common::password("alice"));
    let (status, post) = json_of(&invoke(&posts, compose.v2()).await);
    assert_eq!(status, 201, "{post}");
    // Published before the answer: nothing may run once it is returned.
    assert!(
        bus.topics().iter().any(|t| t == topics::POST_CREATED),
        "{:?}",
        bus.topics()
    );

    let id = match &post["id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let (status, read) =
        json_of(&invoke(&posts, req("GET", &format!("/api/v1/posts/{id}")).v1()).await);
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["text"], "hello from a function @bob #lambda");
    let refused = req("POST", "/api/v1/posts")
        .json(json!({"text": "not me"}))
        .basic("alice", "wrong");
    let (status, body) = json_of(&invoke(&posts, refused.v1()).await);
    assert_eq!(status, 401, "{body}");
    // Another service's routes are not this function's.
    let (status, _) = json_of(&invoke(&posts, req("GET", "/api/v1/messages").v2()).await);
    assert_eq!(status, 404);

    posts.close().await;
    users.stop().await;
}

#[tokio::test]
async fn the_events_function_publishes_what_requests_could_not() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_service(dir.path()).await;
    users.user("alice").await;

    // The bus unreachable: the post is made, its event waits in the outbox.
    let bus = Arc::new(RecordingBus::default());
    bus.down.store(true, Ordering::SeqCst);
    let events = function(
        LambdaService::Posts,
        dir.path(),
        vec![users.base.clone()],
        Some(bus.clone() as Arc<dyn EventBus>),
    )
    .await;
    let compose = req("POST", "/api/v1/posts")
        .json(json!({"text": "written while the bus was away"}))
        .basic("alice", &common::password("alice"));
    let (status, _) = json_of(&invoke(&events, compose.v2()).await);
    assert_eq!(status, 201);
    assert!(bus.topics().is_empty());

    // The scheduled events function publishes it once the bus is back.
    bus.down.store(false, Ordering::SeqCst);
    let report = events.sweep(Duration::from_secs(2)).await;
    assert_eq!(report["service"], "posts", "{report}");
    assert!(
        bus.topics().iter().any(|t| t == topics::POST_CREATED),
        "{report} {:?}",
        bus.topics()
    );
    // Nothing is left for a second sweep.
    let again = events.sweep(Duration::from_secs(1)).await;
    assert_eq!(again["published"], 0, "{again}");
    events.close().await;
    users.stop().await;
}

/// The votes, messages and notifications functions: each answers its own
/// routes with credentials it verified through the users service, and
/// nothing else's.
#[tokio::test]
async fn votes_messages_and_notifications_functions_serve_their_routes() {
    let dir = tempfile::tempdir().unwrap();
    let users = users_service(dir.path()).await;
    users.user("alice").await;
    users.user("bob").await;
    let base = vec![users.base.clone()];
    let alice = |r: Req| r.basic("alice", &common::password("alice"));
    let bob = |r: Req| r.basic("bob", &common::password("bob"));

    let votes = function(LambdaService::Votes, dir.path(), base.clone(), None).await;
    let (status, poll) = json_of(
        &invoke(
            &votes,
            alice(req("POST", "/api/v1/polls").json(json!({
                "question": "tabs or spaces?", "options": ["tabs", "spaces"]
            })))
            .v2(),
        )
        .await,
    );
    assert_eq!(status, 201, "{poll}");
    let id = poll["id"]
        .as_str()
        .map(String::from)
        .unwrap_or(poll["id"].to_string());
    let path = format!("/api/v1/polls/{id}/votes");
    let ballot = bob(req("POST", &path).json(json!({"choice": 1})));
    let (status, voted) = json_of(&invoke(&votes, ballot.v1()).await);
    assert_eq!(status, 201, "{voted}");
    assert_eq!(voted["my_choice"], 1);
    let (status, again) = json_of(&invoke(&votes, ballot.v2()).await);
    assert_eq!(status, 409, "{again}");
    let (status, _) = json_of(&invoke(&votes, req("GET", "/api/v1/notifications").v2()).await);
    assert_eq!(status, 404);
    votes.close().await;

    let messages = function(LambdaService::Messages, dir.path(), base.clone(), None).await;
    let send = alice(req("POST", "/api/v1/messages").json(json!({"to": "bob", "text": "hi bob"})));
    let (status, sent) = json_of(&invoke(&messages, send.v2()).await);
    assert_eq!(status, 201, "{sent}");
    let mut inbox = bob(req("GET", "/api/v1/messages"));
    inbox.query = vec![("box", "inbox".into())];
    let (status, page) = json_of(&invoke(&messages, inbox.v1()).await);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"][0]["text"], "hi bob", "{page}");
    // Nobody else reads it.
    let (status, _) = json_of(&invoke(&messages, req("GET", "/api/v1/messages").v2()).await);
    assert_eq!(status, 401);
    messages.close().await;

    let notifications = function(LambdaService::Notifications, dir.path(), base, None).await;
    let (status, list) = json_of(
        &invoke(
            &notifications,
            alice(req("GET", "/api/v1/notifications")).v2(),
        )
        .await,
    );
    assert_eq!(status, 200, "{list}");
    assert!(list["items"].is_array(), "{list}");
    let (status, count) = json_of(
        &invoke(
            &notifications,
            alice(req("GET", "/api/v1/notifications/unread_count")).v1(),
        )
        .await,
    );
    assert_eq!(status, 200, "{count}");
    notifications.close().await;
    users.stop().await;
}
