use super::*;
use crate::import::{read as read_file, Format};
use crate::model::input::DraftProps;
use crate::model::layers::incident::{Incident, TimePrecision};
use crate::model::{parse_time, Marking};

const FIXTURE: &str = include_str!("../../../tests/fixtures/acled-iraq-2024.csv");

fn options() -> Options {
    Options {
        marking: Marking::Public,
        max_rows: 100,
        now: parse_time("2026-12-01T00:00:00Z").unwrap(),
        gazetteer: std::sync::Arc::new(crate::gazetteer::Gazetteer::iraq(25_000.0)),
    }
}

fn incident(row: &Row) -> &Incident {
    match &row.draft.props {
        DraftProps::Incident(i) => i,
        other => panic!("not an incident: {other:?}"),
    }
}

fn refused(text: &str) -> Vec<Refused> {
    match read_file(Format::Acled, text.as_bytes(), &options()) {
        Err(Failure::Refused(r)) => r,
        other => panic!("expected refused rows, got {other:?}"),
    }
}

/// A CSV line of `fields`, each quoted.
fn line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect();
    quoted.join(",") + "\r\n"
}

/// The fixture's header and first row, as fields.
fn first_row() -> (Vec<String>, Vec<String>) {
    let mut records = crate::import::csv::records(FIXTURE);
    let header = records.next().unwrap().unwrap().fields;
    let row = records.next().unwrap().unwrap().fields;
    (header, row)
}

/// The fixture's header and first row with each `column` set to its value.
fn with_all(changes: &[(&str, &str)]) -> String {
    let (header, mut row) = first_row();
    for (column, value) in changes {
        let i = header.iter().position(|n| n == column).unwrap();
        row[i] = value.to_string();
    }
    line(&header) + &line(&row)
}

fn with(column: &str, value: &str) -> String {
    with_all(&[(column, value)])
}

#[test]
fn the_fixture_reads_whole_with_acled_labels_mapped() {
    let rows = read_file(Format::Acled, FIXTURE.as_bytes(), &options()).unwrap();
    assert_eq!(rows.len(), 30);
    let by_id = |id: &str| rows.iter().find(|r| r.source_id == id).unwrap();
    let ied = by_id("IRQ33101");
    assert_eq!(ied.id, "acled-IRQ33101");
    assert_eq!(ied.row, 1);
    assert_eq!(ied.line, 2);
    let i = incident(ied);
    assert_eq!(i.event_type, EventType::ExplosionsRemoteViolence);
    assert_eq!(
        i.sub_event_type.as_deref(),
        Some("remote_explosive_landmine_ied")
    );
    assert_eq!(i.occurred_at, parse_time("2024-01-02T00:00:00Z").unwrap());
    assert_eq!(i.severity, 3);
    assert_eq!(i.source.as_deref(), Some("ACLED: Shafaq News"));
    assert_eq!(
        i.actors,
        [
            "Unidentified Armed Group (Iraq)",
            "Military Forces of Iraq (2022-)"
        ]
    );
    assert_eq!(ied.draft.common.marking, Marking::Public);
    // Notes over three lines, quoted, with commas: kept whole, then the place.
    let jalawla = incident(by_id("IRQ33124"));
    assert_eq!(
        jalawla.description.as_deref(),
        Some(
            "On 29 January 2024, IS militants attacked shepherds near Jalawla (Khanaqin, \
             Diyala),\nkilling one and stealing sheep.\nThe attack followed similar incidents \
             earlier in the month.\nLocation: Jalawla, Jalawla, Khanaqin, Diyala, Iraq"
        )
    );
    // The row after the three-line one starts three lines later.
    assert_eq!(by_id("IRQ33125").line, by_id("IRQ33124").line + 3);
    let quoted = incident(by_id("IRQ33103"));
    assert!(quoted
        .description
        .as_deref()
        .unwrap()
        .contains("\"a necessary and proportionate step\""));
    assert_eq!(quoted.actors.len(), 3, "{:?}", quoted.actors);
    assert_eq!(
        incident(by_id("IRQ33110")).time_precision,
        TimePrecision::Week
    );
    assert_eq!(
        incident(by_id("IRQ33118")).time_precision,
        TimePrecision::Month
    );
    assert_eq!(incident(by_id("IRQ33114")).geo_precision, 3);
    assert_eq!(incident(by_id("IRQ33114")).severity, 5);
    assert_eq!(incident(by_id("IRQ33104")).severity, 1);
    assert_eq!(
        incident(by_id("IRQ33119")).actors,
        [
            "Protesters (Iraq)",
            "Yazidi Ethnic Group (Iraq)",
            "Displaced Persons (Iraq)"
        ]
    );
    match &by_id("IRQ33130").draft.geometry {
        crate::model::Geometry::Point(p) => {
            assert_eq!(*p, [46.1717, 31.4111])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_acled_label_is_a_term_of_the_incident_vocabulary() {
    let labels: &[(&str, &[&str])] = &[
        (
            "Battles",
            &[
                "Armed clash",
                "Government regains territory",
                "Non-state actor overtakes territory",
            ],
        ),
        (
            "Explosions/Remote violence",
            &[
                "Chemical weapon",
                "Air/drone strike",
                "Suicide bomb",
                "Shelling/artillery/missile attack",
                "Remote explosive/landmine/IED",
                "Grenade",
            ],
        ),
        (
            "Violence against civilians",
            &[
                "Sexual violence",
                "Attack",
                "Abduction/forced disappearance",
            ],
        ),
        (
            "Protests",
            &[
                "Peaceful protest",
                "Protest with intervention",
                "Excessive force against protesters",
            ],
        ),
        ("Riots", &["Violent demonstration", "Mob violence"]),
        (
            "Strategic developments",
            &[
                "Agreement",
                "Arrests",
                "Change to group/activity",
                "Disrupted weapons use",
                "Headquarters or base established",
                "Looting/property destruction",
                "Non-violent transfer of territory",
                "Other",
            ],
        ),
    ];
    for (event, subs) in labels {
        let t: EventType = term(event).parse().unwrap();
        assert_eq!(t.sub_types().len(), subs.len(), "{event}");
        for sub in *subs {
            assert!(
                t.sub_types().contains(&term(sub).as_str()),
                "{event}: {sub}"
            );
        }
    }
}

#[test]
fn dates_are_read_as_acled_writes_them() {
    let want = NaiveDate::from_ymd_opt(2024, 1, 15).unwrap();
    assert_eq!(parse_date("2024-01-15").unwrap(), want);
    assert_eq!(parse_date("15 January 2024").unwrap(), want);
    let e = parse_date("01/15/2024").unwrap_err();
    assert!(e.contains("`2024-01-15` or `15 January 2024`"), "{e}");
    // And in a row, in either form.
    for date in ["2024-01-02", "2 January 2024"] {
        let rows = read_file(
            Format::Acled,
            with("event_date", date).as_bytes(),
            &options(),
        )
        .unwrap();
        assert_eq!(
            incident(&rows[0]).occurred_at,
            parse_time("2024-01-02T00:00:00Z").unwrap()
        );
    }
}

#[test]
fn severity_follows_the_documented_rule() {
    use EventType::*;
    for (t, dead, want) in [
        (Battles, 0, 3),
        (Battles, 1, 4),
        (Battles, 9, 4),
        (Battles, 10, 5),
        (ExplosionsRemoteViolence, 250, 5),
        (ViolenceAgainstCivilians, 0, 3),
        (Riots, 0, 2),
        (Riots, 12, 4),
        (Protests, 0, 1),
        (Protests, 1, 2),
        (StrategicDevelopments, 0, 1),
    ] {
        assert_eq!(severity(t, dead), want, "{t} with {dead} dead");
    }
}

#[test]
fn the_header_may_come_in_any_order_with_extra_columns() {
    let (mut header, mut row) = first_row();
    // The last column first, two swapped, and one this reader does not know.
    header.rotate_right(1);
    row.rotate_right(1);
    header.swap(1, 6);
    row.swap(1, 6);
    header.push("iso3".into());
    row.push("IRQ".into());
    let text = line(&header) + &line(&row);
    let rows = read_file(Format::Acled, text.as_bytes(), &options()).unwrap();
    assert_eq!(rows[0].id, "acled-IRQ33101");
    assert_eq!(
        incident(&rows[0]).event_type,
        EventType::ExplosionsRemoteViolence
    );
}

#[test]
fn a_missing_required_column_is_named() {
    let text = FIXTURE.replacen("geo_precision", "geoprecision", 1);
    let r = refused(&text);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].row, 0);
    assert_eq!(r[0].column.as_deref(), Some("geo_precision"));
    assert!(r[0].message.contains("no column `geo_precision`"), "{r:?}");
    let r = refused("");
    assert!(r[0].message.contains("empty"), "{r:?}");
}

#[test]
fn each_bad_value_is_refused_naming_row_event_and_column() {
    for (column, value, says) in [
        ("event_date", "2024-13-45", "not a date"),
        ("year", "2023", "not the year"),
        ("time_precision", "4", "1 (day), 2 (week) or 3 (month)"),
        ("geo_precision", "0", "1 (the place)"),
        ("event_type", "Explosions", "not an ACLED event type"),
        (
            "sub_event_type",
            "Armed clash",
            "not an ACLED sub-event type",
        ),
        ("latitude", "95", "within -90 to 90"),
        ("longitude", "east", "not a longitude"),
        ("fatalities", "-1", "whole number"),
        ("fatalities", "", "is empty"),
        ("event_id_cnty", "IRQ 1", "not an ACLED event id"),
        ("actor1", "a\u{7}b", "control characters"),
        ("timestamp", "yesterday", "Unix time"),
    ] {
        let r = refused(&with(column, value));
        assert_eq!(r.len(), 1, "{column}={value}: {r:?}");
        assert_eq!(r[0].row, 1);
        assert_eq!(r[0].line, 2);
        assert_eq!(
            r[0].column.as_deref(),
            Some(column),
            "{column}={value}: {r:?}"
        );
        assert!(
            r[0].message.contains(says),
            "{column}={value}: {}",
            r[0].message
        );
        if column != "event_id_cnty" {
            assert_eq!(r[0].event_id.as_deref(), Some("IRQ33101"));
        }
    }
}

#[test]
fn an_event_in_the_future_is_refused() {
    let r = refused(&with_all(&[("event_date", "2099-01-01"), ("year", "2099")]));
    assert_eq!(r[0].column.as_deref(), Some("event_date"));
    assert!(r[0].message.contains("in the future"), "{r:?}");
}

#[test]
fn every_bad_row_is_reported_not_only_the_first() {
    let mut text = FIXTURE.replacen(",2 January 2024,", ",2 Janvier 2024,", 1);
    text = text.replacen(",Grenade,", ",Hand grenade,", 1);
    // A duplicate event: the last row again.
    let last = FIXTURE.lines().last().unwrap();
    text.push_str(last);
    text.push_str("\r\n");
    let r = refused(&text);
    let got: Vec<(usize, Option<&str>, Option<&str>)> = r
        .iter()
        .map(|r| (r.row, r.event_id.as_deref(), r.column.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (1, Some("IRQ33101"), Some("event_date")),
            (20, Some("IRQ33120"), Some("sub_event_type")),
            (31, Some("IRQ33130"), Some("event_id_cnty")),
        ]
    );
    assert!(r[2].message.contains("also row 30"), "{}", r[2].message);
}

#[test]
fn a_row_of_the_wrong_width_and_broken_quoting_are_refused() {
    let header = FIXTURE.lines().next().unwrap();
    let r = refused(&format!("{header}\nIRQ1,2024-01-02\n"));
    assert!(r[0].message.contains("2 fields, the header 31"), "{r:?}");
    let r = refused(&format!("{header}\nIRQ1,\"2024-01-02\n"));
    assert!(r[0].message.contains("never closed"), "{r:?}");
}

#[test]
fn more_rows_than_the_bound_is_too_many() {
    let mut o = options();
    o.max_rows = 29;
    match read_file(Format::Acled, FIXTURE.as_bytes(), &o) {
        Err(Failure::TooManyRows(m)) => assert!(m.contains("more than 29 rows"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_file_that_is_not_utf8_is_refused_naming_the_line() {
    let mut bytes = FIXTURE.as_bytes().to_vec();
    let at = FIXTURE.find("IRQ33102").unwrap();
    bytes[at] = 0xff;
    match read_file(Format::Acled, &bytes, &options()) {
        Err(Failure::Refused(r)) => {
            assert_eq!(r[0].line, 3);
            assert!(r[0].message.contains("not UTF-8"), "{r:?}");
        }
        other => panic!("{other:?}"),
    }
    // A byte-order mark is not part of the first column's name.
    let bom = format!("\u{feff}{FIXTURE}");
    assert_eq!(
        read_file(Format::Acled, bom.as_bytes(), &options())
            .unwrap()
            .len(),
        30
    );
}

#[test]
fn mangled_files_are_refused_never_a_panic() {
    let bytes = FIXTURE.as_bytes();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let noise = [b',', b'"', b'\n', b'\r', b'9', b'-', 0xc3, b' '];
    for _ in 0..300 {
        let mut b = bytes[..(next() as usize % bytes.len())].to_vec();
        for _ in 0..(next() % 8) {
            if b.is_empty() {
                break;
            }
            let i = next() as usize % b.len();
            b[i] = noise[next() as usize % noise.len()];
        }
        let _ = read_file(Format::Acled, &b, &options());
    }
}
