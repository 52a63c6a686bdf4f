//! The demo's exercise scenario: the movements, access constraints, security incidents, needs
//! and contact points it seeds, and what happens to each after its creation (notified, acknowledged, tracked,
//! ended), read from the GeoJSON files in `scenario/`, embedded in the binary.
//!
//! Each file is a FeatureCollection of one layer. A Feature is exactly what a client would post
//! to that layer, plus two members of the scenario's own (GeoJSON's "foreign members"): `by`,
//! the organisation code of the party that posts it (see `parties`), and `steps`, what happens
//! to it afterwards, in order. A step is done by the Feature's author unless it names another
//! party:
//!
//! ```text
//! "steps": [
//!   {"do": "notify"},
//!   {"do": "acknowledge", "by": "IQ-ARMY"},
//!   {"do": "position", "at": "-1h", "position": [43.5, 36.3], "speed_kmh": 40.0, "heading": 270.0},
//!   {"do": "patch", "properties": {"status": "arrived"}}
//! ]
//! ```
//!
//! Times, in properties and steps alike, are written relative to the moment the scenario is
//! loaded (`relative_time`), so the picture always looks like today.
//!
//! Owns reading and checking those files. Pure: no IO, no clock (callers pass `now`). It must
//! not build `Item`s or decide policy: every Feature is checked here by `model::input`, the
//! parser REST and CoT use, and is written later through the writer like any client's.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::features::ts;
use super::parties::{party, Party};
use super::relative_time;
use crate::log::PositionReport;
use crate::model::input::parse_feature;
use crate::model::{Layer, Position};

/// Every demo item's id starts with this, so the demo can tell its own items apart.
pub const ID_PREFIX: &str = "demo-";

/// The scenario's first item: once in the picture (or retired from it), the scenario has been
/// loaded on this database.
pub const FIRST_ID: &str = "demo-mov-01";

/// The scenario's files: one FeatureCollection per layer, read in this order.
pub const FILES: &[ScenarioFile<'static>] = &[
    ScenarioFile {
        name: "src/demo/scenario/movements.geojson",
        layer: Layer::Movements,
        text: include_str!("scenario/movements.geojson"),
    },
    ScenarioFile {
        name: "src/demo/scenario/constraints.geojson",
        layer: Layer::Constraints,
        text: include_str!("scenario/constraints.geojson"),
    },
    ScenarioFile {
        name: "src/demo/scenario/incidents.geojson",
        layer: Layer::Incidents,
        text: include_str!("scenario/incidents.geojson"),
    },
    ScenarioFile {
        name: "src/demo/scenario/needs.geojson",
        layer: Layer::Needs,
        text: include_str!("scenario/needs.geojson"),
    },
    ScenarioFile {
        name: "src/demo/scenario/contacts.geojson",
        layer: Layer::Contacts,
        text: include_str!("scenario/contacts.geojson"),
    },
];

/// The properties that hold a time. In a scenario file each is an offset from now.
const TIME_PROPERTIES: &[&str] = &[
    "window_start",
    "window_end",
    "valid_from",
    "valid_until",
    "last_verified",
    "occurred_at",
    "expires_at",
    "assessed_at",
    "confirmed_at",
];

/// One file of the scenario.
#[derive(Clone, Copy, Debug)]
pub struct ScenarioFile<'a> {
    /// Its path in the repository, for error messages.
    pub name: &'a str,
    pub layer: Layer,
    pub text: &'a str,
}

/// One item of the scenario: the Feature a client would post to `layer`, and who posts it.
#[derive(Clone, Debug, PartialEq)]
pub struct Seed {
    pub layer: Layer,
    pub id: String,
    pub feature: Value,
    pub by: Party,
}

/// What happens to a seeded item after its creation, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Notify {
        id: String,
        by: Party,
    },
    Acknowledge {
        id: String,
        by: Party,
    },
    Position {
        id: String,
        by: Party,
        report: PositionReport,
    },
    /// A JSON merge patch, as `PATCH /api/v1/{layer}/{id}` takes it.
    Patch {
        layer: Layer,
        id: String,
        by: Party,
        patch: Value,
    },
}

impl Action {
    pub fn id(&self) -> &str {
        match self {
            Action::Notify { id, .. }
            | Action::Acknowledge { id, .. }
            | Action::Position { id, .. }
            | Action::Patch { id, .. } => id,
        }
    }
}

/// The whole scenario: items to create, then what happens to them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scenario {
    pub seeds: Vec<Seed>,
    pub actions: Vec<Action>,
}

impl Scenario {
    pub fn count(&self, layer: Layer) -> usize {
        self.seeds.iter().filter(|s| s.layer == layer).count()
    }

    /// The actions on one item, in order.
    pub fn actions_on<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Action> + 'a {
        self.actions.iter().filter(move |a| a.id() == id)
    }
}

/// A scenario file that does not say what it must: names the file, the entry (the item's id,
/// or its place in the file when it has none) and the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("demo scenario {file}, entry `{entry}`, field `{field}`: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub entry: String,
    pub field: String,
    pub message: String,
}

/// A step in a scenario file, under a Feature's `steps`. `by` is the Feature's author unless
/// given.
#[derive(Debug, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case", deny_unknown_fields)]
enum Step {
    Notify {
        by: Option<String>,
    },
    Acknowledge {
        by: String,
    },
    Position {
        by: Option<String>,
        at: String,
        position: Position,
        speed_kmh: Option<f64>,
        heading: Option<f64>,
    },
    /// The `properties` of a merge patch.
    Patch {
        by: Option<String>,
        properties: Map<String, Value>,
    },
}

/// The scenario as it stands at `now`, from the embedded files.
pub fn load(now: DateTime<Utc>) -> Result<Scenario, ScenarioError> {
    parse(FILES, now)
}

/// Reads and checks scenario files: every Feature must pass `model::input::parse_feature` as
/// a client's would, every party and step must be known, every time relative.
pub fn parse(files: &[ScenarioFile<'_>], now: DateTime<Utc>) -> Result<Scenario, ScenarioError> {
    let mut scenario = Scenario::default();
    let mut ids = HashSet::new();
    for file in files {
        let error = |entry: &str, field: &str, message: String| ScenarioError {
            file: file.name.to_string(),
            entry: entry.to_string(),
            field: field.to_string(),
            message,
        };
        let collection: Value =
            serde_json::from_str(file.text).map_err(|e| error("", "", e.to_string()))?;
        if collection.get("type").and_then(Value::as_str) != Some("FeatureCollection") {
            return Err(error("", "type", "must be \"FeatureCollection\"".into()));
        }
        let features = collection
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| error("", "features", "must be an array of Features".into()))?;
        for (i, feature) in features.iter().enumerate() {
            let entry = feature
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("features[{i}]"), str::to_string);
            if !ids.insert(entry.clone()) {
                return Err(error(&entry, "id", "is used by an earlier entry".into()));
            }
            read_entry(file.layer, feature, now, &mut scenario)
                .map_err(|(field, message)| error(&entry, &field, message))?;
        }
    }
    Ok(scenario)
}

/// Reads one Feature of a scenario file into `scenario`. An error names the field.
fn read_entry(
    layer: Layer,
    feature: &Value,
    now: DateTime<Utc>,
    scenario: &mut Scenario,
) -> Result<(), (String, String)> {
    let wrong = |field: &str, message: &str| (field.to_string(), message.to_string());
    let mut feature = feature
        .as_object()
        .cloned()
        .ok_or_else(|| wrong("", "must be a GeoJSON Feature object"))?;
    let id = match feature.get("id") {
        Some(Value::String(id)) if id.starts_with(ID_PREFIX) => id.clone(),
        _ => return Err(wrong("id", "must be a string that starts with `demo-`")),
    };
    let by = match feature.remove("by") {
        Some(Value::String(org)) => {
            party(&org).ok_or_else(|| wrong("by", &format!("`{org}` is not a demo party")))?
        }
        _ => {
            return Err(wrong(
                "by",
                "must name the party that posts the item, e.g. \"WFP\"",
            ))
        }
    };
    let steps = match feature.remove("steps") {
        None => Vec::new(),
        Some(Value::Array(steps)) => steps,
        Some(_) => return Err(wrong("steps", "must be an array")),
    };
    let props = feature
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| wrong("properties", "must be an object"))?;
    if props.get("exercise") != Some(&Value::Bool(true)) {
        return Err(wrong(
            "properties.exercise",
            "must be true: every demo item is an exercise",
        ));
    }
    resolve_times(props, now).map_err(|(k, m)| (format!("properties.{k}"), m))?;
    let feature = Value::Object(feature);
    // The same intake as every write: a Feature the REST API would refuse is refused here.
    parse_feature(layer, &feature, now).map_err(|e| (e.field, e.message))?;
    scenario.seeds.push(Seed {
        layer,
        id: id.clone(),
        feature,
        by,
    });
    for (i, step) in steps.into_iter().enumerate() {
        let action = read_step(layer, &id, by, step, now)
            .map_err(|(field, m)| (format!("steps[{i}]{field}"), m))?;
        scenario.actions.push(action);
    }
    Ok(())
}

/// One step of an item. An error names the field within the step (`.at`), or none.
fn read_step(
    layer: Layer,
    id: &str,
    author: Party,
    step: Value,
    now: DateTime<Utc>,
) -> Result<Action, (String, String)> {
    let step: Step = serde_path_to_error::deserialize(step).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            String::new()
        } else {
            format!(".{path}")
        };
        (field, e.into_inner().to_string())
    })?;
    let by = |org: Option<String>| match org {
        None => Ok(author),
        Some(org) => {
            party(&org).ok_or_else(|| (".by".to_string(), format!("`{org}` is not a demo party")))
        }
    };
    let id = id.to_string();
    Ok(match step {
        Step::Notify { by: org } => Action::Notify { id, by: by(org)? },
        Step::Acknowledge { by: org } => Action::Acknowledge {
            id,
            by: by(Some(org))?,
        },
        Step::Position {
            by: org,
            at,
            position,
            speed_kmh,
            heading,
        } => Action::Position {
            id,
            by: by(org)?,
            report: PositionReport {
                position,
                at: relative_time::resolve(&at, now).map_err(|m| (".at".to_string(), m))?,
                speed_kmh,
                heading,
                late: false,
            },
        },
        Step::Patch {
            by: org,
            mut properties,
        } => {
            resolve_times(&mut properties, now)
                .map_err(|(k, m)| (format!(".properties.{k}"), m))?;
            Action::Patch {
                layer,
                id,
                by: by(org)?,
                patch: serde_json::json!({ "properties": properties }),
            }
        }
    })
}

/// Replaces each relative time among `props` by the RFC 3339 time it stands for. An error
/// names the property.
fn resolve_times(
    props: &mut Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), (String, String)> {
    for key in TIME_PROPERTIES {
        let Some(value) = props.get_mut(*key) else {
            continue;
        };
        let Value::String(text) = value else {
            return Err((
                key.to_string(),
                "must be a time relative to now, e.g. \"-36h\"".into(),
            ));
        };
        let at = relative_time::resolve(text, now).map_err(|m| (key.to_string(), m))?;
        *value = Value::String(ts(at));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::parse_time;

    fn now() -> DateTime<Utc> {
        parse_time("2026-11-29T10:17:23Z").unwrap()
    }

    /// A checkpoint as a scenario file writes it.
    fn checkpoint() -> Value {
        json!({
            "type": "Feature",
            "id": "demo-con-99",
            "by": "IQ-ARMY",
            "geometry": {"type": "Point", "coordinates": [43.54, 36.3]},
            "properties": {
                "category": "movement_restriction", "kind": "checkpoint", "status": "open",
                "description": "Test checkpoint", "last_verified": "-3h", "exercise": true
            },
            "steps": []
        })
    }

    fn parse_one(entry: &Value) -> Result<Scenario, ScenarioError> {
        parse_entries(std::slice::from_ref(entry))
    }

    fn parse_entries(entries: &[Value]) -> Result<Scenario, ScenarioError> {
        let text = json!({"type": "FeatureCollection", "features": entries}).to_string();
        let file = ScenarioFile {
            name: "test.geojson",
            layer: Layer::Constraints,
            text: &text,
        };
        parse(&[file], now())
    }

    /// What a broken entry's error says: the entry and the field.
    fn refused(entry: Value) -> (String, String, String) {
        let e = parse_one(&entry).expect_err("a broken entry is refused");
        assert_eq!(e.file, "test.geojson");
        assert!(e.to_string().contains(&e.field), "{e}");
        (e.entry, e.field, e.message)
    }

    #[test]
    fn a_well_formed_entry_is_read() {
        let s = parse_one(&checkpoint()).unwrap();
        assert_eq!(s.seeds.len(), 1);
        let seed = &s.seeds[0];
        assert_eq!(seed.by, crate::demo::parties::IQ_ARMY);
        assert_eq!(
            seed.feature["properties"]["last_verified"],
            json!("2026-11-29T07:17:00Z")
        );
        assert!(seed.feature.get("by").is_none() && seed.feature.get("steps").is_none());
    }

    #[test]
    fn a_broken_entry_is_refused_naming_the_entry_and_the_field() {
        let with = |path: &[&str], value: Value| {
            let mut f = checkpoint();
            let (last, parents) = path.split_last().unwrap();
            let mut at = &mut f;
            for p in parents {
                at = &mut at[*p];
            }
            at[*last] = value;
            f
        };
        let (entry, field, message) = refused(with(&["properties", "status"], json!("ajar")));
        assert_eq!(
            (entry.as_str(), field.as_str()),
            ("demo-con-99", "properties.status")
        );
        assert!(message.contains("ajar"), "{message}");
        let (_, field, message) = refused(with(
            &["properties", "last_verified"],
            json!("2026-11-29T07:17:00Z"),
        ));
        assert_eq!(field, "properties.last_verified");
        assert!(message.contains("relative to now"), "{message}");
        let (_, field, _) = refused(with(&["properties", "exercise"], json!(false)));
        assert_eq!(field, "properties.exercise");
        let (_, field, message) = refused(with(&["by"], json!("NOBODY")));
        assert_eq!(field, "by");
        assert!(message.contains("NOBODY"), "{message}");
        let (_, field, message) = refused(with(&["steps"], json!([{"do": "teleport"}])));
        assert_eq!(field, "steps[0].do");
        assert!(message.contains("teleport"), "{message}");
        let (_, field, message) = refused(with(
            &["steps"],
            json!([{"do": "notify"}, {"do": "position", "at": "-1h"}]),
        ));
        assert_eq!(field, "steps[1]");
        assert!(message.contains("missing field"), "{message}");
        let (_, field, message) =
            refused(with(&["steps"], json!([{"do": "notify", "when": "-1h"}])));
        assert!(field.starts_with("steps[0]"), "{field}");
        assert!(message.contains("when"), "{message}");
        let (_, field, _) = refused(with(
            &["steps"],
            json!([{"do": "position", "at": "soon", "position": [43.5, 36.3]}]),
        ));
        assert_eq!(field, "steps[0].at");
        let (_, field, _) = refused(with(
            &["steps"],
            json!([{"do": "acknowledge", "by": "WHO"}]),
        ));
        assert_eq!(field, "steps[0].by");
        let e = parse_entries(&[checkpoint(), checkpoint()]).unwrap_err();
        assert_eq!((e.entry.as_str(), e.field.as_str()), ("demo-con-99", "id"));
        let (entry, field, _) = refused(with(&["id"], json!("con-99")));
        assert_eq!((entry.as_str(), field.as_str()), ("con-99", "id"));
        let mut anonymous = checkpoint();
        anonymous.as_object_mut().unwrap().remove("id");
        let (entry, field, _) = refused(anonymous);
        assert_eq!((entry.as_str(), field.as_str()), ("features[0]", "id"));
        let e = parse(
            &[ScenarioFile {
                name: "test.geojson",
                layer: Layer::Constraints,
                text: "{\"type\": ",
            }],
            now(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
    }
}
