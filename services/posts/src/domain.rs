//! Validated values of the posts service and the ranking formulas.

use rookery_kernel::ApiError;
use rookery_kernel::ids::EPOCH_MS;

/// What a client may send to create a post, before validation.
#[derive(Debug, Default, Clone)]
pub struct PostInput {
    pub text: Option<String>,
    pub title: Option<String>,
    pub community: Option<String>,
    pub url: Option<String>,
}

/// A valid post body: a micro-post (text only) or a community post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostBody {
    pub text: Option<String>,
    pub title: Option<String>,
    pub community: Option<String>,
    pub url: Option<String>,
}

fn trimmed(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim)
}

fn check_len(field: &str, s: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be {min} to {max} characters"),
        ));
    }
    Ok(())
}

/// `^[a-z0-9_]{1,50}$`
pub fn parse_community(raw: &str) -> Result<String, ApiError> {
    let s = raw.trim();
    let ok = (1..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(ApiError::invalid(
            "community",
            "community must be 1 to 50 lowercase letters, digits or underscores",
        ))
    }
}

/// An absolute http(s) URL of at most 2,000 characters.
pub fn parse_url(raw: &str) -> Result<String, ApiError> {
    let s = raw.trim();
    let invalid = || ApiError::invalid("url", "url must be an absolute http(s) URL");
    if s.len() > 2000 {
        return Err(invalid());
    }
    let parsed = url::Url::parse(s).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid());
    }
    Ok(s.to_string())
}

impl PostBody {
    /// A micro-post needs `text` (1..=500); a community post needs `title`
    /// (1..=300) and `community`, with optional `text` (<= 40,000) and `url`.
    pub fn parse(input: &PostInput) -> Result<Self, ApiError> {
        let title = trimmed(&input.title);
        let community = trimmed(&input.community);
        if title.is_some() || community.is_some() {
            let title = title
                .ok_or_else(|| ApiError::invalid("title", "a community post needs a title"))?;
            check_len("title", title, 1, 300)?;
            let community = parse_community(community.ok_or_else(|| {
                ApiError::invalid("community", "a community post needs a community")
            })?)?;
            let text = trimmed(&input.text).filter(|t| !t.is_empty());
            if let Some(t) = text {
                check_len("text", t, 1, 40_000)?;
            }
            let url = trimmed(&input.url)
                .filter(|u| !u.is_empty())
                .map(parse_url)
                .transpose()?;
            return Ok(Self {
                text: text.map(str::to_string),
                title: Some(title.to_string()),
                community: Some(community),
                url,
            });
        }
        if input.url.is_some() {
            return Err(ApiError::invalid(
                "url",
                "only community posts (with title and community) carry a url",
            ));
        }
        let text =
            trimmed(&input.text).ok_or_else(|| ApiError::invalid("text", "text is required"))?;
        check_len("text", text, 1, 500)?;
        Ok(Self {
            text: Some(text.to_string()),
            title: None,
            community: None,
            url: None,
        })
    }

    /// Applies an edit (`None` leaves a field as it is), keeping the kind.
    pub fn edit(&self, edit: &PostInput) -> Result<Self, ApiError> {
        if edit.community.is_some() {
            return Err(ApiError::invalid(
                "community",
                "a post's community cannot change",
            ));
        }
        let is_community_post = self.title.is_some();
        if !is_community_post && (edit.title.is_some() || edit.url.is_some()) {
            let field = if edit.title.is_some() { "title" } else { "url" };
            return Err(ApiError::invalid(field, "a micro-post has only text"));
        }
        let merged = PostInput {
            text: edit.text.clone().or_else(|| self.text.clone()),
            title: edit.title.clone().or_else(|| self.title.clone()),
            community: self.community.clone(),
            url: edit.url.clone().or_else(|| self.url.clone()),
        };
        Self::parse(&merged)
    }
}

/// The page size sort orders of listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    New,
    Hot,
    Top,
    Controversial,
}

impl Sort {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw.map(str::trim) {
            None | Some("") | Some("new") => Ok(Sort::New),
            Some("hot") => Ok(Sort::Hot),
            Some("top") => Ok(Sort::Top),
            Some("controversial") => Ok(Sort::Controversial),
            Some(_) => Err(ApiError::invalid(
                "sort",
                "sort must be new, hot, top or controversial",
            )),
        }
    }
}

/// Reddit's hot rank: `sign(s) * log10(max(|s|, 1)) + t / 45000`, with `t`
/// in seconds since 2024-01-01. It never decays, so it is computed once per
/// vote change and indexed; newer posts outrank older ones of equal score.
pub fn hot_rank(score: i64, created_at_ms: i64) -> f64 {
    let order = (score.unsigned_abs().max(1) as f64).log10();
    let sign = score.signum() as f64;
    let seconds = (created_at_ms - EPOCH_MS) as f64 / 1000.0;
    sign * order + seconds / 45_000.0
}

/// `(up + down) ^ (min / max)`, 0 when either is 0.
pub fn controversy(upvotes: i64, downvotes: i64) -> f64 {
    if upvotes <= 0 || downvotes <= 0 {
        return 0.0;
    }
    let (min, max) = (upvotes.min(downvotes) as f64, upvotes.max(downvotes) as f64);
    ((upvotes + downvotes) as f64).powf(min / max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(
        text: Option<&str>,
        title: Option<&str>,
        community: Option<&str>,
        url: Option<&str>,
    ) -> PostInput {
        PostInput {
            text: text.map(Into::into),
            title: title.map(Into::into),
            community: community.map(Into::into),
            url: url.map(Into::into),
        }
    }

    #[test]
    fn micro_and_community_posts() {
        let p = PostBody::parse(&input(Some("  hi "), None, None, None)).unwrap();
        assert_eq!(p.text.as_deref(), Some("hi"));
        assert!(PostBody::parse(&input(Some(""), None, None, None)).is_err());
        assert!(PostBody::parse(&input(Some(&"x".repeat(501)), None, None, None)).is_err());
        assert!(PostBody::parse(&input(None, None, None, None)).is_err());
        let c = PostBody::parse(&input(
            None,
            Some("T"),
            Some("rust"),
            Some("https://x.org/a"),
        ))
        .unwrap();
        assert_eq!(c.community.as_deref(), Some("rust"));
        assert!(PostBody::parse(&input(None, Some("T"), None, None)).is_err());
        assert!(PostBody::parse(&input(None, None, Some("rust"), None)).is_err());
        assert!(PostBody::parse(&input(None, Some("T"), Some("Rust"), None)).is_err());
        assert!(PostBody::parse(&input(None, Some("T"), Some("rust"), Some("ftp://x"))).is_err());
        assert!(PostBody::parse(&input(None, Some("T"), Some("rust"), Some("/relative"))).is_err());
        assert!(
            PostBody::parse(&input(
                Some(&"x".repeat(40_000)),
                Some("T"),
                Some("r"),
                None
            ))
            .is_ok()
        );
        assert!(PostBody::parse(&input(Some("x"), None, None, Some("https://x.org"))).is_err());
    }

    #[test]
    fn edits_keep_the_kind() {
        let micro = PostBody::parse(&input(Some("a"), None, None, None)).unwrap();
        assert_eq!(
            micro
                .edit(&input(Some("b"), None, None, None))
                .unwrap()
                .text
                .as_deref(),
            Some("b")
        );
        assert!(micro.edit(&input(None, Some("t"), None, None)).is_err());
        let c = PostBody::parse(&input(None, Some("T"), Some("rust"), None)).unwrap();
        let e = c
            .edit(&input(None, None, None, Some("http://a.b")))
            .unwrap();
        assert_eq!(
            (e.title.as_deref(), e.url.as_deref()),
            (Some("T"), Some("http://a.b"))
        );
        assert!(c.edit(&input(None, None, Some("other"), None)).is_err());
    }

    #[test]
    fn ranks() {
        let t = EPOCH_MS + 45_000_000_000; // 45,000,000 s: t/45000 = 1000
        assert!((hot_rank(0, t) - 1000.0).abs() < 1e-9);
        assert!((hot_rank(10, t) - 1001.0).abs() < 1e-9);
        assert!((hot_rank(-10, t) - 999.0).abs() < 1e-9);
        assert!(hot_rank(1, t + 1000) > hot_rank(1, t));
        assert_eq!(controversy(5, 0), 0.0);
        assert!((controversy(5, 5) - 10.0).abs() < 1e-9);
        assert!(controversy(5, 5) > controversy(9, 1));
    }
}
