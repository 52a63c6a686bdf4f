//! GeoJSON output: an item seen through a policy `View` becomes a Feature.
//!
//! The one place where items turn into the JSON that REST, the WebSocket hub and exports send.
//! It applies a view faithfully (drops hidden fields, snaps every coordinate-bearing value when
//! precision is reduced) and decides nothing itself: what a view contains is `policy`'s call.
//! It states what is true of the data, though: a federated item whose origin reduced it is
//! marked `precision_reduced` whatever the view; and a view that reduces the position is shown
//! the version and time of the last change it can see (`stamp`). Pure.

use serde_json::{json, Map, Value};

use crate::model::geometry::snap;
use crate::model::schema::Kind;
use crate::model::{Item, Layer, Stamp};
use crate::policy::View;

/// The version and time of the item as `view` shows them (its `version` and `updated_at`, the
/// ETag, what If-Match is compared with). A view that reduces the position is shown
/// `Item::coarse` when there is one: a position report that stays in its cell moves nothing
/// it sees, not even these (issue 20), so neither when reports come nor how many do shows.
pub fn stamp(item: &Item, view: &View) -> Stamp {
    item.shown_at(view.precision_m())
}

/// The item as a GeoJSON Feature, as `view` allows.
pub fn render(item: &Item, view: &View) -> Value {
    let mut props = Map::new();
    let stamp = stamp(item, view);
    props.insert("layer".into(), json!(item.layer));
    props.insert("org".into(), json!(item.org));
    props.insert("version".into(), json!(stamp.version));
    props.insert("created_at".into(), json!(item.created_at));
    props.insert("updated_at".into(), json!(stamp.at));
    props.insert("stale".into(), json!(item.stale));
    if let Ok(Value::Object(common)) = serde_json::to_value(&item.common) {
        props.extend(common);
    }
    if let Ok(Value::Object(map)) = item.props.to_json() {
        props.extend(map);
    }
    for name in view.hidden.names() {
        match name.split_once('.') {
            Some((parent, child)) => {
                if let Some(Value::Object(p)) = props.get_mut(parent) {
                    p.remove(child);
                }
            }
            None => {
                props.remove(name);
            }
        }
    }
    if let Some(origin) = &item.origin {
        // Provenance of a federated item, read-only (the feed position is internal).
        props.insert(
            "origin".into(),
            json!({"centre": origin.centre, "id": origin.id, "version": origin.version}),
        );
    }
    if let Some(marking) = view.border {
        // Across the border: the marking agreed for the other side, and the side the item
        // was written on, which the receiving centre's own policy judges by.
        props.insert("marking".into(), json!(marking));
        props.insert("side".into(), json!(item.side));
    }
    let geometry = match view.precision_m() {
        // A federated item's geometry was reduced at its origin (to its `precision_m`): exact
        // as held here, it is still approximate, and says so to everyone.
        None if item.origin.is_some() && item.common.precision_m.is_some() => {
            props.insert("precision_reduced".into(), Value::Bool(true));
            json!(item.geometry)
        }
        None => json!(item.geometry),
        Some(p) => {
            reduce_properties(item.layer, &mut props, p);
            props.insert("precision_reduced".into(), Value::Bool(true));
            if view.border.is_some() {
                // The grid actually applied (the agreement's may be coarser than the item's).
                props.insert("precision_m".into(), json!(p));
            }
            json!(item.geometry.reduced(p))
        }
    };
    json!({
        "type": "Feature",
        "id": item.id,
        "geometry": geometry,
        "properties": props,
    })
}

/// Snaps every position carried in properties: those the layer declares (`Kind::Position`,
/// and position members such as a movement's waypoints).
fn reduce_properties(layer: Layer, props: &mut Map<String, Value>, precision_m: f64) {
    for f in layer.spec().fields {
        let Some(v) = props.get_mut(f.name) else {
            continue;
        };
        if f.kind == Kind::Position {
            snap_value(v, precision_m);
        }
        for m in f.members.iter().filter(|m| m.position) {
            match &mut *v {
                Value::Array(list) => {
                    for element in list {
                        if let Some(p) = element.get_mut(m.name()) {
                            snap_value(p, precision_m);
                        }
                    }
                }
                other => {
                    if let Some(p) = other.get_mut(m.name()) {
                        snap_value(p, precision_m);
                    }
                }
            }
        }
    }
}

fn snap_value(v: &mut Value, precision_m: f64) {
    let pos = v
        .as_array()
        .and_then(|a| Some([a.first()?.as_f64()?, a.get(1)?.as_f64()?]));
    if let Some(pos) = pos {
        *v = json!(snap(pos, precision_m));
    }
}
