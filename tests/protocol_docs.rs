//! Keeps `proto/WEBSOCKET.md` true: every client example parses as the server parses client
//! messages, every server example has the shape the server sends.

use cmcop::hub::message::{self, parse_client};
use serde_json::Value;

/// The fenced ```json client / ```json server blocks of a Markdown file.
fn examples(text: &str, kind: &str) -> Vec<String> {
    let open = format!("```json {kind}");
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == open => current = Some(String::new()),
            Some(buf) if line.trim() == "```" => {
                out.push(std::mem::take(buf));
                current = None;
            }
            Some(buf) => {
                buf.push_str(line);
                buf.push('\n');
            }
            None => {}
        }
    }
    out
}

const DOC: &str = include_str!("../proto/WEBSOCKET.md");

#[test]
fn client_examples_parse() {
    let client = examples(DOC, "client");
    assert!(client.len() >= 4, "the doc lost its client examples");
    for ex in client {
        parse_client(&ex).unwrap_or_else(|e| panic!("{ex}: {}", e.message));
    }
}

#[test]
fn server_examples_have_the_server_shapes() {
    let server = examples(DOC, "server");
    let mut types = Vec::new();
    for ex in &server {
        let v: Value = serde_json::from_str(ex).unwrap_or_else(|e| panic!("{ex}: {e}"));
        let ty = v["type"].as_str().expect("a type").to_string();
        match ty.as_str() {
            "snapshot" => {
                assert!(v["seq"].is_u64());
                assert!(v["part"].is_u64() && v["last"].is_boolean(), "{v}");
                for f in v["features"].as_array().unwrap() {
                    assert_eq!(f["type"], "Feature");
                    assert!(f["id"].is_string() && f["properties"]["version"].is_u64());
                }
            }
            "upsert" => {
                assert!(v["seq"].is_u64());
                assert_eq!(v["feature"]["type"], "Feature");
            }
            "remove" => {
                let seq = v["seq"].as_u64().unwrap();
                let id = v["id"].as_str().unwrap();
                let ours: Value = serde_json::from_slice(&message::remove(seq, id)).unwrap();
                assert_eq!(ours, v);
            }
            "batch" => assert!(v["messages"].as_array().unwrap().len() > 1),
            "error" => {
                let ours =
                    parse_client(r#"{"type":"subscribe","bbox":[42,37,44,36]}"#).unwrap_err();
                let ours: Value =
                    serde_json::from_str(&message::error(ours.code, &ours.message)).unwrap();
                assert_eq!(ours, v, "the error example is what the server says");
            }
            "pong" => assert_eq!(serde_json::from_str::<Value>(&message::pong()).unwrap(), v),
            "agreement" => {
                let id = v["id"].as_str().unwrap();
                let ours: Value = serde_json::from_str(&message::agreement(id)).unwrap();
                assert_eq!(ours, v);
            }
            "alert" => {
                let seq = v["seq"].as_u64().unwrap();
                let a = &v["alert"];
                assert_eq!(a["id"].as_u64(), Some(seq));
                for key in ["at", "kind", "state", "condition", "message", "message_key"] {
                    assert!(a[key].is_string(), "alert.{key} in {v}");
                }
                // An alert is about a movement (or a contact point), a report notice about a
                // report, an overdue action alert about a meeting's action.
                if a["kind"] == "report" {
                    assert!(a["report"]["id"].is_string(), "alert.report in {v}");
                } else if a["kind"] == "overdue" {
                    assert!(a["meeting"]["id"].is_string() && a["action"]["id"].is_string());
                    assert!(a.get("movement").is_none(), "{v}");
                } else {
                    assert!(a["movement"].is_string(), "alert.movement in {v}");
                }
                let ours: Value = serde_json::from_slice(&message::alert(seq, a)).unwrap();
                assert_eq!(ours, v);
            }
            "replay" => {
                let time = |k: &str| {
                    chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap())
                        .unwrap()
                        .with_timezone(&chrono::Utc)
                };
                let ours = message::replay(&message::ReplayStatus {
                    state: v["state"].as_str().unwrap(),
                    at: time("at"),
                    seq: v["seq"].as_u64().unwrap(),
                    from: time("from"),
                    to: time("to"),
                    speed: v["speed"].as_f64().unwrap(),
                    reason: v["reason"].as_str(),
                });
                let ours: Value = serde_json::from_str(&ours).unwrap();
                assert_eq!(ours, v, "the replay example is what the server says");
            }
            other => panic!("undocumented message type {other}"),
        }
        types.push(ty);
    }
    for t in [
        "snapshot",
        "upsert",
        "remove",
        "batch",
        "error",
        "pong",
        "alert",
        "agreement",
        "replay",
    ] {
        assert!(types.iter().any(|x| x == t), "no example of `{t}`");
    }
}
