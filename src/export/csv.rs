//! CSV (RFC 4180: CRLF line ends, fields quoted where they must be) with an HXL hashtag row:
//! the first row names the columns, the second gives each its HXL hashtag, so the file opens
//! in a spreadsheet and in HXL tools alike. The columns are the envelope's (`ENVELOPE_HXL`:
//! id, layer, exercise, organisation, marking, times, precision, a point on the geometry as
//! `lat`/`lon` and the geometry as WKT), then every property of the layers exported, each with
//! the hashtag its layer declares (`ExportSpec::hxl`); a property another layer shares (`status`,
//! `description`) shares its column. A property the caller may not see is an empty cell, as is
//! one the item does not have. Lists and objects are compact JSON in their cell. A text that a
//! spreadsheet would take for a formula (starting with `=`, `+`, `-`, `@`) starts with `'`.
//! Written from Features as `feature::render` made them for the caller. Pure.

use serde_json::Value;

use super::shape::Shape;
use super::text_of;
use crate::model::schema::ENVELOPE_HXL;
use crate::model::Layer;

/// The columns of an export of some layers.
#[derive(Clone, Debug)]
pub struct Columns {
    columns: Vec<(&'static str, &'static str)>,
}

impl Columns {
    pub fn for_layers(layers: &[Layer]) -> Columns {
        let mut columns: Vec<(&'static str, &'static str)> = ENVELOPE_HXL.to_vec();
        for layer in layers {
            let hxl: &'static [(&'static str, &'static str)] = layer.spec().export.hxl;
            for &(name, tag) in hxl {
                if !columns.iter().any(|(n, _)| *n == name) {
                    columns.push((name, tag));
                }
            }
        }
        Columns { columns }
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|(n, _)| *n)
    }

    /// The two header rows: names, then hashtags.
    pub fn header(&self) -> String {
        let mut out = String::new();
        record(&mut out, self.columns.iter().map(|(n, _)| n.to_string()));
        record(&mut out, self.columns.iter().map(|(_, t)| t.to_string()));
        out
    }

    /// One Feature as a record.
    pub fn row(&self, feature: &Value, out: &mut String) {
        let props = &feature["properties"];
        let shape = Shape::of(&feature["geometry"]);
        let point = shape.as_ref().and_then(Shape::point_on);
        let cells = self.columns.iter().map(|(name, _)| match *name {
            "id" => feature["id"].as_str().unwrap_or("").to_string(),
            "lat" => point.map(|p| p[1].to_string()).unwrap_or_default(),
            "lon" => point.map(|p| p[0].to_string()).unwrap_or_default(),
            "wkt" => shape.as_ref().map(Shape::wkt).unwrap_or_default(),
            other => match props.get(other) {
                Some(Value::String(s)) => guard(s),
                Some(v) => text_of(v),
                None => String::new(),
            },
        });
        record(out, cells);
    }
}

/// A text a spreadsheet would evaluate as a formula is made plain text.
fn guard(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

/// One RFC 4180 record, CRLF-terminated.
fn record(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if cell.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::schema::LAYERS;
    use serde_json::json;
    use std::collections::HashMap;

    /// Every property of every layer has a hashtag; a name shared by layers has one hashtag;
    /// no two columns share a hashtag.
    #[test]
    fn every_property_has_one_hashtag_of_its_own() {
        let mut by_name: HashMap<&str, &str> = ENVELOPE_HXL.iter().copied().collect();
        for spec in LAYERS {
            for f in spec.fields {
                let tag = spec
                    .export
                    .hashtag(f.name)
                    .unwrap_or_else(|| panic!("{}.{}: no HXL hashtag", spec.layer, f.name));
                assert!(tag.starts_with('#') && !tag.contains(' '), "{tag}");
                if let Some(other) = by_name.insert(f.name, tag) {
                    assert_eq!(other, tag, "{}.{}: two hashtags", spec.layer, f.name);
                }
            }
            for (name, _) in spec.export.hxl {
                assert!(
                    spec.field(name).is_some(),
                    "{}: hxl names `{name}`",
                    spec.layer
                );
            }
        }
        let mut by_tag: HashMap<&str, &str> = HashMap::new();
        for (&name, &tag) in &by_name {
            if let Some(other) = by_tag.insert(tag, name) {
                panic!("`{name}` and `{other}` share {tag}");
            }
        }
    }

    #[test]
    fn records_are_quoted_where_they_must_be() {
        let c = Columns::for_layers(&[Layer::Incidents]);
        let mut out = String::new();
        c.row(
            &json!({"id": "A:1", "type": "Feature", "geometry": {"type": "Point", "coordinates": [44.0, 33.0]},
                    "properties": {"layer": "incidents", "description": "a \"big\", one\nline", "actors": ["x", "y"], "source": "=cmd"}}),
            &mut out,
        );
        assert!(out.ends_with("\r\n"));
        assert!(out.starts_with("A:1,incidents,"));
        assert!(out.contains("\"a \"\"big\"\", one\nline\""));
        assert!(out.contains("\"[\"\"x\"\",\"\"y\"\"]\""));
        assert!(out.contains(",'=cmd,"));
        assert!(out.contains(",33,44,POINT (44 33),"));
    }
}
