//! The minutes of a meeting as one self-contained HTML page (A4 print styles, English or
//! Arabic right to left), and as a `document::Document` for the PDF engine, both written from
//! the meeting as `view::Reader::meeting` showed it to the reader: the policy has already
//! decided what is in it, so no other reader's items can be. Pure: no IO, no clock (`now` is
//! when the minutes were made).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::document::{Block, Document, Text};

/// The languages the minutes are written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ar,
}

impl Lang {
    pub fn parse(s: &str) -> Result<Lang, String> {
        match s {
            "en" => Ok(Lang::En),
            "ar" => Ok(Lang::Ar),
            other => Err(format!("`{other}` is not one of `en`, `ar`")),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ar => "ar",
        }
    }
}

/// A word of the minutes in `lang`.
pub fn word(lang: Lang, key: &str) -> &str {
    let ar = lang == Lang::Ar;
    let pair = match key {
        "minutes" => ("Minutes", "محضر الاجتماع"),
        "periodic" => ("Periodic coordination meeting", "اجتماع تنسيق دوري"),
        "emergency" => ("Emergency coordination meeting", "اجتماع تنسيق طارئ"),
        "starts_at" => ("Date and time", "التاريخ والوقت"),
        "chair" => ("Chair", "الرئاسة"),
        "participants" => ("Participants", "المشاركون"),
        "agenda" => ("Agenda", "جدول الأعمال"),
        "decisions" => ("Decisions", "القرارات"),
        "actions" => ("Action items", "بنود العمل"),
        "carried" => ("Open actions carried over", "بنود عمل مفتوحة مرحّلة"),
        "owner" => ("Owner", "الجهة المسؤولة"),
        "due" => ("Due", "الموعد النهائي"),
        "status" => ("Status", "الحالة"),
        "open" => ("open", "مفتوح"),
        "done" => ("done", "منجز"),
        "cancelled" => ("cancelled", "ملغى"),
        "overdue" => ("overdue", "متأخر"),
        "none" => ("None.", "لا يوجد."),
        "audience" => (
            "Shown as the sharing policy lets the reader see it: items the reader may not see are left out.",
            "معروض وفق سياسة المشاركة للقارئ: حُذفت العناصر التي لا يحق له الاطلاع عليها.",
        ),
        "made" => ("Made", "أُعدّ في"),
        "awaiting_acknowledgement" => ("Notification awaiting acknowledgement", "إخطار بانتظار الإقرار"),
        "movement_blocked" => ("Movement blocked", "حركة معطّلة"),
        "movement_aborted" => ("Movement aborted", "حركة ملغاة أثناء التنفيذ"),
        "incident_new" => ("New incident", "حادث جديد"),
        "incident_escalating" => ("Escalating incident", "حادث متصاعد"),
        "constraint_changed" => ("Constraint changed", "قيد تغيّر"),
        "needs_access" => ("Severe needs, poor access", "احتياجات شديدة ووصول ضعيف"),
        "action_open" => ("Open action carried over", "بند عمل مفتوح مرحّل"),
        "other" => ("Item", "بند"),
        _ => return "",
    };
    if ar {
        pair.1
    } else {
        pair.0
    }
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A time as the minutes show it: UTC, to the minute.
fn when(t: &str) -> String {
    crate::model::parse_time(t)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

const STYLE: &str = "@page{size:A4;margin:18mm 16mm}\
*{box-sizing:border-box}\
body{font-family:'Noto Sans','Noto Sans Arabic','DejaVu Sans',Arial,sans-serif;font-size:10.5pt;line-height:1.45;color:#111;margin:0 auto;max-width:178mm;padding:8mm 0}\
h1{font-size:17pt;margin:0 0 2mm}h2{font-size:12.5pt;margin:7mm 0 2mm;border-bottom:1.5pt solid #1f4e79;color:#1f4e79;padding-bottom:1mm;break-after:avoid}\
.kind{color:#555;margin:0 0 4mm}dl{display:grid;grid-template-columns:max-content 1fr;gap:1mm 5mm;margin:0}dt{font-weight:bold}dd{margin:0}\
ol,ul{padding-inline-start:7mm;margin:0}li{margin:1mm 0;break-inside:avoid}.tag{font-size:8.5pt;color:#1f4e79;font-weight:bold}.ref{font-size:7.5pt;color:#777;font-family:monospace}\
table{width:100%;border-collapse:collapse;font-size:9.5pt}th,td{border:0.6pt solid #999;padding:1.2mm 2mm;text-align:start;vertical-align:top}th{background:#e8eef5}\
tr{break-inside:avoid}.overdue{color:#a40000;font-weight:bold}.note{font-size:8.5pt;color:#555;margin-top:8mm;border-top:0.5pt solid #bbb;padding-top:2mm}\
@media print{body{padding:0;max-width:none}}";

fn actions_table(lang: Lang, list: &[Value]) -> String {
    if list.is_empty() {
        return format!("<p>{}</p>", word(lang, "none"));
    }
    let mut h = format!(
        "<table><thead><tr><th>#</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        word(lang, "actions"),
        word(lang, "owner"),
        word(lang, "due"),
        word(lang, "status")
    );
    for (i, a) in list.iter().enumerate() {
        let overdue = a.get("overdue").and_then(Value::as_bool).unwrap_or(false);
        let status = s(a, "status");
        let status = if overdue && status == "open" {
            format!(
                "<span class=\"overdue\">{} · {}</span>",
                word(lang, "open"),
                word(lang, "overdue")
            )
        } else {
            esc(word(lang, status))
        };
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td><bdi>{}</bdi></td><td><bdi>{}</bdi></td><td>{}</td></tr>",
            i + 1,
            esc(s(a, "text")),
            esc(s(a, "owner_org")),
            esc(&when(s(a, "due"))),
            status
        ));
    }
    h.push_str("</tbody></table>");
    h
}

/// The minutes of `meeting` (as the reader's view shows it) in `lang`.
pub fn html(meeting: &Value, lang: Lang, now: DateTime<Utc>) -> String {
    let dir = if lang == Lang::Ar { "rtl" } else { "ltr" };
    let empty = Vec::new();
    let list = |k: &str| meeting.get(k).and_then(Value::as_array).unwrap_or(&empty);
    let mut h = String::with_capacity(8192);
    h.push_str(&format!(
        "<!doctype html><html lang=\"{}\" dir=\"{dir}\"><head><meta charset=\"utf-8\"><title>{} — {}</title><style>{STYLE}</style></head><body>",
        lang.code(),
        word(lang, "minutes"),
        esc(s(meeting, "title"))
    ));
    h.push_str(&format!(
        "<h1>{}: {}</h1><p class=\"kind\">{}</p><dl><dt>{}</dt><dd><bdi>{}</bdi></dd><dt>{}</dt><dd><bdi>{}</bdi></dd><dt>{}</dt><dd><bdi>{}</bdi></dd></dl>",
        word(lang, "minutes"),
        esc(s(meeting, "title")),
        word(lang, s(meeting, "kind")),
        word(lang, "starts_at"),
        esc(&when(s(meeting, "starts_at"))),
        word(lang, "chair"),
        esc(s(meeting, "org")),
        word(lang, "participants"),
        esc(&list("participants")
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "))
    ));
    h.push_str(&format!("<h2>{}</h2>", word(lang, "agenda")));
    if list("agenda").is_empty() {
        h.push_str(&format!("<p>{}</p>", word(lang, "none")));
    } else {
        h.push_str("<ol>");
        for a in list("agenda") {
            // The chair's words when given; else the kind in the reader's language and the
            // item named as the reader sees it.
            let kind = s(a, "kind");
            let edited = a.get("edited").and_then(Value::as_bool).unwrap_or(false);
            let body = match a.get("subject").and_then(Value::as_str) {
                Some(subject) if !edited => format!(
                    "<span class=\"tag\">{}</span> <bdi>{}</bdi>",
                    word(lang, kind),
                    esc(subject)
                ),
                _ => format!(
                    "<span class=\"tag\">{}</span> {}",
                    word(lang, kind),
                    esc(s(a, "text"))
                ),
            };
            let reference = match a.get("ref").and_then(Value::as_str) {
                Some(r) => format!(" <span class=\"ref\"><bdi>{}</bdi></span>", esc(r)),
                None => String::new(),
            };
            h.push_str(&format!("<li>{body}{reference}</li>"));
        }
        h.push_str("</ol>");
    }
    h.push_str(&format!("<h2>{}</h2>", word(lang, "decisions")));
    if list("decisions").is_empty() {
        h.push_str(&format!("<p>{}</p>", word(lang, "none")));
    } else {
        h.push_str("<ol>");
        for d in list("decisions") {
            h.push_str(&format!("<li>{}</li>", esc(s(d, "text"))));
        }
        h.push_str("</ol>");
    }
    h.push_str(&format!("<h2>{}</h2>", word(lang, "actions")));
    h.push_str(&actions_table(lang, list("actions")));
    h.push_str(&format!("<h2>{}</h2>", word(lang, "carried")));
    h.push_str(&actions_table(lang, list("carried")));
    h.push_str(&format!(
        "<p class=\"note\">{} {} · <bdi>{}</bdi></p></body></html>",
        word(lang, "audience"),
        word(lang, "made"),
        now.format("%Y-%m-%d %H:%M UTC")
    ));
    h
}

/// One agenda item's words: its kind in `lang`, then the item named as the reader sees it (or
/// the chair's words), then its reference.
fn agenda_line(lang: Lang, a: &Value) -> (String, String, Option<String>) {
    let kind = word(lang, s(a, "kind")).to_string();
    let edited = a.get("edited").and_then(Value::as_bool).unwrap_or(false);
    let body = match a.get("subject").and_then(Value::as_str) {
        Some(subject) if !edited => subject.to_string(),
        _ => s(a, "text").to_string(),
    };
    (
        kind,
        body,
        a.get("ref").and_then(Value::as_str).map(str::to_string),
    )
}

fn actions_block(lang: Lang, list: &[Value]) -> Block {
    if list.is_empty() {
        return Block::Para(vec![Text::plain(word(lang, "none"))]);
    }
    Block::Table {
        head: vec![
            "#".into(),
            word(lang, "actions").into(),
            word(lang, "owner").into(),
            word(lang, "due").into(),
            word(lang, "status").into(),
        ],
        rows: list
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let overdue = a.get("overdue").and_then(Value::as_bool).unwrap_or(false);
                let status = if overdue && s(a, "status") == "open" {
                    Text::strong(format!(
                        "{} · {}",
                        word(lang, "open"),
                        word(lang, "overdue")
                    ))
                } else {
                    Text::plain(word(lang, s(a, "status")))
                };
                vec![
                    Text::plain((i + 1).to_string()),
                    Text::plain(s(a, "text")),
                    Text::plain(s(a, "owner_org")),
                    Text::plain(when(s(a, "due"))),
                    status,
                ]
            })
            .collect(),
        numeric: vec![true, false, false, false, false],
    }
}

/// The minutes as a document for the PDF engine: the same sections as `html`.
pub fn document(meeting: &Value, lang: Lang, now: DateTime<Utc>) -> Document {
    let empty = Vec::new();
    let list = |k: &str| meeting.get(k).and_then(Value::as_array).unwrap_or(&empty);
    let heading = |k: &str| Block::Heading {
        level: 1,
        text: word(lang, k).to_string(),
    };
    let none = || Block::Para(vec![Text::plain(word(lang, "none"))]);
    let participants = list("participants")
        .iter()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut blocks = vec![heading("agenda")];
    if list("agenda").is_empty() {
        blocks.push(none());
    } else {
        blocks.push(Block::Bullets(
            list("agenda")
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    let (kind, body, reference) = agenda_line(lang, a);
                    let mut line = vec![
                        Text::plain(format!("{}. ", i + 1)),
                        Text::strong(kind),
                        Text::plain(format!(" {body}")),
                    ];
                    if let Some(r) = reference {
                        line.push(Text::plain(format!(" ({r})")));
                    }
                    line
                })
                .collect(),
        ));
    }
    blocks.push(heading("decisions"));
    if list("decisions").is_empty() {
        blocks.push(none());
    } else {
        blocks.push(Block::Bullets(
            list("decisions")
                .iter()
                .enumerate()
                .map(|(i, d)| vec![Text::plain(format!("{}. {}", i + 1, s(d, "text")))])
                .collect(),
        ));
    }
    blocks.push(heading("actions"));
    blocks.push(actions_block(lang, list("actions")));
    blocks.push(heading("carried"));
    blocks.push(actions_block(lang, list("carried")));
    Document {
        lang: match lang {
            Lang::En => crate::document::Lang::En,
            Lang::Ar => crate::document::Lang::Ar,
        },
        title: format!("{}: {}", word(lang, "minutes"), s(meeting, "title")),
        subtitle: vec![
            word(lang, s(meeting, "kind")).to_string(),
            format!(
                "{}: {}",
                word(lang, "starts_at"),
                when(s(meeting, "starts_at"))
            ),
            format!("{}: {}", word(lang, "chair"), s(meeting, "org")),
            format!("{}: {participants}", word(lang, "participants")),
        ],
        footer: format!(
            "{} {} {}",
            word(lang, "audience"),
            word(lang, "made"),
            now.format("%Y-%m-%d %H:%M UTC")
        ),
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minutes_escape_and_turn_right_to_left_in_arabic() {
        let m = json!({"title": "<b>Weekly</b>", "kind": "periodic", "starts_at": "2026-12-07T09:00:00Z",
            "org": "OCHA", "participants": ["WFP", "ARMY"],
            "agenda": [{"kind": "other", "text": "AOB & close"}],
            "decisions": [], "actions": [{"text": "Fix road", "owner_org": "ARMY",
                "due": "2026-12-08T09:00:00Z", "status": "open", "overdue": true}], "carried": []});
        let en = html(&m, Lang::En, Utc::now());
        assert!(en.contains("&lt;b&gt;Weekly&lt;/b&gt;") && !en.contains("<b>Weekly"));
        assert!(en.contains("AOB &amp; close") && en.contains("overdue"));
        let ar = html(&m, Lang::Ar, Utc::now());
        assert!(ar.contains("dir=\"rtl\"") && ar.contains("جدول الأعمال") && ar.contains("متأخر"));
    }
}
