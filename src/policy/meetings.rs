//! Who sees a coordination meeting and what of it, and who may change it (issue 17.2).
//!
//! A meeting exists for its participants' organisations, the chair's organisation and roles
//! that see everything; for anyone else it does not exist (404, never counted). A role whose
//! tokens do not speak for their organisation (`own_items_in_full = false`: wall displays)
//! takes part in no meeting. Within it, the
//! chair's own records (agenda items of their own, decisions, action items) carry a marking and
//! are shown by the role's markings, as an item's marking is; an agenda item about an item of
//! the picture is shown only to whoever `Policy::decide` lets see that item (`desk::view`).
//! Writes: calling and chairing meetings is the capability `meetings:own|any`; an action's
//! owner organisation may report its status. Pure: no IO, no clock.

use super::rights::{Capability, MeetingAct, Refusal, Rights, Scope};
use super::{Policy, Viewer};
use crate::log::meeting::Meeting;
use crate::model::Marking;

impl MeetingAct<'_> {
    /// The markings this write gives.
    pub fn markings(&self) -> &[Marking] {
        match self {
            MeetingAct::Chair { markings } => markings,
            MeetingAct::Create { .. } | MeetingAct::Report { .. } => &[],
        }
    }
}

impl Policy {
    /// Whether `meeting` exists for `viewer`: a participant's or the chair's organisation, or
    /// a role that sees everything. Peer centres never see meetings.
    pub fn sees_meeting(&self, viewer: &Viewer, meeting: &Meeting) -> bool {
        self.takes_part(viewer, &meeting.org, &meeting.participants)
    }

    /// `sees_meeting` for a meeting known by its chair's organisation and its participants
    /// (an overdue alert carries them, `log::meeting::ActionAlert`).
    pub fn takes_part(&self, viewer: &Viewer, org: &str, participants: &[String]) -> bool {
        if viewer.peer.is_some() {
            return false;
        }
        let Some(rp) = self.roles.get(&viewer.role) else {
            return false;
        };
        // A role that does not speak for its organisation (a wall display, which anyone in
        // the room reads: `own_items_in_full = false`) takes part in no meeting.
        rp.sees_all
            || (rp.own_items_in_full
                && (*viewer.org == *org || participants.iter().any(|p| **p == *viewer.org)))
    }

    /// Whether `viewer`, who sees `meeting`, sees one of its records marked `marking`: the
    /// chair's organisation and roles that see everything see every record, others those
    /// whose marking their role reads.
    pub fn sees_record(&self, viewer: &Viewer, meeting: &Meeting, marking: Marking) -> bool {
        self.sees_record_of(viewer, &meeting.org, &meeting.participants, marking)
    }

    /// `sees_record` for a meeting known by its chair's organisation and its participants.
    pub fn sees_record_of(
        &self,
        viewer: &Viewer,
        org: &str,
        participants: &[String],
        marking: Marking,
    ) -> bool {
        if !self.takes_part(viewer, org, participants) {
            return false;
        }
        let Some(rp) = self.roles.get(&viewer.role) else {
            return false;
        };
        rp.sees_all || *viewer.org == *org || rp.markings.contains(&marking)
    }

    /// A meeting write by a person (the gate's `Write::Meeting`).
    pub(super) fn admit_meeting(
        &self,
        viewer: &Viewer,
        rights: &Rights,
        current: Option<&Meeting>,
        act: MeetingAct<'_>,
    ) -> Result<(), Refusal> {
        let org = &*viewer.org;
        let role = viewer.role;
        let forbidden = |why: String| Err(Refusal::Forbidden(why));
        let current = match (current, act) {
            (None, MeetingAct::Create { org: chair }) => {
                if !rights.has(Capability::Meetings(Scope::Own))
                    && !rights.has(Capability::Meetings(Scope::Any))
                {
                    return forbidden(format!("the {role} role does not call meetings"));
                }
                if chair != org {
                    return forbidden(format!(
                        "a meeting is called in the caller's own name ({org})"
                    ));
                }
                return Ok(());
            }
            (Some(m), MeetingAct::Create { .. }) | (Some(m), _) => m,
            (None, _) => return Err(Refusal::NotFound),
        };
        if !self.sees_meeting(viewer, current) {
            return Err(Refusal::NotFound);
        }
        let chairs = rights.reaches(Capability::Meetings, &current.org, org);
        match act {
            MeetingAct::Create { .. } => forbidden("the meeting exists already".into()),
            MeetingAct::Chair { .. } if chairs => Ok(()),
            MeetingAct::Report { owner_org } if chairs || owner_org == org => Ok(()),
            MeetingAct::Report { owner_org } => forbidden(format!(
                "only {owner_org}, the action's owner, or the chair ({}) may report on it",
                current.org
            )),
            MeetingAct::Chair { .. } => forbidden(format!(
                "only the chair's organisation ({}) or a coordinator may change this meeting",
                current.org
            )),
        }
    }
}
