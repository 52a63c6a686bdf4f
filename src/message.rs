//! Server-made text for people as a message key with parameters (issue 18.11), sent besides
//! the English words: the pages word the key in the reader's language (`web/i18n/*.json`,
//! `msg.*`), while CoT, logs and clients that show text as it comes keep the English.
//!
//! A parameter is a plain number or name, `{"term": VALUE}` for a vocabulary value the reader's
//! language translates, `{"time": RFC 3339}` for a time the page formats in its own way, or
//! another message (`{"key", "params"}`) for a phrase; a phrase left out is `null`. Pure.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// A message key and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub key: &'static str,
    pub params: Map<String, Value>,
}

impl Message {
    pub fn new(key: &'static str) -> Message {
        Message {
            key,
            params: Map::new(),
        }
    }

    /// A number or a name, shown as it is (numbers in the reader's digits).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Message {
        self.params.insert(name.into(), value.into());
        self
    }

    /// A vocabulary value (a status, a kind), translated by the reader's language.
    pub fn term(self, name: &str, value: &str) -> Message {
        self.with(name, json!({ "term": value }))
    }

    /// A time, formatted by the page (with its zone).
    pub fn time(self, name: &str, t: DateTime<Utc>) -> Message {
        self.with(name, json!({ "time": crate::log::format_time(t) }))
    }

    /// A phrase of its own, or `null` when left out.
    pub fn phrase(self, name: &str, m: Option<Message>) -> Message {
        let v = m.map_or(Value::Null, |m| m.to_json());
        self.with(name, v)
    }

    pub fn to_json(&self) -> Value {
        json!({ "key": self.key, "params": self.params })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_nests_phrases_terms_and_times() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = Message::new("msg.a")
            .with("n", 3)
            .term("status", "closed")
            .time("eta", at)
            .phrase("where", Some(Message::new("msg.b")))
            .phrase("none", None);
        assert_eq!(
            m.to_json(),
            json!({"key": "msg.a", "params": {
                "n": 3,
                "status": {"term": "closed"},
                "eta": {"time": "2026-12-07T09:00:00.000000Z"},
                "where": {"key": "msg.b", "params": {}},
                "none": null,
            }})
        );
    }
}
