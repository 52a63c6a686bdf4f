use super::*;
use crate::import::{read as read_file, Format};
use crate::model::input::DraftProps;
use crate::model::layers::displacement::{Direction, Displacement};
use crate::model::{parse_time, Marking};

const IDPS: &str = include_str!("../../../tests/fixtures/dtm-iraq-idps-hxl.csv");
const RETURNS: &str = include_str!("../../../tests/fixtures/dtm-iraq-returns-hxl.csv");

fn options() -> Options {
    Options {
        marking: Marking::Public,
        max_rows: 100,
        now: parse_time("2026-12-01T00:00:00Z").unwrap(),
        gazetteer: std::sync::Arc::new(Gazetteer::iraq(25_000.0)),
    }
}

fn flow(row: &Row) -> &Displacement {
    match &row.draft.props {
        DraftProps::Displacement(d) => d,
        other => panic!("not a displacement: {other:?}"),
    }
}

fn rows(text: &str) -> Vec<Row> {
    read_file(Format::Hxl, text.as_bytes(), &options()).unwrap()
}

fn refused(text: &str) -> Vec<Refused> {
    match read_file(Format::Hxl, text.as_bytes(), &options()) {
        Err(Failure::Refused(r)) => r,
        other => panic!("expected refused rows, got {other:?}"),
    }
}

#[test]
fn dtms_master_list_becomes_flows_with_pcodes() {
    let rows = rows(IDPS);
    assert_eq!(rows.len(), 12);
    let first = &rows[0];
    assert_eq!((first.row, first.line), (1, 3));
    assert!(
        first.id.starts_with("hxl-") && first.id.len() == 20,
        "{}",
        first.id
    );
    let d = flow(first);
    assert_eq!(d.direction, Direction::Displacement);
    assert_eq!(d.individuals, 16011);
    assert_eq!(d.households, Some(3104), "thousands separators are read");
    assert_eq!(d.shelter, Shelter::Camp);
    assert_eq!(d.origin_area.as_deref(), Some("IQG15"));
    assert_eq!(d.destination_area.as_deref(), Some("IQG10"));
    // The gazetteer has no districts: the district of origin is kept in words.
    assert_eq!(d.origin_place.as_deref(), Some("Sinjar"));
    assert_eq!(d.site.as_deref(), Some("Chamishku camp"));
    assert_eq!(
        d.source.as_deref(),
        Some("IOM DTM Iraq Master List, round 131")
    );
    assert_eq!(d.cause.as_deref(), Some("Conflict (2014)"));
    assert_eq!(d.reported_on.to_string(), "2024-03-31");
    assert_eq!(d.description.as_deref(), Some("District: Zakho"));
    // Within one governorate: an arrival there, the origin in words.
    let essian = flow(&rows[4]);
    assert_eq!(essian.origin_area, None);
    assert_eq!(
        essian.origin_place.as_deref(),
        Some("Sinjar, within Ninewa (IQG15)")
    );
    // No coordinates: the destination governorate's label point.
    let erbil = &rows[8];
    assert_eq!(flow(erbil).shelter, Shelter::Private);
    assert_eq!(flow(erbil).individuals, 58904);
    let label = options().gazetteer.get("IQG11").unwrap().label;
    assert_eq!(
        erbil.draft.geometry,
        crate::model::geometry::Geometry::Point(label)
    );
    assert_eq!(
        flow(&rows[10]).shelter,
        Shelter::Informal,
        "critical shelter"
    );
}

#[test]
fn a_file_of_hashtags_only_in_any_order_and_case_reads_returns() {
    let rows = rows(RETURNS);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].id, "hxl-RET-2024-02-NIN-001", "the file's own id");
    let d = flow(&rows[0]);
    assert_eq!(d.direction, Direction::Return);
    assert_eq!((d.individuals, d.households), (4210, Some(702)));
    assert_eq!(d.origin_area.as_deref(), Some("IQG10"), "Dahuk is Duhok");
    assert_eq!(d.destination_area.as_deref(), Some("IQG15"));
    assert_eq!(d.site.as_deref(), Some("Sinjar centre"));
    assert_eq!(flow(&rows[1]).reported_on, flow(&rows[2]).reported_on);
}

#[test]
fn the_key_is_stable_and_names_the_flow() {
    let a = rows(IDPS);
    let b = rows(&IDPS.replace("\n", "\r\n"));
    assert_eq!(
        a.iter().map(|r| &r.id).collect::<Vec<_>>(),
        b.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    // A revised figure keeps the id; another date is another flow.
    let revised = rows(&IDPS.replacen("16011", "16020", 1));
    assert_eq!(revised[0].id, a[0].id);
    let later = rows(&IDPS.replacen("16011,2024-03-31", "16011,2024-04-30", 1));
    assert_ne!(later[0].id, a[0].id);
    assert_eq!(
        key_id(&[
            "s",
            "2024-03-31",
            "displacement",
            "IQG15",
            "IQG10",
            "x",
            "camp"
        ]),
        key_id(&[
            "s",
            "2024-03-31",
            "displacement",
            "IQG15",
            "IQG10",
            "x",
            "camp"
        ])
    );
}

#[test]
fn bad_rows_are_each_named_by_row_line_and_hashtag() {
    let bad = IDPS
        .replacen(
            "Dahuk,IQG10,Zakho,Chamishku",
            "Atlantis,,Zakho,Chamishku",
            1,
        )
        .replacen(",8223,2024-03-31", ",8223,31/03/2024", 1)
        .replacen("Camp,2408,12386", "Tent city,2408,12386", 1)
        .replacen("Camp,2551,13482", "Camp,2551,0", 1)
        .replacen("Camp,261,1217", "Camp,2610,1217", 1);
    let r = refused(&bad);
    let got: Vec<(usize, usize, Option<&str>)> = r
        .iter()
        .map(|r| (r.row, r.line, r.column.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (1, 3, Some("#adm1+name")),
            (2, 4, Some("#date+reported")),
            (4, 6, Some("#affected+idps+ind")),
            (6, 8, Some("#affected+idps+hh")),
        ],
        "{r:#?}"
    );
    assert!(r[0].message.contains("`Atlantis`"), "{}", r[0].message);
    assert!(r[1].message.contains("YYYY-MM-DD"), "{}", r[1].message);
    // `Tent city` is an informal shelter; a name no list has is refused naming it.
    let r = refused(&IDPS.replacen("Camp,2408", "Caravan park,2408", 1));
    assert_eq!(r[0].column.as_deref(), Some("#x_shelter"));
    assert!(r[0].message.contains("`Caravan park`"), "{}", r[0].message);
}

#[test]
fn the_hashtag_row_is_checked_before_any_row() {
    let r = refused("Governorate,IDPs\nDahuk,100\n");
    assert!(r[0].message.contains("no HXL hashtag row"), "{r:?}");
    let r = refused("#adm1+name,#date+reported\nDahuk,2024-01-01\n");
    assert_eq!(r[0].column.as_deref(), Some("#affected+idps+ind"), "{r:?}");
    let r = refused(
        "#adm1+name,#date+reported,#affected+idps+ind,#Affected+IND+IDPS\nDahuk,2024-01-01,1,2\n",
    );
    assert!(r[0].message.contains("both give"), "{r:?}");
    let r = refused("#adm1+name,#date+reported,#affected+idps+ind,#geo+lat\nx,y,1,2\n");
    assert_eq!(r[0].column.as_deref(), Some("#geo+lon"), "{r:?}");
    let r = refused("#adm1 name,#date\n");
    assert!(
        r[0].message.contains("attribute") || r[0].message.contains("hashtag"),
        "{r:?}"
    );
    // Breakdowns by sex and columns this reader does not use are ignored.
    let ok = rows(
        "#adm1+pcode,#date,#affected+idps+ind,#affected+idps+ind+f,#sector\nIQG08,2024-01-01,10,6,x\n",
    );
    assert_eq!(flow(&ok[0]).individuals, 10);
}

#[test]
fn a_repeated_flow_and_a_mixed_row_are_refused() {
    let mut lines: Vec<&str> = IDPS.lines().collect();
    lines.push(lines[2]);
    let r = refused(&lines.join("\n"));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].row, 13);
    assert!(
        r[0].message.contains("row 1 is the same flow"),
        "{}",
        r[0].message
    );
    let r = refused(
        "#adm1+pcode,#date,#affected+idps+ind,#affected+returnees+ind\nIQG08,2024-01-01,10,6\n",
    );
    assert!(r[0].message.contains("one flow"), "{r:?}");
    let r = refused("#adm1+pcode,#adm1+name,#date,#affected+idps+ind\nIQG08,Erbil,2024-01-01,10\n");
    assert!(r[0].message.contains("IQG11"), "{r:?}");
}

#[test]
fn shelters_and_dates_as_files_write_them() {
    for (text, want) in [
        ("Camp", Shelter::Camp),
        ("Formal camps", Shelter::Camp),
        ("Private settings", Shelter::Private),
        ("Host families", Shelter::Private),
        ("Rented houses", Shelter::Private),
        ("Hotel/Motel", Shelter::Private),
        ("Unfinished/Abandoned building", Shelter::Informal),
        ("Religious building", Shelter::Informal),
        ("Informal settlements", Shelter::Informal),
        ("Unknown shelter type", Shelter::Unknown),
        ("", Shelter::Unknown),
    ] {
        assert_eq!(shelter(text).unwrap(), want, "{text}");
    }
    for text in [
        "2024-03-31",
        "2024-03-31T00:00:00",
        "31 March 2024",
        "31-Mar-2024",
    ] {
        assert_eq!(
            parse_date(text).unwrap().to_string(),
            "2024-03-31",
            "{text}"
        );
    }
    assert!(parse_date("03/31/2024").is_err());
}
