//! Who may write what: capabilities as data, and the one admission decision for every write.
//!
//! A role is a set of named capabilities read from `config/policy.toml` (`may = [...]`); code
//! asks for a capability, never for a role's name. `Policy::admit` judges every write that
//! reaches the writer, whatever channel it came by (REST, CoT, TAK over WebSocket, the demo,
//! imports, federation, the server's own timers): the writer calls it once per command, and
//! no handler or listener decides rights itself. Pure: no IO, no clock.

use std::collections::BTreeSet;
use std::fmt;

use crate::log::meeting::Meeting;
use crate::model::{Item, Layer, Marking, FEDERATED_ID_PREFIX};

use super::{Policy, Viewer};

/// Whose items a capability reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Items of the caller's own organisation.
    Own,
    /// Every organisation's items.
    Any,
}

/// One thing a role may do. Written in the policy as `action` or `action:object`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// `create:LAYER` (`create:*` for every layer): create items in a layer.
    Create(Layer),
    /// `mark:MARKING` (`mark:*`): give an item this marking, when creating it or changing it.
    Mark(Marking),
    /// `change:own` / `change:any`: revise an item (PATCH, a CoT update of it).
    Change(Scope),
    /// `retire:own` / `retire:any`: retire an item (DELETE, a CoT delete).
    Retire(Scope),
    /// `notify:own` / `notify:any`: notify a movement to the military side.
    Notify(Scope),
    /// `position:own` / `position:any`: report a movement's position.
    Position(Scope),
    /// `acknowledge`: acknowledge a movement notification for one's organisation.
    Acknowledge,
    /// `relay`: pass one's own CoT positions and chat on to the other CoT clients of one's side.
    Relay,
    /// `alerts:all`: receive every convoy alert one may see.
    AlertsAll,
    /// `alerts:own`: receive convoy alerts about one's organisation's movements.
    AlertsOwn,
    /// `alerts:unacknowledged`: receive the alerts of notifications awaiting acknowledgement.
    AlertsUnacknowledged,
    /// `audit`: read which organisations received an item (`GET /api/v1/audit`).
    Audit,
    /// `meetings:own` / `meetings:any`: call coordination meetings and chair them (agenda,
    /// decisions, action items): those of one's organisation, or anyone's.
    Meetings(Scope),
}

impl Capability {
    /// Parses one entry of a role's `may` list; `*` expands to every layer or marking.
    pub fn parse(text: &str) -> Result<Vec<Capability>, String> {
        let (action, object) = match text.split_once(':') {
            Some((a, o)) => (a, Some(o)),
            None => (text, None),
        };
        let scope = |o: Option<&str>| match o {
            Some("own") => Ok(Scope::Own),
            Some("any") => Ok(Scope::Any),
            _ => Err(format!("`{text}`: say `{action}:own` or `{action}:any`")),
        };
        let caps = match (action, object) {
            ("create", Some("*")) => Layer::ALL.iter().map(|l| Capability::Create(*l)).collect(),
            ("create", Some(l)) => vec![Capability::Create(
                l.parse().map_err(|e| format!("`{text}`: {e}"))?,
            )],
            ("mark", Some("*")) => Marking::ALL.iter().map(|m| Capability::Mark(*m)).collect(),
            ("mark", Some(m)) => vec![Capability::Mark(
                m.parse().map_err(|e| format!("`{text}`: {e}"))?,
            )],
            ("change", o) => vec![Capability::Change(scope(o)?)],
            ("retire", o) => vec![Capability::Retire(scope(o)?)],
            ("notify", o) => vec![Capability::Notify(scope(o)?)],
            ("position", o) => vec![Capability::Position(scope(o)?)],
            ("acknowledge", None) => vec![Capability::Acknowledge],
            ("relay", None) => vec![Capability::Relay],
            ("alerts", Some("all")) => vec![Capability::AlertsAll],
            ("alerts", Some("own")) => vec![Capability::AlertsOwn],
            ("alerts", Some("unacknowledged")) => vec![Capability::AlertsUnacknowledged],
            ("audit", None) => vec![Capability::Audit],
            ("meetings", o) => vec![Capability::Meetings(scope(o)?)],
            _ => {
                return Err(format!(
                    "`{text}` is not a capability (known: create:LAYER, mark:MARKING, \
                     change:own|any, retire:own|any, notify:own|any, position:own|any, \
                     acknowledge, relay, alerts:all|own|unacknowledged, audit, \
                     meetings:own|any)"
                ))
            }
        };
        Ok(caps)
    }
}

/// What a role may do: the union of its `may` entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rights(BTreeSet<Capability>);

impl Rights {
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Rights, String> {
        let mut set = BTreeSet::new();
        for e in entries {
            set.extend(Capability::parse(e.as_ref())?);
        }
        Ok(Rights(set))
    }

    pub fn has(&self, c: Capability) -> bool {
        self.0.contains(&c)
    }

    /// Whether a scoped capability reaches an item of `owner` for a caller of `org`.
    pub(super) fn reaches(&self, cap: fn(Scope) -> Capability, owner: &str, org: &str) -> bool {
        self.has(cap(Scope::Any)) || (owner == org && self.has(cap(Scope::Own)))
    }
}

/// The way a write reached the server. The gate admits the federation link's and the server's
/// own commands only from their channels; every other channel is judged by the caller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The REST API.
    Rest,
    /// Cursor on Target: plain TCP, TLS, and TAK protocol over WebSocket.
    Cot,
    /// The exercise scenario of `cmcop demo`.
    Demo,
    /// A file import (CLI or API).
    Import,
    /// A peer centre's feed, applied by its federation link.
    Federation,
    /// The server itself: expiry, staleness, convoy alerts.
    System,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Rest => "rest",
            Channel::Cot => "cot",
            Channel::Demo => "demo",
            Channel::Import => "import",
            Channel::Federation => "federation",
            Channel::System => "system",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A write as the gate judges it: the action, and the item as it is (`current`) and as it
/// would be. The writer builds it from a command and the picture it stages against.
#[derive(Clone, Copy, Debug)]
pub enum Write<'a> {
    Create {
        item: &'a Item,
    },
    Change {
        current: &'a Item,
        next: &'a Item,
    },
    Retire {
        current: &'a Item,
    },
    Notify {
        current: &'a Item,
    },
    Position {
        current: &'a Item,
    },
    Acknowledge {
        current: &'a Item,
    },
    /// A peer centre's item as its feed carries it (`centre` names the peer).
    Federate {
        centre: &'a str,
    },
    /// A coordination meeting: its creation or a change to it (issue 17.2), judged in
    /// `policy::meetings`.
    Meeting {
        /// The meeting as it is; `None` when it is being created.
        current: Option<&'a Meeting>,
        act: MeetingAct<'a>,
    },
    /// Expiry, staleness or an alert: the server's own bookkeeping.
    System,
}

/// What a meeting write does, as the gate judges it.
#[derive(Clone, Copy, Debug)]
pub enum MeetingAct<'a> {
    /// Calls a meeting in the caller's name (`org`, the chair's organisation).
    Create { org: &'a str },
    /// The chair's work: the agenda, decisions, action items; `markings` are those the write
    /// gives (of the chair's own agenda items, decisions and actions).
    Chair { markings: &'a [Marking] },
    /// Reports the status of an action item owned by `owner_org` (only its status changes).
    Report { owner_org: &'a str },
}

/// Why the gate refused a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The caller may not see the item: it does not exist for them.
    NotFound,
    /// The caller sees the item (or the layer) but may not do this; the text says why.
    Forbidden(String),
}

impl Policy {
    /// Whether `viewer`, writing by `channel`, may make `write`. The one decision on rights:
    /// the writer asks it once per command, for every channel alike.
    pub fn admit(
        &self,
        viewer: &Viewer,
        channel: Channel,
        write: Write<'_>,
    ) -> Result<(), Refusal> {
        match write {
            Write::System if channel == Channel::System => Ok(()),
            Write::System => Err(Refusal::Forbidden(
                "only the server itself expires items and raises alerts".into(),
            )),
            Write::Federate { centre } => {
                if channel == Channel::Federation && viewer.peer.as_deref() == Some(centre) {
                    Ok(())
                } else {
                    Err(Refusal::Forbidden(format!(
                        "only the federation link of {centre} writes the items it shares"
                    )))
                }
            }
            _ if matches!(channel, Channel::System | Channel::Federation) => {
                Err(Refusal::Forbidden(format!(
                    "the {channel} channel makes no writes of this kind"
                )))
            }
            _ => self.admit_user(viewer, write),
        }
    }

    /// A write of a person or a client, judged by the caller's role.
    fn admit_user(&self, viewer: &Viewer, write: Write<'_>) -> Result<(), Refusal> {
        let forbidden = |why: String| Err(Refusal::Forbidden(why));
        let role = viewer.role;
        let Some(rp) = self.roles.get(&role) else {
            return forbidden(format!("the role `{role}` is not in the sharing policy"));
        };
        let rights = &rp.rights;
        let org = &*viewer.org;
        // An item being changed must be one the caller sees, and one made here.
        let existing = |item: &Item| -> Result<(), Refusal> {
            if self.decide(item, viewer).is_none() {
                return Err(Refusal::NotFound);
            }
            read_only_if_federated(item)
        };
        let may_mark = |marking: Marking| -> Result<(), Refusal> {
            if rights.has(Capability::Mark(marking)) {
                Ok(())
            } else {
                forbidden(format!("the {role} role may not mark an item `{marking}`"))
            }
        };
        let owner_or = |cap: fn(Scope) -> Capability, item: &Item, verb: &str| {
            if rights.reaches(cap, &item.org, org) {
                Ok(())
            } else if rights.has(cap(Scope::Own)) {
                forbidden(format!(
                    "only {} or a coordinator may {verb} this item",
                    item.org
                ))
            } else {
                forbidden(format!("the {role} role may not {verb} items"))
            }
        };
        match write {
            Write::Create { item } => {
                if item.id.starts_with(FEDERATED_ID_PREFIX) {
                    return forbidden(format!(
                        "ids starting with `{FEDERATED_ID_PREFIX}` are reserved for items federated from other centres"
                    ));
                }
                if !rights.has(Capability::Create(item.layer)) {
                    return forbidden(format!("the {role} role may not create {}", item.layer));
                }
                if item.org != org || item.side != rp.side || item.origin.is_some() {
                    return forbidden(format!(
                        "an item is created in the caller's own name ({org}, side {})",
                        rp.side
                    ));
                }
                may_mark(item.common.marking)
            }
            Write::Change { current, next } => {
                existing(current)?;
                owner_or(Capability::Change, current, "change")?;
                if next.org != current.org || next.side != current.side || next.origin.is_some() {
                    return forbidden("an item keeps its organisation and side".into());
                }
                // Giving a marking needs the right to it; keeping the one a coordinator gave
                // does not stop the owner from changing the rest of its own item.
                if next.common.marking != current.common.marking {
                    may_mark(next.common.marking)?;
                }
                Ok(())
            }
            Write::Retire { current } => {
                existing(current)?;
                owner_or(Capability::Retire, current, "retire")
            }
            Write::Notify { current } => {
                existing(current)?;
                owner_or(Capability::Notify, current, "notify")
            }
            Write::Position { current } => {
                existing(current)?;
                owner_or(Capability::Position, current, "report the position of")
            }
            Write::Acknowledge { current } => {
                existing(current)?;
                if rights.has(Capability::Acknowledge) {
                    Ok(())
                } else {
                    forbidden(format!(
                        "the {role} role does not acknowledge movement notifications"
                    ))
                }
            }
            Write::Meeting { current, act } => {
                for m in act.markings() {
                    may_mark(*m)?;
                }
                self.admit_meeting(viewer, rights, current, act)
            }
            // Judged by `admit` before; refused here too, should a caller get here with one.
            Write::Federate { .. } | Write::System => forbidden("not a write a role makes".into()),
        }
    }

    /// Whether `viewer`'s role holds a capability that needs no item (relay, alerts).
    pub fn may(&self, viewer: &Viewer, cap: Capability) -> bool {
        viewer.peer.is_none()
            && self
                .roles
                .get(&viewer.role)
                .is_some_and(|r| r.rights.has(cap))
    }
}

/// Federated items change only through their origin centre's feed.
pub fn read_only_if_federated(item: &Item) -> Result<(), Refusal> {
    match &item.origin {
        Some(o) => Err(Refusal::Forbidden(format!(
            "this item is federated from {centre} (its id there is `{id}`): it is read-only \
             here; changes are made at {centre}",
            centre = o.centre,
            id = o.id
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::input::{parse_feature, Author};
    use crate::model::{Role, Side};
    use chrono::Utc;
    use serde_json::json;

    fn item(layer: Layer, org: &str, side: Side, marking: &str) -> Item {
        let f = json!({"type": "Feature",
            "geometry": {"type": "Point", "coordinates": [43.1, 36.3]},
            "properties": {"marking": marking, "occurred_at": "2026-12-01T06:00:00Z",
                           "event_type": "protests", "sub_event_type": "peaceful_protest",
                           "severity": 2}});
        parse_feature(layer, &f, Utc::now()).unwrap().into_new_item(
            "x".into(),
            layer,
            Author { org, side },
            Utc::now(),
        )
    }

    /// The default policy's rights, role by capability, as a table: a change to who may do
    /// what shows here as a diff of `rights.golden`, reviewed like code.
    #[test]
    fn the_default_rights_are_the_golden_table() {
        let p = Policy::default_policy();
        let creates: Vec<String> = Layer::ALL.iter().map(|l| format!("create:{l}")).collect();
        let mut caps: Vec<&str> = creates.iter().map(String::as_str).collect();
        caps.extend([
            "mark:public",
            "mark:joint",
            "mark:civil",
            "mark:military",
            "mark:restricted",
            "change:own",
            "change:any",
            "retire:own",
            "retire:any",
            "notify:own",
            "notify:any",
            "position:own",
            "position:any",
            "acknowledge",
            "relay",
            "alerts:all",
            "alerts:own",
            "alerts:unacknowledged",
            "audit",
            "meetings:own",
            "meetings:any",
        ]);
        let mut table = String::from(
            "# role side: capabilities (generated by the test; see config/policy.toml)\n",
        );
        for role in p.roles() {
            let viewer = Viewer::new(role, "X");
            let held: Vec<&str> = caps
                .iter()
                .copied()
                .filter(|c| p.may(&viewer, Capability::parse(c).unwrap()[0]))
                .collect();
            table.push_str(&format!("{role} {}: {}\n", p.side(role), held.join(" ")));
        }
        let golden = include_str!("rights.golden");
        assert_eq!(
            table, golden,
            "the default rights changed; if that is meant, update src/policy/rights.golden:\n{table}"
        );
    }

    #[test]
    fn unknown_capabilities_are_refused_by_name() {
        for bad in [
            "fly",
            "create:roads",
            "mark:secret",
            "change",
            "change:some",
            "alerts",
        ] {
            let err = Rights::parse(&[bad]).unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
        let text =
            crate::policy::DEFAULT_POLICY.replace("\"relay\", \"alerts:all\"", "\"teleport\"");
        let err = Policy::from_toml(&text).unwrap_err().to_string();
        assert!(
            err.contains("roles.coordinator.may") && err.contains("teleport"),
            "{err}"
        );
    }

    /// A new role is a policy entry: a tracker that only reports its organisation's convoy
    /// positions, on the civil side, with no code naming it.
    #[test]
    fn a_new_role_is_a_policy_entry() {
        let text = format!(
            "{}\n[roles.convoy_tracker]\nside = \"civil\"\nmarkings = [\"public\", \"joint\", \"civil\"]\nmay = [\"position:own\"]\n",
            crate::policy::DEFAULT_POLICY
        );
        let p = Policy::from_toml(&text).unwrap();
        let tracker = Viewer::new(Role::parse("convoy_tracker").unwrap(), "WFP");
        assert!(p.knows(tracker.role));
        assert_eq!(p.side(tracker.role), Side::Civil);
        let own = item(Layer::Incidents, "WFP", Side::Civil, "joint");
        let write = |w| p.admit(&tracker, Channel::Rest, w);
        assert!(write(Write::Position { current: &own }).is_ok());
        assert!(matches!(
            write(Write::Retire { current: &own }),
            Err(Refusal::Forbidden(_))
        ));
        assert!(matches!(
            write(Write::Create { item: &own }),
            Err(Refusal::Forbidden(_))
        ));
        // A role the policy does not define sees nothing and may do nothing.
        let ghost = Viewer::new(Role::parse("ghost").unwrap(), "WFP");
        assert!(!p.knows(ghost.role));
        assert_eq!(p.decide(&own, &ghost), None);
        assert!(p
            .admit(&ghost, Channel::Rest, Write::Create { item: &own })
            .is_err());
        // A role without a side is refused when the policy loads.
        let no_side = format!("{}\n[roles.odd]\nmay = []\n", crate::policy::DEFAULT_POLICY);
        assert!(Policy::from_toml(&no_side).is_err());
    }

    #[test]
    fn the_gate_judges_creates_changes_and_channels() {
        let p = Policy::default_policy();
        let wfp = Viewer::new(Role::ConvoyPlanner, "WFP");
        let nrc = Viewer::new(Role::CivilLiaison, "NRC");
        let army = Viewer::new(Role::MilitaryLiaison, "ARMY");
        let ocha = Viewer::new(Role::Coordinator, "OCHA");
        let rest = |v: &Viewer, w| p.admit(v, Channel::Rest, w);
        let own = item(Layer::Incidents, "WFP", Side::Civil, "joint");
        assert_eq!(rest(&wfp, Write::Create { item: &own }), Ok(()));
        // In someone else's name, or on another side: refused.
        assert!(rest(&nrc, Write::Create { item: &own }).is_err());
        let forged = item(Layer::Incidents, "WFP", Side::Military, "joint");
        assert!(rest(&wfp, Write::Create { item: &forged }).is_err());
        // Markings: each side its own audience.
        let mil = item(Layer::Incidents, "WFP", Side::Civil, "military");
        assert!(
            matches!(rest(&wfp, Write::Create { item: &mil }), Err(Refusal::Forbidden(m)) if m.contains("military"))
        );
        // Keeping a marking a coordinator gave is no marking; giving it is.
        let mut remarked = own.clone();
        remarked.common.marking = Marking::Military;
        let mut described = remarked.clone();
        described.common.exercise = true;
        assert_eq!(
            rest(
                &wfp,
                Write::Change {
                    current: &remarked,
                    next: &described
                }
            ),
            Ok(())
        );
        assert!(rest(
            &wfp,
            Write::Change {
                current: &own,
                next: &remarked
            }
        )
        .is_err());
        assert_eq!(
            rest(
                &ocha,
                Write::Change {
                    current: &own,
                    next: &remarked
                }
            ),
            Ok(())
        );
        // Another organisation's item: forbidden when seen, not found when hidden.
        assert!(matches!(
            rest(&nrc, Write::Retire { current: &own }),
            Err(Refusal::Forbidden(_))
        ));
        let civil_only = item(Layer::Incidents, "WFP", Side::Civil, "civil");
        assert_eq!(
            rest(
                &army,
                Write::Retire {
                    current: &civil_only
                }
            ),
            Err(Refusal::NotFound)
        );
        // Federated items are read-only here, whoever asks.
        let mut federated = own.clone();
        federated.origin = Some(crate::model::Origin {
            centre: "KRG".into(),
            id: "y".into(),
            version: 1,
            seq: 1,
        });
        assert!(
            matches!(rest(&ocha, Write::Retire { current: &federated }), Err(Refusal::Forbidden(m)) if m.contains("KRG"))
        );
        // Channels: only the server writes system changes, only a peer's link its items, and
        // those channels nothing else.
        assert!(rest(&ocha, Write::System).is_err());
        assert_eq!(
            p.admit(&Viewer::system(), Channel::System, Write::System),
            Ok(())
        );
        let krg = Viewer::peer("KRG");
        assert!(rest(&ocha, Write::Federate { centre: "KRG" }).is_err());
        assert!(p
            .admit(
                &krg,
                Channel::Federation,
                Write::Federate { centre: "OTHER" }
            )
            .is_err());
        assert_eq!(
            p.admit(&krg, Channel::Federation, Write::Federate { centre: "KRG" }),
            Ok(())
        );
        assert!(p
            .admit(&krg, Channel::Federation, Write::Create { item: &own })
            .is_err());
        assert!(p
            .admit(&ocha, Channel::System, Write::Create { item: &own })
            .is_err());
        // The same write by every user channel gets the same answer.
        for channel in [Channel::Rest, Channel::Cot, Channel::Demo, Channel::Import] {
            assert_eq!(p.admit(&wfp, channel, Write::Create { item: &own }), Ok(()));
            assert!(p
                .admit(&wfp, channel, Write::Create { item: &mil })
                .is_err());
        }
    }
}
