//! Past pictures kept in memory after they were rebuilt, so that the next one near them starts
//! from there instead of from a snapshot (issue 15: the time slider asks for moment after
//! moment close together, and a WebSocket replay or seek often follows a `?at=` answer).
//!
//! A picture is a function of the log's prefix up to its sequence number, and the log is only
//! ever appended to: a kept picture never goes out of date, and rolling it forward with
//! `Picture::replay` gives the same picture as rolling a snapshot forward (what the replay
//! tests compare against a live subscriber). Pictures are kept whole (items behind `Arc`),
//! copied out with `Picture::clone` (pointers, not items), and the least recently used goes
//! first.

use std::sync::{Arc, Mutex};

use crate::picture::Picture;

/// The kept pictures, most recently used last; at most `hub.past_pictures_kept`, each costing
/// at most what the live picture costs (tens of MiB at 10,000 items), less the items it shares
/// with a kept neighbour.
pub struct Kept {
    capacity: usize,
    pictures: Mutex<Vec<Arc<Picture>>>,
}

impl Kept {
    pub fn new(capacity: usize) -> Kept {
        Kept {
            capacity,
            pictures: Mutex::new(Vec::with_capacity(capacity)),
        }
    }

    /// The kept picture nearest before (or at) `seq`, if any: the best start for it.
    pub fn nearest_at_or_before(&self, seq: u64) -> Option<Arc<Picture>> {
        let mut pictures = self.pictures.lock().unwrap_or_else(|e| e.into_inner());
        let (i, _) = pictures
            .iter()
            .enumerate()
            .filter(|(_, p)| p.head().0 <= seq)
            .max_by_key(|(_, p)| p.head().0)?;
        let picture = pictures.remove(i);
        pictures.push(picture.clone());
        Some(picture)
    }

    /// Keeps `picture` (one at the same sequence number is replaced), dropping the least
    /// recently used past the capacity.
    pub fn keep(&self, picture: Arc<Picture>) {
        if self.capacity == 0 {
            return;
        }
        let mut pictures = self.pictures.lock().unwrap_or_else(|e| e.into_inner());
        let seq = picture.head().0;
        pictures.retain(|p| p.head().0 != seq);
        pictures.push(picture);
        let over = pictures.len().saturating_sub(self.capacity);
        pictures.drain(..over);
    }

    /// The sequence numbers of the kept pictures, least recently used first.
    pub fn seqs(&self) -> Vec<u64> {
        let pictures = self.pictures.lock().unwrap_or_else(|e| e.into_inner());
        pictures.iter().map(|p| p.head().0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Actor, Change, Event, Record, GENESIS};
    use crate::model::input::{parse_feature, Author};
    use crate::model::{Layer, Side};

    /// A picture after `n` created incidents.
    fn picture(n: u64) -> Picture {
        let mut p = Picture::new();
        let mut prev = GENESIS;
        for seq in 1..=n {
            let at = chrono::Utc::now();
            let f = serde_json::json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [44.0, 33.0]},
                "properties": {"occurred_at": "2026-12-01T10:00:00Z",
                               "event_type": "explosions_remote_violence",
                               "description": format!("incident {seq}"),
                               "verification": "reported", "severity": 2},
            });
            let item = parse_feature(Layer::Incidents, &f, at)
                .unwrap()
                .into_new_item(
                    format!("inc-{seq}"),
                    Layer::Incidents,
                    Author {
                        org: "INSO",
                        side: Side::Civil,
                    },
                    at,
                );
            let event = Event {
                seq,
                at,
                actor: Actor {
                    org: "INSO".into(),
                    name: "t".into(),
                },
                layer: Some(Layer::Incidents),
                item_id: item.id.clone(),
                change: Change::Created(item),
            };
            let r = Record::seal(&event, prev);
            prev = r.hash;
            p.replay(&event, r.hash).unwrap();
        }
        p
    }

    #[test]
    fn the_nearest_picture_before_is_given_and_the_least_used_goes_first() {
        let kept = Kept::new(2);
        assert!(kept.nearest_at_or_before(10).is_none());
        kept.keep(Arc::new(picture(2)));
        kept.keep(Arc::new(picture(5)));
        assert_eq!(kept.nearest_at_or_before(4).map(|p| p.head().0), Some(2));
        assert_eq!(kept.nearest_at_or_before(9).map(|p| p.head().0), Some(5));
        assert!(kept.nearest_at_or_before(1).is_none(), "none is before 1");
        // 5 was used last: keeping a third drops 2.
        kept.keep(Arc::new(picture(3)));
        assert_eq!(kept.seqs(), vec![5, 3]);
        assert_eq!(kept.nearest_at_or_before(4).map(|p| p.head().0), Some(3));
        // The same moment again replaces, it does not add.
        kept.keep(Arc::new(picture(3)));
        assert_eq!(kept.seqs(), vec![5, 3]);
        let none = Kept::new(0);
        none.keep(Arc::new(picture(1)));
        assert!(none.seqs().is_empty());
    }
}
