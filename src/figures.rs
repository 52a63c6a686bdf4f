//! Daily displacement figures per administrative area, computed from the flows of the
//! displacements layer as one caller sees them (`GET /api/v1/displacements/figures`).
//!
//! The input is the Features `feature::render` made for the caller — the one policy decision
//! already applied — so a flow the caller may not see is not counted, a flow whose figure or
//! date the caller's view hides is left out (and counted as `incomplete`), and a flow whose
//! position is reduced is attributed where the caller sees it.
//!
//! Per flow, on its `reported_on` day: a `displacement` adds its individuals to the arrivals of
//! its destination area, a `return` to the returns of its destination area; both add them to
//! the departures of the origin area when one is given. The destination area is
//! `destination_area` when given, else the area the point falls in (`gazetteer::attribute`,
//! nearest for a point just outside a border). Area codes of a finer level are counted in the
//! area of the asked level that contains them. `net` = arrivals + returns - departures;
//! `present` is the running total of `net` from the first flow on (the people the flows
//! brought into the area, less those who left it). Pure.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

use crate::gazetteer::{Gazetteer, How};

/// What the caller asked for.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// Only this area (a P-code of the asked level).
    pub area: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// The admin level to count by (1 = governorate).
    pub level: u8,
}

/// The figures of one area on one day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    pub date: NaiveDate,
    pub area: String,
    pub arrivals: u64,
    pub departures: u64,
    pub returns: u64,
    pub net: i64,
    pub present: i64,
}

/// The answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub level: u8,
    pub days: Vec<Day>,
    /// Flows counted.
    pub flows: u64,
    /// Flows visible to the caller whose date, direction or individuals the view hides.
    pub incomplete: u64,
    /// Flows whose destination lies in no area (and is not named).
    pub unattributed: u64,
    /// Flows whose destination was outside every area and attributed to the nearest.
    pub nearest: u64,
}

#[derive(Default)]
struct Tally {
    arrivals: u64,
    departures: u64,
    returns: u64,
}

/// The daily figures of `features` (displacements as the caller sees them).
pub fn daily<'a>(
    features: impl IntoIterator<Item = &'a Value>,
    gazetteer: &Gazetteer,
    ask: &Ask,
) -> Figures {
    let mut out = Figures {
        level: ask.level,
        ..Figures::default()
    };
    // area → day → tally; BTreeMaps keep both in order.
    let mut by_area: BTreeMap<String, BTreeMap<NaiveDate, Tally>> = BTreeMap::new();
    for f in features {
        let p = &f["properties"];
        let date = p["reported_on"]
            .as_str()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
        let (Some(date), Some(direction), Some(n)) =
            (date, p["direction"].as_str(), p["individuals"].as_u64())
        else {
            out.incomplete += 1;
            continue;
        };
        let named = |k: &str| p[k].as_str().map(|c| roll_up(gazetteer, c, ask.level));
        let destination = match named("destination_area") {
            Some(code) => Some(code),
            None => point(&f["geometry"])
                .and_then(|at| gazetteer.attribute(at, ask.level))
                .map(|a| {
                    if a.how == How::Nearest {
                        out.nearest += 1;
                    }
                    a.pcode
                }),
        };
        let Some(destination) = destination else {
            out.unattributed += 1;
            continue;
        };
        out.flows += 1;
        let at = by_area
            .entry(destination)
            .or_default()
            .entry(date)
            .or_default();
        if direction == "return" {
            at.returns += n;
        } else {
            at.arrivals += n;
        }
        if let Some(origin) = named("origin_area") {
            by_area
                .entry(origin)
                .or_default()
                .entry(date)
                .or_default()
                .departures += n;
        }
    }
    for (area, days) in by_area {
        if ask.area.as_ref().is_some_and(|a| *a != area) {
            continue;
        }
        let mut present = 0i64;
        for (date, t) in days {
            let net = (t.arrivals + t.returns) as i64 - t.departures as i64;
            present += net;
            if ask.from.is_some_and(|d| date < d) || ask.to.is_some_and(|d| date > d) {
                continue;
            }
            out.days.push(Day {
                date,
                area: area.clone(),
                arrivals: t.arrivals,
                departures: t.departures,
                returns: t.returns,
                net,
                present,
            });
        }
    }
    out
}

/// The code of the area of `level` that contains area `code` (itself when it is of that level
/// or unknown to the gazetteer).
fn roll_up(gazetteer: &Gazetteer, code: &str, level: u8) -> String {
    let mut code = code.to_string();
    for _ in 0..4 {
        match gazetteer.get(&code) {
            Some(a) if a.level > level => match &a.parent {
                Some(p) if gazetteer.get(p).is_some() => code = p.clone(),
                _ => break,
            },
            _ => break,
        }
    }
    code
}

fn point(geometry: &Value) -> Option<[f64; 2]> {
    let c = geometry["coordinates"].as_array()?;
    Some([c.first()?.as_f64()?, c.get(1)?.as_f64()?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(day: &str, direction: &str, n: u64, at: [f64; 2], extra: Value) -> Value {
        let mut p = json!({"reported_on": day, "direction": direction, "individuals": n});
        p.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": at}, "properties": p})
    }

    const ERBIL: [f64; 2] = [44.01, 36.19];
    const MOSUL: [f64; 2] = [43.13, 36.34];

    /// A known set of flows: Mosul (Ninewa, IQG15) to camps in Erbil (IQG11) over three days,
    /// then returns home.
    #[test]
    fn daily_figures_from_a_known_set_of_flows() {
        let g = Gazetteer::iraq(25_000.0);
        let flows = [
            flow(
                "2026-11-01",
                "displacement",
                500,
                ERBIL,
                json!({"origin_area": "IQG15"}),
            ),
            flow(
                "2026-11-01",
                "displacement",
                200,
                ERBIL,
                json!({"origin_area": "IQG15"}),
            ),
            flow(
                "2026-11-02",
                "displacement",
                300,
                ERBIL,
                json!({"origin_area": "IQG15"}),
            ),
            // Named destination wins over the point.
            flow(
                "2026-11-02",
                "displacement",
                50,
                MOSUL,
                json!({"origin_area": "IQG15", "destination_area": "IQG10"}),
            ),
            flow(
                "2026-11-04",
                "return",
                120,
                MOSUL,
                json!({"origin_area": "IQG11"}),
            ),
            // No origin: arrivals only.
            flow("2026-11-04", "displacement", 10, ERBIL, json!({})),
            // Hidden figure (the view dropped `individuals`): not counted.
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": ERBIL},
                   "properties": {"reported_on": "2026-11-04", "direction": "displacement"}}),
            // Out at sea, far from any area.
            flow("2026-11-04", "displacement", 7, [50.0, 27.0], json!({})),
        ];
        let all = daily(
            &flows,
            &g,
            &Ask {
                level: 1,
                ..Ask::default()
            },
        );
        assert_eq!((all.flows, all.incomplete, all.unattributed), (6, 1, 1));
        let row = |area: &str, date: &str| {
            all.days
                .iter()
                .find(|d| d.area == area && d.date.to_string() == date)
                .map(|d| (d.arrivals, d.departures, d.returns, d.net, d.present))
        };
        assert_eq!(row("IQG11", "2026-11-01"), Some((700, 0, 0, 700, 700)));
        assert_eq!(row("IQG11", "2026-11-02"), Some((300, 0, 0, 300, 1000)));
        assert_eq!(row("IQG11", "2026-11-04"), Some((10, 120, 0, -110, 890)));
        assert_eq!(row("IQG15", "2026-11-01"), Some((0, 700, 0, -700, -700)));
        assert_eq!(row("IQG15", "2026-11-02"), Some((0, 350, 0, -350, -1050)));
        assert_eq!(row("IQG15", "2026-11-04"), Some((0, 0, 120, 120, -930)));
        assert_eq!(row("IQG10", "2026-11-02"), Some((50, 0, 0, 50, 50)));
        assert_eq!(all.days.len(), 7);

        // One area, a window: the running total still counts the days before it.
        let ask = Ask {
            area: Some("IQG11".into()),
            from: NaiveDate::from_ymd_opt(2026, 11, 2),
            to: NaiveDate::from_ymd_opt(2026, 11, 3),
            level: 1,
        };
        let some = daily(&flows, &g, &ask);
        assert_eq!(some.days.len(), 1);
        assert_eq!((some.days[0].net, some.days[0].present), (300, 1000));
    }

    #[test]
    fn a_district_code_counts_in_its_governorate() {
        let text = r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"pcode":"XXA01","name":"North"},
             "geometry":{"type":"Polygon","coordinates":[[[0,1],[2,1],[2,2],[0,2],[0,1]]]}},
            {"type":"Feature","properties":{"pcode":"XXA0101","name":"Town","level":2,"parent":"XXA01"},
             "geometry":{"type":"Point","coordinates":[1,1.5]}}]}"#;
        let g = Gazetteer::parse(text, 0.0).unwrap();
        let flows = [flow(
            "2026-11-01",
            "displacement",
            40,
            [5.0, 5.0],
            json!({"destination_area": "XXA0101"}),
        )];
        let f = daily(
            &flows,
            &g,
            &Ask {
                level: 1,
                ..Ask::default()
            },
        );
        assert_eq!(f.days[0].area, "XXA01");
        assert_eq!(f.days[0].arrivals, 40);
    }
}
