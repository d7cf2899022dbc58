//! Streaming: `user`, `public`, `hashtag` and `direct` over WebSocket
//! (`/api/v1/streaming`, the token as `Sec-WebSocket-Protocol` (echoed),
//! `access_token` or `Authorization`) and over SSE
//! (`/api/v1/streaming/{user,public,hashtag,direct}`), fed from the event
//! bus. One task renders each new post once; every connection filters the
//! shared frames. Queues are bounded: a connection that falls behind the
//! shared ring is dropped, so a slow reader never makes memory grow.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Path, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, Stream, StreamExt};
use http::{HeaderValue, header};
use rookery_kernel::events::{Event, Subscription, topics};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::MastodonService;
use crate::ctx::Ctx;
use crate::error::{MastoError, MastoResult};
use crate::native::{self, Message, Post};
use crate::render;

/// Frames the ring holds; a connection further behind is dropped.
pub const RING: usize = 1024;
/// A WebSocket's read and write buffers.
const STREAM_BUFFER: usize = 8 * 1024;
/// What a WebSocket may hold unsent before the connection fails (a reader
/// that stopped reading).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;
/// How long a connection may go without traffic before a heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// What the hub tells every connection.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A new post, rendered once (as an anonymous reader sees it).
    Update {
        author: String,
        tags: Vec<String>,
        reply: bool,
        json: Arc<str>,
    },
    Delete {
        id: String,
    },
    /// A direct message: its participants render it with their own token.
    Direct {
        id: String,
        sender: String,
        recipient: String,
    },
    /// The follows of `follower_id` changed (user streams refresh theirs).
    Follows {
        follower_id: String,
    },
}

pub struct Hub {
    tx: broadcast::Sender<Arc<Frame>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(RING).0,
        }
    }
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Frame>> {
        self.tx.subscribe()
    }

    /// Open connections (for metrics and tests).
    pub fn connections(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// Where the hub hears events: a bus subscription (in process) or a live
/// fan-out of every event (NATS, one per instance).
pub enum EventSource {
    Bus(Subscription),
    Live(mpsc::Receiver<Event>),
}

/// The topics streaming needs.
pub const TOPICS: &[&str] = &[
    topics::POST_CREATED,
    topics::POST_DELETED,
    topics::MESSAGE_SENT,
    topics::FOLLOW_CREATED,
    topics::FOLLOW_REMOVED,
];

/// Turns events into frames until `shutdown`.
pub async fn run_hub(
    svc: Arc<MastodonService>,
    mut source: EventSource,
    shutdown: CancellationToken,
) {
    loop {
        let events: Vec<Event> = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = async {
                match &mut source {
                    EventSource::Bus(sub) => sub.next().await.map(|d| {
                        let events = d.events.clone();
                        // Taken at once: rendering must not hold up the relay.
                        d.ack();
                        events
                    }),
                    EventSource::Live(rx) => rx.recv().await.map(|e| vec![e]),
                }
            } => match next {
                Some(events) => events,
                None => return,
            },
        };
        if svc.hub.connections() == 0 {
            continue;
        }
        for event in events {
            if let Some(frame) = frame_of(&svc, &event).await {
                let _ = svc.hub.tx.send(Arc::new(frame));
            }
        }
    }
}

fn text(payload: &serde_json::Value, key: &str) -> Option<String> {
    match &payload[key] {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

async fn frame_of(svc: &Arc<MastodonService>, event: &Event) -> Option<Frame> {
    let p = &event.payload;
    match event.topic.as_str() {
        topics::POST_CREATED => {
            let id = text(p, "post_id")?;
            let ctx = Ctx::background(svc.clone());
            let post: Post = ctx
                .svc
                .api
                .get(&ctx.anonymous(), &format!("/api/v1/posts/{id}"))
                .await
                .ok()?;
            let status = render::status(&ctx, &post).await.ok()?;
            let json = serde_json::to_string(&status).ok()?;
            let tags = match &post.repost_of {
                Some(_) => status
                    .reblog
                    .as_ref()
                    .map(|r| r.tags.iter().map(|t| t.name.clone()).collect())
                    .unwrap_or_default(),
                None => status.tags.iter().map(|t| t.name.clone()).collect(),
            };
            Some(Frame::Update {
                author: post.author.to_lowercase(),
                tags,
                reply: post.in_reply_to.is_some(),
                json: json.into(),
            })
        }
        topics::POST_DELETED => Some(Frame::Delete {
            id: text(p, "post_id")?,
        }),
        topics::MESSAGE_SENT => Some(Frame::Direct {
            id: text(p, "message_id")?,
            sender: text(p, "sender")?.to_lowercase(),
            recipient: text(p, "recipient")?.to_lowercase(),
        }),
        topics::FOLLOW_CREATED | topics::FOLLOW_REMOVED => Some(Frame::Follows {
            follower_id: text(p, "follower_id")?,
        }),
        _ => None,
    }
}

/// One subscription of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Channel {
    User,
    Public { local_only: bool },
    Hashtag(String),
    Direct,
}

impl Channel {
    /// Mastodon's stream names (`user:notification` has no frames yet:
    /// notifications are not on the bus).
    fn parse(stream: &str, tag: Option<&str>) -> Option<Self> {
        Some(match stream {
            "user" | "user:notification" => Channel::User,
            "public" | "public:media" => Channel::Public { local_only: false },
            "public:local" | "public:local:media" => Channel::Public { local_only: true },
            "hashtag" | "hashtag:local" => {
                Channel::Hashtag(tag?.trim_start_matches('#').to_lowercase())
            }
            "direct" => Channel::Direct,
            _ => return None,
        })
    }

    fn name(&self) -> Vec<String> {
        match self {
            Channel::User => vec!["user".into()],
            Channel::Public { local_only: false } => vec!["public".into()],
            Channel::Public { local_only: true } => vec!["public:local".into()],
            Channel::Hashtag(tag) => vec!["hashtag".into(), tag.clone()],
            Channel::Direct => vec!["direct".into()],
        }
    }

    fn needs_account(&self) -> bool {
        matches!(self, Channel::User | Channel::Direct)
    }
}

/// Who is listening: the account (for `user` and `direct`) and what it follows.
struct Listener {
    ctx: Ctx,
    me: Option<String>,
    my_id: Option<String>,
    following: HashSet<String>,
}

impl Listener {
    async fn new(ctx: Ctx) -> MastoResult<Self> {
        let (me, my_id) = match &ctx.token {
            Some(t) if !t.app => {
                let me = ctx.verified_username().await?;
                let id = t.user_id.clone();
                (Some(me.to_lowercase()), id)
            }
            Some(_) => {
                return Err(MastoError::unprocessable(
                    "This method requires an authenticated user",
                ));
            }
            None => (None, None),
        };
        let mut listener = Self {
            ctx,
            me,
            my_id,
            following: HashSet::new(),
        };
        listener.refresh_following().await;
        Ok(listener)
    }

    /// The accounts whose posts reach the `user` stream (the first 1,000
    /// followed, and oneself).
    async fn refresh_following(&mut self) {
        let Some(me) = self.me.clone() else { return };
        let mut set: HashSet<String> = [me.clone()].into();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut path = format!("/api/v1/users/{me}/following?limit=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let Ok(page) = self.ctx.get::<native::Page<native::User>>(&path).await else {
                break;
            };
            set.extend(page.items.iter().map(|u| u.username.to_lowercase()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        self.following = set;
    }

    /// What `frame` means to `channel`: (event, payload) to send.
    async fn render(&mut self, channel: &Channel, frame: &Frame) -> Option<(&'static str, String)> {
        match (channel, frame) {
            (Channel::User, Frame::Update { author, json, .. })
                if self.following.contains(author) =>
            {
                Some(("update", json.to_string()))
            }
            (Channel::Public { .. }, Frame::Update { reply, json, .. }) if !reply => {
                Some(("update", json.to_string()))
            }
            (Channel::Hashtag(tag), Frame::Update { tags, json, .. }) if tags.contains(tag) => {
                Some(("update", json.to_string()))
            }
            (
                Channel::User | Channel::Public { .. } | Channel::Hashtag(_),
                Frame::Delete { id },
            ) => Some(("delete", id.clone())),
            (Channel::User, Frame::Follows { follower_id }) => {
                if self.my_id.as_ref() == Some(follower_id) {
                    self.refresh_following().await;
                }
                None
            }
            (
                Channel::Direct,
                Frame::Direct {
                    id,
                    sender,
                    recipient,
                },
            ) => {
                let me = self.me.as_ref()?;
                if me != sender && me != recipient {
                    return None;
                }
                let message: Message =
                    self.ctx.get(&format!("/api/v1/messages/{id}")).await.ok()?;
                let status = crate::http::statuses::message_status(&self.ctx, &message)
                    .await
                    .ok()?;
                let other = if &message.from.to_lowercase() == me {
                    &message.to
                } else {
                    &message.from
                };
                let links = render::links(&self.ctx);
                let conversation = crate::entities::Conversation {
                    id: other.clone(),
                    unread: me == recipient,
                    accounts: vec![crate::entities::Account::from_name(other, &links)],
                    last_status: Some(status),
                };
                Some(("conversation", serde_json::to_string(&conversation).ok()?))
            }
            _ => None,
        }
    }
}

/// `GET /api/v1/streaming/health`.
pub async fn health() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "OK").into_response()
}

// ----- SSE -----

/// `GET /api/v1/streaming/{stream}` (and `/{stream}/{sub}`, e.g. `public/local`).
pub async fn sse(ctx: Ctx, Path(path): Path<String>) -> MastoResult<Response> {
    let stream = path.trim_matches('/').replace('/', ":");
    let tag = ctx.query.text("tag");
    let channel = Channel::parse(&stream, tag.as_deref()).ok_or_else(MastoError::not_found)?;
    // Every stream reads statuses; user and direct need an account.
    if channel.needs_account() {
        ctx.require("read:statuses")?;
    } else {
        ctx.optional("read:statuses")?;
    }
    let listener = Listener::new(ctx).await?;
    let events = sse_events(listener, channel);
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT).text("thump"))
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn sse_events(
    listener: Listener,
    channel: Channel,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let rx = listener.ctx.svc.hub.subscribe();
    // The stream owns its state: when the client goes, all of it goes.
    futures::stream::unfold(
        (listener, rx, channel),
        |(mut listener, mut rx, channel)| async move {
            loop {
                // Too slow for the ring, or the hub is gone: the stream ends.
                let frame = rx.recv().await.ok()?;
                if let Some((event, payload)) = listener.render(&channel, &frame).await {
                    let event = SseEvent::default().event(event).data(payload);
                    return Some((Ok(event), (listener, rx, channel)));
                }
            }
        },
    )
}

// ----- WebSocket -----

#[derive(Deserialize)]
struct ClientMessage {
    #[serde(rename = "type")]
    kind: String,
    stream: Option<String>,
    tag: Option<String>,
}

/// `GET /api/v1/streaming` (WebSocket). The token may come as the
/// subprotocol (masto.js), which is echoed as the handshake requires.
pub async fn websocket(
    State(svc): State<Arc<MastodonService>>,
    req: axum::extract::Request,
) -> MastoResult<Response> {
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &svc)
        .await
        .map_err(|_| MastoError::bad_request("a WebSocket upgrade is required here"))?;
    let protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .map(str::to_owned);
    if let Some(token) = &protocol
        && !parts.headers.contains_key(header::AUTHORIZATION)
        && let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}"))
    {
        parts.headers.insert(header::AUTHORIZATION, value);
    }
    let ctx = Ctx::from_request_parts(&mut parts, &svc).await?;
    if ctx.token.is_some() {
        ctx.optional("read:statuses")?;
    }
    let first = ctx
        .query
        .text("stream")
        .and_then(|s| Channel::parse(&s, ctx.query.text("tag").as_deref()));
    let listener = Listener::new(ctx).await?;
    let ws = match protocol {
        Some(p) => ws.protocols([p]),
        None => ws,
    };
    // Small buffers: a stream sends statuses of a few KiB and reads only
    // subscribe messages, and tungstenite's defaults (128 KiB each way)
    // would cost a thousand streams a quarter of a gigabyte.
    Ok(ws
        .read_buffer_size(STREAM_BUFFER)
        .write_buffer_size(STREAM_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| run_socket(socket, listener, first))
        .into_response())
}

async fn run_socket(socket: WebSocket, mut listener: Listener, first: Option<Channel>) {
    let (mut sink, mut incoming) = socket.split();
    let mut rx = listener.ctx.svc.hub.subscribe();
    let mut channels: Vec<Channel> = first.into_iter().collect();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Ok(frame) = frame else { break };
                for channel in channels.clone() {
                    if let Some((event, payload)) = listener.render(&channel, &frame).await {
                        let message = json!({"stream": channel.name(), "event": event, "payload": payload});
                        if sink.send(WsMessage::Text(message.to_string().into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
            message = incoming.next() => {
                let Some(Ok(message)) = message else { break };
                let WsMessage::Text(text) = message else { continue };
                let Ok(request) = serde_json::from_str::<ClientMessage>(&text) else { continue };
                let Some(channel) = request.stream.as_deref().and_then(|s| Channel::parse(s, request.tag.as_deref())) else {
                    let _ = sink.send(WsMessage::Text(json!({"error": "Unknown stream type"}).to_string().into())).await;
                    continue;
                };
                match request.kind.as_str() {
                    "subscribe" => {
                        if channel.needs_account() && listener.me.is_none() {
                            let _ = sink.send(WsMessage::Text(json!({"error": "Missing access token"}).to_string().into())).await;
                        } else if !channels.contains(&channel) {
                            channels.push(channel);
                        }
                    }
                    "unsubscribe" => channels.retain(|c| c != &channel),
                    _ => {}
                }
            }
            _ = heartbeat.tick() => {
                if sink.send(WsMessage::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
}
