//! `report` notices (issue 16): a situation report was made. About no item: logged on the
//! report's id, told only to the report's audience as the policy decides it
//! (`Policy::announces_report`), worded from the notice alone, which names nothing the
//! audience may not read (its own report's kind, period and links). Pure.

use serde_json::{json, Value};

use super::wording;
use crate::log::alert::{Alert, AlertKind, Logged};
use crate::log::format_time;
use crate::policy::{Policy, Viewer};

/// Whether `alert` is a report notice.
pub fn is_report(alert: &Alert) -> bool {
    alert.kind == AlertKind::Report
}

/// Whether `viewer` is told of the report notice `alert`: the report's audience, when its
/// role receives alerts. Never anyone else, whatever they may see of the picture.
pub fn recipient(policy: &Policy, viewer: &Viewer, alert: &Alert) -> bool {
    is_report(alert)
        && alert
            .report
            .as_ref()
            .is_some_and(|r| policy.announces_report(viewer, &r.role, &r.org))
}

/// The notice as its audience reads it (JSON, the shape of every alert), with links to the
/// report and its renderings.
pub fn render(l: &Logged) -> Value {
    let a = &l.alert;
    let Some(r) = &a.report else {
        return Value::Null;
    };
    let day = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    let kind = match r.kind.as_str() {
        "daily" => "Daily",
        "weekly" => "Weekly",
        _ => "Monthly",
    };
    let message = format!(
        "{kind} situation report for {} to {} is ready ({})",
        day(r.from),
        day(r.to),
        r.id
    );
    let wording = wording::report(r);
    let base = format!("/api/v1/reports/{}", r.id);
    json!({
        "id": l.seq,
        "at": format_time(l.at),
        "kind": a.kind,
        "state": a.state,
        "condition": a.key,
        "report": {
            "id": r.id,
            "kind": r.kind,
            "lang": r.lang,
            "from": format_time(r.from),
            "to": format_time(r.to),
            "seq": r.seq,
            "links": {
                "self": base,
                "html": format!("{base}.html"),
                "pdf": format!("{base}.pdf"),
            },
        },
        "message": message,
        "message_key": wording.key,
        "message_params": wording.params,
    })
}
