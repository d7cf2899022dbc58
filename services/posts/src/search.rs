//! Search: what a query's words are, and the users service's account search
//! (the posts service answers `GET /search` for all three kinds).

use async_trait::async_trait;

/// The words of a search query: its runs of Unicode letters and digits,
/// lowercased. Everything else (quotes, operators, `*`, `:`, `-`, brackets)
/// separates words, so no query reaches a full-text engine as syntax.
pub fn words(q: &str) -> Vec<String> {
    let mut words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    // A word asked twice is required once.
    let mut seen = std::collections::HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
    words
}

/// The tag prefix a query names (`rust`, `#Rust` -> `rust`), or `None`
/// when it cannot start a tag (a tag is `[a-z0-9_]{1,50}`, lowercased).
pub fn tag_prefix(q: &str) -> Option<String> {
    let prefix = q
        .trim()
        .strip_prefix('#')
        .unwrap_or(q.trim())
        .to_lowercase();
    let valid = (1..=50).contains(&prefix.len())
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    valid.then_some(prefix)
}

/// The users service's account search (`GET /internal/v1/users/search`).
#[async_trait]
pub trait UserSearch: Send + Sync + 'static {
    /// Up to `limit` public views of accounts matching `q` (username prefix
    /// first, then bio words), without accounts that block `viewer` or that
    /// `viewer` blocks.
    async fn search_users(
        &self,
        q: &str,
        limit: usize,
        viewer: Option<i64>,
    ) -> anyhow::Result<Vec<serde_json::Value>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_words_never_syntax() {
        assert_eq!(
            words(r#"Rust "NEAR(a b)" -x* col:umn ^start (y) Rust"#),
            ["rust", "near", "a", "b", "x", "col", "umn", "start", "y"]
        );
        assert_eq!(
            words("Crème brûlée 東京 42"),
            ["crème", "brûlée", "東京", "42"]
        );
        assert!(words(r#" "* - : ( ^ ) "#).is_empty());
        assert_eq!(tag_prefix(" #RuSt "), Some("rust".into()));
        assert_eq!(tag_prefix("rust lang"), None);
        assert_eq!(tag_prefix("#"), None);
    }
}
