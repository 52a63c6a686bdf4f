//! Exports (issue 16): the picture as files other tools open — GeoJSON, KML for Google Earth,
//! CSV with HXL hashtags, a CAP 1.2 feed of alerts — and the item times that exports and the
//! OGC API filter on (`time`).
//!
//! Every format is written from Features as `feature::render` made them for the caller,
//! through the one policy decision; this module decides nothing about who sees what, and a
//! hidden field cannot appear in any format because it is not in the Feature. What differs per
//! layer (a title, what an item is called, the property it is coloured by, its time, the HXL
//! hashtag of each property) is read from the layer's `ExportSpec`, so a new layer is exported
//! without touching the writers. The writers append to a `String` item by item, so the API can
//! stream a large export in bounded chunks. Pure: no IO, no clock.

pub mod cap;
pub mod csv;
pub mod kml;
pub mod palette;
pub mod shape;
pub mod time;

use serde_json::Value;

use crate::model::Layer;

/// An export format (`GET /api/v1/export/{format}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    GeoJson,
    Kml,
    Csv,
    Cap,
}

impl Format {
    pub const NAMES: &'static [&'static str] = &["geojson", "kml", "csv", "cap"];

    pub fn parse(text: &str) -> Result<Format, String> {
        match text {
            "geojson" => Ok(Format::GeoJson),
            "kml" => Ok(Format::Kml),
            "csv" => Ok(Format::Csv),
            "cap" => Ok(Format::Cap),
            other => Err(format!(
                "format: `{other}` is not one of {}",
                Format::NAMES.join(", ")
            )),
        }
    }

    /// The media type of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::GeoJson => "application/geo+json",
            Format::Kml => "application/vnd.google-earth.kml+xml",
            Format::Csv => "text/csv; charset=utf-8; header=present",
            Format::Cap => "application/atom+xml",
        }
    }

    /// The file name extension a download is saved with.
    pub fn extension(self) -> &'static str {
        match self {
            Format::GeoJson => "geojson",
            Format::Kml => "kml",
            Format::Csv => "csv",
            Format::Cap => "atom.xml",
        }
    }
}

/// What an item is called in a file: the first of its layer's `label` properties the
/// Feature has (underscores read as spaces in terms), else its id.
pub fn label(layer: Layer, feature: &Value) -> String {
    let props = &feature["properties"];
    let spec = layer.spec();
    spec.export
        .label
        .iter()
        .find_map(|name| {
            let text = props.get(*name)?.as_str()?;
            let term = spec
                .field(name)
                .is_some_and(|f| f.kind == crate::model::schema::Kind::Term);
            Some(if term {
                text.replace('_', " ")
            } else {
                text.to_string()
            })
        })
        .unwrap_or_else(|| feature["id"].as_str().unwrap_or("").to_string())
}

/// A property's value as text in a cell or a KML `Data`: strings as they are, numbers and
/// booleans as JSON writes them, lists and objects as compact JSON, null as nothing.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A format that writes items one by one: a head, each Feature in turn, a tail. The API
/// streams what it writes in chunks, so an export of the whole picture never sits in memory.
pub trait Writer: Send {
    fn head(&mut self) -> String;
    /// One Feature of `layer` (items arrive grouped by layer, in `Layer::ALL` order).
    fn item(&mut self, layer: Layer, feature: &Value, out: &mut String);
    fn tail(&mut self) -> String;
}

/// The writer of an item format (`None` for CAP, which carries alerts).
pub fn writer(format: Format, layers: &[Layer], title: &str, seq: u64) -> Option<Box<dyn Writer>> {
    match format {
        Format::GeoJson => Some(Box::new(GeoJsonWriter { seq, first: true })),
        Format::Kml => Some(Box::new(KmlWriter {
            title: title.to_string(),
            layers: layers.to_vec(),
            open: None,
        })),
        Format::Csv => Some(Box::new(CsvWriter(csv::Columns::for_layers(layers)))),
        Format::Cap => None,
    }
}

/// A FeatureCollection (RFC 7946) with the `seq` it was made at; `exercise` is a property of
/// every Feature.
struct GeoJsonWriter {
    seq: u64,
    first: bool,
}

impl Writer for GeoJsonWriter {
    fn head(&mut self) -> String {
        format!(
            "{{\"type\":\"FeatureCollection\",\"seq\":{},\"features\":[\n",
            self.seq
        )
    }

    fn item(&mut self, _: Layer, feature: &Value, out: &mut String) {
        if !std::mem::take(&mut self.first) {
            out.push_str(",\n");
        }
        out.push_str(&feature.to_string());
    }

    fn tail(&mut self) -> String {
        "\n]}\n".into()
    }
}

struct KmlWriter {
    title: String,
    layers: Vec<Layer>,
    /// The layer whose folder is open.
    open: Option<Layer>,
}

impl Writer for KmlWriter {
    fn head(&mut self) -> String {
        kml::head(&self.title, &self.layers)
    }

    fn item(&mut self, layer: Layer, feature: &Value, out: &mut String) {
        if self.open != Some(layer) {
            if self.open.is_some() {
                out.push_str(kml::FOLDER_END);
            }
            out.push_str(&kml::folder(layer));
            self.open = Some(layer);
        }
        kml::placemark(layer, feature, out);
    }

    fn tail(&mut self) -> String {
        let mut out = String::new();
        if self.open.take().is_some() {
            out.push_str(kml::FOLDER_END);
        }
        out.push_str(kml::TAIL);
        out
    }
}

struct CsvWriter(csv::Columns);

impl Writer for CsvWriter {
    fn head(&mut self) -> String {
        self.0.header()
    }

    fn item(&mut self, _: Layer, feature: &Value, out: &mut String) {
        self.0.row(feature, out);
    }

    fn tail(&mut self) -> String {
        String::new()
    }
}
