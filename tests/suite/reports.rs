//! Situation reports (issue 16, items 1-3): a scripted history, then the report for a civil
//! and a military audience, read back — the HTML's figures and the ids behind them (the
//! appendix), the PDF's text through independent extractors (`pdf-extract`, poppler's
//! `pdftotext` for Arabic) — and checked
//! against what the policy lets each audience see; made again at its `seq` it is the same;
//! Arabic extracts in reading order; bad requests are problems naming the member.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use cmcop::model::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{self, reply, Backend, TestApp};

fn ts(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The ids an appendix entry lists (empty when the HTML has no such entry).
pub(crate) fn appendix(html: &str, anchor: &str) -> BTreeSet<String> {
    let start = format!("<section class=\"refs\" id=\"{anchor}\">");
    let Some(at) = html.find(&start) else {
        return BTreeSet::new();
    };
    let rest = &html[at..];
    let section = &rest[..rest.find("</section>").expect("a closed section")];
    section
        .split("<code>")
        .skip(1)
        .map(|s| s.split("</code>").next().unwrap().replace("&#39;", "'"))
        .collect()
}

/// The text of the first link to `anchor` (the figure it stands for).
pub(crate) fn figure(html: &str, anchor: &str) -> Option<String> {
    let start = format!("<a href=\"#{anchor}\">");
    let at = html.find(&start)? + start.len();
    Some(html[at..].split("</a>").next()?.to_string())
}

/// Asks for a report and waits until it is made; its metadata.
pub(crate) async fn made(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, r) = app.post("/api/v1/reports", token, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{r}");
    assert_eq!(r["status"], "pending", "{r}");
    let id = r["id"].as_str().expect("an id").to_string();
    for _ in 0..600 {
        let (status, now) = app.get(&format!("/api/v1/reports/{id}"), token).await;
        assert_eq!(status, StatusCode::OK, "{now}");
        match now["status"].as_str() {
            Some("done") => return now,
            Some("failed") => panic!("the report failed: {now}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("report {id} not made within 120 s");
}

pub(crate) async fn rendering(app: &TestApp, token: &str, report: &Value, ext: &str) -> Vec<u8> {
    let path = report["links"][ext].as_str().expect("a link");
    let resp = app
        .request(Method::GET, path, Some(token))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.bytes().await.expect("read").to_vec();
    // To look at what the tests made: CMCOP_REPORT_DUMP=DIR keeps each rendering there.
    if let Ok(dir) = std::env::var("CMCOP_REPORT_DUMP") {
        let name = format!(
            "{}-{}.{ext}",
            report["audience"]["org"].as_str().unwrap_or("x"),
            report["lang"].as_str().unwrap_or("x")
        );
        let _ = std::fs::write(std::path::Path::new(&dir).join(name), &bytes);
    }
    bytes
}

/// PDF text with all white space removed (line breaks fall anywhere in long ids).
fn pdf_text(pdf: &[u8]) -> String {
    let text = pdf_extract::extract_text_from_mem(pdf).expect("the PDF's text");
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

struct History {
    /// Incidents: joint battle (3 dead), military battle (5 dead), civil explosion, and the
    /// previous period's battle.
    joint: String,
    military: String,
    civil: String,
    earlier: String,
    /// Constraints: closed (in force), military restricted (in force), lifted.
    closed: String,
    secret_checkpoint: String,
    lifted: String,
    /// Movements: completed after an acknowledgement, aborted with a reason.
    completed: String,
    aborted: String,
    flow: String,
}

/// Changes an item's properties; it must be accepted.
async fn change(app: &TestApp, token: &str, layer: &str, id: &str, properties: Value) {
    let path = format!("/api/v1/{layer}/{id}");
    let (s, b) = app
        .patch(&path, token, json!({ "properties": properties }))
        .await;
    assert_eq!(s, StatusCode::OK, "PATCH {path}: {b}");
}

/// Notifies or acknowledges a movement; it must be accepted.
async fn act(app: &TestApp, token: &str, id: &str, action: &str) {
    let path = format!("/api/v1/movements/{id}/{action}");
    let (s, b) = app.post(&path, token, json!({})).await;
    assert_eq!(s, StatusCode::OK, "POST {path}: {b}");
}

/// Each path answers `token` 404, as for an id nobody holds.
async fn not_found(app: &TestApp, token: &str, paths: &[String]) {
    for path in paths {
        reply(app.request(Method::GET, path, Some(token)))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
}

async fn script(app: &mut TestApp) -> History {
    let now = Utc::now();
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let wfp = app.token(Role::ConvoyPlanner, "WFP").await;
    let at = |min: i64| ts(now - chrono::Duration::minutes(min));
    let joint = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"event_type": "battles", "sub_event_type": null, "fatalities": 3, "severity": 4, "occurred_at": at(30), "description": "clash on the east bank"})),
        )
        .await;
    let military = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"event_type": "battles", "sub_event_type": null, "fatalities": 5, "severity": 5, "occurred_at": at(20), "marking": "military", "description": "SECRETBRAVO raid"})),
        )
        .await;
    let civil = app
        .create(
            "incidents",
            &nrc,
            json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": [44.01, 36.19]},
                "properties": {"occurred_at": at(10), "event_type": "explosions_remote_violence", "severity": 2, "fatalities": 0, "marking": "civil", "description": "CIVILONLY blast", "verification": "reported"}}),
        )
        .await;
    let earlier = app
        .create(
            "incidents",
            &army,
            common::incident(json!({"event_type": "battles", "sub_event_type": null, "fatalities": 1, "occurred_at": at(90)})),
        )
        .await;
    let closed = app
        .create(
            "constraints",
            &army,
            common::constraint(json!({"status": "closed", "restriction": null})),
        )
        .await;
    let secret_checkpoint = app
        .create(
            "constraints",
            &army,
            common::constraint(json!({"marking": "military"})),
        )
        .await;
    let lifted = app
        .create("constraints", &army, common::constraint(json!({})))
        .await;
    change(
        app,
        &army,
        "constraints",
        &lifted,
        json!({"status": "open", "restriction": null}),
    )
    .await;
    let window = json!({"window_start": at(-60), "window_end": at(-240)});
    let completed = app
        .create("movements", &wfp, common::movement(window.clone()))
        .await;
    let aborted = app
        .create(
            "movements",
            &wfp,
            common::movement(
                json!({"window_start": at(-60), "window_end": at(-240), "name": "Convoy two"}),
            ),
        )
        .await;
    for id in [&completed, &aborted] {
        act(app, &wfp, id, "notify").await;
    }
    act(app, &army, &completed, "acknowledge").await;
    for status in ["en_route", "arrived"] {
        change(
            app,
            &wfp,
            "movements",
            &completed,
            json!({"status": status}),
        )
        .await;
    }
    change(
        app,
        &wfp,
        "movements",
        &aborted,
        json!({"status": "en_route"}),
    )
    .await;
    change(
        app,
        &wfp,
        "movements",
        &aborted,
        json!({"status": "aborted", "description": "bridge down at Qayyarah"}),
    )
    .await;
    let flow = app
        .create(
            "displacements",
            &nrc,
            common::displacement(
                json!({"reported_on": now.date_naive().to_string(), "individuals": 500}),
            ),
        )
        .await;
    History {
        joint,
        military,
        civil,
        earlier,
        closed,
        secret_checkpoint,
        lifted,
        completed,
        aborted,
        flow,
    }
}

fn set(ids: &[&String]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

pub async fn reports_count_what_each_audience_may_see(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let h = script(&mut app).await;
    let seq = super::log_seq(&mut app).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    let from = ts(Utc::now() - chrono::Duration::minutes(60));
    // A period that has ended (`to` now, to the microsecond): its `seq` is the last event
    // before it, whatever is logged later (each report made logs the notice announcing it).
    let to = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let ask = json!({"kind": "daily", "from": from, "to": to, "lang": "en"});
    let civil = made(&app, &nrc, ask.clone()).await;
    let military = made(&app, &army, ask.clone()).await;
    assert_eq!(civil["seq"], seq, "{civil}");
    assert_eq!(
        civil["audience"],
        json!({"role": "civil_liaison", "org": "NRC"})
    );
    let civil_html = String::from_utf8(rendering(&app, &nrc, &civil, "html").await).unwrap();
    let military_html = String::from_utf8(rendering(&app, &army, &military, "html").await).unwrap();

    // Incidents of the period, by type, against the previous period.
    assert_eq!(
        appendix(&civil_html, "n-incidents"),
        set(&[&h.joint, &h.civil])
    );
    assert_eq!(
        appendix(&military_html, "n-incidents"),
        set(&[&h.joint, &h.military])
    );
    assert_eq!(figure(&civil_html, "n-fatalities").as_deref(), Some("3"));
    assert_eq!(figure(&military_html, "n-fatalities").as_deref(), Some("8"));
    assert_eq!(
        appendix(&military_html, "inc-type-battles"),
        set(&[&h.joint, &h.military])
    );
    assert_eq!(appendix(&civil_html, "inc-type-battles"), set(&[&h.joint]));
    assert_eq!(
        appendix(&civil_html, "prev-type-battles"),
        set(&[&h.earlier])
    );
    assert_eq!(
        appendix(&civil_html, "inc-type-explosions-remote-violence"),
        set(&[&h.civil])
    );
    // Ninewa (IQG15) holds the battles, Erbil (IQG11) the explosion.
    assert_eq!(
        appendix(&military_html, "inc-area-iqg15"),
        set(&[&h.joint, &h.military])
    );
    assert_eq!(appendix(&civil_html, "inc-area-iqg11"), set(&[&h.civil]));
    assert_eq!(
        figure(&military_html, "fat-area-iqg15").as_deref(),
        Some("8")
    );
    // Constraints opened, lifted, in force.
    let cat = "movement-restriction";
    assert_eq!(
        appendix(&civil_html, &format!("con-opened-{cat}")),
        set(&[&h.closed, &h.lifted])
    );
    assert_eq!(
        appendix(&military_html, &format!("con-opened-{cat}")),
        set(&[&h.closed, &h.secret_checkpoint, &h.lifted])
    );
    assert_eq!(
        appendix(&civil_html, &format!("con-closed-{cat}")),
        set(&[&h.lifted])
    );
    assert_eq!(
        appendix(&civil_html, &format!("con-in-force-{cat}")),
        set(&[&h.closed])
    );
    assert_eq!(
        appendix(&military_html, &format!("con-in-force-{cat}")),
        set(&[&h.closed, &h.secret_checkpoint])
    );
    // Movements: notified, acknowledged, completed, aborted with the reason the audience sees.
    for html in [&civil_html, &military_html] {
        assert_eq!(
            appendix(html, "mov-notified"),
            set(&[&h.completed, &h.aborted])
        );
        assert_eq!(appendix(html, "mov-acknowledged"), set(&[&h.completed]));
        assert_eq!(appendix(html, "mov-completed"), set(&[&h.completed]));
        assert_eq!(appendix(html, "mov-aborted"), set(&[&h.aborted]));
        assert!(html.contains("Median time to acknowledge"));
        // Displacement: 500 arrivals in Erbil.
        assert_eq!(figure(html, "dis-iqg11").as_deref(), Some("500"));
        assert_eq!(appendix(html, "dis-iqg11"), set(&[&h.flow]));
        assert!(html.contains("<svg"), "the map and charts are inline");
    }
    // The military liaison is not shown civil-side descriptions (policy hide_from_side).
    assert!(civil_html.contains("bridge down at Qayyarah"));
    assert!(!military_html.contains("bridge down at Qayyarah"));
    assert!(military_html.contains("No reason given"));
    // Nothing of an item an audience may not see, in the HTML or the PDF's text.
    assert!(!civil_html.contains(&h.military) && !civil_html.contains("SECRETBRAVO"));
    assert!(!civil_html.contains(&h.secret_checkpoint));
    assert!(!military_html.contains(&h.civil) && !military_html.contains("CIVILONLY"));
    let civil_pdf = pdf_text(&rendering(&app, &nrc, &civil, "pdf").await);
    let military_pdf = pdf_text(&rendering(&app, &army, &military, "pdf").await);
    // Which texts a PDF holds and which it does not (compared without white space).
    let holds = |pdf: &str, yes: &[&str], no: &[&str]| {
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        for text in yes {
            assert!(pdf.contains(&squeeze(text)), "`{text}` is in: {pdf}");
        }
        for text in no {
            assert!(!pdf.contains(&squeeze(text)), "`{text}` is not in: {pdf}");
        }
    };
    holds(
        &civil_pdf,
        &[
            "Daily situation report",
            &h.civil,
            "bridge down at Qayyarah",
        ],
        &[&h.military, "SECRETBRAVO", &h.secret_checkpoint],
    );
    holds(
        &military_pdf,
        &[&h.military, "SECRETBRAVO"],
        &[&h.civil, "CIVILONLY", "bridge down"],
    );

    // Another audience's report does not exist for the caller.
    let id = civil["id"].as_str().unwrap();
    not_found(
        &app,
        &army,
        &[
            format!("/api/v1/reports/{id}"),
            format!("/api/v1/reports/{id}.pdf"),
        ],
    )
    .await;
    let (_, list) = app.get("/api/v1/reports", &army).await;
    let listed: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(listed, vec![military["id"].as_str().unwrap()]);

    // Made again at the same seq (nothing happened in the period since), the report is the
    // same.
    let again = made(&app, &nrc, ask).await;
    assert_eq!(again["seq"], civil["seq"]);
    let again_html = String::from_utf8(rendering(&app, &nrc, &again, "html").await).unwrap();
    let (a, b) = (
        again_html.replace(again["id"].as_str().unwrap(), "ID"),
        civil_html.replace(id, "ID"),
    );
    let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y);
    assert!(
        at.is_none() && a.len() == b.len(),
        "made again, the report differs at {at:?}: {:?} / {:?}",
        at.map(|i| &a[i.saturating_sub(200)..(i + 200).min(a.len())]),
        at.map(|i| &b[i.saturating_sub(200)..(i + 200).min(b.len())]),
    );
    app.stop().await;
}

pub async fn arabic_reports_extract_in_reading_order(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    script(&mut app).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let from = ts(Utc::now() - chrono::Duration::minutes(60));
    let r = made(
        &app,
        &nrc,
        json!({"kind": "daily", "from": from, "lang": "ar"}),
    )
    .await;
    let html = String::from_utf8(rendering(&app, &nrc, &r, "html").await).unwrap();
    assert!(html.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(html.contains("تقرير الحالة اليومي"));
    assert_eq!(appendix(&html, "n-incidents").len(), 2);
    let pdf = rendering(&app, &nrc, &r, "pdf").await;
    // poppler's pdftotext (installed by .ci/run) puts right-to-left text in reading order, as
    // a reader's copy and paste or a screen reader would get it.
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("report.pdf");
    std::fs::write(&path, &pdf).expect("written");
    let out = std::process::Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian poppler-utils) runs; .ci/run installs it");
    assert!(out.status.success(), "{out:?}");
    // It marks the direction of each run with bidi embedding controls, placing the spaces
    // between runs at their edges: compare without either.
    let bare = |s: &str| -> String {
        s.chars()
            .filter(|c| {
                !c.is_whitespace()
                    && !matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            })
            .collect()
    };
    let text = bare(&String::from_utf8(out.stdout).expect("UTF-8 text"));
    // Words in logical order, as written: the title, headings, a sentence with figures, a
    // vocabulary term and a governorate.
    for phrase in [
        "تقرير الحالة اليومي",
        "الأرقام الرئيسية",
        "أبرز المستجدات",
        "سجلت 2 من الحوادث",
        "معارك",
        "نينوى",
    ] {
        assert!(
            text.contains(&bare(phrase)),
            "`{phrase}` not in reading order in: {text}"
        );
    }
    app.stop().await;
}

pub async fn report_requests_are_checked_and_never_wait(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    for (body, member) in [
        (json!({"kind": "hourly"}), "kind"),
        (json!({}), "kind"),
        (json!({"kind": "daily", "lang": "fr"}), "lang"),
        (json!({"kind": "daily", "from": "yesterday"}), "from"),
        (json!({"kind": "daily", "to": 5}), "to"),
        (json!({"kind": "daily", "format": "pdf"}), "format"),
        (
            json!({"kind": "daily", "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "to",
        ),
        (
            json!({"kind": "monthly", "from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "to",
        ),
    ] {
        let r = reply(
            app.request(Method::POST, "/api/v1/reports", Some(&nrc))
                .json(&body),
        )
        .await;
        let p = r.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            p.to_string().contains(member),
            "{body}: the problem names `{member}`: {p}"
        );
    }
    let paths = [
        "/api/v1/reports/nosuch",
        "/api/v1/reports/nosuch.pdf",
        "/api/v1/reports/x.doc",
        "/api/v1/reports/..%2Fetc.html",
        "/api/v1/reports/nosuch/map.svg",
        "/api/v1/reports/nosuch/charts/incidents-per-day.png",
    ];
    not_found(&app, &nrc, &paths.map(String::from)).await;
    // The answer comes at once, pending; the renderings wait for `done`.
    let (s, r) = app
        .post("/api/v1/reports", &nrc, json!({"kind": "weekly"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert!(r["links"]["pdf"].is_null());
    let r = made(&app, &nrc, json!({"kind": "monthly", "lang": "en"})).await;
    assert!(r["links"]["pdf"].as_str().unwrap().ends_with(".pdf"));
    let pdf = rendering(&app, &nrc, &r, "pdf").await;
    assert!(pdf.starts_with(b"%PDF-"));
    app.stop().await;
}

/// The `(width, height)` of an SVG document, parsed as XML, and the document.
fn svg_size(svg: &str) -> (roxmltree::Document<'_>, f64, f64) {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    let dim = |a: &str| -> f64 { root.attribute(a).expect(a).parse().expect("a number") };
    let (w, h) = (dim("width"), dim("height"));
    (doc, w, h)
}

/// Elements named `tag` whose attribute `attr` is `value` (any when `None`).
fn count(doc: &roxmltree::Document, tag: &str, attr: &str, value: Option<&str>) -> usize {
    doc.descendants()
        .filter(|n| n.tag_name().name() == tag)
        .filter(|n| {
            value.is_none_or(|v| n.attribute(attr).is_some_and(|a| a.eq_ignore_ascii_case(v)))
        })
        .count()
}

/// A PNG decoded: width, height and its pixels as RGBA.
fn decode_png(bytes: &[u8]) -> (u32, u32, Vec<[u8; 4]>) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Rgba, "{info:?}");
    let pixels = buf[..info.buffer_size()]
        .chunks_exact(4)
        .map(|p| [p[0], p[1], p[2], p[3]])
        .collect();
    (info.width, info.height, pixels)
}

/// How many pixels are within a few steps of `rgb`, opaque.
fn pixels_of(pixels: &[[u8; 4]], rgb: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| p[3] > 250 && (0..3).all(|i| p[i].abs_diff(rgb[i]) <= 6))
        .count()
}

async fn fetch(app: &TestApp, token: &str, path: &str, mime: &str) -> Vec<u8> {
    let resp = app
        .request(Method::GET, path, Some(token))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let got = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(got, mime, "{path}");
    resp.bytes().await.expect("read").to_vec()
}

pub async fn report_figures_are_files_of_their_own(backend: Backend) {
    let mut app = TestApp::spawn_without_alerts(backend).await;
    script(&mut app).await;
    let nrc = app.token(Role::CivilLiaison, "NRC").await;
    let army = app.token(Role::MilitaryLiaison, "ARMY").await;
    // A week: the incidents chart has a bar per day, and the earlier incident is in it.
    let civil = made(&app, &nrc, json!({"kind": "weekly"})).await;
    let military = made(&app, &army, json!({"kind": "weekly"})).await;
    let html = String::from_utf8(rendering(&app, &nrc, &civil, "html").await).unwrap();
    let figures = civil["links"]["figures"].as_object().expect("figures");
    let names: Vec<&str> = figures.keys().map(String::as_str).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let mut svgs = BTreeSet::new();
    for (name, links) in figures {
        for ext in ["svg", "png"] {
            let link = links[ext].as_str().unwrap();
            assert!(
                html.contains(&format!("href=\"{link}\"")),
                "the report links {link}"
            );
        }
        let svg = fetch(&app, &nrc, links["svg"].as_str().unwrap(), "image/svg+xml").await;
        let svg = String::from_utf8(svg).expect("UTF-8");
        let (_, w, h) = svg_size(&svg);
        let png = fetch(&app, &nrc, links["png"].as_str().unwrap(), "image/png").await;
        let (pw, ph, pixels) = decode_png(&png);
        assert_eq!(
            (pw, ph),
            ((w * 2.0).ceil() as u32, (h * 2.0).ceil() as u32),
            "{name}: the PNG is the SVG at twice its size"
        );
        let distinct: BTreeSet<[u8; 4]> = pixels.iter().copied().collect();
        assert!(distinct.len() > 10, "{name}: the PNG is drawn, not blank");
        svgs.insert((name.clone(), svg, pixels));
    }
    let get = |n: &str| svgs.iter().find(|(name, _, _)| name == n).unwrap();
    // The map: the audience's three incidents (dots) and its one constraint in force (a
    // square); the military audience's has two constraints in force.
    let (_, map, map_pixels) = get("map");
    let (doc, ..) = svg_size(map);
    assert_eq!(count(&doc, "circle", "r", None), 3, "{map}");
    assert_eq!(count(&doc, "rect", "fill", Some("#f2b01e")), 1);
    assert!(
        count(&doc, "text", "", None) >= 18,
        "the governorates are named"
    );
    assert!(
        pixels_of(map_pixels, [0xf2, 0xb0, 0x1e]) > 20,
        "the square is drawn"
    );
    let military_map = fetch(
        &app,
        &army,
        military["links"]["figures"]["map"]["svg"].as_str().unwrap(),
        "image/svg+xml",
    )
    .await;
    let military_map = String::from_utf8(military_map).unwrap();
    let (doc, ..) = svg_size(&military_map);
    assert_eq!(count(&doc, "rect", "fill", Some("#f2b01e")), 2);
    // Incidents per day: a bar per day of the week; the incidents fell on one day (two, should
    // the last hour straddle midnight).
    let (_, per_day, per_day_pixels) = get("incidents-per-day");
    let (doc, ..) = svg_size(per_day);
    let bars: Vec<f64> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "rect")
        .filter(|n| {
            n.attribute("fill")
                .is_some_and(|f| f.eq_ignore_ascii_case("#1f5f99"))
        })
        .map(|n| n.attribute("height").unwrap().parse().unwrap())
        .collect();
    assert!((7..=8).contains(&bars.len()), "{bars:?}");
    let drawn = bars.iter().filter(|h| **h > 0.0).count();
    assert!((1..=2).contains(&drawn), "{bars:?}");
    assert!(
        pixels_of(per_day_pixels, [0x1f, 0x5f, 0x99]) > 100,
        "the bars are drawn"
    );
    // Acknowledgement times: six buckets, the one acknowledgement in one of them.
    let (_, ack, _) = get("acknowledgement-times");
    let (doc, ..) = svg_size(ack);
    assert_eq!(count(&doc, "rect", "fill", Some("#1f5f99")), 6);
    // The displacement trend is a line.
    let (_, trend, _) = get("displacement-trend");
    let (doc, ..) = svg_size(trend);
    assert!(count(&doc, "polyline", "", None) + count(&doc, "path", "", None) > 0);

    // Another audience's report's figures do not exist; nor do other names.
    let id = civil["id"].as_str().unwrap();
    not_found(
        &app,
        &army,
        &[
            format!("/api/v1/reports/{id}/map.svg"),
            format!("/api/v1/reports/{id}/charts/incidents-per-day.png"),
        ],
    )
    .await;
    let base = format!("/api/v1/reports/{id}");
    not_found(
        &app,
        &nrc,
        &[
            format!("{base}/map.gif"),
            format!("{base}/charts/map.svg"),
            format!("{base}/charts/nosuch.svg"),
            format!("{base}/charts/incidents-per-day"),
            format!("{base}/legend.svg"),
        ],
    )
    .await;
    app.stop().await;
}
