//! Edges real clients hit: an oversized body answered so that clients which
//! send all of it before reading (Python's urllib, the seeds' clients) read
//! the 413 instead of a broken pipe; slow, idle and too many connections
//! bounded so that they cannot keep the server from answering others.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Server;
use rookery::server::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 20 uploads of 2 MiB with Python's urllib: every one reads the 413 and
/// its JSON error (before, 19 in 20 got "Broken pipe").
#[tokio::test]
async fn python_clients_read_the_413_of_an_oversized_body() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: no python3");
        return;
    }
    let server = Server::embedded().await;
    let url = format!("{}/api/v1/users", server.base);
    let script = r#"
import json, sys, urllib.error, urllib.request
url = sys.argv[1]
body = b"x" * (2 * 1024 * 1024)
outcomes = []
for _ in range(20):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(req, timeout=30)
        outcomes.append("accepted")
    except urllib.error.HTTPError as e:
        outcomes.append(f"{e.code} {json.loads(e.read())['code']}")
    except Exception as e:
        outcomes.append(type(e).__name__ + ": " + str(e))
print(json.dumps(outcomes))
"#;
    let url_for_python = url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .args(["-c", script, &url_for_python])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let outcomes: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcomes.len(), 20);
    for outcome in &outcomes {
        assert_eq!(outcome, "413 payload_too_large", "{outcomes:?}");
    }
    // The server is fine afterwards.
    server.user("alice").await;
    server.stop().await;
}

/// A slow-loris client: connects and sends half a request head.
async fn half_a_head(base: &str) -> TcpStream {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: rookery\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

/// Whether the server has closed `stream` (no answer, just the end),
/// waiting up to `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(n)) => panic!(
            "expected the connection closed, got {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(_) => false,
    }
}

/// Whether `stream` is still open and silent right now.
fn still_open(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// 200 connections holding half a request head: others are answered while
/// they hang, and each of them is closed once the header timeout passes
/// (before, all stayed open for as long as the client wished).
#[tokio::test]
async fn a_slow_loris_flood_neither_holds_connections_nor_delays_others() {
    let server = Server::embedded_limited(ConnectionLimits {
        header_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(30),
        max_connections: 1_000,
    })
    .await;
    let mut flood = Vec::new();
    for _ in 0..200 {
        flood.push(half_a_head(&server.base).await);
    }
    let answered = server
        .req(reqwest::Method::GET, "/api/v1/users/nobody")
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 404);
    let open = flood.iter().filter(|s| still_open(s)).count();
    assert_eq!(open, 200, "the flood was still within its header timeout");
    for stream in &mut flood {
        assert!(
            closed_by_server(stream, Duration::from_secs(30)).await,
            "a half-sent head outlived the header timeout"
        );
    }
    server.stop().await;
}

/// At the connection limit, a new connection waits in the backlog until one
/// closes; then it is served.
#[tokio::test]
async fn past_the_connection_limit_clients_wait_for_a_free_slot() {
    let server = Server::embedded_limited(ConnectionLimits {
        header_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 4,
    })
    .await;
    let mut holders = Vec::new();
    for _ in 0..4 {
        holders.push(half_a_head(&server.base).await);
    }
    let base = server.base.clone();
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "a fifth connection was served while four held every slot"
    );
    drop(holders.pop());
    let status = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("a freed slot serves the waiting client")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
    drop(holders);
    server.stop().await;
}

/// A keep-alive connection left idle, and an upload that stalls, are
/// closed after the idle timeout; a slow upload that keeps moving is not.
#[tokio::test]
async fn idle_and_stalled_connections_close_after_the_idle_timeout() {
    let server = Server::embedded_limited(ConnectionLimits {
        header_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(2),
        max_connections: 100,
    })
    .await;
    let address = server.base.trim_start_matches("http://").to_string();

    // Idle after an answer.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: rookery\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = idle.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_by_server(&mut idle, Duration::from_secs(20)).await);

    // A body that stops arriving: closed without an answer, well before
    // the body reader's own 10 s bound would answer.
    let mut stalled = TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(
            b"POST /api/v1/users HTTP/1.1\r\nHost: rookery\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user",
        )
        .await
        .unwrap();
    assert!(closed_by_server(&mut stalled, Duration::from_secs(8)).await);

    // A body trickling in a byte a second (under the idle timeout) is read
    // to its end and answered.
    let mut slow = TcpStream::connect(&address).await.unwrap();
    let body = br#"{"x":1}"#;
    slow.write_all(
        format!(
            "POST /api/v1/users HTTP/1.1\r\nHost: rookery\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    for byte in body {
        tokio::time::sleep(Duration::from_millis(700)).await;
        slow.write_all(&[*byte]).await.unwrap();
    }
    let n = slow.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    server.stop().await;
}
