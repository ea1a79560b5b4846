//! Login tokens: HS256 JWTs with `sub` (the user id), `sid` (the session,
//! v2), `iat` and `exp`. The algorithm is pinned on both sides; any failure
//! is just `unauthorized`. A token without `sid` (made before sessions
//! existed) names no session that could be revoked, and is refused.
//!
//! Refresh tokens are not JWTs: 32 random bytes (base64url), kept by the
//! store only as their SHA-256, so a refresh token is never a valid access
//! token and the reverse.

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
    sid: i64,
    iat: i64,
    exp: i64,
    /// Random: two tokens issued in the same second still differ.
    #[serde(default)]
    jti: String,
}

/// What a valid access token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub user_id: i64,
    pub session_id: i64,
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

    pub fn issue(&self, user_id: i64, session_id: i64) -> Result<IssuedToken> {
        let now = Timestamp::now().0 / 1000;
        let exp = now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2));
        let claims = Claims {
            sub: user_id.to_string(),
            sid: session_id,
            iat: now,
            exp,
            jti: token_id()?,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AppError::internal)?;
        Ok(IssuedToken {
            token,
            expires_at: Timestamp::from_unix_secs(exp),
        })
    }

    /// The user and session a valid token names.
    pub fn verify(&self, token: &str) -> Result<TokenClaims> {
        const BAD: AppError = AppError::Unauthorized("missing, malformed, expired or revoked token");
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map_err(|_| BAD)?;
        match data.claims.sub.parse::<i64>() {
            Ok(user_id) if user_id >= 1 && data.claims.sid >= 1 => Ok(TokenClaims {
                user_id,
                session_id: data.claims.sid,
            }),
            _ => Err(BAD),
        }
    }
}

/// 8 random bytes in hex, a token's `jti`.
fn token_id() -> Result<String> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(AppError::internal)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new refresh token and the hash the store keeps of it.
pub fn new_refresh_token() -> Result<(String, String)> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(AppError::internal)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_hash(&token);
    Ok((token, hash))
}

/// The hash a refresh token is stored and looked up by (hex SHA-256).
pub fn refresh_hash(token: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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
        let issued = tokens.issue(42, 7).unwrap();
        assert_ne!(
            tokens.issue(42, 7).unwrap().token,
            issued.token,
            "unique in one second"
        );
        assert_eq!(
            tokens.verify(&issued.token).unwrap(),
            TokenClaims {
                user_id: 42,
                session_id: 7
            }
        );
        let mut tampered = issued.token.clone();
        tampered.push('x');
        assert!(tokens.verify(&tampered).is_err());
        let other = Tokens::new(b"another secret, also 32 bytes...", Duration::from_secs(60));
        assert!(other.verify(&issued.token).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_never_access_tokens() {
        let tokens = Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let (a, hash) = new_refresh_token().unwrap();
        let (b, _) = new_refresh_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(refresh_hash(&a), hash);
        assert!(tokens.verify(&a).is_err());
    }
}
