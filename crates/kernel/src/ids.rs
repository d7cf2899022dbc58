//! 64-bit time-sortable ids (snowflake layout): 41 bits of milliseconds since
//! 2024-01-01, 10 bits of node id, 12 bits of sequence. Serialized as decimal strings.

use std::sync::Mutex;

/// 2024-01-01T00:00:00Z in Unix milliseconds.
pub const EPOCH_MS: i64 = 1_704_067_200_000;
const NODE_BITS: u32 = 10;
const SEQ_BITS: u32 = 12;
const MAX_SEQ: i64 = (1 << SEQ_BITS) - 1;

pub struct IdGenerator {
    node: i64,
    state: Mutex<(i64, i64)>, // (last ms, sequence)
}

impl IdGenerator {
    /// `node` is masked to 10 bits; different processes writing one database
    /// should use different nodes (`ROOKERY_NODE_ID`, random by default).
    pub fn new(node: u16) -> Self {
        Self {
            node: i64::from(node) & ((1 << NODE_BITS) - 1),
            state: Mutex::new((0, 0)),
        }
    }

    pub fn from_env() -> Self {
        let node = std::env::var("ROOKERY_NODE_ID")
            .ok()
            .and_then(|v| v.parse::<u16>().ok())
            .unwrap_or_else(rand::random::<u16>);
        Self::new(node)
    }

    pub fn next(&self) -> i64 {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut now = crate::time::now_ms() - EPOCH_MS;
        // Never go backwards, even if the wall clock does.
        if now < state.0 {
            now = state.0;
        }
        if now == state.0 {
            if state.1 >= MAX_SEQ {
                // Sequence exhausted for this millisecond: borrow the next one.
                now += 1;
                state.1 = 0;
            } else {
                state.1 += 1;
            }
        } else {
            state.1 = 0;
        }
        state.0 = now;
        (now << (NODE_BITS + SEQ_BITS)) | (self.node << SEQ_BITS) | state.1
    }
}

/// Milliseconds since the Unix epoch at which `id` was made.
pub fn id_time_ms(id: i64) -> i64 {
    (id >> (NODE_BITS + SEQ_BITS)) + EPOCH_MS
}

/// Parses an id from its decimal string form (path segments, JSON strings).
pub fn parse_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i64>().ok().filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_and_are_unique() {
        let g = IdGenerator::new(7);
        let mut last = 0;
        for _ in 0..20_000 {
            let id = g.next();
            assert!(id > last, "{id} after {last}");
            last = id;
        }
        assert!((id_time_ms(last) - crate::time::now_ms()).abs() < 10_000);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(parse_id("123"), Some(123));
        for bad in ["", "-1", "0", "12a", "99999999999999999999", " 1"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
