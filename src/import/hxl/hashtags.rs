//! The hashtag row of an HXL file: which column gives which part of a flow (see `hxl`).

use std::collections::{BTreeSet, HashMap};

use crate::import::csv::Record;
use crate::import::{Failure, Refused};

/// Attributes that make an `#affected` column a breakdown, not a flow.
const BREAKDOWNS: &[&str] = &[
    "f", "m", "female", "male", "women", "men", "children", "adults", "adult", "elderly",
    "infants", "boys", "girls", "age0_4", "age5_11", "age12_17", "age18_59", "age60", "pct",
    "change",
];

/// A hashtag and its attributes, in lower case.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Tag {
    name: String,
    attrs: BTreeSet<String>,
}

impl Tag {
    fn has(&self, attr: &str) -> bool {
        self.attrs.contains(attr)
    }
}

/// A cell of the hashtag row: `None` for an empty cell, an error for a malformed hashtag.
fn parse_tag(cell: &str) -> Option<Result<Tag, String>> {
    let compact: String = cell.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    let Some(body) = compact.strip_prefix('#') else {
        return Some(Err(format!("`{cell}` is not a hashtag")));
    };
    let lower = body.to_lowercase();
    let mut parts = lower.split('+');
    let word = |w: &str| {
        w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let name = parts.next().unwrap_or("");
    if !word(name) {
        return Some(Err(format!(
            "`{cell}` is not an HXL hashtag (`#` and a name, then `+attributes`)"
        )));
    }
    let mut attrs = BTreeSet::new();
    for a in parts {
        if !word(a) {
            return Some(Err(format!(
                "`{cell}` has an attribute `+{a}` that is not a name"
            )));
        }
        attrs.insert(a.to_string());
    }
    Some(Ok(Tag {
        name: name.to_string(),
        attrs,
    }))
}

/// Whether a record is the hashtag row.
pub(super) fn is_hashtag_row(fields: &[String]) -> bool {
    let cells: Vec<&str> = fields
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .collect();
    !cells.is_empty() && cells.iter().all(|c| c.starts_with('#'))
}

/// Flow direction an `#affected` column counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Dir {
    Displacement,
    Return,
}

impl Dir {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Dir::Displacement => "displacement",
            Dir::Return => "return",
        }
    }
}

/// Name or P-code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum By {
    Code,
    Name,
}

/// What a column gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Field {
    Id,
    Date,
    Individuals(Dir),
    Households(Option<Dir>),
    /// Level, origin?, by.
    Area(u8, bool, By),
    Site,
    OriginSite,
    Lat,
    Lon,
    Source,
    Round,
    Cause,
    Shelter,
    Description,
}

/// The field a hashtag gives, and its rank among the columns that give it (0 first).
fn classify(t: &Tag) -> Option<(Field, u8)> {
    let origin = t.has("origin");
    let by = if t.has("code") || t.has("pcode") {
        By::Code
    } else {
        By::Name
    };
    Some(match t.name.as_str() {
        "meta" if t.has("id") => (Field::Id, 0),
        "x_id" => (Field::Id, 1),
        "id" => (Field::Id, 2),
        "meta" if t.has("source") => (Field::Source, 0),
        "org" if !t.has("impl") && !t.has("funder") => (Field::Source, 1),
        "meta" if t.has("notes") => (Field::Description, 1),
        "description" => (Field::Description, 0),
        "date" if t.has("reported") => (Field::Date, 0),
        "date" if t.attrs.is_empty() => (Field::Date, 1),
        "date" if t.has("survey") || t.has("collected") => (Field::Date, 2),
        "affected" => {
            if BREAKDOWNS.iter().any(|b| t.has(b)) {
                return None;
            }
            let dir = if t.has("returnees") || t.has("returned") {
                Some(Dir::Return)
            } else if t.has("idps") || t.has("displaced") {
                Some(Dir::Displacement)
            } else if t
                .attrs
                .iter()
                .all(|a| a == "ind" || a == "hh" || a == "total")
            {
                None
            } else {
                // `#affected+refugees`, `+host`, …: not a flow this layer keeps.
                return None;
            };
            let rank = u8::from(dir.is_none());
            if t.has("hh") {
                (Field::Households(dir), 0)
            } else {
                (Field::Individuals(dir.unwrap_or(Dir::Displacement)), rank)
            }
        }
        "adm1" => (Field::Area(1, origin, by), 0),
        "adm2" => (Field::Area(2, origin, by), 0),
        "loc" if t.has("type") => (Field::Shelter, 1),
        "loc" if by == By::Code || t.has("id") => return None,
        "loc" if origin => (Field::OriginSite, 0),
        "loc" => (Field::Site, 0),
        "geo" if t.has("lat") => (Field::Lat, 0),
        "geo" if t.has("lon") => (Field::Lon, 0),
        "round" => (Field::Round, 0),
        "cause" => (Field::Cause, 0),
        "crisis" => (Field::Cause, 1),
        "x_shelter" | "shelter" => (Field::Shelter, 0),
        _ => return None,
    })
}

/// The hashtag row: which column gives each field.
pub(super) struct Columns {
    pub(super) index: HashMap<Field, usize>,
    /// Each column's hashtag as the file writes it.
    tags: Vec<String>,
    pub(super) count: usize,
}

impl Columns {
    pub(super) fn of(record: &Record) -> Result<Columns, Failure> {
        let mut chosen: HashMap<Field, (u8, usize)> = HashMap::new();
        let mut problems = Vec::new();
        for (i, cell) in record.fields.iter().enumerate() {
            let tag = match parse_tag(cell) {
                None => continue,
                Some(Err(m)) => {
                    problems.push(Refused::file(record.line, Some(cell.trim()), m));
                    continue;
                }
                Some(Ok(t)) => t,
            };
            let Some((field, rank)) = classify(&tag) else {
                continue;
            };
            match chosen.get(&field) {
                Some((r, _)) if *r < rank => {}
                Some((r, j)) if *r == rank => problems.push(Refused::file(
                    record.line,
                    Some(cell.trim()),
                    format!(
                        "columns {} (`{}`) and {} (`{}`) both give the {}; a file gives it once",
                        j + 1,
                        record.fields[*j].trim(),
                        i + 1,
                        cell.trim(),
                        describe(field)
                    ),
                )),
                _ => {
                    chosen.insert(field, (rank, i));
                }
            }
        }
        let index: HashMap<Field, usize> = chosen.into_iter().map(|(f, (_, i))| (f, i)).collect();
        let has = |f: &Field| index.contains_key(f);
        let line = record.line;
        if !has(&Field::Individuals(Dir::Displacement)) && !has(&Field::Individuals(Dir::Return)) {
            problems.push(Refused::file(
                line,
                Some("#affected+idps+ind"),
                "the hashtag row has no column of people (`#affected+idps+ind` for displaced \
                 people, `#affected+returnees+ind` for returnees)",
            ));
        }
        if !has(&Field::Date) {
            problems.push(Refused::file(
                line,
                Some("#date+reported"),
                "the hashtag row has no date column (`#date+reported`)",
            ));
        }
        let place = [
            Field::Area(1, false, By::Code),
            Field::Area(1, false, By::Name),
            Field::Area(2, false, By::Code),
            Field::Area(2, false, By::Name),
        ]
        .iter()
        .any(has)
            || (has(&Field::Lat) && has(&Field::Lon));
        if !place {
            problems.push(Refused::file(
                line,
                Some("#adm1+code"),
                "the hashtag row says nowhere where the people are (`#adm1+code`, `#adm1+name`, \
                 `#adm2+…`, or `#geo+lat` with `#geo+lon`)",
            ));
        }
        if has(&Field::Lat) != has(&Field::Lon) {
            problems.push(Refused::file(
                line,
                Some(if has(&Field::Lat) {
                    "#geo+lon"
                } else {
                    "#geo+lat"
                }),
                "`#geo+lat` and `#geo+lon` come together",
            ));
        }
        if !problems.is_empty() {
            return Err(Failure::Refused(problems));
        }
        Ok(Columns {
            index,
            tags: record.fields.iter().map(|f| f.trim().to_string()).collect(),
            count: record.fields.len(),
        })
    }

    /// The hashtag of the column that gives `field`, as the file writes it.
    pub(super) fn tag(&self, field: Field) -> String {
        self.index
            .get(&field)
            .and_then(|i| self.tags.get(*i))
            .cloned()
            .unwrap_or_default()
    }
}

fn describe(field: Field) -> String {
    match field {
        Field::Id => "row id".into(),
        Field::Date => "reporting date".into(),
        Field::Individuals(d) => format!("individuals ({})", d.as_str()),
        Field::Households(Some(d)) => format!("households ({})", d.as_str()),
        Field::Households(None) => "households".into(),
        Field::Area(level, origin, by) => format!(
            "{} admin-{level} {}",
            if origin { "origin" } else { "destination" },
            if by == By::Code { "P-code" } else { "name" }
        ),
        Field::Site => "site".into(),
        Field::OriginSite => "origin place".into(),
        Field::Lat => "latitude".into(),
        Field::Lon => "longitude".into(),
        Field::Source => "source".into(),
        Field::Round => "round".into(),
        Field::Cause => "cause".into(),
        Field::Shelter => "shelter".into(),
        Field::Description => "description".into(),
    }
}
