//! The API's objects as they go out on the wire (`User`, `Member`, `Chat`,
//! `Message`, `Attachment`). The store fills them; `online` and attachment
//! URLs are filled in by their owners (presence, file signing) just before
//! they are sent.

use serde::{Serialize, Serializer};
use utoipa::ToSchema;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};

/// A point in time, kept as Unix milliseconds and written as RFC 3339 UTC
/// with milliseconds: `2026-11-24T05:50:57.123Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    pub fn from_unix_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1000))
    }

    /// Writes the timestamp into a fixed buffer, no allocation: history
    /// pages format two of these per message, and a general-purpose
    /// formatter showed up in their profile. Years 0–9999.
    pub fn format(self) -> [u8; 24] {
        let ms = self.0.clamp(-62_167_219_200_000, 253_402_300_799_999);
        let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
        // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, value: i64, width: usize| {
            let mut v = value;
            for i in (0..width).rev() {
                out[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, year, 4);
        put(5, month, 2);
        put(8, day, 2);
        put(11, ms_of_day / 3_600_000, 2);
        put(14, ms_of_day / 60_000 % 60, 2);
        put(17, ms_of_day / 1000 % 60, 2);
        put(20, ms_of_day % 1000, 3);
        out
    }

    pub fn to_rfc3339(self) -> String {
        String::from_utf8_lossy(&self.format()).into_owned()
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 UTC with milliseconds"))
            .examples(["2026-11-24T05:50:57.123Z"])
            .into()
    }
}

impl ToSchema for Timestamp {}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.format();
        serializer.serialize_str(std::str::from_utf8(&bytes).unwrap_or("1970-01-01T00:00:00.000Z"))
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    /// Filled from presence by whoever sends the user out.
    pub online: bool,
    pub last_seen_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// The read marker in force after a `mark_read`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ReadMarker {
    pub chat_id: i64,
    pub message_id: i64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn from_db(s: &str) -> Self {
        match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            _ => Role::Member,
        }
    }

    /// A role as a request names it: `owner`, `admin` or `member`.
    pub fn parse(raw: Option<&str>) -> crate::error::Result<Self> {
        match raw {
            Some("owner") => Ok(Role::Owner),
            Some("admin") => Ok(Role::Admin),
            Some("member") => Ok(Role::Member),
            Some(_) => Err(crate::error::AppError::validation(
                "role must be owner, admin or member",
            )),
            None => Err(crate::error::AppError::validation("role is required")),
        }
    }

    /// Owners and admins manage a group's members.
    pub fn can_manage_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Member {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: Timestamp,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatKind {
    Direct,
    Group,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "direct",
            ChatKind::Group => "group",
        }
    }

    pub fn from_db(s: &str) -> Self {
        if s == "group" {
            ChatKind::Group
        } else {
            ChatKind::Direct
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Text,
    File,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::File => "file",
        }
    }

    pub fn from_db(s: &str) -> Self {
        if s == "file" {
            MessageKind::File
        } else {
            MessageKind::Text
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    /// A signed `/files/{id}/{filename}?exp=&sig=` path, minted when the
    /// message is sent out; empty until then.
    pub url: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Message {
    pub id: i64,
    pub chat_id: i64,
    pub chat_kind: ChatKind,
    pub sender_id: i64,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub attachment: Option<Attachment>,
    pub client_id: Option<String>,
    pub created_at: Timestamp,
    /// The message this one answers, as it is now (null after a deletion).
    pub reply_to: Option<ReplyTo>,
    pub edited_at: Option<Timestamp>,
    /// Set on a tombstone, which has no text, attachment, reply or
    /// reactions.
    pub deleted_at: Option<Timestamp>,
    /// By first use.
    pub reactions: Vec<Reaction>,
    /// How many reaction rows the store holds for it: none, no need to
    /// read them.
    #[serde(skip)]
    #[schema(ignore)]
    pub reaction_rows: i64,
    /// The `seq` of its latest change (its sending, an edit, a deletion, a
    /// reaction); 0 for a message older than the event log.
    pub seq: i64,
}

impl Message {
    /// Removes what a tombstone does not show.
    pub fn into_tombstone(mut self) -> Self {
        self.text = None;
        self.attachment = None;
        self.reply_to = None;
        self.reactions = Vec::new();
        self.reaction_rows = 0;
        self
    }

    /// The reactions as events show them: without the viewer's `me`.
    pub fn without_me(mut self) -> Self {
        for r in &mut self.reactions {
            r.me = None;
        }
        self
    }
}

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct ReplyTo {
    pub id: i64,
    pub sender_id: i64,
    pub kind: MessageKind,
    /// The first 200 characters of its text; null once it is deleted.
    pub text: Option<String>,
    pub deleted: bool,
}

/// One emoji's reactions on a message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Whether the caller reacted so: in REST answers and acks only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub me: Option<bool>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
pub struct Chat {
    pub id: i64,
    pub kind: ChatKind,
    pub name: Option<String>,
    pub created_by: i64,
    pub created_at: Timestamp,
    pub members: Vec<Member>,
    pub last_message: Option<Message>,
    /// Other members' messages above the viewer's read marker.
    pub unread_count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(
            Timestamp(1_795_000_257_123).to_rfc3339(),
            "2026-11-18T11:10:57.123Z"
        );
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(1_709_164_800_001).to_rfc3339(),
            "2024-02-29T00:00:00.001Z"
        );
        assert_eq!(
            Timestamp(951_782_399_999).to_rfc3339(),
            "2000-02-28T23:59:59.999Z"
        );
        assert_eq!(Timestamp(-1).to_rfc3339(), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            Timestamp(253_402_300_799_999).to_rfc3339(),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
