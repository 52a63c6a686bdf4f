use chrono::{DateTime, FixedOffset, Utc};

use super::facts::{Facts, Incident};
use super::*;
use crate::model::Role;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn spec(lang: Lang) -> Spec {
    Spec {
        kind: Kind::Weekly,
        period: Period {
            from: t("2026-11-24T04:00:00Z"),
            to: t("2026-12-01T04:00:00Z"),
        },
        lang,
        viewer: Viewer::new(Role::CivilLiaison, "NRC"),
        id: "r1".into(),
        centre: "JCMC Erbil".into(),
        zone: FixedOffset::east_opt(3 * 3600).unwrap(),
    }
}

fn facts() -> Facts {
    let mut f = Facts::default();
    for (i, (day, kind, area, dead)) in [
        ("2026-11-25T10:00:00Z", "battles", "IQG15", 3),
        ("2026-11-26T10:00:00Z", "battles", "IQG15", 0),
        (
            "2026-11-27T10:00:00Z",
            "explosions_remote_violence",
            "IQG11",
            1,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        f.incidents.push(Incident {
            id: format!("ARMY:i{i}"),
            at: t(day),
            event_type: Some(kind.into()),
            area: Some(area.into()),
            fatalities: dead,
            severity: Some(3),
            description: Some("on the road".into()),
            position: Some([43.2, 36.3]),
            exercise: false,
        });
    }
    f
}

#[test]
fn a_report_document_is_laid_out_in_both_languages() {
    let g = Gazetteer::iraq(25_000.0);
    for lang in [Lang::En, Lang::Ar] {
        let started = std::time::Instant::now();
        let doc = document(&spec(lang), 42, &facts(), &g);
        let html = crate::document::to_html(&doc);
        assert!(html.contains("<a href=\"#n-incidents\">3</a>"), "{lang:?}");
        let pdf = crate::document::to_pdf(&doc, "r1").expect("a PDF");
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
}

/// A month of a busy log: far more incidents than dots a map can show or a PDF reader takes.
#[test]
fn a_map_of_many_incidents_groups_them_into_cells_and_still_lays_out() {
    let g = Gazetteer::iraq(25_000.0);
    let mut f = Facts::default();
    let n = 40_000;
    for i in 0..n {
        f.incidents.push(Incident {
            id: format!("INSO:i{i}"),
            at: t("2026-11-25T10:00:00Z"),
            event_type: Some("battles".into()),
            area: None,
            fatalities: 0,
            severity: Some(1 + (i % 5) as u64),
            description: None,
            position: Some([
                39.5 + (i % 97) as f64 * 0.08,
                29.6 + ((i / 97) % 89) as f64 * 0.08,
            ]),
            exercise: false,
        });
    }
    assert!(super::map::grouped(&f));
    let svg = super::map::map(&f, &g, Lang::En);
    let circles = svg.matches("<circle").count();
    // One per cell of 12 px on a 640 px wide map: a few thousand at most, not one per incident.
    assert!(circles > 100 && circles < 4_000, "{circles} circles");
    // The fullest cell is drawn darkest-severity and carries its number.
    assert!(svg.contains("#8b0000"));
    assert!(svg.contains("font-size=\"6\""));
    let doc = Document {
        lang: Lang::En,
        title: "map".into(),
        subtitle: Vec::new(),
        footer: String::new(),
        blocks: vec![crate::document::Block::Svg {
            svg,
            caption: String::new(),
            width: 0.8,
            files: None,
        }],
    };
    let pdf = crate::document::to_pdf(&doc, "map").expect("the grouped map lays out");
    assert!(pdf.starts_with(b"%PDF-"));

    // Below the bound every incident is its own dot.
    f.incidents.truncate(super::map::MAX_DOTS);
    assert!(!super::map::grouped(&f));
    let svg = super::map::map(&f, &g, Lang::En);
    assert_eq!(svg.matches("<circle").count(), super::map::MAX_DOTS);
}
