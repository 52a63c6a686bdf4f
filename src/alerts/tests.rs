//! Unit tests of the alert conditions, the book and the rendering.

use super::*;
use crate::log::{Event, Snapshot, GENESIS};
use crate::model::input::{parse_feature, Author};
use crate::model::{Layer, Role, Side};
use chrono::TimeZone;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 10, 5, 0, 0).unwrap()
}

fn item(layer: Layer, id: &str, feature: Value) -> Item {
    parse_feature(layer, &feature, now())
        .unwrap()
        .into_new_item(
            id.into(),
            layer,
            Author {
                org: "ARMY",
                side: Side::Military,
            },
            now(),
        )
}

fn area(id: &str, c: Position, status: &str, extra: Value) -> Item {
    let r = 0.01;
    let mut props = json!({"category": "hostilities", "kind": "operation_area", "status": status});
    if let (Some(p), Value::Object(e)) = (props.as_object_mut(), extra) {
        p.extend(e);
    }
    item(
        Layer::Constraints,
        id,
        json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
            [c[0] - r, c[1] - r], [c[0] + r, c[1] - r], [c[0] + r, c[1] + r],
            [c[0] - r, c[1] + r], [c[0] - r, c[1] - r]]]},
            "properties": props}),
    )
}

fn picture(items: Vec<Item>) -> Picture {
    Picture::from_snapshot(Snapshot {
        seq: 0,
        hash: GENESIS,
        items,
        retired: vec![],
        alerts: BookSnapshot::default(),
        federation: Default::default(),
        meetings: vec![],
    })
}

fn settings() -> Settings {
    Settings::new(FixedOffset::east_opt(3 * 3600).unwrap())
}

#[test]
fn an_incident_is_named_as_one_event_of_its_type() {
    let incident = |id: &str, event_type: &str, verification: &str| {
        item(
            Layer::Incidents,
            id,
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 36.0]},
                "properties": {"occurred_at": "2030-01-10T03:00:00Z", "event_type": event_type,
                    "severity": 3, "verification": verification}}),
        )
    };
    let riot = incident("i1", "riots", "reported");
    assert_eq!(
        describe(&riot, &View::FULL),
        "a reported riot (severity 3) (i1)"
    );
    let blast = incident("i2", "explosions_remote_violence", "confirmed");
    assert_eq!(
        describe(&blast, &View::FULL),
        "a confirmed explosion or remote violence (severity 3) (i2)"
    );
    // The same words as a key with parameters, for the pages' languages (issue 18.11).
    assert_eq!(
        super::wording::item(&riot, &View::FULL).to_json(),
        json!({"key": "msg.incident_reported", "params": {
            "what": {"term": "one_riot"},
            "severity": {"key": "msg.part.severity", "params": {"severity": 3}},
            "id": "i1",
        }})
    );
}

#[test]
fn the_geofence_takes_areas_in_force_and_recent_incidents_only() {
    let c = [44.0, 36.0];
    let items = vec![
        area("closed", c, "closed", json!({})),
        area("restricted", c, "restricted", json!({})),
        area("open", c, "open", json!({})),
        area("unknown", c, "unknown", json!({})),
        area(
            "ended",
            c,
            "closed",
            json!({"valid_until": "2030-01-10T04:00:00Z"}),
        ),
        // Daily 22:00-05:00 local (+03:00): 05:00Z is 08:00 local, not in force.
        area(
            "nightly",
            c,
            "closed",
            json!({"daily_hours": "22:00-05:00"}),
        ),
        // 23:00-09:00 across midnight: 08:00 local is in force.
        area("curfew", c, "closed", json!({"daily_hours": "23:00-09:00"})),
        area("elsewhere", [44.2, 36.0], "closed", json!({})),
        item(
            Layer::Incidents,
            "fresh",
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 36.015]},
                "properties": {"occurred_at": "2030-01-10T03:00:00Z", "event_type": "battles",
                    "severity": 3, "verification": "reported"}}),
        ),
        item(
            Layer::Incidents,
            "refuted",
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 36.015]},
                "properties": {"occurred_at": "2030-01-10T03:00:00Z", "event_type": "battles",
                    "severity": 3, "verification": "refuted"}}),
        ),
        item(
            Layer::Incidents,
            "old",
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 36.015]},
                "properties": {"occurred_at": "2029-12-01T03:00:00Z", "event_type": "battles",
                    "severity": 3, "verification": "reported"}}),
        ),
        item(
            Layer::Incidents,
            "far",
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 36.05]},
                "properties": {"occurred_at": "2030-01-10T03:00:00Z", "event_type": "battles",
                    "severity": 3, "verification": "reported"}}),
        ),
    ];
    let p = picture(items);
    let mut hits: Vec<(String, bool, f64)> = geofence(&p, c, now(), &settings())
        .into_iter()
        .map(|h| (h.item.id.clone(), h.inside, h.distance_m))
        .collect();
    hits.sort_by(|a, b| a.0.cmp(&b.0));
    let ids: Vec<&str> = hits.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(ids, ["closed", "curfew", "fresh", "restricted"], "{hits:?}");
    let fresh = &hits[2];
    assert!(
        !fresh.1 && (1_600.0..1_720.0).contains(&fresh.2),
        "{fresh:?}"
    );
    // Just outside the area's edge (about 1.1 km north of its centre): no longer inside.
    let outside: Vec<String> = geofence(&p, [44.0, 36.0115], now(), &settings())
        .into_iter()
        .filter(|h| h.item.layer == Layer::Constraints)
        .map(|h| h.item.id.clone())
        .collect();
    assert!(outside.is_empty(), "{outside:?}");
}

/// Near an item shared at reduced precision: the hit carries the figures measured on the
/// reduced geometry, or none when that is not near; a viewer who sees the item reduced
/// receives only the former, worded from those figures.
#[test]
fn a_reduced_item_is_judged_on_its_reduced_geometry_for_its_reduced_viewers() {
    let incident = |id: &str, at: Position, precision: f64| {
        item(
            Layer::Incidents,
            id,
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": at},
                "properties": {"occurred_at": "2030-01-10T03:00:00Z", "event_type": "battles",
                    "severity": 3, "verification": "reported", "precision_m": precision,
                    "releasable_to": ["WFP"], "marking": "military"}}),
        )
    };
    // The convoy at a point 0.04° north-east of a 10 km cell's centre (about 5.7 km).
    let centre = crate::model::geometry::snap([44.0, 36.0], 10_000.0);
    let convoy = [centre[0] + 0.04, centre[1] + 0.04];
    // Exactly where the convoy is, but its cell's centre is 5.7 km away; and 1 km north
    // at 250 m precision, whose cell's centre is within the buffer too.
    let coarse = incident("coarse", convoy, 10_000.0);
    let fine_at = [convoy[0], convoy[1] + 0.009];
    let fine = incident("fine", fine_at, 250.0);
    let p = picture(vec![coarse, fine]);
    let mut hits = geofence(&p, convoy, now(), &settings());
    hits.sort_by(|a, b| a.item.id.cmp(&b.item.id));
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0].distance_m, 0.0);
    assert!(hits[0].reduced.is_none(), "{:?}", hits[0].reduced);
    let shown = crate::model::geometry::snap(fine_at, 250.0);
    let seen_m = Geodesic::distance(
        geo::Point::new(convoy[0], convoy[1]),
        geo::Point::new(shown[0], shown[1]),
    );
    let r = hits[1]
        .reduced
        .as_ref()
        .expect("measured on the reduced point");
    assert_eq!(r.precision_m, 250.0);
    assert_eq!(r.distance_m, seen_m.round());
    assert_ne!(r.distance_m, hits[1].distance_m);

    let mut m = item(
        Layer::Movements,
        "m",
        json!({"type": "Feature", "geometry": {"type": "LineString",
            "coordinates": [[44.0, 35.9], [44.0, 36.2]]},
            "properties": {"name": "convoy", "window_start": "2030-01-10T04:00:00Z",
                "window_end": "2030-01-10T09:00:00Z", "marking": "public"}}),
    );
    m.org = "WFP".into();
    m.side = Side::Civil;
    let m = Arc::new(m);
    let policy = Policy::default_policy();
    let wfp = Viewer::new(Role::ConvoyPlanner, "WFP");
    let coordinator = Viewer::new(Role::Coordinator, "OCHA");
    for (h, reduced_one) in hits.iter().zip([false, true]) {
        let a = geofence_alert(&m, h);
        let l = Logged {
            seq: 1,
            at: now(),
            movement: m.id.clone(),
            alert: a.clone(),
        };
        // The coordinator sees the item exactly: the exact figures.
        let (mv, iv) = recipient(&policy, &coordinator, &m, &a).expect("a coordinator");
        let json = render(&l, &m, &mv, iv.as_ref());
        assert_eq!(json["distance_m"], h.distance_m, "{json}");
        // The movement's organisation is on the other side: reduced.
        match recipient(&policy, &wfp, &m, &a) {
            Some((mv, iv)) => {
                assert!(reduced_one, "{}", h.item.id);
                assert_eq!(iv.as_ref().and_then(View::precision_m), Some(250.0));
                let json = render(&l, &m, &mv, iv.as_ref());
                assert_eq!(json["distance_m"], seen_m.round(), "{json}");
            }
            None => assert!(!reduced_one, "{}", h.item.id),
        }
    }
}

#[test]
fn a_checkpoint_counts_within_geofence_m_and_not_beyond() {
    let cp = item(
        Layer::Constraints,
        "cp",
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 36.0]},
            "properties": {"category": "movement_restriction", "kind": "checkpoint",
                "status": "restricted", "restriction": "escort"}}),
    );
    let p = picture(vec![cp]);
    // 0.002° of latitude is about 222 m; 0.003° about 333 m (geofence_m is 250).
    assert_eq!(geofence(&p, [44.0, 36.002], now(), &settings()).len(), 1);
    assert!(geofence(&p, [44.0, 36.003], now(), &settings()).is_empty());
}

#[test]
fn the_book_raises_once_clears_once_and_survives_a_snapshot() {
    let mut book = AlertBook::default();
    let raise = |seq, key: &str, state| Logged {
        seq,
        at: now(),
        movement: "m".into(),
        alert: Alert::new(1, AlertKind::OffRoute, state, key.into()),
    };
    book.apply(raise(1, "off_route", AlertState::Raised));
    book.apply(raise(2, "no_report", AlertState::Raised));
    assert!(book.is_active("m", "off_route"));
    book.apply(raise(3, "off_route", AlertState::Ended));
    assert!(!book.is_active("m", "off_route"));
    let copy = AlertBook::from_snapshot(
        serde_json::from_value(serde_json::to_value(book.to_snapshot()).unwrap()).unwrap(),
    );
    assert_eq!(copy.to_snapshot(), book.to_snapshot());
    assert!(copy.is_active("m", "no_report"));
    assert_eq!(copy.recent().len(), 3);
    book.forget("m");
    assert!(book.active().is_empty());
}

#[test]
fn an_alert_event_leaves_the_movement_unchanged_and_fills_the_book() {
    let m = item(
        Layer::Movements,
        "m",
        json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[44.0, 36.0], [44.5, 36.0]]},
            "properties": {"name": "c", "window_start": "2030-01-10T04:00:00Z",
                "window_end": "2030-01-10T20:00:00Z"}}),
    );
    let mut p = picture(vec![m.clone()]);
    let alert = movement_alert(&m, AlertKind::OffRoute, AlertState::Raised);
    let event = Event {
        seq: 1,
        at: now(),
        actor: crate::log::Actor::system(),
        layer: Some(Layer::Movements),
        item_id: "m".into(),
        change: crate::log::Change::Alert(Box::new(alert.clone())),
    };
    p.replay(&event, [1; 32]).unwrap();
    assert_eq!(**p.get("m").unwrap(), m);
    assert!(p.alerts().is_active("m", "off_route"));
    // The log's text form round-trips.
    let r = crate::log::Record::seal(&event, GENESIS);
    assert_eq!(r.to_event().unwrap(), event);
}

#[test]
fn the_remaining_route_starts_where_the_convoy_is() {
    let route = vec![[44.0, 36.0], [44.2, 36.0], [44.4, 36.0]];
    let track = Track::new(&route, 1_000.0);
    let (d, along) = track.locate([44.1, 36.001]).unwrap();
    assert!((100.0..120.0).contains(&d), "{d}");
    let rest = access::cut(&route, along);
    assert_eq!(rest.len(), 3);
    assert!((rest[0][0] - 44.1).abs() < 1e-3, "{rest:?}");
    assert_eq!(rest[2], [44.4, 36.0]);
    assert!(track.locate([44.1, 36.02]).is_none(), "2 km off");
}

/// Issue 20.2: a change of an item's sharing withdraws the conditions about it; the withdrawal
/// carries the item as judged, ends the condition in the book, is worded without the item's
/// state, and a viewer who can no longer see the item does not list the raise (the withdrawal
/// it does). An old log record (no `withdrawn`) reads as before.
#[test]
fn a_sharing_change_withdraws_without_telling_the_items_state() {
    let m = item(
        Layer::Movements,
        "m",
        json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[44.0, 36.0], [44.5, 36.0]]},
            "properties": {"name": "c", "window_start": "2030-01-10T04:00:00Z",
                "window_end": "2030-01-10T20:00:00Z"}}),
    );
    let judged = area("k", [44.2, 36.0], "closed", json!({"marking": "joint"}));
    let mut now_item = judged.clone();
    assert!(!sharing_changed(&judged, &now_item));
    now_item.common.marking = crate::model::Marking::Military;
    if let Props::Constraint(k) = &mut now_item.props {
        k.status = ConstraintStatus::Open;
    }
    assert!(sharing_changed(&judged, &now_item));
    let mut raise = movement_alert(&m, AlertKind::RouteConflict, AlertState::Raised);
    raise.key = item_key(AlertKind::RouteConflict, "k");
    raise.item = Some(judged.clone());
    let raised = Logged {
        seq: 1,
        at: now(),
        movement: "m".into(),
        alert: raise,
    };
    let w = withdraw(&m, &raised);
    assert!(w.withdrawn && w.state == AlertState::Ended && w.key == raised.alert.key);
    assert_eq!(
        w.item.as_ref(),
        Some(&judged),
        "judged as its recipients saw it"
    );
    let mut book = AlertBook::default();
    book.apply(raised.clone());
    let withdrawal = Logged {
        seq: 2,
        at: now(),
        movement: "m".into(),
        alert: w,
    };
    book.apply(withdrawal.clone());
    assert!(!book.is_active("m", &raised.alert.key));

    let policy = Policy::default_policy();
    let wfp = Viewer::new(Role::ConvoyPlanner, "WFP");
    let mut mine = m.clone();
    mine.org = "WFP".into();
    let (mv, iv) = recipient(&policy, &wfp, &mine, &withdrawal.alert).expect("told of it");
    let out = render(&withdrawal, &mine, &mv, iv.as_ref());
    let said = out["message"].as_str().unwrap();
    assert_eq!(out["reason"], "withdrawn");
    assert!(
        said.ends_with("route conflict alert about k is withdrawn"),
        "{said}"
    );
    for word in ["closed", "open", "military", "operation area"] {
        assert!(!said.contains(word), "`{word}` told: {said}");
    }
    assert!(!still_visible(
        &policy,
        &wfp,
        &raised.alert,
        Some(&now_item)
    ));
    assert!(still_visible(
        &policy,
        &wfp,
        &withdrawal.alert,
        Some(&now_item)
    ));
    assert!(
        still_visible(&policy, &wfp, &raised.alert, None),
        "the item left the picture"
    );
    // The log format: an alert without the field reads as not withdrawn, and a withdrawal
    // round-trips.
    let mut old = serde_json::to_value(&raised.alert).unwrap();
    assert!(old.get("withdrawn").is_none());
    old["state"] = json!("ended");
    assert!(!serde_json::from_value::<Alert>(old).unwrap().withdrawn);
    let back: Alert =
        serde_json::from_value(serde_json::to_value(&withdrawal.alert).unwrap()).unwrap();
    assert_eq!(back, withdrawal.alert);
}

/// Issue 20 (residual 3): the alerter's own checks are held to a client's bounds. A watched
/// movement whose remaining route would cost more than `access::MAX_WORK` comparisons is not
/// checked: it gets one `route_unchecked` (no figures in its words, they count items its
/// readers may not see), its active conflicts stay, and once the route fits again the
/// condition ends and conflicts are judged again.
#[test]
fn a_route_beyond_the_bounds_is_said_unchecked_not_measured_without_end() {
    // 3,000 legs along 36.0 N, through a 4,000-vertex closed area around the whole route.
    let n = 3_000;
    let route: Vec<Value> = (0..=n)
        .map(|i| json!([44.0 + 0.5 * f64::from(i) / f64::from(n), 36.0]))
        .collect();
    let mut m = item(
        Layer::Movements,
        "m",
        json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": route},
            "properties": {"name": "c", "window_start": "2030-01-10T04:00:00Z",
                "window_end": "2030-01-10T20:00:00Z"}}),
    );
    if let Props::Movement(mv) = &mut m.props {
        // Watched, and no `unacknowledged` to tell apart.
        mv.notification = Notification::Acknowledged;
    }
    let ring: Vec<Value> = (0..=4_000)
        .map(|i| {
            let a = std::f64::consts::TAU * f64::from(i % 4_000) / 4_000.0;
            json!([44.25 + 0.4 * a.cos(), 36.0 + 0.1 * a.sin()])
        })
        .collect();
    let big = item(
        Layer::Constraints,
        "big",
        json!({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"category": "hostilities", "kind": "operation_area", "status": "closed"}}),
    );
    let small = area("small", [44.2, 36.0], "closed", json!({}));
    let mut p = picture(vec![m.clone(), big, small]);
    let mut tracks = Tracks::default();
    let started = std::time::Instant::now();
    let out = task::sweep(&p, &mut tracks, &settings(), now());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "measured, not bounded: {:?}",
        started.elapsed()
    );
    let kinds: Vec<_> = out.iter().map(|a| (a.alert.kind, a.alert.state)).collect();
    assert_eq!(
        kinds,
        vec![(AlertKind::RouteUnchecked, AlertState::Raised)],
        "not measured, said so once"
    );
    let raise = &out[0].alert;
    let (mv, _) = recipient(
        &Policy::default_policy(),
        &Viewer::new(Role::Coordinator, "OCHA"),
        &m,
        raise,
    )
    .expect("coordinators are told");
    let logged = Logged {
        seq: 1,
        at: now(),
        movement: "m".into(),
        alert: raise.clone(),
    };
    let said = render(&logged, &m, &mv, None)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(said.contains("not watched"), "{said}");
    assert!(
        !said.chars().any(|c| c.is_ascii_digit()),
        "no figures: {said}"
    );
    let event = |seq: u64, item_id: &str, layer: Layer, change: crate::log::Change| Event {
        seq,
        at: now(),
        actor: crate::log::Actor::system(),
        layer: Some(layer),
        item_id: item_id.into(),
        change,
    };
    p.replay(
        &event(
            1,
            "m",
            Layer::Movements,
            crate::log::Change::Alert(Box::new(raise.clone())),
        ),
        [1; 32],
    )
    .unwrap();
    assert!(
        task::sweep(&p, &mut tracks, &settings(), now()).is_empty(),
        "raised once"
    );
    // The big area goes: the route fits, the condition ends and the small area conflicts.
    p.replay(
        &event(
            2,
            "big",
            Layer::Constraints,
            crate::log::Change::Retired { version: 2 },
        ),
        [2; 32],
    )
    .unwrap();
    let out = task::sweep(&p, &mut tracks, &settings(), now());
    let mut kinds: Vec<_> = out
        .iter()
        .map(|a| (a.alert.kind.as_str(), a.alert.state))
        .collect();
    kinds.sort_by_key(|k| k.0);
    assert_eq!(
        kinds,
        vec![
            ("route_conflict", AlertState::Raised),
            ("route_unchecked", AlertState::Ended)
        ]
    );
}
