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

/// Longest tag word (`#` + `[A-Za-z0-9_]{1,50}`).
pub const TAG_MAX: usize = 50;
/// Longest username (`@` + `[A-Za-z0-9_]{1,30}`).
pub const MENTION_MAX: usize = 30;

/// A character that continues a word: a `#`/`@` after one, or a run followed
/// by one, is part of something else (`a@b.com`, `foo#bar`, `#café`).
fn word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || unicode_normalization::char::is_combining_mark(c)
}

/// Every `sigil` + `[A-Za-z0-9_]{1,max}` of `text` that stands alone: not
/// after a word character, not followed by one (nor by more of the run than
/// `max`), and not inside a URL (tokens with `://` or starting with `www.`).
/// As written, in order of appearance, duplicates included.
fn sigil_words(text: &str, sigil: char, max: usize) -> Vec<&str> {
    let mut found = Vec::new();
    for token in text.split_whitespace() {
        if token.contains("://")
            || token
                .get(..4)
                .is_some_and(|head| head.eq_ignore_ascii_case("www."))
        {
            continue;
        }
        let mut prev: Option<char> = None;
        let mut chars = token.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let standalone = c == sigil && !prev.is_some_and(word_char);
            prev = Some(c);
            if !standalone {
                continue;
            }
            // The run is ASCII, so byte offsets stay on char boundaries.
            let start = at + c.len_utf8();
            let mut end = start;
            while let Some(&(i, n)) = chars.peek() {
                if n.is_ascii_alphanumeric() || n == '_' {
                    end = i + 1;
                    prev = Some(n);
                    chars.next();
                } else {
                    break;
                }
            }
            let next = chars.peek().map(|&(_, n)| n);
            let len = end - start;
            if (1..=max).contains(&len) && !next.is_some_and(word_char) {
                found.push(&token[start..end]);
            }
        }
    }
    found
}

/// The hashtags of a post: each `#word` of `title` then `text`, lowercased,
/// unique, in order of appearance.
pub fn tags(body: &PostBody) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    for part in [&body.title, &body.text].into_iter().flatten() {
        for word in sigil_words(part, '#', TAG_MAX) {
            let tag = word.to_ascii_lowercase();
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
    }
    tags
}

/// The `@username`s of a post's text that may name accounts: as written,
/// unique case-insensitively (the first spelling), in order of appearance.
pub fn mention_candidates(body: &PostBody) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for word in body
        .text
        .as_deref()
        .map(|t| sigil_words(t, '@', MENTION_MAX))
        .unwrap_or_default()
    {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(word)) {
            names.push(word.to_string());
        }
    }
    names
}

/// A tag named in a request (`[A-Za-z0-9_]{1,50}`), lowercased.
pub fn parse_tag(raw: &str) -> Result<String, ApiError> {
    let s = raw.trim();
    let ok = (1..=TAG_MAX).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid(
            "tag",
            "tag must be 1 to 50 letters, digits or underscores",
        ))
    }
}

/// The smallest id made at or after `ms` (Unix milliseconds): ids are
/// time-sortable, so "posts since t" is "ids >= this".
pub fn first_id_at(ms: i64) -> i64 {
    // The time sits above 22 bits of node and sequence (`rookery_kernel::ids`).
    (ms - EPOCH_MS).max(0) << 22
}

/// How tags are listed: by posts in the last 24 h, or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagSort {
    Trending,
    Name,
}

impl TagSort {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw.map(str::trim) {
            None | Some("") | Some("trending") => Ok(TagSort::Trending),
            Some("name") => Ok(TagSort::Name),
            Some(_) => Err(ApiError::invalid("sort", "sort must be trending or name")),
        }
    }
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

    fn text(t: &str) -> PostBody {
        PostBody {
            text: Some(t.into()),
            title: None,
            community: None,
            url: None,
        }
    }

    #[test]
    fn tags_are_words_after_a_hash() {
        let t = |s: &str| tags(&text(s));
        assert_eq!(t("#rust is #fun"), ["rust", "fun"]);
        assert_eq!(t("(#rust) and #Rust, #RUST #rust"), ["rust"]);
        assert_eq!(t("#Go_1 #a1b2"), ["go_1", "a1b2"]);
        assert_eq!(t("end#tag foo#bar a_#b 9#x"), Vec::<String>::new());
        assert_eq!(t("#"), Vec::<String>::new());
        assert_eq!(t("# rust ## #"), Vec::<String>::new());
        assert_eq!(t("##double"), ["double"]);
        // Length: 50 is a tag, 51 is not (nor its first 50).
        let fifty = "a".repeat(50);
        assert_eq!(t(&format!("#{fifty}")), [fifty.as_str()]);
        assert_eq!(t(&format!("#{fifty}b")), Vec::<String>::new());
        // Unicode after or before the run makes it something else.
        assert_eq!(t("#café #naïve #日本"), Vec::<String>::new());
        assert_eq!(t("#cafe\u{301} #ok"), ["ok"]); // e + combining acute
        assert_eq!(t("é#rust e\u{301}#rust"), Vec::<String>::new());
        // Emoji are not letters: they end a tag and may precede one.
        assert_eq!(t("#rust🦀 🦀#crab #🦀"), ["rust", "crab"]);
        assert_eq!(t("👩‍💻#dev"), ["dev"]);
        // Not inside URLs.
        assert_eq!(
            t("https://x.com/#frag www.x.com/#a WWW.y.org/#b (https://z.io/#c) #real"),
            ["real"]
        );
        // Title and text, title first.
        let body = PostBody {
            text: Some("#b #a".into()),
            title: Some("#A title".into()),
            community: Some("c".into()),
            url: None,
        };
        assert_eq!(tags(&body), ["a", "b"]);
    }

    #[test]
    fn mention_candidates_are_usernames_after_an_at() {
        let m = |s: &str| mention_candidates(&text(s));
        assert_eq!(m("hi @Alice and @bob_2, @alice!"), ["Alice", "bob_2"]);
        assert_eq!(m("mail a@b.com or x_@y"), Vec::<String>::new());
        assert_eq!(m("https://x.com/@bob www.x.com/@carol @dave"), ["dave"]);
        assert_eq!(m(&format!("@{}", "u".repeat(30))), ["u".repeat(30)]);
        assert_eq!(m(&format!("@{}", "u".repeat(31))), Vec::<String>::new());
        assert_eq!(m("@josé @bob\u{301} (@eve) 🦀@crab"), ["eve", "crab"]);
        // Titles mention nobody.
        let body = PostBody {
            text: None,
            title: Some("@alice".into()),
            community: Some("c".into()),
            url: None,
        };
        assert!(mention_candidates(&body).is_empty());
    }

    #[test]
    fn tag_names_and_sorts() {
        assert_eq!(parse_tag(" Rust ").unwrap(), "rust");
        for bad in ["", "a-b", "é", "#rust", &"a".repeat(51)] {
            assert!(parse_tag(bad).is_err(), "{bad}");
        }
        assert_eq!(TagSort::parse(None).unwrap(), TagSort::Trending);
        assert_eq!(TagSort::parse(Some("name")).unwrap(), TagSort::Name);
        assert!(TagSort::parse(Some("hot")).is_err());
    }

    #[test]
    fn id_bounds_of_times() {
        let ids = rookery_kernel::ids::IdGenerator::new(1023);
        let before = rookery_kernel::time::now_ms();
        let id = ids.next();
        assert!(id >= first_id_at(before));
        assert!(id < first_id_at(rookery_kernel::ids::id_time_ms(id) + 1));
        assert_eq!(rookery_kernel::ids::id_time_ms(first_id_at(before)), before);
        assert_eq!(first_id_at(0), 0);
    }
}
