//! Access-check cases about viewers (policy hides and reduces, hidden fields), validation,
//! degenerate plans and the search through the picture's index.

use super::*;

#[test]
fn policy_hides_and_reduces() {
    let policy = Policy::default_policy();
    let planner = Viewer::new(Role::ConvoyPlanner, "WFP");
    let mut closed = constraint("mil", Geometry::Point(KHAZER));
    closed.common.marking = Marking::Military;
    let check_for = |items: &[Arc<Item>], viewer: &Viewer| {
        check_items(
            &plan(),
            items,
            &policy,
            viewer,
            Exercise::Exclude,
            &settings(),
            now(),
        )
    };
    let report = check_for(&[Arc::new(closed.clone())], &planner);
    assert_eq!(
        report.verdict,
        Verdict::Clear,
        "a military-only closure stays hidden"
    );
    assert!(report.conflicts.is_empty());
    let army = Viewer::new(Role::MilitaryLiaison, "POLICE");
    assert_eq!(
        check_for(&[Arc::new(closed.clone())], &army).verdict,
        Verdict::Blocked
    );
    closed.common.releasable_to = vec!["WFP".into()];
    let report = check_for(&[Arc::new(closed.clone())], &planner);
    assert_eq!(
        report.verdict,
        Verdict::Blocked,
        "released to the planner's org"
    );

    // Reduced precision: the planner is matched on the snapped point, and told so. Look for a
    // place 1.7 km off the road whose 5 km cell centre also lies within the buffer.
    let mut found = None;
    for step in 1..20 {
        let exact = beside(f64::from(step) / 20.0, 1_700.0);
        let snapped = match Geometry::Point(exact).reduced(5_000.0) {
            Geometry::Point(p) => p,
            other => panic!("{other:?}"),
        };
        let as_seen = run(&plan(), &[constraint("coarse", Geometry::Point(snapped))]);
        if let Some(c) = as_seen.conflicts.first() {
            if (c.distance_m - 1_700.0).abs() > 10.0 {
                found = Some((exact, c.distance_m));
                break;
            }
        }
    }
    let (exact, seen_distance) = found.expect("some cell centre lies within the buffer");
    let mut reduced = constraint("coarse", Geometry::Point(exact));
    reduced.common.precision_m = Some(5_000.0);
    let report = check_for(&[Arc::new(reduced.clone())], &planner);
    let c = &report.conflicts[0];
    assert!(c.precision_reduced);
    assert_eq!(c.precision_m, Some(5_000.0));
    assert_eq!(c.distance_m, seen_distance);
    assert!(c.reason.contains("5000 m grid"), "{}", c.reason);
    // The military side sees it exactly.
    let report = check_for(&[Arc::new(reduced)], &army);
    assert!(!report.conflicts[0].precision_reduced);
    assert!((report.conflicts[0].distance_m - 1_700.0).abs() <= 2.0);

    // Exercise items stay out unless asked for.
    let mut drill = constraint("drill", Geometry::Point(KHAZER));
    drill.common.exercise = true;
    let drill = [Arc::new(drill)];
    assert_eq!(check_for(&drill, &planner).verdict, Verdict::Clear);
    let report = check_items(
        &plan(),
        &drill,
        &policy,
        &planner,
        Exercise::Include,
        &settings(),
        now(),
    );
    assert_eq!(report.verdict, Verdict::Blocked);
}

#[test]
fn hidden_fields_are_not_used_or_shown() {
    let policy = Policy::default_policy();
    let planner = Viewer::new(Role::ConvoyPlanner, "WFP");
    let mut k = closure(ConstraintStatus::Closed);
    k.valid_until = Some(t("2030-01-10T06:10:00Z"));
    let mut it = item("k", Geometry::Point(KHAZER), Props::Constraint(k));
    for f in ["status", "valid_until", "kind"] {
        it.common.field_markings.insert(f.into(), Marking::Military);
    }
    let report = check_items(
        &plan(),
        &[Arc::new(it)],
        &policy,
        &planner,
        Exercise::Exclude,
        &settings(),
        now(),
    );
    // The hidden end of validity is not applied, the hidden status counts as unknown, and the
    // kind falls back to the category.
    assert_eq!(report.verdict, Verdict::Caution, "{report:?}");
    let c = &report.conflicts[0];
    assert_eq!(c.status.as_deref(), Some("unknown"));
    assert_eq!(c.kind.as_deref(), Some("movement_restriction"));
    assert!(!c.reason.contains("closed"), "{}", c.reason);
    // The reason's key and parameters (for the pages' languages) hide the same (issue 18.11).
    assert_eq!(c.reason_key, "msg.conflict.constraint_status_hidden");
    let params = serde_json::to_string(&c.reason_params).unwrap();
    assert!(!params.contains("closed"), "{params}");
    assert!(params.contains("movement_restriction"), "{params}");
}

#[test]
fn validate_names_the_field() {
    let mut p = plan();
    p.arrive = Some(p.depart);
    assert_eq!(p.validate("route").unwrap_err().field, "arrive");
    let mut p = plan();
    p.buffer_m = 60_000.0;
    assert_eq!(p.validate("route").unwrap_err().field, "buffer_m");
    let mut p = plan();
    p.incidents_since_h = 721;
    assert_eq!(p.validate("route").unwrap_err().field, "incidents_since_h");
    let mut p = plan();
    p.speed_kmh = Some(0.0);
    assert_eq!(p.validate("route").unwrap_err().field, "speed_kmh");
    let mut p = plan();
    p.route = vec![KHAZER, KHAZER];
    assert_eq!(p.validate("movement").unwrap_err().field, "movement");
    plan().validate("route").unwrap();
}

/// A movement's route reduced into one cell is one place: only a reduced route may be one,
/// and it is checked as the disc around that place, exposed for the whole window.
#[test]
fn a_route_reduced_to_one_place_is_checked_as_that_place() {
    let mut p = plan();
    p.route = vec![KHAZER];
    assert_eq!(p.validate("movement").unwrap_err().field, "movement");
    p.route_precision_m = Some(10_000.0);
    p.validate("movement").unwrap();
    let near = Geodesic::destination(geo::Point::new(KHAZER[0], KHAZER[1]), 0.0, 1_500.0);
    let far = Geodesic::destination(geo::Point::new(KHAZER[0], KHAZER[1]), 90.0, 2_500.0);
    let items = [
        constraint("near", Geometry::Point([near.x(), near.y()])),
        constraint("far", Geometry::Point([far.x(), far.y()])),
    ];
    let r = run(&p, &items);
    assert_eq!(r.route_precision_m, Some(10_000.0));
    assert_eq!(r.route_length_m, 0.0);
    assert_eq!(r.verdict, Verdict::Blocked);
    assert_eq!(r.conflicts.len(), 1, "{:?}", r.conflicts);
    let c = &r.conflicts[0];
    assert_eq!(c.id, "near");
    assert!((c.distance_m - 1_500.0).abs() < 1.0, "{}", c.distance_m);
    assert_eq!(c.exposure.from, p.depart);
    assert_eq!(Some(c.exposure.until), p.arrive);
    // The index search finds it, and only it.
    let picture = picture_of(items.to_vec());
    let found = picture.near(&p.corridor(), &[Layer::Constraints]);
    let found: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(found, ["near"]);
}

#[test]
fn degenerate_plans_do_not_panic() {
    let items = [constraint("k", Geometry::Point(KHAZER))];
    let mut p = plan();
    p.route = vec![KHAZER];
    run(&p, &items);
    p.route = vec![];
    run(&p, &items);
    p.route = vec![KHAZER, KHAZER];
    let r = run(&p, &items);
    assert_eq!(r.route_length_m, 0.0);
    p.route = vec![[179.9, 0.0], [-179.9, 0.0]];
    p.buffer_m = 0.0;
    run(&p, &[constraint("a", Geometry::Point([180.0, 0.0]))]);
    p.arrive = Some(DateTime::<Utc>::MAX_UTC);
    run(&p, &items);
}

/// The search through the picture's index finds exactly what measuring every item finds.
#[test]
fn indexed_search_finds_what_a_full_scan_finds() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(4);
    let mut items = Vec::new();
    for i in 0..3_000 {
        let base = lerp(ERBIL, delta(ERBIL, MOSUL), rng.gen_range(-0.1..1.1));
        let p = [
            base[0] + rng.gen_range(-0.1..0.1),
            base[1] + rng.gen_range(-0.1..0.1),
        ];
        let geometry = match i % 3 {
            0 => Geometry::Point(p),
            1 => Geometry::LineString(vec![p, [p[0] + 0.02, p[1] + 0.01]]),
            _ => square(p, 0.01),
        };
        let mut it = if i % 2 == 0 {
            constraint(&format!("c{i}"), geometry)
        } else {
            incident(
                &format!("i{i}"),
                p,
                "2030-01-10T00:00:00Z",
                Verification::Reported,
            )
        };
        if i % 7 == 0 {
            it.common.precision_m = Some(3_000.0);
        }
        items.push(it);
    }
    let picture = picture_of(items.clone());
    let policy = Policy::default_policy();
    let planner = Viewer::new(Role::ConvoyPlanner, "WFP");
    // The road as given, and as a GPS trace would give it: a vertex every few hundred metres.
    let mut trace = vec![ERBIL];
    for w in route().windows(2) {
        let d = delta(w[0], w[1]);
        for k in 1..=150 {
            let p = lerp(w[0], d, f64::from(k) / 150.0);
            trace.push([
                p[0] + rng.gen_range(-0.002..0.002),
                p[1] + rng.gen_range(-0.002..0.002),
            ]);
        }
    }
    let routes = [route(), trace];
    for (route, buffer) in routes
        .iter()
        .flat_map(|r| [0.0, 500.0, 2_000.0, 10_000.0].map(|b| (r, b)))
    {
        let mut p = plan();
        p.route = route.clone();
        p.buffer_m = buffer;
        let all: Vec<Arc<Item>> = items.iter().cloned().map(Arc::new).collect();
        let near = picture.near(&p.corridor(), &[Layer::Constraints, Layer::Incidents]);
        assert!(near.len() < all.len());
        let go = |set: &[Arc<Item>]| {
            check_items(
                &p,
                set,
                &policy,
                &planner,
                Exercise::Exclude,
                &settings(),
                now(),
            )
        };
        let (full, indexed) = (go(&all), go(&near));
        assert_eq!(full, indexed, "buffer {buffer}");
        if buffer >= 2_000.0 {
            assert!(!full.conflicts.is_empty());
        }
    }
}

/// Passing incidents over by time in the index (`incident_window`) changes no answer, for
/// every role: times inside and outside the look-back, refuted ones, reduced positions, and
/// incidents whose time a field marking hides from some viewers (measured, as "time not
/// shared", by those viewers).
#[test]
fn passing_incidents_over_by_time_changes_no_answer() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let markings = [
        Marking::Public,
        Marking::Joint,
        Marking::Civil,
        Marking::Military,
    ];
    let mut items = Vec::new();
    for i in 0..2_000 {
        let base = lerp(ERBIL, delta(ERBIL, MOSUL), rng.gen_range(-0.1..1.1));
        let p = [
            base[0] + rng.gen_range(-0.05..0.05),
            base[1] + rng.gen_range(-0.05..0.05),
        ];
        let mut it = if i % 5 == 0 {
            constraint(&format!("c{i}"), Geometry::Point(p))
        } else {
            // From 20 days before `now` to a day after it.
            let at = now() + chrono::Duration::minutes(rng.gen_range(-20 * 1440..1440));
            let verification = if i % 9 == 0 {
                Verification::Refuted
            } else {
                Verification::Reported
            };
            incident(&format!("i{i}"), p, &at.to_rfc3339(), verification)
        };
        it.common.marking = markings[i % markings.len()];
        if i % 11 == 0 {
            it.common
                .field_markings
                .insert("occurred_at".into(), Marking::Military);
        }
        if i % 7 == 0 {
            it.common.precision_m = Some(2_000.0);
        }
        if i % 2 == 0 {
            it.org = "WFP".into();
            it.side = Side::Civil;
        }
        items.push(it);
    }
    let picture = picture_of(items);
    let policy = Policy::default_policy();
    let mut passed_over = 0;
    for role in Role::BUILT_IN {
        for org in ["WFP", "ARMY", "UNICEF"] {
            let viewer = Viewer::new(*role, org);
            for since_h in [6, 72, 24 * 30] {
                let mut p = plan();
                p.buffer_m = 3_000.0;
                p.incidents_since_h = since_h;
                let window = incident_window(&p, &policy, &viewer, now());
                assert!(
                    window.is_some(),
                    "{role:?}: the default policy hides no time"
                );
                let layers = [Layer::Constraints, Layer::Incidents];
                let all = picture.near(&p.corridor(), &layers);
                let within = picture.near_within(&p.corridor(), &layers, window);
                passed_over += all.len() - within.len();
                let go = |set: &[Arc<Item>]| {
                    check_items(
                        &p,
                        set,
                        &policy,
                        &viewer,
                        Exercise::Exclude,
                        &settings(),
                        now(),
                    )
                };
                let (a, b) = (go(&all), go(&within));
                assert_eq!(a, b, "{role:?} {org} {since_h} h");
                if since_h == 72 && *role == Role::ConvoyPlanner && org == "UNICEF" {
                    // Some incidents are measured with their time not shared: the ones whose
                    // time is marked military.
                    assert!(a.conflicts.iter().any(|c| c.reason.contains("not shared")));
                }
            }
        }
    }
    assert!(
        passed_over > 10_000,
        "the window passes incidents over: {passed_over}"
    );
}

#[test]
fn what_a_view_may_hide_is_known_per_role() {
    let policy = Policy::default_policy();
    for role in Role::BUILT_IN {
        let v = Viewer::new(*role, "WFP");
        assert!(
            !policy.may_hide(&v, Layer::Incidents, "occurred_at"),
            "{role:?}"
        );
    }
    let military = Viewer::new(Role::MilitaryLiaison, "ARMY");
    assert!(policy.may_hide(&military, Layer::Incidents, "description"));
    assert!(policy.may_hide(&military, Layer::Movements, "cargo"));
    assert!(!policy.may_hide(
        &Viewer::new(Role::Coordinator, "OCHA"),
        Layer::Movements,
        "cargo"
    ));
    assert!(policy.may_hide(&Viewer::peer("other"), Layer::Incidents, "occurred_at"));
}

/// A picture of `items` as a snapshot loads it (the index built in bulk).
fn picture_of(items: Vec<Item>) -> Picture {
    Picture::from_snapshot(crate::log::Snapshot {
        alerts: Default::default(),
        seq: 0,
        hash: crate::log::GENESIS,
        items,
        retired: vec![],
        federation: Default::default(),
        meetings: vec![],
    })
}
