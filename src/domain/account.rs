//! Account fields: username, password, display name.

use super::char_len;
use crate::error::{AppError, Result};

/// 3–32 of `A–Z a–z 0–9 _ . -`; unique without regard to case (the store
/// compares with `COLLATE NOCASE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: String) -> Result<Self> {
        let ok_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok_chars && (3..=32).contains(&raw.len()) {
            Ok(Username(raw))
        } else {
            Err(AppError::validation(
                "username must be 3-32 characters of A-Z a-z 0-9 _ . -",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8–128 characters. Never logged, never serialized.
pub struct Password(String);

impl Password {
    pub fn parse(raw: String) -> Result<Self> {
        if (8..=128).contains(&char_len(&raw)) {
            Ok(Password(raw))
        } else {
            Err(AppError::validation("password must be 8-128 characters"))
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// 1–64 characters after trimming; defaults to the username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: Option<String>, username: &Username) -> Result<Self> {
        let Some(raw) = raw else {
            return Ok(DisplayName(username.as_str().to_string()));
        };
        let trimmed = raw.trim();
        let ok = (1..=64).contains(&char_len(trimmed)) && !trimmed.chars().any(char::is_control);
        if ok {
            Ok(DisplayName(trimmed.to_string()))
        } else {
            Err(AppError::validation(
                "display_name must be 1-64 characters without control characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("al".into()).is_err());
        assert!(Username::parse("alice_1.b-c".into()).is_ok());
        assert!(Username::parse("a".repeat(33)).is_err());
        assert!(Username::parse("ali ce".into()).is_err());
        assert!(Username::parse("alicé".into()).is_err());
    }

    #[test]
    fn passwords_count_characters_not_bytes() {
        assert!(Password::parse("ééééééé".into()).is_err());
        assert!(Password::parse("éééééééé".into()).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn display_name_defaults_and_trims() {
        let u = Username::parse("alice".into()).unwrap();
        assert_eq!(DisplayName::parse(None, &u).unwrap().as_str(), "alice");
        assert_eq!(
            DisplayName::parse(Some("  Al  ".into()), &u).unwrap().as_str(),
            "Al"
        );
        assert!(DisplayName::parse(Some("   ".into()), &u).is_err());
    }
}
