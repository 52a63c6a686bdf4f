//! A CAP 1.2 feed of alerts (OASIS Common Alerting Protocol 1.2): an Atom 1.0 feed (RFC 4287)
//! with one entry per alert, the whole CAP `<alert>` inline as the entry's content
//! (`type="application/cap+xml"`), as CAP aggregators read feeds; each alert also stands alone
//! and validates against the CAP 1.2 schema.
//!
//! Every alert has scope `Restricted` with a `restriction` saying whom it was made for, status
//! `Exercise` when its movement or item is an exercise item (else `Actual`), msgType `Alert`
//! when a condition is raised or for a notice, `Cancel` when it ends (referencing the raise
//! when the feed holds it). `Update` is not used: the log raises a condition once and ends it
//! once, its figures do not change in between. The wording, the figures and the area are the
//! caller's: the alert as `alerts::render` worded it for the caller and the Features of its
//! movement and item as `feature::render` made them for the caller. Pure.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use quick_xml::escape::escape;
use serde_json::Value;

use super::label;
use super::shape::Shape;
use crate::model::Layer;

pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// CAP's time: no fractional seconds, a numeric offset (the schema refuses `Z`).
pub fn cap_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// The feed as a whole.
pub struct Feed<'a> {
    /// The centre (CAP `sender`, Atom `author`).
    pub sender: &'a str,
    pub title: &'a str,
    /// This feed's own address (Atom `self` link).
    pub self_href: &'a str,
    pub updated: DateTime<Utc>,
    /// Whom it was made for (CAP `restriction`).
    pub restriction: &'a str,
}

/// One alert.
pub struct Entry<'a> {
    /// The alert as `alerts::render` worded it for the caller (`id`, `at`, `kind`, `state`,
    /// `condition`, `movement`, `message`).
    pub alert: &'a Value,
    /// Its movement and its item, as the caller sees them (Features).
    pub movement: &'a Value,
    pub item: Option<&'a Value>,
    /// Made in an exercise (its movement or its item is an exercise item).
    pub exercise: bool,
    /// For an end: the raise it ends, when the feed still holds it (its id and time).
    pub raised: Option<(u64, DateTime<Utc>)>,
}

/// `sender` and `identifier` may not hold spaces, commas, `<` or `&`.
fn token(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_whitespace() || matches!(c, ',' | '<' | '&') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn identifier(sender: &str, id: u64) -> String {
    format!("{}.alert.{id}", token(sender))
}

pub fn head(feed: &Feed) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = writeln!(
        out,
        "<id>urn:cmcop:{}:alerts</id>",
        escape(token(feed.sender))
    );
    let _ = writeln!(out, "<title>{}</title>", escape(feed.title));
    let _ = writeln!(
        out,
        "<updated>{}</updated>",
        crate::log::format_time(feed.updated)
    );
    let _ = writeln!(out, "<author><name>{}</name></author>", escape(feed.sender));
    let _ = writeln!(
        out,
        "<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
        escape(feed.self_href)
    );
    out
}

pub const TAIL: &str = "</feed>\n";

/// What the alert's kind is called (CAP `event`).
fn event(kind: &str) -> &'static str {
    match kind {
        "route_conflict" => "Route conflict",
        "geofence" => "Near a hazard",
        "off_route" => "Off planned route",
        "no_report" => "No position report",
        "unacknowledged" => "Notification not acknowledged",
        "acknowledged" => "Notification acknowledged",
        _ => "Convoy alert",
    }
}

fn layer_of(f: Option<&Value>) -> Option<Layer> {
    f?["properties"]["layer"].as_str()?.parse().ok()
}

/// CAP `category`, `severity` and `certainty` (proto/API.md "Exports" gives the table).
fn classify(
    kind: &str,
    ended: bool,
    item: Option<&Value>,
) -> (&'static str, &'static str, &'static str) {
    let p = item.map(|i| &i["properties"]);
    let s = |name: &str| p.and_then(|p| p[name].as_str());
    let category = match layer_of(item) {
        Some(Layer::Incidents) | Some(Layer::Areas) => "Security",
        Some(_) => "Transport",
        None => "Transport",
    };
    let grave = p
        .and_then(|p| p["severity"].as_u64())
        .is_some_and(|n| n >= 4)
        || s("status").is_some_and(|v| v == "closed" || v == "military_operations");
    let severity = match (ended, kind) {
        (true, _) => "Minor",
        (_, "route_conflict" | "geofence") if grave => "Severe",
        (_, "route_conflict" | "geofence" | "off_route" | "no_report") => "Moderate",
        _ => "Minor",
    };
    let certainty = match s("verification") {
        Some("reported") => "Likely",
        Some("refuted") => "Unlikely",
        _ => "Observed",
    };
    (category, severity, certainty)
}

/// CAP's `lat,lon`.
fn pair(p: [f64; 2]) -> String {
    format!("{},{}", p[1], p[0])
}

/// The area of a Feature: a polygon's outer ring, or a circle around what it covers.
fn area(out: &mut String, desc: &str, feature: &Value) {
    let _ = write!(out, "<area><areaDesc>{}</areaDesc>", escape(desc));
    match Shape::of(&feature["geometry"]) {
        Some(Shape::Polygon(rings)) if rings.first().is_some_and(|r| r.len() >= 4) => {
            let ring = rings[0]
                .iter()
                .map(|p| pair(*p))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = write!(out, "<polygon>{ring}</polygon>");
        }
        Some(shape) => {
            let ps = shape.all_positions();
            if let Some(first) = ps.first() {
                let (mut w, mut s, mut e, mut n) = (first[0], first[1], first[0], first[1]);
                for p in &ps {
                    w = w.min(p[0]);
                    e = e.max(p[0]);
                    s = s.min(p[1]);
                    n = n.max(p[1]);
                }
                let centre = [(w + e) / 2.0, (s + n) / 2.0];
                // Half the diagonal, in km (an equirectangular estimate, rounded up to 0.1 km),
                // or the grid the geometry was reduced to.
                let kx = 111.32 * centre[1].to_radians().cos();
                let half = (((e - w) * kx).powi(2) + ((n - s) * 110.57).powi(2)).sqrt() / 2.0;
                let reduced = feature["properties"]["precision_m"]
                    .as_f64()
                    .filter(|_| feature["properties"]["precision_reduced"].as_bool() == Some(true));
                let radius = (half.max(reduced.unwrap_or(0.0) / 1000.0) * 10.0).ceil() / 10.0;
                let _ = write!(out, "<circle>{} {radius}</circle>", pair(centre));
            }
        }
        None => {}
    }
    out.push_str("</area>");
}

/// One alert as an Atom entry holding the CAP alert.
pub fn entry(feed: &Feed, e: &Entry, out: &mut String) {
    let a = e.alert;
    let id = a["id"].as_u64().unwrap_or(0);
    let at = a["at"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(feed.updated);
    let kind = a["kind"].as_str().unwrap_or("");
    let ended = a["state"].as_str() == Some("ended");
    let message = a["message"].as_str().unwrap_or("");
    let headline: String = message.chars().take(160).collect();
    let ident = identifier(feed.sender, id);
    let _ = write!(
        out,
        "<entry><id>urn:cmcop:{}:alert:{id}</id><title>{}</title><updated>{}</updated>",
        escape(token(feed.sender)),
        escape(&headline),
        crate::log::format_time(at)
    );
    let _ = write!(
        out,
        "<content type=\"application/cap+xml\"><alert xmlns=\"{CAP_NS}\">"
    );
    let _ = write!(
        out,
        "<identifier>{}</identifier><sender>{}</sender><sent>{}</sent><status>{}</status><msgType>{}</msgType><scope>Restricted</scope><restriction>{}</restriction>",
        escape(&ident),
        escape(token(feed.sender)),
        cap_time(at),
        if e.exercise { "Exercise" } else { "Actual" },
        if ended { "Cancel" } else { "Alert" },
        escape(feed.restriction),
    );
    if let (true, Some((raised, raised_at))) = (ended, e.raised) {
        let _ = write!(
            out,
            "<references>{},{},{}</references>",
            escape(token(feed.sender)),
            escape(identifier(feed.sender, raised)),
            cap_time(raised_at)
        );
    }
    let (category, severity, certainty) = classify(kind, ended, e.item);
    let urgency = match a["state"].as_str() {
        Some("raised") => "Immediate",
        Some("ended") => "Past",
        _ => "Expected",
    };
    let _ = write!(
        out,
        "<info><language>en</language><category>{category}</category><event>{}</event><urgency>{urgency}</urgency><severity>{severity}</severity><certainty>{certainty}</certainty><effective>{}</effective><senderName>{}</senderName><headline>{}</headline><description>{}</description>",
        event(kind),
        cap_time(at),
        escape(feed.sender),
        escape(&headline),
        escape(message),
    );
    let mut parameter = |name: &str, value: &str| {
        let _ = write!(
            out,
            "<parameter><valueName>{name}</valueName><value>{}</value></parameter>",
            escape(value)
        );
    };
    parameter("cmcop:kind", kind);
    parameter("cmcop:state", a["state"].as_str().unwrap_or(""));
    parameter("cmcop:condition", a["condition"].as_str().unwrap_or(""));
    parameter("cmcop:movement", a["movement"].as_str().unwrap_or(""));
    if let Some(item) = a.get("item") {
        parameter(
            "cmcop:item",
            &format!(
                "{}/{}",
                item["layer"].as_str().unwrap_or(""),
                item["id"].as_str().unwrap_or("")
            ),
        );
    }
    parameter("cmcop:exercise", if e.exercise { "true" } else { "false" });
    match (e.item, layer_of(e.item)) {
        (Some(item), Some(layer)) => area(out, &label(layer, item), item),
        _ => {
            let desc = label(Layer::Movements, e.movement);
            area(out, &desc, e.movement)
        }
    }
    out.push_str("</info></alert></content></entry>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cap_times_have_an_offset_and_no_fraction() {
        let t = DateTime::parse_from_rfc3339("2026-12-07T10:11:12.345Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(cap_time(t), "2026-12-07T10:11:12+00:00");
        assert_eq!(
            identifier("Joint Centre, <x>&", 7),
            "Joint_Centre___x>_.alert.7"
        );
    }

    #[test]
    fn an_end_is_a_cancel_that_references_the_raise() {
        let feed = Feed {
            sender: "jcmc",
            title: "t",
            self_href: "/x",
            updated: Utc::now(),
            restriction: "r",
        };
        let movement = json!({"id": "WFP:m", "type": "Feature", "geometry": {"type": "LineString", "coordinates": [[44.0, 33.0], [44.2, 33.1]]}, "properties": {"layer": "movements", "name": "Convoy 1"}});
        let item = json!({"id": "ARMY:c", "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[44.0, 33.0], [44.1, 33.0], [44.1, 33.1], [44.0, 33.0]]]}, "properties": {"layer": "constraints", "status": "closed"}});
        let alert = json!({"id": 9, "at": "2026-12-07T10:00:00Z", "kind": "route_conflict", "state": "ended", "condition": "c", "movement": "WFP:m", "message": "ended"});
        let mut out = String::new();
        entry(
            &feed,
            &Entry {
                alert: &alert,
                movement: &movement,
                item: Some(&item),
                exercise: true,
                raised: Some((4, Utc::now())),
            },
            &mut out,
        );
        assert!(out.contains(
            "<status>Exercise</status><msgType>Cancel</msgType><scope>Restricted</scope>"
        ));
        assert!(out.contains("<references>jcmc,jcmc.alert.4,"));
        assert!(out.contains("<polygon>33,44 33,44.1 33.1,44.1 33,44</polygon>"));
        let raised = json!({"id": 4, "at": "2026-12-07T09:00:00Z", "kind": "route_conflict", "state": "raised", "condition": "c", "movement": "WFP:m", "message": "m"});
        let mut out = String::new();
        entry(
            &feed,
            &Entry {
                alert: &raised,
                movement: &movement,
                item: None,
                exercise: false,
                raised: None,
            },
            &mut out,
        );
        assert!(out.contains("<status>Actual</status><msgType>Alert</msgType>"));
        assert!(out.contains("<circle>33.05"), "{out}");
    }
}
