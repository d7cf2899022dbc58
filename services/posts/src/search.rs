//! Search: what a query's words are, and the users service's account search
//! (the posts service answers `GET /search` for all three kinds).

use async_trait::async_trait;
use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::UnicodeNormalization;

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

/// BM25's term-frequency saturation and length normalization (the usual values).
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// A query's words as the full-text index compares them: diacritics
/// removed, then stemmed (FTS5 `porter unicode61 remove_diacritics 2`).
pub struct Ranker {
    stemmer: Stemmer,
    stems: Vec<String>,
    /// The first two characters of each stem (see [`Ranker::count`]).
    heads: Vec<String>,
}

impl Ranker {
    pub fn new(words: &[String]) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let stems = words
            .iter()
            .map(|w| stemmer.stem(&fold(w)).into_owned())
            .collect::<Vec<_>>();
        let heads = stems.iter().map(|s| s.chars().take(2).collect()).collect();
        Self {
            stemmer,
            stems,
            heads,
        }
    }

    /// The ids of the best `limit` of `candidates` (id, text, title), each
    /// holding every word (the index found them): BM25 over text and title,
    /// ties newest first. Every candidate holds every word, so their
    /// inverse document frequencies only scale each word's part; the words
    /// are weighed equally (computing them costs a pass over each word's
    /// whole index, which is what made ranking slow).
    pub fn best(
        &self,
        candidates: &[(i64, Option<String>, Option<String>)],
        limit: usize,
    ) -> Vec<i64> {
        if candidates.is_empty() || limit == 0 {
            return Vec::new();
        }
        // Posts share most of their words: each distinct token is looked at once.
        let mut seen: std::collections::HashMap<&str, Vec<u32>> = Default::default();
        let counted: Vec<(i64, Vec<u32>, u32)> = candidates
            .iter()
            .map(|(id, text, title)| {
                let mut tf = vec![0u32; self.stems.len()];
                let mut length = 0;
                for token in [text.as_deref(), title.as_deref()]
                    .into_iter()
                    .flatten()
                    .flat_map(|field| field.split(|c: char| !c.is_alphanumeric()))
                    .filter(|t| !t.is_empty())
                {
                    length += 1;
                    let of_token = seen.entry(token).or_insert_with(|| {
                        let mut one = vec![0u32; self.stems.len()];
                        self.count(token, &mut one);
                        one
                    });
                    for (total, add) in tf.iter_mut().zip(of_token.iter()) {
                        *total += add;
                    }
                }
                (*id, tf, length)
            })
            .collect();
        let average = counted.iter().map(|c| f64::from(c.2)).sum::<f64>() / counted.len() as f64;
        let mut scored: Vec<(f64, i64)> = counted
            .into_iter()
            .map(|(id, tf, length)| {
                let norm = K1 * (1.0 - B + B * f64::from(length) / average.max(1.0));
                // The index matched every word, so each occurs at least once
                // (a stem this stemmer spells otherwise still counts once).
                let score = tf
                    .iter()
                    .map(|&f| {
                        let f = f64::from(f.max(1));
                        f * (K1 + 1.0) / (f + norm)
                    })
                    .sum();
                (score, id)
            })
            .collect();
        scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored.into_iter().take(limit).map(|(_, id)| id).collect()
    }

    /// Adds `token` to the counts of the words it is a form of. Only tokens
    /// that start like a stem are stemmed (a stem starts like its word, its
    /// first two letters at least), which skips almost all of them.
    fn count(&self, token: &str, tf: &mut [u32]) {
        // Most tokens are plain ASCII: no folding to do.
        let folded: std::borrow::Cow<str> = if !token.is_ascii() {
            fold(token).into()
        } else if token.bytes().any(|b| b.is_ascii_uppercase()) {
            token.to_ascii_lowercase().into()
        } else {
            token.into()
        };
        if !self
            .heads
            .iter()
            .any(|head| folded.starts_with(head.as_str()))
        {
            return;
        }
        let stem = self.stemmer.stem(&folded);
        for (i, s) in self.stems.iter().enumerate() {
            if *s == *stem {
                tf[i] += 1;
            }
        }
    }
}

/// Lowercase without diacritics (`Crème` -> `creme`).
fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
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

    fn doc(id: i64, text: &str) -> (i64, Option<String>, Option<String>) {
        (id, Some(text.to_string()), None)
    }

    #[test]
    fn ranking_prefers_more_occurrences_then_shorter_then_newer() {
        let ranker = Ranker::new(&words("coffee morning"));
        let docs = [
            doc(
                1,
                "coffee in the morning with friends and a long long walk after",
            ),
            doc(2, "Coffee, COFFEE morning"),
            doc(3, "morning coffee"),
            doc(4, "morning coffee"),
            doc(5, "Mornings need coffees"),
        ];
        let best = ranker.best(&docs, 10);
        // Repetition wins; equal texts go newest first; longer ones later.
        assert_eq!(best, [2, 4, 3, 5, 1]);
        assert_eq!(ranker.best(&docs, 2), &best[..2]);
        assert!(ranker.best(&[], 5).is_empty());
    }

    #[test]
    fn ranking_counts_stems_and_folded_diacritics() {
        let ranker = Ranker::new(&words("cafe running"));
        let docs = [
            doc(1, "café run and run the running cafés"),
            doc(2, "cafe running today"),
        ];
        let counted = ranker.best(&docs, 2);
        // Doc 1 repeats both words (stemmed, diacritics folded).
        assert_eq!(counted, [1, 2]);
        let mut tf = [0, 0];
        ranker.count("Cafés", &mut tf);
        ranker.count("runs", &mut tf);
        ranker.count("rumba", &mut tf);
        assert_eq!(tf, [1, 1]);
    }
}
