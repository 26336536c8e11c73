//! Pushes built from the fuzzer's bytes (nearly valid content, colliding
//! record ids, tied and extreme stamps) from up to three devices, resolved
//! one after the other against the same records.
#![no_main]

use arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut pushes = Vec::new();
    for _ in 0..3 {
        match journal_fuzz::structured::push_request(&mut u) {
            Ok(push) => pushes.push(push),
            Err(_) => break,
        }
    }
    journal_fuzz::push::check_requests(&pushes);
});
