//! Checks of the demo scenario's content: it loads, has the size and variety the demo
//! promises (the desk's needs and contact points too), lies in Iraq, and plays through the model and the default policy as the writer
//! will play it. The live loop's generated items pass the same intake.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

use super::scenario::{load, Action, Scenario, Seed, FIRST_ID, ID_PREFIX};
use super::tables::Tables;
use super::Party;
use super::{convoys, incidents};
use crate::model::input::{parse_feature, parse_patch, Author};
use crate::model::{parse_time, Item, Layer, MovementStatus, Notification, Position, Props};
use crate::policy::{Channel, Policy, Viewer, Write};

/// Iraq's bounding box `[west, south, east, north]`: every scenario position lies inside it.
const IRAQ_BBOX: [f64; 4] = [38.7, 29.0, 48.6, 37.4];

fn now() -> DateTime<Utc> {
    parse_time("2026-11-29T10:17:23Z").unwrap()
}

fn seeded() -> Scenario {
    load(now()).unwrap_or_else(|e| panic!("{e}"))
}

fn in_iraq(p: &Position) -> bool {
    let [w, s, e, n] = IRAQ_BBOX;
    (w..=e).contains(&p[0]) && (s..=n).contains(&p[1])
}

fn build(seed: &Seed) -> Item {
    let draft = parse_feature(seed.layer, &seed.feature, now())
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", seed.id));
    draft.into_new_item(
        seed.id.clone(),
        seed.layer,
        Author {
            org: seed.by.org,
            side: seed.by.side(),
        },
        now(),
    )
}

#[test]
fn has_the_promised_size() {
    let s = seeded();
    assert!(
        s.count(Layer::Movements) >= 20,
        "{}",
        s.count(Layer::Movements)
    );
    assert!(s.count(Layer::Constraints) >= 30);
    assert!(s.count(Layer::Incidents) >= 60);
    let ids: HashSet<&str> = s.seeds.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), s.seeds.len(), "ids are unique");
    for a in &s.actions {
        assert!(ids.contains(a.id()), "action on unknown item {}", a.id());
    }
}

#[test]
fn every_feature_parses_is_an_exercise_and_lies_in_iraq() {
    let s = seeded();
    for seed in &s.seeds {
        assert!(seed.id.starts_with(ID_PREFIX));
        assert_eq!(seed.feature["id"], json!(seed.id));
        let item = build(seed);
        assert!(item.common.exercise, "{} is not an exercise", seed.id);
        for p in item.geometry.positions() {
            assert!(in_iraq(p), "{} has {p:?} outside Iraq", seed.id);
        }
    }
    for a in &s.actions {
        if let Action::Position { report, .. } = a {
            assert!(in_iraq(&report.position));
            assert!(report.at <= now());
        }
    }
}

/// Plays the scenario through the model and the default policy, as the writer will: every
/// creation, notification, acknowledgement, report and patch must be allowed.
#[test]
fn plays_through_the_model_and_policy() {
    let s = seeded();
    let policy = Policy::default_policy();
    let mut items: HashMap<String, Item> = HashMap::new();
    // The one write gate, as the writer asks it for the demo's channel.
    let admit = |by: &Party, write: Write<'_>| {
        policy
            .admit(&Viewer::new(by.role, by.org), Channel::Demo, write)
            .unwrap_or_else(|e| panic!("{} as {}: {e:?}", by.org, by.role))
    };
    for seed in &s.seeds {
        let item = build(seed);
        admit(&seed.by, Write::Create { item: &item });
        items.insert(seed.id.clone(), item);
    }
    for a in &s.actions {
        let item = items.get_mut(a.id()).unwrap();
        match a {
            Action::Notify { by, .. } => {
                admit(by, Write::Notify { current: item });
                let m = item.movement_mut().unwrap();
                assert!(!m.status.is_terminal(), "{} notified when over", a.id());
                m.notification = Notification::Notified;
            }
            Action::Acknowledge { by, .. } => {
                admit(by, Write::Acknowledge { current: item });
                let m = item.movement_mut().unwrap();
                assert_ne!(m.notification, Notification::Draft);
                m.notification = Notification::Acknowledged;
                m.acknowledged_by.push(by.org.to_string());
            }
            Action::Position { by, .. } => {
                admit(by, Write::Position { current: item });
                assert!(!item.movement().unwrap().status.is_terminal());
            }
            Action::Patch { by, patch, .. } => {
                let next = parse_patch(item, patch, now())
                    .and_then(|d| d.revise(item, now()))
                    .unwrap_or_else(|e| panic!("{}: {e}", a.id()));
                admit(
                    by,
                    Write::Change {
                        current: item,
                        next: &next,
                    },
                );
                *item = next;
            }
        }
    }
    // Every movement status and notification state is represented at the end.
    let movements: Vec<_> = items.values().filter_map(Item::movement).collect();
    for status in MovementStatus::ALL {
        assert!(
            movements.iter().any(|m| m.status == *status),
            "no movement is {status}"
        );
    }
    for n in Notification::ALL {
        assert!(movements.iter().any(|m| m.notification == *n), "none {n}");
    }
    assert!(movements.iter().any(|m| m.acknowledged_by.len() >= 2));
    assert!(movements.iter().any(|m| m.emergency));
    let released = items
        .values()
        .filter(|i| i.layer == Layer::Movements && !i.common.releasable_to.is_empty())
        .count();
    assert!(released >= 1);
    // Convoys on the road now have a window around now and a position.
    for (id, item) in &items {
        if let Some(m) = item.movement() {
            if m.status == MovementStatus::EnRoute {
                assert!(m.window_start <= now() && now() < m.window_end, "{id}");
            }
        }
    }
}

#[test]
fn constraints_cover_statuses_categories_hours_and_areas() {
    let s = seeded();
    let items: Vec<Item> = s
        .seeds
        .iter()
        .filter(|s| s.layer == Layer::Constraints)
        .map(build)
        .collect();
    let constraints: Vec<(&Item, &crate::model::Constraint)> = items
        .iter()
        .filter_map(|i| match &i.props {
            Props::Constraint(c) => Some((i, c)),
            _ => None,
        })
        .collect();
    for status in crate::model::ConstraintStatus::ALL {
        assert!(
            constraints.iter().any(|(_, c)| c.status == *status),
            "{status}"
        );
    }
    let categories: HashSet<_> = constraints.iter().map(|(_, c)| c.category).collect();
    assert!(categories.len() >= 6, "{categories:?}");
    let hours: Vec<_> = constraints
        .iter()
        .filter_map(|(i, c)| Some((i, c.daily_hours?)))
        .collect();
    assert!(hours.iter().any(
        |(i, h)| i.geometry.kind() == crate::model::GeometryKind::Point && h.start_min > h.end_min
    ));
    assert!(hours.iter().any(|(i, h)| {
        i.geometry.kind() == crate::model::GeometryKind::Polygon && h.to_string() == "22:00-05:00"
    }));
    assert!(constraints.iter().any(|(i, c)| {
        c.kind == Some(crate::model::layers::ConstraintKind::OperationArea)
            && i.common.marking == crate::model::Marking::Military
            && i.common.precision_m.is_some()
    }));
    assert!(constraints
        .iter()
        .any(|(i, _)| i.geometry.kind() == crate::model::GeometryKind::LineString));
}

#[test]
fn incidents_fall_in_the_past_week_with_a_mix_of_facts() {
    let s = seeded();
    let incidents: Vec<_> = s
        .seeds
        .iter()
        .filter(|s| s.layer == Layer::Incidents)
        .map(build)
        .collect();
    let mut types = HashSet::new();
    let (mut fatal, mut aid, mut precisions, mut verifications) =
        (0, 0, HashSet::new(), HashSet::new());
    for item in &incidents {
        let Props::Incident(i) = &item.props else {
            panic!("not an incident")
        };
        assert!(i.occurred_at <= now() && i.occurred_at >= now() - Duration::days(7));
        assert!(item.common.expires_at.is_some_and(|e| e > now()));
        types.insert(i.event_type);
        fatal += usize::from(i.fatalities > 0);
        aid += usize::from(i.aid_workers.is_some());
        precisions.insert(i.geo_precision);
        verifications.insert(i.verification);
    }
    assert!(types.len() >= 5, "{types:?}");
    assert!(
        fatal * 3 < incidents.len(),
        "fatalities are mostly 0: {fatal}"
    );
    assert!(aid >= 3);
    assert_eq!(precisions.len(), 3);
    assert_eq!(verifications.len(), 3);
}

#[test]
fn live_items_are_valid_too() {
    let tables = Tables::load().unwrap_or_else(|e| panic!("{e}"));
    let mut rng = StdRng::seed_from_u64(7);
    for n in 0..200 {
        let seed = incidents::reported_incident(
            &tables,
            &mut rng,
            format!("demo-inc-live-{n}"),
            now() - Duration::minutes(5),
        )
        .expect("an incident");
        let item = build(&seed);
        assert!(item.geometry.positions().all(in_iraq));
        let (seed, actions) =
            convoys::planned_convoy(&tables, &mut rng, format!("demo-mov-live-{n}"), now())
                .expect("a movement");
        let item = build(&seed);
        assert!(item.geometry.positions().all(in_iraq));
        assert!(item.movement().unwrap().window_start > now());
        assert!(actions.iter().all(|a| a.id() == seed.id));
        assert!(matches!(actions.first(), Some(Action::Notify { .. })));
    }
}

#[test]
fn the_first_item_is_the_one_that_tells_it_was_loaded() {
    assert_eq!(
        seeded().seeds.first().map(|s| s.id.as_str()),
        Some(FIRST_ID)
    );
}

#[test]
fn the_desk_has_needs_across_governorates_and_contacts_of_both_sides() {
    let s = seeded();
    let items: Vec<Item> = s.seeds.iter().map(build).collect();
    let needs: Vec<_> = items.iter().filter_map(Item::need).collect();
    assert!(needs.len() >= 10, "{}", needs.len());
    let areas: HashSet<_> = needs.iter().filter_map(|n| n.area.as_deref()).collect();
    let sectors: HashSet<_> = needs.iter().map(|n| n.sector).collect();
    assert!(
        areas.len() >= 5 && sectors.len() >= 6,
        "{areas:?} {sectors:?}"
    );
    assert!(needs.iter().any(|n| n.severity >= 4) && needs.iter().any(|n| n.severity <= 2));
    let contacts: Vec<_> = items
        .iter()
        .filter(|i| i.layer == Layer::Contacts)
        .collect();
    assert!(contacts.len() >= 8);
    for side in [crate::model::Side::Civil, crate::model::Side::Military] {
        let of_side: Vec<_> = contacts
            .iter()
            .filter_map(|i| i.contact())
            .filter(|c| c.side == side)
            .collect();
        assert!(of_side.len() >= 2, "{side:?}");
        assert!(
            of_side.iter().any(|c| c.unconfirmed(now(), now())),
            "no {side:?} contact point is due for confirmation"
        );
    }
}
