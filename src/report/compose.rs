//! A report's facts as a `Document`: the sections of an OCHA-style situation report, every
//! count a link to the appendix entry listing the ids behind it. Pure.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::facts::{Facts, Incident};
use super::figures::{self, Figure};
use super::words::{fill, term, w};
use super::{map, Spec};
use crate::document::{anchor, Block, Document, KeyFigure, Lang, Text};
use crate::gazetteer::Gazetteer;

/// The appendix: one entry per linked figure, in the order first linked.
struct Refs {
    lang: Lang,
    entries: Vec<Block>,
    seen: BTreeSet<String>,
}

impl Refs {
    /// `n` as a link to the list `ids` under `key` (plain text for an empty list).
    fn count(&mut self, key: &[&str], title: String, ids: &BTreeSet<String>) -> Text {
        let n = ids.len().to_string();
        if ids.is_empty() {
            return Text::plain(n);
        }
        let id = anchor(key);
        if self.seen.insert(id.clone()) {
            self.entries.push(Block::Anchored {
                id: id.clone(),
                title,
                entries: ids.iter().cloned().collect(),
                more: w(self.lang, "more_ids").to_string(),
            });
        }
        Text::linked(n, id)
    }

    /// A figure that is not a count of the ids (a sum) linked to them.
    fn figure(
        &mut self,
        value: String,
        key: &[&str],
        title: String,
        ids: &BTreeSet<String>,
    ) -> Text {
        let mut t = self.count(key, title, ids);
        t.text = value;
        t
    }
}

fn ids<'a>(it: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    it.into_iter().cloned().collect()
}

fn area_name(g: &Gazetteer, lang: Lang, pcode: Option<&str>) -> String {
    match pcode.and_then(|p| g.get(p)) {
        Some(a) => match lang {
            Lang::Ar => a.name_ar.clone().unwrap_or_else(|| a.name_en.clone()),
            Lang::En => a.name_en.clone(),
        },
        None => match pcode {
            Some(p) => p.to_string(),
            None => w(lang, "outside").to_string(),
        },
    }
}

fn term_or(lang: Lang, v: Option<&str>) -> String {
    match v {
        Some(v) => capital(&term(lang, v)),
        None => w(lang, "hidden").to_string(),
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn delta(now: usize, before: usize) -> String {
    match now as i64 - before as i64 {
        0 => "0".into(),
        d if d > 0 => format!("+{d}"),
        d => format!("\u{2212}{}", -d),
    }
}

/// Text that reads left to right (dates, codes, signed numbers) isolated as such, so that in
/// an Arabic line its parts keep their order (U+2066 … U+2069).
fn ltr(lang: Lang, s: impl AsRef<str>) -> String {
    match lang {
        Lang::Ar => format!("\u{2066}{}\u{2069}", s.as_ref()),
        Lang::En => s.as_ref().to_string(),
    }
}

fn heading(level: u8, text: &str) -> Block {
    Block::Heading {
        level,
        text: text.to_string(),
    }
}

fn hours(lang: Lang, minutes: i64) -> String {
    if minutes < 60 {
        format!("{minutes} {}", w(lang, "minutes"))
    } else {
        format!("{:.1} {}", minutes as f64 / 60.0, w(lang, "hours"))
    }
}

/// A figure of the report, linked to where it is served as a file of its own.
fn figure(spec: &Spec, which: Figure, svg: String, caption: &str, width: f32) -> Block {
    Block::Svg {
        svg,
        caption: caption.to_string(),
        width,
        files: Some(format!("/api/v1/reports/{}/{}", spec.id, which.path())),
    }
}

fn local(spec: &Spec, t: DateTime<Utc>) -> String {
    t.with_timezone(&spec.zone)
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The report's document.
pub fn compose(spec: &Spec, seq: u64, f: &Facts, g: &Gazetteer) -> Document {
    let lang = spec.lang;
    let mut refs = Refs {
        lang,
        entries: Vec::new(),
        seen: BTreeSet::new(),
    };
    let title = w(lang, spec.kind.as_str()).to_string();
    let period = format!(
        "{}: {}",
        w(lang, "period"),
        ltr(
            lang,
            format!(
                "{} \u{2013} {} (UTC{})",
                spec.period
                    .from
                    .with_timezone(&spec.zone)
                    .format("%Y-%m-%d %H:%M"),
                spec.period
                    .to
                    .with_timezone(&spec.zone)
                    .format("%Y-%m-%d %H:%M"),
                spec.zone
            )
        )
    );
    let subtitle = vec![
        format!("{} \u{00b7} {}", spec.centre, period),
        format!(
            "{}: {}",
            w(lang, "audience"),
            ltr(
                lang,
                format!("{} \u{00b7} {}", spec.viewer.role, spec.viewer.org)
            )
        ),
        format!(
            "{} {}",
            w(lang, "made_from"),
            ltr(lang, format!("{seq} \u{00b7} {}", spec.id))
        ),
    ];
    let footer = format!(
        "{} \u{00b7} {} \u{00b7} seq {seq} \u{00b7} {}",
        spec.centre, title, spec.id
    );
    let mut blocks = Vec::new();

    // The sums the highlights and key figures share.
    let fatalities: u64 = f.incidents.iter().map(|i| i.fatalities).sum();
    let arrivals: u64 = f.displacement.values().map(|a| a.arrivals).sum();
    let returns: u64 = f.displacement.values().map(|a| a.returns).sum();
    let flow_ids: BTreeSet<String> = f
        .displacement
        .values()
        .flat_map(|a| a.ids.iter().cloned())
        .collect();
    let inc_ids = ids(f.incidents.iter().map(|i| &i.id));
    let fatal_ids = ids(f
        .incidents
        .iter()
        .filter(|i| i.fatalities > 0)
        .map(|i| &i.id));
    let by_area = group(&f.incidents, |i| i.area.clone());

    // Highlights.
    blocks.push(heading(1, w(lang, "highlights")));
    let mut hl = vec![fill(
        lang,
        "h_incidents",
        &[
            ("n", f.incidents.len().to_string()),
            ("prev", f.previous_incidents.len().to_string()),
            ("f", fatalities.to_string()),
        ],
    )];
    let most = by_area
        .iter()
        .filter(|(a, _)| a.is_some())
        .map(|(_, l)| l.len())
        .max()
        .unwrap_or(0);
    let top: Vec<_> = by_area
        .iter()
        .filter(|(a, l)| a.is_some() && l.len() == most)
        .collect();
    // Named only when one governorate had more than any other.
    if let [(area, list)] = top.as_slice() {
        hl.push(fill(
            lang,
            "h_top_area",
            &[
                ("area", area_name(g, lang, area.as_deref())),
                ("n", list.len().to_string()),
            ],
        ));
    }
    hl.push(fill(
        lang,
        "h_constraints",
        &[
            ("opened", f.opened.len().to_string()),
            ("closed", f.closed.len().to_string()),
            ("force", f.in_force.len().to_string()),
        ],
    ));
    hl.push(fill(
        lang,
        "h_movements",
        &[
            ("notified", f.notified.len().to_string()),
            ("ack", f.acknowledged.len().to_string()),
            ("done", f.completed.len().to_string()),
            ("aborted", f.aborted.len().to_string()),
        ],
    ));
    hl.push(fill(lang, "h_alerts", &[("n", f.alerts.len().to_string())]));
    hl.push(fill(
        lang,
        "h_displacement",
        &[("arr", arrivals.to_string()), ("ret", returns.to_string())],
    ));
    blocks.push(Block::Bullets(
        hl.into_iter().map(|s| vec![Text::plain(s)]).collect(),
    ));

    // Key figures.
    blocks.push(heading(1, w(lang, "key_figures")));
    let inc = w(lang, "incidents").to_string();
    let key =
        |refs: &mut Refs, k: &str, label: &str, set: &BTreeSet<String>, value: Option<String>| {
            let title = label.to_string();
            let t = match value {
                Some(v) => refs.figure(v, &["n", k], title, set),
                None => refs.count(&["n", k], title, set),
            };
            KeyFigure {
                value: t,
                label: label.to_string(),
            }
        };
    let acked = ids(f.acknowledged.iter().map(|a| &a.id));
    let notified = ids(f.notified.iter().map(|m| &m.id));
    let in_force = ids(f.in_force.iter().map(|c| &c.id));
    let alert_ids: BTreeSet<String> = f
        .alerts
        .iter()
        .map(|a| format!("{} ({}, seq {})", a.movement, a.kind, a.seq))
        .collect();
    blocks.push(Block::Figures(vec![
        key(&mut refs, "incidents", &inc, &inc_ids, None),
        key(
            &mut refs,
            "fatalities",
            w(lang, "fatalities"),
            &fatal_ids,
            Some(fatalities.to_string()),
        ),
        key(&mut refs, "in-force", w(lang, "in_force"), &in_force, None),
        key(&mut refs, "notified", w(lang, "notified"), &notified, None),
    ]));
    blocks.push(Block::Figures(vec![
        key(
            &mut refs,
            "acknowledged",
            w(lang, "acknowledged"),
            &acked,
            None,
        ),
        key(&mut refs, "alerts", w(lang, "alerts"), &alert_ids, None),
        key(
            &mut refs,
            "arrivals",
            w(lang, "arrivals"),
            &flow_ids,
            Some(arrivals.to_string()),
        ),
        key(
            &mut refs,
            "returns",
            w(lang, "returns"),
            &flow_ids,
            Some(returns.to_string()),
        ),
    ]));

    incidents(spec, f, g, &mut refs, &mut blocks, &by_area);
    constraints(lang, f, &mut refs, &mut blocks);
    movements(spec, f, &mut refs, &mut blocks);
    alerts(lang, f, &mut refs, &mut blocks);
    displacement(spec, f, g, &mut refs, &mut blocks);
    notable(spec, f, g, &mut blocks);

    blocks.push(heading(1, w(lang, "map")));
    let map_caption = if map::grouped(f) {
        format!("{} {}", w(lang, "map_caption"), w(lang, "map_grouped"))
    } else {
        w(lang, "map_caption").to_string()
    };
    blocks.push(figure(
        spec,
        Figure::Map,
        figures::svg(Figure::Map, spec, f, g),
        &map_caption,
        0.8,
    ));

    blocks.push(Block::PageBreak);
    blocks.push(heading(1, w(lang, "appendix")));
    blocks.push(Block::Para(vec![Text::plain(w(lang, "footer_note"))]));
    blocks.append(&mut refs.entries);
    Document {
        lang,
        title,
        subtitle,
        footer,
        blocks,
    }
}

fn group<K: Ord>(list: &[Incident], key: impl Fn(&Incident) -> K) -> BTreeMap<K, Vec<&Incident>> {
    let mut out: BTreeMap<K, Vec<&Incident>> = BTreeMap::new();
    for i in list {
        out.entry(key(i)).or_default().push(i);
    }
    out
}

fn incidents(
    spec: &Spec,
    f: &Facts,
    g: &Gazetteer,
    refs: &mut Refs,
    blocks: &mut Vec<Block>,
    by_area: &BTreeMap<Option<String>, Vec<&Incident>>,
) {
    let lang = spec.lang;
    blocks.push(heading(1, w(lang, "incidents")));
    let head = |first: &str| {
        vec![
            first.to_string(),
            w(lang, "incidents").to_string(),
            w(lang, "fatalities").to_string(),
            w(lang, "previous").to_string(),
            w(lang, "change").to_string(),
        ]
    };
    let numeric = vec![false, true, true, true, true];
    let table = |refs: &mut Refs,
                 kind: &str,
                 now: &BTreeMap<Option<String>, Vec<&Incident>>,
                 before: &BTreeMap<Option<String>, Vec<&Incident>>,
                 name: &dyn Fn(Option<&str>) -> String| {
        let keys: BTreeSet<&Option<String>> = now.keys().chain(before.keys()).collect();
        let mut rows = Vec::new();
        let empty = Vec::new();
        for k in keys {
            let n = now.get(k).unwrap_or(&empty);
            let p = before.get(k).unwrap_or(&empty);
            let label = name(k.as_deref());
            let slug = k.as_deref().unwrap_or("none");
            let now_ids = ids(n.iter().map(|i| &i.id));
            let prev_ids = ids(p.iter().map(|i| &i.id));
            let fatal: u64 = n.iter().map(|i| i.fatalities).sum();
            let fatal_ids = ids(n.iter().filter(|i| i.fatalities > 0).map(|i| &i.id));
            rows.push(vec![
                Text::plain(label.clone()),
                refs.count(
                    &["inc", kind, slug],
                    format!("{} \u{2013} {label}", w(lang, "incidents")),
                    &now_ids,
                ),
                refs.figure(
                    fatal.to_string(),
                    &["fat", kind, slug],
                    format!("{} \u{2013} {label}", w(lang, "fatalities")),
                    &fatal_ids,
                ),
                refs.count(
                    &["prev", kind, slug],
                    format!("{} \u{2013} {label}", w(lang, "previous")),
                    &prev_ids,
                ),
                Text::plain(ltr(lang, delta(n.len(), p.len()))),
            ]);
        }
        rows
    };
    let by_type_now = group(&f.incidents, |i| i.event_type.clone());
    let by_type_before = group(&f.previous_incidents, |i| i.event_type.clone());
    let rows = table(refs, "type", &by_type_now, &by_type_before, &|t| {
        term_or(lang, t)
    });
    blocks.push(heading(2, w(lang, "by_type")));
    blocks.push(if rows.is_empty() {
        Block::Para(vec![Text::plain(w(lang, "none"))])
    } else {
        Block::Table {
            head: head(w(lang, "type")),
            rows,
            numeric: numeric.clone(),
        }
    });
    let before_area = group(&f.previous_incidents, |i| i.area.clone());
    let rows = table(refs, "area", by_area, &before_area, &|a| {
        area_name(g, lang, a)
    });
    blocks.push(heading(2, w(lang, "by_area")));
    if !rows.is_empty() {
        blocks.push(Block::Table {
            head: head(w(lang, "governorate")),
            rows,
            numeric,
        });
    }
    if figures::zone_days(spec).len() > 1 {
        blocks.push(figure(
            spec,
            Figure::IncidentsPerDay,
            figures::svg(Figure::IncidentsPerDay, spec, f, g),
            w(lang, "chart_incidents"),
            0.85,
        ));
    }
}

fn constraints(lang: Lang, f: &Facts, refs: &mut Refs, blocks: &mut Vec<Block>) {
    blocks.push(heading(1, w(lang, "constraints")));
    let mut cats: BTreeMap<Option<String>, [BTreeSet<String>; 3]> = BTreeMap::new();
    for (k, list) in [&f.opened, &f.closed, &f.in_force].into_iter().enumerate() {
        for c in list {
            cats.entry(c.category.clone()).or_default()[k].insert(c.id.clone());
        }
    }
    if cats.is_empty() {
        blocks.push(Block::Para(vec![Text::plain(w(lang, "none"))]));
        return;
    }
    let names = ["opened", "closed", "in_force"];
    let mut rows = Vec::new();
    for (cat, sets) in &cats {
        let label = term_or(lang, cat.as_deref());
        let slug = cat.as_deref().unwrap_or("none");
        let mut row = vec![Text::plain(label.clone())];
        for (k, set) in sets.iter().enumerate() {
            row.push(refs.count(
                &["con", names[k], slug],
                format!(
                    "{} \u{2013} {label} \u{2013} {}",
                    w(lang, "constraints"),
                    w(lang, names[k])
                ),
                set,
            ));
        }
        rows.push(row);
    }
    blocks.push(Block::Table {
        head: vec![
            w(lang, "category").to_string(),
            w(lang, "opened").to_string(),
            w(lang, "closed").to_string(),
            w(lang, "in_force").to_string(),
        ],
        rows,
        numeric: vec![false, true, true, true],
    });
}

fn movements(spec: &Spec, f: &Facts, refs: &mut Refs, blocks: &mut Vec<Block>) {
    let lang = spec.lang;
    blocks.push(heading(1, w(lang, "movements")));
    let lists: [(&str, BTreeSet<String>); 4] = [
        ("notified", ids(f.notified.iter().map(|m| &m.id))),
        ("acknowledged", ids(f.acknowledged.iter().map(|a| &a.id))),
        ("completed", ids(f.completed.iter().map(|m| &m.id))),
        ("aborted", ids(f.aborted.iter().map(|m| &m.id))),
    ];
    let mut rows = Vec::new();
    for (k, set) in &lists {
        rows.push(vec![
            Text::plain(w(lang, k)),
            refs.count(
                &["mov", *k],
                format!("{} \u{2013} {}", w(lang, "movements"), w(lang, k)),
                set,
            ),
        ]);
    }
    let mut minutes: Vec<i64> = f.acknowledged.iter().filter_map(|a| a.minutes).collect();
    minutes.sort_unstable();
    if let (Some(mid), Some(max)) = (minutes.get(minutes.len() / 2), minutes.last()) {
        rows.push(vec![
            Text::plain(w(lang, "ack_median")),
            Text::plain(hours(lang, *mid)),
        ]);
        rows.push(vec![
            Text::plain(w(lang, "ack_max")),
            Text::plain(hours(lang, *max)),
        ]);
    }
    blocks.push(Block::Table {
        head: vec![
            w(lang, "movements").to_string(),
            w(lang, "count").to_string(),
        ],
        rows,
        numeric: vec![false, true],
    });
    if !minutes.is_empty() {
        let s = figures::acknowledgement_times(f);
        blocks.push(figure(
            spec,
            Figure::AcknowledgementTimes,
            figures::chart(Figure::AcknowledgementTimes, &s),
            w(lang, "chart_ack"),
            0.7,
        ));
    }
    if !f.aborted.is_empty() {
        let rows = f
            .aborted
            .iter()
            .map(|m| {
                vec![
                    Text::plain(match &m.name {
                        Some(n) => format!("{n} ({})", m.id),
                        None => m.id.clone(),
                    }),
                    Text::plain(
                        m.reason
                            .clone()
                            .unwrap_or_else(|| w(lang, "no_reason").to_string()),
                    ),
                ]
            })
            .collect();
        blocks.push(Block::Table {
            head: vec![
                w(lang, "aborted").to_string(),
                w(lang, "reason").to_string(),
            ],
            rows,
            numeric: vec![false, false],
        });
    }
}

fn alerts(lang: Lang, f: &Facts, refs: &mut Refs, blocks: &mut Vec<Block>) {
    blocks.push(heading(1, w(lang, "alerts")));
    let mut kinds: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for a in &f.alerts {
        kinds
            .entry(a.kind)
            .or_default()
            .insert(format!("{} (seq {})", a.movement, a.seq));
    }
    if kinds.is_empty() {
        blocks.push(Block::Para(vec![Text::plain(w(lang, "none"))]));
        return;
    }
    let rows = kinds
        .iter()
        .map(|(k, set)| {
            let label = capital(&term(lang, k));
            vec![
                Text::plain(label.clone()),
                refs.count(
                    &["alert", *k],
                    format!("{} \u{2013} {label}", w(lang, "alerts")),
                    set,
                ),
            ]
        })
        .collect();
    blocks.push(Block::Table {
        head: vec![w(lang, "kind").to_string(), w(lang, "count").to_string()],
        rows,
        numeric: vec![false, true],
    });
}

fn displacement(spec: &Spec, f: &Facts, g: &Gazetteer, refs: &mut Refs, blocks: &mut Vec<Block>) {
    let lang = spec.lang;
    blocks.push(heading(1, w(lang, "displacement")));
    if f.displacement.is_empty() {
        blocks.push(Block::Para(vec![Text::plain(w(lang, "none"))]));
        return;
    }
    let rows = f
        .displacement
        .iter()
        .map(|(pcode, a)| {
            let label = area_name(g, lang, Some(pcode));
            let title = format!("{} \u{2013} {label}", w(lang, "displacement"));
            vec![
                Text::plain(label),
                refs.figure(
                    a.arrivals.to_string(),
                    &["dis", pcode.as_str()],
                    title.clone(),
                    &a.ids,
                ),
                refs.figure(
                    a.returns.to_string(),
                    &["dis", pcode.as_str()],
                    title.clone(),
                    &a.ids,
                ),
                refs.figure(
                    a.departures.to_string(),
                    &["dis", pcode.as_str()],
                    title,
                    &a.ids,
                ),
                Text::plain(ltr(lang, a.present.to_string())),
            ]
        })
        .collect();
    blocks.push(Block::Table {
        head: vec![
            w(lang, "governorate").to_string(),
            w(lang, "arrivals").to_string(),
            w(lang, "returns").to_string(),
            w(lang, "departures").to_string(),
            w(lang, "present").to_string(),
        ],
        rows,
        numeric: vec![false, true, true, true, true],
    });
    let trend = figures::displacement_trend(spec, f);
    if trend.labels.len() > 1 {
        blocks.push(figure(
            spec,
            Figure::DisplacementTrend,
            figures::chart(Figure::DisplacementTrend, &trend),
            w(lang, "chart_displacement"),
            0.85,
        ));
    }
}

/// The most severe incidents of the period (severity, then fatalities), at most five.
fn notable(spec: &Spec, f: &Facts, g: &Gazetteer, blocks: &mut Vec<Block>) {
    let lang = spec.lang;
    let mut list: Vec<&Incident> = f.incidents.iter().collect();
    list.sort_by(|a, b| {
        (b.severity, b.fatalities, a.at, &a.id).cmp(&(a.severity, a.fatalities, b.at, &b.id))
    });
    list.truncate(5);
    blocks.push(heading(1, w(lang, "notable")));
    if list.is_empty() {
        blocks.push(Block::Para(vec![Text::plain(w(lang, "none"))]));
        return;
    }
    let lines = list
        .into_iter()
        .map(|i| {
            let mut head = format!(
                "{} \u{2013} {} \u{2013} {}",
                local(spec, i.at),
                term_or(lang, i.event_type.as_deref()),
                area_name(g, lang, i.area.as_deref())
            );
            if i.fatalities > 0 {
                head.push_str(&format!(
                    " \u{2013} {}: {}",
                    w(lang, "fatalities"),
                    i.fatalities
                ));
            }
            if i.exercise {
                head.push_str(&format!(" ({})", w(lang, "exercise")));
            }
            let mut line = vec![Text::strong(head)];
            if let Some(d) = &i.description {
                line.push(Text::plain(format!(". {d}")));
            }
            line.push(Text::plain(format!(" [{}]", i.id)));
            line
        })
        .collect();
    blocks.push(Block::Bullets(lines));
}
