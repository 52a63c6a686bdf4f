//! KML 2.2 (OGC 07-147r2) for Google Earth, styled like the wall: one `Folder` per layer, one
//! `Style` per value the wall colours by (`PALETTE` in `web/app/symbols.js`) and a paler one for
//! exercise items, whose names also start with `[EXERCISE]`. Each Placemark carries its
//! geometry (Point, LineString, Polygon; a movement's last reported position beside its route
//! in a MultiGeometry), its time (`TimeSpan` or `TimeStamp`, so Google Earth's time slider
//! works) and every property the caller received as `ExtendedData`. Written from Features as
//! `feature::render` made them for the caller. Pure.

use std::fmt::Write;

use quick_xml::escape::escape;
use serde_json::Value;

use super::palette::palette;
use super::shape::{kml_coordinates, Shape};
use super::time::span_of_feature;
use super::{label, text_of};
use crate::model::Layer;

/// What an exercise item's name starts with.
pub const EXERCISE_PREFIX: &str = "[EXERCISE] ";

/// The colour of an item the wall has no colour for.
const NO_COLOUR: &str = "#ffffff";

/// KML's `aabbggrr` from `#rrggbb` and an alpha.
fn kml_colour(hex: &str, alpha: u8) -> String {
    let h = hex.trim_start_matches('#');
    let part = |i: usize| h.get(i..i + 2).unwrap_or("ff");
    format!("{alpha:02x}{}{}{}", part(4), part(2), part(0))
}

fn style(out: &mut String, id: &str, hex: &str, exercise: bool) {
    let (line, fill) = if exercise { (0x80, 0x30) } else { (0xff, 0x59) };
    let _ = writeln!(
        out,
        "<Style id=\"{id}\"><IconStyle><color>{}</color></IconStyle><LabelStyle><color>{}</color></LabelStyle><LineStyle><color>{}</color><width>{}</width></LineStyle><PolyStyle><color>{}</color></PolyStyle></Style>",
        kml_colour(hex, line),
        kml_colour(hex, line),
        kml_colour(hex, line),
        if exercise { 2 } else { 4 },
        kml_colour(hex, fill),
    );
}

/// The style id of a value of a layer (an XML NCName: letters, digits, `_`, `.`, `-`).
fn style_id(layer: Layer, value: Option<&str>, exercise: bool) -> String {
    let known = value.filter(|v| {
        palette()
            .get(layer.as_str())
            .is_some_and(|p| p.contains_key(*v))
    });
    let mut id = format!("{layer}.{}", known.unwrap_or("none"));
    if exercise {
        id.push_str(".exercise");
    }
    id
}

/// The document's start: its name and the styles of the layers it holds.
pub fn head(title: &str, layers: &[Layer]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<kml xmlns=\"http://www.opengis.net/kml/2.2\">\n<Document>\n");
    let _ = writeln!(out, "<name>{}</name>", escape(title));
    for layer in layers {
        let colours = palette().get(layer.as_str());
        let entries = colours
            .into_iter()
            .flatten()
            .map(|(v, c)| (v.as_str(), c.as_str()))
            .chain(std::iter::once(("none", NO_COLOUR)));
        for (value, hex) in entries {
            for exercise in [false, true] {
                style(
                    &mut out,
                    &style_id(*layer, Some(value), exercise),
                    hex,
                    exercise,
                );
            }
        }
    }
    out
}

/// A layer's folder opens.
pub fn folder(layer: Layer) -> String {
    format!(
        "<Folder><name>{}</name>\n",
        escape(layer.spec().export.title)
    )
}

pub const FOLDER_END: &str = "</Folder>\n";
pub const TAIL: &str = "</Document>\n</kml>\n";

fn geometry(shape: &Shape, out: &mut String) {
    match shape {
        Shape::Point(p) => {
            let _ = write!(
                out,
                "<Point><coordinates>{}</coordinates></Point>",
                kml_coordinates(&[*p])
            );
        }
        Shape::Line(ps) => {
            let _ = write!(
                out,
                "<LineString><tessellate>1</tessellate><coordinates>{}</coordinates></LineString>",
                kml_coordinates(ps)
            );
        }
        Shape::Polygon(rings) => polygon(rings, out),
        Shape::MultiPolygon(ps) => {
            out.push_str("<MultiGeometry>");
            for p in ps {
                polygon(p, out);
            }
            out.push_str("</MultiGeometry>");
        }
    }
}

fn polygon(rings: &[Vec<[f64; 2]>], out: &mut String) {
    out.push_str("<Polygon><tessellate>1</tessellate>");
    for (i, ring) in rings.iter().enumerate() {
        let boundary = if i == 0 {
            "outerBoundaryIs"
        } else {
            "innerBoundaryIs"
        };
        let _ = write!(
            out,
            "<{boundary}><LinearRing><coordinates>{}</coordinates></LinearRing></{boundary}>",
            kml_coordinates(ring)
        );
    }
    out.push_str("</Polygon>");
}

/// One Feature as a Placemark.
pub fn placemark(layer: Layer, feature: &Value, out: &mut String) {
    let spec = &layer.spec().export;
    let props = &feature["properties"];
    let exercise = props["exercise"].as_bool().unwrap_or(false);
    out.push_str("<Placemark><name>");
    if exercise {
        out.push_str(EXERCISE_PREFIX);
    }
    out.push_str(&escape(label(layer, feature)));
    out.push_str("</name>");
    let span = span_of_feature(spec, feature);
    let time = crate::log::format_time;
    match span.end {
        Some(end) if end == span.start => {
            let _ = write!(
                out,
                "<TimeStamp><when>{}</when></TimeStamp>",
                time(span.start)
            );
        }
        Some(end) => {
            let _ = write!(
                out,
                "<TimeSpan><begin>{}</begin><end>{}</end></TimeSpan>",
                time(span.start),
                time(end)
            );
        }
        None => {
            let _ = write!(
                out,
                "<TimeSpan><begin>{}</begin></TimeSpan>",
                time(span.start)
            );
        }
    }
    let value = props[spec.colour_by].as_str();
    let _ = write!(
        out,
        "<styleUrl>#{}</styleUrl>",
        style_id(layer, value, exercise)
    );
    out.push_str("<ExtendedData>");
    let mut data = |name: &str, value: &str| {
        let _ = write!(
            out,
            "<Data name=\"{}\"><value>{}</value></Data>",
            escape(name),
            escape(value)
        );
    };
    data("id", feature["id"].as_str().unwrap_or(""));
    if let Some(map) = props.as_object() {
        for (name, v) in map {
            if !v.is_null() {
                data(name, &text_of(v));
            }
        }
    }
    out.push_str("</ExtendedData>");
    let shape = Shape::of(&feature["geometry"]);
    let position = props
        .get("position")
        .and_then(|p| Some([p.get(0)?.as_f64()?, p.get(1)?.as_f64()?]));
    match (shape, position) {
        (Some(shape), Some(p)) if !matches!(shape, Shape::Point(_)) => {
            out.push_str("<MultiGeometry>");
            geometry(&shape, out);
            geometry(&Shape::Point(p), out);
            out.push_str("</MultiGeometry>");
        }
        (Some(shape), _) => geometry(&shape, out),
        (None, _) => {}
    }
    out.push_str("</Placemark>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_alpha_blue_green_red() {
        assert_eq!(kml_colour("#ff3b30", 0xff), "ff303bff");
        assert_eq!(kml_colour("#00e5ff", 0x59), "59ffe500");
    }

    #[test]
    fn every_value_has_a_style_in_the_head() {
        let head = head("t", crate::model::Layer::ALL);
        for spec in crate::model::schema::LAYERS {
            let field = spec.field(spec.export.colour_by).unwrap();
            for value in field.values().map(Some).chain([None]) {
                for exercise in [false, true] {
                    let id = style_id(spec.layer, value, exercise);
                    assert!(head.contains(&format!("<Style id=\"{id}\">")), "{id}");
                }
            }
        }
    }
}
