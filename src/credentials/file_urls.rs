//! Signed file URLs: `/files/{id}/{filename}?exp=&sig=` where `sig` is the
//! HMAC-SHA256 of the attachment id and expiry under a key derived from the
//! server secret. They work in `<img src>` without a token; checking one
//! compares in constant time.

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
        derive.update(b"chat-server file url signing v1");
        FileSigner {
            key: derive.finalize().into_bytes().to_vec(),
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 4),
        }
    }

    fn mac(&self, id: i64, exp: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_hmac());
        mac.update(format!("file:{id}:{exp}").as_bytes());
        mac
    }

    /// A fresh signed path for attachment `id`.
    pub fn url(&self, id: i64, filename: &str) -> String {
        let now = Timestamp::now().0 / 1000;
        let exp = (now + self.ttl_secs + EXPIRY_STEP_SECS - 1) / EXPIRY_STEP_SECS * EXPIRY_STEP_SECS;
        let sig = URL_SAFE_NO_PAD.encode(self.mac(id, exp).finalize().into_bytes());
        format!(
            "/files/{id}/{}?exp={exp}&sig={sig}",
            utf8_percent_encode(filename, SEGMENT)
        )
    }

    /// Whether `exp` and `sig` are a valid, unexpired signature for `id`.
    pub fn verify(&self, id: i64, exp: Option<&str>, sig: Option<&str>) -> bool {
        let (Some(exp), Some(sig)) = (exp, sig) else {
            return false;
        };
        let Ok(exp) = exp.parse::<i64>() else { return false };
        if exp < Timestamp::now().0 / 1000 {
            return false;
        }
        let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac(id, exp).verify_slice(&sig).is_ok()
    }

    /// `value` with every attachment URL in it minted afresh. The doors call
    /// this on everything they send (REST answers, acks, events), and only
    /// they do: values inside the server carry no URL.
    pub fn signed<T: Signable>(&self, mut value: T) -> T {
        value.sign(self);
        value
    }
}

/// A value that may carry attachments, whose URLs are minted on the way out.
pub trait Signable {
    fn sign(&mut self, signer: &FileSigner);
}

impl Signable for Message {
    fn sign(&mut self, signer: &FileSigner) {
        if let Some(attachment) = &mut self.attachment {
            attachment.url = signer.url(attachment.id, &attachment.filename);
        }
    }
}

impl Signable for Chat {
    fn sign(&mut self, signer: &FileSigner) {
        self.last_message.sign(signer);
    }
}

impl<T: Signable> Signable for Option<T> {
    fn sign(&mut self, signer: &FileSigner) {
        if let Some(value) = self {
            value.sign(signer);
        }
    }
}

impl<T: Signable> Signable for Vec<T> {
    fn sign(&mut self, signer: &FileSigner) {
        self.iter_mut().for_each(|v| v.sign(signer));
    }
}

impl<T: Signable> Signable for Box<T> {
    fn sign(&mut self, signer: &FileSigner) {
        (**self).sign(signer);
    }
}

/// `Signable` for a struct whose listed fields are: the answers and event
/// payloads that hold messages or chats.
#[macro_export]
macro_rules! signable_fields {
    ($t:ty { $($field:ident),* }) => {
        impl $crate::credentials::Signable for $t {
            fn sign(&mut self, signer: &$crate::credentials::FileSigner) {
                let _ = signer;
                $( $crate::credentials::Signable::sign(&mut self.$field, signer); )*
            }
        }
    };
}

/// Values without attachments, so that every answer can go through the
/// same door.
macro_rules! nothing_to_sign {
    ($($t:ty),*) => {
        $(impl Signable for $t {
            fn sign(&mut self, _: &FileSigner) {}
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

    fn parts(url: &str) -> (String, String) {
        let query = url.split_once('?').unwrap().1;
        let mut exp = String::new();
        let mut sig = String::new();
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap();
            if k == "exp" {
                exp = v.into()
            } else {
                sig = v.into()
            }
        }
        (exp, sig)
    }

    #[test]
    fn signs_and_verifies() {
        let signer = FileSigner::new(b"secret", Duration::from_secs(600));
        let url = signer.url(7, "my photo.png");
        assert!(url.starts_with("/files/7/my%20photo.png?exp="));
        let (exp, sig) = parts(&url);
        assert!(signer.verify(7, Some(&exp), Some(&sig)));
        assert!(!signer.verify(8, Some(&exp), Some(&sig)), "bound to the id");
        let later = (exp.parse::<i64>().unwrap() + 3600).to_string();
        assert!(!signer.verify(7, Some(&later), Some(&sig)), "bound to the expiry");
        assert!(!signer.verify(7, Some(&exp), Some("AAAA")));
        assert!(!signer.verify(7, None, Some(&sig)));
        let other = FileSigner::new(b"other secret", Duration::from_secs(600));
        assert!(!other.verify(7, Some(&exp), Some(&sig)), "bound to the key");
    }

    #[test]
    fn expired_signatures_fail() {
        let signer = FileSigner::new(b"secret", Duration::from_secs(600));
        let past = Timestamp::now().0 / 1000 - 10;
        let sig = URL_SAFE_NO_PAD.encode(signer.mac(7, past).finalize().into_bytes());
        assert!(!signer.verify(7, Some(&past.to_string()), Some(&sig)));
    }
}
