//! The hub's wire protocol (JSON text frames), both directions. Documented in
//! `proto/WEBSOCKET.md`; this module is the only place that knows the message shapes.
//!
//! Server messages are built as bytes once and shared between subscribers; a `batch` is the
//! concatenation of messages already encoded. Client messages are parsed strictly: an unknown
//! type or member is an error that names it. Pure.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::feature;
use crate::model::{BBox, Item, Layer};
use crate::policy::View;
use crate::scope::Exercise;

use super::Out;

/// The longest frame interval a subscriber may ask for (`max_rate`): ten minutes. Longer would
/// look like a dead feed to everyone watching the screen.
pub const MAX_RATE_LIMIT_MS: u64 = 600_000;

/// The largest `min_move_m`: 100 km.
pub const MIN_MOVE_LIMIT_M: f64 = 100_000.0;

pub fn upsert(seq: u64, item: &Item, view: &View) -> Bytes {
    let feature = feature::render(item, view);
    Bytes::from(format!(
        r#"{{"type":"upsert","seq":{seq},"feature":{feature}}}"#
    ))
}

pub fn remove(seq: u64, id: &str) -> Bytes {
    let id = Value::String(id.to_string());
    Bytes::from(format!(r#"{{"type":"remove","seq":{seq},"id":{id}}}"#))
}

/// A convoy alert as its viewer reads it (`alerts::render`).
pub fn alert(seq: u64, alert: &Value) -> Bytes {
    Bytes::from(format!(r#"{{"type":"alert","seq":{seq},"alert":{alert}}}"#))
}

/// One part of a snapshot: `features` is the Features already rendered, comma-separated.
/// Parts are numbered from 0; the final one says `"last": true` (a small picture is one part).
pub fn snapshot_part(seq: u64, part: u32, last: bool, features: &[u8]) -> Bytes {
    let head =
        format!(r#"{{"type":"snapshot","seq":{seq},"part":{part},"last":{last},"features":["#);
    let mut out = Vec::with_capacity(head.len() + features.len() + 2);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(features);
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// One message as is, several as one `batch`: bytes the connection checks as UTF-8 once, when
/// it makes them a text frame. One message is its shared JSON itself, not a copy.
pub fn frame(messages: &[Out]) -> Bytes {
    if let [one] = messages {
        return one.bytes.json().clone();
    }
    let len: usize = messages.iter().map(|m| m.bytes.len() + 1).sum();
    let mut out = Vec::with_capacity(len + 32);
    out.extend_from_slice(br#"{"type":"batch","messages":["#);
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m.bytes.json());
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

pub fn error(code: &str, message: &str) -> String {
    serde_json::json!({"type": "error", "code": code, "message": message}).to_string()
}

pub fn pong() -> String {
    r#"{"type":"pong"}"#.to_string()
}

/// The agreement a peer centre's feed is served under (federation only), sent before the
/// snapshot or catch-up when the peer's subscribe asked with `agreement`.
pub fn agreement(id: &str) -> String {
    serde_json::json!({"type": "agreement", "id": id}).to_string()
}

/// Where a replay stands (issue 15), for the `replay` message.
#[derive(Clone, Copy, Debug)]
pub struct ReplayStatus<'a> {
    /// `started` and `seeked` (the picture as it was at `at` follows as a `snapshot`),
    /// `playing`, `paused`, `ended`.
    pub state: &'a str,
    /// The replay's clock: the picture the client holds is the one as it was then.
    pub at: DateTime<Utc>,
    /// The last event of the log the client has been sent (0: before the first).
    pub seq: u64,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub speed: f64,
    /// Why it ended: `reached_to` or `stopped`.
    pub reason: Option<&'a str>,
}

/// A replay's state (issue 15). `started` and `seeked` also say which policy filters it.
pub fn replay(s: &ReplayStatus) -> String {
    let mut v = serde_json::json!({
        "type": "replay",
        "state": s.state,
        "at": crate::log::format_time(s.at),
        "seq": s.seq,
        "from": crate::log::format_time(s.from),
        "to": crate::log::format_time(s.to),
        "speed": s.speed,
    });
    if let Some(reason) = s.reason {
        v["reason"] = reason.into();
    }
    if matches!(s.state, "started" | "seeked") {
        v["policy"] = "current".into();
        v["note"] = crate::policy::PAST_ITEMS_NOTE.into();
    }
    v.to_string()
}

/// The longest agreement identity a peer may send back.
const MAX_AGREEMENT_LEN: usize = 64;

/// `Some(value)` when the member is present, even as `null` (serde's default makes an absent
/// member `None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// A message from a client.
#[derive(Debug, PartialEq)]
pub enum ClientMessage {
    Subscribe {
        layers: Option<Vec<Layer>>,
        bbox: Option<BBox>,
        since: Option<u64>,
        exercise: Option<Exercise>,
        /// At most one frame per this many milliseconds (issue #9).
        max_rate: Option<u64>,
        /// Position-only changes only for moves larger than this many metres (issue #9).
        min_move_m: Option<f64>,
        /// A peer centre's link only: the agreement its position `since` was served under
        /// (`Some(None)`: it knows none and asks to be told).
        agreement: Option<Option<String>>,
    },
    /// Replay the log from `from` to `to` (absent: the moment it is asked) at `speed` times
    /// real time, within a scope like `subscribe`'s (issue 15). Bounds that need the clock
    /// (the window, the future) are judged by `replay::session::check`.
    Replay {
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
        speed: f64,
        layers: Option<Vec<Layer>>,
        bbox: Option<BBox>,
        exercise: Option<Exercise>,
    },
    /// Holds the replay's clock.
    Pause,
    /// Runs it again, at a new speed if one is given.
    Play {
        speed: Option<f64>,
    },
    /// Jumps to another moment between the replay's `from` and `to`.
    Seek {
        at: DateTime<Utc>,
    },
    /// Ends the replay; the connection then follows nothing until it subscribes again.
    Stop,
    Ping,
}

/// The slowest and fastest replay (`speed`: replayed seconds per real second). At the
/// fastest a day passes in a second.
pub const MIN_REPLAY_SPEED: f64 = 1.0;
pub const MAX_REPLAY_SPEED: f64 = 86_400.0;

/// A replay's speed, refused by name when out of range.
fn replay_speed(what: &str, speed: f64) -> Result<f64, ProtocolError> {
    if speed.is_finite() && (MIN_REPLAY_SPEED..=MAX_REPLAY_SPEED).contains(&speed) {
        Ok(speed)
    } else {
        Err(ProtocolError::bad(format!(
            "{what}: speed: {speed} is not a speed from {MIN_REPLAY_SPEED} to {MAX_REPLAY_SPEED} (replayed seconds per second)"
        )))
    }
}

/// An RFC 3339 time of a replay message, refused by name.
fn replay_time(what: &str, member: &str, text: &str) -> Result<DateTime<Utc>, ProtocolError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            ProtocolError::bad(format!(
                "{what}: {member}: `{text}` is not an RFC 3339 time such as 2026-12-07T14:00:00Z ({e})"
            ))
        })
}

/// Why a client message was refused: a stable code and words for people.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError {
    pub code: &'static str,
    pub message: String,
}

impl ProtocolError {
    fn bad(message: impl Into<String>) -> ProtocolError {
        ProtocolError {
            code: "bad_message",
            message: message.into(),
        }
    }
}

pub fn parse_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    let value: Value = crate::model::json::parse_strict(text.as_bytes())
        .map_err(|e| ProtocolError::bad(e.to_string()))?;
    let obj = value
        .as_object()
        .ok_or_else(|| ProtocolError::bad("a message is a JSON object with a `type`"))?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::bad("`type` is missing or not a string"))?;
    match ty {
        "subscribe" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Sub {
                #[allow(dead_code)]
                r#type: String,
                #[serde(default)]
                layers: Option<Vec<Layer>>,
                #[serde(default)]
                bbox: Option<[f64; 4]>,
                #[serde(default)]
                since: Option<u64>,
                #[serde(default)]
                exercise: Option<String>,
                #[serde(default)]
                max_rate: Option<u64>,
                #[serde(default)]
                min_move_m: Option<f64>,
                #[serde(default, deserialize_with = "present")]
                agreement: Option<Option<String>>,
            }
            let s: Sub = serde_path_to_error::deserialize(&value).map_err(|e| {
                ProtocolError::bad(format!("subscribe: {}: {}", e.path(), e.inner()))
            })?;
            let bbox = s
                .bbox
                .map(BBox::from_array)
                .transpose()
                .map_err(|e| ProtocolError::bad(format!("subscribe: bbox: {e}")))?;
            let exercise = s
                .exercise
                .map(|e| Exercise::parse(&e))
                .transpose()
                .map_err(|e| ProtocolError::bad(format!("subscribe: exercise: {e}")))?;
            if let Some(ms) = s
                .max_rate
                .filter(|ms| !(1..=MAX_RATE_LIMIT_MS).contains(ms))
            {
                return Err(ProtocolError::bad(format!(
                    "subscribe: max_rate: {ms} ms is not an interval from 1 to {MAX_RATE_LIMIT_MS} ms"
                )));
            }
            if let Some(m) = s
                .min_move_m
                .filter(|m| !(m.is_finite() && (0.0..=MIN_MOVE_LIMIT_M).contains(m)))
            {
                return Err(ProtocolError::bad(format!(
                    "subscribe: min_move_m: {m} is not a distance from 0 to {MIN_MOVE_LIMIT_M} metres"
                )));
            }
            if let Some(Some(a)) = &s.agreement {
                if a.is_empty() || a.len() > MAX_AGREEMENT_LEN {
                    return Err(ProtocolError::bad(format!(
                        "subscribe: agreement: an agreement identity has 1 to {MAX_AGREEMENT_LEN} characters"
                    )));
                }
            }
            Ok(ClientMessage::Subscribe {
                layers: s.layers,
                bbox,
                since: s.since,
                exercise,
                max_rate: s.max_rate,
                min_move_m: s.min_move_m.filter(|m| *m > 0.0),
                agreement: s.agreement,
            })
        }
        "replay" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Rep {
                #[allow(dead_code)]
                r#type: String,
                from: String,
                #[serde(default)]
                to: Option<String>,
                #[serde(default)]
                speed: Option<f64>,
                #[serde(default)]
                layers: Option<Vec<Layer>>,
                #[serde(default)]
                bbox: Option<[f64; 4]>,
                #[serde(default)]
                exercise: Option<String>,
            }
            let r: Rep = serde_path_to_error::deserialize(&value)
                .map_err(|e| ProtocolError::bad(format!("replay: {}: {}", e.path(), e.inner())))?;
            let from = replay_time("replay", "from", &r.from)?;
            let to = r
                .to
                .map(|t| replay_time("replay", "to", &t))
                .transpose()?;
            if let Some(to) = to.filter(|to| *to < from) {
                return Err(ProtocolError::bad(format!(
                    "replay: to: {} is before from ({}); a replay runs forward",
                    crate::log::format_time(to),
                    crate::log::format_time(from)
                )));
            }
            let speed = replay_speed("replay", r.speed.unwrap_or(1.0))?;
            let bbox = r
                .bbox
                .map(BBox::from_array)
                .transpose()
                .map_err(|e| ProtocolError::bad(format!("replay: bbox: {e}")))?;
            let exercise = r
                .exercise
                .map(|e| Exercise::parse(&e))
                .transpose()
                .map_err(|e| ProtocolError::bad(format!("replay: exercise: {e}")))?;
            Ok(ClientMessage::Replay {
                from,
                to,
                speed,
                layers: r.layers,
                bbox,
                exercise,
            })
        }
        "play" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Play {
                #[allow(dead_code)]
                r#type: String,
                #[serde(default)]
                speed: Option<f64>,
            }
            let p: Play = serde_path_to_error::deserialize(&value)
                .map_err(|e| ProtocolError::bad(format!("play: {}: {}", e.path(), e.inner())))?;
            let speed = p.speed.map(|s| replay_speed("play", s)).transpose()?;
            Ok(ClientMessage::Play { speed })
        }
        "seek" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Seek {
                #[allow(dead_code)]
                r#type: String,
                at: String,
            }
            let s: Seek = serde_path_to_error::deserialize(&value)
                .map_err(|e| ProtocolError::bad(format!("seek: {}: {}", e.path(), e.inner())))?;
            Ok(ClientMessage::Seek {
                at: replay_time("seek", "at", &s.at)?,
            })
        }
        "ping" => Ok(ClientMessage::Ping),
        "pause" | "stop" => {
            if let Some(extra) = obj.keys().find(|k| *k != "type") {
                return Err(ProtocolError::bad(format!(
                    "{ty}: unknown member `{extra}`; `{ty}` has only `type`"
                )));
            }
            Ok(if ty == "pause" {
                ClientMessage::Pause
            } else {
                ClientMessage::Stop
            })
        }
        other => Err(ProtocolError {
            code: "unknown_type",
            message: format!(
                "unknown message type `{other}`; expected `subscribe`, `replay`, `pause`, `play`, `seek`, `stop` or `ping`"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subscribe_and_names_problems() {
        let m = parse_client(
            r#"{"type":"subscribe","layers":["incidents"],"bbox":[40,30,45,37],"since":12}"#,
        )
        .unwrap();
        assert!(matches!(
            m,
            ClientMessage::Subscribe {
                since: Some(12),
                ..
            }
        ));
        let e = parse_client(r#"{"type":"subscribe","lyers":[]}"#).unwrap_err();
        assert!(e.message.contains("lyers"), "{}", e.message);
        let e = parse_client(r#"{"type":"subscribe","bbox":[40,50,45,37]}"#).unwrap_err();
        assert!(e.message.contains("south"), "{}", e.message);
        let e = parse_client(r#"{"type":"dance"}"#).unwrap_err();
        assert_eq!(e.code, "unknown_type");
        assert!(parse_client("{").is_err());
        assert!(parse_client(r#"{"type":"subscribe","layers":["cats"]}"#).is_err());
    }

    #[test]
    fn a_repeated_member_is_refused_by_name() {
        let e = parse_client(r#"{"type":"subscribe","since":5,"since":9}"#).unwrap_err();
        assert_eq!(e.code, "bad_message");
        assert!(e.message.contains("`since`"), "{}", e.message);
        assert!(e.message.contains("more than once"), "{}", e.message);
    }

    #[test]
    fn parses_field_conditions_and_names_bad_values() {
        let m = parse_client(r#"{"type":"subscribe","max_rate":2000,"min_move_m":250}"#).unwrap();
        assert!(matches!(
            m,
            ClientMessage::Subscribe {
                max_rate: Some(2000),
                min_move_m: Some(m),
                ..
            } if m == 250.0
        ));
        for bad in [
            r#"{"type":"subscribe","max_rate":-1}"#,
            r#"{"type":"subscribe","max_rate":"fast"}"#,
            r#"{"type":"subscribe","max_rate":600001}"#,
            r#"{"type":"subscribe","max_rate":0}"#,
        ] {
            let e = parse_client(bad).unwrap_err();
            assert!(e.message.contains("max_rate"), "{bad}: {}", e.message);
        }
        for bad in [
            r#"{"type":"subscribe","min_move_m":-5}"#,
            r#"{"type":"subscribe","min_move_m":1e9}"#,
        ] {
            let e = parse_client(bad).unwrap_err();
            assert!(e.message.contains("min_move_m"), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn tells_an_absent_agreement_from_a_null_one() {
        let agreement = |text: &str| match parse_client(text).unwrap() {
            ClientMessage::Subscribe { agreement, .. } => agreement,
            other => panic!("{other:?}"),
        };
        assert_eq!(agreement(r#"{"type":"subscribe"}"#), None);
        assert_eq!(
            agreement(r#"{"type":"subscribe","agreement":null}"#),
            Some(None)
        );
        assert_eq!(
            agreement(r#"{"type":"subscribe","agreement":"ab12"}"#),
            Some(Some("ab12".into()))
        );
        for bad in [
            r#"{"type":"subscribe","agreement":""}"#,
            r#"{"type":"subscribe","agreement":7}"#,
        ] {
            let e = parse_client(bad).unwrap_err();
            assert!(e.message.contains("agreement"), "{bad}: {}", e.message);
        }
        let long = format!(r#"{{"type":"subscribe","agreement":"{}"}}"#, "a".repeat(65));
        assert!(parse_client(&long)
            .unwrap_err()
            .message
            .contains("agreement"));
    }

    #[test]
    fn batch_frame_is_valid_json() {
        let a = Out {
            seq: 1,
            id: "a".into(),
            bytes: remove(1, "a").into(),
            shown: None,
        };
        let b = Out {
            seq: 2,
            id: "b".into(),
            bytes: remove(2, "b").into(),
            shown: None,
        };
        let v: Value = serde_json::from_slice(&frame(&[a.clone(), b])).unwrap();
        assert_eq!(v["type"], "batch");
        assert_eq!(v["messages"][1]["seq"], 2);
        let one: Value = serde_json::from_slice(&frame(&[a])).unwrap();
        assert_eq!(one["type"], "remove");
    }
}
