//! OAuth scopes as Mastodon defines them: `read`, `write`, `follow`, `push`,
//! `profile` and the granular `read:statuses`, `write:follows`, ...

use std::collections::BTreeSet;

use crate::error::{MastoError, MastoResult};

/// Granular scopes Mastodon 4.3 documents (besides the top-level ones).
const GRANULAR: &[&str] = &[
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
    "admin:read",
    "admin:write",
];

const TOP_LEVEL: &[&str] = &["read", "write", "follow", "push", "profile"];

/// What `follow` (deprecated, still sent by toot and Mastodon.py) grants.
const FOLLOW_GRANTS: &[&str] = &[
    "read:follows",
    "write:follows",
    "read:blocks",
    "write:blocks",
    "read:mutes",
    "write:mutes",
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// Parses a space- (or `+`-, as some clients send it) separated list;
    /// an unknown scope is an `invalid_scope` error. Empty gives `default`.
    pub fn parse(raw: Option<&str>, default: &str) -> MastoResult<Self> {
        let raw = raw
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(default);
        let mut set = BTreeSet::new();
        for scope in raw.split([' ', '+', ',']).filter(|s| !s.is_empty()) {
            let known = TOP_LEVEL.contains(&scope)
                || GRANULAR.contains(&scope)
                || scope.starts_with("admin:read:")
                || scope.starts_with("admin:write:");
            if !known {
                return Err(MastoError::oauth(
                    http::StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    format!("The requested scope is invalid, unknown, or malformed: {scope}"),
                ));
            }
            set.insert(scope.to_string());
        }
        Ok(Self(set))
    }

    /// Every scope of `self` is one of `allowed`'s (or implied by it).
    pub fn within(&self, allowed: &Scopes) -> bool {
        self.0.iter().all(|s| allowed.grants(s))
    }

    /// Whether a token with these scopes may do what `needed` names.
    pub fn grants(&self, needed: &str) -> bool {
        if self.0.contains(needed) {
            return true;
        }
        if let Some((family, _)) = needed.split_once(':')
            && self.0.contains(family)
        {
            return true;
        }
        if self.0.contains("follow") && FOLLOW_GRANTS.contains(&needed) {
            return true;
        }
        // `profile` is the narrowest way to read one's own account.
        needed == "read:accounts:self"
            && (self.0.contains("profile") || self.grants("read:accounts"))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Space-separated, as Mastodon echoes it.
    pub fn to_string_list(&self) -> String {
        self.0.iter().cloned().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_scopes_grant_their_granular_ones() {
        let s = Scopes::parse(Some("read write follow push"), "read").unwrap();
        assert!(s.grants("read:statuses"));
        assert!(s.grants("write:favourites"));
        assert!(s.grants("write:blocks"));
        assert_eq!(s.to_string_list(), "follow push read write");
        let r = Scopes::parse(Some("read:statuses"), "read").unwrap();
        assert!(r.grants("read:statuses"));
        assert!(!r.grants("read:notifications"));
        assert!(!r.grants("write:statuses"));
        assert!(r.within(&s));
        assert!(!s.within(&r));
    }

    #[test]
    fn unknown_scopes_are_refused_and_empty_is_the_default() {
        assert!(Scopes::parse(Some("read bogus"), "read").is_err());
        assert_eq!(
            Scopes::parse(None, "read").unwrap().to_string_list(),
            "read"
        );
        assert_eq!(
            Scopes::parse(Some("read+write"), "read")
                .unwrap()
                .to_string_list(),
            "read write"
        );
    }
}
