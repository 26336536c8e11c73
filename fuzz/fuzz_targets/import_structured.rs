//! Export documents built from the fuzzer's bytes (nearly valid records,
//! colliding ids, edge stamps and times), imported into an empty journal.
#![no_main]

use arbitrary::Unstructured;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(document) = journal_fuzz::structured::export_document(&mut u) else {
        return;
    };
    let queue = u.arbitrary::<bool>().unwrap_or(false);
    journal_fuzz::import::check_document(&document, queue);
});
