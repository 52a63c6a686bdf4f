//! The declaration of every layer: one `LayerSpec` per layer, in `LAYERS`.
//!
//! A layer is described once, in its module under `model/layers/`: its geometry, its properties
//! (type, vocabulary, who writes each, sub-fields, protobuf key), the fields another side sees
//! by default, its CoT handling and its OpenAPI schema name. Validation (`model::input`), the
//! policy's field set (`policy::FIELDS`) and the CoT tables are derived from these tables; the
//! protobuf key table, `openapi.json`, `config/policy.toml`, the pages' tables and both
//! translation files are checked against them by tests. The i18n keys follow from the names:
//! `layer.{layer}`, `field.{property}`, `term.{value}`.
//!
//! Plain `static` tables built with `const fn`s, no procedural macros. Pure.

use super::geometry::GeometryKind;
use super::layers::{area, constraint, contact, displacement, incident, movement, need};
use super::{Layer, Marking, Side};

/// Every layer's declaration, in the order of `Layer::ALL`.
pub static LAYERS: &[&LayerSpec] = &[
    &movement::SPEC,
    &constraint::SPEC,
    &incident::SPEC,
    &displacement::SPEC,
    &area::SPEC,
    &need::SPEC,
    &contact::SPEC,
];

impl Layer {
    /// The layer's declaration.
    pub fn spec(self) -> &'static LayerSpec {
        match self {
            Layer::Movements => &movement::SPEC,
            Layer::Constraints => &constraint::SPEC,
            Layer::Incidents => &incident::SPEC,
            Layer::Displacements => &displacement::SPEC,
            Layer::Areas => &area::SPEC,
            Layer::Needs => &need::SPEC,
            Layer::Contacts => &contact::SPEC,
        }
    }

    /// The geometry types the layer accepts.
    pub fn geometry_kinds(self) -> &'static [GeometryKind] {
        self.spec().geometry_kinds
    }

    /// Layer-specific properties a client may write, in declaration order.
    pub fn writable(self) -> impl Iterator<Item = &'static str> {
        self.spec().writable()
    }
}

/// What a property holds, as JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string of free text.
    Text,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    Boolean,
    /// An RFC 3339 time.
    Time,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A string from the field's vocabulary.
    Term,
    /// Daily hours `HH:MM-HH:MM`.
    Hours,
    /// `[lon, lat]`, snapped with the geometry when a view reduces precision.
    Position,
    /// A JSON array.
    List,
    /// A JSON object (its members in `FieldSpec::members`).
    Object,
}

impl Kind {
    /// A number (CoT carries it as an attribute parsed back to a number).
    pub fn is_number(self) -> bool {
        matches!(self, Kind::Integer | Kind::Number)
    }
}

/// Who may write a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writers {
    /// Any writer of the item (the rights of the item decide; create and patch accept it).
    Item,
    /// Only writers of the item on these sides (none today; for the write gate to apply).
    Sides(&'static [Side]),
    /// The server only: read-only to clients, and why (the route or rule that sets it).
    Server(&'static str),
}

/// A member of an object property, by its dotted path (`vehicles.count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    pub path: &'static str,
    /// The protobuf `Key` of the member's name (`proto/hub.proto`).
    pub key: u32,
    /// A sub-field: policy may hide it on its own (`vehicles.plates`) and it may carry its own
    /// marking in `field_markings`.
    pub sub_field: bool,
    /// A `[lon, lat]` position: snapped with the geometry when a view reduces precision.
    pub position: bool,
}

impl Member {
    pub const fn new(path: &'static str, key: u32) -> Member {
        Member {
            path,
            key,
            sub_field: false,
            position: false,
        }
    }

    pub const fn sub_field(path: &'static str, key: u32) -> Member {
        Member {
            sub_field: true,
            ..Member::new(path, key)
        }
    }

    /// A `[lon, lat]` member (a waypoint's position).
    pub const fn position(path: &'static str, key: u32) -> Member {
        Member {
            position: true,
            ..Member::new(path, key)
        }
    }

    /// The member's own name (after the last dot).
    pub fn name(&self) -> &'static str {
        let path: &'static str = self.path;
        path.rsplit('.').next().unwrap_or(path)
    }
}

/// Allowed values in groups: one group for a plain vocabulary, one per parent value where the
/// values depend on another property.
pub type Vocabulary = &'static [&'static [&'static str]];

/// One property of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// The JSON name, the name policy rules and `field_markings` use.
    pub name: &'static str,
    pub kind: Kind,
    /// The allowed values of a `Term` (or of a list of terms), in groups: one group for a
    /// plain vocabulary, one per parent value where the values depend on another property
    /// (ACLED sub-event types by event type).
    pub vocabulary: Vocabulary,
    pub writers: Writers,
    /// The members of an object property (or of the objects in a list property).
    pub members: &'static [Member],
    /// The protobuf `Key` of the name (`proto/hub.proto`); 0 when it is sent by name.
    pub key: u32,
    /// The receiving centre needs it to rebuild the item: a sharing agreement may not hide it.
    pub structural: bool,
    /// A CoT client may set it as an attribute of the `<cmcop>` detail.
    pub cot_writable: bool,
    /// A figure derived from a reported position (when, how fast, which way): it would place
    /// the item inside a reduced position's grid cell, so wherever the position is reduced it
    /// is withheld with it (`Policy::decide`).
    pub follows_position: bool,
}

impl FieldSpec {
    /// A property any writer of the item may set.
    pub const fn new(name: &'static str, key: u32, kind: Kind) -> FieldSpec {
        FieldSpec {
            name,
            kind,
            vocabulary: &[],
            writers: Writers::Item,
            members: &[],
            key,
            structural: false,
            cot_writable: false,
            follows_position: false,
        }
    }

    /// A `Term` property and its vocabulary, e.g. `&[Mode::NAMES]`.
    pub const fn terms(name: &'static str, key: u32, vocabulary: Vocabulary) -> Self {
        FieldSpec {
            vocabulary,
            ..FieldSpec::new(name, key, Kind::Term)
        }
    }

    /// The vocabulary of a list of terms or of a term that depends on another property.
    pub const fn vocabulary(self, vocabulary: Vocabulary) -> Self {
        FieldSpec { vocabulary, ..self }
    }

    /// Set by the server only, for this reason.
    pub const fn server(self, why: &'static str) -> Self {
        FieldSpec {
            writers: Writers::Server(why),
            ..self
        }
    }

    pub const fn members(self, members: &'static [Member]) -> Self {
        FieldSpec { members, ..self }
    }

    pub const fn structural(self) -> Self {
        FieldSpec {
            structural: true,
            ..self
        }
    }

    pub const fn cot_writable(self) -> Self {
        FieldSpec {
            cot_writable: true,
            ..self
        }
    }

    /// Derived from a reported position: withheld wherever that position is reduced.
    pub const fn follows_position(self) -> Self {
        FieldSpec {
            follows_position: true,
            ..self
        }
    }

    /// Whether clients may write it at all.
    pub fn is_writable(&self) -> bool {
        !matches!(self.writers, Writers::Server(_))
    }

    /// Whether a writer of the item on `side` may write it.
    pub fn may_write(&self, side: Side) -> bool {
        match self.writers {
            Writers::Item => true,
            Writers::Sides(sides) => sides.contains(&side),
            Writers::Server(_) => false,
        }
    }

    /// Every allowed value.
    pub fn values(&self) -> impl Iterator<Item = &'static str> {
        self.vocabulary.iter().flat_map(|g| g.iter().copied())
    }

    /// The translation key of its label in `web/i18n/*.json`.
    pub fn label_key(&self) -> String {
        format!("field.{}", self.name)
    }
}

/// Of another organisation's items of a layer, a role on `side` sees only these fields by
/// default (the allow-list in `config/policy.toml`, e.g. `movement_fields`; a test keeps the
/// two equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SideRule {
    pub side: Side,
    pub sees: &'static [&'static str],
}

/// How a layer meets Cursor on Target (`cot::mapping`, `proto/COT.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CotSpec {
    /// The CoT types its events are sent as (documentation and tests; `cot::mapping::render`
    /// chooses among them).
    pub types: &'static [&'static str],
    /// A route drawing is sent too, as `{id}.route`.
    pub route_drawing: bool,
    /// Properties the `<cmcop>` detail carries when the rendered Feature has them, in order.
    pub attributes: &'static [&'static str],
    /// The lines of the remarks people read, in order (only keys the Feature has appear).
    pub remarks: &'static [&'static str],
    /// What the callsign says: the first of these the Feature has (`_` read as spaces)...
    pub callsign: &'static [&'static str],
    /// ...followed by this one in brackets, when present.
    pub callsign_qualifier: Option<&'static str>,
    /// Inbound: the property an event's remarks become.
    pub remarks_to: &'static str,
    /// Inbound: the property an event's callsign becomes.
    pub callsign_to: &'static str,
    /// Inbound: the property the event's time becomes (not later than now).
    pub time_to: Option<&'static str>,
}

/// The declaration of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub layer: Layer,
    /// The tag of its `Props` variant in the log (`{"movement": {...}}`).
    pub props_tag: &'static str,
    /// The geometry types it accepts.
    pub geometry_kinds: &'static [GeometryKind],
    /// Its properties, in the order remarks, error messages and the policy's set list them.
    pub fields: &'static [FieldSpec],
    /// What another side sees of it by default.
    pub side_rules: &'static [SideRule],
    /// Kept in the picture's spatial index, which the access check and geofence alerts query.
    pub indexed: bool,
    /// The name of its properties' schema in `src/api/openapi.json`.
    pub openapi_schema: &'static str,
    /// Ids an item of the layer may not take: the fixed routes beside `/api/v1/{layer}/{id}`
    /// (`areas/admin`); `api` tests that every such route is listed here.
    pub reserved_ids: &'static [&'static str],
    pub cot: CotSpec,
    pub export: ExportSpec,
}

/// How a layer appears in exports and as an OGC API collection (`export`, `api::ogc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportSpec {
    /// The collection's title (OGC API) and the KML folder's name.
    pub title: &'static str,
    /// What a Placemark is called: the first of these the Feature has, else the id.
    pub label: &'static [&'static str],
    /// The property the wall colours an item by: its values are the keys of the layer's entry
    /// in `PALETTE` (`web/app/symbols.js`), which the KML styles are made from.
    pub colour_by: &'static str,
    /// The item's time, which `from`/`to` and OGC `datetime` are compared with: it starts at
    /// this property (a time or a date)...
    pub start: &'static str,
    /// ...and ends at this one (unset: in force until further notice), or at once when `None`.
    pub end: Option<&'static str>,
    /// The HXL hashtag of every property, in declaration order (the CSV's second row).
    pub hxl: &'static [(&'static str, &'static str)],
}

impl ExportSpec {
    /// The HXL hashtag of a property.
    pub fn hashtag(&self, name: &str) -> Option<&'static str> {
        let hxl: &'static [(&'static str, &'static str)] = self.hxl;
        hxl.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
    }
}

impl LayerSpec {
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        let fields: &'static [FieldSpec] = self.fields;
        fields.iter().find(|f| f.name == name)
    }

    /// Properties clients may write, in order.
    pub fn writable(&self) -> impl Iterator<Item = &'static str> {
        let fields: &'static [FieldSpec] = self.fields;
        fields.iter().filter(|f| f.is_writable()).map(|f| f.name)
    }

    /// Properties only the server sets, and why.
    pub fn read_only(&self) -> impl Iterator<Item = (&'static str, &'static str)> {
        let fields: &'static [FieldSpec] = self.fields;
        fields.iter().filter_map(|f| match f.writers {
            Writers::Server(why) => Some((f.name, why)),
            _ => None,
        })
    }

    /// Sub-fields (`vehicles.count`) that policy may hide on their own.
    pub fn sub_fields(&self) -> impl Iterator<Item = &'static str> {
        let fields: &'static [FieldSpec] = self.fields;
        fields
            .iter()
            .flat_map(|f| f.members.iter().filter(|m| m.sub_field).map(|m| m.path))
    }

    /// Every name policy may hide on this layer: each property, then its sub-fields.
    pub fn policy_fields(&self) -> impl Iterator<Item = &'static str> {
        let fields: &'static [FieldSpec] = self.fields;
        fields.iter().flat_map(|f| {
            std::iter::once(f.name).chain(f.members.iter().filter(|m| m.sub_field).map(|m| m.path))
        })
    }

    /// The fields a role on `side` sees of another organisation's items, if restricted.
    pub fn side_rule(&self, side: Side) -> Option<&'static [&'static str]> {
        let rules: &'static [SideRule] = self.side_rules;
        rules.iter().find(|r| r.side == side).map(|r| r.sees)
    }

    /// The translation key of the layer's name in `web/i18n/*.json`.
    pub fn label_key(&self) -> String {
        format!("layer.{}", self.layer)
    }
}

/// The envelope every item carries, whatever its layer (`model::Common` and the server-set
/// members of `Item`).
pub static ENVELOPE: &[FieldSpec] = &[
    FieldSpec::terms("marking", 7, &[Marking::NAMES]).cot_writable(),
    FieldSpec::new("releasable_to", 8, Kind::List),
    FieldSpec::new("field_markings", 58, Kind::Object),
    FieldSpec::new("precision_m", 9, Kind::Number).cot_writable(),
    FieldSpec::new("expires_at", 11, Kind::Time),
    FieldSpec::new("exercise", 12, Kind::Boolean),
    FieldSpec::new("id", 66, Kind::Text)
        .server("the id is the Feature's `id` member, not a property"),
    FieldSpec::terms("layer", 1, &[Layer::NAMES]).server("the layer is given by the route"),
    FieldSpec::new("org", 2, Kind::Text).server("the organisation is the token's"),
    FieldSpec::new("version", 3, Kind::Integer)
        .server("the version is counted by the server; send it in If-Match"),
    FieldSpec::new("created_at", 4, Kind::Time).server("set by the server"),
    FieldSpec::new("updated_at", 5, Kind::Time).server("set by the server"),
    FieldSpec::new("stale", 6, Kind::Boolean).server("set by the server when `expires_at` passes"),
    FieldSpec::new("origin", 0, Kind::Object).server(
        "the provenance of an item federated from another centre, set by the federation link",
    ),
];

/// The HXL hashtags of the envelope's properties as exports write them (CSV columns before the
/// layers' own), with the columns only exports add: where the item is (`lat`, `lon`: a point on
/// the geometry as the caller sees it; `wkt`: that geometry) and whether the view reduced it.
pub static ENVELOPE_HXL: &[(&str, &str)] = &[
    ("id", "#meta+id"),
    ("layer", "#meta+layer"),
    ("exercise", "#meta+exercise"),
    ("org", "#org"),
    ("marking", "#meta+marking"),
    ("releasable_to", "#org+releasable"),
    ("field_markings", "#meta+field_markings"),
    ("version", "#meta+version"),
    ("created_at", "#date+created"),
    ("updated_at", "#date+updated"),
    ("expires_at", "#date+expires"),
    ("stale", "#status+stale"),
    ("precision_m", "#geo+precision"),
    ("precision_reduced", "#geo+reduced"),
    ("origin", "#meta+origin"),
    ("lat", "#geo+lat"),
    ("lon", "#geo+lon"),
    ("wkt", "#geo+wkt"),
];

/// Envelope properties policy may hide (owner-only fields, for instance).
pub const ENVELOPE_POLICY_FIELDS: &[&str] = &["releasable_to", "field_markings"];

/// Envelope properties clients may write.
pub fn envelope_writable() -> impl Iterator<Item = &'static str> {
    ENVELOPE.iter().filter(|f| f.is_writable()).map(|f| f.name)
}

/// Envelope properties only the server sets, and why.
pub fn envelope_read_only() -> impl Iterator<Item = (&'static str, &'static str)> {
    ENVELOPE.iter().filter_map(|f| match f.writers {
        Writers::Server(why) => Some((f.name, why)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_layer_is_declared_once_in_order() {
        let declared: Vec<Layer> = LAYERS.iter().map(|s| s.layer).collect();
        assert_eq!(declared, Layer::ALL);
        for layer in Layer::ALL {
            assert_eq!(layer.spec().layer, *layer);
        }
    }

    #[test]
    fn declarations_are_consistent() {
        let envelope: HashSet<&str> = ENVELOPE.iter().map(|f| f.name).collect();
        for spec in LAYERS {
            let mut names = HashSet::new();
            for f in spec.fields {
                assert!(names.insert(f.name), "{}: `{}` twice", spec.layer, f.name);
                assert!(
                    !envelope.contains(f.name),
                    "{}: `{}` is envelope",
                    spec.layer,
                    f.name
                );
                if f.kind == Kind::Term {
                    assert!(
                        !f.vocabulary.is_empty(),
                        "{}.{}: a term",
                        spec.layer,
                        f.name
                    );
                }
                if !f.vocabulary.is_empty() {
                    assert!(
                        matches!(f.kind, Kind::Term | Kind::List | Kind::Object),
                        "{}.{}: a vocabulary of a {:?}",
                        spec.layer,
                        f.name,
                        f.kind
                    );
                }
                for m in f.members {
                    assert!(
                        m.path.starts_with(&format!("{}.", f.name)),
                        "{}: member {} of {}",
                        spec.layer,
                        m.path,
                        f.name
                    );
                }
            }
            for rule in spec.side_rules {
                for name in rule.sees {
                    assert!(
                        spec.policy_fields().any(|f| f == *name),
                        "{}: side rule names `{name}`",
                        spec.layer
                    );
                }
            }
            let cot = &spec.cot;
            for name in cot.attributes.iter().chain(cot.callsign) {
                assert!(spec.field(name).is_some(), "{}: cot `{name}`", spec.layer);
            }
            for name in cot.remarks {
                assert!(
                    spec.field(name).is_some() || envelope.contains(name),
                    "{}: remarks `{name}`",
                    spec.layer
                );
            }
            for name in [cot.remarks_to, cot.callsign_to]
                .into_iter()
                .chain(cot.time_to)
            {
                let f = spec.field(name);
                assert!(
                    f.is_some_and(|f| f.is_writable()),
                    "{}: inbound CoT sets `{name}`",
                    spec.layer
                );
            }
            assert!(!spec.geometry_kinds.is_empty());
        }
    }

    /// The access check and the geofence alerts query the layers the index keeps.
    #[test]
    fn the_access_index_holds_the_declared_layers() {
        let declared: Vec<Layer> = LAYERS
            .iter()
            .filter(|s| s.indexed)
            .map(|s| s.layer)
            .collect();
        assert_eq!(declared, crate::access::index::INDEXED);
    }
}
