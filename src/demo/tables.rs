//! What the demo's live loop draws from, read from `live.toml` (embedded in the binary): the
//! places and roads it puts new convoys and incidents on, the agencies that plan convoys, the
//! kinds of incident it reports, and the restrictions a checkpoint announces.
//!
//! Owns reading and checking that file: every place of a corridor must be a named place,
//! every party a demo party. Pure: no IO. It must not build Features; the generators that use
//! these tables do.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::parties::{military_party, party, Party};
use super::scenario::ScenarioError;
use crate::model::Position;

/// The file's path in the repository, for error messages.
const FILE: &str = "src/demo/live.toml";

/// A named place.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub name: String,
    pub at: Position,
}

/// A road between towns, as the places it passes in order.
#[derive(Clone, Debug)]
pub struct Corridor {
    pub places: Vec<Place>,
    /// In or next to the Kurdistan Region, where Peshmerga hold checkpoints.
    pub kri: bool,
    /// Who is usually asked to acknowledge a movement on it.
    pub ackers: Vec<Party>,
}

/// An agency that plans convoys, and what a convoy of theirs carries.
#[derive(Clone, Debug)]
pub struct Planner {
    pub by: Party,
    pub cargo: String,
    pub vehicles: u32,
    pub personnel: u32,
}

/// Who typically reports an incident of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reporter {
    Military,
    Air,
    Humanitarian,
    Anyone,
}

/// The chance that an incident of a kind has fatalities, and the most it has.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fatalities {
    pub chance: f64,
    pub most: u32,
}

/// A kind of incident after ACLED: event and sub-event type, and what it is usually like.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentKind {
    pub event: String,
    pub sub_event: String,
    /// How often this kind is drawn, relative to the others.
    pub weight: u32,
    /// The lowest and highest severity.
    pub severity: (u8, u8),
    pub fatalities: Fatalities,
    /// Descriptions; `{at}` becomes where it happened.
    pub texts: Vec<String>,
    /// Sets of actors, one picked at random.
    pub actors: Vec<Vec<String>>,
    pub reporter: Reporter,
}

/// The live loop's tables.
#[derive(Clone, Debug)]
pub struct Tables {
    pub restrictions: Vec<String>,
    pub corridors: Vec<Corridor>,
    pub planners: Vec<Planner>,
    pub incident_kinds: Vec<IncidentKind>,
}

/// `live.toml` as written: places and parties by name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    restrictions: Vec<String>,
    places: BTreeMap<String, Position>,
    corridors: Vec<CorridorEntry>,
    planners: Vec<PlannerEntry>,
    incident_kinds: Vec<IncidentKind>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorridorEntry {
    places: Vec<String>,
    kri: bool,
    ackers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlannerEntry {
    by: String,
    cargo: String,
    vehicles: u32,
    personnel: u32,
}

impl Tables {
    /// The tables of the embedded `live.toml`.
    pub fn load() -> Result<Tables, ScenarioError> {
        Tables::parse(include_str!("live.toml"))
    }

    /// Reads and checks a `live.toml`. An error names the entry and the field.
    pub fn parse(text: &str) -> Result<Tables, ScenarioError> {
        let error = |entry: String, field: &str, message: String| ScenarioError {
            file: FILE.to_string(),
            entry,
            field: field.to_string(),
            message,
        };
        let file: File =
            serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
                let path = e.path().to_string();
                let (entry, field) = path.split_once('.').unwrap_or((&path, ""));
                error(entry.to_string(), field, e.into_inner().to_string())
            })?;
        let known = |entry: String, field: &str, org: &str| {
            party(org).ok_or_else(|| error(entry, field, format!("`{org}` is not a demo party")))
        };
        let mut corridors = Vec::with_capacity(file.corridors.len());
        for (i, c) in file.corridors.iter().enumerate() {
            let entry = format!("corridors[{i}]");
            if c.places.len() < 2 {
                return Err(error(
                    entry,
                    "places",
                    "a road needs two places at least".into(),
                ));
            }
            let places = c
                .places
                .iter()
                .map(|name| match file.places.get(name) {
                    Some(at) => Ok(Place {
                        name: name.clone(),
                        at: *at,
                    }),
                    None => Err(error(
                        entry.clone(),
                        "places",
                        format!("`{name}` is not under [places]"),
                    )),
                })
                .collect::<Result<_, _>>()?;
            let ackers = c
                .ackers
                .iter()
                .map(|org| {
                    military_party(org).ok_or_else(|| {
                        error(
                            entry.clone(),
                            "ackers",
                            format!("`{org}` is not a military demo party"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
            corridors.push(Corridor {
                places,
                kri: c.kri,
                ackers,
            });
        }
        let planners = file
            .planners
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                Ok(Planner {
                    by: known(format!("planners[{i}]"), "by", &p.by)?,
                    cargo: p.cargo,
                    vehicles: p.vehicles,
                    personnel: p.personnel,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (i, k) in file.incident_kinds.iter().enumerate() {
            let entry = format!("incident_kinds[{i}]");
            if k.severity.0 > k.severity.1 {
                return Err(error(entry, "severity", "the lowest comes first".into()));
            }
            if !(0.0..=1.0).contains(&k.fatalities.chance) {
                return Err(error(
                    entry,
                    "fatalities.chance",
                    "must lie in 0..=1".into(),
                ));
            }
            if k.texts.is_empty() {
                return Err(error(entry, "texts", "must not be empty".into()));
            }
        }
        // The generators draw from each list: none may be empty.
        for (field, empty) in [
            ("corridors", corridors.is_empty()),
            ("planners", planners.is_empty()),
            ("incident_kinds", file.incident_kinds.is_empty()),
            ("restrictions", file.restrictions.is_empty()),
        ] {
            if empty {
                return Err(error(String::new(), field, "must not be empty".into()));
            }
        }
        Ok(Tables {
            restrictions: file.restrictions,
            corridors,
            planners,
            incident_kinds: file.incident_kinds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_tables_read() {
        let t = Tables::load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.corridors.len(), 11);
        assert!(t.incident_kinds.iter().all(|k| k.weight > 0));
    }

    #[test]
    fn a_broken_table_is_refused_naming_the_entry_and_the_field() {
        let text = include_str!("live.toml");
        let e = Tables::parse(&text.replacen("\"Kalak\", ", "\"Kalakk\", ", 1)).unwrap_err();
        assert_eq!(
            (e.entry.as_str(), e.field.as_str()),
            ("corridors[0]", "places")
        );
        assert!(e.message.contains("Kalakk"), "{e}");
        let e = Tables::parse(&text.replacen("by = \"WFP\"", "by = \"WPF\"", 1)).unwrap_err();
        assert_eq!((e.entry.as_str(), e.field.as_str()), ("planners[0]", "by"));
        let e = Tables::parse(&text.replacen("weight = 14", "weight = -1", 1)).unwrap_err();
        assert_eq!(
            (e.entry.as_str(), e.field.as_str()),
            ("incident_kinds[0]", "weight")
        );
        let e = Tables::parse(&text.replacen("reporter = \"air\"", "reporter = \"sky\"", 1))
            .unwrap_err();
        assert_eq!(e.field, "reporter", "{e}");
        assert!(e.message.contains("sky"), "{e}");
    }
}
