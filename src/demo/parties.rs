//! The organisations that act in the demo, and the role each acts in.
//!
//! Owns the one list of parties that the scenario files name by their code and the live loop
//! picks from. Pure: no IO. It must not decide what a role may do; the policy does.

use crate::model::{Role, Side};
use crate::policy::Policy;

/// An organisation acting in a role: who writes an item of the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Party {
    pub org: &'static str,
    pub role: Role,
}

impl Party {
    pub const fn new(org: &'static str, role: Role) -> Party {
        Party { org, role }
    }

    /// The side the party's role stands on under the default policy, which the scenario is
    /// written for (the writer stamps items with the side of the policy in force).
    pub fn side(&self) -> Side {
        static POLICY: std::sync::LazyLock<Policy> =
            std::sync::LazyLock::new(Policy::default_policy);
        POLICY.side(self.role)
    }
}

// The humanitarian side: logistics agencies plan convoys, the others liaise.
pub const WFP: Party = Party::new("WFP", Role::ConvoyPlanner);
pub const IOM: Party = Party::new("IOM", Role::ConvoyPlanner);
pub const UNHCR: Party = Party::new("UNHCR", Role::CivilLiaison);
pub const UNICEF: Party = Party::new("UNICEF", Role::CivilLiaison);
pub const NRC: Party = Party::new("NRC", Role::CivilLiaison);
pub const IRC: Party = Party::new("IRC", Role::CivilLiaison);
pub const MSF: Party = Party::new("MSF", Role::CivilLiaison);
// The military side acknowledges notifications and publishes constraints.
pub const IQ_ARMY: Party = Party::new("IQ-ARMY", Role::MilitaryLiaison);
pub const IQ_POLICE: Party = Party::new("IQ-POLICE", Role::MilitaryLiaison);
pub const PESHMERGA: Party = Party::new("PESHMERGA", Role::MilitaryLiaison);
pub const COALITION: Party = Party::new("COALITION", Role::MilitaryLiaison);
// Coordinators see everything and relay between the sides.
pub const JCMC: Party = Party::new("JCMC", Role::Coordinator);
pub const OCHA: Party = Party::new("OCHA", Role::Coordinator);

/// Every party of the demo.
pub const PARTIES: &[Party] = &[
    WFP, IOM, UNHCR, UNICEF, NRC, IRC, MSF, IQ_ARMY, IQ_POLICE, PESHMERGA, COALITION, JCMC, OCHA,
];

/// The party with this organisation code.
pub fn party(org: &str) -> Option<Party> {
    PARTIES.iter().copied().find(|p| p.org == org)
}

/// The organisations that acknowledge notifications, by their code.
pub fn military_party(org: &str) -> Option<Party> {
    party(org).filter(|p| p.role == Role::MilitaryLiaison)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_found() {
        for p in PARTIES {
            assert_eq!(party(p.org), Some(*p));
        }
        assert_eq!(military_party("PESHMERGA"), Some(PESHMERGA));
        assert_eq!(military_party("WFP"), None);
        assert_eq!(party("NOBODY"), None);
    }
}
