//! Pieces of request schemas for the OpenAPI document.
//!
//! The API trims every string before validating it, with Rust's
//! `char::is_whitespace`. JSON Schema regexes disagree on `\s` between
//! dialects, so the set is spelled out here.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// A string with at least one character that trimming keeps (unanchored).
pub const NOT_BLANK: &str =
    r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

/// A schema written as JSON Schema, for what the derive cannot say
/// (alternatives, rules on array items).
pub fn from_json(value: serde_json::Value) -> RefOr<Schema> {
    serde_json::from_value(value).expect("a valid OpenAPI schema")
}

/// `null` only: a member that must be absent or null (`#[schema(schema_with = ..)]`).
pub fn null() -> Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    Schema::Object(ObjectBuilder::new().schema_type(Type::Null).build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn not_blank_names_exactly_the_whitespace_that_trim_removes() {
        let class = super::NOT_BLANK;
        let excluded: Vec<char> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace())
            .collect();
        assert_eq!(excluded.len(), 25);
        for c in excluded {
            let escaped = match c {
                '\t' => "\\t".to_string(),
                '\r' => "\\r".to_string(),
                ' ' => " ".to_string(),
                c if (0x0a..=0x0c).contains(&(c as u32)) => continue, // inside `\t-\r`
                c if (0x2001..=0x2009).contains(&(c as u32)) => continue, // inside `\u2000-\u200a`
                c => format!("\\u{:04x}", c as u32),
            };
            assert!(class.contains(&escaped), "{c:?} missing");
        }
    }
}
