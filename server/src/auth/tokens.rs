//! Access tokens (short-lived JWTs, HS256 only, `iss`/`aud`/`exp`/`nbf`
//! required) and refresh tokens (opaque random strings, stored only as
//! SHA-256 hashes).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::AuthError;
use super::{AuthUser, Role};

/// The shortest signing secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// The longest an access token may live.
pub const MAX_ACCESS_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Clock skew allowed on `exp`, `nbf` and a token's lifetime, in seconds.
const LEEWAY_SECONDS: i64 = 5;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    role: Role,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: String,
    /// The sign-in session (refresh-token family) the token belongs to.
    sid: String,
}

/// Issues and checks access tokens.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    lifetime: Duration,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// A freshly issued access token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl AccessTokens {
    /// Sets up signing with `secret` (at least 32 bytes); tokens live
    /// `lifetime`, at most 15 minutes.
    pub fn new(
        secret: &[u8],
        issuer: &str,
        audience: &str,
        lifetime: Duration,
    ) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the token signing secret must be at least {MIN_SECRET_BYTES} bytes, got {}",
                secret.len()
            ));
        }
        if lifetime.is_zero() || lifetime > MAX_ACCESS_LIFETIME {
            return Err("access tokens must live between 1 second and 15 minutes".to_owned());
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS.unsigned_abs();
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime,
        })
    }

    /// A new access token for the user.
    pub fn issue(&self, user: AuthUser) -> Result<IssuedToken, AuthError> {
        let now = chrono::Utc::now().timestamp();
        let seconds = self.lifetime.as_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            role: user.role,
            iat: now,
            nbf: now,
            exp: now.saturating_add(i64::try_from(seconds).unwrap_or(i64::MAX)),
            jti: Uuid::now_v7().to_string(),
            sid: user.session.to_string(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("cannot sign a token: {e}")))?;
        Ok(IssuedToken {
            token,
            expires_in: seconds,
        })
    }

    /// Checks a token's signature, algorithm, issuer, audience and times.
    pub fn verify(&self, token: &str) -> Result<AuthUser, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the access token has expired",
                    ErrorKind::ImmatureSignature => "the access token is not valid yet",
                    ErrorKind::InvalidAudience => "the access token is for another audience",
                    ErrorKind::InvalidIssuer => "the access token is from another issuer",
                    ErrorKind::InvalidSignature => "the access token's signature is wrong",
                    ErrorKind::InvalidAlgorithm => "the access token uses a refused algorithm",
                    _ => "the access token is malformed",
                };
                AuthError::Unauthorized(why.to_owned())
            })?;
        let malformed = || AuthError::Unauthorized("the access token is malformed".to_owned());
        let claims = data.claims;
        // A token this server would never issue: minted with a leaked
        // secret to live for a year, say.
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        if claims.exp.saturating_sub(claims.iat) > lifetime.saturating_add(LEEWAY_SECONDS) {
            return Err(AuthError::Unauthorized(
                "the access token lives longer than this server issues them".to_owned(),
            ));
        }
        Ok(AuthUser {
            id: Uuid::parse_str(&claims.sub).map_err(|_| malformed())?,
            role: claims.role,
            session: Uuid::parse_str(&claims.sid).map_err(|_| malformed())?,
        })
    }
}

/// A new refresh token: 32 random bytes, base64url.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The hash a secret is stored and looked up by (hex SHA-256). Refresh
/// tokens and invitation codes are random, so a fast hash is enough: nobody
/// can guess what to hash.
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AccessTokens {
        AccessTokens::new(
            &[7u8; 32],
            "journal",
            "journal-api",
            Duration::from_secs(600),
        )
        .unwrap()
    }

    #[test]
    fn refuses_short_secrets_and_long_lifetimes() {
        assert!(AccessTokens::new(&[1u8; 31], "i", "a", Duration::from_secs(60)).is_err());
        assert!(AccessTokens::new(&[1u8; 32], "i", "a", Duration::from_secs(901)).is_err());
    }

    #[test]
    fn round_trips_and_refuses_other_keys() {
        let user = AuthUser {
            id: Uuid::now_v7(),
            role: Role::Therapist,
            session: Uuid::now_v7(),
        };
        let issued = tokens().issue(user).unwrap();
        assert_eq!(tokens().verify(&issued.token).unwrap(), user);
        let other = AccessTokens::new(
            &[8u8; 32],
            "journal",
            "journal-api",
            Duration::from_secs(600),
        )
        .unwrap();
        assert!(other.verify(&issued.token).is_err());
        let elsewhere =
            AccessTokens::new(&[7u8; 32], "journal", "other-api", Duration::from_secs(600))
                .unwrap();
        assert!(elsewhere.verify(&issued.token).is_err());
    }

    #[test]
    fn a_token_living_longer_than_issued_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let forged = |exp: i64| {
            let claims = Claims {
                iss: "journal".to_owned(),
                aud: "journal-api".to_owned(),
                sub: Uuid::now_v7().to_string(),
                role: Role::Patient,
                iat: now,
                nbf: now,
                exp,
                jti: "forged".to_owned(),
                sid: Uuid::now_v7().to_string(),
            };
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(&[7u8; 32]),
            )
            .unwrap()
        };
        // Signed with the right key: only its lifetime gives it away.
        assert!(tokens().verify(&forged(now + 600)).is_ok());
        let year = tokens().verify(&forged(now + 365 * 24 * 3600)).unwrap_err();
        assert!(year.to_string().contains("lives longer"), "{year}");
        assert!(tokens().verify(&forged(now + 600 + 60)).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(secret_hash(&a).len(), 64);
        assert_eq!(secret_hash(&a), secret_hash(&a));
    }
}
