//! Types that parse: notification kinds and the `types` filter.

use rookery_kernel::ApiError;

/// What a notification tells of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Someone followed you.
    Follow,
    /// A reply to your post.
    Reply,
    /// A post mentioning you.
    Mention,
    /// Your post reposted.
    Repost,
    /// An up vote on your post.
    Like,
    /// A direct message to you.
    Message,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Follow,
        Kind::Reply,
        Kind::Mention,
        Kind::Repost,
        Kind::Like,
        Kind::Message,
    ];

    /// The `kind` column.
    pub fn code(self) -> i64 {
        match self {
            Kind::Follow => 1,
            Kind::Reply => 2,
            Kind::Mention => 3,
            Kind::Repost => 4,
            Kind::Like => 5,
            Kind::Message => 6,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The `type` of the API object.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Follow => "follow",
            Kind::Reply => "reply",
            Kind::Mention => "mention",
            Kind::Repost => "repost",
            Kind::Like => "like",
            Kind::Message => "message",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The `types` query parameter: comma-separated kinds (empty or absent:
/// every kind); anything unknown is a 400 naming `types`.
pub fn parse_types(raw: Option<&str>) -> Result<Vec<Kind>, ApiError> {
    let mut kinds = Vec::new();
    for part in raw.unwrap_or_default().split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let kind = Kind::parse(&part.to_ascii_lowercase()).ok_or_else(|| {
            ApiError::invalid(
                "types",
                format!(
                    "unknown notification type {part:?}; types are follow, reply, mention, repost, like and message"
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    kinds.sort();
    Ok(kinds)
}

/// The `unread` query parameter: `true` or `false` (empty: false).
pub fn parse_unread(raw: Option<&str>) -> Result<bool, ApiError> {
    match raw.map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::invalid("unread", "unread must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_and_refuse_unknown_names() {
        assert_eq!(parse_types(None).unwrap(), vec![]);
        assert_eq!(parse_types(Some(" ")).unwrap(), vec![]);
        assert_eq!(
            parse_types(Some("like, follow,like,")).unwrap(),
            vec![Kind::Follow, Kind::Like]
        );
        let err = parse_types(Some("follow,poke")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("types"));
        for kind in Kind::ALL {
            assert_eq!(Kind::from_code(kind.code()), Some(kind));
            assert_eq!(Kind::parse(kind.name()), Some(kind));
        }
        assert!(parse_unread(Some("yes")).is_err());
        assert!(parse_unread(Some("true")).unwrap());
    }
}
