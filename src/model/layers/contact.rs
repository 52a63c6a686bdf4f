//! The contacts layer: the directory of contact points — liaison officers and duty desks — by
//! organisation, side, governorate and function, how to reach them, their duty hours and when
//! they were last confirmed; their input and their declaration. Pure.
//!
//! A contact point belongs to the organisation that wrote it and stands on its author's side
//! (`side`, set by the server), as every item does. Its personal fields (`phone`, `email`) follow
//! the side rules of movements' `contact`: the other side of the civil-military line does not
//! receive them unless the item is released to it (`side_rules`, `config/policy.toml`'s
//! `contact_fields`), and wall displays never do.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::checks::{check_area_code, check_str, check_text, opt_time, MAX_SHORT};
use crate::model::geometry::GeometryKind;
use crate::model::schema::{CotSpec, ExportSpec, FieldSpec, Kind, LayerSpec, SideRule};
use crate::model::{wire_enum, Invalid, Layer, Side};

wire_enum! {
    /// What a contact point does.
    Function {
        LiaisonOfficer = "liaison_officer",
        DutyDesk = "duty_desk",
        AccessNegotiation = "access_negotiation",
        Security = "security",
        Logistics = "logistics",
        ClusterCoordination = "cluster_coordination",
        Other = "other",
    }
}

/// A contact point unconfirmed for this many days is due for confirmation.
pub const CONFIRM_WITHIN_DAYS: i64 = 30;

/// A contact point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub function: Function,
    /// The side of the civil-military line it stands on: its author's.
    pub side: Side,
    /// The P-code of the governorate it covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub governorate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// A radio call sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub radio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// When it answers, in words (`"08:00-16:00 Sun-Thu"`, `"24/7"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duty_hours: Option<String>,
    /// When its owner last confirmed the details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<DateTime<Utc>>,
}

impl Contact {
    /// Whether it is due for confirmation at `now`: confirmed more than
    /// `CONFIRM_WITHIN_DAYS` ago, or never since `since` (its creation) that long ago.
    pub fn unconfirmed(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.confirmed_at.unwrap_or(since) < now - Duration::days(CONFIRM_WITHIN_DAYS)
    }
}

/// The fields another side receives of a contact point (`config/policy.toml`,
/// `contact_fields`): not its personal ones, `phone` and `email`.
const ACROSS_SIDES: &[&str] = &[
    "name",
    "function",
    "side",
    "governorate",
    "radio",
    "duty_hours",
    "confirmed_at",
];

/// The contacts layer, declared once.
pub static SPEC: LayerSpec = LayerSpec {
    layer: Layer::Contacts,
    props_tag: "contact",
    geometry_kinds: &[GeometryKind::Point],
    fields: &[
        FieldSpec::new("name", 13, Kind::Text)
            .structural()
            .cot_writable(),
        FieldSpec::terms("function", 88, &[Function::NAMES])
            .structural()
            .cot_writable(),
        FieldSpec::terms("side", 89, &[Side::NAMES])
            .server("the side is the author's, as for every item")
            .structural(),
        FieldSpec::new("governorate", 90, Kind::Text).cot_writable(),
        FieldSpec::new("phone", 91, Kind::Text),
        FieldSpec::new("radio", 92, Kind::Text).cot_writable(),
        FieldSpec::new("email", 93, Kind::Text),
        FieldSpec::new("duty_hours", 94, Kind::Text),
        FieldSpec::new("confirmed_at", 95, Kind::Time),
    ],
    // The other side receives a contact point without its personal fields, unless released.
    side_rules: &[
        SideRule {
            side: Side::Civil,
            sees: ACROSS_SIDES,
        },
        SideRule {
            side: Side::Military,
            sees: ACROSS_SIDES,
        },
    ],
    indexed: false,
    openapi_schema: "ContactProperties",
    reserved_ids: &[],
    cot: CotSpec {
        types: &["a-n-G-U-C"],
        route_drawing: false,
        attributes: &["function", "side", "governorate", "radio"],
        remarks: &[
            "org",
            "name",
            "function",
            "side",
            "governorate",
            "phone",
            "radio",
            "email",
            "duty_hours",
            "confirmed_at",
        ],
        callsign: &["radio", "name"],
        callsign_qualifier: Some("function"),
        remarks_to: "duty_hours",
        callsign_to: "name",
        time_to: None,
    },
    export: ExportSpec {
        title: "Contact points",
        label: &["name", "radio"],
        colour_by: "function",
        start: "confirmed_at",
        end: None,
        hxl: &[
            ("name", "#meta+name"),
            ("function", "#contact+function"),
            ("side", "#org+side"),
            ("governorate", "#adm1+code+contact"),
            ("phone", "#contact+phone"),
            ("radio", "#contact+radio"),
            ("email", "#contact+email"),
            ("duty_hours", "#contact+hours"),
            ("confirmed_at", "#date+confirmed"),
        ],
    },
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactInput {
    name: String,
    function: Function,
    #[serde(default)]
    governorate: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    radio: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    duty_hours: Option<String>,
    #[serde(default, deserialize_with = "opt_time")]
    confirmed_at: Option<DateTime<Utc>>,
}

/// A validated contact point, before it takes its author's side.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactDraft(Contact);

impl ContactDraft {
    /// The contact point its author writes (on the author's side).
    pub fn by(self, side: Side) -> Contact {
        Contact { side, ..self.0 }
    }
}

impl ContactInput {
    pub(crate) fn validate(self, now: DateTime<Utc>) -> Result<ContactDraft, Invalid> {
        check_str("name", &self.name, MAX_SHORT)?;
        if self.name.trim().is_empty() {
            return Err(Invalid::new("properties.name", "must not be empty"));
        }
        check_area_code("governorate", &self.governorate)?;
        if let Some(p) = &self.phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            let ok = p
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
            if !ok || !(5..=20).contains(&digits) {
                return Err(Invalid::new(
                    "properties.phone",
                    "must be a telephone number: 5 to 20 digits, with + - ( ) . and spaces",
                ));
            }
        }
        if let Some(e) = &self.email {
            let parts: Vec<&str> = e.split('@').collect();
            let ok = parts.len() == 2
                && !parts[0].is_empty()
                && parts[1].contains('.')
                && !e.chars().any(char::is_whitespace);
            if !ok {
                return Err(Invalid::new(
                    "properties.email",
                    "must be an e-mail address (name@domain)",
                ));
            }
        }
        check_text("email", &self.email, MAX_SHORT)?;
        check_text("radio", &self.radio, MAX_SHORT)?;
        check_text("duty_hours", &self.duty_hours, MAX_SHORT)?;
        if let Some(t) = self.confirmed_at {
            if t > now + Duration::minutes(15) {
                return Err(Invalid::new("properties.confirmed_at", "is in the future"));
            }
        }
        Ok(ContactDraft(Contact {
            name: self.name,
            function: self.function,
            // Replaced by the author's side (`ContactDraft::by`).
            side: Side::Display,
            governorate: self.governorate,
            phone: self.phone,
            radio: self.radio,
            email: self.email,
            duty_hours: self.duty_hours,
            confirmed_at: self.confirmed_at,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        crate::model::parse_time("2026-11-29T10:00:00Z").unwrap()
    }

    fn input(v: serde_json::Value) -> Result<Contact, Invalid> {
        let mut base = json!({"name": "WFP access desk", "function": "duty_desk"});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        let i: ContactInput =
            serde_json::from_value(base).map_err(|e| Invalid::new("", e.to_string()))?;
        i.validate(now()).map(|d| d.by(Side::Civil))
    }

    #[test]
    fn a_contact_is_checked_naming_the_field() {
        let c = input(
            json!({"phone": "+964 750 123 4567", "email": "desk@wfp.org",
                             "governorate": "IQG11", "radio": "PAPA 1"}),
        )
        .unwrap();
        assert_eq!(c.side, Side::Civil);
        for (bad, field) in [
            (json!({"name": " "}), "properties.name"),
            (json!({"phone": "call me"}), "properties.phone"),
            (json!({"phone": "123"}), "properties.phone"),
            (json!({"email": "desk"}), "properties.email"),
            (json!({"governorate": "erbil"}), "properties.governorate"),
            (
                json!({"confirmed_at": "2026-12-05T00:00:00Z"}),
                "properties.confirmed_at",
            ),
        ] {
            assert_eq!(input(bad.clone()).unwrap_err().field, field, "{bad}");
        }
    }

    #[test]
    fn unconfirmed_after_thirty_days() {
        let created = crate::model::parse_time("2026-10-01T10:00:00Z").unwrap();
        let mut c = input(json!({})).unwrap();
        assert!(
            c.unconfirmed(created, now()),
            "never confirmed, created 59 days ago"
        );
        c.confirmed_at = Some(now() - Duration::days(29));
        assert!(!c.unconfirmed(created, now()));
        c.confirmed_at = Some(now() - Duration::days(31));
        assert!(c.unconfirmed(created, now()));
    }
}
