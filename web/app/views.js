// Saved map views (for the wall's rotation, `?views=mosul,baghdad&every=60`) and the gazetteer
// of places a planner can pick as waypoints (approximate WGS84).

/** Iraq's extent ([south, west], [north, east]): what a map opens on unless told otherwise. */
export const IRAQ_BOUNDS = [
  [29.06, 38.79],
  [37.38, 48.57],
];

/**
 * A view is an extent to show: `bounds`, or a centre and a zoom that name the area such a zoom
 * shows in a 1200 x 860 px map (about a 1080p wall's map beside its panel). The page fits that
 * extent to the room its map has, so a 4K screen shows the same area larger, not more around it.
 */
export const VIEWS = {
  iraq: { bounds: IRAQ_BOUNDS },
  north: { center: [36.0, 43.4], zoom: 8 },
  mosul: { center: [36.3, 43.2], zoom: 10 },
  ninewa: { center: [36.2, 42.7], zoom: 8 },
  erbil: { center: [36.19, 44.01], zoom: 10 },
  dohuk: { center: [36.87, 42.95], zoom: 10 },
  kirkuk: { center: [35.47, 44.39], zoom: 10 },
  salahaddin: { center: [34.7, 43.7], zoom: 8 },
  baghdad: { center: [33.315, 44.366], zoom: 10 },
  anbar: { center: [33.6, 42.0], zoom: 7 },
  ramadi: { center: [33.43, 43.3], zoom: 10 },
  basra: { center: [30.51, 47.78], zoom: 10 },
};

/** The reference map's size in px for a view given as a centre and a zoom. */
const VIEW_PX = [1200, 860];

/** A view's extent as Leaflet bounds (`L` is Leaflet, loaded before the page's modules). */
export function viewBounds(view, L = window.L) {
  if (view.bounds) return L.latLngBounds(view.bounds);
  const crs = L.CRS.EPSG3857;
  const c = crs.latLngToPoint(L.latLng(view.center), view.zoom);
  const half = L.point(VIEW_PX[0] / 2, VIEW_PX[1] / 2);
  return L.latLngBounds(crs.pointToLatLng(c.subtract(half), view.zoom), crs.pointToLatLng(c.add(half), view.zoom));
}

/** [key, lat, lon]; names are in the translation files as `place.KEY`. */
export const PLACES = [
  ["baghdad", 33.315, 44.366],
  ["mosul", 36.335, 43.119],
  ["erbil", 36.191, 44.009],
  ["dohuk", 36.867, 42.95],
  ["kirkuk", 35.468, 44.392],
  ["sulaymaniyah", 35.561, 45.437],
  ["tikrit", 34.607, 43.678],
  ["samarra", 34.196, 43.886],
  ["ramadi", 33.426, 43.299],
  ["fallujah", 33.35, 43.783],
  ["hit", 33.642, 42.825],
  ["haditha", 34.139, 42.378],
  ["qaim", 34.37, 41.094],
  ["rutba", 33.038, 40.285],
  ["baqubah", 33.747, 44.644],
  ["talafar", 36.374, 42.449],
  ["sinjar", 36.321, 41.877],
  ["qayyarah", 35.8, 43.29],
  ["makhmour", 35.776, 43.58],
  ["hawija", 35.326, 43.757],
  ["hammam_al_alil", 36.16, 43.26],
  ["khazer", 36.27, 43.55],
  ["basra", 30.509, 47.78],
  ["najaf", 32.026, 44.346],
  ["karbala", 32.616, 44.025],
  ["kut", 32.513, 45.818],
];

/** The views a URL asks for: `views=a,b` (known names only) and `every=SECONDS` (min 10). */
export function viewsFromUrl(search = location.search) {
  const q = new URLSearchParams(search);
  const names = (q.get("views") || "").split(",").map((s) => s.trim().toLowerCase()).filter((s) => VIEWS[s]);
  const every = Math.max(10, Number(q.get("every")) || 60);
  return { names, every };
}
