//! journal-mobile: the journal for Kotlin, Swift and Python apps.
//!
//! A thin façade over journal-core's device store and sync client, exposed
//! through uniffi as one `Journal` object, plain records and one error enum.
//! Until the bindings are generated, Rust apps and tests use the device store
//! re-exported here.

pub use journal_core::store::{JournalStore, StoreError};
