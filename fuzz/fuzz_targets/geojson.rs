//! GeoJSON request bodies: create (parse_feature) and merge patch (parse_patch). The body is `entry::geojson` (fuzz/entry.rs), which
//! tests/fuzz_corpus.rs also replays over the committed corpus on stable.
#![no_main]

#[path = "../entry.rs"]
mod entry;

libfuzzer_sys::fuzz_target!(|data: &[u8]| entry::geojson(data));
