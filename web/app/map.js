// The map: Leaflet (web/vendor/leaflet, loaded as a classic script that defines `L`) over the
// embedded offline basemap (Natural Earth country outlines), and the one place that decides how
// an item looks: constraints by status, incidents by type and age, movements by status with
// their route and last position, displacements by direction, dated areas by status, stale
// items dimmed. The governorates (the server's administrative areas) are drawn on the basemap
// with their names in the page's language.

import { language, onLanguageChange, t, term } from "./i18n.js";
import { api } from "./session.js";

const L = window.L;

export const COLORS = {
  constraints: { closed: "#ff3b30", restricted: "#ffb300", open: "#30d158", unknown: "#a1a1aa" },
  movements: {
    planned: "#4da3ff",
    en_route: "#00e5ff",
    arrived: "#9be564",
    aborted: "#ff6b9a",
    cancelled: "#8e8e93",
  },
  incidents: {
    battles: "#ff2d55",
    explosions_remote_violence: "#ff8c00",
    violence_against_civilians: "#e040fb",
    protests: "#ffd60a",
    riots: "#ffa94d",
    strategic_developments: "#64d2ff",
    other: "#f5f5f5",
  },
  displacements: { displacement: "#bf5af2", return: "#32d7c8" },
  areas: {
    military_operations: "#ff453a",
    contested: "#ff9f0a",
    retaken: "#0a84ff",
    safe_for_return: "#30d158",
  },
};

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

export function colorOf(f) {
  const p = f.properties;
  if (p.layer === "incidents") return COLORS.incidents[p.event_type] || COLORS.incidents.other;
  if (p.layer === "displacements") return COLORS.displacements[p.direction] || "#ffffff";
  return (COLORS[p.layer] || {})[p.status] || "#ffffff";
}

/** A Leaflet map over the offline basemap. `dark` is the wall's high-contrast look. */
export async function createMap(el, { zoomControl = true, view = { center: [33.3, 43.7], zoom: 6 } } = {}) {
  const map = L.map(el, { zoomControl, minZoom: 3, maxZoom: 15, worldCopyJump: false, attributionControl: true });
  map.setView(view.center, view.zoom);
  map.attributionControl.setPrefix(false);
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
  L.geoJSON(countries, {
    interactive: false,
    attribution: "Natural Earth",
    style: (f) => ({
      color: f.properties.name === "Iraq" ? "#8fa3bf" : "#4a5a70",
      weight: f.properties.name === "Iraq" ? 2 : 1,
      fillColor: f.properties.name === "Iraq" ? "#1c2633" : "#121922",
      fillOpacity: 1,
    }),
  }).addTo(map);
  await drawAdminAreas(map);
  // A deployment's own tile source, when it has one, goes over the offline basemap; without a
  // network the tiles fail quietly and the outlines stay.
  try {
    const cfg = await (await fetch("/web/config")).json();
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
async function drawAdminAreas(map) {
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
    style: () => ({ color: "#7d8ea8", weight: 1, dashArray: "4 4", fill: false, opacity: 0.8 }),
  }).addTo(map);
  const labels = L.layerGroup().addTo(map);
  const draw = () => {
    labels.clearLayers();
    for (const f of areas.features || []) {
      const p = f.properties;
      if (!Array.isArray(p.label)) continue;
      const name = (language() === "ar" && p.name_ar) || p.name_en;
      const el = document.createElement("span");
      el.textContent = name;
      L.marker([p.label[1], p.label[0]], {
        pane: "admin",
        interactive: false,
        keyboard: false,
        icon: L.divIcon({ className: "admin-label", html: el.outerHTML, iconSize: null }),
      }).addTo(labels);
    }
  };
  draw();
  onLanguageChange(draw);
}

function tooltipText(f) {
  const p = f.properties;
  if (p.layer === "displacements") {
    return `${p.site || p.destination_area || t("layer.displacements")} · ${term(p.direction)} · ${p.individuals ?? "?"} · ${p.reported_on || ""}`;
  }
  if (p.layer === "areas") return `${p.name || t("layer.areas")} · ${term(p.status)} · ${p.as_of || ""}`;
  const what = p.layer === "movements" ? p.name : p.layer === "constraints" ? term(p.kind || p.category) : term(p.sub_event_type || p.event_type);
  const status = p.layer === "incidents" ? term(p.verification) : term(p.status);
  return `${what || t("layer." + p.layer)} · ${status}${p.stale ? " · " + t("stale") : ""}`;
}

/** The Leaflet layer for one feature; `scale` enlarges everything (the wall). */
export function layerFor(f, { scale = 1, now = Date.now(), tooltips = true } = {}) {
  const p = f.properties;
  const color = colorOf(f);
  const dim = p.stale ? 0.35 : 1;
  let layer;
  if (p.layer === "incidents") {
    const size = Math.round((9 + 2.5 * (p.severity || 1)) * scale);
    const icon = L.divIcon({
      className: "incident-icon",
      html: `<span style="--c:${color};opacity:${(incidentOpacity(p, now) * dim).toFixed(2)};width:${size}px;height:${size}px"></span>`,
      iconSize: [size, size],
      iconAnchor: [size / 2, size / 2],
    });
    const [lon, lat] = f.geometry.coordinates;
    layer = L.marker([lat, lon], { icon, keyboard: false });
  } else if (p.layer === "displacements") {
    // A circle whose area grows with the people counted.
    const [lon, lat] = f.geometry.coordinates;
    const radius = Math.min(30, 5 + Math.sqrt(p.individuals || 1) / 4) * scale;
    layer = L.circleMarker([lat, lon], {
      radius,
      color: "#0b0f14",
      weight: 2 * scale,
      fillColor: color,
      fillOpacity: 0.75 * dim,
      opacity: dim,
    });
  } else if (p.layer === "areas") {
    layer = L.geoJSON(f, {
      style: () => ({
        color,
        weight: 2 * scale,
        opacity: 0.9 * dim,
        dashArray: p.status === "contested" ? "8 6" : null,
        fillColor: color,
        fillOpacity: 0.18 * dim,
      }),
    });
  } else if (p.layer === "constraints") {
    const dash = p.status === "closed" ? null : p.status === "unknown" ? "2 8" : p.status === "restricted" ? "10 6" : null;
    // Leaflet applies `style` to the point markers too: only lines and areas take it.
    layer = L.geoJSON(f, {
      style: () => (f.geometry.type === "Point" ? {} : {
        color,
        weight: 6 * scale,
        opacity: 0.95 * dim,
        dashArray: p.stale ? "4 8" : dash,
        fillColor: color,
        fillOpacity: 0.2 * dim,
      }),
      pointToLayer: (_, latlng) =>
        L.circleMarker(latlng, {
          radius: 9 * scale,
          color: "#0b0f14",
          weight: 2 * scale,
          fillColor: color,
          fillOpacity: 0.95 * dim,
          opacity: dim,
        }),
    });
  } else {
    layer = L.featureGroup();
    L.geoJSON(f, {
      style: () => ({
        color,
        weight: 4 * scale,
        opacity: 0.9 * dim,
        dashArray: p.status === "planned" ? "12 8" : p.stale ? "4 8" : null,
      }),
    }).addTo(layer);
    if (Array.isArray(p.position)) {
      L.circleMarker([p.position[1], p.position[0]], {
        radius: 8 * scale,
        color: "#ffffff",
        weight: 3 * scale,
        fillColor: color,
        fillOpacity: dim,
        opacity: dim,
      }).addTo(layer);
    }
  }
  if (tooltips) layer.bindTooltip(tooltipText(f), { sticky: true });
  return layer;
}

/** Keeps the map's item layers equal to a set of features (by id and version). */
export class ItemLayers {
  constructor(map, { scale = 1, onClick } = {}) {
    this.map = map;
    this.scale = scale;
    this.onClick = onClick;
    this.shown = new Map();
    this.group = L.featureGroup().addTo(map);
  }

  sync(features) {
    const now = Date.now();
    const seen = new Set();
    for (const f of features) {
      seen.add(f.id);
      const key = `${f.properties.version}|${f.properties.stale}|${incidentOpacity(f.properties, now)}`;
      const old = this.shown.get(f.id);
      if (old && old.key === key) continue;
      if (old) this.group.removeLayer(old.layer);
      const layer = layerFor(f, { scale: this.scale, now });
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
  }
}

/** The legend's rows: [layer, value, color, shape]. */
export function legendRows() {
  const rows = [];
  for (const [status, c] of Object.entries(COLORS.constraints)) rows.push(["constraints", status, c, "line"]);
  for (const [status, c] of Object.entries(COLORS.movements)) rows.push(["movements", status, c, "route"]);
  for (const [type, c] of Object.entries(COLORS.incidents)) rows.push(["incidents", type, c, "diamond"]);
  for (const [dir, c] of Object.entries(COLORS.displacements)) rows.push(["displacements", dir, c, "dot"]);
  for (const [status, c] of Object.entries(COLORS.areas)) rows.push(["areas", status, c, "line"]);
  return rows;
}

/** Fills `el` with the legend, in the current language. */
export function renderLegend(el) {
  const groups = {};
  for (const [layer, value, color, shape] of legendRows()) (groups[layer] ||= []).push([value, color, shape]);
  el.replaceChildren();
  for (const layer of ["constraints", "movements", "incidents", "displacements", "areas"]) {
    const h = document.createElement("h3");
    h.textContent = t("layer." + layer);
    el.append(h);
    const ul = document.createElement("ul");
    for (const [value, color, shape] of groups[layer]) {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch " + shape;
      sw.style.setProperty("--c", color);
      li.append(sw, document.createTextNode(term(value)));
      ul.append(li);
    }
    el.append(ul);
  }
  const extra = document.createElement("p");
  extra.className = "legend-note";
  extra.textContent = t("legend.note");
  el.append(extra);
}
