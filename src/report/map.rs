//! The report's map as SVG: the governorates of the gazetteer (shaded by the period's
//! incidents), incidents as dots by severity, constraints in force as squares, movement routes
//! as lines, every position as the audience sees it. Drawn directly as SVG paths in an
//! equirectangular projection scaled at the map's middle latitude. Pure.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::facts::Facts;
use crate::document::Lang;
use crate::gazetteer::Gazetteer;

const WIDTH: f64 = 640.0;

struct Frame {
    west: f64,
    north: f64,
    kx: f64,
    ky: f64,
    height: f64,
}

impl Frame {
    fn xy(&self, p: [f64; 2]) -> (f64, f64) {
        ((p[0] - self.west) * self.kx, (self.north - p[1]) * self.ky)
    }
}

fn escape(s: &str) -> String {
    let mut out = String::new();
    crate::document::escape_text(s, &mut out);
    out
}

/// The positions of a GeoJSON geometry's lines (a Point gives one line of one position).
fn lines(g: &Value) -> Vec<Vec<[f64; 2]>> {
    fn pos(v: &Value) -> Option<[f64; 2]> {
        let a = v.as_array()?;
        Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?])
    }
    fn line(v: &Value) -> Vec<[f64; 2]> {
        v.as_array()
            .map(|a| a.iter().filter_map(pos).collect())
            .unwrap_or_default()
    }
    let c = &g["coordinates"];
    match g["type"].as_str() {
        Some("Point") => pos(c).map(|p| vec![vec![p]]).unwrap_or_default(),
        Some("LineString") | Some("MultiPoint") => vec![line(c)],
        Some("Polygon") | Some("MultiLineString") => c
            .as_array()
            .map(|a| a.iter().map(line).collect())
            .unwrap_or_default(),
        Some("MultiPolygon") => c
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_array())
                    .flat_map(|p| p.iter().map(line))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A point standing for a geometry: its first position (a constraint's square).
fn anchor_point(g: &Value) -> Option<[f64; 2]> {
    let ls = lines(g);
    let first = ls.first()?;
    let n = first.len() as f64;
    if n == 0.0 {
        return None;
    }
    // The mean of the first ring or line: inside small polygons, on or near a short line.
    let (x, y) = first
        .iter()
        .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    Some([x / n, y / n])
}

fn severity_colour(s: Option<u64>) -> &'static str {
    match s {
        Some(5) => "#8b0000",
        Some(4) => "#d7301f",
        Some(3) => "#fc8d59",
        Some(2) => "#fdbb84",
        Some(1) => "#fee8c8",
        _ => "#999999",
    }
}

/// Above this many incidents with a position the map groups them into cells: a dot per
/// incident stops being readable long before, and a month of a busy log (hundreds of
/// thousands) is more shapes than an SVG reader (the PDF's among them) accepts.
pub const MAX_DOTS: usize = 1_500;

/// The side of a cell incidents are grouped in, in map pixels (the map is `WIDTH` wide).
const CELL_PX: f64 = 12.0;

/// Whether the map groups the period's incidents into cells (then its caption says so).
pub fn grouped(facts: &Facts) -> bool {
    facts
        .incidents
        .iter()
        .filter(|i| i.position.is_some())
        .nth(MAX_DOTS)
        .is_some()
}

/// The incidents drawn a circle per cell of `CELL_PX`: centred on the cell's incidents'
/// mean position, its area growing with their number, coloured by the most severe of them,
/// with the number written on it. At most (WIDTH / CELL_PX) × (height / CELL_PX) shapes,
/// whatever the period holds.
fn incident_cells(out: &mut String, facts: &Facts, frame: &Frame) {
    struct Cell {
        n: u64,
        x: f64,
        y: f64,
        worst: Option<u64>,
    }
    let mut cells: BTreeMap<(i64, i64), Cell> = BTreeMap::new();
    for i in &facts.incidents {
        let Some(p) = i.position else { continue };
        let (x, y) = frame.xy(p);
        let key = ((x / CELL_PX).floor() as i64, (y / CELL_PX).floor() as i64);
        let c = cells.entry(key).or_insert(Cell {
            n: 0,
            x: 0.0,
            y: 0.0,
            worst: None,
        });
        c.n += 1;
        c.x += x;
        c.y += y;
        c.worst = c.worst.max(i.severity);
    }
    let most = cells.values().map(|c| c.n).max().unwrap_or(1) as f64;
    for c in cells.values() {
        let (x, y) = (c.x / c.n as f64, c.y / c.n as f64);
        // Area by count, from a dot's size for one up to a cell's width for the fullest.
        let r = 3.0 + (CELL_PX * 0.9 - 3.0) * (c.n as f64 / most).sqrt();
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{r:.1}\" fill=\"{}\" fill-opacity=\"0.85\" stroke=\"#3b0000\" stroke-width=\"0.6\"/>",
            severity_colour(c.worst)
        );
        if r >= 7.0 {
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"6\" fill=\"#1a1a1a\" text-anchor=\"middle\">{}</text>",
                y + 2.0,
                c.n
            );
        }
    }
}

/// The map of the period.
pub fn map(facts: &Facts, gazetteer: &Gazetteer, lang: Lang) -> String {
    let areas: Vec<_> = gazetteer.areas().iter().filter(|a| a.level == 1).collect();
    let (mut west, mut south, mut east, mut north) = (180.0f64, 90.0f64, -180.0f64, -90.0f64);
    for a in &areas {
        for poly in a.shape() {
            for c in poly.exterior().coords() {
                west = west.min(c.x);
                east = east.max(c.x);
                south = south.min(c.y);
                north = north.max(c.y);
            }
        }
    }
    if west >= east || south >= north {
        (west, south, east, north) = (38.0, 29.0, 49.0, 37.5);
    }
    let mid = ((south + north) / 2.0).to_radians().cos();
    let kx = WIDTH / (east - west);
    let ky = kx / mid.max(0.1);
    let frame = Frame {
        west,
        north,
        kx,
        ky,
        height: (north - south) * ky,
    };
    let mut by_area: BTreeMap<&str, u64> = BTreeMap::new();
    for i in &facts.incidents {
        if let Some(a) = &i.area {
            *by_area.entry(a.as_str()).or_default() += 1;
        }
    }
    let most = by_area.values().copied().max().unwrap_or(0).max(1) as f64;
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{:.0}\" viewBox=\"0 0 {WIDTH:.0} {:.0}\" font-family=\"Noto Sans, Noto Naskh Arabic, sans-serif\">",
        frame.height, frame.height
    );
    let _ = write!(
        out,
        "<rect width=\"{WIDTH:.0}\" height=\"{:.0}\" fill=\"#f4f7fa\"/>",
        frame.height
    );
    for a in &areas {
        let n = by_area.get(a.pcode.as_str()).copied().unwrap_or(0) as f64;
        // White to a light accent by the share of the period's incidents.
        let t = n / most;
        let shade = |lo: f64, hi: f64| (lo + (hi - lo) * t * 0.55).round() as u8;
        let fill = format!(
            "#{:02x}{:02x}{:02x}",
            shade(255.0, 0x1f as f64),
            shade(255.0, 0x5f as f64),
            shade(255.0, 0x99 as f64)
        );
        out.push_str("<path d=\"");
        for poly in a.shape() {
            for ring in std::iter::once(poly.exterior()).chain(poly.interiors()) {
                for (k, c) in ring.coords().enumerate() {
                    let (x, y) = frame.xy([c.x, c.y]);
                    let _ = write!(out, "{}{x:.1},{y:.1}", if k == 0 { 'M' } else { 'L' });
                }
                out.push('Z');
            }
        }
        let _ = write!(
            out,
            "\" fill=\"{fill}\" stroke=\"#8a97a6\" stroke-width=\"0.8\"/>"
        );
    }
    for a in &areas {
        let (x, y) = frame.xy(a.label);
        let name = match lang {
            Lang::Ar => a.name_ar.as_deref().unwrap_or(&a.name_en),
            Lang::En => &a.name_en,
        };
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"9\" fill=\"#5a6675\" text-anchor=\"middle\">{}</text>",
            escape(name)
        );
    }
    for m in &facts.routes {
        for l in lines(&m.route) {
            if l.len() < 2 {
                continue;
            }
            out.push_str("<polyline fill=\"none\" stroke=\"#2a7f3f\" stroke-width=\"1.6\" stroke-opacity=\"0.8\" points=\"");
            for p in l {
                let (x, y) = frame.xy(p);
                let _ = write!(out, "{x:.1},{y:.1} ");
            }
            out.push_str("\"/>");
        }
    }
    for c in &facts.in_force {
        if let Some(p) = anchor_point(&c.geometry) {
            let (x, y) = frame.xy(p);
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"7\" height=\"7\" fill=\"#f2b01e\" stroke=\"#6b4a00\" stroke-width=\"0.8\"/>",
                x - 3.5,
                y - 3.5
            );
        }
    }
    if grouped(facts) {
        incident_cells(&mut out, facts, &frame);
    } else {
        for i in &facts.incidents {
            if let Some(p) = i.position {
                let (x, y) = frame.xy(p);
                let _ = write!(
                    out,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{}\" stroke=\"#3b0000\" stroke-width=\"0.6\"/>",
                    severity_colour(i.severity)
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}
