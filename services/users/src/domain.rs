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

#[cfg(test)]
mod tests {
    use super::*;

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
