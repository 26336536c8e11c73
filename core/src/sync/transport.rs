//! Everything the phone says to the server goes through [`Transport`], so
//! tests can put a faulty network (or an in-memory server) between devices
//! and the server; [`super::HttpTransport`] is the real one. Secrets the
//! phone keeps between launches go through [`SecretStore`], which apps back
//! with the Keychain or the Keystore.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use super::wire::{OwnerVersion, PullResponse, PushRequest, PushResponse};
use crate::ids::DeviceId;

/// The calls the sync client makes to the server. Blocking: call it off the
/// UI thread.
pub trait Transport: Send + Sync {
    /// Signs in with email and password (`POST /api/v1/auth/login`).
    fn sign_in(&self, email: &str, password: &str) -> Result<Tokens, TransportError>;

    /// Exchanges a refresh token for new tokens (`POST /api/v1/auth/refresh`).
    /// The old refresh token is spent: keep the new one.
    fn refresh(&self, refresh_token: &str) -> Result<Tokens, TransportError>;

    /// Sends a batch of local changes (`POST /api/v1/sync/push`).
    fn push(
        &self,
        access_token: &str,
        request: &PushRequest,
    ) -> Result<PushResponse, TransportError>;

    /// Asks for the changes after `since`, at most `limit` of them
    /// (`GET /api/v1/sync/pull`).
    fn pull(
        &self,
        access_token: &str,
        since: OwnerVersion,
        limit: u32,
        device: DeviceId,
    ) -> Result<PullResponse, TransportError>;

    /// Any other call of the REST API — the account and care-link calls of
    /// [`super::SyncClient`]: `method` (`GET`, `POST`, `PATCH`, `DELETE`)
    /// on `path` under `/api/v1`, with the access token when given and a
    /// JSON body; answers the JSON of a success (`Null` for 204).
    ///
    /// The default answers that this transport makes sync calls only, so
    /// transports made for sync tests need not implement it.
    fn call(
        &self,
        method: &str,
        path: &str,
        access_token: Option<&str>,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, TransportError> {
        let _ = (access_token, body);
        Err(TransportError::Protocol(format!(
            "this transport makes sync calls only, not {method} {path}"
        )))
    }
}

/// The tokens a sign-in or a refresh hands out. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Sent as `Authorization: Bearer …`; short-lived.
    pub access_token: String,
    /// Single use: exchanged for new tokens when the access token expires.
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("access_token", &"<redacted>")
            .field("refresh_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Why a call to the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The server could not be reached or did not answer in time. Nothing
    /// is known about whether it received the request; trying again later
    /// is safe.
    #[error("the server cannot be reached: {0}")]
    Network(String),
    /// The token or the credentials were refused (HTTP 401).
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// The server answered and said no (any other 4xx or 5xx), with its
    /// problem document's `type` and `detail`.
    #[error("the server refused the request ({status} {problem_type}): {detail}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The problem's stable type, e.g. `urn:kap-journal:problem:validation`.
        problem_type: String,
        /// What the server said went wrong.
        detail: String,
        /// Seconds to wait before trying again (`Retry-After`), when said.
        retry_after: Option<u64>,
        /// For invalid input: every broken rule, by field.
        violations: Vec<crate::validation::FieldViolation>,
    },
    /// The server's answer could not be read (not the JSON expected).
    #[error("the server's answer cannot be read: {0}")]
    Protocol(String),
}

/// Where the phone keeps secrets between launches (the refresh token). Apps
/// implement it over the iOS Keychain or the Android Keystore; never the
/// journal database.
pub trait SecretStore: Send + Sync {
    /// The secret under `key`, if any.
    fn get(&self, key: &str) -> Option<String>;
    /// Keeps `value` under `key`, replacing what was there.
    fn set(&self, key: &str, value: &str);
    /// Forgets the secret under `key` (nothing happens if there is none).
    fn remove(&self, key: &str);
}

/// A [`SecretStore`] in memory, for tests and tools: forgotten when dropped.
#[derive(Default)]
pub struct InMemorySecrets {
    secrets: Mutex<HashMap<String, String>>,
}

impl InMemorySecrets {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic elsewhere while holding the lock leaves the map whole.
        self.secrets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl fmt::Debug for InMemorySecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<String> = self.map().keys().cloned().collect();
        keys.sort();
        f.debug_struct("InMemorySecrets")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl SecretStore for InMemorySecrets {
    fn get(&self, key: &str) -> Option<String> {
        self.map().get(key).cloned()
    }

    fn set(&self, key: &str, value: &str) {
        self.map().insert(key.to_owned(), value.to_owned());
    }

    fn remove(&self, key: &str) {
        self.map().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_memory_secrets_keep_replace_and_forget() {
        let secrets = InMemorySecrets::new();
        assert_eq!(secrets.get("k"), None);
        secrets.set("k", "one");
        secrets.set("k", "two");
        assert_eq!(secrets.get("k").as_deref(), Some("two"));
        assert!(
            !format!("{secrets:?}").contains("two"),
            "Debug shows no secret"
        );
        secrets.remove("k");
        secrets.remove("k");
        assert_eq!(secrets.get("k"), None);
    }

    #[test]
    fn tokens_do_not_show_in_debug() {
        let tokens = Tokens {
            access_token: "secret-access".into(),
            refresh_token: "secret-refresh".into(),
            expires_in: 900,
        };
        let shown = format!("{tokens:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }
}
