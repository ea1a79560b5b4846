//! Signed file URLs: `/files/{id}/{filename}?u=&exp=&sig=` where `sig` is
//! the HMAC-SHA256 of the attachment id, the user it was signed for and the
//! expiry under a key derived from the server secret. They work in
//! `<img src>` without a token, for as long as that user is a member of the
//! file's chat (v2: the download checks); checking one compares in constant
//! time.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::Sha256;

use crate::domain::{Chat, Message, Timestamp};

type HmacSha256 = Hmac<Sha256>;

/// What must be escaped in a path segment: everything but unreserved
/// characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Expiries are rounded up to this, so a file's URL stays the same for a
/// while and browsers can cache what it points to.
const EXPIRY_STEP_SECS: i64 = 3600;

pub struct FileSigner {
    key: Vec<u8>,
    ttl_secs: i64,
}

impl FileSigner {
    /// `secret` is the server secret; the signing key is derived from it so
    /// that a file signature is never a valid token signature or vice versa.
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut derive = HmacSha256::new_from_slice(secret).unwrap_or_else(|_| unreachable_hmac());
        derive.update(b"chat-server file url signing v2");
        FileSigner {
            key: derive.finalize().into_bytes().to_vec(),
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4),
        }
    }

    fn mac(&self, id: i64, user: i64, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(format!("file:{id}:{user}:{exp}").as_bytes());
        mac
    }

    /// A fresh signed path for attachment `id`, for `user`.
    pub fn url(&self, id: i64, filename: &str, user: i64) -> String {
        let now = Timestamp::now().0 / 1000;
        let exp = (now + self.ttl_secs + EXPIRY_STEP_SECS - 1) / EXPIRY_STEP_SECS * EXPIRY_STEP_SECS;
        let sig = URL_SAFE_NO_PAD.encode(self.mac(id, user, exp).finalize().into_bytes());
        format!(
            "/files/{id}/{}?u={user}&exp={exp}&sig={sig}",
            utf8_percent_encode(filename, SEGMENT)
        )
    }

    /// The user a valid, unexpired signature for `id` was made for.
    pub fn verify(&self, id: i64, user: Option<&str>, exp: Option<&str>, sig: Option<&str>) -> Option<i64> {
        let (Some(user), Some(exp), Some(sig)) = (user, exp, sig) else {
            return None;
        };
        let user = user.parse::<i64>().ok()?;
        let exp = exp.parse::<i64>().ok()?;
        if exp < Timestamp::now().0 / 1000 {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(sig).ok()?;
        self.mac(id, user, exp).verify_slice(&sig).is_ok().then_some(user)
    }

    /// `value` with every attachment URL in it minted afresh for `viewer`.
    /// The doors call this on everything they send (REST answers, acks,
    /// events), and only they do: values inside the server carry no URL.
    pub fn signed<T: Signable>(&self, mut value: T, viewer: i64) -> T {
        value.sign(self, viewer);
        value
    }

    /// A logged event's payload with its attachment URLs minted for
    /// `viewer` (an `attachment` object anywhere in it gets its `url`).
    pub fn signed_json(&self, value: &serde_json::Value, viewer: i64) -> serde_json::Value {
        let mut value = value.clone();
        self.sign_json(&mut value, viewer);
        value
    }

    fn sign_json(&self, value: &mut serde_json::Value, viewer: i64) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(attachment)) = map.get_mut("attachment") {
                    let id = attachment.get("id").and_then(serde_json::Value::as_i64);
                    let name = attachment.get("filename").and_then(serde_json::Value::as_str);
                    if let (Some(id), Some(name)) = (id, name) {
                        let url = self.url(id, name, viewer);
                        attachment.insert("url".into(), serde_json::Value::String(url));
                    }
                }
                for (key, inner) in map.iter_mut() {
                    if key != "attachment" {
                        self.sign_json(inner, viewer);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.sign_json(v, viewer)),
            _ => {}
        }
    }
}

/// Whether a logged payload holds an attachment (its URL differs by
/// recipient).
pub fn has_attachment(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .any(|(k, v)| (k == "attachment" && v.is_object()) || has_attachment(v)),
        serde_json::Value::Array(items) => items.iter().any(has_attachment),
        _ => false,
    }
}

/// A value that may carry attachments, whose URLs are minted on the way out.
pub trait Signable {
    fn sign(&mut self, signer: &FileSigner, viewer: i64);
}

impl Signable for Message {
    fn sign(&mut self, signer: &FileSigner, viewer: i64) {
        if let Some(attachment) = &mut self.attachment {
            attachment.url = signer.url(attachment.id, &attachment.filename, viewer);
        }
    }
}

impl Signable for Chat {
    fn sign(&mut self, signer: &FileSigner, viewer: i64) {
        self.last_message.sign(signer, viewer);
    }
}

impl<T: Signable> Signable for Option<T> {
    fn sign(&mut self, signer: &FileSigner, viewer: i64) {
        if let Some(value) = self {
            value.sign(signer, viewer);
        }
    }
}

impl<T: Signable> Signable for Vec<T> {
    fn sign(&mut self, signer: &FileSigner, viewer: i64) {
        self.iter_mut().for_each(|v| v.sign(signer, viewer));
    }
}

impl<T: Signable> Signable for Box<T> {
    fn sign(&mut self, signer: &FileSigner, viewer: i64) {
        (**self).sign(signer, viewer);
    }
}

/// `Signable` for a struct whose listed fields are: the answers and event
/// payloads that hold messages or chats.
#[macro_export]
macro_rules! signable_fields {
    ($t:ty { $($field:ident),* }) => {
        impl $crate::credentials::Signable for $t {
            fn sign(&mut self, signer: &$crate::credentials::FileSigner, viewer: i64) {
                let _ = (signer, viewer);
                $( $crate::credentials::Signable::sign(&mut self.$field, signer, viewer); )*
            }
        }
    };
}

/// Values without attachments, so that every answer can go through the
/// same door.
macro_rules! nothing_to_sign {
    ($($t:ty),*) => {
        $(impl Signable for $t {
            fn sign(&mut self, _: &FileSigner, _: i64) {}
        })*
    };
}

nothing_to_sign!(crate::domain::User, crate::domain::ReadMarker, ());

/// HMAC accepts keys of any length; this cannot happen.
fn unreachable_hmac() -> HmacSha256 {
    unreachable!("HMAC-SHA256 takes keys of any length")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (u, exp, sig) of a signed URL.
    fn parts(url: &str) -> (String, String, String) {
        let query = url.split_once('?').unwrap().1;
        let mut found = (String::new(), String::new(), String::new());
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            match k {
                "u" => found.0 = v.into(),
                "exp" => found.1 = v.into(),
                _ => found.2 = v.into(),
            }
        }
        found
    }

    #[test]
    fn signs_and_verifies() {
        let signer = FileSigner::new(b"secret", Duration::from_secs(600));
        let url = signer.url(7, "my photo.png", 42);
        assert!(url.starts_with("/files/7/my%20photo.png?u=42&exp="), "{url}");
        let (u, exp, sig) = parts(&url);
        assert_eq!(signer.verify(7, Some(&u), Some(&exp), Some(&sig)), Some(42));
        assert_eq!(
            signer.verify(8, Some(&u), Some(&exp), Some(&sig)),
            None,
            "bound to the id"
        );
        assert_eq!(
            signer.verify(7, Some("43"), Some(&exp), Some(&sig)),
            None,
            "bound to the user"
        );
        let later = (exp.parse::<i64>().unwrap() + 3600).to_string();
        assert_eq!(
            signer.verify(7, Some(&u), Some(&later), Some(&sig)),
            None,
            "bound to the expiry"
        );
        assert_eq!(signer.verify(7, Some(&u), Some(&exp), Some("AAAA")), None);
        assert_eq!(signer.verify(7, None, Some(&exp), Some(&sig)), None);
        let other = FileSigner::new(b"other secret", Duration::from_secs(600));
        assert_eq!(
            other.verify(7, Some(&u), Some(&exp), Some(&sig)),
            None,
            "bound to the key"
        );
    }

    #[test]
    fn expired_signatures_fail() {
        let signer = FileSigner::new(b"secret", Duration::from_secs(600));
        let past = Timestamp::now().0 / 1000 - 10;
        let sig = URL_SAFE_NO_PAD.encode(signer.mac(7, 1, past).finalize().into_bytes());
        assert_eq!(
            signer.verify(7, Some("1"), Some(&past.to_string()), Some(&sig)),
            None
        );
    }

    #[test]
    fn payloads_are_signed_per_viewer() {
        let signer = FileSigner::new(b"secret", Duration::from_secs(600));
        let payload = serde_json::json!({
            "group": { "last_message": { "attachment": { "id": 3, "filename": "a.pdf", "url": "" } } },
            "seq": 9
        });
        assert!(has_attachment(&payload));
        assert!(!has_attachment(
            &serde_json::json!({ "attachment": null, "seq": 1 })
        ));
        let signed = signer.signed_json(&payload, 5);
        let url = signed["group"]["last_message"]["attachment"]["url"]
            .as_str()
            .unwrap();
        assert!(url.starts_with("/files/3/a.pdf?u=5&exp="), "{url}");
        assert_eq!(signed["seq"], 9);
    }
}
