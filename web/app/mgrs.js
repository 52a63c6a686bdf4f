// Latitude and longitude (WGS84) to MGRS, the grid reference military liaisons read out
// ("38S MB 12345 67890"): UTM zone and band, the 100 km square's letters, easting and northing
// to the metre. Valid from 80°S to 84°N (the UPS polar areas are not MGRS squares here).
// Pure; tested against known references in the browser tests.

const A = 6378137;
const F = 1 / 298.257223563;
const K0 = 0.9996;
const E2 = F * (2 - F);
const EP2 = E2 / (1 - E2);
const BANDS = "CDEFGHJKLMNPQRSTUVWX";
const SET_COLUMNS = ["ABCDEFGH", "JKLMNPQR", "STUVWXYZ"];
const ROWS = "ABCDEFGHJKLMNPQRSTUV";

/** The UTM zone of a point, with Norway's and Svalbard's exceptions. */
function zoneOf(lat, lon) {
  let zone = Math.floor((lon + 180) / 6) + 1;
  if (zone > 60) zone = 60;
  if (lat >= 56 && lat < 64 && lon >= 3 && lon < 12) zone = 32;
  if (lat >= 72 && lat < 84) {
    if (lon >= 0 && lon < 9) zone = 31;
    else if (lon >= 9 && lon < 21) zone = 33;
    else if (lon >= 21 && lon < 33) zone = 35;
    else if (lon >= 33 && lon < 42) zone = 37;
  }
  return zone;
}

/** UTM easting and northing (metres) in `zone`. */
export function toUtm(lat, lon, zone = zoneOf(lat, lon)) {
  const phi = (lat * Math.PI) / 180;
  const lam0 = (((zone - 1) * 6 - 180 + 3) * Math.PI) / 180;
  const dl = (lon * Math.PI) / 180 - lam0;
  const n = A / Math.sqrt(1 - E2 * Math.sin(phi) ** 2);
  const t = Math.tan(phi) ** 2;
  const c = EP2 * Math.cos(phi) ** 2;
  const a = Math.cos(phi) * dl;
  const m =
    A *
    ((1 - E2 / 4 - (3 * E2 ** 2) / 64 - (5 * E2 ** 3) / 256) * phi -
      ((3 * E2) / 8 + (3 * E2 ** 2) / 32 + (45 * E2 ** 3) / 1024) * Math.sin(2 * phi) +
      ((15 * E2 ** 2) / 256 + (45 * E2 ** 3) / 1024) * Math.sin(4 * phi) -
      ((35 * E2 ** 3) / 3072) * Math.sin(6 * phi));
  const easting =
    K0 * n * (a + ((1 - t + c) * a ** 3) / 6 + ((5 - 18 * t + t ** 2 + 72 * c - 58 * EP2) * a ** 5) / 120) + 500000;
  let northing =
    K0 *
    (m +
      n *
        Math.tan(phi) *
        (a ** 2 / 2 + ((5 - t + 9 * c + 4 * c ** 2) * a ** 4) / 24 + ((61 - 58 * t + t ** 2 + 600 * c - 330 * EP2) * a ** 6) / 720));
  if (lat < 0) northing += 10000000;
  return { zone, easting, northing };
}

/** The MGRS reference of a point to the metre, or null outside 80°S–84°N. */
export function toMgrs(lat, lon) {
  if (!(lat >= -80 && lat <= 84) || !(lon >= -180 && lon <= 180)) return null;
  const { zone, easting, northing } = toUtm(lat, lon);
  const band = BANDS[Math.min(19, Math.floor((lat + 80) / 8))];
  const set = (zone - 1) % 3;
  const column = SET_COLUMNS[set][Math.floor(easting / 100000) - 1];
  // Even zones start their row letters five letters on.
  const row = ROWS[(Math.floor(northing / 100000) + (zone % 2 === 0 ? 5 : 0)) % 20];
  const e = String(Math.floor(easting % 100000)).padStart(5, "0");
  const n = String(Math.floor(northing % 100000)).padStart(5, "0");
  return `${zone}${band} ${column}${row} ${e} ${n}`;
}

/** Latitude and longitude of a UTM position (northern hemisphere unless `south`). */
export function fromUtm(zone, easting, northing, south = false) {
  const x = easting - 500000;
  const y = south ? northing - 10000000 : northing;
  const m = y / K0;
  const mu = m / (A * (1 - E2 / 4 - (3 * E2 ** 2) / 64 - (5 * E2 ** 3) / 256));
  const e1 = (1 - Math.sqrt(1 - E2)) / (1 + Math.sqrt(1 - E2));
  const phi1 =
    mu +
    ((3 * e1) / 2 - (27 * e1 ** 3) / 32) * Math.sin(2 * mu) +
    ((21 * e1 ** 2) / 16 - (55 * e1 ** 4) / 32) * Math.sin(4 * mu) +
    ((151 * e1 ** 3) / 96) * Math.sin(6 * mu) +
    ((1097 * e1 ** 4) / 512) * Math.sin(8 * mu);
  const n1 = A / Math.sqrt(1 - E2 * Math.sin(phi1) ** 2);
  const t1 = Math.tan(phi1) ** 2;
  const c1 = EP2 * Math.cos(phi1) ** 2;
  const r1 = (A * (1 - E2)) / (1 - E2 * Math.sin(phi1) ** 2) ** 1.5;
  const d = x / (n1 * K0);
  const lat =
    phi1 -
    ((n1 * Math.tan(phi1)) / r1) *
      (d ** 2 / 2 - ((5 + 3 * t1 + 10 * c1 - 4 * c1 ** 2 - 9 * EP2) * d ** 4) / 24 +
        ((61 + 90 * t1 + 298 * c1 + 45 * t1 ** 2 - 252 * EP2 - 3 * c1 ** 2) * d ** 6) / 720);
  const lon =
    (d - ((1 + 2 * t1 + c1) * d ** 3) / 6 + ((5 - 2 * c1 + 28 * t1 - 3 * c1 ** 2 + 8 * EP2 + 24 * t1 ** 2) * d ** 5) / 120) /
    Math.cos(phi1);
  return { lat: (lat * 180) / Math.PI, lon: ((zone - 1) * 6 - 180 + 3) + (lon * 180) / Math.PI };
}

/**
 * The point an MGRS reference names ("38S MB 40985 86388", spaces optional, 1 to 5 digits
 * each), at the south-west corner of its precision; null when it is not one.
 */
export function fromMgrs(text) {
  const m = String(text).toUpperCase().replace(/\s+/g, "").match(/^(\d{1,2})([C-HJ-NP-X])([A-HJ-NP-Z])([A-HJ-NP-V])(\d*)$/);
  if (!m || m[5].length % 2 || m[5].length > 10) return null;
  const zone = Number(m[1]);
  if (zone < 1 || zone > 60) return null;
  const digits = m[5].length / 2;
  const scale = 10 ** (5 - digits);
  const e = digits ? Number(m[5].slice(0, digits)) * scale : 0;
  const n = digits ? Number(m[5].slice(digits)) * scale : 0;
  const col = SET_COLUMNS[(zone - 1) % 3].indexOf(m[3]);
  if (col < 0) return null;
  const row = (ROWS.indexOf(m[4]) - (zone % 2 === 0 ? 5 : 0) + 20) % 20;
  const easting = (col + 1) * 100000 + e;
  const bandLat = BANDS.indexOf(m[2]) * 8 - 80;
  const south = bandLat < 0;
  // The 100 km row letters repeat every 2,000 km: take the repeat that falls in the band.
  const floor = toUtm(bandLat, (zone - 1) * 6 - 180 + 3, zone).northing;
  let northing = row * 100000 + n;
  while (northing < floor - 100000) northing += 2000000;
  return fromUtm(zone, easting, northing, south);
}
