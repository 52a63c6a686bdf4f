//! How a connection's frames look on the wire (issue #9): JSON text (the default), protobuf
//! (`proto/hub.proto`), and either one compressed with DEFLATE, chosen by WebSocket subprotocol.
//!
//! Every encoding of a change is made once per view and shared, like the JSON bytes the hub
//! renders: `Shared` holds the JSON message and fills its other encodings lazily, on first use
//! by any subscriber of that view. A frame of several changes is put together from the shared
//! pieces without re-encoding: a protobuf `batch` by concatenating length-prefixed messages, a
//! compressed frame by concatenating independently compressed DEFLATE segments (each ends on a
//! byte boundary with a sync flush and uses no history from another, which is what lets them
//! be shared) and ending the stream with an empty final block. Each compressed frame is thus a
//! complete raw DEFLATE stream (RFC 1951) that any inflater decodes on its own.
//!
//! Why a subprotocol and not permessage-deflate (RFC 7692): the tungstenite versions under axum
//! (0.29) and in the tests (0.26) implement no WebSocket extension; they refuse frames with
//! reserved bits set and axum gives no way to send one. The scheme here costs the same CPU (one
//! compression per view) and a few bytes per segment. Pure.

use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, LazyLock, OnceLock};

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};

use super::protobuf;
use super::Out;

/// The subprotocols a client may ask for, in the server's order of preference when a client
/// offers several (the smallest on the wire first). Without any, the connection speaks JSON.
pub const SUBPROTOCOLS: [&str; 4] = [
    "cmcop.v1.protobuf+deflate",
    "cmcop.v1.json+deflate",
    "cmcop.v1.protobuf",
    "cmcop.v1.json",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Json,
    Protobuf,
}

/// What a connection speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Wire {
    pub encoding: Encoding,
    pub deflate: bool,
}

impl Wire {
    /// The wire of a negotiated subprotocol; JSON for none or one we do not know.
    pub fn from_subprotocol(name: Option<&str>) -> Wire {
        let (encoding, deflate) = match name {
            Some("cmcop.v1.json+deflate") => (Encoding::Json, true),
            Some("cmcop.v1.protobuf") => (Encoding::Protobuf, false),
            Some("cmcop.v1.protobuf+deflate") => (Encoding::Protobuf, true),
            _ => (Encoding::Json, false),
        };
        Wire { encoding, deflate }
    }

    pub fn name(&self) -> &'static str {
        match (self.encoding, self.deflate) {
            (Encoding::Json, false) => "cmcop.v1.json",
            (Encoding::Json, true) => "cmcop.v1.json+deflate",
            (Encoding::Protobuf, false) => "cmcop.v1.protobuf",
            (Encoding::Protobuf, true) => "cmcop.v1.protobuf+deflate",
        }
    }

    /// One message given as JSON (a snapshot, an error, a pong), in this wire's form.
    pub fn single(&self, json: String) -> WireFrame {
        match (self.encoding, self.deflate) {
            (Encoding::Json, false) => WireFrame::Text(Bytes::from(json)),
            (Encoding::Json, true) => WireFrame::Binary(deflate_whole(json.as_bytes()).into()),
            (Encoding::Protobuf, deflate) => {
                let encoded = protobuf_of(json.as_bytes());
                if deflate {
                    WireFrame::Binary(deflate_whole(&encoded).into())
                } else {
                    WireFrame::Binary(encoded)
                }
            }
        }
    }

    /// Changes from the outbox as one frame: the message itself, or a `batch` of them.
    pub fn frame(&self, outs: &[Out]) -> WireFrame {
        match (self.encoding, self.deflate) {
            (Encoding::Json, false) => WireFrame::Text(super::message::frame(outs)),
            (Encoding::Protobuf, false) => match outs {
                [one] => WireFrame::Binary(one.bytes.protobuf().clone()),
                _ => {
                    let parts: Vec<&[u8]> = outs.iter().map(|o| &o.bytes.protobuf()[..]).collect();
                    WireFrame::Binary(protobuf::batch_of(&parts).into())
                }
            },
            (Encoding::Json, true) => {
                let mut out = Vec::new();
                match outs {
                    [one] => out.extend_from_slice(one.bytes.json_deflated()),
                    _ => {
                        out.extend_from_slice(&JSON_BATCH_HEAD);
                        for (i, o) in outs.iter().enumerate() {
                            if i > 0 {
                                out.extend_from_slice(&JSON_COMMA);
                            }
                            out.extend_from_slice(o.bytes.json_deflated());
                        }
                        out.extend_from_slice(&JSON_BATCH_TAIL);
                    }
                }
                out.extend_from_slice(&FINAL_BLOCK);
                WireFrame::Binary(out.into())
            }
            (Encoding::Protobuf, true) => {
                let mut out = Vec::new();
                match outs {
                    [one] => out.extend_from_slice(one.bytes.protobuf_deflated()),
                    _ => {
                        let inner: usize = outs
                            .iter()
                            .map(|o| {
                                let n = o.bytes.protobuf().len();
                                1 + prost::length_delimiter_len(n) + n
                            })
                            .sum();
                        out.extend_from_slice(&segment(&protobuf::batch_head(inner)));
                        for o in outs {
                            out.extend_from_slice(o.bytes.protobuf_element_deflated());
                        }
                    }
                }
                out.extend_from_slice(&FINAL_BLOCK);
                WireFrame::Binary(out.into())
            }
        }
    }
}

/// A frame ready for the socket. The bytes may be shared with other connections (a
/// snapshot's parts are); a `Text` frame's bytes are always UTF-8.
#[derive(Debug, PartialEq, Eq)]
pub enum WireFrame {
    Text(Bytes),
    Binary(Bytes),
}

impl WireFrame {
    pub fn len(&self) -> usize {
        match self {
            WireFrame::Text(t) => t.len(),
            WireFrame::Binary(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One encoded change, shared by every subscriber of a view: the JSON message, and its other
/// encodings made on first use.
#[derive(Clone)]
pub struct Shared(Arc<Encodings>);

struct Encodings {
    /// The JSON message; for an upsert, rendered from `shown` on first use.
    json: OnceLock<Bytes>,
    shown: Option<(u64, Arc<super::Shown>)>,
    protobuf: OnceLock<Bytes>,
    json_deflated: OnceLock<Bytes>,
    protobuf_deflated: OnceLock<Bytes>,
    protobuf_element_deflated: OnceLock<Bytes>,
}

impl Shared {
    /// An upsert of `shown` at `seq`, its JSON rendered when first asked for.
    pub fn upsert(seq: u64, shown: Arc<super::Shown>) -> Shared {
        Shared::new(OnceLock::new(), Some((seq, shown)))
    }

    fn new(json: OnceLock<Bytes>, shown: Option<(u64, Arc<super::Shown>)>) -> Shared {
        Shared(Arc::new(Encodings {
            json,
            shown,
            protobuf: OnceLock::new(),
            json_deflated: OnceLock::new(),
            protobuf_deflated: OnceLock::new(),
            protobuf_element_deflated: OnceLock::new(),
        }))
    }

    pub fn json(&self) -> &Bytes {
        self.0.json.get_or_init(|| match &self.0.shown {
            Some((seq, shown)) => super::message::upsert(*seq, &shown.item, &shown.view),
            None => Bytes::new(),
        })
    }

    pub fn protobuf(&self) -> &Bytes {
        self.0.protobuf.get_or_init(|| protobuf_of(self.json()))
    }

    /// About how many bytes this message holds for a subscriber, without rendering anything:
    /// the JSON when it is rendered, else the channel encoding the hub rendered (CoT), else a
    /// typical item's size. Memory budgets count with it (`hub::outbox`).
    pub fn size_hint(&self) -> usize {
        if let Some(json) = self.0.json.get() {
            return json.len();
        }
        match &self.0.shown {
            Some((_, shown)) => shown.size_hint(),
            None => 0,
        }
    }

    /// The JSON message as one DEFLATE segment.
    pub fn json_deflated(&self) -> &Bytes {
        self.0
            .json_deflated
            .get_or_init(|| Bytes::from(segment(self.json())))
    }

    /// The protobuf message as one DEFLATE segment.
    pub fn protobuf_deflated(&self) -> &Bytes {
        self.0
            .protobuf_deflated
            .get_or_init(|| Bytes::from(segment(self.protobuf())))
    }

    /// The protobuf message as an element of a `batch`, as one DEFLATE segment.
    pub fn protobuf_element_deflated(&self) -> &Bytes {
        self.0
            .protobuf_element_deflated
            .get_or_init(|| Bytes::from(segment(&protobuf::batch_element(self.protobuf()))))
    }
}

impl From<Bytes> for Shared {
    fn from(json: Bytes) -> Shared {
        Shared::new(OnceLock::from(json), None)
    }
}

impl std::ops::Deref for Shared {
    type Target = Bytes;

    fn deref(&self) -> &Bytes {
        self.json()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Shared").field(self.json()).finish()
    }
}

/// The protobuf twin of a JSON message built by `hub::message`. Those always convert; should
/// one not, it travels as an `error` rather than not at all.
pub(crate) fn protobuf_of(json: &[u8]) -> Bytes {
    protobuf::encode_json_message(json).unwrap_or_else(|e| {
        tracing::error!(error = %e, "a hub message did not convert to protobuf");
        let err = super::message::error("internal", "a message could not be encoded");
        protobuf::encode_json_message(err.as_bytes()).unwrap_or_default()
    })
}

/// The DEFLATE level: zlib's default, the usual balance of CPU and size (BENCHMARKS.md).
const LEVEL: u32 = 6;

/// `data` as a DEFLATE segment: compressed with no history, ended by a sync flush (so it ends
/// on a byte boundary, with no final block) and ready to be followed by another segment.
pub fn segment(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(LEVEL), false);
    // Room for incompressible input (stored blocks) and the flush marker, so one call does it.
    let mut out = Vec::with_capacity(data.len() + data.len() / 1000 + 64);
    loop {
        let consumed = c.total_in() as usize;
        if c.compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .is_err()
        {
            // Cannot happen with a fresh stream; an empty segment keeps the frame decodable.
            return Vec::new();
        }
        // The flush is complete when all input is in and the output did not run out of room.
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity().max(64));
    }
}

/// `data` as a complete raw DEFLATE stream (a single message in a compressed frame).
pub fn deflate_whole(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(data.len() / 4 + 64),
        Compression::new(LEVEL),
    );
    // Writing to a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// An empty fixed-Huffman block with BFINAL set: ends a stream of sync-flushed segments.
pub const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

static JSON_BATCH_HEAD: LazyLock<Vec<u8>> =
    LazyLock::new(|| segment(br#"{"type":"batch","messages":["#));
static JSON_COMMA: LazyLock<Vec<u8>> = LazyLock::new(|| segment(b","));
static JSON_BATCH_TAIL: LazyLock<Vec<u8>> = LazyLock::new(|| segment(b"]}"));

/// Inflates one compressed frame (a complete raw DEFLATE stream): for tests and tools.
pub fn inflate(frame: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(frame).read_to_end(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;
    use serde_json::Value;

    fn out(seq: u64, json: String) -> Out {
        Out {
            seq,
            id: Arc::from(format!("i{seq}")),
            bytes: Bytes::from(json).into(),
            shown: None,
        }
    }

    fn sample() -> Vec<Out> {
        (1..=3)
            .map(|s| {
                out(
                    s,
                    format!(
                        r#"{{"type":"upsert","seq":{s},"feature":{{"type":"Feature","id":"i{s}","geometry":{{"type":"Point","coordinates":[43.5,36.25]}},"properties":{{"layer":"incidents","version":{s},"description":"{}"}}}}}}"#,
                        "x".repeat(200)
                    ),
                )
            })
            .collect()
    }

    fn decoded(wire: Wire, frame: WireFrame) -> Value {
        match (wire.encoding, frame) {
            (Encoding::Json, WireFrame::Text(t)) => serde_json::from_slice(&t).unwrap(),
            (Encoding::Json, WireFrame::Binary(b)) => {
                serde_json::from_slice(&inflate(&b).unwrap()).unwrap()
            }
            (Encoding::Protobuf, WireFrame::Binary(b)) => {
                let raw = if wire.deflate {
                    inflate(&b).unwrap()
                } else {
                    b.to_vec()
                };
                protobuf::to_json(&protobuf::ServerMessage::decode(raw.as_slice()).unwrap())
            }
            (_, f) => panic!("{wire:?} sent {f:?}"),
        }
    }

    #[test]
    fn every_wire_carries_the_same_messages() {
        let outs = sample();
        let json = Wire::default();
        for name in SUBPROTOCOLS {
            let wire = Wire::from_subprotocol(Some(name));
            assert_eq!(wire.name(), name);
            for n in [1, 3] {
                let frame = wire.frame(&outs[..n]);
                assert_eq!(
                    decoded(wire, frame),
                    decoded(json, json.frame(&outs[..n])),
                    "{name}, {n} messages"
                );
            }
            let pong = super::super::message::pong();
            assert_eq!(
                decoded(wire, wire.single(pong.clone())),
                serde_json::from_str::<Value>(&pong).unwrap()
            );
        }
    }

    #[test]
    fn compressed_pieces_are_shared_and_smaller() {
        let outs = sample();
        let a = outs[0].bytes.json_deflated().as_ptr();
        let copy = outs[0].clone();
        assert_eq!(copy.bytes.json_deflated().as_ptr(), a, "encoded once");
        let plain = Wire::default().frame(&outs).len();
        let wire = Wire::from_subprotocol(Some("cmcop.v1.json+deflate"));
        let small = wire.frame(&outs).len();
        assert!(small * 2 < plain, "{small} vs {plain}");
    }
}
