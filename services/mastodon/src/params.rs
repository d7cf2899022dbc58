//! Parameters as Mastodon clients send them: query strings and bodies that
//! are JSON, form-encoded (`key[]=a&key[]=b`, `poll[options][]=..`) or empty,
//! with booleans as `true`/`false`/`1`/`0`. Everything is read into one JSON
//! object, so handlers ask for a value without caring how it came.

use http::{HeaderMap, header};
use serde_json::{Map, Value};

use crate::error::{MastoError, MastoResult};

#[derive(Debug, Clone, Default)]
pub struct Params(pub Map<String, Value>);

impl Params {
    pub fn from_query(query: Option<&str>) -> Self {
        let mut params = Self::default();
        params.add_form(query.unwrap_or_default().as_bytes());
        params
    }

    /// The body by its content type (JSON, form); an empty body (with or
    /// without a content type) has no parameters.
    pub fn from_body(headers: &HeaderMap, body: &[u8]) -> MastoResult<Self> {
        let mut params = Self::default();
        params.add_body(headers, body)?;
        Ok(params)
    }

    pub fn add_body(&mut self, headers: &HeaderMap, body: &[u8]) -> MastoResult<()> {
        if body.trim_ascii().is_empty() {
            return Ok(());
        }
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.starts_with("application/x-www-form-urlencoded") {
            self.add_form(body);
            return Ok(());
        }
        if content_type.starts_with("multipart/") {
            return Err(MastoError::new(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "multipart bodies (media uploads) are not supported",
            ));
        }
        // JSON, also when the type is missing or generic.
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => {
                for (k, v) in map {
                    self.0.insert(k, v);
                }
                Ok(())
            }
            Ok(Value::Null) => Ok(()),
            Ok(_) => Err(MastoError::bad_request("the body must be a JSON object")),
            Err(_) if !content_type.contains("json") => {
                // Some clients send forms without saying so.
                self.add_form(body);
                Ok(())
            }
            Err(e) => Err(MastoError::bad_request(format!("malformed JSON: {e}"))),
        }
    }

    fn add_form(&mut self, raw: &[u8]) {
        for (key, value) in form_urlencoded::parse(raw) {
            self.insert_form_pair(&key, value.into_owned());
        }
    }

    /// `a[b][]=v` -> {"a": {"b": ["v"]}}; `a[]=v` -> {"a": ["v"]}.
    fn insert_form_pair(&mut self, key: &str, value: String) {
        let (head, rest) = match key.find('[') {
            Some(i) => (&key[..i], &key[i..]),
            None => (key, ""),
        };
        let mut path: Vec<&str> = Vec::new();
        let mut rest = rest;
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            path.push(&stripped[..end]);
            rest = &stripped[end + 1..];
        }
        if head.is_empty() {
            return;
        }
        let mut slot = self.0.entry(head.to_string()).or_insert(Value::Null);
        for segment in path {
            if segment.is_empty() {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let array = slot.as_array_mut().expect("an array");
                array.push(Value::Null);
                slot = array.last_mut().expect("just pushed");
            } else {
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                slot = slot
                    .as_object_mut()
                    .expect("an object")
                    .entry(segment.to_string())
                    .or_insert(Value::Null);
            }
        }
        *slot = Value::String(value);
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    /// A string (numbers as their text); absent or null is None.
    pub fn string(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A string with surrounding whitespace trimmed; empty is None.
    pub fn text(&self, key: &str) -> Option<String> {
        self.string(key)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    }

    pub fn bool(&self, key: &str) -> MastoResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(Some(false)),
            Some(Value::Number(n)) if n.as_i64() == Some(1) => Ok(Some(true)),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "on" | "t" => Ok(Some(true)),
                "false" | "0" | "off" | "f" | "" => Ok(Some(false)),
                _ => Err(MastoError::bad_request(format!("{key} must be a boolean"))),
            },
            Some(_) => Err(MastoError::bad_request(format!("{key} must be a boolean"))),
        }
    }

    pub fn int(&self, key: &str) -> MastoResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| MastoError::bad_request(format!("{key} must be an integer"))),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| MastoError::bad_request(format!("{key} must be an integer"))),
            Some(_) => Err(MastoError::bad_request(format!("{key} must be an integer"))),
        }
    }

    /// An array of strings: `key[]` (form), a JSON array, or one value;
    /// `key` and `key[]` are the same parameter.
    pub fn list(&self, key: &str) -> Vec<String> {
        let value = self.get(key).or_else(|| self.get(&format!("{key}[]")));
        match value {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Number(n)) => vec![n.to_string()],
            // Some clients send arrays as {"0": "a", "1": "b"}.
            Some(Value::Object(map)) => map
                .values()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    }

    pub fn object(&self, key: &str) -> Option<Params> {
        match self.get(key)? {
            Value::Object(map) => Some(Params(map.clone())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_arrays_and_nested_objects() {
        let p = Params::from_query(Some(
            "types[]=mention&types[]=follow&poll[options][]=a&poll[options][]=b&poll[expires_in]=300&local=1",
        ));
        assert_eq!(p.list("types"), vec!["mention", "follow"]);
        let poll = p.object("poll").unwrap();
        assert_eq!(poll.list("options"), vec!["a", "b"]);
        assert_eq!(poll.int("expires_in").unwrap(), Some(300));
        assert_eq!(p.bool("local").unwrap(), Some(true));
        assert_eq!(p.bool("absent").unwrap(), None);
    }

    #[test]
    fn json_and_empty_bodies() {
        let mut headers = HeaderMap::new();
        assert!(Params::from_body(&headers, b"").unwrap().0.is_empty());
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let p = Params::from_body(
            &headers,
            br#"{"status":"hi","sensitive":false,"media_ids":[]}"#,
        )
        .unwrap();
        assert_eq!(p.text("status").as_deref(), Some("hi"));
        assert_eq!(p.bool("sensitive").unwrap(), Some(false));
        assert!(p.list("media_ids").is_empty());
        assert!(Params::from_body(&headers, b"{nope").is_err());
        assert!(Params::from_body(&headers, b"[1]").is_err());
    }

    #[test]
    fn odd_booleans_are_refused() {
        let p = Params::from_query(Some("local=maybe"));
        assert!(p.bool("local").is_err());
    }
}
