//! Edges real clients hit: an oversized body answered so that clients which
//! send all of it before reading (Python's urllib, the seeds' clients) read
//! the 413 instead of a broken pipe.

mod common;

use std::process::Command;

use common::Server;

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
