//! The demo's coordination meetings (issue 17): the weekly meeting held three days ago, with the
//! chair's agenda, its decisions and action items — one done, one past due (which the server
//! raises as an overdue alert), one still open and so carried to the next — and the next
//! meeting of the series, in two days, whose agenda the chair drafts from the picture on the
//! meetings page. Written through the writer exactly as the meeting routes write them, in the
//! name of JCMC's coordinator, who chairs; only the meeting held in the past is the demo's
//! doing (it is recorded now, as a chair would record one after the fact).

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::parties::{IQ_ARMY, JCMC, NRC, PESHMERGA, UNHCR, WFP};
use super::{submit, DemoError, ACTOR_NAME};
use crate::api::AppState;
use crate::log::meeting::{
    Action, ActionStatus, AgendaItem, AgendaKind, Decision, Meeting, MeetingChange, MeetingKind,
};
use crate::model::Marking;
use crate::writer::Command;

const TITLE: &str = "Weekly civil-military coordination";

/// The chair's own agenda items of the meeting held.
const AGENDA: &[&str] = &[
    "Access to Sinjar for shelter convoys",
    "Winterisation needs in Ninewa informal sites",
    "Document checks at the Ramadi checkpoints",
];

/// Decisions of the meeting held, and for whom.
const DECISIONS: &[(&str, Marking)] = &[
    (
        "Convoys to Sinjar travel in daylight only and are notified 48 hours ahead",
        Marking::Joint,
    ),
    (
        "The Al-Qaim food convoy is escorted from the Anbar Operations Command checkpoint",
        Marking::Military,
    ),
];

/// Writes the meetings; answers how many commands were accepted.
pub async fn load(state: &AppState, now: DateTime<Utc>) -> Result<usize, DemoError> {
    let now = now.trunc_subsecs(6);
    let participants: Vec<String> = [WFP, UNHCR, NRC, IQ_ARMY, PESHMERGA]
        .iter()
        .map(|p| p.org.to_string())
        .collect();
    let held = new_meeting(participants.clone(), now - Duration::days(3), now);
    let next = new_meeting(participants, now + Duration::days(2), now);
    let (held_id, next_id) = (held.id.clone(), next.id.clone());
    let mut changes = vec![
        (
            held_id.clone(),
            MeetingChange::Created {
                meeting: Box::new(held),
            },
        ),
        (
            held_id.clone(),
            MeetingChange::Agenda {
                items: AGENDA
                    .iter()
                    .map(|text| AgendaItem {
                        kind: AgendaKind::Other,
                        reference: None,
                        layer: None,
                        with: None,
                        text: Some(text.to_string()),
                        marking: Marking::Joint,
                    })
                    .collect(),
                drafted: false,
            },
        ),
    ];
    for (text, marking) in DECISIONS {
        changes.push((
            held_id.clone(),
            MeetingChange::Decision {
                decision: Decision {
                    id: format!("dec-{}", uuid::Uuid::now_v7()),
                    text: text.to_string(),
                    marking: *marking,
                    at: now,
                },
            },
        ));
    }
    let actions = [
        (
            "Share the weekly convoy plan with Ninewa Operations Command",
            WFP.org,
            now - Duration::days(2),
            ActionStatus::Done,
        ),
        (
            "Confirm the reopening date of the Khazer bridge",
            IQ_ARMY.org,
            now - Duration::days(1),
            ActionStatus::Open,
        ),
        (
            "Update the Sinjar shelter needs assessment",
            NRC.org,
            now + Duration::days(4),
            ActionStatus::Open,
        ),
    ];
    for (text, owner, due, status) in actions {
        changes.push((
            held_id.clone(),
            MeetingChange::Action {
                action: Action {
                    id: format!("act-{}", uuid::Uuid::now_v7()),
                    text: text.to_string(),
                    owner_org: owner.to_string(),
                    due,
                    status,
                    marking: Marking::Joint,
                    created_at: now,
                    updated_at: now,
                    done_at: None,
                    overdue_since: None,
                },
            },
        ));
    }
    changes.push((
        next_id.clone(),
        MeetingChange::Created {
            meeting: Box::new(next),
        },
    ));
    let written = changes.len();
    // In order: each change builds on the one before.
    for (id, change) in changes {
        let command = Command::Meeting {
            id: id.clone(),
            change,
        };
        submit(state, JCMC.org, JCMC.role, &id, command).await?;
    }
    Ok(written)
}

/// A meeting of the weekly series, chaired by JCMC, as `POST /api/v1/meetings` makes one.
fn new_meeting(participants: Vec<String>, starts_at: DateTime<Utc>, now: DateTime<Utc>) -> Meeting {
    Meeting {
        id: format!("mtg-{}", uuid::Uuid::now_v7()),
        title: TITLE.into(),
        kind: MeetingKind::Periodic,
        starts_at,
        participants,
        org: JCMC.org.into(),
        chair: ACTOR_NAME.into(),
        created_at: now,
        updated_at: now,
        version: 1,
        agenda: Vec::new(),
        drafted_at: None,
        actions: Vec::new(),
        decisions: Vec::new(),
    }
}
