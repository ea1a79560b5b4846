//! Query strings for paging: `limit`, `before`, `after`. They arrive as text
//! and are parsed here so that a bad limit is `validation_failed` and a bad
//! cursor is `invalid_cursor`, as the contract distinguishes.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{AppError, Result};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A page size from 1 to 200; out of range is rejected, not clamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let Some(raw) = raw.filter(|s| !s.is_empty()) else {
            return Ok(Limit(DEFAULT_LIMIT));
        };
        match raw.parse::<u32>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(Limit(n)),
            _ => Err(AppError::validation(format!(
                "limit must be an integer from 1 to {MAX_LIMIT}"
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// Parses a cursor (an id) from a query string. `allow_zero` is for cursors
/// where 0 naturally means "from the start" (`/sync`, `/users`).
pub(crate) fn parse_cursor(raw: Option<&str>, field: &str, allow_zero: bool) -> Result<Option<i64>> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let min = if allow_zero { 0 } else { 1 };
    let digits = raw.len() <= 18 && raw.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<i64>() {
        Ok(n) if digits && n >= min => Ok(Some(n)),
        _ => Err(AppError::InvalidCursor(format!(
            "{field} must be an id (a {} integer)",
            if allow_zero { "non-negative" } else { "positive" }
        ))),
    }
}

/// The raw query of a history request.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `limit` messages just older than this id.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub before: Option<String>,
    /// The `limit` messages just newer than this id (not with `before`).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub after: Option<String>,
}

/// Which slice of a chat's history to return. Messages always come oldest
/// first; `has_more` looks past the page in the direction of paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryPage {
    Latest { limit: u32 },
    Before { id: i64, limit: u32 },
    After { id: i64, limit: u32 },
}

impl HistoryPage {
    pub fn parse(q: &PageQuery) -> Result<Self> {
        let limit = Limit::parse(q.limit.as_deref())?.get();
        let before = parse_cursor(q.before.as_deref(), "before", false)?;
        let after = parse_cursor(q.after.as_deref(), "after", false)?;
        match (before, after) {
            (Some(_), Some(_)) => Err(AppError::InvalidCursor("give before or after, not both".into())),
            (Some(id), None) => Ok(HistoryPage::Before { id, limit }),
            (None, Some(id)) => Ok(HistoryPage::After { id, limit }),
            (None, None) => Ok(HistoryPage::Latest { limit }),
        }
    }
}

/// `GET /sync?after=&limit=`: after defaults to 0, the very start.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// Messages with an id above this (default 0: from the start).
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
}

impl SyncQuery {
    pub fn parse(&self) -> Result<(i64, u32)> {
        let after = parse_cursor(self.after.as_deref(), "after", true)?.unwrap_or(0);
        Ok((after, Limit::parse(self.limit.as_deref())?.get()))
    }
}

/// `GET /users?q=&limit=&after=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Username or display-name prefix, case-insensitive.
    #[param(max_length = 64)]
    pub q: Option<String>,
    /// 1–200, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The last id of the previous page.
    #[param(value_type = Option<i64>, minimum = 0)]
    pub after: Option<String>,
}

impl UserListQuery {
    /// Returns (lower-cased prefix or none, after id, limit).
    pub fn parse(&self) -> Result<(Option<String>, i64, u32)> {
        let prefix = self
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase);
        if prefix.as_ref().is_some_and(|p| p.chars().count() > 64) {
            return Err(AppError::validation("q must be at most 64 characters"));
        }
        let after = parse_cursor(self.after.as_deref(), "after", true)?.unwrap_or(0);
        Ok((prefix, after, Limit::parse(self.limit.as_deref())?.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(limit: Option<&str>, before: Option<&str>, after: Option<&str>) -> PageQuery {
        PageQuery {
            limit: limit.map(String::from),
            before: before.map(String::from),
            after: after.map(String::from),
        }
    }

    #[test]
    fn history_pages() {
        assert_eq!(
            HistoryPage::parse(&q(None, None, None)).unwrap(),
            HistoryPage::Latest { limit: 50 }
        );
        assert_eq!(
            HistoryPage::parse(&q(Some("10"), Some("7"), None)).unwrap(),
            HistoryPage::Before { id: 7, limit: 10 }
        );
        for bad in ["0", "-1", "abc", "1.5", "+3", "99999999999999999999"] {
            assert!(
                matches!(
                    HistoryPage::parse(&q(None, Some(bad), None)),
                    Err(AppError::InvalidCursor(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            HistoryPage::parse(&q(None, Some("1"), Some("2"))),
            Err(AppError::InvalidCursor(_))
        ));
        for bad in ["0", "201", "-5", "x"] {
            assert!(
                matches!(
                    HistoryPage::parse(&q(Some(bad), None, None)),
                    Err(AppError::Validation(_))
                ),
                "{bad}"
            );
        }
    }
}
