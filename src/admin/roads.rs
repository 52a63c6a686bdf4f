//! `cmcop roads import FILE.geojson`: builds the road network from a GeoJSON file of road
//! lines and writes it to `roads.file`, where the server reads it at start-up. It opens
//! neither the store nor a server: the network is reference data, not events.

use std::path::Path;

use crate::roads::build::import;
use crate::roads::Stats;

/// Imports `file` into `to`, joining line ends within `join_m`; returns what it made.
pub fn import_roads(file: &Path, to: &Path, join_m: f64) -> anyhow::Result<Stats> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let source = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    let at = crate::log::format_time(chrono::Utc::now());
    let stored = import(&bytes, join_m, &source, &at)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let stats = stored.stats.clone();
    stored.write(to)?;
    Ok(stats)
}

/// What the command prints about a network it wrote.
pub fn describe(stats: &Stats) -> String {
    let mut out = format!(
        "{} road features ({} line features, {} other features left out, {} lines of fewer \
         than two positions left out); {} nodes, {} edges, {} km of road; {} line ends joined \
         to a nearby road",
        stats.features,
        stats.line_features,
        stats.skipped_features,
        stats.degenerate_lines,
        stats.nodes,
        stats.edges,
        stats.length_km,
        stats.joined_ends,
    );
    if stats.components > 1 {
        out.push_str(&format!(
            "\nthe network is in {} parts that no road joins (the largest has {} of the {} \
             nodes): no route runs between waypoints on different parts",
            stats.components, stats.largest_component_nodes, stats.nodes
        ));
    }
    out
}
