//! A meeting as one reader may see it: the only place a meeting becomes JSON. Every agenda
//! item about an item of the picture passes `Policy::decide` for the reader and is worded from
//! the item as `feature::render` shows it to them; one the reader may not see is left out
//! without a trace (no count, no gap). The chair's own records are shown by their marking
//! (`Policy::sees_record`). Pure: the caller passes the picture, the book and `now`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::agenda::carried;
use crate::log::meeting::{Action, AgendaItem, AgendaKind, Meeting, MeetingBook};
use crate::model::Layer;
use crate::picture::Picture;
use crate::policy::{Channel, MeetingAct, Policy, Viewer, Write};
use crate::scope::{Exercise, Scope};

/// What a reader's view of a meeting is made from.
pub struct Reader<'a> {
    pub policy: &'a Policy,
    pub viewer: &'a Viewer,
    pub picture: &'a Picture,
    pub now: DateTime<Utc>,
    /// Which exercise items the reader's lists hold (`[picture] exercise`), for the contact
    /// points a meeting lists.
    pub exercise: Exercise,
}

impl Reader<'_> {
    /// Whether the reader may chair `meeting` (edit its agenda, record decisions and actions):
    /// the gate's answer, asked without a write.
    pub fn may_chair(&self, meeting: &Meeting) -> bool {
        self.policy
            .admit(
                self.viewer,
                Channel::Rest,
                Write::Meeting {
                    current: Some(meeting),
                    act: MeetingAct::Chair { markings: &[] },
                },
            )
            .is_ok()
    }

    /// The item `id` as the reader may see it: its rendered properties.
    fn item(&self, id: &str) -> Option<Value> {
        let item = self.picture.get(id)?;
        let view = self.policy.decide(item, self.viewer)?;
        Some(crate::feature::render(item, &view)["properties"].take())
    }

    /// One agenda item as the reader may see it, or `None`.
    pub fn agenda_item(
        &self,
        book: &MeetingBook,
        meeting: &Meeting,
        a: &AgendaItem,
    ) -> Option<Value> {
        let subject = match a.kind {
            AgendaKind::Other => {
                if !self.policy.sees_record(self.viewer, meeting, a.marking) {
                    return None;
                }
                None
            }
            AgendaKind::ActionOpen => {
                let origin = book.get(a.with.as_deref()?)?;
                let action = origin.action(a.reference.as_deref()?)?;
                if !self.policy.sees_record(self.viewer, origin, action.marking) {
                    return None;
                }
                Some(format!(
                    "{} ({}, due {})",
                    action.text,
                    action.owner_org,
                    action.due.format("%Y-%m-%d %H:%M")
                ))
            }
            _ => {
                let props = self.item(a.reference.as_deref()?)?;
                // A movement blocked by a constraint is shown only to who sees both.
                if let Some(with) = &a.with {
                    self.item(with)?;
                }
                Some(subject(
                    a.layer,
                    a.reference.as_deref().unwrap_or(""),
                    &props,
                ))
            }
        };
        let text = match (&a.text, &subject) {
            (Some(t), _) => t.clone(),
            (None, Some(s)) => format!("{}: {s}", kind_words(a.kind)),
            (None, None) => kind_words(a.kind).to_string(),
        };
        let mut v = json!({"kind": a.kind, "text": text, "edited": a.text.is_some()});
        if let Some(r) = &a.reference {
            v["ref"] = json!(r);
        }
        if let Some(l) = a.layer {
            v["layer"] = json!(l);
        }
        if let Some(w) = &a.with {
            v["with"] = json!(w);
        }
        if let Some(s) = subject {
            v["subject"] = json!(s);
        }
        if a.kind == AgendaKind::Other {
            v["marking"] = json!(a.marking);
        }
        Some(v)
    }

    /// An action item as the reader may see it (`meeting` is where it was recorded).
    pub fn action(&self, meeting: &Meeting, a: &Action) -> Option<Value> {
        if !self.policy.sees_record(self.viewer, meeting, a.marking) {
            return None;
        }
        let overdue = a.overdue_since.is_some()
            || (a.status == crate::log::meeting::ActionStatus::Open && a.due <= self.now);
        let mut v = json!({
            "id": a.id, "meeting": meeting.id, "text": a.text, "owner_org": a.owner_org,
            "due": a.due, "status": a.status, "marking": a.marking, "overdue": overdue,
            "created_at": a.created_at, "updated_at": a.updated_at,
        });
        if let Some(t) = a.done_at {
            v["done_at"] = json!(t);
        }
        if let Some(t) = a.overdue_since {
            v["overdue_since"] = json!(t);
        }
        Some(v)
    }

    /// The contact points of each organisation of the meeting (the chair's, then the
    /// participants'), as the reader may see them: the contacts layer's own items through
    /// `Policy::decide` and `feature::render`, so a personal field the policy withholds from
    /// the reader (a military liaison's phone from the civil side, unless released) is absent
    /// here as it is everywhere. Exercise contact points count as in the server's lists.
    pub fn contacts(&self, m: &Meeting) -> Value {
        let mut orgs = vec![m.org.as_str()];
        for p in &m.participants {
            if !orgs.contains(&p.as_str()) {
                orgs.push(p);
            }
        }
        let mut points: Vec<_> = self
            .picture
            .collect(Some(Layer::Contacts))
            .into_iter()
            .filter(|c| orgs.contains(&&*c.org))
            .filter_map(|c| Some((self.policy.decide(&c, self.viewer)?, c)))
            .filter(|(view, c)| Scope::everything(self.exercise).admits(c, view))
            .collect();
        points.sort_by(|(_, a), (_, b)| {
            let name = |i: &crate::model::Item| i.contact().map(|c| c.name.clone());
            name(a).cmp(&name(b)).then(a.id.cmp(&b.id))
        });
        let by_org: Vec<Value> = orgs
            .iter()
            .map(|org| {
                let list: Vec<Value> = points
                    .iter()
                    .filter(|(_, c)| *c.org == **org)
                    .map(|(view, c)| {
                        let mut p = crate::feature::render(c, view)["properties"].take();
                        p["id"] = json!(c.id);
                        // Flagged only from what the reader is shown of it.
                        if let Some(k) = c
                            .contact()
                            .filter(|_| !view.hidden.contains("confirmed_at"))
                        {
                            p["unconfirmed"] = json!(k.unconfirmed(c.created_at, self.now));
                        }
                        p
                    })
                    .collect();
                json!({"org": org, "points": list})
            })
            .collect();
        json!(by_org)
    }

    /// The meeting as the reader may see it, or `None` when it does not exist for them.
    pub fn meeting(&self, book: &MeetingBook, m: &Meeting) -> Option<Value> {
        if !self.policy.sees_meeting(self.viewer, m) {
            return None;
        }
        let agenda: Vec<Value> = m
            .agenda
            .iter()
            .filter_map(|a| self.agenda_item(book, m, a))
            .collect();
        let actions: Vec<Value> = m.actions.iter().filter_map(|a| self.action(m, a)).collect();
        let carried: Vec<Value> = carried(book, m)
            .iter()
            .filter_map(|(origin, a)| self.action(origin, a))
            .collect();
        let decisions: Vec<Value> = m
            .decisions
            .iter()
            .filter(|d| self.policy.sees_record(self.viewer, m, d.marking))
            .map(|d| json!({"id": d.id, "text": d.text, "marking": d.marking, "at": d.at}))
            .collect();
        let mut v = summary(m);
        v["chair"] = json!(m.chair);
        v["agenda"] = json!(agenda);
        v["actions"] = json!(actions);
        v["carried"] = json!(carried);
        v["decisions"] = json!(decisions);
        v["contacts"] = self.contacts(m);
        v["may_chair"] = json!(self.may_chair(m));
        if let Some(t) = m.drafted_at {
            v["drafted_at"] = json!(t);
        }
        Some(v)
    }

    /// A line of the meetings list, or `None` when the meeting does not exist for the reader.
    pub fn listed(&self, book: &MeetingBook, m: &Meeting) -> Option<Value> {
        if !self.policy.sees_meeting(self.viewer, m) {
            return None;
        }
        let own = m.actions.iter().map(|a| (m, a));
        let carried = carried(book, m);
        let overdue = own
            .chain(carried.iter().map(|(o, a)| (&**o, a)))
            .filter(|(o, a)| {
                a.overdue_since.is_some() && self.policy.sees_record(self.viewer, o, a.marking)
            })
            .count();
        let mut v = summary(m);
        v["overdue_actions"] = json!(overdue);
        Some(v)
    }
}

fn summary(m: &Meeting) -> Value {
    json!({
        "id": m.id, "title": m.title, "kind": m.kind, "starts_at": m.starts_at,
        "participants": m.participants, "org": m.org, "version": m.version,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "links": {
            "self": format!("/api/v1/meetings/{}", m.id),
            "minutes_html": format!("/api/v1/meetings/{}/minutes.html", m.id),
            "minutes_pdf": format!("/api/v1/meetings/{}/minutes.pdf", m.id),
        },
    })
}

/// An item named from what the reader sees of it: its name, or its type, then its owner.
fn subject(layer: Option<Layer>, id: &str, props: &Value) -> String {
    let s = |k: &str| props.get(k).and_then(Value::as_str);
    let what = match layer {
        Some(Layer::Incidents) => {
            let kind = s("sub_event_type")
                .or(s("event_type"))
                .unwrap_or(id)
                .replace('_', " ");
            match props.get("severity").and_then(Value::as_u64) {
                Some(sev) => format!("{kind}, severity {sev}"),
                None => kind,
            }
        }
        Some(Layer::Needs) => {
            let sector = s("sector").unwrap_or(id).replace('_', " ");
            let mut words = match props.get("severity").and_then(Value::as_u64) {
                Some(sev) => format!("{sector}, severity {sev}"),
                None => sector,
            };
            if let Some(n) = props.get("people_in_need").and_then(Value::as_u64) {
                words.push_str(&format!(", {n} in need"));
            }
            if let Some(area) = s("area") {
                words.push_str(&format!(", {area}"));
            }
            words
        }
        Some(Layer::Constraints) => {
            let kind = s("category").unwrap_or(id).replace('_', " ");
            match s("status") {
                Some(st) => format!("{kind}, {st}"),
                None => kind,
            }
        }
        _ => s("name").unwrap_or(id).to_string(),
    };
    match s("org") {
        Some(org) => format!("{what} ({org})"),
        None => what,
    }
}

/// The English words for an agenda item's kind (the pages and the minutes word it in the
/// reader's language from `kind`).
pub fn kind_words(kind: AgendaKind) -> &'static str {
    match kind {
        AgendaKind::AwaitingAcknowledgement => "Notification awaiting acknowledgement",
        AgendaKind::MovementBlocked => "Movement blocked",
        AgendaKind::MovementAborted => "Movement aborted",
        AgendaKind::IncidentNew => "New incident",
        AgendaKind::IncidentEscalating => "Escalating incident",
        AgendaKind::ConstraintChanged => "Constraint changed",
        AgendaKind::NeedsAccess => "Severe needs, poor access",
        AgendaKind::ActionOpen => "Open action carried over",
        AgendaKind::Other => "Item",
    }
}
