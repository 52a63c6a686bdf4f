//! Framing of a CoT stream: arbitrary byte chunks in, whole messages out.
//!
//! A connection starts in XML, where a message runs from `<event` to the first `</event>`
//! after it; whitespace, XML declarations and comments between events are skipped silently,
//! anything else is garbage, skipped and reported so the connection can count it. After the
//! TAK protocol negotiation the stream carries protobuf: `0xBF`, a varint length, the payload;
//! bytes that do not start a message are garbage up to the next `0xBF`. The buffer is bounded:
//! a message longer than `max_message` is dropped as garbage. A datagram (UDP) holds one
//! message, a mesh TAK message or an XML event: `decode_datagram`. Pure: no IO; the parsing of
//! what a frame holds is `xml` and `proto`'s job.

use super::proto::{decode_mesh, from_proto, read_varint, MAGIC};
use super::xml::{parse_event, CotError, CotEvent};

/// How the stream is encoded at the moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Xml,
    Protobuf,
}

/// What the reader found next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// The bytes of one `<event>...</event>`.
    Xml(Vec<u8>),
    /// The payload of one TAK protocol message (a `TakMessage`).
    Protobuf(Vec<u8>),
    /// Bytes that were no message, skipped.
    Garbage { bytes: usize, reason: &'static str },
}

/// An incremental reader: `push` what the socket gave, then take frames with `next_frame`
/// until it says `None`.
#[derive(Debug)]
pub struct StreamReader {
    buf: Vec<u8>,
    mode: Mode,
    max_message: usize,
    /// Where to resume looking for `</event>` in the current XML message.
    scan_from: usize,
    /// The rest of an XML event over the limit is being dropped, up to its end tag: it was
    /// reported once, as one bad frame, and the stream goes on after it.
    skipping: bool,
    /// Bytes of a TAK message over the limit still to drop (reported once).
    skip_bytes: usize,
}

const EVENT_OPEN: &[u8] = b"<event";
const EVENT_CLOSE: &[u8] = b"</event";

impl StreamReader {
    pub fn new(max_message: usize) -> StreamReader {
        StreamReader {
            buf: Vec::new(),
            mode: Mode::Xml,
            max_message: max_message.max(64),
            scan_from: 0,
            skipping: false,
            skip_bytes: 0,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Switches the encoding for what follows (bytes already buffered included).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        self.scan_from = 0;
        self.skipping = false;
        self.skip_bytes = 0;
    }

    /// Bytes held, waiting for the rest of a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        match self.mode {
            Mode::Xml => self.next_xml(),
            Mode::Protobuf => self.next_protobuf(),
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        // Taking nothing moves nothing: the scan position still holds (and a large event
        // arriving in many reads is not copied and rescanned from its start on each one).
        if n == 0 {
            return Vec::new();
        }
        let rest = self.buf.split_off(n);
        self.scan_from = 0;
        std::mem::replace(&mut self.buf, rest)
    }

    fn garbage(&mut self, n: usize, reason: &'static str) -> Option<Frame> {
        self.take(n);
        Some(Frame::Garbage { bytes: n, reason })
    }

    fn next_xml(&mut self) -> Option<Frame> {
        if self.skipping && !self.skip_rest() {
            return None;
        }
        // Skip what may lie between events; stop at the start of an event, or at garbage.
        let mut skipped = 0usize;
        loop {
            let rest = &self.buf[skipped..];
            let ws = rest
                .iter()
                .take_while(|b| b.is_ascii_whitespace() || **b == 0)
                .count();
            skipped += ws;
            let rest = &self.buf[skipped..];
            if rest.is_empty() {
                self.take(skipped);
                return None;
            }
            if rest[0] != b'<' {
                // Garbage runs to the next '<' (or to the end of what we have).
                let n = rest.iter().position(|b| *b == b'<').unwrap_or(rest.len());
                self.take(skipped);
                return self.garbage(n, "bytes between events");
            }
            if let Some(end) = prolog_end(rest) {
                match end {
                    Some(n) => {
                        skipped += n;
                        continue;
                    }
                    None if rest.len() > self.max_message => {
                        self.take(skipped);
                        let n = self.buf.len();
                        return self.garbage(n, "unterminated declaration or comment");
                    }
                    None => {
                        self.take(skipped);
                        return None;
                    }
                }
            }
            if rest.len() < EVENT_OPEN.len() + 1 {
                // Maybe the start of an event: wait, unless it cannot be one.
                if EVENT_OPEN.starts_with(&rest[..rest.len().min(EVENT_OPEN.len())]) {
                    self.take(skipped);
                    return None;
                }
            } else if rest.starts_with(EVENT_OPEN) && is_name_end(rest[EVENT_OPEN.len()]) {
                self.take(skipped);
                return self.event_frame();
            }
            // Another element where an event should start: garbage up to the next '<'.
            let n = rest[1..]
                .iter()
                .position(|b| *b == b'<')
                .map(|p| p + 1)
                .unwrap_or(rest.len());
            self.take(skipped);
            return self.garbage(n, "an element that is not an event");
        }
    }

    /// The buffer starts with `<event`: find its end.
    fn event_frame(&mut self) -> Option<Frame> {
        loop {
            let from = self.scan_from.max(EVENT_OPEN.len());
            let hay = &self.buf[from.min(self.buf.len())..];
            // A new `<event` before any `</event>` means the first one was never closed.
            let close = find(hay, EVENT_CLOSE).map(|p| p + from);
            let reopen = find(hay, EVENT_OPEN).map(|p| p + from).filter(|p| {
                self.buf
                    .get(p + EVENT_OPEN.len())
                    .is_some_and(|b| is_name_end(*b))
            });
            match (close, reopen) {
                (Some(c), Some(o)) if o < c => {
                    return self.garbage(o, "an event that was never closed")
                }
                (None, Some(o)) => return self.garbage(o, "an event that was never closed"),
                (Some(c), _) => {
                    // `</event` then optional whitespace then `>`.
                    let after = c + EVENT_CLOSE.len();
                    let tail = &self.buf[after..];
                    let ws = tail.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    match tail.get(ws) {
                        // An event that arrived whole in one read is held to the limit too.
                        Some(b'>') if after + ws + 1 > self.max_message => {
                            return self.garbage(after + ws + 1, "an event longer than the limit")
                        }
                        Some(b'>') => return Some(Frame::Xml(self.take(after + ws + 1))),
                        // `</events` or similar is not the end tag: look on after it.
                        Some(_) => self.scan_from = after,
                        None => return self.wait_or_drop(c),
                    }
                }
                (None, None) => {
                    // Keep the last bytes: `</event` may be split across reads.
                    self.scan_from = self.buf.len().saturating_sub(EVENT_CLOSE.len() + 1);
                    return self.wait_or_drop(self.scan_from);
                }
            }
        }
    }

    /// Waits for more of the event, unless it is over the limit already: then it is one bad
    /// frame, and what is left of it is dropped as it arrives, up to its end tag, without
    /// counting again (`skip_rest`). `keep_from` is where an end tag may be starting.
    fn wait_or_drop(&mut self, keep_from: usize) -> Option<Frame> {
        if self.buf.len() > self.max_message {
            self.skipping = true;
            let n = keep_from.max(1);
            return self.garbage(n, "an event longer than the limit");
        }
        None
    }

    /// Drops the rest of an over-limit event up to the end of its `</event>` (or up to the
    /// next `<event`, should it never close); true once that end is found.
    fn skip_rest(&mut self) -> bool {
        let mut from = 0;
        loop {
            let hay = &self.buf[from..];
            let close = find(hay, EVENT_CLOSE).map(|p| p + from);
            let reopen = find(hay, EVENT_OPEN).map(|p| p + from).filter(|p| {
                self.buf
                    .get(p + EVENT_OPEN.len())
                    .is_some_and(|b| is_name_end(*b))
            });
            match (close, reopen) {
                (Some(c), Some(o)) if o < c => {
                    self.take(o);
                    self.skipping = false;
                    return true;
                }
                (None, Some(o)) => {
                    self.take(o);
                    self.skipping = false;
                    return true;
                }
                (Some(c), _) => {
                    let after = c + EVENT_CLOSE.len();
                    let ws = self.buf[after..]
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                    match self.buf.get(after + ws) {
                        Some(b'>') => {
                            self.take(after + ws + 1);
                            self.skipping = false;
                            return true;
                        }
                        Some(_) => from = after,
                        // The end tag's `>` has not arrived: keep the tag (a little space
                        // after it at most), drop what came before.
                        None => {
                            let keep_from = if ws > 64 { after + ws } else { c };
                            self.take(keep_from);
                            return false;
                        }
                    }
                }
                (None, None) => {
                    // Keep the last bytes: `</event` or `<event` may be split across reads.
                    let n = self.buf.len().saturating_sub(EVENT_CLOSE.len() + 1);
                    self.take(n);
                    return false;
                }
            }
        }
    }

    fn next_protobuf(&mut self) -> Option<Frame> {
        if self.skip_bytes > 0 {
            let n = self.skip_bytes.min(self.buf.len());
            self.take(n);
            self.skip_bytes -= n;
            if self.skip_bytes > 0 {
                return None;
            }
        }
        // Whitespace cannot start a TAK message; a newline after the last XML message of the
        // negotiation may still be on its way, and is no garbage.
        let ws = self
            .buf
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if ws > 0 {
            self.take(ws);
        }
        if self.buf.is_empty() {
            return None;
        }
        if self.buf[0] != MAGIC {
            let n = self
                .buf
                .iter()
                .position(|b| *b == MAGIC)
                .unwrap_or(self.buf.len());
            return self.garbage(n, "bytes that do not start a TAK message");
        }
        match read_varint(&self.buf[1..]) {
            Err(_) => self.garbage(1, "a TAK message length that is not a varint"),
            Ok(None) => None,
            Ok(Some((len, used))) => {
                if len > u32::MAX as u64 {
                    return self.garbage(1 + used, "a TAK message length beyond any message");
                }
                if len as usize > self.max_message {
                    // One bad frame: its payload is dropped as it arrives, uncounted.
                    self.skip_bytes = len as usize;
                    return self.garbage(1 + used, "a TAK message longer than the limit");
                }
                let total = 1 + used + len as usize;
                if self.buf.len() < total {
                    return None;
                }
                let mut frame = self.take(total);
                frame.drain(..1 + used);
                Some(Frame::Protobuf(frame))
            }
        }
    }
}

/// Decodes one datagram: a mesh TAK message (`0xBF 0x01 0xBF`, then the protobuf) or one
/// XML event.
pub fn decode_datagram(datagram: &[u8]) -> Result<CotEvent, CotError> {
    if datagram.first() == Some(&MAGIC) {
        let msg = decode_mesh(datagram)?;
        let ev = msg.cot_event.ok_or(CotError::Missing("cotEvent"))?;
        return from_proto(&ev);
    }
    parse_event(datagram)
}

/// After `<event`, a name ends with whitespace, `>` or `/`.
fn is_name_end(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'>' || b == b'/'
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// For `<?...?>` and `<!--...-->` at the start: `Some(Some(len))` when complete,
/// `Some(None)` when its end has not arrived, `None` when it is neither.
fn prolog_end(rest: &[u8]) -> Option<Option<usize>> {
    let (open, close): (&[u8], &[u8]) = if rest.starts_with(b"<?") {
        (b"<?", b"?>")
    } else if rest.starts_with(b"<!--") {
        (b"<!--", b"-->")
    } else if rest.len() < 4 && b"<!--".starts_with(rest) && rest.len() > 1 {
        return Some(None);
    } else {
        return None;
    };
    Some(find(&rest[open.len()..], close).map(|p| open.len() + p + close.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EV: &str = r#"<event uid="a" type="b-m-p-s-m"><point lat="1" lon="2"/></event>"#;

    fn all(r: &mut StreamReader) -> Vec<Frame> {
        std::iter::from_fn(|| r.next_frame()).collect()
    }

    #[test]
    fn events_split_across_reads_at_every_byte() {
        let text = format!("<?xml version=\"1.0\"?>\n{EV}\n{EV}");
        for cut in 0..text.len() {
            let mut r = StreamReader::new(1 << 20);
            r.push(&text.as_bytes()[..cut]);
            let mut frames = all(&mut r);
            r.push(&text.as_bytes()[cut..]);
            frames.extend(all(&mut r));
            assert_eq!(
                frames,
                vec![Frame::Xml(EV.into()), Frame::Xml(EV.into())],
                "cut at {cut}"
            );
            assert_eq!(r.buffered(), 0);
        }
    }

    #[test]
    fn an_event_over_the_limit_is_garbage_even_when_it_arrives_whole() {
        let big = format!(
            r#"<event uid="b" type="b-m-p-s-m"><detail><remarks>{}</remarks></detail></event>"#,
            "x".repeat(200)
        );
        let mut r = StreamReader::new(100);
        r.push(format!("{big}{EV}").as_bytes());
        let frames = all(&mut r);
        assert!(matches!(frames[0], Frame::Garbage { .. }), "{frames:?}");
        assert_eq!(frames[1..], [Frame::Xml(EV.into())]);
    }

    #[test]
    fn several_events_in_one_read_and_garbage_between() {
        let mut r = StreamReader::new(1 << 20);
        r.push(format!("{EV}  junk!! {EV}<!-- note --><foo/>{EV}</event >").as_bytes());
        let frames = all(&mut r);
        assert_eq!(frames.len(), 6, "{frames:?}");
        assert_eq!(frames[0], Frame::Xml(EV.into()));
        assert!(matches!(frames[1], Frame::Garbage { bytes: 7, .. }));
        assert_eq!(frames[2], Frame::Xml(EV.into()));
        assert!(matches!(frames[3], Frame::Garbage { bytes: 6, .. }));
        assert_eq!(frames[4], Frame::Xml(EV.into()));
        // A stray end tag is garbage too.
        assert!(matches!(frames[5], Frame::Garbage { bytes: 9, .. }));
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn an_unclosed_event_is_dropped_when_the_next_begins() {
        let mut r = StreamReader::new(1 << 20);
        r.push(format!("<event uid=\"x\"><point {EV}").as_bytes());
        let frames = all(&mut r);
        assert!(matches!(frames[0], Frame::Garbage { .. }));
        assert_eq!(frames[1], Frame::Xml(EV.into()));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut r = StreamReader::new(1024);
        r.push(b"<event uid=\"x\">");
        for _ in 0..100 {
            r.push(&[b'a'; 100]);
            while let Some(f) = r.next_frame() {
                assert!(matches!(f, Frame::Garbage { .. }));
            }
            assert!(r.buffered() <= 1024 + 100);
        }
    }

    #[test]
    fn an_event_over_the_limit_is_one_bad_frame_and_the_stream_goes_on() {
        let big = format!(
            "<event uid=\"big\" type=\"a-f-G\"><detail><remarks>{}</remarks></detail></event>",
            "x".repeat(40_000)
        );
        let text = format!("{big}\n{EV}");
        // Read in 4 KiB pieces, as a socket gives them: one garbage frame, then the next event.
        let mut r = StreamReader::new(4096);
        let mut frames = Vec::new();
        for piece in text.as_bytes().chunks(4096) {
            r.push(piece);
            frames.extend(all(&mut r));
            assert!(r.buffered() <= 4096 + 4096);
        }
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(matches!(
            frames[0],
            Frame::Garbage {
                reason: "an event longer than the limit",
                ..
            }
        ));
        assert_eq!(frames[1], Frame::Xml(EV.into()));
        // The end tag split across reads, with space before its `>`.
        let mut r = StreamReader::new(1024);
        r.push(format!("<event uid=\"b\">{}</eve", "y".repeat(3000)).as_bytes());
        let first = all(&mut r);
        r.push(format!("nt  >{EV}").as_bytes());
        let rest = all(&mut r);
        assert_eq!(first.len(), 1);
        assert_eq!(rest, vec![Frame::Xml(EV.into())]);
    }

    #[test]
    fn events_over_a_mebibyte_in_socket_reads_are_one_bad_frame_each() {
        let big = |uid: &str| {
            format!(
                "<event version=\"2.0\" uid=\"{uid}\" type=\"a-u-G\"><point lat=\"1\" lon=\"2\"/>\
                 <detail><remarks>{}</remarks></detail></event>",
                "y".repeat(1_100_000)
            )
        };
        let text = format!("{}{}{}{EV}", big("a"), big("b"), big("c"));
        let mut r = StreamReader::new(1 << 20);
        let mut frames = Vec::new();
        for piece in text.as_bytes().chunks(16 * 1024) {
            r.push(piece);
            frames.extend(all(&mut r));
        }
        let bad = frames
            .iter()
            .filter(|f| matches!(f, Frame::Garbage { .. }))
            .count();
        assert_eq!(bad, 3, "{:?}", frames.len());
        assert_eq!(frames.last(), Some(&Frame::Xml(EV.into())));
    }

    #[test]
    fn a_tak_message_over_the_limit_is_one_bad_frame() {
        let mut r = StreamReader::new(1024);
        r.set_mode(Mode::Protobuf);
        let mut big = vec![MAGIC];
        let mut len = 5000u64;
        while len >= 0x80 {
            big.push((len as u8 & 0x7f) | 0x80);
            len >>= 7;
        }
        big.push(len as u8);
        big.extend(std::iter::repeat_n(MAGIC, 5000));
        big.extend([MAGIC, 2, 8, 1]);
        let mut frames = Vec::new();
        for piece in big.chunks(700) {
            r.push(piece);
            frames.extend(all(&mut r));
        }
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(matches!(frames[0], Frame::Garbage { .. }));
        assert_eq!(frames[1], Frame::Protobuf(vec![8, 1]));
    }

    /// What the fuzz targets do, over deterministic random input, so `cargo test` runs it:
    /// valid events cut and corrupted at random must never panic or grow the buffer.
    #[test]
    fn random_cuts_and_corruption_never_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let ev = crate::cot::xml::CotEvent {
            uid: "u".into(),
            kind: "a-u-G".into(),
            how: "h-e".into(),
            time: chrono::Utc::now(),
            start: chrono::Utc::now(),
            stale: chrono::Utc::now(),
            access: None,
            qos: None,
            opex: None,
            point: crate::cot::xml::Point::at(1.0, 2.0),
            detail: vec![crate::cot::xml::Element::new("remarks").with_text("x & y")],
        };
        let xml_text = crate::cot::xml::to_xml(&ev).into_bytes();
        let proto_bytes = crate::cot::proto::encode_stream(&crate::cot::proto::event_message(&ev));
        for round in 0..400 {
            let mode = if round % 2 == 0 {
                Mode::Xml
            } else {
                Mode::Protobuf
            };
            let sample = if mode == Mode::Xml {
                &xml_text
            } else {
                &proto_bytes
            };
            let mut input: Vec<u8> = Vec::new();
            for _ in 0..rng.gen_range(1..6) {
                input.extend_from_slice(sample);
            }
            for _ in 0..rng.gen_range(0..8) {
                let i = rng.gen_range(0..input.len());
                input[i] = rng.gen();
            }
            let mut r = StreamReader::new(512);
            r.set_mode(mode);
            let mut good = 0;
            for piece in input.chunks(rng.gen_range(1..64)) {
                r.push(piece);
                while let Some(frame) = r.next_frame() {
                    let ok = match frame {
                        Frame::Xml(b) => crate::cot::xml::parse_event(&b).is_ok(),
                        Frame::Protobuf(b) => crate::cot::proto::decode_payload(&b)
                            .ok()
                            .and_then(|m| m.cot_event)
                            .is_some_and(|e| crate::cot::proto::from_proto(&e).is_ok()),
                        Frame::Garbage { .. } => false,
                    };
                    good += usize::from(ok);
                }
                assert!(r.buffered() <= 512 + 64 + 16);
            }
            assert!(good <= 5);
        }
    }

    #[test]
    fn datagrams_mesh_or_xml() {
        let ev = parse_event(EV.replace("<event", "<event time=\"2026-01-01T00:00:00Z\" start=\"2026-01-01T00:00:00Z\" stale=\"2026-01-01T00:01:00Z\"").as_bytes()).unwrap();
        let mesh = crate::cot::proto::encode_mesh(&crate::cot::proto::event_message(&ev));
        assert_eq!(decode_datagram(&mesh).unwrap(), ev);
        assert_eq!(
            decode_datagram(crate::cot::xml::to_xml(&ev).as_bytes()).unwrap(),
            ev
        );
        assert!(decode_datagram(&[MAGIC, 2, 3]).is_err());
        assert!(decode_datagram(b"").is_err());
    }

    #[test]
    fn protobuf_frames_and_resync() {
        let mut r = StreamReader::new(1 << 20);
        r.set_mode(Mode::Protobuf);
        r.push(b"\n");
        assert_eq!(r.next_frame(), None);
        r.push(&[1, 2, MAGIC, 3, 7, 8]);
        assert!(matches!(
            r.next_frame(),
            Some(Frame::Garbage { bytes: 2, .. })
        ));
        assert_eq!(r.next_frame(), None);
        r.push(&[9, MAGIC, 0]);
        assert_eq!(r.next_frame(), Some(Frame::Protobuf(vec![7, 8, 9])));
        assert_eq!(r.next_frame(), Some(Frame::Protobuf(vec![])));
        r.push(&[MAGIC, 0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(r.next_frame(), Some(Frame::Garbage { .. })));
    }
}
