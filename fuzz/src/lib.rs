//! What the fuzz targets check, shared by the byte-level and the structured
//! targets: every input must be refused with a typed error or accepted
//! whole, and nothing may panic. A panic or a failed assertion here is a
//! finding.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod import;
pub mod push;
pub mod structured;
