#!/usr/bin/env bash
# Refreshes the committed third-party assets under web/vendor/ from the npm registry:
#   - Leaflet (dist js, css, marker images) with its licence;
#   - milsymbol (APP-6 / MIL-STD-2525 symbols, MIT) in its built form, with its licence;
#   - the offline basemap: Natural Earth country outlines from `world-atlas` (TopoJSON),
#     converted to GeoJSON with `topojson-client`, kept small (1:50m countries around Iraq,
#     1:110m for the rest of the world, coordinates rounded to ~100 m), with its licence.
# Run it by hand when a version changes, then review and commit web/vendor/. The server embeds
# these files at build time (src/web/mod.rs); nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")"

LEAFLET_VERSION="${LEAFLET_VERSION:-1.9.4}"
WORLD_ATLAS_VERSION="${WORLD_ATLAS_VERSION:-2.0.2}"
TOPOJSON_CLIENT_VERSION="${TOPOJSON_CLIENT_VERSION:-3.1.0}"
MILSYMBOL_VERSION="${MILSYMBOL_VERSION:-3.0.4}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --silent \
        "leaflet@$LEAFLET_VERSION" "world-atlas@$WORLD_ATLAS_VERSION" \
        "topojson-client@$TOPOJSON_CLIENT_VERSION" "milsymbol@$MILSYMBOL_VERSION"
)
nm="$work/node_modules"

rm -rf vendor/leaflet vendor/basemap vendor/milsymbol
mkdir -p vendor/leaflet/images vendor/basemap vendor/milsymbol

cp "$nm/leaflet/dist/leaflet.js" "$nm/leaflet/dist/leaflet.css" vendor/leaflet/
cp "$nm/leaflet/dist/images/"*.png vendor/leaflet/images/
cp "$nm/leaflet/LICENSE" vendor/leaflet/LICENSE
echo "leaflet $LEAFLET_VERSION (npm)" > vendor/leaflet/VERSION

cp "$nm/milsymbol/dist/milsymbol.js" "$nm/milsymbol/LICENSE" vendor/milsymbol/
echo "milsymbol $MILSYMBOL_VERSION (npm)" > vendor/milsymbol/VERSION

cp "$nm/world-atlas/LICENSE" vendor/basemap/LICENSE-world-atlas
cp "$nm/topojson-client/LICENSE" vendor/basemap/LICENSE-topojson-client
cat > vendor/basemap/README.md <<TXT
Country outlines from Natural Earth (public domain, https://www.naturalearthdata.com/), as
packaged by world-atlas $WORLD_ATLAS_VERSION (ISC licence, LICENSE-world-atlas), converted from
TopoJSON to GeoJSON with topojson-client $TOPOJSON_CLIENT_VERSION (ISC, LICENSE-topojson-client)
by web/refresh-vendor.sh: 1:50m countries within the region around Iraq, 1:110m elsewhere,
coordinates rounded to 3 decimals (~100 m) in the region and 2 (~1 km) elsewhere. Boundaries are shown for orientation only and imply
no position on any dispute.
TXT

NODE_PATH="$nm" node - "$nm" > vendor/basemap/countries.geojson <<'JS'
const nm = process.argv[2];
const topo = require(nm + "/topojson-client");
const detail = require(nm + "/world-atlas/countries-50m.json");
const coarse = require(nm + "/world-atlas/countries-110m.json");
// The region where detail matters: Iraq and its neighbours.
const REGION = [36, 28, 50, 39];
const round = (k) => (c) => (typeof c[0] === "number"
    ? [Math.round(c[0] * k) / k, Math.round(c[1] * k) / k]
    : c.map(round(k)));
const bbox = (g) => {
    let b = [180, 90, -180, -90];
    const walk = (c) => { if (typeof c[0] === "number") {
        b = [Math.min(b[0], c[0]), Math.min(b[1], c[1]), Math.max(b[2], c[0]), Math.max(b[3], c[1])];
    } else c.forEach(walk); };
    walk(g.coordinates);
    return b;
};
// A country is in the region when one of its polygons is (a whole-feature bbox would take in
// countries with far-away territories).
const inRegion = (f) => {
    if (!f.geometry) return false;
    const parts = f.geometry.type === "MultiPolygon" ? f.geometry.coordinates : [f.geometry.coordinates];
    return parts.some((p) => {
        const b = bbox({ coordinates: p });
        return b[0] < REGION[2] && b[2] > REGION[0] && b[1] < REGION[3] && b[3] > REGION[1];
    });
};
const fine = topo.feature(detail, detail.objects.countries).features.filter(inRegion);
const fineIds = new Set(fine.map((f) => f.id));
const rest = topo.feature(coarse, coarse.objects.countries).features
    .filter((f) => f.geometry && !fineIds.has(f.id) && !inRegion(f));
const shape = (k) => (f) => ({
    type: "Feature",
    id: f.id,
    properties: { name: f.properties.name },
    geometry: { type: f.geometry.type, coordinates: round(k)(f.geometry.coordinates) },
});
const features = [...fine.map(shape(1000)), ...rest.map(shape(100))];
process.stdout.write(JSON.stringify({ type: "FeatureCollection", features }));
JS

ls -l vendor/leaflet vendor/leaflet/images vendor/basemap vendor/milsymbol
