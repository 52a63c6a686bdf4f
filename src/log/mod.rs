//! The event log's format: events, their stored records, the SHA-256 hash chain and snapshots.
//!
//! Every accepted change is one `Event` with a global, gap-free sequence number. Its stored
//! form, a `Record`, carries the hash of the record before it, so that editing, removing or
//! reordering any stored event breaks the chain at that point. Pure: the `store` writes records,
//! this module only defines and checks them.

pub mod alert;
pub mod meeting;

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Item, Layer, Position};

pub type Hash = [u8; 32];

/// The `layer` column of an event about no item: a meeting's.
pub const MEETINGS: &str = "meetings";
/// The `layer` column of a notice that a report was made (about no item: the report's id).
pub const REPORTS: &str = "reports";

/// The `prev_hash` of the first event.
pub const GENESIS: Hash = [0; 32];

/// Who made a change: the organisation and the token's name (`system` for the server's own
/// changes such as expiry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub org: String,
    pub name: String,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            org: "cmcop".into(),
            name: "system".into(),
        }
    }
}

/// A position report on a movement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PositionReport {
    pub position: Position,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_kmh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading: Option<f64>,
    /// Older than the movement's last report when it was logged (store and forward over a
    /// poor link): kept in the track, it did not move the convoy back. Set by the writer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

/// What one event did. Creates and updates carry the whole new item, so that replaying the log
/// never depends on how a past version of cmcop interpreted a patch.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Created(Item),
    Updated(Item),
    Retired {
        version: u64,
    },
    Position {
        version: u64,
        report: PositionReport,
    },
    Notified {
        version: u64,
        deadline: DateTime<Utc>,
        late: bool,
    },
    Acknowledged {
        version: u64,
        org: String,
    },
    /// `expires_at` has passed: the item is shown as stale.
    Stale {
        version: u64,
    },
    /// The grace period after `expires_at` has passed: the item leaves the live picture.
    Expired {
        version: u64,
    },
    /// A convoy alert about the movement raised, cleared or noted by the server (issue #4).
    /// Changes nothing of the item: its version stays.
    Alert(Box<alert::Alert>),
    /// A federated item left the feed of its origin centre (retired there, or no longer shared
    /// under the agreement): it leaves the live picture. Its id stays usable, since the origin
    /// may share the item again. `origin_seq` is the feed position this was applied at.
    Withdrawn {
        version: u64,
        origin_seq: u64,
    },
    /// A coordination meeting created or changed, or an overdue action alert (issue 17.2).
    /// About no item: the event's `layer` is `None` and `item_id` is the meeting's id.
    Meeting(Box<meeting::MeetingEvent>),
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Created(_) => "created",
            Change::Updated(_) => "updated",
            Change::Retired { .. } => "retired",
            Change::Position { .. } => "position",
            Change::Notified { .. } => "notified",
            Change::Acknowledged { .. } => "acknowledged",
            Change::Stale { .. } => "stale",
            Change::Expired { .. } => "expired",
            Change::Alert(_) => "alert",
            Change::Withdrawn { .. } => "withdrawn",
            Change::Meeting(_) => "meeting",
        }
    }

    /// The item's version after this change.
    pub fn version(&self) -> u64 {
        match self {
            Change::Created(i) | Change::Updated(i) => i.version,
            Change::Retired { version }
            | Change::Position { version, .. }
            | Change::Notified { version, .. }
            | Change::Acknowledged { version, .. }
            | Change::Stale { version }
            | Change::Expired { version }
            | Change::Withdrawn { version, .. } => *version,
            Change::Alert(a) => a.version,
            Change::Meeting(m) => m.version,
        }
    }

    fn payload(&self) -> String {
        // Items are written straight to text (no intermediate `Value`): the writer seals every
        // event in its serial path, so this is on the write path's critical section.
        let text = match self {
            Change::Created(i) | Change::Updated(i) => serde_json::to_string(i),
            Change::Retired { version }
            | Change::Stale { version }
            | Change::Expired { version } => {
                Ok(serde_json::json!({ "version": version }).to_string())
            }
            Change::Position { version, report } => Ok(serde_json::json!({
                "version": version, "report": report,
            })
            .to_string()),
            Change::Notified {
                version,
                deadline,
                late,
            } => Ok(serde_json::json!({
                "version": version, "deadline": deadline, "late": late,
            })
            .to_string()),
            Change::Acknowledged { version, org } => Ok(serde_json::json!({
                "version": version, "org": org,
            })
            .to_string()),
            Change::Alert(a) => serde_json::to_string(a),
            Change::Meeting(m) => serde_json::to_string(m),
            Change::Withdrawn {
                version,
                origin_seq,
            } => Ok(serde_json::json!({
                "version": version, "origin_seq": origin_seq,
            })
            .to_string()),
        };
        // Serializing our own types to JSON cannot fail: no maps with non-string keys.
        text.unwrap_or_default()
    }

    fn from_payload(kind: &str, payload: &str) -> Result<Change, String> {
        #[derive(Deserialize)]
        struct P {
            version: u64,
            #[serde(default)]
            report: Option<PositionReport>,
            #[serde(default)]
            deadline: Option<DateTime<Utc>>,
            #[serde(default)]
            late: Option<bool>,
            #[serde(default)]
            org: Option<String>,
            #[serde(default)]
            origin_seq: Option<u64>,
        }
        let item = || serde_json::from_str::<Item>(payload).map_err(|e| e.to_string());
        if kind == "created" {
            return Ok(Change::Created(item()?));
        }
        if kind == "updated" {
            return Ok(Change::Updated(item()?));
        }
        if kind == "alert" {
            return serde_json::from_str(payload)
                .map(|a| Change::Alert(Box::new(a)))
                .map_err(|e| e.to_string());
        }
        if kind == "meeting" {
            return serde_json::from_str(payload)
                .map(|m| Change::Meeting(Box::new(m)))
                .map_err(|e| e.to_string());
        }
        let p: P = serde_json::from_str(payload).map_err(|e| e.to_string())?;
        let missing = |what: &str| format!("`{kind}` event without `{what}`");
        Ok(match kind {
            "retired" => Change::Retired { version: p.version },
            "stale" => Change::Stale { version: p.version },
            "expired" => Change::Expired { version: p.version },
            "position" => Change::Position {
                version: p.version,
                report: p.report.ok_or_else(|| missing("report"))?,
            },
            "notified" => Change::Notified {
                version: p.version,
                deadline: p.deadline.ok_or_else(|| missing("deadline"))?,
                late: p.late.ok_or_else(|| missing("late"))?,
            },
            "acknowledged" => Change::Acknowledged {
                version: p.version,
                org: p.org.ok_or_else(|| missing("org"))?,
            },
            "withdrawn" => Change::Withdrawn {
                version: p.version,
                origin_seq: p.origin_seq.ok_or_else(|| missing("origin_seq"))?,
            },
            other => return Err(format!("unknown event kind `{other}`")),
        })
    }
}

/// One accepted change.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// The item's layer; `None` for an event about no item of the picture (a meeting).
    pub layer: Option<Layer>,
    pub item_id: String,
    pub change: Change,
}

/// An event as stored: text columns exactly as hashed, and the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u64,
    pub at: String,
    pub org: String,
    pub actor: String,
    pub kind: String,
    pub layer: String,
    pub item_id: String,
    pub payload: String,
    pub prev_hash: Hash,
    pub hash: Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("event {seq}: {reason}")]
    Corrupt { seq: u64, reason: String },
}

/// Where and why the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {seq}: {reason}")]
pub struct Broken {
    pub seq: u64,
    pub reason: String,
}

impl Record {
    /// The stored form of `event`, chained to `prev_hash`.
    pub fn seal(event: &Event, prev_hash: Hash) -> Record {
        let mut r = Record {
            seq: event.seq,
            at: format_time(event.at),
            org: event.actor.org.clone(),
            actor: event.actor.name.clone(),
            kind: event.change.kind().to_string(),
            layer: match (event.layer, &event.change) {
                (Some(layer), _) => layer.as_str(),
                (None, Change::Alert(_)) => REPORTS,
                (None, _) => MEETINGS,
            }
            .to_string(),
            item_id: event.item_id.clone(),
            payload: event.change.payload(),
            prev_hash,
            hash: GENESIS,
        };
        r.hash = r.compute_hash();
        r
    }

    /// SHA-256 over a domain tag, the sequence number, the previous hash and every column,
    /// each length-prefixed so that no two different records hash the same bytes.
    pub fn compute_hash(&self) -> Hash {
        let mut h = Sha256::new();
        h.update(b"cmcop-event-v1");
        h.update(self.seq.to_be_bytes());
        h.update(self.prev_hash);
        for field in [
            &self.at,
            &self.org,
            &self.actor,
            &self.kind,
            &self.layer,
            &self.item_id,
            &self.payload,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.finalize().into()
    }

    /// Checks this record against the one before it (`None` for the first).
    pub fn check(&self, prev: Option<(u64, Hash)>) -> Result<(), Broken> {
        let broken = |reason: String| Broken {
            seq: self.seq,
            reason,
        };
        let (expected_seq, expected_prev) = match prev {
            None => (1, GENESIS),
            Some((seq, hash)) => (seq + 1, hash),
        };
        if self.seq != expected_seq {
            return Err(broken(format!(
                "sequence gap: expected event {expected_seq}, found {}",
                self.seq
            )));
        }
        if self.prev_hash != expected_prev {
            return Err(broken(format!(
                "prev_hash {} does not match the hash of event {} ({})",
                hex::encode(self.prev_hash),
                expected_seq - 1,
                hex::encode(expected_prev)
            )));
        }
        let actual = self.compute_hash();
        if actual != self.hash {
            return Err(broken(format!(
                "contents do not match the stored hash (stored {}, computed {})",
                hex::encode(self.hash),
                hex::encode(actual)
            )));
        }
        Ok(())
    }

    pub fn to_event(&self) -> Result<Event, LogError> {
        let corrupt = |reason: String| LogError::Corrupt {
            seq: self.seq,
            reason,
        };
        Ok(Event {
            seq: self.seq,
            at: crate::model::parse_time(&self.at).map_err(corrupt)?,
            actor: Actor {
                org: self.org.clone(),
                name: self.actor.clone(),
            },
            layer: match self.layer.as_str() {
                MEETINGS | REPORTS => None,
                layer => Some(layer.parse().map_err(corrupt)?),
            },
            item_id: self.item_id.clone(),
            change: Change::from_payload(&self.kind, &self.payload).map_err(corrupt)?,
        })
    }
}

/// Times in the log: UTC, microseconds, `Z`; the same text every time it is written.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The live picture at one sequence number, so that start-up replays only the log's tail.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    #[serde(with = "hex_hash")]
    pub hash: Hash,
    pub items: Vec<Item>,
    pub retired: Vec<String>,
    /// Convoy alerts: the conditions active at `seq` and the most recent alerts, so that a
    /// restart neither repeats nor forgets them. Absent in snapshots older than alerts.
    #[serde(default)]
    pub alerts: alert::BookSnapshot,
    /// Per peer centre, how far its federation feed has been applied.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub federation: BTreeMap<String, u64>,
    /// Coordination meetings as of `seq`. Absent in snapshots older than meetings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub meetings: Vec<meeting::Meeting>,
}

/// A snapshot held as shared pointers: taken under the picture's lock in a moment (no item is
/// copied), then sorted and serialized outside it. Serializes to the same JSON as `Snapshot`.
#[derive(Clone, Debug)]
pub struct SnapshotView {
    pub seq: u64,
    pub hash: Hash,
    pub items: Vec<std::sync::Arc<Item>>,
    pub retired: Vec<String>,
    pub alerts: alert::BookSnapshot,
    pub federation: BTreeMap<String, u64>,
    pub meetings: Vec<meeting::Meeting>,
}

impl SnapshotView {
    pub fn to_json(mut self) -> Result<Vec<u8>, serde_json::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            seq: u64,
            #[serde(with = "hex_hash")]
            hash: Hash,
            items: Vec<&'a Item>,
            retired: &'a [String],
            alerts: &'a alert::BookSnapshot,
            #[serde(skip_serializing_if = "BTreeMap::is_empty")]
            federation: &'a BTreeMap<String, u64>,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            meetings: &'a [meeting::Meeting],
        }
        self.items.sort_by(|a, b| a.id.cmp(&b.id));
        self.retired.sort();
        serde_json::to_vec(&Out {
            seq: self.seq,
            hash: self.hash,
            items: self.items.iter().map(|i| &**i).collect(),
            retired: &self.retired,
            alerts: &self.alerts,
            federation: &self.federation,
            meetings: &self.meetings,
        })
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &super::Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<super::Hash, D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(s).map_err(serde::de::Error::custom)?;
        v.try_into()
            .map_err(|_| serde::de::Error::custom("a hash is 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(seq: u64) -> Event {
        Event {
            seq,
            at: Utc::now(),
            actor: Actor {
                org: "WFP".into(),
                name: "planner".into(),
            },
            layer: Some(Layer::Movements),
            item_id: "m1".into(),
            change: Change::Acknowledged {
                version: seq,
                org: "ARMY".into(),
            },
        }
    }

    #[test]
    fn chain_checks_and_breaks() {
        let a = Record::seal(&ev(1), GENESIS);
        let b = Record::seal(&ev(2), a.hash);
        a.check(None).unwrap();
        b.check(Some((1, a.hash))).unwrap();
        let mut t = b.clone();
        t.payload = t.payload.replace("ARMY", "NAVY");
        assert!(t
            .check(Some((1, a.hash)))
            .unwrap_err()
            .reason
            .contains("contents"));
        assert!(b.check(None).is_err());
        assert_eq!(b.to_event().unwrap().change, ev(2).change);
    }
}
