//! Sync, on the server's side: a patient's devices push their changes
//! ([`incoming`]) and pull everyone else's ([`outgoing`]); [`devices`]
//! keeps who each device is and what it was answered; [`write`] writes
//! what journal-core's conflict rules decided, for pushes and REST edits
//! alike. The JSON is journal-core's `sync::wire`; conflicts are decided
//! by journal-core's `resolve`, the very function the phone calls, never
//! here.

pub mod devices;
pub mod incoming;
pub mod outgoing;
pub mod write;
