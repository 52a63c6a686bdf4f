//! What a reader asked to see: layers, a bounding box, and whether exercise items count.
//!
//! Shared by REST lists and hub subscriptions so both answer the same question the same way.
//! A scope narrows what policy allows; it never widens it. The bounding-box test is made on the
//! geometry the viewer receives (reduced when policy reduces it), so that a small box cannot
//! be used to learn more precision than policy gives. Pure.

use crate::model::{BBox, Item, Layer};
use crate::policy::View;

/// Which exercise items a reader wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exercise {
    /// Live items only: drills never pollute the live picture.
    Exclude,
    Include,
    /// Exercise items only, for a drill's own screens.
    Only,
}

impl Exercise {
    pub fn parse(text: &str) -> Result<Exercise, String> {
        match text {
            "exclude" => Ok(Exercise::Exclude),
            "include" => Ok(Exercise::Include),
            "only" => Ok(Exercise::Only),
            other => Err(format!("`{other}` is not one of exclude, include, only")),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scope {
    pub layers: Option<Vec<Layer>>,
    pub bbox: Option<BBox>,
    pub exercise: Exercise,
}

impl Scope {
    pub fn everything(exercise: Exercise) -> Scope {
        Scope {
            layers: None,
            bbox: None,
            exercise,
        }
    }

    /// Whether the item, as seen through `view`, is in scope.
    pub fn admits(&self, item: &Item, view: &View) -> bool {
        self.admits_with(item, || seen_bbox(item, view))
    }

    /// The same test with the seen bounding box computed by the caller (once per view, when
    /// many scopes are tested against one item) and only when a bbox is asked for.
    pub fn admits_with(&self, item: &Item, seen: impl FnOnce() -> BBox) -> bool {
        let exercise_ok = match self.exercise {
            Exercise::Exclude => !item.common.exercise,
            Exercise::Include => true,
            Exercise::Only => item.common.exercise,
        };
        if !exercise_ok {
            return false;
        }
        if let Some(layers) = &self.layers {
            if !layers.contains(&item.layer) {
                return false;
            }
        }
        match &self.bbox {
            None => true,
            Some(b) => b.intersects(&seen()),
        }
    }
}

/// The bounding box of the geometry the viewer receives.
pub fn seen_bbox(item: &Item, view: &View) -> BBox {
    match view.precision_m() {
        None => item.geometry.bbox(),
        Some(p) => item.geometry.reduced(p).bbox(),
    }
}
