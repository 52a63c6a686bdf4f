//! The identity of a sharing agreement as this build applies it: a short digest of everything
//! that decides what a peer centre's border view holds (the compiled agreement, the
//! owner-only fields, and the program's version, whose rendering may differ from another's).
//! The feed tells a peer under which agreement it serves, and a peer that resumes under
//! another one gets a snapshot instead, so that what a narrower agreement no longer shares is
//! withdrawn (`proto/FEDERATION.md`). Pure.

use sha2::{Digest, Sha256};

use super::{Agreement, Policy};

impl Policy {
    /// The identity of the agreement with `peer`, or `None` when there is none. Equal for the
    /// same agreement whatever the order it was written in; different as soon as a marking,
    /// layer, organisation, hidden field, precision or flag differs.
    pub fn agreement_id(&self, peer: &str) -> Option<String> {
        let a = self.peers.get(peer)?;
        let mut hasher = Sha256::new();
        hasher.update(canonical(a, self).as_bytes());
        let digest = hasher.finalize();
        Some(hex::encode(&digest[..12]))
    }
}

/// One line per rule, each list sorted, so that the text depends on the rules alone.
fn canonical(a: &Agreement, policy: &Policy) -> String {
    fn sorted<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
        let mut v: Vec<String> = items.into_iter().map(|i| i.to_string()).collect();
        v.sort();
        v.join(",")
    }
    let orgs = a.orgs.as_ref().map_or_else(|| "*".to_string(), sorted);
    let markings_out = sorted(
        a.markings_out
            .iter()
            .map(|(ours, theirs)| format!("{}>{}", ours.as_str(), theirs.as_str())),
    );
    [
        format!("version={}", env!("CARGO_PKG_VERSION")),
        format!("layers={}", sorted(a.layers.iter().map(|l| l.as_str()))),
        format!("markings={}", sorted(a.markings.iter().map(|m| m.as_str()))),
        format!("releasable_to={}", a.releasable_to.as_deref().unwrap_or("")),
        format!("orgs={orgs}"),
        format!("markings_out={markings_out}"),
        format!("hidden={}", sorted(a.hidden.names())),
        format!("owner_only={}", sorted(policy.owner_only.names())),
        format!("precision_m={:?}", a.precision_m),
        format!("movements_once_notified={}", a.movements_once_notified),
        format!("exercise={}", a.exercise),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Sharing;

    fn policy(share: &str) -> Policy {
        let sharing: Sharing = toml::from_str(share).unwrap();
        Policy::default_policy()
            .with_peers([("JCC", &sharing)])
            .unwrap()
    }

    const WIDE: &str = r#"layers = ["movements", "constraints"]
        markings = ["public", "joint"]
        orgs = ["WFP", "ARMY"]
        hidden_fields = ["contact", "cargo"]
        markings_out = { public = "public", joint = "joint" }"#;

    #[test]
    fn the_same_rules_in_any_order_are_the_same_agreement() {
        let id = policy(WIDE).agreement_id("JCC").unwrap();
        assert_eq!(id.len(), 24);
        let reordered = r#"layers = ["constraints", "movements"]
            markings = ["joint", "public"]
            orgs = ["ARMY", "WFP"]
            hidden_fields = ["cargo", "contact"]
            markings_out = { joint = "joint", public = "public" }"#;
        assert_eq!(policy(reordered).agreement_id("JCC").unwrap(), id);
        assert_eq!(policy(WIDE).agreement_id("JCMC"), None, "no agreement");
    }

    #[test]
    fn every_narrowing_or_widening_is_another_agreement() {
        let id = policy(WIDE).agreement_id("JCC").unwrap();
        let changes = [
            (
                "markings = [\"public\", \"joint\"]",
                "markings = [\"joint\"]",
            ),
            ("\"movements\", ", ""),
            ("orgs = [\"WFP\", \"ARMY\"]", "orgs = [\"*\"]"),
            ("\"contact\", ", ""),
            ("joint = \"joint\" }", "joint = \"public\" }"),
            (
                "orgs = [\"WFP\", \"ARMY\"]",
                "orgs = [\"WFP\", \"ARMY\"]\nprecision_m = 5000.0",
            ),
            (
                "orgs = [\"WFP\", \"ARMY\"]",
                "orgs = [\"WFP\", \"ARMY\"]\nexercise = true",
            ),
            (
                "orgs = [\"WFP\", \"ARMY\"]",
                "orgs = [\"WFP\", \"ARMY\"]\nmovements_once_notified = false",
            ),
            (
                "orgs = [\"WFP\", \"ARMY\"]",
                "orgs = [\"WFP\", \"ARMY\"]\nreleasable_to = \"JCC\"",
            ),
        ];
        for (from, to) in changes {
            let changed = WIDE.replacen(from, to, 1);
            assert_ne!(changed, WIDE, "the change `{to}` applies");
            assert_ne!(
                policy(&changed).agreement_id("JCC").unwrap(),
                id,
                "`{from}` → `{to}` is another agreement"
            );
        }
    }
}
