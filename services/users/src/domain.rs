//! Validated values of the users service: parse, don't validate.

use rookery_kernel::ApiError;

/// `^[A-Za-z0-9_]{1,30}$`, after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let s = raw.trim();
        let valid = (1..=30).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if valid {
            Ok(Self(s.to_string()))
        } else {
            Err(ApiError::invalid(
                "username",
                "username must be 1 to 30 letters, digits or underscores",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// An address that looks like one: `local@domain.tld`, no spaces, <= 254 chars.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let s = raw.trim();
        let invalid = || ApiError::invalid("email", "email must look like name@example.com");
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            });
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.contains('@')
            && !local.chars().any(|c| "<>()[]\\,;:\"".contains(c));
        if domain_ok && local_ok {
            Ok(Self(s.to_string()))
        } else {
            Err(invalid())
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// 8..=256 characters, after trimming (the API trims every string).
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let s = raw.trim();
        if (8..=256).contains(&s.chars().count()) {
            Ok(Self(s.to_string()))
        } else {
            Err(ApiError::invalid(
                "password",
                "password must be 8 to 256 characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// At most 500 characters, after trimming.
pub fn parse_bio(raw: Option<&str>) -> Result<String, ApiError> {
    let s = raw.unwrap_or_default().trim();
    if s.chars().count() <= 500 {
        Ok(s.to_string())
    } else {
        Err(ApiError::invalid(
            "bio",
            "bio must be at most 500 characters",
        ))
    }
}

/// Most scope names a token request may carry.
pub const SCOPE_NAMES_MAX: usize = 30;
/// Longest `scope` a token request may carry (characters, once trimmed).
pub const SCOPE_CHARS_MAX: usize = 1000;

/// The OAuth scopes a token is issued for: space-separated names, each
/// `^[a-z]+(:[a-z_]+)*$`, 1..=30 of them, at most 1000 characters. Kept
/// normalized: in the order given, each once, joined by single spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let invalid = |why: &str| ApiError::invalid("scope", why.to_string());
        let s = raw.trim();
        if s.chars().count() > SCOPE_CHARS_MAX {
            return Err(invalid("scope must be at most 1000 characters"));
        }
        let names: Vec<&str> = s.split_whitespace().collect();
        if names.is_empty() {
            return Err(invalid("scope must name at least one scope"));
        }
        if names.len() > SCOPE_NAMES_MAX {
            return Err(invalid("scope names at most 30 scopes"));
        }
        let mut kept: Vec<&str> = Vec::with_capacity(names.len());
        for name in names {
            if !Self::valid_name(name) {
                return Err(invalid(
                    "each scope must be lowercase letters, optionally followed by `:` parts of lowercase letters or underscores (e.g. `read`, `write:statuses`)",
                ));
            }
            if !kept.contains(&name) {
                kept.push(name);
            }
        }
        Ok(Self(kept.join(" ")))
    }

    /// `^[a-z]+(:[a-z_]+)*$` (Mastodon's `admin:read:accounts` too)
    fn valid_name(name: &str) -> bool {
        let mut parts = name.split(':');
        let head = parts.next().unwrap_or_default();
        !head.is_empty()
            && head.bytes().all(|b| b.is_ascii_lowercase())
            && parts
                .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    }

    /// Whether the scopes allow changes (the gateway refuses the writes
    /// of a token without them; see
    /// [`rookery_kernel::identity::scope_allows_writes`]).
    pub fn allows_writes(&self) -> bool {
        rookery_kernel::identity::scope_allows_writes(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let scope = Scope::parse("  read  write:statuses read follow push ").unwrap();
        assert_eq!(scope.as_str(), "read write:statuses follow push");
        assert!(scope.allows_writes());
        assert!(!Scope::parse("read push").unwrap().allows_writes());
        assert!(Scope::parse("read follow").unwrap().allows_writes());
        assert!(Scope::parse("admin:read:accounts read").is_ok());
        assert!(Scope::parse("write").unwrap().allows_writes());
        assert!(!Scope::parse("read:write").unwrap().allows_writes());
        assert!(!Scope::parse("writes").unwrap().allows_writes());
        assert!(Scope::parse("admin:read_all").is_ok());
        for bad in [
            "",
            "   ",
            "Read",
            "read:",
            ":read",
            "read::y",
            "read,write",
            "réad",
            "write:Statuses",
            "read:st-atuses",
        ] {
            let err = Scope::parse(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("scope"), "{bad:?}");
        }
        let thirty = vec!["read"; 30].join(" ");
        assert_eq!(Scope::parse(&thirty).unwrap().as_str(), "read");
        assert!(Scope::parse(&vec!["read"; 31].join(" ")).is_err());
        let long = "a".repeat(1000);
        assert!(Scope::parse(&long).is_ok());
        assert!(Scope::parse(&format!("{long}a")).is_err());
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("  Alice_1 ").unwrap().as_str(), "Alice_1");
        for bad in ["", " ", "a b", "ä", "a-b", &"x".repeat(31)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"x".repeat(30)).is_ok());
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@example.com").is_ok());
        assert!(Email::parse(" A.B+c@mail.example.org ").is_ok());
        for bad in [
            "",
            "a",
            "a@b",
            "@b.com",
            "a@.com",
            "a b@c.com",
            "a@b..com",
            "a@-b.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_and_bios() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(257)).is_err());
        assert_eq!(parse_bio(None).unwrap(), "");
        assert!(parse_bio(Some(&"é".repeat(500))).is_ok());
        assert!(parse_bio(Some(&"é".repeat(501))).is_err());
    }
}
