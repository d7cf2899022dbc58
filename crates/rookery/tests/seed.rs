//! Seeding the real Reed98 graph, and the seeded accounts logging in.

mod common;

use std::path::PathBuf;

use common::{Server, send_json};
use reqwest::{Method, StatusCode};

fn reed98() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/socfb-Reed98"
    ));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} not found", dir.display());
        None
    }
}

#[tokio::test]
async fn reed98_graph_loads_in_bulk_and_is_idempotent() {
    let Some(graph) = reed98() else { return };
    let dir = tempfile::tempdir().unwrap();
    let url = rookery_kernel::db::sqlite_url_in(dir.path(), "users");
    let report = rookery::seed::seed(&url, Some(&graph), "seed-password")
        .await
        .unwrap();
    assert_eq!(report.users_created, 962);
    assert_eq!(report.follows_created, 37_624);
    // Seeding again adds nothing.
    let again = rookery::seed::seed(&url, Some(&graph), "seed-password")
        .await
        .unwrap();
    assert_eq!((again.users_created, again.follows_created), (0, 0));

    // The server on that data directory sees the graph; counts match the edges.
    let app = rookery::app::embedded(dir.path()).await.unwrap();
    let s = Server::serve(app, tempfile::tempdir().unwrap()).await;
    let edges = std::fs::read_to_string(graph.join("socfb-Reed98.edges")).unwrap();
    let degree0 = edges
        .lines()
        .filter(|l| l.split_whitespace().any(|n| n == "0"))
        .count() as i64;
    let (status, user0) = send_json(s.req(Method::GET, "/api/v1/users/user0")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user0["followers_count"], degree0);
    assert_eq!(user0["following_count"], degree0);
    let resp = s
        .req(Method::GET, "/api/v1/auth/whoami")
        .basic_auth("user961", Some("seed-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    s.stop().await;
}

#[tokio::test]
async fn sample_seed() {
    let dir = tempfile::tempdir().unwrap();
    let url = rookery_kernel::db::sqlite_url_in(dir.path(), "users");
    let report = rookery::seed::seed(&url, None, "seed-password")
        .await
        .unwrap();
    assert_eq!(report.users_created, rookery::seed::SAMPLE_USERS.len());
    assert_eq!(
        report.follows_created,
        2 * rookery::seed::SAMPLE_USERS.len()
    );
}

#[tokio::test]
async fn sample_seed_through_a_running_server() {
    let s = Server::embedded().await;
    let report = rookery::seed::seed_over_http(&s.base, "seed-password")
        .await
        .unwrap();
    assert_eq!(report.users_created, rookery::seed::SAMPLE_USERS.len());
    assert_eq!(
        report.follows_created,
        2 * rookery::seed::SAMPLE_USERS.len()
    );
    let again = rookery::seed::seed_over_http(&s.base, "seed-password")
        .await
        .unwrap();
    assert_eq!((again.users_created, again.follows_created), (0, 0));
    let (_, bob) = send_json(s.req(Method::GET, "/api/v1/users/bob")).await;
    assert_eq!(bob["followers_count"], 2);
    s.stop().await;
}

#[tokio::test]
async fn messages_load_in_bulk_between_seeded_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let users_url = rookery_kernel::db::sqlite_url_in(dir.path(), "users");
    let messages_url = rookery_kernel::db::sqlite_url_in(dir.path(), "messages");
    rookery::seed::seed(&users_url, None, "seed-password")
        .await
        .unwrap();
    let names: Vec<String> = rookery::seed::SAMPLE_USERS
        .iter()
        .map(|s| s.to_string())
        .collect();
    let stored = rookery::seed::seed_messages(&users_url, &messages_url, &names, 12_345)
        .await
        .unwrap();
    assert_eq!(stored, 12_345);

    // The server sees them: every sample account's boxes add up.
    let app = rookery::app::embedded(dir.path()).await.unwrap();
    let s = Server::serve(app, tempfile::tempdir().unwrap()).await;
    let resp = s
        .req(Method::GET, "/api/v1/messages?box=inbox&limit=100")
        .basic_auth("alice", Some("seed-password"))
        .send()
        .await
        .unwrap();
    let (status, inbox) = common::json(resp).await;
    assert_eq!(status, StatusCode::OK);
    let items = inbox["items"].as_array().unwrap();
    assert_eq!(items.len(), 100);
    assert!(
        items
            .iter()
            .all(|m| m["to"] == "alice" && m["from"] != "alice")
    );
    assert!(inbox["next_cursor"].is_string());
    s.stop().await;
}
