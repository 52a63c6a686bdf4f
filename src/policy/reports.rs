//! Who a situation report exists for (issue 16). A report is made for an audience — a role
//! and an organisation — and holds only what that audience may see, so it exists only for
//! viewers of that audience: to anyone else (another organisation, another role of the same
//! organisation, a peer centre) it does not exist (404, never listed, never announced). Pure.

use super::rights::Capability;
use super::{Policy, Viewer};

impl Policy {
    /// Whether a report made for the audience (`role`, `org`) exists for `viewer`: its role
    /// and organisation are the audience's, and the policy defines that role.
    pub fn reads_report(&self, viewer: &Viewer, role: &str, org: &str) -> bool {
        viewer.peer.is_none()
            && self.roles.contains_key(&viewer.role)
            && viewer.role.to_string() == role
            && *viewer.org == *org
    }

    /// Whether `viewer` is told that such a report was made (an alert): it reads the report
    /// and its role receives alerts (any `alerts:*` capability).
    pub fn announces_report(&self, viewer: &Viewer, role: &str, org: &str) -> bool {
        self.reads_report(viewer, role, org)
            && [
                Capability::AlertsAll,
                Capability::AlertsOwn,
                Capability::AlertsUnacknowledged,
            ]
            .into_iter()
            .any(|c| self.may(viewer, c))
    }
}
