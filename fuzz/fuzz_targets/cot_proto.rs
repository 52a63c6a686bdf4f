//! The TAK protocol readers (stream payload, mesh datagram, any datagram) must turn any bytes
//! into a message or an error, never a panic, and so must the conversion to the XML wire struct.
#![no_main]

use cmcop::cot::{proto, stream};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stream::decode_datagram(data);
    for msg in [proto::decode_payload(data), proto::decode_mesh(data)]
        .into_iter()
        .flatten()
    {
        if let Some(ev) = msg.cot_event {
            let _ = proto::from_proto(&ev);
        }
    }
});
