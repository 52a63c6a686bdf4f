//! One gate for every write (issue 14): the same allowed and forbidden writes, driven through
//! every channel that writes — REST, CoT over mutual TLS (one certificate per identity), the
//! demo's write path, and the import channel (the writer with `Channel::Import`, as an import
//! submits) — get the same answer everywhere. The federation and system channels admit only
//! their own commands. Each channel runs against a fresh server with the same prepared items.
//!
//! CoT has no error reply: a refused write is seen as the gate's refusal counter for the CoT
//! channel (`cmcop_writes_refused_total`) going up and the item staying as it was; an allowed
//! one as the item appearing or changing.

mod common;

use std::time::Duration;

use chrono::Utc;
use cmcop::api::AppState;
use cmcop::config::{CotCertRule, CotInboundRule};
use cmcop::cot::mapping;
use cmcop::cot::xml::{self, CotEvent, Element};
use cmcop::demo::{self, DemoError, Party, Seed};
use cmcop::log::Actor;
use cmcop::model::input::{parse_feature, Author};
use cmcop::model::{Layer, Role};
use cmcop::policy::Viewer;
use cmcop::writer::{Channel, Command, WriteError};
use common::pki::{tls_connect, Pki};
use common::{constraint, displacement, incident, Backend, TestApp, TestDb};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

const PATIENCE: Duration = Duration::from_secs(10);

/// What a write got, whatever the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Allowed,
    Forbidden,
    NotFound,
}

/// Who writes: a role in an organisation, and the certificate name it has over CoT.
#[derive(Clone, Copy, Debug)]
struct Who {
    role: Role,
    org: &'static str,
}

const WALL: Who = Who {
    role: Role::WallDisplay,
    org: "JCMC",
};
const WFP: Who = Who {
    role: Role::ConvoyPlanner,
    org: "WFP",
};
const NRC: Who = Who {
    role: Role::CivilLiaison,
    org: "NRC",
};
const ARMY: Who = Who {
    role: Role::MilitaryLiaison,
    org: "ARMY",
};
const IDENTITIES: [Who; 4] = [WALL, WFP, NRC, ARMY];

fn cert_name(who: Who) -> String {
    format!("{}-device", who.org.to_lowercase())
}

/// A write, in terms every channel can express.
#[derive(Clone, Debug)]
enum Write {
    /// A new point item of `layer` with `marking`.
    Create {
        layer: Layer,
        id: &'static str,
        marking: &'static str,
    },
    /// A new description for a prepared item, its marking untouched.
    Describe {
        target: &'static str,
        text: &'static str,
    },
    /// A new marking for a prepared item.
    Remark {
        target: &'static str,
        marking: &'static str,
    },
    /// Retire a prepared item.
    Retire { target: &'static str },
}

struct Case {
    name: &'static str,
    who: Who,
    write: Write,
    expected: Answer,
}

fn cases() -> Vec<Case> {
    use Answer::*;
    use Write::*;
    vec![
        Case {
            name: "a wall display creates nothing",
            who: WALL,
            write: Create {
                layer: Layer::Incidents,
                id: "JCMC:wall-incident",
                marking: "joint",
            },
            expected: Forbidden,
        },
        Case {
            name: "the civil side does not publish constraints",
            who: WFP,
            write: Create {
                layer: Layer::Constraints,
                id: "WFP:wfp-constraint",
                marking: "joint",
            },
            expected: Forbidden,
        },
        Case {
            name: "the civil side reports incidents",
            who: WFP,
            write: Create {
                layer: Layer::Incidents,
                id: "WFP:wfp-incident-new",
                marking: "joint",
            },
            expected: Allowed,
        },
        Case {
            name: "the civil side does not mark for the military audience",
            who: WFP,
            write: Create {
                layer: Layer::Incidents,
                id: "WFP:wfp-incident-mil",
                marking: "military",
            },
            expected: Forbidden,
        },
        Case {
            name: "the military side does not mark for the civil audience",
            who: ARMY,
            write: Create {
                layer: Layer::Incidents,
                id: "ARMY:army-incident-civil",
                marking: "civil",
            },
            expected: Forbidden,
        },
        Case {
            name: "the military side publishes constraints",
            who: ARMY,
            write: Create {
                layer: Layer::Constraints,
                id: "ARMY:army-constraint-new",
                marking: "joint",
            },
            expected: Allowed,
        },
        Case {
            name: "a convoy planner does not document displacement",
            who: WFP,
            write: Create {
                layer: Layer::Displacements,
                id: "WFP:wfp-flow",
                marking: "joint",
            },
            expected: Forbidden,
        },
        Case {
            name: "a civil liaison documents displacement",
            who: NRC,
            write: Create {
                layer: Layer::Displacements,
                id: "NRC:nrc-flow",
                marking: "joint",
            },
            expected: Allowed,
        },
        Case {
            name: "the military side does not document displacement",
            who: ARMY,
            write: Create {
                layer: Layer::Displacements,
                id: "ARMY:army-flow",
                marking: "joint",
            },
            expected: Forbidden,
        },
        Case {
            name: "another organisation's item is not to change",
            who: NRC,
            write: Describe {
                target: "WFP:wfp-report",
                text: "changed by NRC",
            },
            expected: Forbidden,
        },
        Case {
            name: "the owner changes its item, keeping the marking a coordinator gave",
            who: WFP,
            write: Describe {
                target: "WFP:wfp-report-remarked",
                text: "updated by WFP",
            },
            expected: Allowed,
        },
        Case {
            name: "the owner may not give its item a marking outside its side's",
            who: WFP,
            write: Remark {
                target: "WFP:wfp-report",
                marking: "military",
            },
            expected: Forbidden,
        },
        Case {
            name: "the military side changes its own constraint",
            who: ARMY,
            write: Describe {
                target: "ARMY:army-closure",
                text: "reopened at noon",
            },
            expected: Allowed,
        },
        Case {
            name: "another organisation's item is not to retire",
            who: NRC,
            write: Retire {
                target: "ARMY:army-closure",
            },
            expected: Forbidden,
        },
        Case {
            name: "an item the caller cannot see does not exist for it",
            who: NRC,
            write: Describe {
                target: "ARMY:army-secret",
                text: "found it",
            },
            expected: NotFound,
        },
        Case {
            name: "the owner retires its own item",
            who: ARMY,
            write: Retire {
                target: "ARMY:army-old",
            },
            expected: Allowed,
        },
    ]
}

/// The prepared items: (layer, id, owner, marking), created over REST by their owners; the
/// coordinator then marks `wfp-report-remarked` military (a marking WFP may not give).
const PREPARED: &[(Layer, &str, Who, &str)] = &[
    (Layer::Incidents, "WFP:wfp-report", WFP, "joint"),
    (Layer::Incidents, "WFP:wfp-report-remarked", WFP, "joint"),
    (Layer::Constraints, "ARMY:army-closure", ARMY, "joint"),
    (Layer::Constraints, "ARMY:army-secret", ARMY, "military"),
    (Layer::Constraints, "ARMY:army-old", ARMY, "joint"),
];

fn layer_of(id: &str) -> Layer {
    PREPARED
        .iter()
        .find(|p| p.1 == id)
        .map(|p| p.0)
        .unwrap_or_else(|| panic!("{id} is not prepared"))
}

fn feature(layer: Layer, id: &str, marking: &str) -> Value {
    let mut f = match layer {
        Layer::Incidents => incident(json!({"marking": marking})),
        Layer::Constraints => constraint(json!({"marking": marking})),
        Layer::Displacements => displacement(json!({"marking": marking})),
        Layer::Movements | Layer::Areas | Layer::Needs | Layer::Contacts => {
            unreachable!("the cases write points")
        }
    };
    f["id"] = json!(id);
    f["geometry"] = json!({"type": "Point", "coordinates": [43.2, 36.3]});
    f
}

/// A server with a CoT TLS listener mapping one certificate per identity, and the prepared
/// items.
async fn prepared(pki: &Pki) -> (TestApp, String) {
    pki.issue("localhost", true);
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = common::test_config(&db.url);
    config.alerts.enabled = false;
    config.cot.tls_addr = Some("127.0.0.1:0".into());
    config.cot.tls_cert = Some(pki.path("localhost.pem"));
    config.cot.tls_key = Some(pki.path("localhost.key"));
    config.cot.client_ca = Some(pki.path("ca.pem"));
    // Flows of people come in over CoT as neutral ground markers (no default rule has them).
    config.cot.inbound.push(CotInboundRule {
        type_prefix: "a-n-G".into(),
        layer: Layer::Displacements,
        properties:
            json!({"reported_on": "2026-11-01", "direction": "displacement", "individuals": 40})
                .as_object()
                .unwrap()
                .clone(),
    });
    config.cot.cert_map = IDENTITIES
        .iter()
        .map(|who| CotCertRule {
            subject_cn: Some(cert_name(*who)),
            subject: None,
            role: who.role,
            org: who.org.into(),
        })
        .collect();
    let mut app = TestApp::spawn_with(db, config).await;
    let coord = app.token(Role::Coordinator, "OCHA").await;
    for (layer, id, owner, marking) in PREPARED {
        let token = app.token(owner.role, owner.org).await;
        app.create(layer.as_str(), &token, feature(*layer, id, marking))
            .await;
    }
    let (status, body) = app
        .patch(
            "/api/v1/incidents/WFP:wfp-report-remarked",
            &coord,
            json!({"properties": {"marking": "military"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (app, coord)
}

/// The item as the coordinator sees it, or `None` when it does not exist (any more).
async fn item(app: &TestApp, coord: &str, layer: Layer, id: &str) -> Option<Value> {
    let (status, body) = app.get(&format!("/api/v1/{layer}/{id}"), coord).await;
    (status == StatusCode::OK).then_some(body)
}

fn answer_of_status(status: StatusCode, body: &Value) -> Answer {
    match status {
        StatusCode::OK | StatusCode::CREATED | StatusCode::NO_CONTENT => Answer::Allowed,
        StatusCode::FORBIDDEN => Answer::Forbidden,
        StatusCode::NOT_FOUND => Answer::NotFound,
        other => panic!("unexpected answer {other}: {body}"),
    }
}

fn answer_of_write(result: Result<(), WriteError>) -> Answer {
    match result {
        Ok(()) => Answer::Allowed,
        Err(WriteError::Forbidden(_)) => Answer::Forbidden,
        Err(WriteError::NotFound) => Answer::NotFound,
        Err(other) => panic!("unexpected answer {other:?}"),
    }
}

async fn by_rest(app: &mut TestApp, who: Who, write: &Write) -> Answer {
    let token = app.token(who.role, who.org).await;
    let (status, body) = match write {
        Write::Create { layer, id, marking } => {
            app.post(
                &format!("/api/v1/{layer}"),
                &token,
                feature(*layer, id, marking),
            )
            .await
        }
        Write::Describe { target, text } => {
            app.patch(
                &format!("/api/v1/{}/{target}", layer_of(target)),
                &token,
                json!({"properties": {"description": text}}),
            )
            .await
        }
        Write::Remark { target, marking } => {
            app.patch(
                &format!("/api/v1/{}/{target}", layer_of(target)),
                &token,
                json!({"properties": {"marking": marking}}),
            )
            .await
        }
        Write::Retire { target } => {
            app.delete(&format!("/api/v1/{}/{target}", layer_of(target)), &token)
                .await
        }
    };
    answer_of_status(status, &body)
}

/// What the writer is told over the import channel: the Feature parsed by the same intake,
/// then the command, as `POST /api/v1/import` will submit it.
async fn by_import(state: &AppState, who: Who, write: &Write) -> Answer {
    let viewer = Viewer::new(who.role, who.org);
    let actor = Actor {
        org: who.org.into(),
        name: "import".into(),
    };
    let now = Utc::now();
    let current = |id: &str| {
        let live = state.live.read().unwrap_or_else(|e| e.into_inner());
        live.picture.get(id).cloned()
    };
    let command = match write {
        Write::Create { layer, id, marking } => {
            let draft = parse_feature(*layer, &feature(*layer, id, marking), now).unwrap();
            let author = Author {
                org: who.org,
                side: state.policy.side(who.role),
            };
            Command::Create(draft.into_new_item(id.to_string(), *layer, author, now))
        }
        Write::Describe { target, .. } | Write::Remark { target, .. } => {
            let cur = current(target).expect("prepared");
            let patch = match write {
                Write::Describe { text, .. } => json!({"properties": {"description": text}}),
                Write::Remark { marking, .. } => json!({"properties": {"marking": marking}}),
                _ => unreachable!(),
            };
            let next = cmcop::model::input::parse_patch(&cur, &patch, now)
                .and_then(|d| d.revise(&cur, now))
                .unwrap();
            Command::Replace {
                item: next,
                base_version: cur.version,
                if_match: false,
            }
        }
        Write::Retire { target } => Command::Retire {
            layer: layer_of(target),
            id: target.to_string(),
            if_match: None,
        },
    };
    let result = state
        .writer
        .submit(Channel::Import, actor, viewer, command)
        .await;
    answer_of_write(result.map(|_| ()))
}

/// The demo's own write path (`demo::create`, `demo::patch_item`); the demo retires nothing,
/// so retirement is left to the other channels.
async fn by_demo(state: &AppState, who: Who, write: &Write) -> Option<Answer> {
    let result = match write {
        Write::Create { layer, id, marking } => {
            let seed = Seed {
                layer: *layer,
                id: id.to_string(),
                feature: feature(*layer, id, marking),
                by: Party::new(who.org, who.role),
            };
            demo::create(state, &seed).await.map(|_| ())
        }
        Write::Describe { target, text } => demo::patch_item(
            state,
            layer_of(target),
            target,
            who.org,
            who.role,
            &json!({"properties": {"description": text}}),
        )
        .await
        .map(|_| ()),
        Write::Remark { target, marking } => demo::patch_item(
            state,
            layer_of(target),
            target,
            who.org,
            who.role,
            &json!({"properties": {"marking": marking}}),
        )
        .await
        .map(|_| ()),
        Write::Retire { .. } => return None,
    };
    Some(match result {
        Ok(()) => Answer::Allowed,
        Err(DemoError::Write { source, .. }) => answer_of_write(Err(source)),
        Err(other) => panic!("unexpected demo answer {other}"),
    })
}

/// A CoT client's event for a write: a marker of the layer's inbound type.
fn cot_event(write: &Write) -> CotEvent {
    let now = Utc::now();
    let (uid, layer) = match write {
        Write::Create { layer, id, .. } => (id.to_string(), *layer),
        Write::Describe { target, .. } | Write::Remark { target, .. } => {
            (target.to_string(), layer_of(target))
        }
        Write::Retire { target } => return mapping::delete_event(target, now),
    };
    let kind = match layer {
        Layer::Incidents => "a-u-G",
        Layer::Constraints => "b-m-p-s-m",
        Layer::Displacements => "a-n-G",
        Layer::Movements | Layer::Areas | Layer::Needs | Layer::Contacts => {
            unreachable!("the cases write points")
        }
    };
    let mut detail = Vec::new();
    match write {
        Write::Create { marking, .. } | Write::Remark { marking, .. } => {
            detail.push(Element::new("cmcop").attr("marking", *marking));
        }
        Write::Describe { text, .. } => {
            detail.push(Element::new("remarks").with_text(*text));
        }
        Write::Retire { .. } => {}
    }
    CotEvent {
        uid,
        kind: kind.into(),
        how: "h-g-i-g-o".into(),
        time: now,
        start: now,
        stale: now + chrono::Duration::hours(2),
        access: None,
        qos: None,
        opex: None,
        point: xml::Point::at(36.3, 43.2),
        detail,
    }
}

/// Sends the write over CoT and waits until its effect — or a refusal — is seen.
async fn by_cot(app: &mut TestApp, coord: &str, pki: &Pki, who: Who, write: &Write) -> Answer {
    let (layer, id) = match write {
        Write::Create { layer, id, .. } => (*layer, *id),
        Write::Describe { target, .. }
        | Write::Remark { target, .. }
        | Write::Retire { target } => (layer_of(target), *target),
    };
    let before = item(app, coord, layer, id).await;
    let refused_before = refusals(&app.state);
    let cert = pki.issue(&cert_name(who), false);
    let addr = app.cot_tls_addr.expect("CoT TLS is on");
    let mut io = tls_connect(addr, &pki.ca_pem, &cert)
        .await
        .expect("CoT TLS");
    io.write_all(xml::to_xml(&cot_event(write)).as_bytes())
        .await
        .unwrap();
    io.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = item(app, coord, layer, id).await;
        let changed = match (&before, &now) {
            (None, Some(_)) | (Some(_), None) => true,
            (Some(b), Some(n)) => b["properties"]["version"] != n["properties"]["version"],
            (None, None) => false,
        };
        if changed {
            return Answer::Allowed;
        }
        let refused = refusals(&app.state);
        if refused.forbidden > refused_before.forbidden {
            return Answer::Forbidden;
        }
        if refused.not_found > refused_before.not_found {
            return Answer::NotFound;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no effect and no refusal of {write:?} by {who:?} over CoT"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many CoT writes were refused so far, and where.
struct Refused {
    /// By the gate, as forbidden.
    forbidden: u64,
    /// By the gate, as not found.
    not_found: u64,
}

fn refusals(state: &AppState) -> Refused {
    let text = state.metrics.render();
    let count = |answer: &str| -> u64 {
        let key = format!("cmcop_writes_refused_total{{channel=\"cot\",answer=\"{answer}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&key))
            .map_or(0, |n| n.trim().parse().unwrap())
    };
    Refused {
        forbidden: count("forbidden"),
        not_found: count("not_found"),
    }
}

/// Runs every case through one channel on a fresh server, and checks each answer.
async fn run_channel(channel: &str) {
    let pki = Pki::new("cmcop gate CA");
    let (mut app, coord) = prepared(&pki).await;
    let mut checked = 0;
    for case in cases() {
        let got = match channel {
            "rest" => Some(by_rest(&mut app, case.who, &case.write).await),
            "import" => Some(by_import(&app.state, case.who, &case.write).await),
            "demo" => by_demo(&app.state, case.who, &case.write).await,
            "cot" => Some(by_cot(&mut app, &coord, &pki, case.who, &case.write).await),
            other => panic!("no channel {other}"),
        };
        let Some(got) = got else { continue };
        // Over CoT an item the identity may not see is never addressed: the event's uid names
        // `ORG:uid` in the identity's own namespace (proto/COT.md), so the write is a create
        // there, judged as one (a civil liaison may not create constraints). Whether the
        // target exists is not told.
        let expected = match (channel, case.expected) {
            ("cot", Answer::NotFound) => Answer::Forbidden,
            (_, expected) => expected,
        };
        assert_eq!(
            got, expected,
            "{channel}: {} ({:?} as {} of {})",
            case.name, case.write, case.who.role, case.who.org
        );
        checked += 1;
    }
    assert!(checked >= 10, "{channel} checked only {checked} cases");
    app.stop().await;
}

#[tokio::test]
async fn rest_answers_as_the_gate_decides() {
    run_channel("rest").await;
}

#[tokio::test]
async fn cot_answers_as_the_gate_decides() {
    run_channel("cot").await;
}

#[tokio::test]
async fn the_demo_answers_as_the_gate_decides() {
    run_channel("demo").await;
}

#[tokio::test]
async fn imports_answer_as_the_gate_decides() {
    run_channel("import").await;
}

/// Federation and the server's own writes are admitted only from their channels, and their
/// channels make no other writes.
#[tokio::test]
async fn federation_and_system_commands_only_from_their_channels() {
    let pki = Pki::new("cmcop gate CA");
    let (app, _) = prepared(&pki).await;
    let state = &app.state;
    let coordinator = Viewer::new(Role::Coordinator, "OCHA");
    let actor = Actor {
        org: "OCHA".into(),
        name: "test".into(),
    };
    let federate = || Command::Federate {
        id: "fed:KRG:x".into(),
        centre: "KRG".into(),
        origin_seq: 1,
        item: None,
    };
    // A coordinator over REST or an import cannot pose as a peer centre's link.
    for channel in [Channel::Rest, Channel::Import, Channel::Cot, Channel::Demo] {
        let r = state
            .writer
            .submit(channel, actor.clone(), coordinator.clone(), federate())
            .await;
        assert!(
            matches!(r, Err(WriteError::Forbidden(_))),
            "{channel}: {r:?}"
        );
        let r = state
            .writer
            .submit(
                channel,
                actor.clone(),
                coordinator.clone(),
                Command::Expire {
                    id: "ARMY:army-closure".into(),
                    version: 1,
                },
            )
            .await;
        assert!(
            matches!(r, Err(WriteError::Forbidden(_))),
            "{channel}: {r:?}"
        );
    }
    // The link of another centre cannot write for KRG; KRG's link can (a withdrawal of
    // nothing changes nothing).
    let r = state
        .writer
        .submit(
            Channel::Federation,
            actor.clone(),
            Viewer::peer("OTHER"),
            federate(),
        )
        .await;
    assert!(matches!(r, Err(WriteError::Forbidden(_))), "{r:?}");
    let r = state
        .writer
        .submit(
            Channel::Federation,
            actor.clone(),
            Viewer::peer("KRG"),
            federate(),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    // A federation link makes no local writes.
    let r = state
        .writer
        .submit(
            Channel::Federation,
            actor.clone(),
            Viewer::peer("KRG"),
            Command::Retire {
                layer: Layer::Constraints,
                id: "ARMY:army-closure".into(),
                if_match: None,
            },
        )
        .await;
    assert!(matches!(r, Err(WriteError::Forbidden(_))), "{r:?}");
    app.stop().await;
}

/// An import's writes are one group (`Command::Group`): a member the gate or the item's state
/// refuses refuses the whole group, while the requests that share its batch commit as usual.
#[tokio::test]
async fn a_refused_group_writes_none_of_it_and_its_batch_goes_on() {
    let app = TestApp::spawn_without_alerts(Backend::Sqlite).await;
    let state = app.state.clone();
    let now = Utc::now();
    let make = |id: &str, org: &str| {
        let draft = parse_feature(Layer::Incidents, &incident(json!({})), now).unwrap();
        let author = Author {
            org,
            side: state.policy.side(Role::Coordinator),
        };
        Command::Create(draft.into_new_item(id.into(), Layer::Incidents, author, now))
    };
    let actor = Actor {
        org: "OCHA".into(),
        name: "test".into(),
    };
    let coordinator = Viewer::new(Role::Coordinator, "OCHA");
    let wall = Viewer::new(Role::WallDisplay, "OPS");
    let submit = |viewer: &Viewer, command: Command| {
        state
            .writer
            .submit(Channel::Import, actor.clone(), viewer.clone(), command)
    };
    let head = |s: &AppState| s.live.read().unwrap().picture.head().0;
    let before = head(&state);
    let (solo1, dup, good, solo2, forbidden) = tokio::join!(
        submit(&coordinator, make("solo-1", "OCHA")),
        submit(
            &coordinator,
            Command::Group(vec![
                make("g-1", "OCHA"),
                make("g-2", "OCHA"),
                make("g-1", "OCHA")
            ])
        ),
        submit(
            &coordinator,
            Command::Group(vec![make("h-1", "OCHA"), make("h-2", "OCHA")])
        ),
        submit(&coordinator, make("solo-2", "OCHA")),
        submit(&wall, Command::Group(vec![make("w-1", "OPS")])),
    );
    assert!(solo1.is_ok() && solo2.is_ok(), "{solo1:?} {solo2:?}");
    assert!(
        matches!(&dup, Err(WriteError::InGroup { index: 2, error }) if matches!(**error, WriteError::Conflict(_))),
        "{dup:?}"
    );
    assert!(
        matches!(&forbidden, Err(WriteError::InGroup { index: 0, error }) if matches!(**error, WriteError::Forbidden(_))),
        "{forbidden:?}"
    );
    let good = good.expect("a good group commits");
    let present = |id: &str| state.live.read().unwrap().picture.get(id).is_some();
    for id in ["solo-1", "solo-2", "h-1", "h-2"] {
        assert!(present(id), "{id} was written");
    }
    for id in ["g-1", "g-2", "w-1"] {
        assert!(!present(id), "{id} belongs to a refused group");
    }
    assert_eq!(head(&state), before + 4);
    assert!(good.seq.is_some_and(|s| s > before + 1));

    // A stale member after a good one: the good one is not written either.
    let cur = state
        .live
        .read()
        .unwrap()
        .picture
        .get("h-1")
        .cloned()
        .unwrap();
    let stale = Command::Replace {
        item: (*cur).clone(),
        base_version: cur.version + 1,
        if_match: true,
    };
    let r = submit(
        &coordinator,
        Command::Group(vec![make("k-1", "OCHA"), stale]),
    )
    .await;
    assert!(
        matches!(&r, Err(WriteError::InGroup { index: 1, error }) if matches!(**error, WriteError::PreconditionFailed { .. })),
        "{r:?}"
    );
    assert!(!present("k-1"));
    assert_eq!(head(&state), before + 4);
    // A group that changes nothing answers without a sequence number.
    let r = submit(&coordinator, Command::Group(vec![])).await.unwrap();
    assert_eq!(r.seq, None);
    app.stop().await;
}
