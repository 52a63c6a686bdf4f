//! Who may see what, at what precision, and who may write what.
//!
//! The one policy filter: every output path (REST, WebSocket, CoT, exports, the access check)
//! asks `Policy::decide` whether a viewer sees an item and, if so, which `View` of it (hidden
//! fields, reduced precision). A `View` is small, `Eq` and `Hash`, so the hub can group
//! subscribers that see an item alike and serialize it once per view. Driven by
//! `config/policy.toml`. Pure: no IO, no clock, no serialization.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use serde::Deserialize;

use crate::model::schema::{ENVELOPE_POLICY_FIELDS, LAYERS};
use crate::model::{Item, Layer, Marking, Notification, Props, Role, Side};

mod agreement;
mod authors;
mod meetings;
mod reports;
mod rights;
pub use rights::{
    read_only_if_federated, Capability, Channel, MeetingAct, Refusal, Rights, Scope, Write,
};

/// The policy shipped with cmcop; `config/policy.toml` is the same text.
pub const DEFAULT_POLICY: &str = include_str!("../config/policy.toml");

/// What every answer about the past (a replayed picture, a history, a WebSocket replay) says
/// of the policy it was filtered by: today's, applied to the items as they were then
/// (`"policy": "current"`).
pub const PAST_ITEMS_NOTE: &str =
    "the items as they were, shown as today's policy lets the caller see them";

/// Every property name policy can hide: the envelope's, then each layer's properties and
/// sub-fields as `model::schema::LAYERS` declares them. The position in this table is the bit
/// in a `FieldSet` (stable within one process, never stored).
pub static FIELDS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut fields: Vec<&'static str> = ENVELOPE_POLICY_FIELDS.to_vec();
    for spec in LAYERS {
        for name in spec.policy_fields() {
            if !fields.contains(&name) {
                fields.push(name);
            }
        }
    }
    assert!(
        fields.len() <= FieldSet::CAPACITY,
        "a FieldSet holds {} fields; the layers declare {}",
        FieldSet::CAPACITY,
        fields.len()
    );
    fields
});

/// Each name's position in `FIELDS`: asked for every field of every item rendered and judged,
/// where a walk along the table cost a string comparison per field before it.
static POSITIONS: LazyLock<HashMap<&'static str, usize, foldhash::fast::RandomState>> =
    LazyLock::new(|| FIELDS.iter().enumerate().map(|(i, f)| (*f, i)).collect());

/// The figures derived from a reported position (declared `follows_position` by their layer):
/// hidden wherever the position is reduced, so that a reduced position is not placed inside
/// its grid cell by its time, speed or heading.
static FOLLOWS_POSITION: LazyLock<FieldSet> = LazyLock::new(|| {
    let mut set = FieldSet::EMPTY;
    for spec in LAYERS {
        for f in spec.fields.iter().filter(|f| f.follows_position) {
            set.insert(f.name)
                .expect("a declared field is a policy field");
        }
    }
    set
});

/// A set of hidden fields, one bit per entry of `FIELDS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSet([u64; FieldSet::WORDS]);

impl FieldSet {
    const WORDS: usize = 2;
    /// How many fields the set can name.
    pub const CAPACITY: usize = 64 * FieldSet::WORDS;
    pub const EMPTY: FieldSet = FieldSet([0; FieldSet::WORDS]);

    pub fn of(names: &[String]) -> Result<FieldSet, String> {
        let mut set = FieldSet::EMPTY;
        for n in names {
            set.insert(n)?;
        }
        Ok(set)
    }

    fn position(name: &str) -> Option<usize> {
        POSITIONS.get(name).copied()
    }

    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn insert(&mut self, name: &str) -> Result<(), String> {
        let i = FieldSet::position(name)
            .ok_or_else(|| format!("`{name}` is not a field policy knows"))?;
        self.0[i / 64] |= 1 << (i % 64);
        Ok(())
    }

    pub fn contains(&self, name: &str) -> bool {
        // Most views hide nothing: no look-up then.
        !self.is_empty() && FieldSet::position(name).is_some_and(|i| self.has(i))
    }

    pub fn union(self, other: FieldSet) -> FieldSet {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        let fields: &'static [&'static str] = FIELDS.as_slice();
        fields
            .iter()
            .enumerate()
            .filter(|(i, _)| self.has(*i))
            .map(|(_, f)| *f)
    }
}

/// How one viewer sees one item. Two viewers with equal views receive identical bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct View {
    pub hidden: FieldSet,
    /// Grid size in metres the geometry is reduced to, as `f64::to_bits` so the view hashes.
    precision_bits: Option<u64>,
    /// For a peer centre (federation): the marking the item carries on the other side, under
    /// the agreement. The rendering then states this marking and the item's side, which the
    /// receiving centre's own policy needs.
    pub border: Option<Marking>,
}

impl View {
    /// The item in full, exact.
    pub const FULL: View = View {
        hidden: FieldSet::EMPTY,
        precision_bits: None,
        border: None,
    };

    /// A view with `hidden` at `precision` (metres, `None` for exact). Wherever the position
    /// is reduced, the figures that follow it are hidden with it (`FOLLOWS_POSITION`): this is
    /// the only way a reduced view is made.
    fn reduced_to(hidden: FieldSet, precision: Option<f64>, border: Option<Marking>) -> View {
        let hidden = match precision {
            Some(_) => hidden.union(*FOLLOWS_POSITION),
            None => hidden,
        };
        View {
            hidden,
            precision_bits: precision.map(f64::to_bits),
            border,
        }
    }

    pub fn precision_m(&self) -> Option<f64> {
        self.precision_bits.map(f64::from_bits)
    }

    pub fn is_full(&self) -> bool {
        *self == View::FULL
    }
}

/// Who is looking: a role within an organisation, or a peer centre (federation).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub role: Role,
    pub org: Arc<str>,
    /// A peer centre by its configured name: what it sees is its sharing agreement, and
    /// nothing else (`role` and `org` are then not consulted by `decide`).
    pub peer: Option<Arc<str>>,
}

impl Viewer {
    pub fn new(role: Role, org: &str) -> Viewer {
        Viewer {
            role,
            org: Arc::from(org),
            peer: None,
        }
    }

    /// The server itself, for its own writes (expiry, alerts), which the gate admits by their
    /// channel. Its role is one no policy defines, so it has no role's rights and sees nothing
    /// should a code path ever ask what it sees.
    pub fn system() -> Viewer {
        Viewer::new(Role::System, "cmcop")
    }

    /// The viewer class of a peer centre. Its role is one no policy defines, so that any code
    /// path that forgot to ask `decide` would grant nothing.
    pub fn peer(name: &str) -> Viewer {
        Viewer {
            role: Role::Peer,
            org: Arc::from(name),
            peer: Some(Arc::from(name)),
        }
    }
}

/// A sharing agreement with a peer centre, as written in the config (`[federation.peers.share]`):
/// the config holds it as plain data; the policy compiles it into a viewer class.
pub use crate::config::ShareConfig as Sharing;

/// Whether the receiving centre needs the field to rebuild an item: an agreement may not hide
/// it (declared `structural` by its layer).
fn is_structural(name: &str) -> bool {
    LAYERS
        .iter()
        .any(|spec| spec.field(name).is_some_and(|f| f.structural))
}

/// A compiled sharing agreement.
#[derive(Clone, Debug)]
struct Agreement {
    layers: Vec<Layer>,
    markings: Vec<Marking>,
    releasable_to: Option<String>,
    orgs: Option<Vec<String>>,
    markings_out: HashMap<Marking, Marking>,
    hidden: FieldSet,
    precision_m: Option<f64>,
    movements_once_notified: bool,
    exercise: bool,
}

impl Sharing {
    fn compile(&self) -> Result<Agreement, String> {
        for m in &self.markings {
            if !self.markings_out.contains_key(m) {
                return Err(format!(
                    "markings: `{m}` is shared but markings_out gives no marking for it on the other side"
                ));
            }
        }
        let mut hidden = FieldSet::EMPTY;
        for f in &self.hidden_fields {
            if is_structural(f) {
                return Err(format!(
                    "hidden_fields: `{f}` cannot be hidden: the other centre needs it to rebuild the item (leave the layer out instead)"
                ));
            }
            hidden
                .insert(f)
                .map_err(|e| format!("hidden_fields: {e}"))?;
        }
        if self.orgs.is_empty() {
            return Err("orgs: name the owner organisations shared, or [\"*\"] for all".into());
        }
        let orgs = if self.orgs.iter().any(|o| o == "*") {
            None
        } else {
            for o in &self.orgs {
                crate::model::validate_org(o).map_err(|e| format!("orgs: {e}"))?;
            }
            Some(self.orgs.clone())
        };
        if let Some(o) = &self.releasable_to {
            crate::model::validate_org(o).map_err(|e| format!("releasable_to: {e}"))?;
        }
        if let Some(p) = self.precision_m {
            // Only for these grids does the picture know what a view is shown of an item's
            // version and time without revealing when its position is reported (issue 20).
            if !crate::model::AGREEMENT_GRIDS_M
                .iter()
                .any(|g| f64::from(*g) == p)
            {
                return Err(format!(
                    "precision_m must be one of {:?} metres, not {p}",
                    crate::model::AGREEMENT_GRIDS_M
                ));
            }
        }
        Ok(Agreement {
            layers: self.layers.clone(),
            markings: self.markings.clone(),
            releasable_to: self.releasable_to.clone(),
            orgs,
            markings_out: self.markings_out.clone(),
            hidden,
            precision_m: self.precision_m,
            movements_once_notified: self.movements_once_notified,
            exercise: self.exercise,
        })
    }

    /// Checks the agreement as `Policy::with_peers` will compile it.
    pub fn validate(&self) -> Result<(), String> {
        self.compile().map(|_| ())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file is not valid TOML for a policy: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("policy: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    owner_only_fields: Vec<String>,
    roles: HashMap<Role, RoleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFile {
    /// The side of the civil-military line the role stands on (and the items it writes).
    side: Side,
    /// What the role may do: capabilities (`rights::Capability`).
    #[serde(default)]
    may: Vec<String>,
    #[serde(default)]
    sees_all: bool,
    #[serde(default = "yes")]
    own_items_in_full: bool,
    #[serde(default)]
    markings: Vec<Marking>,
    #[serde(default)]
    hidden_fields: Vec<String>,
    #[serde(default)]
    movements_once_notified: bool,
    #[serde(default)]
    movement_fields: Option<Vec<String>>,
    /// Of contact points written on the other side of the civil-military line, the fields the
    /// role receives (their personal ones are left out).
    #[serde(default)]
    contact_fields: Option<Vec<String>>,
    #[serde(default)]
    hide_from_side: HashMap<Side, Vec<String>>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug)]
struct RolePolicy {
    side: Side,
    rights: Rights,
    sees_all: bool,
    /// Whether the own-organisation rule applies (not for wall displays, which anyone in the
    /// room reads).
    own_items_in_full: bool,
    markings: Vec<Marking>,
    hidden: FieldSet,
    movements_once_notified: bool,
    /// Fields of other organisations' movements this role does not see (the complement of the
    /// configured allow-list).
    movement_hidden: FieldSet,
    /// Fields of contact points from the other side this role does not see (the complement of
    /// `contact_fields`).
    contact_hidden: FieldSet,
    hide_from_side: HashMap<Side, FieldSet>,
}

/// The sharing rules, loaded once from the policy file, and the agreements with peer centres.
#[derive(Clone, Debug)]
pub struct Policy {
    owner_only: FieldSet,
    roles: HashMap<Role, RolePolicy>,
    peers: HashMap<Arc<str>, Agreement>,
}

impl Policy {
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(text)?;
        let owner_only = FieldSet::of(&file.owner_only_fields).map_err(PolicyError::Invalid)?;
        let mut roles = HashMap::new();
        if file.roles.is_empty() {
            return Err(PolicyError::Invalid(
                "no roles: add [roles.NAME] tables".into(),
            ));
        }
        for (role, r) in &file.roles {
            let rights = Rights::parse(&r.may)
                .map_err(|e| PolicyError::Invalid(format!("roles.{role}.may: {e}")))?;
            let hidden = FieldSet::of(&r.hidden_fields)
                .map_err(|e| PolicyError::Invalid(format!("roles.{role}.hidden_fields: {e}")))?;
            let movement_hidden = allow_list(
                Layer::Movements,
                r.movement_fields.as_deref(),
                &format!("roles.{role}.movement_fields"),
            )?;
            let contact_hidden = allow_list(
                Layer::Contacts,
                r.contact_fields.as_deref(),
                &format!("roles.{role}.contact_fields"),
            )?;
            let mut hide_from_side = HashMap::new();
            for (side, names) in &r.hide_from_side {
                let set = FieldSet::of(names).map_err(|e| {
                    PolicyError::Invalid(format!("roles.{role}.hide_from_side.{side}: {e}"))
                })?;
                hide_from_side.insert(*side, set);
            }
            roles.insert(
                *role,
                RolePolicy {
                    side: r.side,
                    rights,
                    sees_all: r.sees_all,
                    own_items_in_full: r.own_items_in_full,
                    markings: r.markings.clone(),
                    hidden,
                    movements_once_notified: r.movements_once_notified,
                    movement_hidden,
                    contact_hidden,
                    hide_from_side,
                },
            );
        }
        Ok(Policy {
            owner_only,
            roles,
            peers: HashMap::new(),
        })
    }

    /// Adds the sharing agreement with each peer centre (by name).
    pub fn with_peers<'a>(
        mut self,
        peers: impl IntoIterator<Item = (&'a str, &'a Sharing)>,
    ) -> Result<Policy, PolicyError> {
        for (name, sharing) in peers {
            let a = sharing.compile().map_err(|e| {
                PolicyError::Invalid(format!("federation.peers `{name}`: share.{e}"))
            })?;
            self.peers.insert(Arc::from(name), a);
        }
        Ok(self)
    }

    pub fn default_policy() -> Policy {
        Policy::from_toml(DEFAULT_POLICY).expect("the embedded default policy is valid")
    }

    /// Whether the policy defines `role`. A token or a config entry naming a role it does not
    /// define is refused where it is read; a viewer of such a role sees and may do nothing.
    pub fn knows(&self, role: Role) -> bool {
        self.roles.contains_key(&role)
    }

    /// The roles the policy defines, by name.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = self.roles.keys().copied().collect();
        roles.sort();
        roles
    }

    /// The side a role stands on (`Side::Display` for a role the policy does not define: it
    /// writes nothing and receives only what every side may see).
    pub fn side(&self, role: Role) -> Side {
        self.roles.get(&role).map_or(Side::Display, |r| r.side)
    }

    /// Whether `viewer` sees `item`, and how. `None` means the item does not exist for them:
    /// no id, no count, no hint.
    pub fn decide(&self, item: &Item, viewer: &Viewer) -> Option<View> {
        if let Some(peer) = &viewer.peer {
            // A peer without an agreement sees nothing.
            return self.decide_peer(item, self.peers.get(peer)?);
        }
        let rp = self.roles.get(&viewer.role)?;
        if rp.sees_all || (rp.own_items_in_full && *item.org == *viewer.org) {
            return Some(View::FULL);
        }
        let released = item.common.releasable_to.iter().any(|o| **o == *viewer.org);
        let mut hidden = self.owner_only.union(rp.hidden);
        if !released {
            if !rp.markings.contains(&item.common.marking) {
                return None;
            }
            if let Props::Movement(m) = &item.props {
                if rp.movements_once_notified && m.notification == Notification::Draft {
                    return None;
                }
                hidden = hidden.union(rp.movement_hidden);
            }
            // A contact point's personal fields stay on its side of the civil-military line.
            let across = matches!(
                (item.side, rp.side),
                (Side::Civil, Side::Military) | (Side::Military, Side::Civil)
            );
            if across && matches!(item.props, Props::Contact(_)) {
                hidden = hidden.union(rp.contact_hidden);
            }
            if let Some(set) = rp.hide_from_side.get(&item.side) {
                hidden = hidden.union(*set);
            }
        }
        // A release lifts the item's marking and the cross-side rules, never a field's own
        // marking: a field marking names its own audience.
        for (field, marking) in &item.common.field_markings {
            if !rp.markings.contains(marking) {
                // Names were checked against the model when the item was written.
                let _ = hidden.insert(field);
            }
        }
        let precision = match item.common.precision_m {
            Some(p) if rp.side != item.side => Some(p),
            _ => None,
        };
        Some(View::reduced_to(hidden, precision, None))
    }

    /// Whether `decide` may hide `field` of an item of `layer` from `viewer` for a reason
    /// other than the item's own field markings (which the caller checks on the item): its
    /// role's hidden fields or cross-side rules, the fields kept for the owner, the figures
    /// that follow a reduced position. `false` means every item of the layer the viewer sees
    /// without a field marking on `field` shows it. Conservative: a peer, or a role this
    /// policy does not know, may be hidden anything.
    pub fn may_hide(&self, viewer: &Viewer, layer: Layer, field: &str) -> bool {
        if viewer.peer.is_some() {
            return true;
        }
        let Some(rp) = self.roles.get(&viewer.role) else {
            return true;
        };
        if rp.sees_all {
            return false;
        }
        let mut hidden = self.owner_only.union(rp.hidden);
        if layer == Layer::Movements {
            hidden = hidden.union(rp.movement_hidden);
        }
        if layer == Layer::Contacts {
            hidden = hidden.union(rp.contact_hidden);
        }
        for set in rp.hide_from_side.values() {
            hidden = hidden.union(*set);
        }
        hidden.union(*FOLLOWS_POSITION).contains(field)
    }

    /// What a peer centre sees of `item` under its agreement: the border view.
    fn decide_peer(&self, item: &Item, a: &Agreement) -> Option<View> {
        // No echo, no relay: what came from another centre stays here.
        if item.origin.is_some() {
            return None;
        }
        if !a.layers.contains(&item.layer) || (item.common.exercise && !a.exercise) {
            return None;
        }
        if a.orgs
            .as_ref()
            .is_some_and(|orgs| !orgs.contains(&item.org))
        {
            return None;
        }
        let released = a
            .releasable_to
            .as_ref()
            .is_some_and(|o| item.common.releasable_to.contains(o));
        if !released && !a.markings.contains(&item.common.marking) {
            return None;
        }
        let border = *a.markings_out.get(&item.common.marking)?;
        let mut hidden = self.owner_only.union(a.hidden);
        if let Props::Movement(m) = &item.props {
            if a.movements_once_notified && m.notification == Notification::Draft {
                return None;
            }
        }
        for (field, marking) in &item.common.field_markings {
            if !a.markings.contains(marking) {
                // Names were checked against the model when the item was written.
                let _ = hidden.insert(field);
            }
        }
        // A peer centre is outside the owner's organisation and side: the item's own
        // precision always applies, and the agreement may coarsen it further.
        let precision = match (item.common.precision_m, a.precision_m) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        Some(View::reduced_to(hidden, precision, Some(border)))
    }
}

/// What an allow-list of a layer's fields (`movement_fields`, `contact_fields`) hides: the
/// layer's other fields; a name that is not the layer's is refused, naming `key`.
fn allow_list(
    layer: Layer,
    allowed: Option<&[String]>,
    key: &str,
) -> Result<FieldSet, PolicyError> {
    let Some(allowed) = allowed else {
        return Ok(FieldSet::EMPTY);
    };
    let fields: Vec<&str> = layer.spec().policy_fields().collect();
    for name in allowed {
        if !fields.contains(&name.as_str()) {
            return Err(PolicyError::Invalid(format!(
                "{key}: `{name}` is not a field of {layer}"
            )));
        }
    }
    let mut set = FieldSet::EMPTY;
    for f in &fields {
        if !allowed.iter().any(|a| a == f) {
            set.insert(f).map_err(PolicyError::Invalid)?;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests;
