//! Request bodies of the meeting routes, read and checked at the boundary: every member is
//! named and typed, unknown members are refused by name, texts and lists are bounded, times
//! are RFC 3339 within the years items may name. Pure.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::log::meeting::{ActionStatus, AgendaKind, MeetingKind};
use crate::model::{item_time, validate_org, Invalid, Marking};

/// Longest title and longest free text of a meeting record.
pub const MAX_TITLE: usize = 200;
pub const MAX_TEXT: usize = 2_000;
/// Most participants and most agenda items.
pub const MAX_PARTICIPANTS: usize = 100;
pub const MAX_AGENDA: usize = 200;

fn object<'a>(
    v: &'a Value,
    field: &str,
    known: &[&str],
) -> Result<&'a Map<String, Value>, Invalid> {
    let obj = v
        .as_object()
        .ok_or_else(|| Invalid::new(field, "must be a JSON object"))?;
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            let at = if field.is_empty() {
                k.clone()
            } else {
                format!("{field}.{k}")
            };
            return Err(Invalid::new(
                at,
                format!("unknown member (expected {})", known.join(", ")),
            ));
        }
    }
    Ok(obj)
}

fn name(prefix: &str, k: &str) -> String {
    if prefix.is_empty() {
        k.to_string()
    } else {
        format!("{prefix}.{k}")
    }
}

fn text(
    obj: &Map<String, Value>,
    prefix: &str,
    k: &str,
    max: usize,
) -> Result<Option<String>, Invalid> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Err(Invalid::new(name(prefix, k), "must not be empty"));
            }
            if s.chars().count() > max {
                return Err(Invalid::new(
                    name(prefix, k),
                    format!("longer than {max} characters"),
                ));
            }
            if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                return Err(Invalid::new(name(prefix, k), "contains control characters"));
            }
            Ok(Some(s.to_string()))
        }
        Some(_) => Err(Invalid::new(name(prefix, k), "must be a string")),
    }
}

fn required<T>(v: Option<T>, field: String) -> Result<T, Invalid> {
    v.ok_or_else(|| Invalid::new(field, "is missing"))
}

fn word<T: std::str::FromStr<Err = String>>(
    obj: &Map<String, Value>,
    prefix: &str,
    k: &str,
) -> Result<Option<T>, Invalid> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|e| Invalid::new(name(prefix, k), e)),
        Some(_) => Err(Invalid::new(name(prefix, k), "must be a string")),
    }
}

fn time(obj: &Map<String, Value>, k: &str) -> Result<Option<DateTime<Utc>>, Invalid> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => item_time(s).map(Some).map_err(|e| Invalid::new(k, e)),
        Some(_) => Err(Invalid::new(k, "must be an RFC 3339 time string")),
    }
}

fn org(obj: &Map<String, Value>, k: &str) -> Result<Option<String>, Invalid> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => validate_org(s)
            .map(|_| Some(s.clone()))
            .map_err(|e| Invalid::new(k, e)),
        Some(_) => Err(Invalid::new(k, "must be an organisation code (a string)")),
    }
}

/// `POST /api/v1/meetings`: `{"title", "kind", "starts_at", "participants": [org...]}`.
pub struct NewMeeting {
    pub title: String,
    pub kind: MeetingKind,
    pub starts_at: DateTime<Utc>,
    pub participants: Vec<String>,
}

pub fn new_meeting(body: &Value) -> Result<NewMeeting, Invalid> {
    let obj = object(body, "", &["title", "kind", "starts_at", "participants"])?;
    let participants = match obj.get("participants") {
        None => return Err(Invalid::new("participants", "is missing")),
        Some(Value::Array(list)) => {
            if list.is_empty() || list.len() > MAX_PARTICIPANTS {
                return Err(Invalid::new(
                    "participants",
                    format!("must name 1 to {MAX_PARTICIPANTS} organisations"),
                ));
            }
            let mut out: Vec<String> = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let field = format!("participants[{i}]");
                let s = p
                    .as_str()
                    .ok_or_else(|| Invalid::new(field.clone(), "must be an organisation code"))?;
                validate_org(s).map_err(|e| Invalid::new(field.clone(), e))?;
                if out.iter().any(|o| o == s) {
                    return Err(Invalid::new(field, format!("`{s}` is named twice")));
                }
                out.push(s.to_string());
            }
            out
        }
        Some(_) => {
            return Err(Invalid::new(
                "participants",
                "must be a list of organisation codes",
            ))
        }
    };
    Ok(NewMeeting {
        title: required(text(obj, "", "title", MAX_TITLE)?, "title".into())?,
        kind: required(word(obj, "", "kind")?, "kind".into())?,
        starts_at: required(time(obj, "starts_at")?, "starts_at".into())?,
        participants,
    })
}

/// One entry of the chair's agenda (`PUT .../agenda`): `{"kind", "ref"?, "text"?, "marking"?}`.
pub struct AgendaEntry {
    pub kind: AgendaKind,
    pub reference: Option<String>,
    pub text: Option<String>,
    pub marking: Option<Marking>,
}

pub fn agenda(body: &Value) -> Result<Vec<AgendaEntry>, Invalid> {
    let obj = object(body, "", &["items"])?;
    let list = match obj.get("items") {
        Some(Value::Array(list)) => list,
        None => return Err(Invalid::new("items", "is missing")),
        Some(_) => return Err(Invalid::new("items", "must be a list of agenda items")),
    };
    if list.len() > MAX_AGENDA {
        return Err(Invalid::new(
            "items",
            format!("holds more than {MAX_AGENDA} items"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let p = format!("items[{i}]");
        let o = object(v, &p, &["kind", "ref", "text", "marking"])?;
        let kind: AgendaKind = required(word(o, &p, "kind")?, name(&p, "kind"))?;
        let reference = match o.get("ref") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() && s.len() <= 128 => Some(s.clone()),
            Some(_) => return Err(Invalid::new(name(&p, "ref"), "must be an id (a string)")),
        };
        let text = text(o, &p, "text", MAX_TEXT)?;
        let marking = word(o, &p, "marking")?;
        match (kind, &reference) {
            (AgendaKind::Other, Some(_)) => {
                return Err(Invalid::new(name(&p, "ref"), "an item of kind `other` names nothing"))
            }
            (AgendaKind::Other, None) if text.is_none() => {
                return Err(Invalid::new(name(&p, "text"), "an item of kind `other` needs its text"))
            }
            (AgendaKind::Other, None) => {}
            (_, None) => return Err(Invalid::new(name(&p, "ref"), "is missing")),
            (_, Some(_)) if marking.is_some() => {
                return Err(Invalid::new(
                    name(&p, "marking"),
                    "only the chair's own items (`other`) carry a marking; an item about the picture is shown as its item is",
                ))
            }
            (_, Some(_)) => {}
        }
        out.push(AgendaEntry {
            kind,
            reference,
            text,
            marking,
        });
    }
    Ok(out)
}

/// An action item's members as given (`POST` all but `status` required; `PATCH` any).
#[derive(Default)]
pub struct ActionInput {
    pub text: Option<String>,
    pub owner_org: Option<String>,
    pub due: Option<DateTime<Utc>>,
    pub status: Option<ActionStatus>,
    pub marking: Option<Marking>,
}

pub fn action(body: &Value, new: bool) -> Result<ActionInput, Invalid> {
    let obj = object(body, "", &["text", "owner_org", "due", "status", "marking"])?;
    let a = ActionInput {
        text: text(obj, "", "text", MAX_TEXT)?,
        owner_org: org(obj, "owner_org")?,
        due: time(obj, "due")?,
        status: word(obj, "", "status")?,
        marking: word(obj, "", "marking")?,
    };
    if new {
        required(a.text.as_ref(), "text".into())?;
        required(a.owner_org.as_ref(), "owner_org".into())?;
        required(a.due.as_ref(), "due".into())?;
    } else if obj.is_empty() {
        return Err(Invalid::new(
            "",
            "name at least one of text, owner_org, due, status, marking",
        ));
    }
    Ok(a)
}

/// `POST .../decisions`: `{"text", "marking"?}`.
pub fn decision(body: &Value) -> Result<(String, Option<Marking>), Invalid> {
    let obj = object(body, "", &["text", "marking"])?;
    Ok((
        required(text(obj, "", "text", MAX_TEXT)?, "text".into())?,
        word(obj, "", "marking")?,
    ))
}
