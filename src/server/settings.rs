//! The config turned into what the modules it sets up take: the sharing policy (with the
//! agreements of peer centres, and the roles the config names checked against it) and the
//! alerter's settings. The config itself depends on none of these modules; this is where
//! they meet, checked once at start-up (`check_config`) before anything runs.

use super::StartError;
use crate::config::{Config, ConfigError};
use crate::policy::Policy;

/// The sharing policy in force: the embedded default or `policy_file`, plus the agreements
/// with peer centres. Every role the config names (the CoT listeners') must be one it defines.
pub fn load_policy(config: &Config) -> Result<Policy, StartError> {
    let policy = match &config.policy_file {
        None => Policy::default_policy(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| StartError::Read {
                path: path.display().to_string(),
                source,
            })?;
            Policy::from_toml(&text)?
        }
    };
    // The sharing agreements are policy too: a peer centre is one more viewer class.
    let peers = config.federation.peers.iter();
    let policy = policy.with_peers(peers.map(|p| (p.name.as_str(), &p.share)))?;
    let cot_roles = std::iter::once(("cot.role", config.cot.role)).chain(
        config
            .cot
            .cert_map
            .iter()
            .map(|rule| ("cot.cert_map.role", rule.role)),
    );
    for (key, role) in cot_roles {
        if !policy.knows(role) {
            return Err(StartError::Policy(crate::policy::PolicyError::Invalid(
                format!("{key}: the role `{role}` is not defined in the sharing policy"),
            )));
        }
    }
    Ok(policy)
}

/// What `Config::validate` leaves to the modules the config sets up, checked as they will
/// take it: the alert thresholds (the alerter's settings, within the access check's bounds)
/// and each peer's sharing agreement (as the policy compiles it). `cmcop` runs it right after
/// `Config::load`, so a bad file is refused before anything starts.
pub fn check_config(config: &Config) -> Result<(), ConfigError> {
    alert_settings(config)?;
    for (i, p) in config.federation.peers.iter().enumerate() {
        p.share
            .validate()
            .map_err(|e| ConfigError::Invalid(format!("federation.peers[{i}].share.{e}")))?;
    }
    Ok(())
}

/// The alerter's settings: `[alerts]` in the zone of `picture.local_utc_offset`.
pub fn alert_settings(config: &Config) -> Result<crate::alerts::Settings, ConfigError> {
    use crate::access::{MAX_BUFFER_M, MAX_INCIDENTS_SINCE_H};
    let a = &config.alerts;
    let metres = |v: f64, max: f64| v.is_finite() && v > 0.0 && v <= max;
    if !(metres(a.buffer_m, MAX_BUFFER_M)
        && metres(a.geofence_m, MAX_BUFFER_M)
        && metres(a.off_route_m, 100_000.0))
    {
        return Err(ConfigError::Invalid(format!(
            "alerts.buffer_m and alerts.geofence_m must be metres from 0 to {MAX_BUFFER_M}, alerts.off_route_m up to 100000"
        )));
    }
    if a.check_interval_seconds == 0
        || a.no_report_seconds <= 0
        || a.unacknowledged_before_hours <= 0
        || a.incidents_since_h > MAX_INCIDENTS_SINCE_H
    {
        return Err(ConfigError::Invalid(
            "alerts.check_interval_seconds, alerts.no_report_seconds and alerts.unacknowledged_before_hours must be positive; alerts.incidents_since_h at most 720".into(),
        ));
    }
    let mut s = crate::alerts::Settings::new(config.local_offset()?);
    s.buffer_m = a.buffer_m;
    s.incidents_since_h = a.incidents_since_h;
    s.geofence_m = a.geofence_m;
    s.off_route_m = a.off_route_m;
    s.no_report = chrono::Duration::seconds(a.no_report_seconds);
    s.unacknowledged_before = chrono::Duration::hours(a.unacknowledged_before_hours);
    Ok(s)
}

/// The administrative areas: `areas.admin_file`, or Iraq's governorates, embedded.
pub fn load_gazetteer(config: &Config) -> Result<crate::gazetteer::Gazetteer, StartError> {
    let within = config.areas.nearest_within_m;
    match &config.areas.admin_file {
        None => Ok(crate::gazetteer::Gazetteer::iraq(within)),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| StartError::Read {
                path: path.display().to_string(),
                source,
            })?;
            crate::gazetteer::Gazetteer::parse(&text, within)
                .map_err(|e| StartError::Areas(format!("{}: {e}", path.display())))
        }
    }
}

/// The road network routes follow (`roads.file`): `None` when there is no such file (or no
/// file configured); a file that is there but unreadable or not a network stops the start.
pub fn load_roads(config: &Config) -> Result<Option<crate::roads::Network>, StartError> {
    let Some(path) = &config.roads.file else {
        return Ok(None);
    };
    let network = crate::roads::Network::load(path)?;
    match &network {
        Some(n) => tracing::info!(
            file = %path.display(),
            source = %n.stored.source,
            nodes = n.stored.stats.nodes,
            edges = n.stored.stats.edges,
            km = n.stored.stats.length_km,
            "road network loaded"
        ),
        None => tracing::info!(
            file = %path.display(),
            "no road network (the planner draws straight lines; `cmcop roads import` loads one)"
        ),
    }
    Ok(network)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_countrys_areas_load_from_the_file_the_config_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("areas.geojson");
        std::fs::write(
            &path,
            r#"{"type":"FeatureCollection","features":[{"type":"Feature",
                "properties":{"pcode":"XXA01","name_en":"North"},
                "geometry":{"type":"Polygon","coordinates":[[[0,1],[2,1],[2,2],[0,2],[0,1]]]}}]}"#,
        )
        .unwrap();
        let mut config = Config::default();
        assert_eq!(load_gazetteer(&config).unwrap().areas().len(), 18);
        config.areas.admin_file = Some(path.clone());
        let g = load_gazetteer(&config).unwrap();
        assert_eq!(g.attribute([1.0, 1.5], 1).unwrap().pcode, "XXA01");
        std::fs::write(&path, "{}").unwrap();
        let e = load_gazetteer(&config).unwrap_err().to_string();
        assert!(
            e.contains("areas.geojson") && e.contains("FeatureCollection"),
            "{e}"
        );
        config.areas.admin_file = Some(dir.path().join("missing.geojson"));
        let e = load_gazetteer(&config).unwrap_err().to_string();
        assert!(e.contains("missing.geojson"), "{e}");
    }

    #[test]
    fn check_config_names_bad_agreements_and_thresholds() {
        let good = Config::from_toml(include_str!("../../config/federation.example.toml")).unwrap();
        check_config(&good).unwrap();
        let bad = |edit: &dyn Fn(&mut Config), needle: &str| {
            let mut c = good.clone();
            edit(&mut c);
            let e = check_config(&c).unwrap_err().to_string();
            assert!(e.contains(needle), "{needle} not in: {e}");
        };
        let civil = crate::model::Marking::Civil;
        bad(
            &|c| c.federation.peers[0].share.markings.push(civil),
            "peers[0].share.markings: `civil`",
        );
        let hide =
            |c: &mut Config| c.federation.peers[0].share.hidden_fields = vec!["status".into()];
        bad(&hide, "cannot be hidden");
        bad(&|c| c.alerts.buffer_m = 60_000.0, "alerts.buffer_m");
        bad(&|c| c.alerts.incidents_since_h = 721, "at most 720");
    }
}
