//! What a message is made of: its text, its target, its idempotency key;
//! and a group's name.

use serde::Deserialize;

use super::{MessageKind, char_len, parse_id};
use crate::error::{AppError, Result};

pub const MAX_TEXT_CHARS: usize = 4000;

/// 1–4000 characters, not only white space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub fn parse(raw: Option<String>) -> Result<Self> {
        let raw = raw.ok_or_else(|| AppError::validation("text is required"))?;
        if raw.trim().is_empty() {
            return Err(AppError::MessageEmpty);
        }
        if char_len(&raw) > MAX_TEXT_CHARS {
            return Err(AppError::MessageTooLong(MAX_TEXT_CHARS));
        }
        Ok(MessageText(raw))
    }

    /// A file's caption: optional, and blank means none.
    pub fn parse_caption(raw: Option<String>) -> Result<Option<Self>> {
        match raw {
            Some(text) if !text.trim().is_empty() => Self::parse(Some(text)).map(Some),
            _ => Ok(None),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text an edit gives a message of `kind`: a text message's follows
/// the rules of a send; a file's caption may be blank, which removes it
/// (`None`).
pub fn edited_text(kind: MessageKind, raw: Option<String>) -> Result<Option<MessageText>> {
    match kind {
        MessageKind::Text => MessageText::parse(raw).map(Some),
        MessageKind::File => {
            let raw = raw.ok_or_else(|| AppError::validation("text is required (\"\" removes a caption)"))?;
            MessageText::parse_caption(Some(raw))
        }
    }
}

/// The most distinct emoji one message carries.
pub const MAX_REACTIONS: usize = 20;

/// A reaction as sent: 1–32 characters with no white space or control
/// characters, kept exactly (no short code is turned into an emoji).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self> {
        let len = char_len(raw);
        if !(1..=32).contains(&len) {
            return Err(AppError::validation("emoji must be 1-32 characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(AppError::validation(
                "emoji must not contain white space or control characters",
            ));
        }
        Ok(Emoji(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1–64 characters chosen by the client; unique per sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(raw: Option<String>) -> Result<Option<Self>> {
        match raw {
            None => Ok(None),
            Some(s) if (1..=64).contains(&char_len(&s)) => Ok(Some(ClientId(s))),
            Some(_) => Err(AppError::validation("client_id must be 1-64 characters")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a message goes: exactly one of `to`, `chat_id`, `group_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTarget {
    /// The direct chat with this user, created on first use.
    User(i64),
    Chat(i64),
    Group(i64),
}

/// The three target fields as they appear in a JSON body.
#[derive(Debug, Default, Deserialize)]
pub struct TargetFields {
    pub to: Option<i64>,
    pub chat_id: Option<i64>,
    pub group_id: Option<i64>,
}

impl ChatTarget {
    pub fn parse(fields: &TargetFields) -> Result<Self> {
        match (fields.to, fields.chat_id, fields.group_id) {
            (Some(id), None, None) => Ok(ChatTarget::User(parse_id(id, "to")?)),
            (None, Some(id), None) => Ok(ChatTarget::Chat(parse_id(id, "chat_id")?)),
            (None, None, Some(id)) => Ok(ChatTarget::Group(parse_id(id, "group_id")?)),
            _ => Err(AppError::validation(
                "exactly one of to, chat_id or group_id is required",
            )),
        }
    }
}

/// A file's display name as the client sent it, cleaned: the last path
/// segment, without control characters, at most 255 characters. Never used
/// as a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 255;

    /// A name the client must send (the `send_file` event's `filename`):
    /// missing, or nothing left once cleaned, is `validation_failed`.
    pub fn parse(raw: Option<&str>) -> Result<Self> {
        let raw = raw.ok_or_else(|| AppError::validation("filename is required"))?;
        Self::cleaned(raw)
            .map(FileName)
            .ok_or_else(|| AppError::validation("filename must name the file (not empty, not only a path)"))
    }

    /// A name the client may leave out (a multipart part's file name):
    /// missing or empty becomes `file`.
    pub fn clean(raw: Option<&str>) -> Self {
        FileName(Self::cleaned(raw.unwrap_or_default()).unwrap_or_else(|| "file".into()))
    }

    fn cleaned(raw: &str) -> Option<String> {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last.chars().filter(|c| !c.is_control()).collect();
        let cleaned = cleaned.trim();
        let mut chars: Vec<char> = cleaned.chars().collect();
        if chars.len() > Self::MAX_CHARS {
            // Keep the end, where the extension is.
            chars.drain(..chars.len() - Self::MAX_CHARS);
        }
        let cleaned: String = chars.into_iter().collect();
        let cleaned = cleaned.trim();
        (!(cleaned.is_empty() || cleaned == "." || cleaned == "..")).then(|| cleaned.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 1–100 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(raw: Option<String>) -> Result<Self> {
        let raw = raw.ok_or_else(|| AppError::validation("name is required"))?;
        let trimmed = raw.trim();
        if (1..=100).contains(&char_len(trimmed)) {
            Ok(GroupName(trimmed.to_string()))
        } else {
            Err(AppError::validation("name must be 1-100 characters"))
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
    fn text_rules() {
        assert!(matches!(
            MessageText::parse(Some(" \n\t".into())),
            Err(AppError::MessageEmpty)
        ));
        assert!(matches!(
            MessageText::parse(Some("é".repeat(4001))),
            Err(AppError::MessageTooLong(4000))
        ));
        assert!(MessageText::parse(Some("é".repeat(4000))).is_ok());
        assert!(matches!(MessageText::parse(None), Err(AppError::Validation(_))));
    }

    #[test]
    fn exactly_one_target() {
        let f = |to, chat_id, group_id| TargetFields {
            to,
            chat_id,
            group_id,
        };
        assert_eq!(
            ChatTarget::parse(&f(Some(3), None, None)).unwrap(),
            ChatTarget::User(3)
        );
        assert_eq!(
            ChatTarget::parse(&f(None, None, Some(4))).unwrap(),
            ChatTarget::Group(4)
        );
        assert!(ChatTarget::parse(&f(Some(3), Some(4), None)).is_err());
        assert!(ChatTarget::parse(&f(None, None, None)).is_err());
        assert!(ChatTarget::parse(&f(None, Some(0), None)).is_err());
    }

    #[test]
    fn file_names_are_display_only() {
        let clean = |s: &str| FileName::clean(Some(s)).as_str().to_string();
        assert_eq!(clean("../../etc/passwd"), "passwd");
        assert_eq!(clean("C:\\Users\\me\\photo.png"), "photo.png");
        assert_eq!(clean("a\u{0}b\nc.pdf"), "abc.pdf");
        assert_eq!(clean(".."), "file");
        assert_eq!(clean("dir/"), "file");
        assert_eq!(FileName::clean(None).as_str(), "file");
        let long = format!("{}.png", "x".repeat(300));
        assert_eq!(clean(&long).chars().count(), 255);
        assert!(clean(&long).ends_with(".png"));
        assert_eq!(clean("résumé 2026.pdf"), "résumé 2026.pdf");
    }

    #[test]
    fn emoji_rules() {
        for ok in ["👍", ":thumbsup:", "👨‍👩‍👧", &"x".repeat(32)] {
            assert!(Emoji::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "\u{7}", "\t", &"x".repeat(33), "\u{a0}"] {
            assert!(Emoji::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn captions_can_be_removed_by_an_edit() {
        assert_eq!(edited_text(MessageKind::File, Some(String::new())).unwrap(), None);
        assert!(edited_text(MessageKind::Text, Some(String::new())).is_err());
        assert!(edited_text(MessageKind::File, None).is_err());
    }

    #[test]
    fn client_id_bounds() {
        assert!(ClientId::parse(Some(String::new())).is_err());
        assert!(ClientId::parse(Some("x".repeat(65))).is_err());
        assert_eq!(ClientId::parse(None).unwrap(), None);
    }
}
