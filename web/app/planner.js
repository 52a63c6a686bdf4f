// The route planner: a route drawn on the map or picked from the gazetteer, a window, and the
// server's access check (POST /api/v1/access-check): the verdict, and each conflict on the map
// and in a list in the order the server gives (along the route). The plan can be saved as a
// movement (POST /api/v1/movements) and notified.

import { api, requireSession, signOut, whoami } from "./session.js";
import { fmtDateTime, fmtNumber, initI18n, languageButton, message, onLanguageChange, t, term } from "./i18n.js";
import { initTheme, themeButton } from "./theme.js";
import { LiveFeed } from "./live.js";
import { createMap, ItemLayers, toggleControl } from "./map.js";
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

  const placeName = (w) =>
    w.place
      ? t("place." + w.place)
      : t("map.latlon", { lat: fmtNumber(w.lat, { maximumFractionDigits: 3 }), lon: fmtNumber(w.lon, { maximumFractionDigits: 3 }) });

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
      L.circleMarker([w.lat, w.lon], { radius: 6, color: "#fff", weight: 2, fillColor: "#4da3ff", fillOpacity: 1 })
        .bindTooltip(placeName(w))
        .addTo(routeLayer);
    });
    if (waypoints.length > 1) {
      L.polyline(waypoints.map((w) => [w.lat, w.lon]), { color: "#4da3ff", weight: 5, opacity: 0.9 }).addTo(routeLayer);
    }
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

  const route = () => ({ type: "LineString", coordinates: waypoints.map((w) => [w.lon, w.lat]) });
  const iso = utcValue;

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
      lastReport = await api("/api/v1/access-check", {
        method: "POST",
        body: {
          route: route(),
          depart: iso("depart"),
          arrive: iso("arrive"),
          buffer_m: Number(document.getElementById("buffer").value),
          incidents_since_h: Number(document.getElementById("since").value),
        },
      });
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
          ? { color: "#ff3b30", weight: 10, opacity: 0.85, dashArray: "14 8", fill: false }
          : { color: "#ffb300", weight: 8, opacity: 0.6, fill: false };
        const ring = L.geoJSON(f, {
          style: () => ringStyle,
          pointToLayer: (_, latlng) => L.circleMarker(latlng, { ...ringStyle, radius: 18, weight: blocked ? 4 : 3 }),
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
  const MARKER_H = 26;
  /**
   * Sets each numbered marker beside the ones before it when they would cover each other at
   * this zoom (conflicts at one spot, or close together), so every number stays readable.
   */
  function layoutMarkers() {
    const placed = [];
    for (const m of markers) {
      const { blocked, label } = m.conflict;
      const w = blocked ? 40 : 26;
      const p = map.latLngToLayerPoint(m.getLatLng());
      let dx = 0;
      const covers = (x) => placed.some((q) => Math.abs(q.x - x) < (q.w + w) / 2 + 2 && Math.abs(q.y - p.y) < MARKER_H + 2);
      while (covers(p.x + dx) && dx < 1000) dx += 6;
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
  onLanguageChange(() => {
    showWho();
    fillPlaces();
    renderRoute();
    renderReport();
  });
}
