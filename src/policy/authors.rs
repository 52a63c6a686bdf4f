//! Who made a change, as a reader of an item's history may see it (issue 15).
//!
//! A version's organisation is part of the item (every view shows `org`), so it is always
//! shown. The person who made the change is shown to the coordination side, to their own
//! organisation and to the server's own tasks; others read only the organisation, as a liaison
//! officer's name is personal data the other side has no need for.

use super::{Policy, Viewer};
use crate::model::Side;

impl Policy {
    /// Whether `viewer` may read the name of the person from organisation `org` who made a
    /// change (the organisation itself is always shown).
    pub fn shows_author(&self, viewer: &Viewer, org: &str) -> bool {
        if viewer.peer.is_some() {
            return false;
        }
        self.side(viewer.role) == Side::Coordination || &*viewer.org == org
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn names_go_to_coordination_and_the_same_organisation_only() {
        let p = Policy::default_policy();
        assert!(p.shows_author(&Viewer::new(Role::Coordinator, "OCHA"), "WFP"));
        assert!(p.shows_author(&Viewer::new(Role::CivilLiaison, "WFP"), "WFP"));
        assert!(!p.shows_author(&Viewer::new(Role::CivilLiaison, "NRC"), "WFP"));
        assert!(!p.shows_author(&Viewer::new(Role::MilitaryLiaison, "IQ-ARMY"), "WFP"));
        assert!(!p.shows_author(&Viewer::peer("JCC"), "WFP"));
    }
}
