// The map: Leaflet (web/vendor/leaflet, loaded as a classic script that defines `L`) over the
// embedded offline basemap (Natural Earth country outlines), and the one place that decides how
// an item looks: constraints by status, incidents by type and age, movements by status with
// their route and last position, displacements by direction, dated areas by status, stale items
// dimmed. The governorates (the server's administrative areas) are drawn on the basemap with
// their names in the page's language.

import { fmtNumber, language, onLanguageChange, t, term } from "./i18n.js";
import { api } from "./session.js";
import { toMgrs } from "./mgrs.js";
import { IRAQ_BOUNDS, viewBounds } from "./views.js";
import { colorOf, constraintShape, contactShape, ensurePatterns, incidentShape, milSymbol, movementShape, needShape, PALETTE, pathStyle, pointMarker, SEVERITY, setMilitaryOrgs, sidcOf, STATUSES, svg } from "./symbols.js";

const L = window.L;

export { colorOf } from "./symbols.js";

/** Incidents fade with age: hours since they occurred → opacity. */
export const INCIDENT_AGES = [
  [6, 1],
  [24, 0.8],
  [72, 0.55],
  [Infinity, 0.3],
];

export function incidentOpacity(p, now = Date.now()) {
  const at = Date.parse(p.occurred_at || p.created_at);
  const hours = Number.isNaN(at) ? Infinity : (now - at) / 3600000;
  return INCIDENT_AGES.find(([h]) => hours < h)[1];
}

/**
 * The pointer's position as latitude, longitude and MGRS, in a corner of the map (a liaison
 * officer reads a grid reference out over the radio).
 */
function cursorControl(map) {
  const Cursor = L.Control.extend({
    options: { position: "bottomleft" },
    onAdd() {
      const div = L.DomUtil.create("div", "cursor-coords");
      div.setAttribute("aria-live", "off");
      div.dir = "ltr";
      div.textContent = "—";
      map.on("mousemove", (e) => {
        const { lat, lng } = e.latlng;
        const f = (v) => fmtNumber(v, { minimumFractionDigits: 4, maximumFractionDigits: 4 });
        div.textContent = `${f(lat)}, ${f(lng)} · ${toMgrs(lat, lng) || "—"}`;
        div.dataset.lat = lat;
        div.dataset.lon = lng;
      });
      return div;
    },
  });
  return new Cursor();
}

/**
 * How much larger than at 1080p a page draws its map's symbols and lines: the root font size
 * over its 1080p value (the wall's root follows the viewport's width, the other pages' root rises
 * above ~2200 px, style.css).
 */
export function screenScale() {
  const root = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
  // The wall's symbols, drawn half as large again as elsewhere for the room, come down with its
  // text on a small screen (to the other pages' size on a phone).
  if (document.documentElement.classList.contains("wall-root")) return Math.max(2 / 3, root / WALL_ROOT_1080P);
  return Math.max(1, root / 16);
}

/**
 * `fn` at most once per animation frame, however often it is asked for: a pass that measures
 * labels and symbols (a forced layout) runs once per frame, not once per live update.
 */
export function perFrame(fn) {
  let asked = false;
  return () => {
    if (asked) return;
    asked = true;
    requestAnimationFrame(() => {
      asked = false;
      fn();
    });
  };
}

/** The wall's root font size at 1920 px (1.04vw, style.css). */
const WALL_ROOT_1080P = 1920 * 0.0104;

/**
 * A Leaflet map over the offline basemap; `cursor` shows the pointer's coordinates. `view` is a
 * view (views.js): `bounds` the map opens fitted to (Iraq by default), or a centre and a zoom it
 * opens on; `zoomSnap` lets a fit use fractions of a zoom level.
 */
export async function createMap(el, { zoomControl = true, cursor = true, view = { bounds: IRAQ_BOUNDS }, zoomSnap = 0.25 } = {}) {
  // A reader who asked for reduced motion (the system's setting) gets no animated zoom, pan or
  // flight: the map jumps to where it goes.
  const still = matchMedia("(prefers-reduced-motion: reduce)").matches;
  const k = screenScale();
  const map = L.map(el, {
    zoomControl,
    minZoom: 3,
    maxZoom: 15,
    zoomSnap,
    worldCopyJump: false,
    attributionControl: true,
    zoomAnimation: !still,
    fadeAnimation: !still,
    markerZoomAnimation: !still,
  });
  if (still) {
    const setView = map.setView;
    map.setView = (center, zoom, options) => setView.call(map, center, zoom, { ...options, animate: false });
    map.flyTo = (center, zoom) => map.setView(center, zoom);
    const fitBounds = map.fitBounds;
    map.flyToBounds = (bounds, options) => fitBounds.call(map, bounds, { ...options, animate: false });
  }
  if (view.bounds) map.fitBounds(viewBounds(view), { padding: [10, 10], animate: false });
  else map.setView(view.center, view.zoom);
  // A metric scale bar on every map (at most 100 px long at 1080p, longer as the screen grows);
  // the pointer's coordinates where there is a pointer.
  L.control.scale({ imperial: false, position: "bottomleft", maxWidth: Math.round(100 * k) }).addTo(map);
  map.attributionControl.setPrefix(false);
  if (cursor) cursorControl(map).addTo(map);
  ensurePatterns();
  // Names above every symbol (a later marker must not cover an earlier item's label).
  map.createPane("labels");
  map.getPane("labels").style.zIndex = 640;
  map.getPane("labels").style.pointerEvents = "none";
  // Leaflet's zoom buttons carry English titles: word them in the page's language, and again
  // when it changes.
  const zoomTitles = () => {
    for (const [cls, key] of [[".leaflet-control-zoom-in", "map.zoom_in"], [".leaflet-control-zoom-out", "map.zoom_out"]]) {
      const b = el.querySelector(cls);
      if (b) {
        b.title = t(key);
        b.setAttribute("aria-label", t(key));
      }
    }
  };
  zoomTitles();
  onLanguageChange(zoomTitles);
  const resp = await fetch(new URL("../vendor/basemap/countries.geojson", import.meta.url));
  const countries = await resp.json();
  // The offline basemap lies under everything: under a deployment's tiles (200), the
  // governorates (350) and the items (400 and up).
  map.createPane("basemap");
  map.getPane("basemap").style.zIndex = 150;
  L.geoJSON(countries, {
    pane: "basemap",
    interactive: false,
    attribution: "Natural Earth",
    style: (f) => ({
      color: f.properties.name === "Iraq" ? "#8fa3bf" : "#4a5a70",
      weight: (f.properties.name === "Iraq" ? 2 : 1) * k,
      fillColor: f.properties.name === "Iraq" ? "#1c2633" : "#121922",
      fillOpacity: 1,
      // The day theme recolours the basemap by these classes (style.css).
      className: f.properties.name === "Iraq" ? "basemap basemap-focus" : "basemap",
    }),
  }).addTo(map);
  await drawAdminAreas(map, k);
  // A deployment's own tile source, when it has one, goes over the offline basemap; without a
  // network the tiles fail quietly and the outlines stay.
  try {
    const cfg = await (await fetch("/web/config")).json();
    setMilitaryOrgs(cfg.military_orgs);
    if (cfg.tile_url) {
      L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution || "", maxZoom: 18 }).addTo(map);
    }
  } catch (_) {
    // No configuration reachable: the embedded basemap is enough.
  }
  return map;
}

/**
 * The governorates on the basemap: thin boundaries and their names (Arabic or English with the
 * page's language). Reference data from `GET /api/v1/areas/admin`; without it (offline, signed
 * out) the basemap is drawn without them.
 */
async function drawAdminAreas(map, k = 1) {
  let areas;
  try {
    areas = await api("/api/v1/areas/admin?level=1");
  } catch (_) {
    return;
  }
  const pane = map.createPane("admin");
  pane.style.zIndex = 350;
  pane.style.pointerEvents = "none";
  L.geoJSON(areas, {
    pane: "admin",
    interactive: false,
    style: () => ({ color: "#7d8ea8", weight: k, dashArray: `${4 * k} ${4 * k}`, fill: false, opacity: 0.8, className: "admin-boundary" }),
  }).addTo(map);
  const labels = L.layerGroup().addTo(map);
  // The larger governorates name themselves first: a name that would overlap one placed before
  // it, or that an item's symbol covers, is left off at this zoom (Babylon under Kerbala when
  // all Iraq fits a small map; Salah Al-Din under a checkpoint).
  const features = (areas.features || []).filter((f) => Array.isArray(f.properties.label));
  features.sort((a, b) => extent(b) - extent(a));
  let markers = [];
  const covered = (r, o) => Math.max(0, Math.min(r.right, o.right) - Math.max(r.left, o.left)) * Math.max(0, Math.min(r.bottom, o.bottom) - Math.max(r.top, o.top));
  const declutter = perFrame(() => {
    const kept = [];
    const symbols = [...map.getContainer().querySelectorAll(".item-icon")].map((e) => e.getBoundingClientRect());
    for (const m of markers) {
      const el = m.getElement();
      const span = el && el.firstElementChild;
      if (!span) continue;
      el.style.visibility = "";
      const r = span.getBoundingClientRect();
      if (r.width === 0) continue;
      // Apart by a quarter of a line at least, or two names read as one.
      const gap = r.height / 4;
      const hit =
        kept.some((q) => q.left < r.right + gap && q.right > r.left - gap && q.top < r.bottom + gap && q.bottom > r.top - gap) ||
        symbols.some((o) => covered(r, o) > 0.25 * r.width * r.height);
      if (hit) el.style.visibility = "hidden";
      else kept.push(r);
    }
  });
  const draw = () => {
    labels.clearLayers();
    markers = features.map((f) => {
      const p = f.properties;
      const name = (language() === "ar" && p.name_ar) || p.name_en;
      const el = document.createElement("span");
      el.textContent = name;
      return L.marker([p.label[1], p.label[0]], {
        pane: "admin",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: "admin-label", html: el.outerHTML, iconSize: null }),
      }).addTo(labels);
    });
    declutter();
  };
  map.on("zoomend resize cmcop:items", declutter);
  // A name's width is known once its font is: again when fonts finish loading (Arabic's late).
  if (document.fonts) {
    document.fonts.addEventListener("loadingdone", declutter);
    document.fonts.ready.then(declutter);
  }
  draw();
  onLanguageChange(draw);
}

/** The area of a feature's bounding box in square degrees (which governorate is larger). */
function extent(f) {
  let [w, s, e, n] = [180, 90, -180, -90];
  const walk = (c) => {
    if (typeof c[0] === "number") {
      [w, s, e, n] = [Math.min(w, c[0]), Math.min(s, c[1]), Math.max(e, c[0]), Math.max(n, c[1])];
    } else c.forEach(walk);
  };
  if (f.geometry && f.geometry.coordinates) walk(f.geometry.coordinates);
  return Math.max(0, e - w) * Math.max(0, n - s);
}

function tooltipText(f) {
  const p = f.properties;
  if (p.layer === "displacements") {
    return `${p.site || p.destination_area || t("layer.displacements")} · ${term(p.direction)} · ${p.individuals ?? "?"} · ${p.reported_on || ""}`;
  }
  if (p.layer === "areas") return `${p.name || t("layer.areas")} · ${term(p.status)} · ${p.as_of || ""}`;
  if (p.layer === "needs") {
    const pin = p.people_in_need !== undefined ? ` · ${fmtNumber(p.people_in_need)}` : "";
    return `${term(p.sector || "")} · ${t("field.severity")} ${p.severity ?? "?"}${pin}${p.area ? " · " + p.area : ""}`;
  }
  if (p.layer === "contacts") return `${p.name || t("layer.contacts")} · ${term(p.function)} · ${p.org}${p.radio ? " · " + p.radio : ""}`;
  const what = p.layer === "movements" ? p.name : p.layer === "constraints" ? term(p.kind || p.category) : term(p.sub_event_type || p.event_type);
  const status = p.layer === "incidents" ? term(p.verification) : term(p.status);
  return `${what || t("layer." + p.layer)} · ${status}${p.stale ? " · " + t("stale") : ""}`;
}

/** A divIcon marker for a point item (symbols.js decides its look); `scale` enlarges it. */
function pointLayer(f, latlng, { scale, now }) {
  const p = f.properties;
  const base =
    p.layer === "incidents" || p.layer === "needs" ? 16 + 3 * (p.severity || 1) : p.layer === "movements" ? 24 : p.layer === "contacts" ? 20 : 22;
  const m = pointMarker(p, Math.round(base * scale));
  const fade = p.layer === "incidents" ? incidentOpacity(p, now) : 1;
  const icon = L.divIcon({
    className: `item-icon layer-${p.layer}`,
    html: `<span class="sym-wrap" data-id="${escapeHtml(f.id)}" style="opacity:${(fade * (p.stale ? 0.4 : 1)).toFixed(2)}">${m.html}</span>`,
    iconSize: m.size,
    iconAnchor: m.anchor,
  });
  return L.marker(latlng, { icon, keyboard: false });
}

/**
 * The Leaflet layer for one feature; `scale` enlarges everything (the wall); `label` adds a
 * permanent label with the item's name (movements are the items with names).
 */
export function layerFor(f, { scale = 1, now = Date.now(), tooltips = true, label = false } = {}) {
  const p = f.properties;
  const layer = L.featureGroup();
  if (p.layer === "displacements") {
    // A circle whose area grows with the people counted: filled for a displacement, a ring for
    // a return (shape, not colour alone).
    const [lon, lat] = f.geometry.coordinates;
    const ret = p.direction === "return";
    L.circleMarker([lat, lon], {
      radius: Math.min(30, 5 + Math.sqrt(p.individuals || 1) / 4) * scale,
      color: colorOf(p),
      weight: (ret ? 4 : 2) * scale,
      fillColor: colorOf(p),
      fillOpacity: ret ? 0 : 0.75 * (p.stale ? 0.4 : 1),
      className: `displacement direction-${p.direction}`,
    }).addTo(layer);
  } else if (p.layer === "areas") {
    L.geoJSON(f, { style: () => pathStyle(p, { scale, area: true }) }).addTo(layer);
  } else if (p.layer === "needs" && f.geometry.type === "Polygon") {
    // An area's need: filled by severity, outlined in its sector's colour, its figure at the
    // centre so the severity reads without colour.
    const fill = SEVERITY[p.severity] || "#a1a1aa";
    const area = L.geoJSON(f, {
      style: () => ({ color: colorOf(p), weight: 2.5 * scale, dashArray: "6 4", fillColor: fill, fillOpacity: 0.28 * (p.stale ? 0.4 : 1), className: `need-area severity-${p.severity}` }),
    }).addTo(layer);
    const c = area.getBounds().getCenter();
    pointLayer(f, c, { scale, now }).addTo(layer);
  } else if (p.layer === "movements") {
    L.geoJSON(f, { style: () => pathStyle(p, { scale }) }).addTo(layer);
    if (Array.isArray(p.position)) pointLayer(f, [p.position[1], p.position[0]], { scale, now }).addTo(layer);
  } else {
    // Leaflet applies `style` to the point markers too: only lines and areas take it.
    L.geoJSON(f, {
      style: () => pathStyle(p, { scale, area: /Polygon/.test(f.geometry.type) }),
      pointToLayer: (_, latlng) => pointLayer(f, latlng, { scale, now }),
    }).addTo(layer);
  }
  if (tooltips) layer.bindTooltip(tooltipText(f), { sticky: true });
  if (label && p.name) {
    // On a wall nobody hovers: the name stays next to the convoy (or mid-route before it moves).
    const at = Array.isArray(p.position) ? L.latLng(p.position[1], p.position[0]) : layer.getBounds().getCenter();
    L.marker(at, {
      pane: "labels",
      interactive: false,
      keyboard: false,
      icon: L.divIcon({ className: "item-label", html: `<span dir="auto">${escapeHtml(p.name)}</span>`, iconSize: null }),
    }).addTo(layer);
  }
  return layer;
}

function escapeHtml(s) {
  return String(s).replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]);
}

/** The status a toggle names: an incident's verification, any other item's status. */
const STATUS_FIELD = { incidents: "verification", displacements: "direction", needs: "sector", contacts: "function" };
const statusOf = (p) => p[STATUS_FIELD[p.layer] || "status"];

/** `?hide=incidents,constraints:open`: layers, or layer:status pairs, a page leaves off. */
export function hiddenFromUrl(search = location.search) {
  const asked = new URLSearchParams(search).get("hide") || "";
  return new Set(asked.split(",").map((s) => s.trim()).filter(Boolean));
}

/** Keeps the map's item layers equal to a set of features (by id and version). */
export class ItemLayers {
  constructor(map, { scale = 1, onClick, labels = false, hidden = new Set() } = {}) {
    this.map = map;
    // Symbols and lines grow with the screen, as the page's text does.
    this.scale = scale * screenScale();
    this.labels = labels;
    /** Layers and layer:status pairs left off the map (the toggles). */
    this.hidden = hidden;
    this.last = [];
    this.onClick = onClick;
    this.shown = new Map();
    this.group = L.featureGroup().addTo(map);
  }

  isHidden(p) {
    return this.hidden.has(p.layer) || this.hidden.has(`${p.layer}:${statusOf(p)}`);
  }

  /** Shows only what the toggles leave on, and redraws. */
  setHidden(hidden) {
    this.hidden = hidden;
    this.sync(this.last);
  }

  sync(features) {
    this.last = [...features];
    const now = Date.now();
    const seen = new Set();
    for (const f of this.last) {
      if (this.isHidden(f.properties)) continue;
      seen.add(f.id);
      const key = `${f.properties.version}|${f.properties.stale}|${incidentOpacity(f.properties, now)}`;
      const old = this.shown.get(f.id);
      if (old && old.key === key) continue;
      if (old) this.group.removeLayer(old.layer);
      const layer = layerFor(f, { scale: this.scale, now, label: this.labels });
      if (this.onClick) layer.on("click", () => this.onClick(f));
      layer.addTo(this.group);
      this.shown.set(f.id, { key, layer });
    }
    for (const [id, old] of this.shown) {
      if (!seen.has(id)) {
        this.group.removeLayer(old.layer);
        this.shown.delete(id);
      }
    }
    // The governorates' names make way for the symbols drawn now.
    this.map.fire("cmcop:items");
  }
}

/**
 * Layer and status toggles on a map: a collapsible box of checkboxes, one per layer and one
 * per status, that hide and show the items of `items` (an ItemLayers).
 */
export function toggleControl(items) {
  const Toggles = L.Control.extend({
    options: { position: "topright" },
    onAdd() {
      const box = L.DomUtil.create("details", "map-toggles");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      const render = () => {
        box.replaceChildren();
        const summary = document.createElement("summary");
        summary.textContent = t("map.show");
        box.append(summary);
        for (const [layer, statuses] of Object.entries(STATUSES)) {
          const group = document.createElement("fieldset");
          const legend = document.createElement("legend");
          group.append(legend);
          const tick = (key, text, cls) => {
            const label = document.createElement("label");
            label.className = cls;
            const input = document.createElement("input");
            input.type = "checkbox";
            input.dataset.key = key;
            input.checked = !items.hidden.has(key);
            input.addEventListener("change", () => {
              const hidden = new Set(items.hidden);
              if (input.checked) hidden.delete(key);
              else hidden.add(key);
              items.setHidden(hidden);
            });
            label.append(input, " ", text);
            return label;
          };
          legend.append(tick(layer, t("layer." + layer), "toggle-layer"));
          for (const s of statuses) group.append(tick(`${layer}:${s}`, term(s), "toggle-status"));
          box.append(group);
        }
      };
      render();
      onLanguageChange(render);
      return box;
    },
  });
  return new Toggles();
}

/** A small SVG of a line (or an area's outline and fill) as the map draws it. */
function pathSwatch(p, area) {
  const st = pathStyle(p, { scale: 0.5, area });
  const dash = st.dashArray ? ` stroke-dasharray="${st.dashArray}"` : "";
  const body = area
    ? `<rect x="3" y="4" width="34" height="16" rx="2" fill="${st.fillColor}" stroke="${st.color}" stroke-width="${st.weight}"${dash}/>`
    : `<path d="M4 12H36" stroke="${st.color}" stroke-width="${st.weight}" stroke-linecap="round"${dash}/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 24" class="sw-path" aria-hidden="true" focusable="false">${body}</svg>`;
}

const NEUTRAL = "#d8dee9";

/**
 * The legend's groups, each a list of [value, swatches HTML]: the symbols exactly as the map
 * draws them (point, line and area), and the military and humanitarian symbol sets.
 */
export function legendGroups({ present = null } = {}) {
  const mil = (p) => {
    const m = milSymbol(sidcOf(p), 24);
    return m ? m.svg : "";
  };
  return [
    [
      "constraints",
      STATUSES.constraints.map((s) => {
        const p = { layer: "constraints", status: s, kind: "other" };
        return [s, svg(constraintShape(s, "other", colorOf(p)), 22) + pathSwatch(p, false) + pathSwatch(p, true)];
      }),
    ],
    [
      "movements",
      STATUSES.movements.map((s) => {
        const p = { layer: "movements", status: s };
        return [s, svg(movementShape(s, colorOf(p)), 22) + pathSwatch(p, false)];
      }),
    ],
    [
      "incidents",
      [
        ...STATUSES.incidents.map((v) => [v, svg(incidentShape(v, NEUTRAL), 20)]),
        ...Object.entries(PALETTE.incidents).map(([type, c]) => [type, svg(incidentShape("confirmed", c), 16)]),
      ],
    ],
    [
      "displacements",
      STATUSES.displacements.map((d) => {
        const p = { layer: "displacements", direction: d };
        const c = colorOf(p);
        const ret = d === "return";
        return [d, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><circle cx="12" cy="12" r="8" fill="${ret ? "none" : c}" stroke="${c}" stroke-width="${ret ? 3 : 1.5}"/></svg>`];
      }),
    ],
    [
      "areas",
      STATUSES.areas.map((s) => [s, pathSwatch({ layer: "areas", status: s }, true)]),
    ],
    ["needs", [1, 2, 3, 4, 5].map((s) => [`severity_${s}`, svg(needShape(s, NEUTRAL), 20)])],
    ["contacts", [["contact_point", svg(contactShape(NEUTRAL), 20)]]],
  ].filter(([group]) => !OPTIONAL_GROUPS.has(group) || !present || present.has(group)).concat([
    [
      "symbols",
      [
        ["military_movement", mil({ layer: "movements", status: "en_route" })],
        ["military_checkpoint", mil({ layer: "constraints", kind: "checkpoint" })],
        ["military_incident", mil({ layer: "incidents", event_type: "explosions_remote_violence", verification: "confirmed" })],
        ["humanitarian_checkpoint", svg(constraintShape("open", "checkpoint", NEUTRAL), 22)],
        ["humanitarian_road_closure", svg(constraintShape("open", "road_closure", NEUTRAL), 22)],
        ["humanitarian_curfew", svg(constraintShape("open", "curfew", NEUTRAL), 22)],
        ["humanitarian_hazard", svg(constraintShape("open", "hazard", NEUTRAL), 22)],
      ].filter(([, html]) => html),
    ],
  ]);
}

/**
 * Legend groups shown only where their layer is on the map when the page says what is
 * (`present`): a wall has no room for the legend of a layer it does not show.
 */
const OPTIONAL_GROUPS = new Set(["displacements", "areas", "needs", "contacts"]);

/** Fills `el` with the legend, in the current language; `present`: the layers on the map. */
export function renderLegend(el, { present = null } = {}) {
  el.replaceChildren();
  for (const [group, rows] of legendGroups({ present })) {
    const h = document.createElement("h3");
    h.textContent = t(group === "symbols" ? "legend.symbols" : "layer." + group);
    el.append(h);
    const ul = document.createElement("ul");
    ul.className = `legend-${group}`;
    for (const [value, html] of rows) {
      const li = document.createElement("li");
      li.dataset.value = value;
      const sw = document.createElement("span");
      sw.className = "swatches";
      sw.innerHTML = html;
      const label = document.createElement("span");
      label.textContent = group === "symbols" ? t("legend." + value) : term(value);
      li.append(sw, label);
      ul.append(li);
    }
    el.append(ul);
  }
  const extra = document.createElement("p");
  extra.className = "legend-note";
  extra.textContent = t("legend.note");
  el.append(extra);
}
