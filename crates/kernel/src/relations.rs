//! Blocks and mutes. The users service owns them (they are part of the
//! graph) and publishes each change as an event; posts, votes, messages and
//! notifications keep a replica of them (a `relations` table, the same SQL on
//! SQLite and PostgreSQL) to enforce them on their own objects.
//!
//! Replica table, in each consuming service's migrations:
//!
//! ```sql
//! CREATE TABLE relations (
//!     user_id   BIGINT   NOT NULL,  -- who blocks or mutes
//!     target_id BIGINT   NOT NULL,  -- who is blocked or muted
//!     kind      SMALLINT NOT NULL,  -- 1 block, 2 mute
//!     active    BOOLEAN  NOT NULL,
//!     event_id  BIGINT   NOT NULL,  -- the newest change applied
//!     PRIMARY KEY (user_id, target_id, kind)
//! );
//! CREATE INDEX relations_by_target ON relations (target_id, user_id) WHERE active;
//! ```
//!
//! A removal keeps its row (inactive) with the event id, so an older event
//! delivered again never revives it: changes apply newest-event-wins.

use serde_json::json;

use crate::ApiError;
use crate::events::{Event, id_field, topics};
use crate::ids::IdGenerator;

/// Block or mute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelationKind {
    Block,
    Mute,
}

impl RelationKind {
    /// The `kind` column of a `relations` table.
    pub fn as_i16(self) -> i16 {
        match self {
            RelationKind::Block => 1,
            RelationKind::Mute => 2,
        }
    }

    pub fn from_i16(v: i16) -> Option<Self> {
        match v {
            1 => Some(RelationKind::Block),
            2 => Some(RelationKind::Mute),
            _ => None,
        }
    }
}

/// One block or mute made (`active`) or undone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationChange {
    pub kind: RelationKind,
    /// Who blocks or mutes.
    pub user_id: i64,
    /// Who is blocked or muted.
    pub target_id: i64,
    pub active: bool,
}

/// The topics of relation changes, for consumers' subscriptions.
pub const TOPICS: &[&str] = &[
    topics::BLOCK_CREATED,
    topics::BLOCK_REMOVED,
    topics::MUTE_CREATED,
    topics::MUTE_REMOVED,
];

impl RelationChange {
    fn topic(&self) -> &'static str {
        match (self.kind, self.active) {
            (RelationKind::Block, true) => topics::BLOCK_CREATED,
            (RelationKind::Block, false) => topics::BLOCK_REMOVED,
            (RelationKind::Mute, true) => topics::MUTE_CREATED,
            (RelationKind::Mute, false) => topics::MUTE_REMOVED,
        }
    }

    /// The event telling of this change (written to the users outbox).
    pub fn event(&self, ids: &IdGenerator, at: i64) -> Event {
        Event {
            id: ids.next(),
            topic: self.topic().to_string(),
            payload: json!({
                "user_id": self.user_id.to_string(),
                "target_id": self.target_id.to_string(),
            }),
            created_at: at,
        }
    }

    /// The replica write of this change, told by event `event_id`
    /// ([`replica_sql::APPLY`]), bound and ready for any engine's connection.
    pub fn apply_query<'q, DB>(
        &self,
        event_id: i64,
    ) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
    where
        DB: sqlx::Database,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        i16: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        sqlx::query(replica_sql::APPLY)
            .bind(self.user_id)
            .bind(self.target_id)
            .bind(self.kind.as_i16())
            .bind(self.active)
            .bind(event_id)
    }

    /// The change an event tells of; `None` for other topics.
    pub fn parse(event: &Event) -> anyhow::Result<Option<Self>> {
        let (kind, active) = match event.topic.as_str() {
            topics::BLOCK_CREATED => (RelationKind::Block, true),
            topics::BLOCK_REMOVED => (RelationKind::Block, false),
            topics::MUTE_CREATED => (RelationKind::Mute, true),
            topics::MUTE_REMOVED => (RelationKind::Mute, false),
            _ => return Ok(None),
        };
        Ok(Some(Self {
            kind,
            user_id: id_field(&event.payload, "user_id")?,
            target_id: id_field(&event.payload, "target_id")?,
            active,
        }))
    }
}

/// 403 `blocked`: one of the two accounts blocks the other.
pub fn blocked() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "blocked",
        "you cannot do this: one of you blocks the other",
    )
}

/// The SQL of a `relations` replica (see the module docs), the same on
/// SQLite and PostgreSQL.
pub mod replica_sql {
    /// `$1` user_id, `$2` target_id, `$3` kind, `$4` active, `$5` event_id:
    /// applies a change unless a newer one was applied already.
    pub const APPLY: &str = "INSERT INTO relations (user_id, target_id, kind, active, event_id)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (user_id, target_id, kind) DO UPDATE
        SET active = excluded.active, event_id = excluded.event_id
        WHERE excluded.event_id > relations.event_id";
    /// `$1`, `$2` two accounts: a row when either blocks the other.
    pub const BLOCKED_EITHER_WAY: &str = "SELECT 1 FROM relations
        WHERE kind = 1 AND active
          AND ((user_id = $1 AND target_id = $2) OR (user_id = $2 AND target_id = $1))
        LIMIT 1";
    /// `$1` viewer: the accounts whose posts and actions the viewer does not
    /// see (those the viewer blocks or mutes, and those who block the viewer).
    pub const HIDDEN_FROM: &str = "SELECT target_id FROM relations WHERE user_id = $1 AND active
        UNION SELECT user_id FROM relations WHERE target_id = $1 AND kind = 1 AND active";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_events() {
        let ids = IdGenerator::new(1);
        for kind in [RelationKind::Block, RelationKind::Mute] {
            for active in [true, false] {
                let change = RelationChange {
                    kind,
                    user_id: 7,
                    target_id: 9,
                    active,
                };
                let event = change.event(&ids, 0);
                assert_eq!(RelationChange::parse(&event).unwrap(), Some(change));
                assert!(TOPICS.contains(&event.topic.as_str()));
            }
        }
        let other = Event {
            id: 1,
            topic: topics::FOLLOW_CREATED.into(),
            payload: json!({}),
            created_at: 0,
        };
        assert_eq!(RelationChange::parse(&other).unwrap(), None);
    }
}
