//! What the hub tells the audit (issue 15.7): deliveries are recorded once per viewer class and
//! chunk of changes (`Hub::fan_out`) and once per rendered snapshot, never per connection.

use std::sync::Arc;

use super::{Feed, Hub, Rendered, Subscriber};
use crate::model::Item;
use crate::policy::Viewer;

/// What one viewer class received, by which channel (for the audit).
pub(super) type Delivered = (Viewer, crate::audit::Channel, Arc<str>);

impl From<Feed> for crate::audit::Channel {
    fn from(f: Feed) -> Self {
        match f {
            Feed::WebSocket => crate::audit::Channel::WebSocket,
            Feed::Cot => crate::audit::Channel::Cot,
            Feed::Federation => crate::audit::Channel::Federation,
        }
    }
}

impl Hub {
    /// The snapshot a subscriber starts from (`Start::Snapshot`'s `seq` and `items`), in
    /// parts, shared with every subscriber of the same view at the same `seq`.
    pub fn snapshot_for(&self, sub: &Subscriber, seq: u64, items: &[Arc<Item>]) -> Arc<Rendered> {
        let (rendered, fresh) =
            self.snapshots
                .get_tracked(&self.policy, &sub.viewer, &sub.scope, seq, items);
        // Recorded once per view and `seq`, when rendered: the subscribers that share it are
        // of the same viewer class (organisation and role) and channel.
        if let (true, Some(audit)) = (fresh, self.audit.get()) {
            rendered.with_items(|shown| {
                audit.record(
                    &sub.viewer,
                    sub.delivery.feed.into(),
                    chrono::Utc::now(),
                    shown.iter().map(|(i, _)| i.id.as_str()),
                )
            });
        }
        rendered
    }

    /// Where deliveries are counted for the audit, if anywhere.
    pub fn audit(&self) -> Option<&Arc<crate::audit::Recorder>> {
        self.audit.get()
    }

    /// Counts deliveries for the audit from now on.
    pub fn set_audit(&self, recorder: Arc<crate::audit::Recorder>) {
        let _ = self.audit.set(recorder);
    }
}
