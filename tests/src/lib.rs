//! journal-e2e: tests of flows that cross crates — a real server on a
//! loopback port, several devices with their own device stores, a
//! therapist. The tests live in `tests/tests/`; this library holds what they
//! share.

pub use journal_core as core;
