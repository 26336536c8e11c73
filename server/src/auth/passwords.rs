//! Password hashing with argon2id, off the async workers and with a cap on
//! how many hashes run at once (each takes ~19 MiB and tens of
//! milliseconds; a burst of sign-ins must not take the server down).
//!
//! The 19 MiB of working memory are kept and reused, one buffer per hash
//! allowed at once. Allocated afresh on whichever blocking thread ran the
//! hash, they stayed with that thread's allocator arena after being freed:
//! a sign-in burst left the server holding hundreds of MiB it no longer
//! used (docs/benchmarks.md, "Load").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::AuthError;

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
    /// Working memory of finished hashes, for the next ones.
    memory: Arc<Memory>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("free_permits", &self.permits.available_permits())
            .field("argon2_runs", &self.argon2_runs())
            .finish_non_exhaustive()
    }
}

/// Argon2 working memory kept between hashes: at most `keep` buffers, as
/// many as hashes may run at once, so it never grows past that.
#[derive(Default)]
struct Memory {
    free: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

impl Memory {
    /// A buffer of at least `blocks` blocks: a kept one when there is one.
    fn take(&self, blocks: usize) -> Vec<Block> {
        let kept = self.free.lock().ok().and_then(|mut free| free.pop());
        match kept {
            Some(mut buffer) => {
                if buffer.len() < blocks {
                    buffer.resize(blocks, Block::default());
                }
                buffer
            }
            None => vec![Block::default(); blocks],
        }
    }

    /// Keeps `buffer` for a later hash, unless enough are kept already.
    fn give_back(&self, buffer: Vec<Block>) {
        if let Ok(mut free) = self.free.lock()
            && free.len() < self.keep
        {
            free.push(buffer);
        }
    }

    /// Runs `argon` over `password` and `salt` into an output of `len`
    /// bytes, in a kept buffer.
    fn compute(
        &self,
        argon: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        len: usize,
    ) -> Result<Output, AuthError> {
        let mut buffer = self.take(argon.params().block_count());
        let output = Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password, salt, out, &mut buffer)
                .map_err(argon2::password_hash::Error::from)
        });
        self.give_back(buffer);
        output.map_err(|e| AuthError::Internal(format!("hash: {e}")))
    }
}

/// A new PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) for
/// `password`, with argon2's default parameters and a random salt.
fn hash_blocking(password: &str, memory: &Memory) -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt =
        SaltString::encode_b64(&bytes).map_err(|e| AuthError::Internal(format!("salt: {e}")))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default());
    let output = memory.compute(
        &argon,
        password.as_bytes(),
        &bytes,
        Params::DEFAULT_OUTPUT_LEN,
    )?;
    let params = ParamsString::try_from(argon.params())
        .map_err(|e| AuthError::Internal(format!("hash parameters: {e}")))?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string())
}

/// Whether `password` hashes to the stored PHC string, with the
/// parameters, salt and variant it names.
fn verify_blocking(password: &str, stored: &str, memory: &Memory) -> Result<bool, AuthError> {
    let unreadable = |e: argon2::password_hash::Error| {
        AuthError::Internal(format!("stored hash unreadable: {e}"))
    };
    let parsed = PasswordHash::new(stored).map_err(unreadable)?;
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(unreadable)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| unreadable(e.into()))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(unreadable)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(AuthError::Internal(
            "stored hash unreadable: no salt or no hash".to_owned(),
        ));
    };
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(unreadable)?;
    let argon = Argon2::new(algorithm, version, params);
    let output = memory.compute(&argon, password.as_bytes(), salt, expected.len())?;
    // Output's equality takes the same time whatever the bytes.
    Ok(output == expected)
}

impl Passwords {
    /// At most `concurrent` hashes at a time.
    pub fn new(concurrent: usize) -> Result<Self, AuthError> {
        let concurrent = concurrent.max(1);
        let memory = Memory {
            free: Mutex::new(Vec::new()),
            keep: concurrent,
        };
        let decoy = hash_blocking("decoy password that no account has", &memory)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrent)),
            decoy: Arc::new(decoy),
            runs: Arc::new(AtomicU64::new(0)),
            memory: Arc::new(memory),
        })
    }

    /// How many argon2 computations (hashes and checks, the decoy's
    /// included) this hasher has started: lets tests and operators see that
    /// a refused password cost no hash.
    pub fn argon2_runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Hashes a new password (argon2id, random salt).
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let _permit = self.permits.acquire().await.map_err(|_| AuthError::Busy)?;
        self.runs.fetch_add(1, Ordering::Relaxed);
        let memory = Arc::clone(&self.memory);
        tokio::task::spawn_blocking(move || hash_blocking(&password, &memory))
            .await
            .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))?
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown
    /// email) it still does the full work against a decoy and answers no.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, AuthError> {
        let _permit = self.permits.acquire().await.map_err(|_| AuthError::Busy)?;
        let decoy = Arc::clone(&self.decoy);
        let memory = Arc::clone(&self.memory);
        self.runs.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let hash_text = stored.unwrap_or_else(|| decoy.as_str().to_owned());
            let matches = verify_blocking(&password, &hash_text, &memory)?;
            Ok(known && matches)
        })
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn memory(keep: usize) -> Memory {
        Memory {
            free: Mutex::new(Vec::new()),
            keep,
        }
    }

    #[test]
    fn hashes_read_and_check_like_the_argon2_crate_s_own() {
        let memory = memory(1);
        let ours = hash_blocking("a long passphrase", &memory).unwrap();
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"a long passphrase", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"another phrase", &parsed)
                .is_err()
        );

        // Hashes stored before (made by the crate's own hasher) still check.
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let theirs = Argon2::default()
            .hash_password(b"a long passphrase", &salt)
            .unwrap()
            .to_string();
        assert!(verify_blocking("a long passphrase", &theirs, &memory).unwrap());
        assert!(!verify_blocking("a long passphrasE", &theirs, &memory).unwrap());
        // Other parameters and variants, as the stored string names them.
        let other = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(4096, 3, 1, None).unwrap(),
        )
        .hash_password(b"old password", &salt)
        .unwrap()
        .to_string();
        assert!(verify_blocking("old password", &other, &memory).unwrap());
        assert!(!verify_blocking("old passwort", &other, &memory).unwrap());
        assert!(verify_blocking("x", "not a hash", &memory).is_err());
    }

    #[test]
    fn working_memory_is_kept_and_reused_up_to_the_limit() {
        let memory = memory(2);
        let blocks = Params::default().block_count();
        let (a, b, c) = (
            memory.take(blocks),
            memory.take(blocks),
            memory.take(blocks),
        );
        let a_at = a.as_ptr();
        memory.give_back(a);
        memory.give_back(b);
        memory.give_back(c);
        assert_eq!(
            memory.free.lock().unwrap().len(),
            2,
            "never more than the limit"
        );
        // A hash takes a kept buffer and puts it back.
        hash_blocking("a long passphrase", &memory).unwrap();
        let kept: Vec<*const Block> = memory
            .free
            .lock()
            .unwrap()
            .iter()
            .map(|buffer| buffer.as_ptr())
            .collect();
        assert_eq!(kept.len(), 2);
        assert!(
            kept.contains(&a_at),
            "the kept buffers are reused, not replaced"
        );
    }
}
