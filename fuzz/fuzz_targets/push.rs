//! Arbitrary bytes as the body of a sync push: decoded, validated and
//! resolved as the server does (see `journal_fuzz::push`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| journal_fuzz::push::check_bytes(data));
