//! The report's map and charts as files of their own (issue 16): the same SVG the report
//! embeds, and PNG rasterised in process by resvg with the embedded fonts. The charts' series
//! are computed here once, for the report's pages (`compose`) and for the files. Pure.

use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;

use super::facts::Facts;
use super::{charts, map, Spec};
use crate::gazetteer::Gazetteer;

/// A figure of a report served as a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    Map,
    IncidentsPerDay,
    AcknowledgementTimes,
    DisplacementTrend,
}

impl Figure {
    pub const ALL: [Figure; 4] = [
        Figure::Map,
        Figure::IncidentsPerDay,
        Figure::AcknowledgementTimes,
        Figure::DisplacementTrend,
    ];

    /// The name it is stored and served under.
    pub fn name(self) -> &'static str {
        match self {
            Figure::Map => "map",
            Figure::IncidentsPerDay => "incidents-per-day",
            Figure::AcknowledgementTimes => "acknowledgement-times",
            Figure::DisplacementTrend => "displacement-trend",
        }
    }

    /// Its path under the report's (`map`, `charts/NAME`), without the extension.
    pub fn path(self) -> String {
        match self {
            Figure::Map => "map".into(),
            chart => format!("charts/{}", chart.name()),
        }
    }

    /// A chart by its name (the map is not a chart).
    pub fn chart(name: &str) -> Option<Figure> {
        Figure::ALL
            .into_iter()
            .find(|f| *f != Figure::Map && f.name() == name)
    }
}

/// A chart's values, one per label.
pub struct Series {
    pub labels: Vec<String>,
    pub values: Vec<u64>,
}

/// The period's days in the report's zone (at most 100).
pub fn zone_days(spec: &Spec) -> Vec<NaiveDate> {
    let first = spec.period.from.with_timezone(&spec.zone).date_naive();
    let last = (spec.period.to - chrono::Duration::microseconds(1))
        .with_timezone(&spec.zone)
        .date_naive();
    first
        .iter_days()
        .take_while(|d| *d <= last)
        .take(100)
        .collect()
}

fn day_labels(days: &[NaiveDate]) -> Vec<String> {
    days.iter().map(|d| d.format("%d/%m").to_string()).collect()
}

/// Incidents per day of the period (the report's zone).
pub fn incidents_per_day(spec: &Spec, f: &Facts) -> Series {
    let days = zone_days(spec);
    let values = days
        .iter()
        .map(|d| {
            f.incidents
                .iter()
                .filter(|i| i.at.with_timezone(&spec.zone).date_naive() == *d)
                .count() as u64
        })
        .collect();
    Series {
        labels: day_labels(&days),
        values,
    }
}

/// Acknowledgement times of the period's movements, in `charts::ACK_BUCKETS`.
pub fn acknowledgement_times(f: &Facts) -> Series {
    Series {
        labels: charts::ACK_BUCKETS
            .iter()
            .map(|(_, l)| l.to_string())
            .collect(),
        values: charts::ack_buckets(f.acknowledged.iter().filter_map(|a| a.minutes)),
    }
}

/// People displaced present per day. The days are the flows' report dates (calendar days,
/// not zone days).
pub fn displacement_trend(spec: &Spec, f: &Facts) -> Series {
    let first = spec.period.from.date_naive();
    let last = (spec.period.to - chrono::Duration::microseconds(1)).date_naive();
    let days: Vec<NaiveDate> = first
        .iter_days()
        .take_while(|d| *d <= last)
        .take(100)
        .collect();
    let values = days
        .iter()
        .map(|d| f.displacement_days.get(d).copied().unwrap_or(0))
        .collect();
    Series {
        labels: day_labels(&days),
        values,
    }
}

/// A chart of `series` as SVG: the displacement trend a line, the others bars.
pub fn chart(which: Figure, series: &Series) -> String {
    match which {
        Figure::DisplacementTrend => charts::line(&series.labels, &series.values),
        _ => charts::bars(&series.labels, &series.values),
    }
}

/// One figure as SVG.
pub fn svg(which: Figure, spec: &Spec, f: &Facts, g: &Gazetteer) -> String {
    let series = match which {
        Figure::Map => return map::map(f, g, spec.lang),
        Figure::IncidentsPerDay => incidents_per_day(spec, f),
        Figure::AcknowledgementTimes => acknowledgement_times(f),
        Figure::DisplacementTrend => displacement_trend(spec, f),
    };
    chart(which, &series)
}

/// Every figure as SVG, by name: what is stored with a made report.
pub fn all(spec: &Spec, f: &Facts, g: &Gazetteer) -> Vec<(String, String)> {
    Figure::ALL
        .into_iter()
        .map(|fig| (fig.name().to_string(), svg(fig, spec, f, g)))
        .collect()
}

/// How many pixels a PNG has per SVG unit: twice, for print and high-density screens.
pub const PNG_SCALE: f32 = 2.0;

/// The embedded fonts (Noto Sans, Noto Naskh Arabic) and no others, loaded once: the PNG
/// looks the same on every machine.
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            for file in crate::document::fonts::FILES {
                db.load_font_data(file.to_vec());
            }
            Arc::new(db)
        })
        .clone()
}

/// An SVG figure as PNG, `PNG_SCALE` pixels per unit.
pub fn png(svg: &str) -> Result<Vec<u8>, String> {
    use tiny_skia::{Pixmap, Transform};
    let options = resvg::usvg::Options {
        font_family: crate::document::fonts::LATIN.to_string(),
        fontdb: fonts(),
        ..Default::default()
    };
    let tree = resvg::usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * PNG_SCALE).ceil() as u32,
        (size.height() * PNG_SCALE).ceil() as u32,
    );
    let mut pixmap = Pixmap::new(w, h).ok_or("the figure has no size")?;
    resvg::render(
        &tree,
        Transform::from_scale(PNG_SCALE, PNG_SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_named_and_found_by_name() {
        for f in Figure::ALL {
            if f == Figure::Map {
                assert_eq!(Figure::chart("map"), None);
                assert_eq!(f.path(), "map");
            } else {
                assert_eq!(Figure::chart(f.name()), Some(f));
                assert_eq!(f.path(), format!("charts/{}", f.name()));
            }
        }
    }

    #[test]
    fn a_chart_becomes_a_png_of_twice_its_size() {
        let svg = charts::bars(&["a".to_string(), "b".to_string()], &[3, 1]);
        let bytes = png(&svg).expect("a PNG");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        // The IHDR chunk: width and height, big-endian, after the signature and its header.
        let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((w, h), (1280, 520));
        assert_eq!(png(&svg).unwrap(), bytes, "the same PNG every time");
    }
}
