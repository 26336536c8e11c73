//! Arbitrary bytes as an export document, imported into an empty journal
//! (see `journal_fuzz::import`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| journal_fuzz::import::check_bytes(data));
