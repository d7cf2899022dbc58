//! JSON views written once per version of what they show.
//!
//! The in-process caches (posts, accounts) replace an entry's `Arc` on every
//! change and never mutate one in place, so the `Arc` a cache hands out *is*
//! a version: a view written from it stays right for as long as the cache
//! hands out that same `Arc`. The memo keeps its own clone of the `Arc`, so
//! a freed one's address cannot come back as a different value.

use std::sync::Arc;

use serde_json::value::RawValue;

/// Views by id, each with the value it was written from.
pub struct RenderMemo<T> {
    entries: quick_cache::sync::Cache<i64, (Arc<T>, Arc<RawValue>)>,
}

impl<T: Send + Sync + 'static> RenderMemo<T> {
    /// At most `capacity` views (each also keeps its value alive).
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(capacity),
        }
    }

    /// The view of `value` (id `id`): the one written before if it was
    /// written from this very `Arc`, else `render`'s, remembered.
    pub fn view(
        &self,
        id: i64,
        value: &Arc<T>,
        render: impl FnOnce(&T) -> serde_json::Result<Box<RawValue>>,
    ) -> serde_json::Result<Arc<RawValue>> {
        if let Some((seen, view)) = self.entries.get(&id)
            && Arc::ptr_eq(&seen, value)
        {
            return Ok(view);
        }
        let view: Arc<RawValue> = Arc::from(render(value)?);
        self.entries.insert(id, (value.clone(), view.clone()));
        Ok(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> serde_json::Result<Box<RawValue>> {
        serde_json::value::to_raw_value(&s)
    }

    #[test]
    fn a_view_is_written_again_only_for_another_arc() {
        let memo = RenderMemo::new(10);
        let first = Arc::new("one".to_string());
        let mut renders = 0;
        for _ in 0..3 {
            let view = memo
                .view(1, &first, |v| {
                    renders += 1;
                    json(v)
                })
                .unwrap();
            assert_eq!(view.get(), "\"one\"");
        }
        assert_eq!(renders, 1);
        // The same content in a new Arc is a new version: written afresh.
        let changed = Arc::new("two".to_string());
        let view = memo.view(1, &changed, |v| json(v)).unwrap();
        assert_eq!(view.get(), "\"two\"");
        // Another id never shares a view.
        let view = memo.view(2, &first, |v| json(&format!("{v}!"))).unwrap();
        assert_eq!(view.get(), "\"one!\"");
    }
}
