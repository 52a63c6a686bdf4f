//! The domain model: items of the layers, their common envelope, roles and markings.
//!
//! Owns the domain types and their validation where they enter (GeoJSON Features from any
//! channel are parsed by `model::input`). Pure: no IO, no clock (callers pass `now`), no
//! knowledge of HTTP, SQL or the hub.

mod checks;
pub mod geometry;
pub mod input;
pub mod json;
pub mod layers;
pub mod schema;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use checks::{item_time, time_within, YEARS};
pub use geometry::{BBox, Geometry, GeometryKind, Position};
pub use layers::{
    Area, AreaStatus, Constraint, ConstraintStatus, Displacement, Incident, Movement,
    MovementStatus, Notification, Props,
};

/// A field that failed validation, and why. `field` is a dotted path into the Feature
/// (`properties.window_end`, `geometry.coordinates[3]`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Declares a string-valued enum with its wire names, `FromStr`, `Display` and serde.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The wire names, in the order of `ALL` (a layer declaration's vocabulary).
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted names, for error messages.
            pub fn names() -> String {
                Self::ALL.iter().map(|v| format!("`{}`", v.as_str())).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("`{}` is not one of {}", other, $name::names())),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use wire_enum;

wire_enum! {
    /// The layers of the picture. Their names are the `{layer}` of the HTTP routes.
    Layer {
        Movements = "movements",
        Constraints = "constraints",
        Incidents = "incidents",
        Displacements = "displacements",
        Areas = "areas",
        Needs = "needs",
        Contacts = "contacts",
    }
}

wire_enum! {
    /// An item's audience.
    Marking {
        Public = "public",
        Joint = "joint",
        Civil = "civil",
        Military = "military",
        Restricted = "restricted",
    }
}

wire_enum! {
    /// Which side of the civil-military line a role (and the items it writes) stands on.
    Side { Civil = "civil", Military = "military", Coordination = "coordination", Display = "display" }
}

/// A role: what a token may do and see. A role is data: its name is a key of
/// `config/policy.toml` (`[roles.NAME]`), which gives it a side, what it sees and what it may
/// do; a new role is a policy entry, not Rust. The five roles every centre has are named here
/// as constants for code and tests that need one; nothing decides rights by matching them.
///
/// A `Role` is a small `Copy` name. Names are interned for the process's life, so only names
/// from trusted sources (the policy, the config, the token table) are parsed into roles, and
/// the table is bounded (`MAX_ROLE_NAMES`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Role(&'static str);

/// How many distinct role names one process accepts (the policy has a handful).
pub const MAX_ROLE_NAMES: usize = 256;

#[allow(non_upper_case_globals)]
impl Role {
    pub const Coordinator: Role = Role("coordinator");
    pub const CivilLiaison: Role = Role("civil_liaison");
    pub const ConvoyPlanner: Role = Role("convoy_planner");
    pub const MilitaryLiaison: Role = Role("military_liaison");
    pub const WallDisplay: Role = Role("wall_display");
    /// The server's own writes (`Viewer::system`); a policy does not define it.
    pub const System: Role = Role("cmcop_system");
    /// A peer centre (`Viewer::peer`), which sees by its sharing agreement; a policy does not
    /// define it, so any path that forgot the agreement would grant nothing.
    pub const Peer: Role = Role("cmcop_peer");

    /// The roles of the default policy, in the order the documentation lists them.
    pub const BUILT_IN: &'static [Role] = &[
        Role::Coordinator,
        Role::CivilLiaison,
        Role::ConvoyPlanner,
        Role::MilitaryLiaison,
        Role::WallDisplay,
    ];

    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// A role name: 1-32 of a-z 0-9 _, starting with a letter. Whether the policy defines it is
    /// the policy's to say (`Policy::knows`).
    pub fn parse(name: &str) -> Result<Role, String> {
        let ok = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && name.starts_with(|c: char| c.is_ascii_lowercase());
        if !ok {
            return Err(format!(
                "`{name}` is not a role name (1-32 of a-z 0-9 _, starting with a letter)"
            ));
        }
        if let Some(r) = Role::BUILT_IN.iter().find(|r| r.0 == name) {
            return Ok(*r);
        }
        static NAMES: std::sync::OnceLock<
            std::sync::Mutex<std::collections::BTreeSet<&'static str>>,
        > = std::sync::OnceLock::new();
        let mut names = NAMES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = names.get(name) {
            return Ok(Role(n));
        }
        if names.len() >= MAX_ROLE_NAMES {
            return Err(format!("`{name}`: too many distinct role names"));
        }
        // Interned once per distinct name, bounded above: a policy names a handful.
        let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
        names.insert(leaked);
        Ok(Role(leaked))
    }
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Role({})", self.0)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s)
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Role::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Checks an organisation code: a short identifier, the same in tokens and `releasable_to`.
/// `fed` is reserved: an organisation's chosen ids start with its code and a colon, and ids
/// starting `fed:` name items federated from other centres, so `fed` could choose none.
pub fn validate_org(org: &str) -> Result<(), String> {
    if Some(org) == FEDERATED_ID_PREFIX.strip_suffix(':') {
        return Err(format!(
            "`{org}` is reserved and cannot be an organisation code: ids starting with \
             `{FEDERATED_ID_PREFIX}` name items federated from other centres, and an \
             organisation's own ids start with its code and a colon"
        ));
    }
    let ok = !org.is_empty()
        && org.len() <= 64
        && org
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && org
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{org}` is not an organisation code (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"
        ))
    }
}

/// Checks an item id: client-chosen ids (CoT uids, ids from another system) are welcome, within
/// a safe alphabet.
pub fn validate_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'))
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err("an id is 1-128 of A-Z a-z 0-9 . _ - :, starting with a letter or digit".into())
    }
}

/// The envelope every item carries, whatever its layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Common {
    pub marking: Marking,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releasable_to: Vec<String>,
    /// Per-field audience: a field listed here is shown only to those its marking admits.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_markings: BTreeMap<String, Marking>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_m: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub exercise: bool,
}

impl Default for Common {
    fn default() -> Self {
        Common {
            marking: Marking::Joint,
            releasable_to: Vec::new(),
            field_markings: BTreeMap::new(),
            precision_m: None,
            expires_at: None,
            exercise: false,
        }
    }
}

/// One item of the picture, as the log and the picture hold it (never sent as is: output goes
/// through `policy` and `feature`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub layer: Layer,
    pub version: u64,
    pub geometry: Geometry,
    /// The owning organisation.
    pub org: String,
    /// The side of the role that created the item; precision reduction and cross-side rules
    /// are judged against it.
    pub side: Side,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Past `expires_at`: still shown, marked stale, until the grace period removes it.
    #[serde(default)]
    pub stale: bool,
    #[serde(flatten)]
    pub common: Common,
    pub props: Props,
    /// Where a federated item comes from (another centre); `None` for items made here.
    /// Federated items are read-only here and never sent to another centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
    /// What a view that reduces the item's position is shown as its version and time (issue
    /// 20): a position report that leaves the position in the same cell of `precision_m`
    /// changes nothing such a view sees, so it moves neither; every other change moves both
    /// by one step. `None` while that is `version` and `updated_at` themselves (no report has
    /// stayed in its cell). Kept by `picture::next_state`, the one definition of what an event
    /// does; in the snapshots with the item, never in what is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coarse: Option<Stamp>,
}

/// A version and when it was made, as one kind of view is shown them (`Item::coarse`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub version: u64,
    pub at: DateTime<Utc>,
}

/// The provenance of an item federated from another centre.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The origin centre's name, as this centre's config names the peer.
    pub centre: String,
    /// The item's id at the origin centre.
    pub id: String,
    /// The item's version at the origin centre.
    pub version: u64,
    /// How far this centre had applied the origin's feed when it wrote this version (the
    /// origin's sequence number). The link resumes after the highest one in the log.
    pub seq: u64,
}

/// Checks an id a client chose for a new item: it must lie in the client's organisation's
/// namespace, `ORG:` (an organisation code has no colon). A chosen id then never meets an item
/// of another organisation, so whether such an item exists, is hidden from the caller or was
/// retired is never observable through the answer (issue 20.1); within its own namespace an
/// organisation meets only its own items.
pub fn check_chosen_id(id: &str, org: &str) -> Result<(), String> {
    match id.strip_prefix(org).and_then(|rest| rest.strip_prefix(':')) {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err(format!(
            "an id you choose lies in your organisation's namespace: `{org}:` and a name \
             (e.g. `{org}:convoy-42`); leave `id` out and the server assigns one"
        )),
    }
}

/// Ids of federated items start with this; local clients cannot create such ids.
pub const FEDERATED_ID_PREFIX: &str = "fed:";

/// The local id of the item `origin_id` of `centre`: stable, so that every version of it lands
/// on the same item, and within the id alphabet and length.
pub fn federated_id(centre: &str, origin_id: &str) -> String {
    let id = format!("{FEDERATED_ID_PREFIX}{centre}:{origin_id}");
    if id.len() <= 128 {
        return id;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(origin_id.as_bytes());
    format!(
        "{FEDERATED_ID_PREFIX}{centre}:h{}",
        hex::encode(&digest[..20])
    )
}

impl Item {
    pub fn movement(&self) -> Option<&Movement> {
        match &self.props {
            Props::Movement(m) => Some(m),
            _ => None,
        }
    }

    pub fn need(&self) -> Option<&layers::Need> {
        match &self.props {
            Props::Need(n) => Some(n),
            _ => None,
        }
    }

    pub fn movement_mut(&mut self) -> Option<&mut Movement> {
        match &mut self.props {
            Props::Movement(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{} v{}", self.layer, self.id, self.version)
    }
}

/// Parses a calendar date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<chrono::NaiveDate, String> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("`{text}` is not a date YYYY-MM-DD ({e})"))
}

/// Parses an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e})"))
}

impl FromStr for BBox {
    type Err = String;
    fn from_str(s: &str) -> Result<BBox, String> {
        BBox::parse(s)
    }
}
