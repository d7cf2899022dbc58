-- Web sessions: the cookie holds a random id; only its SHA-256 is stored.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    -- Lowercased, so a password change ends every session of the account.
    username_key TEXT NOT NULL,
    username TEXT NOT NULL,
    token TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (username_key);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
