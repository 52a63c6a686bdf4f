//! What a channel renders from a change besides the hub's JSON (issue #5): one `Shown` per
//! change and view, shared by every subscriber of that view, where each other encoding (CoT
//! XML, TAK protobuf) is rendered once, on first use.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use super::TYPICAL_ITEM_BYTES;
use crate::model::Item;
use crate::policy::View;

/// Encodings other than the hub's own JSON, rendered on first use from a `Shown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// CoT XML events, newline-separated.
    CotXml,
    /// TAK protocol v1 stream framing (`0xBF`, varint length, `TakMessage`).
    TakStream,
}

impl Encoding {
    const COUNT: usize = 2;
}

/// What a channel rendered from a `Shown`: the bytes, and the keys they name (CoT: the uids
/// sent, so that a later removal can delete exactly those).
#[derive(Debug)]
pub struct Encoded {
    pub bytes: Bytes,
    /// Shared by every connection that holds them (no copy per connection).
    pub keys: Vec<Arc<str>>,
}

/// One committed change as one `View` shows it, shared by every subscriber that gets this
/// view of it. The hub fills it with the item after the change and the view (both already
/// decided by policy); channels that send something other than the JSON message render from it
/// through `encoded`, once, and every other subscriber of the view reuses the bytes.
#[derive(Debug)]
pub struct Shown {
    pub item: Arc<Item>,
    pub view: View,
    encoded: [OnceLock<Encoded>; Encoding::COUNT],
}

impl Shown {
    pub fn new(item: Arc<Item>, view: View) -> Shown {
        Shown {
            item,
            view,
            encoded: Default::default(),
        }
    }

    /// The size of the largest encoding rendered so far, or a typical item's when none is.
    pub fn size_hint(&self) -> usize {
        self.encoded
            .iter()
            .filter_map(|e| e.get().map(|e| e.bytes.len()))
            .max()
            .unwrap_or(TYPICAL_ITEM_BYTES)
    }

    /// The change in `encoding`, rendered by `render` on the first call and shared after it.
    pub fn encoded(
        &self,
        encoding: Encoding,
        render: impl FnOnce(&Item, &View) -> Encoded,
    ) -> &Encoded {
        self.encoded[encoding as usize].get_or_init(|| render(&self.item, &self.view))
    }
}
