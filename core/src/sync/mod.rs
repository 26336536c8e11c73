//! The sync protocol, shared by the phone and the server: the JSON of push
//! and pull ([`wire`]) and the conflict rules ([`merge`]) as pure functions,
//! so both sides decide a conflict the same way. `docs/sync.md` describes
//! the protocol as a whole.
//!
//! With the `device` feature, the phone's side too: [`SyncClient`] runs a
//! sync ([`client`]) through a [`Transport`] ([`transport`]), over HTTP in
//! the app ([`HttpTransport`], [`http`]).

#[cfg(feature = "device")]
pub mod client;
#[cfg(feature = "device")]
pub mod http;
pub mod merge;
#[cfg(feature = "device")]
pub mod transport;
pub mod wire;

#[cfg(feature = "device")]
pub use client::{
    Account, CareLink, MAX_PUSH_BYTES, Party, Policy, REFRESH_TOKEN_KEY, SyncClient, SyncError,
    SyncReport, is_unusable_invitation, request_password_reset, reset_password,
};
#[cfg(feature = "device")]
pub use http::HttpTransport;
pub use merge::{FieldStamps, Incoming, IncomingOp, LostText, Resolution, Stamp, Stored, resolve};
#[cfg(feature = "device")]
pub use transport::{InMemorySecrets, SecretStore, Tokens, Transport, TransportError};
pub use wire::*;
