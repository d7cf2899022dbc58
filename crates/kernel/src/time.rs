//! Time helpers: timestamps are stored as Unix milliseconds and shown as RFC 3339 UTC.

use chrono::{DateTime, Datelike, Timelike, Utc};

pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// RFC 3339 UTC with millisecond precision, e.g. `2026-11-23T10:54:12.123Z`.
///
/// Written digit by digit from chrono's fields: every post, account and
/// notification in a page carries one or two of these, and chrono's general
/// formatter (`to_rfc3339_opts`) was about 3% of a notifications page.
pub fn rfc3339(ms: i64) -> String {
    let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
    let year = at.year();
    if !(0..=9999).contains(&year) {
        // Outside RFC 3339's four-digit years: chrono's own (signed, wider) form.
        return at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    }
    let millis = at.timestamp_subsec_millis().min(999);
    let mut out = [0u8; 24];
    let mut put = |at: usize, value: u32, width: usize| {
        let mut v = value;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, year as u32, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    put(17, at.second(), 2);
    put(20, millis, 3);
    for (i, b) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[i] = b;
    }
    String::from_utf8(out.to_vec()).expect("ASCII digits and separators")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same text as chrono's RFC 3339 formatter, across eras and edges.
    #[test]
    fn rfc3339_matches_chrono() {
        let chrono_form = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let mut samples = vec![
            0,
            1,
            999,
            1_000,
            -1,
            -62_167_219_200_000, // 0000-01-01
            253_402_300_799_999, // 9999-12-31T23:59:59.999
            253_402_300_800_000, // 10000-01-01: chrono's form
            -62_167_219_200_001, // before year 0: chrono's form
            951_782_400_000,     // 2000-02-29
            i64::MAX,
            i64::MIN,
        ];
        let mut x: i64 = 1_764_000_000_123;
        for _ in 0..10_000 {
            samples.push(x);
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) % 4_000_000_000_000;
        }
        for ms in samples {
            assert_eq!(rfc3339(ms), chrono_form(ms), "{ms}");
        }
        assert_eq!(rfc3339(1_763_895_252_123), "2025-11-23T10:54:12.123Z");
    }
}
