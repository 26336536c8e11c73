//! The sync protocol, shared by the phone and the server: the JSON of push
//! and pull ([`wire`]) and the conflict rules ([`merge`]) as pure functions,
//! so both sides decide a conflict the same way. `docs/sync.md` describes
//! the protocol as a whole.

pub mod merge;
pub mod wire;

pub use merge::{FieldStamps, Incoming, IncomingOp, LostText, Resolution, Stamp, Stored, resolve};
pub use wire::*;
