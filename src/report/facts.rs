//! What a report counts, gathered for one audience: the picture as it was when the period
//! began, then every event of the period applied in order (`Picture::replay`, the one rule of
//! what an event does), noting the changes the report is about. Every item and change counted
//! passes `Policy::decide` for the audience and is read from `feature::render` with that view,
//! so a hidden item is not counted and a hidden field is not read. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Period;
use crate::feature;
use crate::figures;
use crate::gazetteer::Gazetteer;
use crate::log::alert::AlertState;
use crate::log::{Change, Event};
use crate::model::{Item, Layer};
use crate::picture::Picture;
use crate::policy::{Policy, Viewer};

/// Who the report is for and what it covers.
pub struct Ask<'a> {
    pub policy: &'a Policy,
    pub viewer: &'a Viewer,
    pub gazetteer: &'a Gazetteer,
    pub period: Period,
    /// The period before, of the same length (incidents are compared with it).
    pub previous: Period,
}

/// An incident as the audience sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Incident {
    pub id: String,
    pub at: DateTime<Utc>,
    pub event_type: Option<String>,
    /// The governorate (P-code) its point lies in, as the audience sees the point.
    pub area: Option<String>,
    pub fatalities: u64,
    pub severity: Option<u64>,
    pub description: Option<String>,
    pub position: Option<[f64; 2]>,
    pub exercise: bool,
}

/// A constraint as the audience sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    pub id: String,
    pub category: Option<String>,
    pub status: Option<String>,
    pub geometry: Value,
}

/// A movement change as the audience sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Movement {
    pub id: String,
    pub name: Option<String>,
    pub at: DateTime<Utc>,
    /// Why it was aborted (its description, when the audience sees it).
    pub reason: Option<String>,
    pub route: Value,
}

/// An acknowledgement, and how long after the notification it came.
#[derive(Clone, Debug, PartialEq)]
pub struct Ack {
    pub id: String,
    pub org: String,
    pub at: DateTime<Utc>,
    pub minutes: Option<i64>,
}

/// An alert raised in the period that the audience receives.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub movement: String,
    /// The item the alert is about, if any.
    pub item: Option<String>,
    pub kind: &'static str,
    pub at: DateTime<Utc>,
    pub seq: u64,
}

/// Displacement figures of one governorate over the period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AreaFlows {
    pub arrivals: u64,
    pub returns: u64,
    pub departures: u64,
    /// The running total at the period's end (`figures::Day::present`).
    pub present: i64,
    pub ids: BTreeSet<String>,
}

/// Everything a report says, with the ids behind each figure.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    pub incidents: Vec<Incident>,
    pub previous_incidents: Vec<Incident>,
    pub opened: Vec<Constraint>,
    pub closed: Vec<Constraint>,
    pub in_force: Vec<Constraint>,
    pub notified: Vec<Movement>,
    pub acknowledged: Vec<Ack>,
    pub completed: Vec<Movement>,
    pub aborted: Vec<Movement>,
    pub alerts: Vec<Alert>,
    /// Per governorate P-code.
    pub displacement: BTreeMap<String, AreaFlows>,
    /// Arrivals plus returns per day of the period.
    pub displacement_days: BTreeMap<chrono::NaiveDate, u64>,
    /// Movements in the picture at the end whose route the map draws.
    pub routes: Vec<Movement>,
}

fn text(p: &Value, k: &str) -> Option<String> {
    p[k].as_str().map(str::to_string)
}

fn time(p: &Value, k: &str) -> Option<DateTime<Utc>> {
    p[k].as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn point(g: &Value) -> Option<[f64; 2]> {
    let c = g["coordinates"].as_array()?;
    Some([c.first()?.as_f64()?, c.get(1)?.as_f64()?])
}

/// The item rendered for the audience, or `None` when it may not see it.
fn shown(ask: &Ask, item: &Item) -> Option<Value> {
    let view = ask.policy.decide(item, ask.viewer)?;
    Some(feature::render(item, &view))
}

fn incident(ask: &Ask, f: &Value, id: &str) -> Option<Incident> {
    let p = &f["properties"];
    let at = time(p, "occurred_at")?;
    let position = point(&f["geometry"]);
    Some(Incident {
        id: id.to_string(),
        at,
        event_type: text(p, "event_type"),
        area: position
            .and_then(|at| ask.gazetteer.attribute(at, 1))
            .map(|a| a.pcode),
        fatalities: p["fatalities"].as_u64().unwrap_or(0),
        severity: p["severity"].as_u64(),
        description: text(p, "description"),
        position,
        exercise: p["exercise"].as_bool().unwrap_or(false),
    })
}

fn constraint(f: &Value, id: &str) -> Constraint {
    let p = &f["properties"];
    Constraint {
        id: id.to_string(),
        category: text(p, "category"),
        status: text(p, "status"),
        geometry: f["geometry"].clone(),
    }
}

fn movement(f: &Value, id: &str, at: DateTime<Utc>) -> Movement {
    let p = &f["properties"];
    Movement {
        id: id.to_string(),
        name: text(p, "name"),
        at,
        reason: text(p, "description"),
        route: f["geometry"].clone(),
    }
}

/// A constraint that restricts passage.
fn restricts(status: Option<&str>) -> bool {
    matches!(status, Some("restricted") | Some("closed"))
}

/// Notes what one event of the period did, as the audience sees it. `before` is the item
/// before the event, `after` after it.
pub fn note(
    ask: &Ask,
    facts: &mut Facts,
    event: &Event,
    before: Option<&Arc<Item>>,
    after: Option<&Arc<Item>>,
) {
    if !ask.period.contains(event.at) {
        return;
    }
    let id = event.item_id.as_str();
    match (&event.change, event.layer) {
        (Change::Alert(a), _) => {
            let Some(movement) = after else { return };
            if a.state == AlertState::Raised
                && crate::alerts::recipient(ask.policy, ask.viewer, movement, a).is_some()
            {
                facts.alerts.push(Alert {
                    movement: id.to_string(),
                    item: a.item.as_ref().map(|i| i.id.clone()),
                    kind: a.kind.as_str(),
                    at: event.at,
                    seq: event.seq,
                });
            }
        }
        (Change::Created(_), Some(Layer::Constraints)) => {
            if let Some(f) = after.and_then(|i| shown(ask, i)) {
                facts.opened.push(constraint(&f, id));
            }
        }
        (_, Some(Layer::Constraints)) => {
            // Closed: it restricted passage and now does not, or it left the picture.
            let Some(fb) = before.and_then(|i| shown(ask, i)) else {
                return;
            };
            let was = constraint(&fb, id);
            if !restricts(was.status.as_deref()) {
                return;
            }
            match after {
                None => facts.closed.push(was),
                Some(i) => {
                    if let Some(fa) = shown(ask, i) {
                        let now = constraint(&fa, id);
                        if !restricts(now.status.as_deref()) {
                            facts.closed.push(now);
                        }
                    }
                }
            }
        }
        (Change::Notified { .. }, Some(Layer::Movements)) => {
            if let Some(f) = after.and_then(|i| shown(ask, i)) {
                facts.notified.push(movement(&f, id, event.at));
            }
        }
        (Change::Acknowledged { org, .. }, Some(Layer::Movements)) => {
            let Some(f) = after.and_then(|i| shown(ask, i)) else {
                return;
            };
            let p = &f["properties"];
            // Told only when the audience sees who acknowledged.
            let listed = p["acknowledged_by"]
                .as_array()
                .is_some_and(|a| a.iter().any(|o| o.as_str() == Some(org.as_str())));
            if !listed {
                return;
            }
            let minutes = time(p, "notified_at").map(|n| (event.at - n).num_minutes().max(0));
            facts.acknowledged.push(Ack {
                id: id.to_string(),
                org: org.clone(),
                at: event.at,
                minutes,
            });
        }
        (Change::Updated(_), Some(Layer::Movements)) => {
            let status = |i: Option<&Arc<Item>>| {
                i.and_then(|i| shown(ask, i))
                    .map(|f| (text(&f["properties"], "status"), f))
            };
            let (Some((was, _)), Some((now, f))) = (status(before), status(after)) else {
                return;
            };
            if was == now {
                return;
            }
            match now.as_deref() {
                Some("arrived") => facts.completed.push(movement(&f, id, event.at)),
                Some("aborted") => facts.aborted.push(movement(&f, id, event.at)),
                _ => {}
            }
        }
        _ => {}
    }
}

/// Notes what the picture holds at the period's end: incidents of the period and the one
/// before, constraints in force, displacement figures, routes for the map.
pub fn at_end(ask: &Ask, facts: &mut Facts, picture: &Picture) {
    let mut items: Vec<&Arc<Item>> = picture.items().collect();
    items.sort_by(|a, b| a.id.cmp(&b.id));
    let mut flows = Vec::new();
    let mut now: HashMap<String, Value> = HashMap::new();
    for item in items {
        let Some(f) = shown(ask, item) else { continue };
        now.insert(item.id.clone(), f.clone());
        match item.layer {
            Layer::Incidents => {
                let Some(i) = incident(ask, &f, &item.id) else {
                    continue;
                };
                if ask.period.contains(i.at) {
                    facts.incidents.push(i);
                } else if ask.previous.contains(i.at) {
                    facts.previous_incidents.push(i);
                }
            }
            Layer::Constraints => {
                let c = constraint(&f, &item.id);
                let p = &f["properties"];
                let started = time(p, "valid_from").is_none_or(|t| t < ask.period.to);
                let lasts = time(p, "valid_until").is_none_or(|t| t >= ask.period.to);
                if restricts(c.status.as_deref()) && started && lasts {
                    facts.in_force.push(c);
                }
            }
            Layer::Movements => {
                let p = &f["properties"];
                let start = time(p, "window_start");
                let end = time(p, "window_end");
                let meets = start.is_some_and(|s| s < ask.period.to)
                    && end.is_some_and(|e| e >= ask.period.from);
                if meets {
                    facts
                        .routes
                        .push(movement(&f, &item.id, start.unwrap_or(ask.period.from)));
                }
            }
            Layer::Displacements => flows.push((item.id.clone(), f)),
            _ => {}
        }
    }
    displacement(ask, facts, &flows);
    as_now(facts, &now);
    facts
        .incidents
        .sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
    facts
        .previous_incidents
        .sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
}

fn displacement(ask: &Ask, facts: &mut Facts, flows: &[(String, Value)]) {
    let last_day = (ask.period.to - chrono::Duration::seconds(1)).date_naive();
    let first_day = ask.period.from.date_naive();
    let fig = |features: &mut dyn Iterator<Item = &Value>| {
        figures::daily(
            features,
            ask.gazetteer,
            &figures::Ask {
                area: None,
                from: None,
                to: Some(last_day),
                level: 1,
            },
        )
    };
    // The running totals come from every flow up to the period's end.
    let all = fig(&mut flows.iter().map(|(_, f)| f));
    for day in &all.days {
        let area = facts.displacement.entry(day.area.clone()).or_default();
        area.present = day.present;
        if day.date >= first_day {
            area.arrivals += day.arrivals;
            area.returns += day.returns;
            area.departures += day.departures;
            *facts.displacement_days.entry(day.date).or_default() += day.arrivals + day.returns;
        }
    }
    // The ids behind each area's figures: the flows of the period that count there, by the
    // same rule (each flow alone).
    for (id, f) in flows {
        for day in fig(&mut std::iter::once(f)).days {
            if day.date >= first_day {
                if let Some(area) = facts.displacement.get_mut(&day.area) {
                    area.ids.insert(id.clone());
                }
            }
        }
    }
    facts
        .displacement
        .retain(|_, a| a.arrivals + a.returns + a.departures > 0 || a.present != 0);
}

/// Keeps of the period's changes only those about items the audience sees at the report's
/// `seq`, with what it sees of them now: an item since retired, hidden or re-marked away from
/// the audience does not exist for it (as everywhere else), and a field hidden from it since
/// is not shown, nor a change that only that field tells of.
fn as_now(facts: &mut Facts, now: &HashMap<String, Value>) {
    let shows = |id: &str, field: &str| {
        now.get(id)
            .is_some_and(|f| !f["properties"][field].is_null())
    };
    let refresh_constraint = |c: &mut Constraint| {
        if let Some(f) = now.get(&c.id) {
            *c = constraint(f, &c.id);
        }
    };
    facts.opened.retain(|c| now.contains_key(&c.id));
    facts.opened.iter_mut().for_each(refresh_constraint);
    facts.closed.retain(|c| shows(&c.id, "status"));
    facts.closed.iter_mut().for_each(refresh_constraint);
    let refresh_movement = |m: &mut Movement| {
        if let Some(f) = now.get(&m.id) {
            *m = movement(f, &m.id, m.at);
        }
    };
    facts.notified.retain(|m| now.contains_key(&m.id));
    facts.notified.iter_mut().for_each(refresh_movement);
    for list in [&mut facts.completed, &mut facts.aborted] {
        list.retain(|m| shows(&m.id, "status"));
        list.iter_mut().for_each(refresh_movement);
    }
    facts.acknowledged.retain(|a| {
        now.get(&a.id).is_some_and(|f| {
            f["properties"]["acknowledged_by"]
                .as_array()
                .is_some_and(|l| l.iter().any(|o| o.as_str() == Some(a.org.as_str())))
        })
    });
    for a in &mut facts.acknowledged {
        if !shows(&a.id, "notified_at") {
            a.minutes = None;
        }
    }
    facts.alerts.retain(|a| {
        now.contains_key(&a.movement) && a.item.as_ref().is_none_or(|i| now.contains_key(i))
    });
}
