//! Position thinning (`Delivery::min_move_m`): a position report goes to a subscriber only
//! when the convoy moved far enough, measured on the position as that subscriber sees it.

use std::sync::Arc;

use super::{Committed, Subscriber, Transition};
use crate::log::Change;
use crate::model::Position;
use crate::policy::View;

impl Subscriber {
    /// Position thinning: whether the change goes to this subscriber at all. Remembers the
    /// position it was sent, so call it only for a change that is then pushed (or sent).
    /// Distances are measured on the position as the subscriber sees it (snapped when its view
    /// reduces precision), so thinning reveals nothing finer than the view shows.
    pub fn passes_thinning(&self, c: &Committed, t: &Transition, view: Option<&View>) -> bool {
        let Some(min_move_m) = self.delivery.min_move_m else {
            return true;
        };
        let mut last = self
            .delivered_positions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let id = c.event.item_id.as_str();
        match t {
            Transition::Remove => {
                last.remove(id);
                true
            }
            Transition::Upsert => {
                let now = c
                    .after
                    .as_ref()
                    .and_then(|i| i.movement())
                    .and_then(|m| m.position)
                    .map(|p| seen_position(p, view));
                if let (Change::Position { .. }, Some(p), Some(prev)) =
                    (&c.event.change, now, last.get(id))
                {
                    if geodesic_m(*prev, p) <= min_move_m {
                        return false;
                    }
                }
                match now {
                    Some(p) => {
                        last.insert(Arc::from(id), p);
                    }
                    None => {
                        last.remove(id);
                    }
                }
                true
            }
            Transition::Nothing => true,
        }
    }
}

/// A position as a viewer receives it.
pub(super) fn seen_position(p: Position, view: Option<&View>) -> Position {
    match view.and_then(View::precision_m) {
        Some(precision) => crate::model::geometry::snap(p, precision),
        None => p,
    }
}

/// Geodesic distance in metres (WGS84) between two `[lon, lat]` positions.
fn geodesic_m(a: Position, b: Position) -> f64 {
    use geo::{Distance, Geodesic};
    Geodesic::distance(geo::Point::new(a[0], a[1]), geo::Point::new(b[0], b[1]))
}
