//! Password hashing with argon2id, off the async workers and with a cap on
//! how many hashes run at once (each takes ~19 MiB and tens of
//! milliseconds; a burst of sign-ins must not take the server down).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The longest password accepted, in characters: longer ones are refused
/// before hashing, so they cannot be used to make the server work hard.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Hashes and checks passwords.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Checked against when the email is unknown, so that sign-in takes as
    /// long as for a wrong password.
    decoy: Arc<String>,
    /// How many argon2 computations (hashes and checks) have started.
    runs: Arc<AtomicU64>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("free_permits", &self.permits.available_permits())
            .field("argon2_runs", &self.argon2_runs())
            .finish_non_exhaustive()
    }
}

fn hash_blocking(password: &str) -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt =
        SaltString::encode_b64(&bytes).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hash: {e}")))
}

impl Passwords {
    /// At most `concurrent` hashes at a time.
    pub fn new(concurrent: usize) -> Result<Self, ApiError> {
        let decoy = hash_blocking("decoy password that no account has")?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrent.max(1))),
            decoy: Arc::new(decoy),
            runs: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How many argon2 computations (hashes and checks, the decoy's
    /// included) this hasher has started: lets tests and operators see that
    /// a refused password cost no hash.
    pub fn argon2_runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Hashes a new password (argon2id, random salt).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable)?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        actix_web::web::block(move || hash_blocking(&password)).await?
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// email) it still does the full work against a decoy and answers no.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ApiError::Unavailable)?;
        let decoy = Arc::clone(&self.decoy);
        self.runs.fetch_add(1, Ordering::Relaxed);
        actix_web::web::block(move || {
            let known = stored.is_some();
            let hash_text = stored.unwrap_or_else(|| decoy.as_str().to_owned());
            let parsed = PasswordHash::new(&hash_text)
                .map_err(|e| ApiError::Internal(format!("stored hash unreadable: {e}")))?;
            let matches = Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(known && matches)
        })
        .await?
    }
}
