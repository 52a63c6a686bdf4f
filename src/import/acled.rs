//! ACLED's CSV export (Armed Conflict Location & Event Data), as ACLED publishes it, into
//! incidents. Pure.
//!
//! The header names the columns, in any order; columns this reader does not use are ignored
//! (ACLED adds some over time), a missing required one refuses the file by name. Each row
//! becomes an incident with the id `acled-` + `event_id_cnty`, so importing a newer export
//! updates the items instead of duplicating them:
//!
//! - `event_date` (`2024-01-15` or `15 January 2024`) → `occurred_at` (00:00 UTC of that day);
//!   `year`, when given, must agree. `time_precision` 1, 2, 3 → `exact` (the day), `week`,
//!   `month`.
//! - `event_type`, `sub_event_type`: ACLED's labels (`Explosions/Remote violence`,
//!   `Remote explosive/landmine/IED`) → the incident vocabulary (`explosions_remote_violence`,
//!   `remote_explosive_landmine_ied`): lower case, every run of other characters one `_`.
//! - `latitude`, `longitude` → the point; `geo_precision` 1–3 as ACLED codes it.
//! - `fatalities` → `fatalities`; the severity is derived (`severity`).
//! - `actor1`, `assoc_actor_1`, `actor2`, `assoc_actor_2` (associated actors separated by
//!   `;`) → `actors`, in that order, each once.
//! - `notes` → `description`, followed by the place: `location`, `admin3`, `admin2`,
//!   `admin1`, `country` (those given).
//! - `source` → `source` as `ACLED: {source}`; verification `reported`.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde_json::{json, Value};

use super::csv::records;
use super::rows::{read_rows, Read, Shape};
use super::{Failure, Options, Refused, Row};
use crate::model::input::parse_feature;
use crate::model::layers::incident::EventType;
use crate::model::{validate_id, Invalid, Layer};

/// The columns of ACLED's export, in the order ACLED writes them.
pub const COLUMNS: &[&str] = &[
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
];

/// The columns an incident cannot be made without.
pub const REQUIRED: &[&str] = &[
    "event_id_cnty",
    "event_date",
    "time_precision",
    "event_type",
    "sub_event_type",
    "actor1",
    "latitude",
    "longitude",
    "geo_precision",
    "fatalities",
];

/// The prefix of an imported item's id.
pub const ID_PREFIX: &str = "acled-";

/// The severity (1–5) of an ACLED event: a base by event type — battles, explosions/remote
/// violence and violence against civilians 3, riots 2, protests and strategic developments 1
/// — raised by 1 when the event killed anyone and by 2 when it killed 10 or more, at most 5.
pub fn severity(event_type: EventType, fatalities: u32) -> u8 {
    let base = match event_type {
        EventType::Battles
        | EventType::ExplosionsRemoteViolence
        | EventType::ViolenceAgainstCivilians => 3,
        EventType::Riots => 2,
        EventType::Protests | EventType::StrategicDevelopments => 1,
    };
    let raise = match fatalities {
        0 => 0,
        1..=9 => 1,
        _ => 2,
    };
    (base + raise).min(5)
}

/// An ACLED label as the incident vocabulary writes it: `Explosions/Remote violence` →
/// `explosions_remote_violence`.
pub fn term(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// A date as ACLED writes it: `2024-01-15` (its CSV export) or `15 January 2024` (older
/// exports and spreadsheets).
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(text, "%d %B %Y"))
        .map_err(|_| {
            format!("`{text}` is not a date as ACLED writes it (`2024-01-15` or `15 January 2024`)")
        })
}

/// Reads the whole export.
pub fn read(text: &str, options: &Options) -> Result<Vec<Row>, Failure> {
    let mut records = records(text);
    let header = match records.next() {
        None => {
            return Err(Failure::Refused(vec![Refused::file(
                1,
                None,
                "the file is empty; an ACLED export starts with its header row",
            )]))
        }
        Some(Err(e)) => {
            return Err(Failure::Refused(vec![Refused::file(
                e.line, None, e.message,
            )]))
        }
        Some(Ok(h)) => h,
    };
    let columns = Columns::of(&header.fields, header.line)?;
    let shape = Shape {
        layer: Layer::Incidents,
        width: columns.count,
        width_from: "the header",
        max_rows: options.max_rows,
    };
    read_rows(
        records,
        &shape,
        |values| {
            Fields::of(&columns, values)
                .get("event_id_cnty")
                .to_string()
        },
        |values| {
            let fields = Fields::of(&columns, values);
            let (id, draft) = row_to_draft(&fields, options)?;
            Ok(Read {
                source_id: fields.get("event_id_cnty").to_string(),
                id,
                draft,
            })
        },
        |event_id, first| {
            Invalid::new(
                "event_id_cnty",
                format!("event `{event_id}` is also row {first}; an event appears once"),
            )
        },
    )
}

/// The header: where each named column is.
struct Columns {
    index: HashMap<String, usize>,
    count: usize,
}

impl Columns {
    fn of(names: &[String], line: usize) -> Result<Columns, Failure> {
        let mut index = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let name = name.trim().to_string();
            if index.insert(name.clone(), i).is_some() {
                return Err(Failure::Refused(vec![Refused::file(
                    line,
                    Some(&name),
                    format!("the header names the column `{name}` twice"),
                )]));
            }
        }
        let missing: Vec<Refused> = REQUIRED
            .iter()
            .filter(|c| !index.contains_key(**c))
            .map(|c| {
                Refused::file(
                    line,
                    Some(c),
                    format!("the header has no column `{c}`, which an ACLED export has"),
                )
            })
            .collect();
        if !missing.is_empty() {
            return Err(Failure::Refused(missing));
        }
        Ok(Columns {
            index,
            count: names.len(),
        })
    }
}

/// One record's values by column name.
struct Fields<'a> {
    columns: &'a Columns,
    values: &'a [String],
}

impl<'a> Fields<'a> {
    fn of(columns: &'a Columns, values: &'a [String]) -> Fields<'a> {
        Fields { columns, values }
    }

    /// The value of `column`, trimmed; empty when the column is absent.
    fn get(&self, column: &str) -> &str {
        self.columns
            .index
            .get(column)
            .and_then(|i| self.values.get(*i))
            .map(|v| v.trim())
            .unwrap_or("")
    }

    fn required(&self, column: &str) -> Result<&str, Invalid> {
        match self.get(column) {
            "" => Err(Invalid::new(column, "is empty")),
            v => Ok(v),
        }
    }

    fn number<T: std::str::FromStr>(&self, column: &str, what: &str) -> Result<T, Invalid> {
        let v = self.required(column)?;
        v.parse()
            .map_err(|_| Invalid::new(column, format!("`{v}` is not {what}")))
    }
}

/// One row's incident as a Feature, validated like any client's (`parse_feature`).
fn row_to_draft(
    f: &Fields<'_>,
    options: &Options,
) -> Result<(String, crate::model::input::Draft), Invalid> {
    let event_id = f.required("event_id_cnty")?;
    let id = format!("{ID_PREFIX}{event_id}");
    validate_id(&id).map_err(|_| {
        Invalid::new(
            "event_id_cnty",
            format!("`{event_id}` is not an ACLED event id (letters, digits, `.`, `_`, `-`)"),
        )
    })?;
    let date = parse_date(f.required("event_date")?).map_err(|m| Invalid::new("event_date", m))?;
    if let Some(year) = Some(f.get("year")).filter(|y| !y.is_empty()) {
        if year.parse::<i32>().ok() != Some(date.year()) {
            return Err(Invalid::new(
                "year",
                format!("`{year}` is not the year of event_date ({})", date.year()),
            ));
        }
    }
    let occurred_at: DateTime<Utc> = Utc.from_utc_datetime(&date.and_time(Default::default()));
    let time_precision = match f.get("time_precision") {
        "1" => "exact",
        "2" => "week",
        "3" => "month",
        other => {
            return Err(Invalid::new(
                "time_precision",
                format!("`{other}` is not 1 (day), 2 (week) or 3 (month)"),
            ))
        }
    };
    let geo_precision: u8 = match f.get("geo_precision") {
        "1" => 1,
        "2" => 2,
        "3" => 3,
        other => {
            return Err(Invalid::new(
                "geo_precision",
                format!("`{other}` is not 1 (the place), 2 (near it) or 3 (the region's centre)"),
            ))
        }
    };
    let event_label = f.required("event_type")?;
    let event_type: EventType = term(event_label).parse().map_err(|_| {
        Invalid::new(
            "event_type",
            format!(
                "`{event_label}` is not an ACLED event type (Battles, Explosions/Remote violence, \
                 Violence against civilians, Protests, Riots, Strategic developments)"
            ),
        )
    })?;
    let sub_label = f.required("sub_event_type")?;
    let sub_event_type = term(sub_label);
    if !event_type.sub_types().contains(&sub_event_type.as_str()) {
        return Err(Invalid::new(
            "sub_event_type",
            format!("`{sub_label}` is not an ACLED sub-event type of `{event_label}`"),
        ));
    }
    let latitude: f64 = f.number("latitude", "a latitude in decimal degrees")?;
    if !(-90.0..=90.0).contains(&latitude) {
        return Err(Invalid::new(
            "latitude",
            format!("{latitude} is not within -90 to 90"),
        ));
    }
    let longitude: f64 = f.number("longitude", "a longitude in decimal degrees")?;
    if !(-180.0..=180.0).contains(&longitude) {
        return Err(Invalid::new(
            "longitude",
            format!("{longitude} is not within -180 to 180"),
        ));
    }
    let fatalities: u32 = f.number("fatalities", "a whole number of 0 or more")?;
    let timestamp = f.get("timestamp");
    if !timestamp.is_empty() && timestamp.parse::<u64>().is_err() {
        return Err(Invalid::new(
            "timestamp",
            format!("`{timestamp}` is not a Unix time in seconds"),
        ));
    }
    let mut actors: Vec<String> = Vec::new();
    for (column, several) in [
        ("actor1", false),
        ("assoc_actor_1", true),
        ("actor2", false),
        ("assoc_actor_2", true),
    ] {
        let value = f.get(column);
        let names: Vec<&str> = if several {
            value.split(';').collect()
        } else {
            vec![value]
        };
        for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
            if !actors.iter().any(|a| a == name) {
                actors.push(name.to_string());
            }
        }
    }
    let place: Vec<&str> = ["location", "admin3", "admin2", "admin1", "country"]
        .iter()
        .map(|c| f.get(c))
        .filter(|v| !v.is_empty())
        .collect();
    let notes = f.get("notes");
    let description = match (notes.is_empty(), place.is_empty()) {
        (true, true) => None,
        (false, true) => Some(notes.to_string()),
        (true, false) => Some(format!("Location: {}", place.join(", "))),
        (false, false) => Some(format!("{notes}\nLocation: {}", place.join(", "))),
    };
    let source = Some(f.get("source"))
        .filter(|s| !s.is_empty())
        .map(|s| format!("ACLED: {s}"))
        .unwrap_or_else(|| "ACLED".to_string());
    let mut properties = json!({
        "marking": options.marking.as_str(),
        "occurred_at": crate::log::format_time(occurred_at),
        "time_precision": time_precision,
        "event_type": event_type.as_str(),
        "sub_event_type": sub_event_type,
        "severity": severity(event_type, fatalities),
        "fatalities": fatalities,
        "source": source,
        "verification": "reported",
        "geo_precision": geo_precision,
    });
    if !actors.is_empty() {
        properties["actors"] = json!(actors);
    }
    if let Some(d) = description {
        properties["description"] = Value::String(d);
    }
    let feature = json!({
        "type": "Feature",
        "id": id,
        "geometry": {"type": "Point", "coordinates": [longitude, latitude]},
        "properties": properties,
    });
    let draft = parse_feature(Layer::Incidents, &feature, options.now).map_err(to_column)?;
    Ok((id, draft))
}

/// A validation error of the Feature, named by the ACLED column it came from.
fn to_column(e: Invalid) -> Invalid {
    let field = e.field.trim_start_matches("properties.");
    let column = match field.split(['[', '.']).next().unwrap_or("") {
        "occurred_at" => "event_date",
        "actors" => "actor1",
        "description" => "notes",
        "source" => "source",
        "geometry" => "latitude",
        "id" => "event_id_cnty",
        "marking" => "marking",
        other => other,
    };
    Invalid::new(column, e.message)
}

#[cfg(test)]
mod tests;
