//! A CSV file with an HXL hashtag row (Humanitarian Exchange Language), such as IOM DTM's
//! displacement tables, into displacement flows. Pure.
//!
//! The hashtag row is the first record, among the first `HASHTAG_ROWS`, whose every non-empty
//! cell is a hashtag: a row of text headers above it (the usual layout) or none (a file of
//! hashtags only) are both read; the headers are not used. Hashtags and attributes are read in
//! any order and any case (`#Affected +IND +IDPs` is `#affected+idps+ind`); columns without a
//! hashtag, or with one this reader does not use, are ignored, as HXL asks of a consumer. The
//! hashtags read are in `proto/API.md` ("Imports"); in short:
//!
//! - where the people are: `#adm1+code`/`#adm1+pcode`/`#adm1+name`, `#adm2+…` (destination;
//!   `+dest` may be said), `#loc+name` (a site or camp), `#geo+lat`, `#geo+lon`;
//! - where they came from: the same with `+origin` (`#adm1+origin+pcode`, `#loc+name+origin`);
//! - how many: `#affected+idps+ind` (displacement) or `#affected+returnees+ind` (return),
//!   `#affected+ind` alone meaning displaced people; households `#affected+hh` with the same
//!   attributes; breakdowns by sex or age (`+f`, `+m`, `+children`, …) are not flows and ignored;
//! - when: `#date+reported` (else `#date`, else `#date+survey`);
//! - what: `#x_shelter`/`#shelter` (else `#loc+type`), `#cause` (else `#crisis`),
//!   `#meta+source` (else `#org`) and `#round` (the source's round), `#description`;
//! - which: `#meta+id` (or `#x_id`, `#id`): the row's own id.
//!
//! Names are resolved to P-codes through the gazetteer (`Gazetteer::find`); one it does not
//! know refuses the row, naming it. A level-2 name is resolved only when the gazetteer has
//! level-2 areas; otherwise the flow is attributed to its governorate and the district is kept
//! as text (the origin's in `origin_place`, the destination's in `description`).
//!
//! The item id is `hxl-` + the row's own id when the file has an id column, else `hxl-` + the
//! first 16 hexadecimal digits of the SHA-256 of the flow's key: source, reporting date,
//! direction, origin (area, or place), destination area, site and shelter, joined by U+001F.
//! Importing the same flows again therefore updates or leaves them unchanged; a row whose key
//! is another row's is refused (give the file an id column).

use chrono::NaiveDate;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::csv::records;
use super::rows::{read_rows, Read, Shape};
use super::{Failure, Options, Refused, Row};
use crate::gazetteer::{AdminArea, Gazetteer};
use crate::model::input::parse_feature;
use crate::model::layers::displacement::Shelter;
use crate::model::{validate_id, Invalid, Layer};

mod hashtags;

use hashtags::{is_hashtag_row, By, Columns, Dir, Field};

/// The prefix of an imported item's id.
pub const ID_PREFIX: &str = "hxl-";

/// The hashtag row is looked for among this many first records.
pub const HASHTAG_ROWS: usize = 25;

/// Reads the whole file.
pub fn read(text: &str, options: &Options) -> Result<Vec<Row>, Failure> {
    let mut records = records(text);
    let mut hashtags = None;
    for _ in 0..HASHTAG_ROWS {
        match records.next() {
            None => break,
            Some(Err(e)) => {
                return Err(Failure::Refused(vec![Refused::file(
                    e.line, None, e.message,
                )]))
            }
            Some(Ok(r)) if is_hashtag_row(&r.fields) => {
                hashtags = Some(r);
                break;
            }
            Some(Ok(_)) => {}
        }
    }
    let Some(hashtags) = hashtags else {
        return Err(Failure::Refused(vec![Refused::file(
            1,
            None,
            format!(
                "no HXL hashtag row (`#adm1+name,#affected+idps+ind,…`) among the first \
                 {HASHTAG_ROWS} rows; add one under the headers"
            ),
        )]));
    };
    let columns = Columns::of(&hashtags)?;
    let gazetteer = &options.gazetteer;
    let shape = Shape {
        layer: Layer::Displacements,
        width: columns.count,
        width_from: "the hashtag row",
        max_rows: options.max_rows,
    };
    read_rows(
        records,
        &shape,
        |values| Fields::of(&columns, values).get(Field::Id).to_string(),
        |values| {
            let (id, draft) = row_to_draft(&Fields::of(&columns, values), gazetteer, options)?;
            Ok(Read {
                source_id: id.clone(),
                id,
                draft,
            })
        },
        |id, first| {
            Invalid::new(
                "",
                format!(
                    "row {first} is the same flow (`{id}`: same source, date, direction, origin, \
                     destination, site and shelter); merge them, or give each row a `#meta+id`"
                ),
            )
        },
    )
}

/// One record's values by field.
struct Fields<'a> {
    columns: &'a Columns,
    values: &'a [String],
}

impl<'a> Fields<'a> {
    fn of(columns: &'a Columns, values: &'a [String]) -> Fields<'a> {
        Fields { columns, values }
    }

    /// The value of `field`, trimmed; empty when no column gives it.
    fn get(&self, field: Field) -> &str {
        self.columns
            .index
            .get(&field)
            .and_then(|i| self.values.get(*i))
            .map(|v| v.trim())
            .unwrap_or("")
    }

    fn tag(&self, field: Field) -> String {
        self.columns.tag(field)
    }

    fn count(&self, field: Field) -> Result<Option<u32>, Invalid> {
        let v = self.get(field);
        if v.is_empty() {
            return Ok(None);
        }
        // Spreadsheets write thousands with a separator, and some exports whole numbers as
        // `120.0`.
        let digits: String = v.chars().filter(|c| *c != ',' && *c != ' ').collect();
        let digits = digits.strip_suffix(".0").unwrap_or(&digits);
        digits
            .parse()
            .map(Some)
            .map_err(|_| Invalid::new(self.tag(field), format!("`{v}` is not a whole number")))
    }

    fn coordinate(&self, field: Field, max: f64) -> Result<f64, Invalid> {
        let v = self.get(field);
        let x: f64 = v.parse().map_err(|_| {
            Invalid::new(
                self.tag(field),
                format!("`{v}` is not a number in decimal degrees"),
            )
        })?;
        if !(-max..=max).contains(&x) {
            return Err(Invalid::new(
                self.tag(field),
                format!("{x} is not within -{max} to {max}"),
            ));
        }
        Ok(x)
    }

    /// The area the row names at one end of the flow: the most precise level the gazetteer
    /// has, and the district's name when it has no districts.
    fn area<'g>(
        &self,
        g: &'g Gazetteer,
        origin: bool,
    ) -> Result<(Option<&'g AdminArea>, Option<String>), Invalid> {
        let mut found: Option<&'g AdminArea> = None;
        let mut district = None;
        for level in [1u8, 2] {
            let code = Field::Area(level, origin, By::Code);
            let name = Field::Area(level, origin, By::Name);
            if level == 2 && !g.has_level(2) {
                let text = Some(self.get(name))
                    .filter(|t| !t.is_empty())
                    .or(Some(self.get(code)).filter(|t| !t.is_empty()));
                district = text.map(str::to_string);
                continue;
            }
            let within = found.map(|a| a.pcode.as_str());
            let by_code = match self.get(code) {
                "" => None,
                t => Some(
                    g.find(t, level, None)
                        .map_err(|m| Invalid::new(self.tag(code), m))?,
                ),
            };
            let by_name = match self.get(name) {
                "" => None,
                t => Some(
                    g.find(t, level, within)
                        .map_err(|m| Invalid::new(self.tag(name), m))?,
                ),
            };
            let here = match (by_code, by_name) {
                (Some(a), Some(b)) if a.pcode != b.pcode => {
                    return Err(Invalid::new(
                        self.tag(name),
                        format!(
                            "`{}` is {} ({}), but the P-code column says {} ({})",
                            self.get(name),
                            b.pcode,
                            b.name_en,
                            a.pcode,
                            a.name_en
                        ),
                    ))
                }
                (a, b) => a.or(b),
            };
            if let (Some(parent), Some(a)) = (found, here) {
                if a.parent.as_deref() != Some(parent.pcode.as_str()) {
                    return Err(Invalid::new(
                        self.tag(code),
                        format!(
                            "{} ({}) does not lie in {} ({})",
                            a.pcode, a.name_en, parent.pcode, parent.name_en
                        ),
                    ));
                }
            }
            found = here.or(found);
        }
        Ok((found, district))
    }
}

/// A date as these files write it: `2024-03-31`, `2024-03-31T00:00:00` (DTM's API), `31 March
/// 2024`, `31-Mar-2024`, `2024/03/31`. `31/03/2024` is refused: day and month cannot be told
/// apart in general.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let t = text.trim();
    let day = match t.char_indices().nth(10) {
        Some((i, 'T' | ' ')) if t.as_bytes().get(4) == Some(&b'-') => &t[..i],
        _ => t,
    };
    for format in [
        "%Y-%m-%d", "%Y/%m/%d", "%d %B %Y", "%d %b %Y", "%d-%b-%Y", "%d-%B-%Y",
    ] {
        if let Ok(d) = NaiveDate::parse_from_str(day, format) {
            return Ok(d);
        }
    }
    Err(format!(
        "`{t}` is not a date this reader takes (`2024-03-31`, `31 March 2024`, `31-Mar-2024`); \
         write it as YYYY-MM-DD"
    ))
}

/// A shelter as DTM and cluster files name it, in the layer's four kinds.
pub fn shelter(text: &str) -> Result<Shelter, String> {
    let t = text.trim().to_lowercase();
    let t = t.as_str();
    let has = |w: &str| t.contains(w);
    if t.is_empty() || has("unknown") || has("other") || t == "n/a" {
        Ok(Shelter::Unknown)
    } else if has("camp") && !has("out of camp") && !has("non-camp") {
        Ok(Shelter::Camp)
    } else if has("informal")
        || has("critical")
        || has("unfinished")
        || has("abandoned")
        || has("religious")
        || has("school")
        || has("collective")
        || has("makeshift")
        || has("tent")
    {
        Ok(Shelter::Informal)
    } else if has("private")
        || has("host")
        || has("rent")
        || has("own ")
        || t == "own"
        || has("owned")
        || has("hotel")
        || has("motel")
        || has("relatives")
        || has("out of camp")
        || has("non-camp")
    {
        Ok(Shelter::Private)
    } else {
        Err(format!(
            "`{text}` is not a shelter this reader knows: camp; informal (informal settlement, \
             critical shelter, unfinished or abandoned, religious or school building); private \
             (private settings, host families, rented, own property, hotel); unknown"
        ))
    }
}

/// The flow's key, hashed: `hxl-` + 16 hexadecimal digits.
pub fn key_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    format!("{ID_PREFIX}{}", &hex::encode(digest)[..16])
}

/// One row's flow as a Feature, validated like any client's (`parse_feature`).
fn row_to_draft(
    f: &Fields<'_>,
    g: &Gazetteer,
    options: &Options,
) -> Result<(String, crate::model::input::Draft), Invalid> {
    let reported_on =
        parse_date(f.get(Field::Date)).map_err(|m| Invalid::new(f.tag(Field::Date), m))?;
    let idps = f.count(Field::Individuals(Dir::Displacement))?;
    let returnees = f.count(Field::Individuals(Dir::Return))?;
    let (dir, individuals) = match (idps, returnees) {
        (Some(n), None) => (Dir::Displacement, n),
        (None, Some(n)) => (Dir::Return, n),
        (Some(_), Some(_)) => {
            return Err(Invalid::new(
                f.tag(Field::Individuals(Dir::Return)),
                "the row gives both displaced people and returnees; a row is one flow",
            ))
        }
        (None, None) => {
            let field = if f
                .columns
                .index
                .contains_key(&Field::Individuals(Dir::Displacement))
            {
                Field::Individuals(Dir::Displacement)
            } else {
                Field::Individuals(Dir::Return)
            };
            return Err(Invalid::new(f.tag(field), "is empty: how many people?"));
        }
    };
    if individuals == 0 {
        return Err(Invalid::new(
            f.tag(Field::Individuals(dir)),
            "is 0: a flow has at least one person; leave rows without people out of the file",
        ));
    }
    let hh_field = if f.columns.index.contains_key(&Field::Households(Some(dir))) {
        Field::Households(Some(dir))
    } else {
        Field::Households(None)
    };
    let households = f.count(hh_field)?;
    let (destination, dest_district) = f.area(g, false)?;
    let (mut origin, origin_district) = f.area(g, true)?;
    let site = Some(f.get(Field::Site)).filter(|s| !s.is_empty());
    let mut origin_place = Some(f.get(Field::OriginSite))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .or(origin_district);
    // Displacement within one area (common: Ninewa to Ninewa) is an arrival in it, with no
    // departure from another; the origin is said in words.
    if let (Some(o), Some(d)) = (origin, destination) {
        if o.pcode == d.pcode {
            origin_place = Some(match origin_place {
                Some(place) => format!("{place}, within {} ({})", o.name_en, o.pcode),
                None => format!("within {} ({})", o.name_en, o.pcode),
            });
            origin = None;
        }
    }
    let coordinates = if f.get(Field::Lat).is_empty() && f.get(Field::Lon).is_empty() {
        match destination {
            Some(a) => a.label,
            None => {
                return Err(Invalid::new(
                    f.tag(Field::Area(1, false, By::Name)),
                    "the row says nowhere where the people are: a destination area, or \
                     `#geo+lat` and `#geo+lon`",
                ))
            }
        }
    } else {
        [
            f.coordinate(Field::Lon, 180.0)?,
            f.coordinate(Field::Lat, 90.0)?,
        ]
    };
    let shelter =
        shelter(f.get(Field::Shelter)).map_err(|m| Invalid::new(f.tag(Field::Shelter), m))?;
    let round = f.get(Field::Round);
    let source = match (f.get(Field::Source), round) {
        ("", "") => None,
        (s, "") => Some(s.to_string()),
        ("", r) => Some(format!("round {r}")),
        (s, r) => Some(format!("{s}, round {r}")),
    };
    let mut description: Vec<String> = Vec::new();
    if let Some(d) = dest_district {
        description.push(format!("District: {d}"));
    }
    if !f.get(Field::Description).is_empty() {
        description.push(f.get(Field::Description).to_string());
    }
    let own_id = f.get(Field::Id);
    let id = if own_id.is_empty() {
        key_id(&[
            source.as_deref().unwrap_or(""),
            &reported_on.to_string(),
            dir.as_str(),
            origin
                .map(|a| a.pcode.as_str())
                .or(origin_place.as_deref())
                .unwrap_or(""),
            destination.map(|a| a.pcode.as_str()).unwrap_or(""),
            site.unwrap_or(""),
            shelter.as_str(),
        ])
    } else {
        let id = format!("{ID_PREFIX}{own_id}");
        if own_id.contains(':') || validate_id(&id).is_err() {
            return Err(Invalid::new(
                f.tag(Field::Id),
                format!("`{own_id}` is not a row id (letters, digits, `.`, `_`, `-`)"),
            ));
        }
        id
    };
    let mut properties = json!({
        "marking": options.marking.as_str(),
        "reported_on": reported_on.to_string(),
        "direction": dir.as_str(),
        "individuals": individuals,
        "shelter": shelter.as_str(),
    });
    let p = properties.as_object_mut().expect("an object");
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            p.insert(k.to_string(), Value::String(v));
        }
    };
    put("origin_area", origin.map(|a| a.pcode.clone()));
    put("destination_area", destination.map(|a| a.pcode.clone()));
    put("origin_place", origin_place);
    put("site", site.map(str::to_string));
    put(
        "cause",
        Some(f.get(Field::Cause))
            .filter(|c| !c.is_empty())
            .map(str::to_string),
    );
    put("source", source);
    put(
        "description",
        (!description.is_empty()).then(|| description.join("\n")),
    );
    if let Some(h) = households {
        p.insert("households".into(), json!(h));
    }
    let feature = json!({
        "type": "Feature",
        "id": id,
        "geometry": {"type": "Point", "coordinates": coordinates},
        "properties": properties,
    });
    let draft = parse_feature(Layer::Displacements, &feature, options.now)
        .map_err(|e| to_column(e, f, dir, hh_field))?;
    Ok((id, draft))
}

/// A validation error of the Feature, named by the hashtag of the column it came from.
fn to_column(e: Invalid, f: &Fields<'_>, dir: Dir, hh: Field) -> Invalid {
    let field = e.field.trim_start_matches("properties.");
    let column = match field.split(['[', '.']).next().unwrap_or("") {
        "reported_on" => f.tag(Field::Date),
        "individuals" => f.tag(Field::Individuals(dir)),
        "households" => f.tag(hh),
        "origin_place" => f.tag(Field::OriginSite),
        "destination_area" => f.tag(Field::Area(1, false, By::Code)),
        "origin_area" => f.tag(Field::Area(1, true, By::Code)),
        "site" => f.tag(Field::Site),
        "cause" => f.tag(Field::Cause),
        "source" => f.tag(Field::Source),
        "description" => f.tag(Field::Description),
        "geometry" => f.tag(Field::Lat),
        "id" => f.tag(Field::Id),
        other => other.to_string(),
    };
    let column = if column.is_empty() {
        field.to_string()
    } else {
        column
    };
    Invalid::new(column, e.message)
}

#[cfg(test)]
mod tests;
