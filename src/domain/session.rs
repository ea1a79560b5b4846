//! Sessions (v2): one per login, as the API shows them, and the fields a
//! client sends about itself (device name, user agent), bounded.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Timestamp, char_len};
use crate::error::{AppError, Result};

/// A login on one device, as `GET /auth/sessions` and the auth answers
/// show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Session {
    pub id: i64,
    /// What the client called itself at login (1–64 characters).
    pub device_name: Option<String>,
    /// The login's `User-Agent`, cut to [`MAX_USER_AGENT_CHARS`].
    pub user_agent: Option<String>,
    /// The client address the login came from.
    pub ip: Option<String>,
    pub created_at: Timestamp,
    /// Updated as the session is used, at most once a minute.
    pub last_used_at: Timestamp,
    /// Whether this is the session of the request's own token.
    pub current: bool,
}

/// 1–64 characters, no control characters; absent is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceName(String);

impl DeviceName {
    pub fn parse(raw: Option<String>) -> Result<Option<Self>> {
        let Some(raw) = raw else { return Ok(None) };
        let trimmed = raw.trim();
        if (1..=64).contains(&char_len(trimmed)) && !trimmed.chars().any(char::is_control) {
            Ok(Some(DeviceName(trimmed.to_string())))
        } else {
            Err(AppError::validation(
                "device_name must be 1-64 characters without control characters",
            ))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The longest user agent kept; longer ones are cut (never refused: the
/// client does not choose its browser's header).
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// A `User-Agent` as stored: control characters dropped, cut to
/// [`MAX_USER_AGENT_CHARS`], absent when nothing is left.
pub fn user_agent(raw: Option<&str>) -> Option<String> {
    let kept: String = raw?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_are_bounded() {
        assert_eq!(DeviceName::parse(None).unwrap(), None);
        assert!(DeviceName::parse(Some("".into())).is_err());
        assert!(DeviceName::parse(Some("é".repeat(65))).is_err());
        assert!(DeviceName::parse(Some("a\nb".into())).is_err());
        assert_eq!(
            DeviceName::parse(Some(" laptop ".into()))
                .unwrap()
                .unwrap()
                .into_inner(),
            "laptop"
        );
    }

    #[test]
    fn user_agents_are_cut() {
        assert_eq!(
            user_agent(Some(&"x".repeat(10_000))).unwrap().len(),
            MAX_USER_AGENT_CHARS
        );
        assert_eq!(user_agent(Some("  ")), None);
        assert_eq!(user_agent(None), None);
    }
}
