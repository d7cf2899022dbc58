//! HTTP handlers of the users service.

pub mod auth;
pub mod follows;
pub mod internal;
pub mod relations;
pub mod users;

use rookery_kernel::time::rfc3339;
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::User;

/// A user. `email` appears only in the private view (the caller's own account).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    #[schema(example = "alice")]
    pub username: String,
    pub bio: String,
    /// Sum over the user's posts of (upvotes - downvotes).
    pub karma: i64,
    /// RFC 3339 UTC.
    #[schema(example = "2026-11-23T10:54:12.123Z")]
    pub created_at: String,
    pub followers_count: i64,
    pub following_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl UserView {
    pub fn public(user: &User) -> Self {
        Self {
            username: user.username.clone(),
            bio: user.bio.clone(),
            karma: user.karma,
            created_at: rfc3339(user.created_at),
            followers_count: user.followers_count,
            following_count: user.following_count,
            email: None,
        }
    }

    pub fn private(user: &User) -> Self {
        Self {
            email: Some(user.email.clone()),
            ..Self::public(user)
        }
    }

    /// Private for the account itself, public for everyone else.
    pub fn for_viewer(user: &User, viewer: Option<i64>) -> Self {
        if viewer == Some(user.id) {
            Self::private(user)
        } else {
            Self::public(user)
        }
    }
}

/// A page of users (documentation shape of `Page<UserView>`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserPage {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
