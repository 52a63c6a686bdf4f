// The route planner: a route drawn on the map or picked from the gazetteer, a window, and the
// server's access check (POST /api/v1/access-check): the verdict, and each conflict on the map
// and in a list in the order the server gives (along the route). The plan can be saved as a
// movement (POST /api/v1/movements) and notified.
//
// Follow roads: the route runs along the server's road network (POST /api/v1/routes) through
// the waypoints, with alternatives listed side by side (length, conflicts, blocked or not),
// each checked by the server like any route; one is chosen. Without a road network the server
// answers 409 and the planner draws straight lines, saying so. A movement the viewer sees can
// be loaded (its waypoints, window and route), checked, and its route saved back (PATCH).

import { api, requireSession, signOut, whoami } from "./session.js";
import { fmtDateTime, fmtNumber, initI18n, languageButton, message, onLanguageChange, t, term } from "./i18n.js";
import { initTheme, themeButton } from "./theme.js";
import { LiveFeed } from "./live.js";
import { createMap, ItemLayers, screenScale, toggleControl } from "./map.js";
import { searchControl } from "./search.js";
import { PLACES } from "./views.js";

const L = window.L;

/**
 * A time field's text for a Date: ISO 8601 in UTC to the minute ("2026-12-07 14:00"), never
 * in the browser's locale (a datetime-local field showed mm/dd next to dd/mm results).
 */
function utcInput(d) {
  return d.toISOString().slice(0, 16).replace("T", " ");
}

/** The time a field names (UTC, "YYYY-MM-DD HH:MM"), as ISO 8601; throws naming the field. */
function utcValue(id) {
  const text = document.getElementById(id).value.trim();
  const m = text.match(/^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?: ?(?:Z|UTC))?$/i);
  const d = m && new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]));
  if (!d || d.getUTCMonth() !== +m[2] - 1 || d.getUTCDate() !== +m[3] || +m[4] > 23 || +m[5] > 59) {
    throw new Error(t("planner.bad_time", { field: t("field." + id), value: text }));
  }
  return d.toISOString();
}

initTheme();

if (requireSession()) {
  await initI18n();
  languageButton(document.getElementById("lang"));
  themeButton(document.getElementById("theme"));
  document.getElementById("signout").addEventListener("click", () => signOut());
  const me = await whoami();
  const showWho = () => (document.getElementById("who").textContent = `${term(me.role)} · ${me.org}`);
  showWho();

  const map = await createMap(document.getElementById("map"), {});
  // Routes, waypoints and conflict markers grow with the page's text on a very wide screen.
  const k = screenScale();
  const items = new ItemLayers(map, { scale: 1 });
  toggleControl(items).addTo(map);
  searchControl(map, () => window.cmcopFeed.features.values()).addTo(map);
  const feed = new LiveFeed({
    layers: ["constraints", "incidents"],
    onChange: () => items.sync(feed.features.values()),
    onStatus: () => {
      const el = document.getElementById("feed-state");
      const state = feed.state();
      el.textContent = t("feed." + state);
      el.className = "feed-pill " + { live: "ok", reconnecting: "warn", stopped: "down" }[state];
      el.dataset.state = state;
    },
  }).start();
  window.cmcopFeed = feed;
  window.cmcopMap = map;

  /** The waypoints: {name, lat, lon}; name is a place key or null for a map click. */
  const waypoints = [];
  const routeLayer = L.featureGroup().addTo(map);
  const conflictLayer = L.featureGroup().addTo(map);
  let lastReport = null;
  let savedId = null;
  /** Road routes from the server (Features, best first) and the chosen one's index. */
  let roadRoutes = null;
  let chosen = 0;
  /** The network the server routes on, as its last answer said; false: none loaded. */
  let network = null;
  /** A movement loaded from the picture: {id, name, geometry} (its route until changed). */
  let loaded = null;

  const placeName = (w) =>
    w.place
      ? t("place." + w.place)
      : w.label || t("map.latlon", { lat: fmtNumber(w.lat, { maximumFractionDigits: 3 }), lon: fmtNumber(w.lon, { maximumFractionDigits: 3 }) });

  function fillPlaces() {
    const sel = document.getElementById("place");
    const options = PLACES.map(([key]) => new Option(t("place." + key), key));
    options.sort((a, b) => a.text.localeCompare(b.text, document.documentElement.lang));
    const value = sel.value;
    sel.replaceChildren(...options);
    if (value) sel.value = value;
  }

  function routeChanged() {
    lastReport = null;
    savedId = null;
    roadRoutes = null;
    if (loaded) loaded.geometry = null;
    renderAlternatives();
    document.getElementById("result").hidden = true;
    document.getElementById("notify").disabled = true;
    conflictLayer.clearLayers();
    renderRoute();
  }

  function renderRoute() {
    routeLayer.clearLayers();
    const ol = document.getElementById("waypoints");
    ol.replaceChildren();
    waypoints.forEach((w, i) => {
      const li = document.createElement("li");
      li.textContent = placeName(w) + " ";
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "link remove";
      rm.textContent = "×";
      rm.setAttribute("aria-label", t("planner.remove"));
      rm.addEventListener("click", () => {
        waypoints.splice(i, 1);
        routeChanged();
      });
      li.append(rm);
      ol.append(li);
      L.circleMarker([w.lat, w.lon], { radius: 6 * k, color: "#fff", weight: 2 * k, fillColor: "#4da3ff", fillOpacity: 1 })
        .bindTooltip(placeName(w))
        .addTo(routeLayer);
    });
    // The other road routes thin and dashed under the chosen one.
    (roadRoutes || []).forEach((f, i) => {
      if (i === chosen) return;
      // Clicking one chooses it (and adds no waypoint to the map under it).
      L.geoJSON(f.geometry, { bubblingMouseEvents: false, style: () => ({ color: "#9bb7d4", weight: 3 * k, opacity: 0.8, dashArray: `${6 * k} ${6 * k}` }) })
        .bindTooltip(t("planner.route_n", { n: fmtNumber(i + 1) }))
        .on("click", () => choose(i))
        .addTo(routeLayer);
    });
    const line = routeGeometry();
    if (line) {
      L.geoJSON(line, { style: () => ({ color: "#4da3ff", weight: 5 * k, opacity: 0.9 }), interactive: false }).addTo(routeLayer);
    }
  }

  /** The route as it stands: the chosen road route, a loaded movement's, or straight lines. */
  function routeGeometry() {
    if (roadRoutes && roadRoutes[chosen]) return roadRoutes[chosen].geometry;
    if (loaded && loaded.geometry) return loaded.geometry;
    return waypoints.length > 1 ? straight() : null;
  }

  function roadsNote() {
    const el = document.getElementById("roads-note");
    if (!document.getElementById("follow-roads").checked) {
      el.textContent = t("planner.straight");
    } else if (network === false) {
      el.textContent = t("planner.no_network");
    } else if (network) {
      el.textContent = t("planner.network", { source: network.source, km: fmtNumber(network.length_km, { maximumFractionDigits: 0 }) });
    } else {
      el.textContent = "";
    }
    el.dataset.network = network === false ? "none" : network ? "loaded" : "";
  }

  /** The alternatives side by side: length, how much longer, conflicts, verdict; choose one. */
  function renderAlternatives() {
    const box = document.getElementById("alternatives-box");
    const ol = document.getElementById("alternatives");
    ol.replaceChildren();
    box.hidden = !roadRoutes;
    if (!roadRoutes) return;
    roadRoutes.forEach((f, i) => {
      const p = f.properties;
      const check = p.check;
      const verdict = check ? check.verdict : null;
      const li = document.createElement("li");
      li.className = "alternative" + (verdict ? " alt-" + verdict : "") + (i === chosen ? " chosen" : "");
      li.dataset.rank = String(i);
      li.dataset.verdict = verdict || "";
      const head = document.createElement("strong");
      head.textContent = t("planner.route_n", { n: fmtNumber(i + 1) }) + (i === 0 ? ` (${t("planner.shortest")})` : "");
      const length = document.createElement("div");
      length.className = "alt-length";
      const km = (m) => fmtNumber(m / 1000, { maximumFractionDigits: 1 });
      length.textContent =
        t("planner.alt_length", { km: km(p.length_m) }) + (i > 0 ? " · " + t("planner.alt_longer", { km: km(p.longer_than_best_m) }) : "");
      const judged = document.createElement("div");
      judged.className = "alt-verdict";
      judged.textContent = check
        ? `${t("verdict." + verdict)} · ${t("planner.alt_conflicts", { n: fmtNumber(check.conflicts.length) })}`
        : t("planner.alt_unchecked");
      li.append(head, length, judged);
      if (p.roads && p.roads.length) {
        const via = document.createElement("div");
        via.className = "alt-via muted";
        via.dir = "auto";
        via.textContent = t("planner.via", { roads: p.roads.slice(0, 4).join(", ") + (p.roads.length > 4 ? "…" : "") });
        li.append(via);
      }
      const pick = document.createElement("button");
      pick.type = "button";
      pick.className = i === chosen ? "secondary" : "";
      pick.disabled = i === chosen;
      pick.textContent = t(i === chosen ? "planner.chosen" : "planner.choose");
      pick.addEventListener("click", () => choose(i));
      li.append(pick);
      ol.append(li);
    });
  }

  function choose(i) {
    chosen = i;
    lastReport = roadRoutes[i].properties.check;
    renderAlternatives();
    renderRoute();
    renderReport();
  }

  map.on("click", (e) => {
    waypoints.push({ place: null, lat: e.latlng.lat, lon: e.latlng.lng });
    routeChanged();
  });
  document.getElementById("add-place").addEventListener("click", () => {
    const key = document.getElementById("place").value;
    const p = PLACES.find(([k]) => k === key);
    if (p) waypoints.push({ place: p[0], lat: p[1], lon: p[2] });
    routeChanged();
  });
  document.getElementById("clear-route").addEventListener("click", () => {
    waypoints.length = 0;
    routeChanged();
  });

  const start = new Date(Date.now() + 2 * 3600000);
  start.setMinutes(0, 0, 0);
  document.getElementById("depart").value = utcInput(start);
  document.getElementById("arrive").value = utcInput(new Date(start.getTime() + 6 * 3600000));

  const straight = () => ({ type: "LineString", coordinates: waypoints.map((w) => [w.lon, w.lat]) });
  const route = () => routeGeometry();
  const iso = utcValue;
  const checkMembers = () => ({
    depart: iso("depart"),
    arrive: iso("arrive"),
    buffer_m: Number(document.getElementById("buffer").value),
    incidents_since_h: Number(document.getElementById("since").value),
  });

  /**
   * Road routes through the waypoints, each checked; false when the server has no road
   * network (the caller then checks straight lines).
   */
  async function followRoads() {
    try {
      const answer = await api("/api/v1/routes", {
        method: "POST",
        body: {
          waypoints: waypoints.map((w) => [w.lon, w.lat]),
          alternatives: Number(document.getElementById("alt-count").value),
          ...checkMembers(),
        },
      });
      network = answer.network;
      roadRoutes = answer.features;
      chosen = 0;
      lastReport = roadRoutes[0].properties.check;
      const far = answer.waypoints.filter((w) => w.distance_m >= 1000);
      document.getElementById("load-result").textContent = far
        .map((w) => t("planner.snapped", { n: fmtNumber(w.index + 1), km: fmtNumber(w.distance_m / 1000, { maximumFractionDigits: 1 }) }))
        .join(" ");
      return true;
    } catch (e) {
      if (e.status === 409 && e.problem && e.problem.type === "/problems/no-road-network") {
        network = false;
        roadRoutes = null;
        return false;
      }
      throw e;
    } finally {
      roadsNote();
    }
  }

  document.getElementById("plan-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = document.getElementById("check-error");
    err.hidden = true;
    if (waypoints.length < 2) {
      err.textContent = t("planner.need_two");
      err.hidden = false;
      return;
    }
    try {
      const roads = document.getElementById("follow-roads").checked && (await followRoads());
      if (!roads) {
        roadRoutes = null;
        lastReport = await api("/api/v1/access-check", {
          method: "POST",
          body: { route: route(), ...checkMembers() },
        });
      }
      renderAlternatives();
      renderRoute();
      renderReport();
      map.fitBounds(routeLayer.getBounds(), { padding: [40, 40], maxZoom: 11 });
    } catch (e) {
      err.textContent = t("action.failed", { reason: e.message });
      err.hidden = false;
    }
  });

  function renderReport() {
    const box = document.getElementById("result");
    conflictLayer.clearLayers();
    if (!lastReport) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    const conflicts = lastReport.conflicts || [];
    const v = document.getElementById("verdict");
    v.className = "verdict verdict-" + lastReport.verdict;
    v.dataset.verdict = lastReport.verdict;
    const word = document.createElement("div");
    word.textContent = t("verdict." + lastReport.verdict);
    v.replaceChildren(word);
    // A blocked verdict says what blocks it, by the item's own words.
    const blocking = conflicts.filter((c) => c.effect === "blocked");
    if (blocking.length) {
      const by = document.createElement("div");
      by.className = "verdict-by";
      by.textContent =
        blocking.length > 1
          ? t("planner.blocked_by_more", { name: conflictName(blocking[0]), n: fmtNumber(blocking.length - 1) })
          : t("planner.blocked_by", { name: conflictName(blocking[0]) });
      v.append(by);
    }
    const ol = document.getElementById("conflicts");
    ol.replaceChildren();
    if (!conflicts.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = t("planner.no_conflicts");
      ol.append(li);
    }
    markers.length = 0;
    conflicts.forEach((c, i) => {
      const blocked = c.effect === "blocked";
      const li = document.createElement("li");
      li.className = "conflict effect-" + (c.effect || "caution");
      li.dataset.id = c.id;
      li.dataset.effect = c.effect || "";
      const head = document.createElement("strong");
      const num = document.createElement("span");
      num.className = "conflict-index";
      num.textContent = fmtNumber(i + 1);
      const badge = document.createElement("span");
      badge.className = "effect-badge";
      badge.textContent = t("planner.effect_" + (blocked ? "blocked" : "caution"));
      const name = document.createElement("span");
      name.className = "conflict-name";
      name.textContent = conflictName(c);
      head.append(num, " ", badge, " ", name);
      const what = document.createElement("div");
      what.className = "muted";
      what.textContent = [t("layer." + c.layer), c.kind && term(c.kind), c.status && term(c.status)].filter(Boolean).join(" · ");
      const facts = document.createElement("div");
      facts.textContent = t("planner.conflict_facts", {
        along: fmtNumber(c.along_m / 1000, { maximumFractionDigits: 1 }),
        distance: fmtNumber(c.distance_m / 1000, { maximumFractionDigits: 1 }),
        eta: fmtDateTime(c.eta),
      });
      li.append(head, what, facts);
      if (c.reason) {
        // The server's reason in the reader's language, without its "at km" phrase: the facts
        // line above gives km and distance already (they showed twice).
        const r = document.createElement("div");
        r.className = "muted conflict-reason";
        r.dir = "auto";
        r.textContent = message(c.reason_key, { ...c.reason_params, where: null }) ?? c.reason;
        li.append(r);
      }
      const f = feed.features.get(c.id);
      li.addEventListener("click", () => {
        if (f) map.fitBounds(L.geoJSON(f).getBounds(), { maxZoom: 11 });
      });
      ol.append(li);
      if (f) {
        // Blocked: a thick red dashed outline and a square marker; caution: a thin amber ring
        // and a round one. Shape and dash tell them apart without colour.
        const ringStyle = blocked
          ? { color: "#ff3b30", weight: 10 * k, opacity: 0.85, dashArray: `${14 * k} ${8 * k}`, fill: false }
          : { color: "#ffb300", weight: 8 * k, opacity: 0.6, fill: false };
        const ring = L.geoJSON(f, {
          style: () => ringStyle,
          pointToLayer: (_, latlng) => L.circleMarker(latlng, { ...ringStyle, radius: 18 * k, weight: (blocked ? 4 : 3) * k }),
          interactive: false,
        });
        ring.addTo(conflictLayer);
        const center = ring.getBounds().getCenter();
        const marker = L.marker(center, { title: conflictName(c), interactive: false, zIndexOffset: blocked ? 1000 : 0 });
        marker.conflict = { blocked, label: `${blocked ? "⊘ " : ""}${fmtNumber(i + 1)}` };
        markers.push(marker);
        marker.addTo(conflictLayer);
      }
    });
    layoutMarkers();
  }

  /** The numbered markers of the last report, in order along the route. */
  const markers = [];
  const MARKER_H = Math.round(26 * k);
  /**
   * Sets each numbered marker beside the ones before it when they would cover each other at
   * this zoom (conflicts at one spot, or close together), so every number stays readable.
   */
  function layoutMarkers() {
    const placed = [];
    for (const m of markers) {
      const { blocked, label } = m.conflict;
      const w = Math.round((blocked ? 40 : 26) * k);
      const p = map.latLngToLayerPoint(m.getLatLng());
      let dx = 0;
      const covers = (x) => placed.some((q) => Math.abs(q.x - x) < (q.w + w) / 2 + 2 && Math.abs(q.y - p.y) < MARKER_H + 2);
      while (covers(p.x + dx) && dx < 1000 * k) dx += 6;
      placed.push({ x: p.x + dx, y: p.y, w });
      m.setIcon(
        L.divIcon({
          className: "conflict-number " + (blocked ? "conflict-blocked" : "conflict-caution"),
          html: `<span>${label}</span>`,
          iconSize: [w, MARKER_H],
          iconAnchor: [w / 2 - dx, MARKER_H / 2],
        }),
      );
    }
  }
  map.on("zoomend", layoutMarkers);

  /** The item a conflict is about, in its own words: name, description or restriction. */
  function conflictName(c) {
    const f = feed.features.get(c.id);
    const p = (f && f.properties) || {};
    return p.name || p.description || p.restriction || [t("layer." + c.layer), c.kind && term(c.kind)].filter(Boolean).join(" · ");
  }

  document.getElementById("save").addEventListener("click", async () => {
    const out = document.getElementById("save-result");
    if (waypoints.length < 2) {
      out.textContent = t("planner.need_two");
      out.className = "error";
      return;
    }
    try {
      const feature = {
        type: "Feature",
        geometry: route(),
        properties: {
          name: document.getElementById("mv-name").value || t("planner.default_name"),
          mode: "road",
          window_start: iso("depart"),
          window_end: iso("arrive"),
          marking: document.getElementById("mv-marking").value,
          vehicles: { count: Number(document.getElementById("mv-vehicles").value) || 0 },
          waypoints: waypoints.map((w) => ({ name: placeName(w), position: [w.lon, w.lat] })),
        },
      };
      const saved = await api("/api/v1/movements", { method: "POST", body: feature });
      savedId = saved.id;
      out.textContent = t("planner.saved", { id: saved.id });
      out.className = "ok";
      document.getElementById("notify").disabled = false;
    } catch (e) {
      out.textContent = t("action.failed", { reason: e.message });
      out.className = "error";
    }
  });

  /** The movements the viewer sees, for loading one. */
  async function fillMovements() {
    const sel = document.getElementById("load-movement");
    let list = [];
    try {
      list = (await api("/api/v1/movements")).features || [];
    } catch {
      list = [];
    }
    const options = list.map((f) => new Option(f.properties.name || f.id, f.id));
    if (!options.length) options.push(new Option(t("planner.load_none"), ""));
    sel.replaceChildren(...options);
    sel.movements = new Map(list.map((f) => [f.id, f]));
  }

  /** Loads a movement: its waypoints (or its line's ends), window, name and route. */
  document.getElementById("load").addEventListener("click", async () => {
    const sel = document.getElementById("load-movement");
    const out = document.getElementById("load-result");
    if (!sel.value) return;
    try {
      const f = await api(`/api/v1/movements/${encodeURIComponent(sel.value)}`);
      const p = f.properties;
      const coords = f.geometry.type === "LineString" ? f.geometry.coordinates : [];
      const given = (p.waypoints || []).filter((w) => Array.isArray(w.position));
      const points = given.length > 1
        ? given.map((w) => ({ place: null, label: w.name, lon: w.position[0], lat: w.position[1] }))
        : coords.length > 1
          ? [coords[0], coords[coords.length - 1]].map((c) => ({ place: null, lon: c[0], lat: c[1] }))
          : [];
      waypoints.length = 0;
      waypoints.push(...points);
      routeChanged();
      loaded = { id: f.id, name: p.name || f.id, geometry: coords.length > 1 ? f.geometry : null };
      if (p.window_start) document.getElementById("depart").value = utcInput(new Date(p.window_start));
      if (p.window_end) document.getElementById("arrive").value = utcInput(new Date(p.window_end));
      document.getElementById("mv-name").value = p.name || "";
      document.getElementById("save-back").hidden = false;
      renderRoute();
      if (routeLayer.getLayers().length) map.fitBounds(routeLayer.getBounds(), { padding: [40, 40], maxZoom: 11 });
      out.textContent = t("planner.loaded", { name: loaded.name });
      out.className = "ok";
    } catch (e) {
      out.textContent = t("action.failed", { reason: e.message });
      out.className = "error";
    }
  });

  /** Saves the route as it stands (and its waypoints and window) to the loaded movement. */
  document.getElementById("save-back").addEventListener("click", async () => {
    const out = document.getElementById("save-result");
    const geometry = route();
    if (!loaded || !geometry) {
      out.textContent = t("planner.need_two");
      out.className = "error";
      return;
    }
    try {
      const saved = await api(`/api/v1/movements/${encodeURIComponent(loaded.id)}`, {
        method: "PATCH",
        body: {
          geometry,
          properties: {
            window_start: iso("depart"),
            window_end: iso("arrive"),
            waypoints: waypoints.map((w) => ({ name: placeName(w), position: [w.lon, w.lat] })),
          },
        },
      });
      loaded.geometry = saved.geometry;
      out.textContent = t("planner.saved_back", { id: saved.id, version: fmtNumber(saved.properties.version) });
      out.className = "ok";
    } catch (e) {
      out.textContent = t("action.failed", { reason: e.message });
      out.className = "error";
    }
  });

  document.getElementById("follow-roads").addEventListener("change", () => {
    roadRoutes = null;
    lastReport = null;
    document.getElementById("result").hidden = true;
    conflictLayer.clearLayers();
    renderAlternatives();
    renderRoute();
    roadsNote();
  });

  document.getElementById("notify").addEventListener("click", async () => {
    const out = document.getElementById("save-result");
    try {
      const mv = await api(`/api/v1/movements/${encodeURIComponent(savedId)}/notify`, { method: "POST" });
      out.textContent = t("action.notified") + (mv.properties && mv.properties.notified_late ? " " + t("planner.late") : "");
      out.className = "ok";
      document.getElementById("notify").disabled = true;
    } catch (e) {
      out.textContent = t("action.failed", { reason: e.message });
      out.className = "error";
    }
  });

  fillPlaces();
  fillMovements();
  roadsNote();
  onLanguageChange(() => {
    showWho();
    fillPlaces();
    renderRoute();
    renderAlternatives();
    roadsNote();
    renderReport();
  });
}
