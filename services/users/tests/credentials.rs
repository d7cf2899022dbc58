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

/// toot's password login sends the email address: a login with an `@` is
/// the account registered with it (case-insensitively), and its failures
/// count against that account's username (one limit for both spellings).
#[tokio::test]
async fn an_email_logs_in_its_account_under_the_usernames_failure_limit() {
    let (svc, db, _dir) = service().await;
    let dave = account(&svc, "Dave", "dave password").await;
    let ok = svc
        .auth
        .verify_password(" DAVE@Example.COM ", "dave password", None)
        .await
        .unwrap();
    assert_eq!((ok.user_id, ok.username.as_str()), (dave.id, "Dave"));
    // An unknown address and a wrong password are the usual 401.
    let err = svc
        .auth
        .verify_password("nobody@example.com", "dave password", None)
        .await
        .unwrap_err();
    assert_eq!(err.status, 401);
    // Ten failures, half by email and half by username, lock both spellings.
    for i in 0..10 {
        let login = if i % 2 == 0 {
            "dave@example.com"
        } else {
            "dave"
        };
        let err = svc
            .auth
            .verify_password(login, "wrong password", None)
            .await
            .unwrap_err();
        assert_eq!(err.status, 401, "attempt {i}");
    }
    for login in ["dave@example.com", "DAVE"] {
        let err = svc
            .auth
            .verify_password(login, "dave password", None)
            .await
            .unwrap_err();
        assert_eq!(err.status, 429, "{login}: {err}");
        assert!(err.retry_after.is_some());
    }
    // A deactivated account's address logs in nobody.
    let erin = account(&svc, "erin", "erin password").await;
    svc.store.deactivate(erin.id).await.unwrap();
    svc.auth.forget_user(erin.id);
    let err = svc
        .auth
        .verify_password("erin@example.com", "erin password", None)
        .await
        .unwrap_err();
    assert_eq!(err.status, 401);
    db.close().await;
}

/// Tokens carry the account's username, and their scope when asked for;
/// tokens issued before those claims existed keep working.
#[tokio::test]
async fn tokens_carry_username_and_scope_and_old_tokens_keep_working() {
    use base64::Engine;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let (svc, db, _dir) = service().await;
    let frank = account(&svc, "Frank", "frank password").await;
    let claims_of = |token: &str| -> Value {
        let payload = token.split('.').nth(1).unwrap();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    };
    let plain = svc.auth.issue_token(frank.id, "Frank", None).await.unwrap();
    let claims = claims_of(&plain.access_token);
    assert_eq!(claims["username"], "Frank");
    assert!(claims.get("scope").is_none(), "{claims}");
    let scope = rookery_users::domain::Scope::parse("read  write:statuses read").unwrap();
    let scoped = svc
        .auth
        .issue_token(frank.id, "Frank", Some(&scope))
        .await
        .unwrap();
    assert_eq!(
        claims_of(&scoped.access_token)["scope"],
        "read write:statuses"
    );
    for token in [&plain.access_token, &scoped.access_token] {
        let who = svc
            .auth
            .authenticate_header(&format!("Bearer {token}"), None)
            .await
            .unwrap();
        assert_eq!((who.user_id, who.username.as_str()), (frank.id, "Frank"));
    }

    // A token as issued before `username` and `scope` were added.
    let now = jsonwebtoken::get_current_timestamp();
    let session = svc
        .store
        .create_session(frank.id, ((now + 600) * 1000) as i64)
        .await
        .unwrap();
    let old_claims = json!({
        "sub": frank.id.to_string(),
        "sid": session.to_string(),
        "iat": now,
        "exp": now + 600,
    });
    let key = rookery_kernel::secret::Secret::from_bytes(&[7; 32]).derive("access-token");
    let old = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &old_claims,
        &EncodingKey::from_secret(&key),
    )
    .unwrap();
    let who = svc
        .auth
        .authenticate_header(&format!("Bearer {old}"), None)
        .await
        .unwrap();
    assert_eq!((who.user_id, who.username.as_str()), (frank.id, "Frank"));
    db.close().await;
}
