//! The CoT XML reader must turn any bytes into an event or an error, never a panic; an event it
//! accepts must survive a round trip through the writer.
#![no_main]

use cmcop::cot::xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = xml::parse_event(data) {
        let text = xml::to_xml(&ev);
        let again = xml::parse_event(text.as_bytes()).expect("what we write, we read");
        assert_eq!(again.uid, ev.uid);
    }
});
