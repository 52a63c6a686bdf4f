//! An alert's message as a key with parameters (issue 18.11), the same sentence `render` words
//! in English, for the pages to word in the reader's language. Built from the figures `render`
//! already limited to what the viewer may see.

use chrono::{DateTime, Utc};

use crate::log::alert::{Alert, AlertKind, AlertState, ReportNote};
use crate::message::Message;
use crate::model::layers::{EventType, Verification};
use crate::model::{Item, Props};
use crate::policy::View;

/// What `render` measured for this viewer.
pub(super) struct Figures {
    pub distance: Option<f64>,
    pub about: bool,
    pub along_m: Option<f64>,
    pub eta: Option<DateTime<Utc>>,
    pub inside: bool,
}

/// The movement as the viewer may name it: by its name, or by its id.
/// A contact point, by name when the reader sees it.
pub(super) fn contact(name: Option<&str>, id: &str) -> Message {
    match name {
        Some(n) => Message::new("msg.contact_named").with("name", n),
        None => Message::new("msg.contact_id").with("id", id),
    }
}

pub(super) fn movement(name: Option<&str>, id: &str) -> Message {
    match name {
        Some(n) => Message::new("msg.movement_named").with("name", n),
        None => Message::new("msg.movement_id").with("id", id),
    }
}

/// A distance in metres, in km from 1 km, "about" when measured on reduced geometry.
fn distance(d: f64, about: bool) -> Message {
    let key = match (d >= 1_000.0, about) {
        (true, false) => "msg.distance_km",
        (true, true) => "msg.distance_km_about",
        (false, false) => "msg.distance_m",
        (false, true) => "msg.distance_m_about",
    };
    if d >= 1_000.0 {
        Message::new(key).with("km", (d / 100.0).round() / 10.0)
    } else {
        Message::new(key).with("m", d.round())
    }
}

pub(super) fn alert(
    a: &Alert,
    at: DateTime<Utc>,
    name: Message,
    what: Option<Message>,
    f: &Figures,
) -> Message {
    let what = || what.clone();
    let dist = |d: f64| distance(d, f.about);
    let base = |key| Message::new(key).phrase("movement", Some(name.clone()));
    match (a.kind, a.state) {
        (AlertKind::RouteConflict, AlertState::Raised) => base("msg.alert.route_conflict")
            .phrase("item", what())
            .phrase(
                "where",
                f.distance.map(|d| {
                    if d < 0.5 {
                        Message::new("msg.part.on_remaining_route")
                    } else {
                        Message::new("msg.part.from_remaining_route")
                            .phrase("distance", Some(dist(d)))
                    }
                }),
            )
            .phrase(
                "along",
                f.along_m
                    .map(|m| Message::new("msg.part.at_km").with("km", (m / 100.0).round() / 10.0)),
            )
            .phrase(
                "eta",
                f.eta
                    .map(|t| Message::new("msg.part.expected_at").time("at", t)),
            ),
        (AlertKind::RouteConflict, _) => {
            base("msg.alert.route_conflict_ended").phrase("item", what())
        }
        (AlertKind::RouteUnchecked, AlertState::Raised) => base("msg.alert.route_unchecked"),
        (AlertKind::RouteUnchecked, _) => base("msg.alert.route_checked_again"),
        (AlertKind::Geofence, AlertState::Raised) if f.inside => {
            base("msg.alert.geofence_entered").phrase("item", what())
        }
        (AlertKind::Geofence, AlertState::Raised) => match f.distance {
            Some(d) => base("msg.alert.geofence_near_by")
                .phrase("item", what())
                .phrase("distance", Some(dist(d))),
            None => base("msg.alert.geofence_near").phrase("item", what()),
        },
        (AlertKind::Geofence, _) => base("msg.alert.geofence_left").phrase("item", what()),
        (AlertKind::OffRoute, AlertState::Raised) => match f.distance {
            Some(d) => base("msg.alert.off_route_by").phrase("distance", Some(dist(d))),
            None => base("msg.alert.off_route"),
        },
        (AlertKind::OffRoute, _) => base("msg.alert.back_on_route"),
        (AlertKind::NoReport, AlertState::Raised) => match a.since {
            Some(t) => base("msg.alert.no_report_since")
                .time("since", t)
                .with("minutes", (at - t).num_minutes()),
            None => base("msg.alert.no_report"),
        },
        (AlertKind::NoReport, _) => base("msg.alert.reports_resumed"),
        (AlertKind::Unacknowledged, AlertState::Raised) => match a.since {
            Some(t) if t > at => base("msg.alert.unacknowledged_departs").time("departs", t),
            Some(t) => base("msg.alert.unacknowledged_was_due").time("departs", t),
            None => base("msg.alert.unacknowledged"),
        },
        (AlertKind::Unacknowledged, _) => base("msg.alert.unacknowledged_ended"),
        (AlertKind::Acknowledged, _) => match a.org.as_deref() {
            Some(org) => base("msg.alert.acknowledged_by").with("org", org),
            None => base("msg.alert.acknowledged"),
        },
        (AlertKind::Unconfirmed, AlertState::Raised) => base("msg.alert.unconfirmed")
            .with("days", crate::model::layers::contact::CONFIRM_WITHIN_DAYS),
        (AlertKind::Unconfirmed, _) => base("msg.alert.confirmed"),
        // Worded by `report` from the notice alone; never reaches here with a movement.
        (AlertKind::Report, _) => base("msg.alert.report_made"),
        (AlertKind::Overdue, _) => base("msg.alert.overdue_unknown"),
    }
}

/// A report made: its kind (a term), its period (times the page formats) and its id.
pub(super) fn report(r: &ReportNote) -> Message {
    Message::new("msg.alert.report_made")
        .term("kind", &format!("{}_report", r.kind))
        .time("from", r.from)
        .time("to", r.to)
        .with("id", r.id.as_str())
}

/// The item in a few words, naming only what the view shows (as `describe`).
pub(super) fn item(item: &Item, v: &View) -> Message {
    let shown = |f: &str| !v.hidden.contains(f);
    match &item.props {
        Props::Constraint(k) => {
            let kind = shown("kind")
                .then_some(k.kind)
                .flatten()
                .map(|k| k.as_str())
                .or_else(|| shown("category").then(|| k.category.as_str()))
                .unwrap_or("constraint");
            let m = if shown("status") {
                Message::new("msg.the_constraint").term("status", k.status.as_str())
            } else {
                Message::new("msg.the_constraint_nostatus")
            };
            m.term("kind", kind).with("id", item.id.as_str())
        }
        Props::Incident(i) => {
            let what = if shown("event_type") {
                match i.event_type {
                    EventType::Battles => "battle",
                    EventType::ExplosionsRemoteViolence => "explosion",
                    EventType::ViolenceAgainstCivilians => "violence_against_civilians",
                    EventType::Protests => "protest",
                    EventType::Riots => "riot",
                    EventType::StrategicDevelopments => "strategic_development",
                }
            } else {
                "incident"
            };
            let key = match (shown("verification"), i.verification) {
                (true, Verification::Confirmed) => "msg.incident_confirmed",
                _ => "msg.incident_reported",
            };
            Message::new(key)
                .term("what", &format!("one_{what}"))
                .phrase(
                    "severity",
                    shown("severity")
                        .then(|| Message::new("msg.part.severity").with("severity", i.severity)),
                )
                .with("id", item.id.as_str())
        }
        Props::Movement(_) => Message::new("msg.movement_id").with("id", item.id.as_str()),
        // Displacement flows, dated areas and needs are not judged against routes; should an
        // alert ever name one, it is named by its layer and id.
        Props::Displacement(_) | Props::Area(_) | Props::Need(_) | Props::Contact(_) => {
            Message::new("msg.item_id")
                .with("layer", item.layer.as_str())
                .with("id", item.id.as_str())
        }
    }
}
