//! Unit tests of the read policy (`Policy::decide`).

use super::*;
use crate::model::input::{parse_feature, Author};
use chrono::Utc;
use serde_json::json;

fn item(layer: Layer, props: serde_json::Value, org: &str, side: Side) -> Item {
    let geometry = match layer {
        Layer::Movements => {
            json!({"type":"LineString","coordinates":[[44.0,36.1],[43.1,36.3]]})
        }
        _ => json!({"type":"Point","coordinates":[43.1,36.3]}),
    };
    let f = json!({"type":"Feature","geometry":geometry,"properties":props});
    parse_feature(layer, &f, Utc::now()).unwrap().into_new_item(
        "x".into(),
        layer,
        Author { org, side },
        Utc::now(),
    )
}

fn movement(marking: &str) -> Item {
    item(
        Layer::Movements,
        json!({"name":"c","window_start":"2026-12-01T06:00:00Z","window_end":"2026-12-01T09:00:00Z",
               "cargo":"food","personnel":4,"contact":"+964 750","description":"x","marking":marking,
               "vehicles":{"count":3,"plates":["A"]}}),
        "WFP",
        Side::Civil,
    )
}

#[test]
fn default_policy_loads() {
    Policy::default_policy();
}

#[test]
fn military_sees_movements_only_once_notified_and_only_deconfliction_fields() {
    let p = Policy::default_policy();
    let army = Viewer::new(Role::MilitaryLiaison, "ARMY");
    let mut m = movement("joint");
    assert_eq!(p.decide(&m, &army), None);
    m.movement_mut().unwrap().notification = Notification::Notified;
    let v = p.decide(&m, &army).unwrap();
    for f in ["cargo", "personnel", "description"] {
        assert!(v.hidden.contains(f), "{f} must be hidden");
    }
    for f in ["contact", "vehicles.plates", "window_start", "name"] {
        assert!(!v.hidden.contains(f), "{f} must be visible");
    }
}

#[test]
fn markings_own_org_and_release() {
    let p = Policy::default_policy();
    let m = movement("civil");
    let ngo = Viewer::new(Role::CivilLiaison, "NRC");
    let own = Viewer::new(Role::ConvoyPlanner, "WFP");
    let wall = Viewer::new(Role::WallDisplay, "JCMC");
    assert!(p.decide(&m, &ngo).is_some());
    assert_eq!(p.decide(&m, &own), Some(View::FULL));
    assert_eq!(p.decide(&m, &wall), None);
    let c = item(
        Layer::Constraints,
        json!({"category":"hostilities","status":"closed","marking":"military","precision_m":5000.0}),
        "ARMY",
        Side::Military,
    );
    assert_eq!(p.decide(&c, &ngo), None);
    let mut released = c.clone();
    released.common.releasable_to = vec!["NRC".into()];
    let v = p.decide(&released, &ngo).unwrap();
    assert_eq!(v.precision_m(), Some(5000.0));
    assert!(v.hidden.contains("releasable_to"));
    let other_army = Viewer::new(Role::MilitaryLiaison, "POLICE");
    assert_eq!(p.decide(&c, &other_army).unwrap().precision_m(), None);
}

#[test]
fn a_peer_centre_sees_its_agreement_and_nothing_else() {
    let sharing: Sharing = toml::from_str(
        r#"layers = ["constraints"]
           markings = ["joint"]
           releasable_to = "JCC"
           orgs = ["ARMY"]
           hidden_fields = ["source"]
           precision_m = 2000.0
           markings_out = { joint = "public", military = "restricted" }"#,
    )
    .unwrap();
    let p = Policy::default_policy()
        .with_peers([("JCC", &sharing)])
        .unwrap();
    let jcc = Viewer::peer("JCC");
    let c = |marking: &str, org: &str, extra: serde_json::Value| {
        let mut props = json!({"category":"hostilities","status":"closed","marking":marking,
                               "source":"patrol"});
        crate::model::input::merge_patch(&mut props, &extra);
        item(Layer::Constraints, props, org, Side::Military)
    };
    let v = p.decide(&c("joint", "ARMY", json!({})), &jcc).unwrap();
    assert_eq!(v.border, Some(Marking::Public));
    assert!(v.hidden.contains("source") && v.hidden.contains("releasable_to"));
    assert_eq!(
        v.precision_m(),
        Some(2000.0),
        "the agreement's grid applies"
    );
    let coarse = c("joint", "ARMY", json!({"precision_m": 5000.0}));
    assert_eq!(p.decide(&coarse, &jcc).unwrap().precision_m(), Some(5000.0));
    // Wrong marking, wrong organisation, wrong layer: nothing.
    assert_eq!(p.decide(&c("military", "ARMY", json!({})), &jcc), None);
    assert_eq!(p.decide(&c("joint", "POLICE", json!({})), &jcc), None);
    assert_eq!(p.decide(&movement("joint"), &jcc), None);
    // Released to the peer: crosses under the mapped marking; a civil one has no mapping.
    let released = c("military", "ARMY", json!({"releasable_to": ["JCC"]}));
    assert_eq!(
        p.decide(&released, &jcc).unwrap().border,
        Some(Marking::Restricted)
    );
    let civil = c("civil", "ARMY", json!({"releasable_to": ["JCC"]}));
    assert_eq!(p.decide(&civil, &jcc), None);
    // A field marked beyond the agreement is hidden.
    let fm = c(
        "joint",
        "ARMY",
        json!({"field_markings": {"restriction": "military"}}),
    );
    assert!(p.decide(&fm, &jcc).unwrap().hidden.contains("restriction"));
    // From another centre: never sent on. A peer without an agreement: nothing at all.
    let mut federated = c("joint", "ARMY", json!({}));
    federated.origin = Some(crate::model::Origin {
        centre: "KRG".into(),
        id: "x".into(),
        version: 1,
        seq: 1,
    });
    assert_eq!(p.decide(&federated, &jcc), None);
    assert_eq!(
        p.decide(&c("joint", "ARMY", json!({})), &Viewer::peer("OTHER")),
        None
    );
    // Local viewers never get a border view.
    let coord = Viewer::new(Role::Coordinator, "JCMC");
    assert_eq!(p.decide(&federated, &coord), Some(View::FULL));
}

/// The field set is the layers' declarations: every declared property and sub-field, once,
/// within a `FieldSet`'s capacity.
#[test]
fn the_field_set_is_derived_from_the_layers() {
    use crate::model::schema::LAYERS;
    assert!(FIELDS.len() <= FieldSet::CAPACITY);
    for (i, f) in FIELDS.iter().enumerate() {
        assert!(!FIELDS[..i].contains(f), "`{f}` twice");
    }
    for spec in LAYERS {
        for name in spec.policy_fields() {
            let mut set = FieldSet::EMPTY;
            set.insert(name).unwrap();
            assert_eq!(set.names().collect::<Vec<_>>(), [name]);
        }
    }
    let mut all = FieldSet::EMPTY;
    for f in FIELDS.iter() {
        all.insert(f).unwrap();
    }
    assert_eq!(all.names().count(), FIELDS.len());
}

/// `config/policy.toml` gives each side the fields its layer declares for it
/// (`LayerSpec::side_rules`; for movements, `movement_fields`).
#[test]
fn policy_file_agrees_with_the_declared_side_rules() {
    use crate::model::schema::LAYERS;
    let file: toml::Value = toml::from_str(DEFAULT_POLICY).unwrap();
    let policy = Policy::default_policy();
    for spec in LAYERS {
        for rule in spec.side_rules {
            let key = match spec.layer {
                Layer::Movements => "movement_fields",
                Layer::Contacts => "contact_fields",
                other => panic!("policy.toml has no per-side field list for {other}"),
            };
            let mut roles = 0;
            for role in policy
                .roles()
                .iter()
                .filter(|r| policy.side(**r) == rule.side)
            {
                let rules = &file["roles"][role.as_str()];
                let listed: Vec<&str> = rules
                    .get(key)
                    .and_then(|v| v.as_array())
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                let mut listed = listed;
                listed.sort_unstable();
                let mut declared = rule.sees.to_vec();
                declared.sort_unstable();
                assert_eq!(listed, declared, "roles.{role}.{key}");
                roles += 1;
            }
            assert!(roles > 0, "no role on the {} side", rule.side);
        }
    }
}

#[test]
fn wall_display_never_gets_personal_fields() {
    let p = Policy::default_policy();
    let wall = Viewer::new(Role::WallDisplay, "JCMC");
    let v = p.decide(&movement("joint"), &wall).unwrap();
    assert!(v.hidden.contains("contact"));
    assert!(v.hidden.contains("vehicles.plates"));
}

/// Issue 20.4: a release lifts the item's marking and the cross-side rules, never a field's
/// own marking (a field marking names its own audience).
#[test]
fn a_release_never_lifts_a_field_marking() {
    let p = Policy::default_policy();
    let army = Viewer::new(Role::MilitaryLiaison, "IQ-ARMY");
    let mut m = item(
        Layer::Movements,
        json!({"name":"c","window_start":"2026-12-01T06:00:00Z","window_end":"2026-12-01T09:00:00Z",
               "cargo":"food","personnel":4,"description":"x","marking":"civil",
               "releasable_to":["IQ-ARMY"],"field_markings":{"cargo":"restricted","name":"joint"}}),
        "WFP",
        Side::Civil,
    );
    // A draft, marked civil: only the release lets the army see it, with the cross-side rules
    // lifted (personnel, description), but never the restricted cargo.
    let v = p.decide(&m, &army).expect("released to IQ-ARMY");
    assert!(
        v.hidden.contains("cargo"),
        "a release lifted a field marking"
    );
    for f in ["personnel", "description", "name"] {
        assert!(
            !v.hidden.contains(f),
            "{f}: the release lifts the cross-side rules"
        );
    }
    // Field markings the viewer's markings admit stay shown; the owner sees everything.
    m.common
        .field_markings
        .insert("personnel".into(), Marking::Military);
    let v = p.decide(&m, &army).unwrap();
    assert!(!v.hidden.contains("personnel"));
    let own = Viewer::new(Role::ConvoyPlanner, "WFP");
    assert_eq!(p.decide(&m, &own), Some(View::FULL));
    // The same for a peer centre the item is released to.
    let sharing: Sharing = toml::from_str(
        r#"layers = ["movements"]
           markings = ["public"]
           releasable_to = "IQ-ARMY"
           orgs = ["*"]
           markings_out = { public = "public", civil = "restricted" }
           movements_once_notified = false"#,
    )
    .unwrap();
    let p = Policy::default_policy()
        .with_peers([("IQ-ARMY", &sharing)])
        .unwrap();
    let v = p.decide(&m, &Viewer::peer("IQ-ARMY")).unwrap();
    assert!(v.hidden.contains("cargo") && !v.hidden.contains("description"));
}

/// Issue 20.3: wherever a position is reduced, the figures derived from it (time, speed,
/// heading) are withheld with it, for every viewer class; exact views keep them.
#[test]
fn a_reduced_position_takes_its_motion_with_it() {
    let derived = ["position_at", "speed_kmh", "heading"];
    let mut declared: Vec<&str> = Layer::Movements
        .spec()
        .fields
        .iter()
        .filter(|f| f.follows_position)
        .map(|f| f.name)
        .collect();
    declared.sort_unstable();
    let mut expected = derived.to_vec();
    expected.sort_unstable();
    assert_eq!(
        declared, expected,
        "the movement layer declares what follows its position"
    );
    let sharing: Sharing = toml::from_str(
        r#"layers = ["movements"]
           markings = ["joint"]
           orgs = ["*"]
           precision_m = 2000.0
           markings_out = { joint = "public" }"#,
    )
    .unwrap();
    let p = Policy::default_policy()
        .with_peers([("JCC", &sharing)])
        .unwrap();
    let mut m = movement("joint");
    m.movement_mut().unwrap().notification = Notification::Notified;
    let army = Viewer::new(Role::MilitaryLiaison, "ARMY");
    let wall = Viewer::new(Role::WallDisplay, "JCMC");
    let ngo = Viewer::new(Role::CivilLiaison, "NRC");
    let peer = Viewer::peer("JCC");
    // Exact for the military side and the wall: the motion is shown (where the role sees it).
    for v in [&army, &wall, &ngo] {
        let view = p.decide(&m, v).unwrap();
        assert_eq!(view.precision_m(), None);
        for f in derived {
            assert!(
                !view.hidden.contains(f),
                "{f} hidden from {v:?} on an exact view"
            );
        }
    }
    // The peer's agreement reduces it: no motion.
    let view = p.decide(&m, &peer).unwrap();
    assert_eq!(view.precision_m(), Some(2000.0));
    for f in derived {
        assert!(
            view.hidden.contains(f),
            "{f} shown with a reduced position to the peer"
        );
    }
    m.common.precision_m = Some(5000.0);
    for v in [&army, &wall, &peer] {
        let view = p.decide(&m, v).unwrap();
        assert!(view.precision_m().is_some(), "{v:?} sees it reduced");
        for f in derived {
            assert!(
                view.hidden.contains(f),
                "{f} shown with a reduced position to {v:?}"
            );
        }
    }
    // Same side (civil), other organisation: exact, with its motion.
    let view = p.decide(&m, &ngo).unwrap();
    assert_eq!(view.precision_m(), None);
    assert!(!view.hidden.contains("speed_kmh"));
}
