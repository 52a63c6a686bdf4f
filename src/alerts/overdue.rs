//! Overdue action alerts (issue 17): who is told that an open action item of a coordination
//! meeting is past its due time, and how each reads it. The meeting's own events make the
//! alert (`log::meeting::alert_of`); it carries the meeting's audience and the action as judged
//! (`ActionAlert`), so it is addressed and worded from them as a convoy alert is from the item
//! it carries. Pure.
//!
//! Recipients, among the roles that receive alerts: those that receive every alert they may
//! see (`alerts:all`: coordinators), and, with `alerts:own`, the action's owner organisation
//! (it has to act) and the chair's organisation (it follows the action up); of those only a
//! viewer who takes part in the meeting and may read the action's marking
//! (`Policy::sees_record_of`, the meeting's own rule). So wall displays, which take part in no
//! meeting, are not told, nor a participant the action does not concern: it reads the overdue
//! flag in the meeting itself. A viewer for whom the meeting does not exist never learns of
//! the action through an alert.

use serde_json::{json, Value};

use crate::access::short_time;
use crate::log::alert::{AlertState, Logged};
use crate::log::meeting::{ActionAlert, ActionStatus};
use crate::message::Message;
use crate::policy::{Capability, Policy, Viewer};
use crate::scope::{Exercise, Scope};

/// The alert's meeting and action, when it is an overdue alert.
pub fn about(l: &Logged) -> Option<&ActionAlert> {
    l.alert.action.as_deref()
}

/// Whether `viewer` is told of the overdue alert about `a`.
pub fn recipient(policy: &Policy, viewer: &Viewer, a: &ActionAlert) -> bool {
    let own = *viewer.org == *a.action.owner_org || *viewer.org == *a.org;
    let addressed = policy.may(viewer, Capability::AlertsAll)
        || (own && policy.may(viewer, Capability::AlertsOwn));
    addressed && policy.sees_record_of(viewer, &a.org, &a.participants, a.action.marking)
}

/// Whether a subscriber's scope takes an overdue alert: it is about no place, no layer and no
/// exercise, so only a scope that narrows none of these does.
pub fn in_scope(scope: &Scope) -> bool {
    scope.layers.is_none() && scope.bbox.is_none() && scope.exercise != Exercise::Only
}

/// The message, as a key with parameters and in English.
fn wording(l: &Logged, a: &ActionAlert) -> (Message, String) {
    let act = &a.action;
    let base = |key| {
        Message::new(key)
            .with("action", act.text.as_str())
            .with("owner", act.owner_org.as_str())
            .with("meeting", a.title.as_str())
    };
    let who = format!(
        "Action \u{201c}{}\u{201d} ({}) of the meeting \u{201c}{}\u{201d}",
        act.text, act.owner_org, a.title
    );
    match l.alert.state {
        _ if l.alert.withdrawn => (
            Message::new("msg.alert.overdue_withdrawn")
                .with("id", act.id.as_str())
                .with("meeting", a.title.as_str()),
            format!(
                "The overdue alert about action {} of the meeting \u{201c}{}\u{201d} is withdrawn",
                act.id, a.title
            ),
        ),
        AlertState::Raised | AlertState::Notice => (
            base("msg.alert.overdue").time("due", act.due),
            format!("{who} was due at {} and is overdue", short_time(act.due)),
        ),
        AlertState::Ended => match act.status {
            ActionStatus::Done => (base("msg.alert.overdue_done"), format!("{who} is done")),
            ActionStatus::Cancelled => (
                base("msg.alert.overdue_cancelled"),
                format!("{who} is cancelled"),
            ),
            ActionStatus::Open => (
                base("msg.alert.overdue_rescheduled").time("due", act.due),
                format!(
                    "{who} is no longer overdue: now due at {}",
                    short_time(act.due)
                ),
            ),
        },
    }
}

/// The overdue alert as its recipients read it (JSON): the same members as a convoy alert,
/// with `meeting` and `action` instead of `movement` and `item`.
pub fn render(l: &Logged, a: &ActionAlert) -> Value {
    let (msg, message) = wording(l, a);
    let act = &a.action;
    let mut action = json!({
        "id": act.id, "text": act.text, "owner_org": act.owner_org,
        "due": crate::log::format_time(act.due),
    });
    if !l.alert.withdrawn {
        action["status"] = json!(act.status);
    }
    let mut out = json!({
        "id": l.seq,
        "at": crate::log::format_time(l.at),
        "kind": l.alert.kind,
        "state": l.alert.state,
        "condition": l.alert.key,
        "meeting": {"id": a.meeting, "title": a.title},
        "action": action,
        "message": message,
        "message_key": msg.key,
        "message_params": msg.params,
    });
    if l.alert.withdrawn {
        out["reason"] = json!("withdrawn");
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::log::meeting::{alert_of, Action, Meeting, MeetingChange, MeetingKind};
    use crate::model::{Marking, Role};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn meeting(action: Action) -> Meeting {
        let t = at("2026-12-07T09:00:00Z");
        Meeting {
            id: "mtg-1".into(),
            title: "Weekly".into(),
            kind: MeetingKind::Periodic,
            starts_at: t,
            participants: vec!["WFP".into(), "ARMY".into()],
            org: "JCMC".into(),
            chair: "desk".into(),
            created_at: t,
            updated_at: t,
            version: 3,
            agenda: Vec::new(),
            drafted_at: None,
            actions: vec![action],
            decisions: Vec::new(),
        }
    }

    fn action(owner: &str, marking: Marking) -> Action {
        let t = at("2026-12-07T09:00:00Z");
        Action {
            id: "act-1".into(),
            text: "Clear the culvert".into(),
            owner_org: owner.into(),
            due: at("2026-12-07T12:00:00Z"),
            status: ActionStatus::Open,
            marking,
            created_at: t,
            updated_at: t,
            done_at: None,
            overdue_since: None,
        }
    }

    /// The alert an `Overdue` event makes, then the one the action's next change makes.
    fn raised_then(next: Action) -> (Logged, Option<Logged>) {
        let before = meeting(action("ARMY", Marking::Joint));
        let mut raised = before.clone();
        raised.actions[0].overdue_since = Some(at("2026-12-07T12:00:01Z"));
        let change = MeetingChange::Overdue {
            action: "act-1".into(),
        };
        let logged = |alert, seq| Logged {
            seq,
            at: at("2026-12-07T12:00:01Z"),
            movement: "mtg-1".into(),
            alert,
        };
        let up = logged(alert_of(Some(&before), &raised, &change).unwrap(), 7);
        let mut after = raised.clone();
        after.actions[0] = next.clone();
        let change = MeetingChange::Action { action: next };
        let down = alert_of(Some(&raised), &after, &change).map(|a| logged(a, 8));
        (up, down)
    }

    #[test]
    fn an_overdue_alert_is_raised_and_ended_by_the_meetings_events() {
        let (up, _) = raised_then(action("ARMY", Marking::Joint));
        assert_eq!(up.alert.kind.as_str(), "overdue");
        assert_eq!(up.alert.state, AlertState::Raised);
        assert_eq!(up.alert.key, "overdue:act-1");
        let v = render(&up, about(&up).unwrap());
        assert_eq!(v["message_key"], "msg.alert.overdue");
        assert_eq!(
            v["message"],
            "Action \u{201c}Clear the culvert\u{201d} (ARMY) of the meeting \u{201c}Weekly\u{201d} \
             was due at 2026-12-07T12:00Z and is overdue"
        );
        assert_eq!(v["meeting"]["id"], "mtg-1");
        assert!(v.get("movement").is_none());
        // A change that leaves it overdue (its text) makes no alert.
        let mut reworded = action("ARMY", Marking::Joint);
        reworded.text = "Clear the culvert now".into();
        reworded.overdue_since = Some(at("2026-12-07T12:00:01Z"));
        assert!(raised_then(reworded).1.is_none());
        for (status, key) in [
            (ActionStatus::Done, "msg.alert.overdue_done"),
            (ActionStatus::Cancelled, "msg.alert.overdue_cancelled"),
            (ActionStatus::Open, "msg.alert.overdue_rescheduled"),
        ] {
            let mut next = action("ARMY", Marking::Joint);
            next.status = status;
            let (_, down) = raised_then(next);
            let down = down.expect("ended");
            assert_eq!(down.alert.state, AlertState::Ended);
            assert!(!down.alert.withdrawn);
            assert_eq!(render(&down, about(&down).unwrap())["message_key"], key);
        }
        // Re-marked or handed to another owner: withdrawn, as those told of it saw it.
        for next in [
            action("ARMY", Marking::Military),
            action("WFP", Marking::Joint),
        ] {
            let (_, down) = raised_then(next);
            let down = down.expect("withdrawn");
            assert!(down.alert.withdrawn);
            assert_eq!(about(&down).unwrap().action.owner_org, "ARMY");
            assert_eq!(about(&down).unwrap().action.marking, Marking::Joint);
            let v = render(&down, about(&down).unwrap());
            assert_eq!(v["reason"], "withdrawn");
            assert_eq!(v["message_key"], "msg.alert.overdue_withdrawn");
        }
    }

    #[test]
    fn the_owner_the_chair_and_coordinators_are_told_if_they_may_read_it() {
        let policy = Policy::default_policy();
        let told = |role: Role, org: &str, owner: &str, marking: Marking| {
            let (up, _) = raised_then(action("ARMY", Marking::Joint));
            let mut a = about(&up).unwrap().clone();
            a.action.owner_org = owner.into();
            a.action.marking = marking;
            recipient(&policy, &Viewer::new(role, org), &a)
        };
        use Marking::{Civil, Joint, Military};
        use Role as R;
        for (role, org, owner, marking, expected) in [
            (R::MilitaryLiaison, "ARMY", "ARMY", Joint, true),
            (R::MilitaryLiaison, "ARMY", "ARMY", Civil, false),
            (R::MilitaryLiaison, "ARMY", "WFP", Joint, false),
            (R::ConvoyPlanner, "WFP", "WFP", Civil, true),
            (R::ConvoyPlanner, "WFP", "WFP", Military, false),
            (R::CivilLiaison, "JCMC", "ARMY", Military, true),
            (R::Coordinator, "OCHA", "ARMY", Military, true),
            (R::CivilLiaison, "UNHCR", "UNHCR", Joint, false),
            (R::WallDisplay, "JCMC", "ARMY", Joint, false),
            (R::WallDisplay, "ARMY", "ARMY", Joint, false),
        ] {
            assert_eq!(
                told(role, org, owner, marking),
                expected,
                "{role} of {org}, owner {owner}, {marking}"
            );
        }
        let mut peer = Viewer::new(Role::Coordinator, "OCHA");
        peer.peer = Some("north".into());
        let (up, _) = raised_then(action("ARMY", Marking::Joint));
        assert!(!recipient(&policy, &peer, about(&up).unwrap()));
    }
}
