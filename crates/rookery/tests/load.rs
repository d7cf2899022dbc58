//! `rookery load` against the embedded app on a real socket: 100 simulated
//! users, every answer checked, no failure allowed.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Server;
use rookery::load::{LoadConfig, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_users_run_every_route_without_a_failure() {
    // As an operator would for a load run: registrations per IP, read by the
    // gateway at start. The default (10,000/hour) already admits 100; set it
    // so the test does not depend on that default. The failed-login limit
    // (100 per IP per 15 min, fixed by API.md) is why each user connects from
    // its own 127.0.0.x (`spread_sources`): every logout check costs one.
    // SAFETY: set before the server starts, the only test in this binary.
    unsafe { std::env::set_var("ROOKERY_REGISTRATIONS_PER_HOUR", "10000") };
    let server = Server::embedded().await;
    let config = LoadConfig {
        url: server.base.clone(),
        users: 100,
        ramp_up: Duration::from_secs(2),
        duration: Duration::from_secs(10),
        seed: 7,
        think_time: Duration::from_millis(20),
        spread_sources: true,
        progress: false,
    };
    let report = run(&config).await.expect("load run");
    println!("{}", report.table());
    assert_eq!(report.failures, 0, "{:#?}", report.failure_reasons);
    assert!(report.failure_reasons.is_empty());

    // Every service answered, on every route of the scenario.
    let services: BTreeSet<&str> = report.routes.iter().map(|r| r.service.as_str()).collect();
    assert_eq!(
        services,
        BTreeSet::from(["messages", "notifications", "posts", "users", "votes"])
    );
    for route in [
        "POST /api/v1/users",
        "GET /api/v1/users",
        "GET /api/v1/users/{username}",
        "POST /api/v1/auth/token",
        "GET /api/v1/auth/whoami",
        "DELETE /api/v1/auth/token",
        "POST /api/v1/users/{username}/follow",
        "GET /api/v1/users/{username}/followers",
        "GET /api/v1/users/{username}/following",
        "POST /api/v1/posts",
        "GET /api/v1/posts",
        "GET /api/v1/posts/{id}",
        "PATCH /api/v1/posts/{id}",
        "GET /api/v1/posts/{id}/history",
        "DELETE /api/v1/posts/{id}",
        "POST /api/v1/posts/{id}/replies",
        "GET /api/v1/posts/{id}/replies",
        "POST /api/v1/posts/{id}/repost",
        "GET /api/v1/timelines/home",
        "GET /api/v1/timelines/public",
        "GET /api/v1/users/{username}/posts",
        "GET /api/v1/communities/{name}/posts",
        "PUT /api/v1/posts/{id}/vote",
        "DELETE /api/v1/posts/{id}/vote",
        "POST /api/v1/posts/{id}/upvote",
        "POST /api/v1/posts/{id}/downvote",
        "POST /api/v1/posts/{id}/like",
        "DELETE /api/v1/posts/{id}/like",
        "GET /api/v1/posts/{id}/votes",
        "GET /api/v1/users/{username}/likes",
        "GET /api/v1/votes/top",
        "POST /api/v1/votes/sort",
        "POST /api/v1/polls",
        "GET /api/v1/polls/{id}",
        "POST /api/v1/polls/{id}/votes",
        "POST /api/v1/messages",
        "GET /api/v1/messages",
        "GET /api/v1/tags/{tag}/posts",
        "GET /api/v1/search",
        "GET /api/v1/notifications",
        "GET /api/v1/notifications/unread_count",
        "POST /api/v1/notifications/read",
        "POST /api/v1/users/{username}/block",
        "DELETE /api/v1/users/{username}/block",
        "POST /api/v1/users/{username}/mute",
        "DELETE /api/v1/users/{username}/mute",
        "GET /api/v1/blocks",
        "GET /api/v1/mutes",
        "GET /api/v1/messages/{id}",
        "POST /api/v1/messages/{id}/replies",
        "GET /api/v1/messages/{id}/replies",
        "POST /api/v1/messages/{id}/favorite",
        "DELETE /api/v1/messages/{id}/favorite",
    ] {
        let r = report
            .route(route)
            .unwrap_or_else(|| panic!("{route} never ran"));
        assert!(r.requests > 0 && r.p99_ms <= r.max_ms, "{route}: {r:?}");
    }
    // Every user registered once, from its own address, and at most one
    // bystander account each (its block and mute step registers one).
    let registrations = report.route("POST /api/v1/users").unwrap().requests;
    let blockers = report
        .route("POST /api/v1/users/{username}/block")
        .unwrap()
        .requests;
    assert!(
        registrations > 100 && registrations <= 200,
        "{registrations}"
    );
    assert!(
        registrations - 100 <= blockers,
        "{registrations} {blockers}"
    );
    assert!(report.spread_sources);

    // The JSON report carries the same figures.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["failures"], 0);
    assert!(json["routes"][0]["p99_ms"].is_u64());
    server.stop().await;
}
