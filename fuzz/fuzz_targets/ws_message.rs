//! WebSocket client messages (hub::message::parse_client). The body is `entry::ws_message` (fuzz/entry.rs), which
//! tests/fuzz_corpus.rs also replays over the committed corpus on stable.
#![no_main]

#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::ws_message(data));
