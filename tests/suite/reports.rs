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
            common::incident(json!({"event_type": "battles", "sub_event_type": null, "fatalities": 1, "occurred_at": at(120)})),
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
    let (s, b) = app
        .patch(
            &format!("/api/v1/constraints/{lifted}"),
            &army,
            json!({"properties": {"status": "open", "restriction": null}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
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
        let (s, b) = app
            .post(&format!("/api/v1/movements/{id}/notify"), &wfp, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) = app
        .post(
            &format!("/api/v1/movements/{completed}/acknowledge"),
            &army,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for status in ["en_route", "arrived"] {
        let (s, b) = app
            .patch(
                &format!("/api/v1/movements/{completed}"),
                &wfp,
                json!({"properties": {"status": status}}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (s, b) = app
        .patch(
            &format!("/api/v1/movements/{aborted}"),
            &wfp,
            json!({"properties": {"status": "en_route"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app
        .patch(
            &format!("/api/v1/movements/{aborted}"),
            &wfp,
            json!({"properties": {"status": "aborted", "description": "bridge down at Qayyarah"}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
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
    let ask = json!({"kind": "daily", "from": from, "lang": "en"});
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
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert!(
        civil_pdf.contains(&squeeze("Daily situation report")),
        "{civil_pdf}"
    );
    assert!(civil_pdf.contains(&squeeze(&h.civil)), "{civil_pdf}");
    assert!(civil_pdf.contains(&squeeze("bridge down at Qayyarah")));
    assert!(!civil_pdf.contains(&squeeze(&h.military)));
    assert!(!civil_pdf.contains("SECRETBRAVO"));
    assert!(!civil_pdf.contains(&squeeze(&h.secret_checkpoint)));
    assert!(
        military_pdf.contains(&squeeze(&h.military)),
        "{military_pdf}"
    );
    assert!(military_pdf.contains("SECRETBRAVO"));
    assert!(!military_pdf.contains(&squeeze(&h.civil)));
    assert!(!military_pdf.contains("CIVILONLY"));
    assert!(!military_pdf.contains(&squeeze("bridge down")));

    // Another audience's report does not exist for the caller.
    let id = civil["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/reports/{id}"),
        format!("/api/v1/reports/{id}.pdf"),
    ] {
        reply(app.request(Method::GET, &path, Some(&army)))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
    let (_, list) = app.get("/api/v1/reports", &army).await;
    let listed: Vec<&str> = list["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(listed, vec![military["id"].as_str().unwrap()]);

    // Made again at the same seq (nothing happened since), the report is the same.
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
        "سجلت 2 حوادث",
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
    for path in [
        "/api/v1/reports/nosuch",
        "/api/v1/reports/nosuch.pdf",
        "/api/v1/reports/x.doc",
        "/api/v1/reports/..%2Fetc.html",
    ] {
        reply(app.request(Method::GET, path, Some(&nrc)))
            .await
            .problem(StatusCode::NOT_FOUND);
    }
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
