//! CoT XML: one `<event>` from bytes into the wire struct `CotEvent`, and back to text.
//!
//! Parsing is done by quick-xml; this module only walks its events. It accepts what TAK clients
//! send in practice (an XML declaration, comments, unknown children of `<event>`, any elements
//! under `<detail>`) and refuses what would make the event meaningless (no `uid`, `type`, times
//! or `<point>`, coordinates out of range). Limits on depth and element count keep a hostile
//! detail from costing more than its bytes. Pure: no IO, no clock.

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// The deepest nesting accepted under `<detail>`.
pub const MAX_DEPTH: usize = 16;
/// The most elements accepted under `<detail>`, all levels together.
pub const MAX_ELEMENTS: usize = 2_000;
/// `hae`, `ce` and `le` when unknown, as the CoT schema spells it.
pub const UNKNOWN: f64 = 9_999_999.0;

/// Why bytes are not a CoT event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CotError {
    #[error("not UTF-8")]
    Utf8,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("the root element is `{0}`, not `event`")]
    NotEvent(String),
    #[error("`{0}` is missing")]
    Missing(&'static str),
    #[error("`{field}` is invalid: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the detail is too large or too deep")]
    TooComplex,
    #[error("the event ends early")]
    Truncated,
    #[error("protobuf: {0}")]
    Protobuf(String),
}

/// The `<point>` of an event: WGS84 degrees, metres.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
    pub hae: f64,
    pub ce: f64,
    pub le: f64,
}

impl Point {
    pub fn at(lat: f64, lon: f64) -> Point {
        Point {
            lat,
            lon,
            hae: UNKNOWN,
            ce: UNKNOWN,
            le: UNKNOWN,
        }
    }
}

/// One element under `<detail>`: a small generic tree, since TAK clients put anything there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn new(name: &str) -> Element {
        Element {
            name: name.to_string(),
            ..Element::default()
        }
    }

    /// Adds an attribute (builder style).
    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Element {
        self.attrs.push((key.to_string(), value.into()));
        self
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Element {
        self.text = text.into();
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A CoT event as it travels, apart from any domain meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct CotEvent {
    pub uid: String,
    /// The CoT `type` (`a-n-G-E-V-C`, `u-d-f`, `t-x-d-d`...).
    pub kind: String,
    pub how: String,
    pub time: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub stale: DateTime<Utc>,
    pub access: Option<String>,
    pub qos: Option<String>,
    pub opex: Option<String>,
    pub point: Point,
    pub detail: Vec<Element>,
}

impl CotEvent {
    /// The first detail element named `name`.
    pub fn detail(&self, name: &str) -> Option<&Element> {
        self.detail.iter().find(|e| e.name == name)
    }

    /// `<remarks>` text, if any.
    pub fn remarks(&self) -> Option<&str> {
        self.detail("remarks")
            .map(|e| e.text.trim())
            .filter(|t| !t.is_empty())
    }

    /// `<contact callsign>`, if any.
    pub fn callsign(&self) -> Option<&str> {
        self.detail("contact")
            .and_then(|e| e.get("callsign"))
            .filter(|c| !c.is_empty())
    }
}

/// Parses one CoT event. Anything after `</event>` is ignored (framing is `stream`'s job).
pub fn parse_event(bytes: &[u8]) -> Result<CotEvent, CotError> {
    let text = std::str::from_utf8(bytes).map_err(|_| CotError::Utf8)?;
    // Text is kept as sent (entity references arrive as separate events, so trimming each piece
    // would eat the spaces around them); whitespace-only text is dropped per element.
    let mut reader = Reader::from_str(text);
    // Find the root element, skipping the prolog.
    let root = loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(e) => break (e.into_owned(), false),
            Event::Empty(e) => break (e.into_owned(), true),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Text(t) if t.xml10_content().trim().is_empty() => {}
            Event::Eof => return Err(CotError::Truncated),
            _ => return Err(CotError::Xml("text before the root element".into())),
        }
    };
    let (start, empty) = root;
    if start.name().0 != "event" {
        return Err(CotError::NotEvent(
            start.name().0.chars().take(40).collect(),
        ));
    }
    let attrs = attributes(&start)?;
    let get = |k: &str| attrs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let uid = get("uid")
        .filter(|u| !u.is_empty())
        .ok_or(CotError::Missing("uid"))?;
    let kind = get("type")
        .filter(|u| !u.is_empty())
        .ok_or(CotError::Missing("type"))?;
    let time = parse_time("time", get("time"))?;
    let start_t = parse_time("start", get("start"))?;
    let stale = parse_time("stale", get("stale"))?;
    let mut point = None;
    let mut detail = Vec::new();
    if empty {
        return Err(CotError::Missing("point"));
    }
    let mut budget = MAX_ELEMENTS;
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(e) => {
                let e = e.into_owned();
                match e.name().0 {
                    "point" => {
                        point = Some(parse_point(&e)?);
                        reader.read_to_end(e.name()).map_err(xml_err)?;
                    }
                    "detail" => {
                        detail = read_children(&mut reader, 1, &mut budget)?;
                    }
                    _ => {
                        // Unknown children of <event> are skipped whole.
                        reader.read_to_end(e.name()).map_err(xml_err)?;
                    }
                }
            }
            Event::Empty(e) if e.name().0 == "point" => point = Some(parse_point(&e)?),
            Event::End(_) => break,
            Event::Eof => return Err(CotError::Truncated),
            _ => {}
        }
    }
    Ok(CotEvent {
        uid,
        kind,
        how: get("how").unwrap_or_default(),
        time,
        start: start_t,
        stale,
        access: get("access"),
        qos: get("qos"),
        opex: get("opex"),
        point: point.ok_or(CotError::Missing("point"))?,
        detail,
    })
}

/// Parses the inside of a `<detail>` given as XML text (the protobuf `xmlDetail`).
pub fn parse_detail(xml: &str) -> Result<Vec<Element>, CotError> {
    let mut reader = Reader::from_str(xml);
    let mut budget = MAX_ELEMENTS;
    read_children(&mut reader, 1, &mut budget)
}

fn xml_err(e: quick_xml::Error) -> CotError {
    CotError::Xml(e.to_string())
}

fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, CotError> {
    let mut out = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| CotError::Xml(e.to_string()))?;
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(xml_err)?;
        out.push((a.key.0.to_string(), value.into_owned()));
    }
    Ok(out)
}

/// Reads elements until the end tag of the parent (or the end of input at depth 1).
fn read_children(
    reader: &mut Reader<&[u8]>,
    depth: usize,
    budget: &mut usize,
) -> Result<Vec<Element>, CotError> {
    if depth > MAX_DEPTH {
        return Err(CotError::TooComplex);
    }
    let mut out = Vec::new();
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(e) => {
                let mut el = element(&e, budget)?;
                let (children, text) = read_element_body(reader, depth + 1, budget)?;
                el.children = children;
                el.text = text;
                out.push(el);
            }
            Event::Empty(e) => out.push(element(&e, budget)?),
            Event::End(_) | Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

/// Reads the body of an element whose start tag was just read: child elements and text.
fn read_element_body(
    reader: &mut Reader<&[u8]>,
    depth: usize,
    budget: &mut usize,
) -> Result<(Vec<Element>, String), CotError> {
    if depth > MAX_DEPTH {
        return Err(CotError::TooComplex);
    }
    let mut children = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(xml_err)? {
            Event::Start(e) => {
                let mut el = element(&e, budget)?;
                let (c, t) = read_element_body(reader, depth + 1, budget)?;
                el.children = c;
                el.text = t;
                children.push(el);
            }
            Event::Empty(e) => children.push(element(&e, budget)?),
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::CData(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                let c = match r.resolve_char_ref().map_err(xml_err)? {
                    Some(c) => c.to_string(),
                    None => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| CotError::Xml(format!("unknown entity `{}`", &*r)))?
                        .to_string(),
                };
                text.push_str(&c);
            }
            Event::End(_) => {
                if text.trim().is_empty() {
                    text.clear();
                }
                return Ok((children, text));
            }
            Event::Eof => return Err(CotError::Truncated),
            _ => {}
        }
    }
}

fn element(e: &BytesStart<'_>, budget: &mut usize) -> Result<Element, CotError> {
    *budget = budget.checked_sub(1).ok_or(CotError::TooComplex)?;
    Ok(Element {
        name: e.name().0.to_string(),
        attrs: attributes(e)?,
        text: String::new(),
        children: Vec::new(),
    })
}

fn parse_point(e: &BytesStart<'_>) -> Result<Point, CotError> {
    let attrs = attributes(e)?;
    let num = |k: &'static str, required: bool| -> Result<f64, CotError> {
        match attrs.iter().find(|(a, _)| a == k) {
            None if required => Err(CotError::Missing(k)),
            None => Ok(UNKNOWN),
            Some((_, v)) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| CotError::Invalid {
                    field: k,
                    message: format!(
                        "`{}` is not a number",
                        v.chars().take(40).collect::<String>()
                    ),
                }),
        }
    };
    let p = Point {
        lat: num("lat", true)?,
        lon: num("lon", true)?,
        hae: num("hae", false)?,
        ce: num("ce", false)?,
        le: num("le", false)?,
    };
    check_point(&p)?;
    Ok(p)
}

/// Coordinates within WGS84 ranges.
pub fn check_point(p: &Point) -> Result<(), CotError> {
    if !(-90.0..=90.0).contains(&p.lat) {
        return Err(CotError::Invalid {
            field: "lat",
            message: "must be within -90..90".into(),
        });
    }
    if !(-180.0..=180.0).contains(&p.lon) {
        return Err(CotError::Invalid {
            field: "lon",
            message: "must be within -180..180".into(),
        });
    }
    Ok(())
}

fn parse_time(field: &'static str, v: Option<String>) -> Result<DateTime<Utc>, CotError> {
    let v = v.ok_or(CotError::Missing(field))?;
    DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| CotError::Invalid {
            field,
            message: e.to_string(),
        })
}

/// CoT's time format: RFC 3339 in UTC with milliseconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Writes a number without a needless exponent or trailing noise.
fn num(x: f64) -> String {
    if x == x.trunc() && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// The event as CoT XML (no declaration, no trailing newline).
pub fn to_xml(ev: &CotEvent) -> String {
    let mut s = String::with_capacity(512);
    s.push_str(&format!(
        r#"<event version="2.0" uid="{}" type="{}" how="{}" time="{}" start="{}" stale="{}""#,
        esc(&ev.uid),
        esc(&ev.kind),
        esc(&ev.how),
        format_time(ev.time),
        format_time(ev.start),
        format_time(ev.stale),
    ));
    for (k, v) in [("access", &ev.access), ("qos", &ev.qos), ("opex", &ev.opex)] {
        if let Some(v) = v {
            s.push_str(&format!(r#" {k}="{}""#, esc(v)));
        }
    }
    let p = &ev.point;
    s.push_str(&format!(
        r#"><point lat="{}" lon="{}" hae="{}" ce="{}" le="{}"/>"#,
        num(p.lat),
        num(p.lon),
        num(p.hae),
        num(p.ce),
        num(p.le)
    ));
    s.push_str("<detail>");
    s.push_str(&detail_to_xml(&ev.detail));
    s.push_str("</detail></event>");
    s
}

/// The detail elements as XML text (the inside of `<detail>`).
pub fn detail_to_xml(elements: &[Element]) -> String {
    let mut s = String::new();
    for e in elements {
        write_element(&mut s, e);
    }
    s
}

fn write_element(s: &mut String, e: &Element) {
    s.push('<');
    s.push_str(&e.name);
    for (k, v) in &e.attrs {
        s.push_str(&format!(r#" {k}="{}""#, esc(v)));
    }
    if e.children.is_empty() && e.text.is_empty() {
        s.push_str("/>");
        return;
    }
    s.push('>');
    s.push_str(&esc(&e.text));
    for c in &e.children {
        write_element(s, c);
    }
    s.push_str(&format!("</{}>", e.name));
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<event version="2.0" uid="ANDROID-1" type="a-f-G-U-C" how="m-g" time="2026-01-05T10:00:00.000Z" start="2026-01-05T10:00:00Z" stale="2026-01-05T10:05:00.000Z">
  <point lat="36.335" lon="43.119" hae="250.5" ce="9.9" le="9999999"/>
  <detail>
    <contact callsign="ALPHA-1" endpoint="*:-1:stcp"/>
    <__group name="Cyan" role="Team Member"/>
    <remarks>road &amp; bridge &lt;ok&gt; &#x41;</remarks>
    <link point="36.1,44.0"/><link point="36.2,44.1"/>
  </detail>
</event>"#;

    #[test]
    fn parses_a_typical_atak_event() {
        let ev = parse_event(SAMPLE.as_bytes()).unwrap();
        assert_eq!(ev.uid, "ANDROID-1");
        assert_eq!(ev.kind, "a-f-G-U-C");
        assert_eq!(ev.point.lat, 36.335);
        assert_eq!(ev.point.hae, 250.5);
        assert_eq!(ev.callsign(), Some("ALPHA-1"));
        assert_eq!(ev.remarks(), Some("road & bridge <ok> A"));
        assert_eq!(ev.detail.iter().filter(|e| e.name == "link").count(), 2);
    }

    #[test]
    fn round_trips_through_text() {
        let ev = parse_event(SAMPLE.as_bytes()).unwrap();
        let again = parse_event(to_xml(&ev).as_bytes()).unwrap();
        assert_eq!(ev, again);
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        assert!(matches!(parse_event(b"<foo/>"), Err(CotError::NotEvent(_))));
        assert!(parse_event(b"<event uid='a' type='b'/>").is_err());
        let no_point = r#"<event uid="a" type="b" time="2026-01-05T10:00:00Z" start="2026-01-05T10:00:00Z" stale="2026-01-05T10:00:00Z"><detail/></event>"#;
        assert_eq!(
            parse_event(no_point.as_bytes()),
            Err(CotError::Missing("point"))
        );
        let bad_lat = SAMPLE.replace("36.335", "96.1");
        assert!(parse_event(bad_lat.as_bytes()).is_err());
        let nan = SAMPLE.replace("36.335", "NaN");
        assert!(parse_event(nan.as_bytes()).is_err());
        assert!(parse_event(&SAMPLE.as_bytes()[..200]).is_err());
        assert!(parse_event(&[0xff, 0xfe, b'<']).is_err());
    }

    #[test]
    fn deep_details_are_refused() {
        let deep = format!(
            r#"<event uid="a" type="b" time="2026-01-05T10:00:00Z" start="2026-01-05T10:00:00Z" stale="2026-01-05T10:00:00Z"><point lat="1" lon="2"/><detail>{}{}</detail></event>"#,
            "<x>".repeat(100),
            "</x>".repeat(100)
        );
        assert_eq!(parse_event(deep.as_bytes()), Err(CotError::TooComplex));
    }
}
