//! argon2 is paid once per credentials: the users service's router on a
//! real socket, counting the hasher's verifications.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, sqlite_url_in};
use rookery_kernel::events::OutboxSignal;
use rookery_kernel::ids::IdGenerator;
use rookery_kernel::secret::Secret;
use rookery_users::auth::AuthConfig;
use rookery_users::store::{NewUser, User, UserUpdate, sqlite};
use rookery_users::{SqliteUserStore, UsersService, router};
use serde_json::{Value, json};

/// The users service of embedded mode (cache hits trusted without a
/// database read) on a fresh SQLite database.
async fn service() -> (Arc<UsersService>, SqliteDb, tempfile::TempDir) {
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
    (svc, db, dir)
}

/// An account stored directly (no registration: nothing remembered).
async fn account(svc: &UsersService, username: &str, password: &str) -> User {
    let password_hash = svc.auth.hasher().hash(password).await.unwrap();
    svc.store
        .create_user(NewUser {
            username: username.into(),
            email: format!("{username}@example.com"),
            password_hash,
            bio: String::new(),
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_first_login_after_registering_does_not_verify_the_password_again() {
    let (svc, db, _dir) = service().await;
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

/// A password change whose new credentials are remembered after a
/// deactivation of the same account landed in between must not make them
/// work: the later change wins (a cache hit is trusted without a read).
#[tokio::test]
async fn credentials_remembered_across_a_concurrent_change_are_not_trusted() {
    let (svc, db, _dir) = service().await;
    let user = account(&svc, "bob", "first password").await;
    // A password change notes where the account stands and stores the new hash...
    let seen = svc.auth.credentials_seen(user.id);
    let new_hash = svc.auth.hasher().hash("second password").await.unwrap();
    let update = UserUpdate {
        password_hash: Some(new_hash),
        ..UserUpdate::default()
    };
    let updated = svc.store.update_user(user.id, update).await.unwrap();
    // ...meanwhile the account is deactivated...
    svc.store.deactivate(user.id).await.unwrap();
    svc.auth.forget_user(user.id);
    // ...then the change remembers its credentials: they must not work.
    svc.auth
        .remember_credentials(&updated, "second password", seen, true);
    let verified = svc.auth.hasher().verifications();
    assert!(
        svc.auth
            .verify_password("bob", "second password", None)
            .await
            .is_err()
    );
    assert_eq!(
        svc.auth.hasher().verifications(),
        verified + 1,
        "answered from the cache"
    );

    // Without anything in between, the new credentials are remembered.
    let carol = account(&svc, "carol", "carol password").await;
    svc.auth
        .remember_credentials(&carol, "carol password", 0, false);
    let verified = svc.auth.hasher().verifications();
    assert!(
        svc.auth
            .verify_password("Carol", "carol password", None)
            .await
            .is_ok()
    );
    assert_eq!(svc.auth.hasher().verifications(), verified);
    db.close().await;
}
