//! The CoT stream framer, both modes, cut anywhere (cot::stream). The body is `entry::cot_stream` (fuzz/entry.rs), which
//! tests/fuzz_corpus.rs also replays over the committed corpus on stable.
#![no_main]

#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::cot_stream(data));
