//! The fuzz corpus on stable (issue #7.4): every file under `fuzz/corpus/<target>/` (what the
//! cargo-fuzz runs kept, minimised, including every input that once found a bug) goes through
//! the same entry point as the fuzz target (`fuzz/entry.rs`). A panic fails the test and names
//! the file. Runs in the plain `cargo test`, without nightly; see RELIABILITY.md for the runs.

#[path = "../fuzz/entry.rs"]
mod entry;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = corpus(target);
    for path in &files {
        let data = std::fs::read(path).expect("a corpus file reads");
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} makes the entry point panic",
            path.display()
        );
    }
    eprintln!("{target}: {} corpus files replayed", files.len());
}

#[test]
fn cot_xml_corpus() {
    replay("cot_xml", entry::cot_xml);
}

#[test]
fn cot_proto_corpus() {
    replay("cot_proto", entry::cot_proto);
}

#[test]
fn cot_stream_corpus() {
    replay("cot_stream", entry::cot_stream);
}

#[test]
fn geojson_corpus() {
    replay("geojson", entry::geojson);
}

#[test]
fn ws_message_corpus() {
    replay("ws_message", entry::ws_message);
}
