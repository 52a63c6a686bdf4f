//! The stream framer must accept any bytes cut anywhere, in either mode, keep its buffer
//! bounded, and never panic.
#![no_main]

use cmcop::cot::stream::{Frame, Mode, StreamReader};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let mut reader = StreamReader::new(LIMIT);
    if first & 1 == 1 {
        reader.set_mode(Mode::Protobuf);
    }
    // The first byte also picks the chunk size, so splits land everywhere.
    let chunk = usize::from(first >> 1).max(1);
    for piece in rest.chunks(chunk) {
        reader.push(piece);
        while let Some(frame) = reader.next_frame() {
            if let Frame::Xml(bytes) = frame {
                let _ = cmcop::cot::xml::parse_event(&bytes);
            }
        }
        assert!(reader.buffered() <= LIMIT + chunk + 16);
    }
});
