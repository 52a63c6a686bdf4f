//! Readers of the export formats, written here from the formats' definitions and not from
//! cmcop's writers: KML and the CAP feed read with quick-xml's event parser, CSV with the `csv`
//! crate. Tests compare what they read with the picture the same caller gets as GeoJSON.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Value;

/// What the XML walker reports: an element opens (with its attributes and the byte offset it
/// starts at), or closes (with the text directly inside it, entity references resolved, and
/// the byte offset it ends at).
enum Node {
    Open {
        name: String,
        attrs: BTreeMap<String, String>,
        at: usize,
    },
    Close {
        name: String,
        text: String,
        at: usize,
    },
}

/// Walks a document with quick-xml's event reader; panics with the reason when it is not
/// well-formed XML.
fn walk(text: &str, mut f: impl FnMut(Node)) {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut buffer = String::new();
    let mut before = 0usize;
    loop {
        let event = reader.read_event();
        let after = reader.buffer_position() as usize;
        match event {
            Err(e) => panic!("not well-formed XML at byte {after}: {e}"),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                buffer.clear();
                f(Node::Open {
                    name: e.local_name().as_ref().to_string(),
                    attrs: attrs(&e),
                    at: before,
                });
            }
            Ok(Event::Empty(e)) => {
                let name = e.local_name().as_ref().to_string();
                f(Node::Open {
                    name: name.clone(),
                    attrs: attrs(&e),
                    at: before,
                });
                f(Node::Close {
                    name,
                    text: String::new(),
                    at: after,
                });
            }
            Ok(Event::End(e)) => {
                f(Node::Close {
                    name: e.local_name().as_ref().to_string(),
                    text: std::mem::take(&mut buffer),
                    at: after,
                });
            }
            Ok(Event::Text(t)) => buffer.push_str(&t.xml10_content()),
            Ok(Event::CData(t)) => buffer.push_str(&t.xml10_content()),
            Ok(Event::GeneralRef(r)) => {
                let c = match r.resolve_char_ref().expect("a character reference") {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .unwrap_or_else(|| panic!("unknown entity `{}`", &*r))
                        .to_string(),
                };
                buffer.push_str(&c);
            }
            Ok(_) => {}
        }
        before = after;
    }
}

fn attrs(e: &quick_xml::events::BytesStart<'_>) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.expect("a well-formed attribute");
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .expect("an attribute value");
            (a.key.0.to_string(), value.into_owned())
        })
        .collect()
}

/// A KML Placemark as read.
#[derive(Debug, Default, Clone)]
pub struct Placemark {
    pub folder: String,
    pub name: String,
    pub style_url: String,
    pub data: BTreeMap<String, String>,
    /// The geometry elements, outermost first (`Point`, `LineString`, `Polygon`,
    /// `MultiGeometry`…).
    pub geometries: Vec<String>,
    pub coordinates: Vec<String>,
    pub time: Vec<String>,
}

/// A KML document: its styles (id → line colour) and its Placemarks.
#[derive(Debug, Default)]
pub struct Kml {
    pub styles: BTreeMap<String, String>,
    pub folders: Vec<String>,
    pub placemarks: Vec<Placemark>,
}

const GEOMETRIES: &[&str] = &[
    "Point",
    "LineString",
    "Polygon",
    "MultiGeometry",
    "LinearRing",
];

/// Reads a KML document; panics with the reason when it is not well-formed XML.
pub fn read_kml(text: &str) -> Kml {
    let mut kml = Kml::default();
    let mut path: Vec<String> = Vec::new();
    let mut current: Option<Placemark> = None;
    let mut data_name = String::new();
    let mut style_id = String::new();
    walk(text, |node| match node {
        Node::Open { name, attrs, .. } => {
            if path.is_empty() {
                assert_eq!(name, "kml", "the root element");
                assert_eq!(
                    attrs.get("xmlns").map(String::as_str),
                    Some("http://www.opengis.net/kml/2.2")
                );
            }
            match name.as_str() {
                "Placemark" => {
                    current = Some(Placemark {
                        folder: kml.folders.last().cloned().unwrap_or_default(),
                        ..Placemark::default()
                    })
                }
                "Style" => style_id = attrs.get("id").cloned().unwrap_or_default(),
                "Data" => data_name = attrs.get("name").cloned().unwrap_or_default(),
                g if GEOMETRIES.contains(&g) => {
                    if let Some(p) = current.as_mut() {
                        p.geometries.push(g.to_string());
                    }
                }
                _ => {}
            }
            path.push(name);
        }
        Node::Close { name, text, .. } => {
            path.pop();
            let parent = path.last().map(String::as_str).unwrap_or("");
            match (parent, name.as_str(), current.as_mut()) {
                (_, "Placemark", _) => kml.placemarks.push(current.take().expect("a Placemark")),
                ("Folder", "name", _) => kml.folders.push(text),
                ("Placemark", "name", Some(p)) => p.name = text,
                ("Placemark", "styleUrl", Some(p)) => p.style_url = text,
                ("Data", "value", Some(p)) => {
                    p.data.insert(data_name.clone(), text);
                }
                (_, "coordinates", Some(p)) => p.coordinates.push(text),
                ("TimeSpan" | "TimeStamp", what, Some(p)) => p.time.push(format!("{what}={text}")),
                ("LineStyle", "color", None) => {
                    kml.styles.insert(style_id.clone(), text);
                }
                _ => {}
            }
        }
    });
    kml
}

/// A CSV export: column names, HXL hashtags, and each record by column name.
pub struct Csv {
    pub names: Vec<String>,
    pub hashtags: Vec<String>,
    pub rows: Vec<BTreeMap<String, String>>,
}

/// Reads an RFC 4180 file whose first row names the columns and whose second holds HXL
/// hashtags.
pub fn read_csv(text: &str) -> Csv {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(text.as_bytes());
    let mut records = reader.records().map(|r| r.expect("a CSV record"));
    let names: Vec<String> = records
        .next()
        .expect("a header row")
        .iter()
        .map(String::from)
        .collect();
    let hashtags: Vec<String> = records
        .next()
        .expect("a hashtag row")
        .iter()
        .map(String::from)
        .collect();
    assert_eq!(names.len(), hashtags.len());
    let rows = records
        .map(|r| {
            names
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    Csv {
        names,
        hashtags,
        rows,
    }
}

/// One CAP alert read from the feed: every simple element by its path below `alert`
/// (`info/severity`, `info/area/circle`…), values of repeated elements joined by `|`; and
/// the alert's XML itself, for a schema check.
pub struct CapAlert {
    pub fields: BTreeMap<String, String>,
    pub parameters: BTreeMap<String, String>,
    pub xml: String,
}

/// Reads an Atom feed whose entries hold CAP 1.2 alerts inline.
pub fn read_cap_feed(text: &str) -> Vec<CapAlert> {
    let mut out = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut alert_start: Option<usize> = None;
    let mut fields = BTreeMap::new();
    let mut parameters = BTreeMap::new();
    let mut value_name = String::new();
    walk(text, |node| match node {
        Node::Open { name, attrs, at } => {
            if path.is_empty() {
                assert_eq!(name, "feed", "an Atom feed");
                assert_eq!(
                    attrs.get("xmlns").map(String::as_str),
                    Some("http://www.w3.org/2005/Atom")
                );
            }
            if name == "alert" {
                assert_eq!(
                    attrs.get("xmlns").map(String::as_str),
                    Some("urn:oasis:names:tc:emergency:cap:1.2")
                );
                alert_start = Some(at);
            }
            path.push(name);
        }
        Node::Close {
            name,
            text: value,
            at,
        } => {
            if let Some(start) = alert_start {
                if name == "alert" {
                    path.pop();
                    alert_start = None;
                    out.push(CapAlert {
                        fields: std::mem::take(&mut fields),
                        parameters: std::mem::take(&mut parameters),
                        xml: text[start..at].to_string(),
                    });
                    return;
                }
                let inside = path
                    .iter()
                    .position(|p| p == "alert")
                    .expect("inside alert");
                let key = path[inside + 1..].join("/");
                match key.as_str() {
                    "info/parameter/valueName" => value_name = value,
                    "info/parameter/value" => {
                        parameters.insert(value_name.clone(), value);
                    }
                    k if !value.is_empty() => {
                        fields
                            .entry(k.to_string())
                            .and_modify(|v: &mut String| {
                                v.push('|');
                                v.push_str(&value);
                            })
                            .or_insert(value);
                    }
                    _ => {}
                }
            }
            path.pop();
        }
    });
    out
}

/// A property's value as text, as the formats write scalars and JSON for the rest.
pub fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
