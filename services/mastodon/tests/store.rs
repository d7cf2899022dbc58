//! The Mastodon store suite, on SQLite and (when `ROOKERY_TEST_POSTGRES_URL`
//! is set) PostgreSQL.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_mastodon::store::{App, AppToken, AuthCode, MastodonStore, postgres, sqlite};
use rookery_mastodon::{PostgresMastodonStore, SqliteMastodonStore};

fn app(id: &str) -> App {
    App {
        client_id: id.to_string(),
        secret_hash: format!("hash-{id}"),
        name: format!("App {id}"),
        website: Some("https://example.org".into()),
        redirect_uris: vec![
            "urn:ietf:wg:oauth:2.0:oob".into(),
            "https://cb.example/x".into(),
        ],
        scopes: "read write follow push".into(),
        created_at: 1_000,
    }
}

fn code(hash: &str, expires_at: i64) -> AuthCode {
    AuthCode {
        code_hash: hash.to_string(),
        client_id: "c1".into(),
        redirect_uri: "urn:ietf:wg:oauth:2.0:oob".into(),
        scope: "read".into(),
        access_token: format!("token-{hash}"),
        expires_at,
    }
}

async fn suite(store: Arc<dyn MastodonStore>) {
    store.ping().await.unwrap();
    store.create_app(&app("c1")).await.unwrap();
    assert_eq!(store.app("c1").await.unwrap(), Some(app("c1")));
    assert_eq!(store.app("nope").await.unwrap(), None);
    // Client ids are random; a clash must not overwrite an app.
    assert!(store.create_app(&app("c1")).await.is_err());

    // A code works once, and not after it expired.
    store.create_code(&code("k1", 10_000)).await.unwrap();
    store.create_code(&code("k2", 2_000)).await.unwrap();
    store.create_code(&code("k3", 2_000)).await.unwrap();
    assert_eq!(
        store.take_code("k1", 5_000).await.unwrap(),
        Some(code("k1", 10_000))
    );
    assert_eq!(store.take_code("k1", 5_000).await.unwrap(), None);
    assert_eq!(store.take_code("k2", 5_000).await.unwrap(), None);
    assert_eq!(store.delete_expired_codes(5_000).await.unwrap(), 1);

    // Two exchanges of one code at once: exactly one gets it.
    store.create_code(&code("race", 10_000)).await.unwrap();
    let (a, b) = tokio::join!(store.take_code("race", 1), store.take_code("race", 1));
    assert_eq!(
        [a.unwrap(), b.unwrap()]
            .iter()
            .filter(|c| c.is_some())
            .count(),
        1
    );

    let token = AppToken {
        token_hash: "t1".into(),
        client_id: "c1".into(),
        scope: "read".into(),
        created_at: 3,
    };
    store.create_app_token(&token).await.unwrap();
    assert_eq!(store.app_token("t1").await.unwrap(), Some(token));
    assert!(store.delete_app_token("t1").await.unwrap());
    assert!(!store.delete_app_token("t1").await.unwrap());
    assert_eq!(store.app_token("t1").await.unwrap(), None);

    store.link_poll(10, 100).await.unwrap();
    store.link_poll(11, 110).await.unwrap();
    store.link_poll(10, 999).await.unwrap(); // the first link stays
    let mut polls = store.polls_of(&[10, 11, 12]).await.unwrap();
    polls.sort();
    assert_eq!(polls, vec![(10, 100), (11, 110)]);
    assert!(store.polls_of(&[]).await.unwrap().is_empty());

    assert_eq!(store.cleared_up_to("Alice").await.unwrap(), None);
    store.clear_notifications("Alice", 50).await.unwrap();
    store.clear_notifications("alice", 40).await.unwrap(); // never moves back
    assert_eq!(store.cleared_up_to("ALICE").await.unwrap(), Some(50));
    store.clear_notifications("alice", 60).await.unwrap();
    assert_eq!(store.cleared_up_to("alice").await.unwrap(), Some(60));
}

#[tokio::test]
async fn mastodon_store_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "mastodon"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    suite(Arc::new(SqliteMastodonStore::new(db.clone()))).await;
    db.close().await;
}

#[tokio::test]
async fn mastodon_store_on_postgres() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    suite(Arc::new(PostgresMastodonStore::new(pg.pool.clone()))).await;
    pg.cleanup().await;
}
