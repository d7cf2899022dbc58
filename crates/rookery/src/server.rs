//! The HTTP/1.1 server under every listener. `axum::serve` bounds nothing:
//! measured, 3,000 connections that sent half a request head were all still
//! open after 35 s, and the process accepted until it ran out of file
//! descriptors. This serves the same router under hyper with three bounds:
//!
//! - **header timeout**: a request head must arrive whole within it, timed
//!   from the connection opening or from the first byte of a later request;
//! - **idle timeout**: how long a keep-alive connection may wait for its next
//!   request, and how long a request in progress may move no byte either way
//!   (a stalled upload, a client that stopped reading its answer);
//! - **connection limit**: at most this many open at once over all the
//!   process's listeners (upgraded WebSockets included, for as long as
//!   their socket lives); more wait in the listen backlog until one closes.
//!
//! Not bounded: a client that keeps trickling bytes (a request body is
//! bounded by its reader, `rookery_kernel::extract::read_body`; a response
//! read a byte at a time is not).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The bounds on a listener's connections (see the module's documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    /// 10 s for a head (Go servers' usual `ReadHeaderTimeout`); 75 s idle,
    /// above the 60 s the gateway's upstream pools keep an idle connection,
    /// so a pool never reuses one the server is closing; 10,000
    /// connections, or half the process's descriptor limit if that is less
    /// (the other half for upstream connections and databases).
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: half_the_descriptors().map_or(10_000, |half| half.min(10_000)),
        }
    }
}

fn half_the_descriptors() -> Option<usize> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    let read = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (read == 0).then(|| {
        usize::try_from(limit.rlim_cur / 2)
            .unwrap_or(usize::MAX)
            .max(1)
    })
}

/// The connection slots of a process's listeners, shared so that the limit
/// holds for all of them together.
pub fn connection_slots(limits: &ConnectionLimits) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(limits.max_connections.max(1)))
}

/// Serves `router` on `listener` until `stop` is cancelled, each connection
/// holding one of `slots`, then lets requests in progress finish within
/// `grace` (streams never do) and cuts the rest.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    stop: CancellationToken,
    grace: Duration,
) {
    let connections = TaskTracker::new();
    let finishing = CancellationToken::new();
    let cut = CancellationToken::new();
    loop {
        let slot = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, remote) = tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors or memory: give closing
                    // connections a moment instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    continue;
                }
            },
        };
        // Small answers go out at once rather than waiting on Nagle.
        let _ = stream.set_nodelay(true);
        let (router, finishing, cut) = (router.clone(), finishing.clone(), cut.clone());
        connections.spawn(serve_connection(
            stream, slot, remote, router, limits, finishing, cut,
        ));
    }
    drop(listener);
    finishing.cancel();
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        cut.cancel();
        connections.wait().await;
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

async fn serve_connection(
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    remote: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    finishing: CancellationToken,
    cut: CancellationToken,
) {
    let watch = Arc::new(Watch::new());
    let io = TokioIo::new(Watched {
        io: stream,
        watch: watch.clone(),
        _slot: slot,
    });
    let service = {
        let watch = watch.clone();
        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            watch.begin_request(http_body::Body::is_end_stream(request.body()));
            let (router, watch) = (router.clone(), watch.clone());
            let mut request = request.map(|body| {
                Body::new(RequestBody {
                    body,
                    watch: watch.clone(),
                })
            });
            request.extensions_mut().insert(ConnectInfo(remote));
            async move {
                let Ok(response) = router.oneshot(request).await;
                Ok::<_, Infallible>(response.map(|body| Body::new(Answered { body, watch })))
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watch below times heads; hyper's own timer would need a second
    // clock per connection for the same bound.
    builder.header_read_timeout(None);
    let mut connection = pin!(builder.serve_connection(io, service).with_upgrades());
    let tick = (limits.header_timeout.min(limits.idle_timeout) / 4)
        .clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress = Progress {
        moved: 0,
        at: Instant::now(),
    };
    let mut finishing_seen = false;
    loop {
        tokio::select! {
            done = connection.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%remote, error = %e, "connection ended");
                }
                return;
            }
            _ = finishing.cancelled(), if !finishing_seen => {
                finishing_seen = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = cut.cancelled() => return,
            _ = ticks.tick() => {
                if let Some(reason) = watch.overdue(&limits, &mut progress) {
                    tracing::debug!(%remote, reason, "closing connection");
                    return;
                }
            }
        }
    }
}

/// Where a connection is in its request cycle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Phase {
    /// Between requests: nothing of the next one read yet.
    Waiting = 0,
    /// A request head is arriving (or, on a new connection, is due).
    Head = 1,
    /// A request is being served, up to the end of its answer's body.
    Busy = 2,
    /// Answered before its request body was read: hyper reads and drops
    /// the rest, so reads are not a next head yet.
    Draining = 3,
}

/// A connection's phase and traffic, written by its IO and its service and
/// read by its timer, all on the connection's own task (atomics only to be
/// `Send`).
struct Watch {
    started: Instant,
    phase: AtomicU8,
    /// When the phase began, in ms since `started`.
    phase_since: AtomicU64,
    /// Reads and writes that moved bytes, and phase changes.
    moved: AtomicU64,
    /// Whether the current request's body has been read to its end.
    body_read: AtomicBool,
    /// When bytes of a next request head arrived while this one was being
    /// answered (ms since `started`, plus one; 0: none).
    early_head: AtomicU64,
}

/// What the timer last saw of a connection's traffic.
struct Progress {
    moved: u64,
    at: Instant,
}

impl Watch {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            phase: AtomicU8::new(Phase::Head as u8),
            phase_since: AtomicU64::new(0),
            moved: AtomicU64::new(0),
            body_read: AtomicBool::new(true),
            early_head: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Waiting,
            1 => Phase::Head,
            2 => Phase::Busy,
            _ => Phase::Draining,
        }
    }

    fn enter_at(&self, phase: Phase, since_ms: u64) {
        self.phase_since.store(since_ms, Ordering::Relaxed);
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.moved.fetch_add(1, Ordering::Relaxed);
    }

    fn enter(&self, phase: Phase) {
        self.enter_at(phase, self.now_ms());
    }

    fn begin_request(&self, body_read: bool) {
        self.body_read.store(body_read, Ordering::Relaxed);
        self.early_head.store(0, Ordering::Relaxed);
        self.enter(Phase::Busy);
    }

    /// The answer's body is done with: the next request is due, timed as
    /// a head from its first byte (which may have come already).
    fn answered(&self) {
        match self.early_head.swap(0, Ordering::Relaxed) {
            0 if self.body_read.load(Ordering::Relaxed) => self.enter(Phase::Waiting),
            0 => self.enter(Phase::Draining),
            early => self.enter_at(Phase::Head, early - 1),
        }
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.moved.fetch_add(1, Ordering::Relaxed);
        match self.phase() {
            Phase::Waiting => self.enter(Phase::Head),
            // Read past a request whose body is done: the next head.
            Phase::Busy
                if self.body_read.load(Ordering::Relaxed)
                    && self.early_head.load(Ordering::Relaxed) == 0 =>
            {
                self.early_head.store(self.now_ms() + 1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn wrote(&self, bytes: usize) {
        if bytes > 0 {
            self.moved.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Why the connection should close now, if it should.
    fn overdue(&self, limits: &ConnectionLimits, seen: &mut Progress) -> Option<&'static str> {
        let now = Instant::now();
        let moved = self.moved.load(Ordering::Relaxed);
        if moved != seen.moved {
            *seen = Progress { moved, at: now };
        }
        let in_phase = now
            .duration_since(self.started)
            .saturating_sub(Duration::from_millis(
                self.phase_since.load(Ordering::Relaxed),
            ));
        // An answer may still be going out after hyper let go of its body:
        // waiting counts from the last traffic.
        let quiet = now.duration_since(seen.at);
        match self.phase() {
            Phase::Head if in_phase > limits.header_timeout => {
                Some("request head not received within the header timeout")
            }
            Phase::Waiting | Phase::Draining
                if in_phase > limits.idle_timeout && quiet > limits.idle_timeout =>
            {
                Some("idle")
            }
            Phase::Busy if quiet > limits.idle_timeout => {
                Some("no traffic within the idle timeout")
            }
            _ => None,
        }
    }
}

/// The connection's socket, telling its watch about traffic. It holds the
/// connection's slot for as long as the socket lives, after an upgrade too.
struct Watched {
    io: TcpStream,
    watch: Arc<Watch>,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if polled.is_ready() {
            self.watch.read(buf.filled().len() - before);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.watch.wrote(n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = polled {
            self.watch.wrote(n);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// An answer's body: once hyper is done with it (sent or abandoned), the
/// connection waits for its next request.
struct Answered {
    body: Body,
    watch: Arc<Watch>,
}

impl Drop for Answered {
    fn drop(&mut self) {
        self.watch.answered();
    }
}

impl http_body::Body for Answered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request's body, telling the watch when it has been read to its end.
struct RequestBody {
    body: Incoming,
    watch: Arc<Watch>,
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.body.is_end_stream() {
            self.watch.body_read.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnectionLimits {
        ConnectionLimits {
            header_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(1000),
            max_connections: 1,
        }
    }

    fn seen() -> Progress {
        Progress {
            moved: 0,
            at: Instant::now(),
        }
    }

    #[test]
    fn a_head_is_due_from_the_first_byte_of_a_later_request() {
        let watch = Watch::new();
        watch.enter(Phase::Waiting);
        std::thread::sleep(Duration::from_millis(300));
        // Waiting longer than a head may take is fine: idle is longer.
        assert_eq!(watch.overdue(&limits(), &mut seen()), None);
        watch.read(1);
        assert_eq!(watch.phase(), Phase::Head);
        assert_eq!(watch.overdue(&limits(), &mut seen()), None);
        std::thread::sleep(Duration::from_millis(300));
        assert!(watch.overdue(&limits(), &mut seen()).is_some());
    }

    #[test]
    fn a_busy_connection_is_overdue_only_without_traffic() {
        let watch = Watch::new();
        watch.enter(Phase::Busy);
        let mut progress = seen();
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(300));
            watch.wrote(10);
            assert_eq!(watch.overdue(&limits(), &mut progress), None);
        }
        // Zero-byte reads and writes are not traffic.
        watch.wrote(0);
        watch.read(0);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(watch.overdue(&limits(), &mut progress).is_some());
    }

    #[test]
    fn an_answer_still_going_out_is_not_idle() {
        let watch = Watch::new();
        watch.begin_request(true);
        watch.answered();
        assert_eq!(watch.phase(), Phase::Waiting);
        let mut progress = seen();
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(300));
            watch.wrote(10);
            assert_eq!(watch.overdue(&limits(), &mut progress), None);
        }
    }

    #[test]
    fn the_rest_of_an_unread_body_is_not_a_next_head() {
        let watch = Watch::new();
        watch.begin_request(false);
        watch.answered();
        assert_eq!(watch.phase(), Phase::Draining);
        watch.read(100);
        assert_eq!(watch.phase(), Phase::Draining);
        // The next request starts the cycle again.
        watch.begin_request(true);
        assert_eq!(watch.phase(), Phase::Busy);
    }

    #[test]
    fn a_next_head_read_early_is_timed_from_its_first_byte() {
        let watch = Watch::new();
        watch.begin_request(false);
        // Body bytes while it is unread are not a head.
        watch.read(10);
        assert_eq!(watch.early_head.load(Ordering::Relaxed), 0);
        watch.body_read.store(true, Ordering::Relaxed);
        watch.read(10);
        std::thread::sleep(Duration::from_millis(300));
        watch.answered();
        assert_eq!(watch.phase(), Phase::Head);
        // Its head time began before the answer ended: already overdue.
        assert!(watch.overdue(&limits(), &mut seen()).is_some());
    }
}
