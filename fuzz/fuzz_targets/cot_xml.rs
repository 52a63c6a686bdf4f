//! CoT XML events (cot::xml). The body is `entry::cot_xml` (fuzz/entry.rs), which
//! tests/fuzz_corpus.rs also replays over the committed corpus on stable.
#![no_main]

#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::cot_xml(data));
