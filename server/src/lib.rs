//! journal-server: the REST API that phones sync with and therapists read
//! from (actix-web, diesel on PostgreSQL or embedded SQLite).
//!
//! It validates every record with journal-core's rules, so the phone and the
//! server can never disagree on what is valid. The HTTP layer, accounts,
//! sync and therapist review are built on top of this crate in the server,
//! sync and sharing work items; see `docs/` and `../shared/DESIGN.md`.

pub use journal_core as core;
