//! Login tokens: HS256 JWTs with `sub` (the user id), `iat` and `exp`. The
//! algorithm is pinned on both sides; any failure is just `unauthorized`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::error::{AppError, Result};

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
}

/// Issues and checks tokens with one secret.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// A freshly issued token.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: Timestamp,
}

impl Tokens {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Tokens {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn issue(&self, user_id: i64) -> Result<IssuedToken> {
        let now = Timestamp::now().0 / 1000;
        let exp = now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2));
        let claims = Claims {
            sub: user_id.to_string(),
            iat: now,
            exp,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)?;
        Ok(IssuedToken {
            token,
            expires_at: Timestamp::from_unix_secs(exp),
        })
    }

    /// The user id a valid token names.
    pub fn verify(&self, token: &str) -> Result<i64> {
        const BAD: AppError = AppError::Unauthorized("missing, malformed, expired or revoked token");
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| BAD)?;
        match data.claims.sub.parse::<i64>() {
            Ok(id) if id >= 1 => Ok(id),
            _ => Err(BAD),
        }
    }
}

/// The flag's secret, checked.
pub fn flag_secret(secret: &str) -> std::io::Result<Vec<u8>> {
    if secret.len() < 16 {
        return Err(std::io::Error::other("--jwt-secret must be at least 16 bytes"));
    }
    Ok(secret.as_bytes().to_vec())
}

/// The secret kept in `path`, if there is one.
pub fn secret_file(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().len() >= 32 => Ok(Some(text.trim().as_bytes().to_vec())),
        Ok(_) => Err(std::io::Error::other(format!(
            "{} is too short to be a secret; delete it to generate a new one",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A new random secret: 32 bytes, as 64 hex digits.
pub fn new_secret() -> std::io::Result<Vec<u8>> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes())
}

/// The signing secret: the flag's value, or the one kept in `path`, or a new
/// random one written there with mode 0600 on first start.
pub fn load_or_create_secret(flag: Option<&str>, path: &Path) -> std::io::Result<Vec<u8>> {
    if let Some(secret) = flag {
        return flag_secret(secret);
    }
    if let Some(kept) = secret_file(path)? {
        return Ok(kept);
    }
    let hex = String::from_utf8(new_secret()?).map_err(std::io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(hex.as_bytes())?;
    file.sync_all()?;
    Ok(hex.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let issued = tokens.issue(42).unwrap();
        assert_eq!(tokens.verify(&issued.token).unwrap(), 42);
        let mut tampered = issued.token.clone();
        tampered.push('x');
        assert!(tokens.verify(&tampered).is_err());
        let other = Tokens::new(b"another secret, also 32 bytes...", Duration::from_secs(60));
        assert!(other.verify(&issued.token).is_err());
    }
}
