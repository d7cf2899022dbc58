//! argon2 is paid once per credentials: the users service's router on a
//! real socket, counting the hasher's verifications.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, sqlite_url_in};
use rookery_kernel::events::OutboxSignal;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::secret::Secret;
use rookery_users::auth::AuthConfig;
use rookery_users::store::sqlite;
use rookery_users::{SqliteUserStore, UsersService, router};
use serde_json::{Value, json};

#[tokio::test]
async fn the_first_login_after_registering_does_not_verify_the_password_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "users"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let store = Arc::new(SqliteUserStore::new(
        db.clone(),
        Arc::new(IdGenerator::new(1)),
        OutboxSignal::default(),
    ));
    let config = AuthConfig {
        single_instance: true,
        ..AuthConfig::default()
    };
    let svc = UsersService::new(store, &Secret::from_bytes(&[7; 32]), config)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, router(svc.clone())).into_future());
    let http = reqwest::Client::new();
    let token = |password: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            http.post(format!("{base}/api/v1/auth/token"))
                .json(&json!({"username": "Alice", "password": password}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };

    let resp = http
        .post(format!("{base}/api/v1/users"))
        .json(
            &json!({"username": "alice", "email": "a@example.com", "password": " correct horse "}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{:?}", resp.json::<Value>().await);
    let verified = svc.auth.hasher().verifications();
    assert_eq!(token("correct horse").await, 200);
    assert_eq!(token("correct horse").await, 200);
    assert_eq!(
        svc.auth.hasher().verifications(),
        verified,
        "argon2 ran again"
    );
    // Other credentials still go through argon2 (and fail).
    assert_eq!(token("wrong horse!").await, 401);
    assert_eq!(svc.auth.hasher().verifications(), verified + 1);
    db.close().await;
}
