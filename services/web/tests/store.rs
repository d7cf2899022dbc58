//! The session store suite, on SQLite and (when `ROOKERY_TEST_POSTGRES_URL`
//! is set) PostgreSQL.

use std::sync::Arc;

use rookery_kernel::db::{SqliteDb, TestPostgres, sqlite_url_in};
use rookery_web::store::{Session, SessionStore, postgres, sqlite};
use rookery_web::{PostgresSessionStore, SqliteSessionStore};

fn session(id: &str, username: &str, expires_at: i64) -> Session {
    Session {
        id_hash: id.to_string(),
        username: username.to_string(),
        token: format!("token-{id}"),
        csrf: format!("csrf-{id}"),
        created_at: 1_000,
        expires_at,
    }
}

async fn suite(store: Arc<dyn SessionStore>) {
    store.ping().await.unwrap();
    let alice = session("a1", "Alice", 10_000);
    store.create(&alice).await.unwrap();
    store.create(&session("a2", "alice", 10_000)).await.unwrap();
    store.create(&session("b1", "bob", 10_000)).await.unwrap();
    store.create(&session("old", "carol", 2_000)).await.unwrap();

    assert_eq!(store.find("a1", 5_000).await.unwrap(), Some(alice.clone()));
    assert_eq!(store.find("missing", 5_000).await.unwrap(), None);
    // An expired session is not found, and the sweep forgets it.
    assert_eq!(store.find("old", 5_000).await.unwrap(), None);
    assert_eq!(store.delete_expired(5_000).await.unwrap(), 1);
    assert_eq!(store.find("old", 1_500).await.unwrap(), None);

    // The same id twice is refused (ids are random; a clash must not share).
    assert!(store.create(&alice).await.is_err());

    store.delete("b1").await.unwrap();
    assert_eq!(store.find("b1", 5_000).await.unwrap(), None);

    // Every session of an account, whatever the case of its name.
    assert_eq!(store.delete_for_user("ALICE").await.unwrap(), 2);
    assert_eq!(store.find("a1", 5_000).await.unwrap(), None);
    assert_eq!(store.find("a2", 5_000).await.unwrap(), None);
}

#[tokio::test]
async fn sessions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "web"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    suite(Arc::new(SqliteSessionStore::new(db.clone()))).await;
    db.close().await;
}

#[tokio::test]
async fn sessions_on_postgres() {
    let Some(pg) = TestPostgres::from_env(&postgres::MIGRATOR).await else {
        return;
    };
    suite(Arc::new(PostgresSessionStore::new(pg.pool.clone()))).await;
    pg.cleanup().await;
}

#[tokio::test]
async fn sessions_through_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let db = SqliteDb::open(&sqlite_url_in(dir.path(), "web"), &sqlite::MIGRATOR)
        .await
        .unwrap();
    let inner: Arc<dyn SessionStore> = Arc::new(SqliteSessionStore::new(db.clone()));
    suite(Arc::new(rookery_web::store::CachedSessionStore::new(inner))).await;
    db.close().await;
}
