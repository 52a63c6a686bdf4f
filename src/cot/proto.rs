//! TAK protocol version 1: the protobuf messages, their stream and mesh framing, and the
//! conversion to and from the XML wire struct.
//!
//! The message structs are written by hand with `prost` derives and mirror
//! `proto/takproto/*.proto` field for field (same names, same tags); a build script with a
//! protobuf compiler would add a build-time dependency for six small messages. Keep the two in
//! step. Pure: no IO.

use bytes::BufMut;
use chrono::{DateTime, TimeZone, Utc};
use prost::Message;

use super::xml::{self, CotError, CotEvent, Element, Point};

/// The first byte of every TAK protocol message, on streams and in mesh datagrams.
pub const MAGIC: u8 = 0xBF;
/// The protocol version this server speaks.
pub const VERSION: u32 = 1;

/// `takmessage.proto`
#[derive(Clone, PartialEq, Message)]
pub struct TakMessage {
    #[prost(message, optional, tag = "1")]
    pub tak_control: Option<TakControl>,
    #[prost(message, optional, tag = "2")]
    pub cot_event: Option<ProtoCotEvent>,
    #[prost(uint64, tag = "3")]
    pub submission_time: u64,
    #[prost(uint64, tag = "4")]
    pub creation_time: u64,
}

/// `takcontrol.proto`
#[derive(Clone, PartialEq, Message)]
pub struct TakControl {
    #[prost(uint32, tag = "1")]
    pub min_proto_version: u32,
    #[prost(uint32, tag = "2")]
    pub max_proto_version: u32,
    #[prost(string, tag = "3")]
    pub contact_uid: String,
}

/// `cotevent.proto` (named `CotEvent` there; renamed here beside the XML struct).
#[derive(Clone, PartialEq, Message)]
pub struct ProtoCotEvent {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub access: String,
    #[prost(string, tag = "3")]
    pub qos: String,
    #[prost(string, tag = "4")]
    pub opex: String,
    #[prost(string, tag = "5")]
    pub uid: String,
    #[prost(uint64, tag = "6")]
    pub send_time: u64,
    #[prost(uint64, tag = "7")]
    pub start_time: u64,
    #[prost(uint64, tag = "8")]
    pub stale_time: u64,
    #[prost(string, tag = "9")]
    pub how: String,
    #[prost(double, tag = "10")]
    pub lat: f64,
    #[prost(double, tag = "11")]
    pub lon: f64,
    #[prost(double, tag = "12")]
    pub hae: f64,
    #[prost(double, tag = "13")]
    pub ce: f64,
    #[prost(double, tag = "14")]
    pub le: f64,
    #[prost(message, optional, tag = "15")]
    pub detail: Option<Detail>,
    #[prost(string, tag = "16")]
    pub caveat: String,
    #[prost(string, tag = "17")]
    pub releaseable_to: String,
}

/// `detail.proto`
#[derive(Clone, PartialEq, Message)]
pub struct Detail {
    #[prost(string, tag = "1")]
    pub xml_detail: String,
    #[prost(message, optional, tag = "2")]
    pub contact: Option<Contact>,
    #[prost(message, optional, tag = "3")]
    pub group: Option<Group>,
    #[prost(message, optional, tag = "4")]
    pub precision_location: Option<PrecisionLocation>,
    #[prost(message, optional, tag = "5")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "6")]
    pub takv: Option<Takv>,
    #[prost(message, optional, tag = "7")]
    pub track: Option<Track>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Contact {
    #[prost(string, tag = "1")]
    pub endpoint: String,
    #[prost(string, tag = "2")]
    pub callsign: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Group {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub role: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct PrecisionLocation {
    #[prost(string, tag = "1")]
    pub geopointsrc: String,
    #[prost(string, tag = "2")]
    pub altsrc: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Status {
    #[prost(uint32, tag = "1")]
    pub battery: u32,
}

#[derive(Clone, PartialEq, Message)]
pub struct Takv {
    #[prost(string, tag = "1")]
    pub device: String,
    #[prost(string, tag = "2")]
    pub platform: String,
    #[prost(string, tag = "3")]
    pub os: String,
    #[prost(string, tag = "4")]
    pub version: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Track {
    #[prost(double, tag = "1")]
    pub speed: f64,
    #[prost(double, tag = "2")]
    pub course: f64,
}

/// Decodes the payload of one stream message (after the magic byte and the length).
pub fn decode_payload(payload: &[u8]) -> Result<TakMessage, CotError> {
    TakMessage::decode(payload).map_err(|e| CotError::Protobuf(e.to_string()))
}

/// Decodes a mesh (UDP) datagram: `0xBF 0x01 0xBF` and the payload, which runs to the end of
/// the datagram.
pub fn decode_mesh(datagram: &[u8]) -> Result<TakMessage, CotError> {
    match datagram {
        [MAGIC, 0x01, MAGIC, payload @ ..] => decode_payload(payload),
        _ => Err(CotError::Protobuf(
            "a mesh message starts 0xBF 0x01 0xBF".into(),
        )),
    }
}

/// One message framed for a stream: magic byte, varint length, payload.
pub fn encode_stream(msg: &TakMessage) -> Vec<u8> {
    let len = msg.encoded_len();
    let mut out = Vec::with_capacity(len + 11);
    out.put_u8(MAGIC);
    prost::encoding::encode_varint(len as u64, &mut out);
    // Encoding into a Vec cannot run out of room.
    let _ = msg.encode(&mut out);
    out
}

/// One message framed for the mesh (UDP).
pub fn encode_mesh(msg: &TakMessage) -> Vec<u8> {
    let mut out = vec![MAGIC, 0x01, MAGIC];
    let _ = msg.encode(&mut out);
    out
}

/// Reads a varint at the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn read_varint(buf: &[u8]) -> Result<Option<(u64, usize)>, CotError> {
    let mut value: u64 = 0;
    for (i, b) in buf.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 10 {
        return Err(CotError::Protobuf("varint longer than 10 bytes".into()));
    }
    Ok(None)
}

fn millis(t: DateTime<Utc>) -> u64 {
    t.timestamp_millis().max(0) as u64
}

fn from_millis(field: &'static str, ms: u64) -> Result<DateTime<Utc>, CotError> {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .ok_or(CotError::Invalid {
            field,
            message: "not a time".into(),
        })
}

fn non_empty(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

/// The XML wire struct as a protobuf event. `<contact>` and `<__group>` go to their structured
/// fields; every other detail element travels as XML in `xmlDetail`.
pub fn to_proto(ev: &CotEvent) -> ProtoCotEvent {
    let mut rest = Vec::new();
    let mut detail = Detail::default();
    for e in &ev.detail {
        match e.name.as_str() {
            "contact" if detail.contact.is_none() && e.children.is_empty() => {
                detail.contact = Some(Contact {
                    endpoint: e.get("endpoint").unwrap_or_default().to_string(),
                    callsign: e.get("callsign").unwrap_or_default().to_string(),
                })
            }
            "__group" if detail.group.is_none() && e.children.is_empty() => {
                detail.group = Some(Group {
                    name: e.get("name").unwrap_or_default().to_string(),
                    role: e.get("role").unwrap_or_default().to_string(),
                })
            }
            _ => rest.push(e.clone()),
        }
    }
    detail.xml_detail = xml::detail_to_xml(&rest);
    ProtoCotEvent {
        r#type: ev.kind.clone(),
        access: non_empty(&ev.access),
        qos: non_empty(&ev.qos),
        opex: non_empty(&ev.opex),
        uid: ev.uid.clone(),
        send_time: millis(ev.time),
        start_time: millis(ev.start),
        stale_time: millis(ev.stale),
        how: ev.how.clone(),
        lat: ev.point.lat,
        lon: ev.point.lon,
        hae: ev.point.hae,
        ce: ev.point.ce,
        le: ev.point.le,
        detail: Some(detail),
        caveat: String::new(),
        releaseable_to: String::new(),
    }
}

/// A protobuf event as the XML wire struct, with the same checks as XML input.
pub fn from_proto(p: &ProtoCotEvent) -> Result<CotEvent, CotError> {
    if p.uid.is_empty() {
        return Err(CotError::Missing("uid"));
    }
    if p.r#type.is_empty() {
        return Err(CotError::Missing("type"));
    }
    let point = Point {
        lat: p.lat,
        lon: p.lon,
        hae: p.hae,
        ce: p.ce,
        le: p.le,
    };
    if ![point.lat, point.lon].iter().all(|x| x.is_finite()) {
        return Err(CotError::Invalid {
            field: "lat",
            message: "not a number".into(),
        });
    }
    xml::check_point(&point)?;
    let mut detail = Vec::new();
    if let Some(d) = &p.detail {
        if let Some(c) = &d.contact {
            detail.push(
                Element::new("contact")
                    .attr("endpoint", c.endpoint.clone())
                    .attr("callsign", c.callsign.clone()),
            );
        }
        if let Some(g) = &d.group {
            detail.push(
                Element::new("__group")
                    .attr("name", g.name.clone())
                    .attr("role", g.role.clone()),
            );
        }
        if let Some(t) = &d.track {
            detail.push(
                Element::new("track")
                    .attr("speed", t.speed.to_string())
                    .attr("course", t.course.to_string()),
            );
        }
        if !d.xml_detail.trim().is_empty() {
            detail.extend(xml::parse_detail(&d.xml_detail)?);
        }
    }
    let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
    Ok(CotEvent {
        uid: p.uid.clone(),
        kind: p.r#type.clone(),
        how: p.how.clone(),
        time: from_millis("sendTime", p.send_time)?,
        start: from_millis("startTime", p.start_time)?,
        stale: from_millis("staleTime", p.stale_time)?,
        access: opt(&p.access),
        qos: opt(&p.qos),
        opex: opt(&p.opex),
        point,
        detail,
    })
}

/// A stream message carrying one event.
pub fn event_message(ev: &CotEvent) -> TakMessage {
    TakMessage {
        tak_control: None,
        cot_event: Some(to_proto(ev)),
        submission_time: 0,
        creation_time: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CotEvent {
        let t = Utc.timestamp_millis_opt(1_767_607_200_123).unwrap();
        CotEvent {
            uid: "u-1".into(),
            kind: "a-n-G-E-V-C".into(),
            how: "h-e".into(),
            time: t,
            start: t,
            stale: t + chrono::Duration::minutes(5),
            access: None,
            qos: None,
            opex: None,
            point: Point::at(36.3, 43.1),
            detail: vec![
                Element::new("contact")
                    .attr("endpoint", "")
                    .attr("callsign", "WFP 1"),
                Element::new("remarks").with_text("a & b"),
            ],
        }
    }

    #[test]
    fn stream_frame_round_trips() {
        let ev = sample();
        let bytes = encode_stream(&event_message(&ev));
        assert_eq!(bytes[0], MAGIC);
        let (len, used) = read_varint(&bytes[1..]).unwrap().unwrap();
        assert_eq!(len as usize, bytes.len() - 1 - used);
        let msg = decode_payload(&bytes[1 + used..]).unwrap();
        let back = from_proto(msg.cot_event.as_ref().unwrap()).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn mesh_frame_round_trips() {
        let ev = sample();
        let msg = decode_mesh(&encode_mesh(&event_message(&ev))).unwrap();
        assert_eq!(from_proto(msg.cot_event.as_ref().unwrap()).unwrap(), ev);
        assert!(decode_mesh(&[0xBF, 0x02, 0xBF]).is_err());
    }

    #[test]
    fn varints() {
        assert_eq!(read_varint(&[0x05]).unwrap(), Some((5, 1)));
        assert_eq!(read_varint(&[0xAC, 0x02]).unwrap(), Some((300, 2)));
        assert_eq!(read_varint(&[0xAC]).unwrap(), None);
        assert!(read_varint(&[0xff; 10]).is_err());
    }

    #[test]
    fn garbage_payloads_are_errors_not_panics() {
        assert!(decode_payload(&[0xff, 0xff, 0xff]).is_err());
        let bad = ProtoCotEvent {
            uid: "x".into(),
            r#type: "a".into(),
            lat: f64::NAN,
            ..ProtoCotEvent::default()
        };
        assert!(from_proto(&bad).is_err());
    }
}
