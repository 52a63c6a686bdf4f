// The route planner: a route drawn on the map or picked from the gazetteer, a window, and the
// server's access check (POST /api/v1/access-check): the verdict, and each conflict on the map
// and in a list in the order the server gives (along the route). The plan can be saved as a
// movement (POST /api/v1/movements) and notified.

import { api, requireSession, signOut, whoami } from "./session.js";
import { fmtDateTime, fmtNumber, initI18n, languageButton, onLanguageChange, t, term } from "./i18n.js";
import { LiveFeed } from "./live.js";
import { createMap, ItemLayers } from "./map.js";
import { PLACES } from "./views.js";

const L = window.L;

/** A datetime-local input's value for a Date (local time, minutes). */
function localInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

if (requireSession()) {
  await initI18n();
  languageButton(document.getElementById("lang"));
  document.getElementById("signout").addEventListener("click", () => signOut());
  const me = await whoami();
  const showWho = () => (document.getElementById("who").textContent = `${term(me.role)} · ${me.org}`);
  showWho();

  const map = await createMap(document.getElementById("map"), {});
  const items = new ItemLayers(map, { scale: 1 });
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

  /** The waypoints: {name, lat, lon}; name is a place key or null for a map click. */
  const waypoints = [];
  const routeLayer = L.featureGroup().addTo(map);
  const conflictLayer = L.featureGroup().addTo(map);
  let lastReport = null;
  let savedId = null;

  const placeName = (w) => (w.place ? t("place." + w.place) : `${fmtNumber(w.lat, { maximumFractionDigits: 3 })}, ${fmtNumber(w.lon, { maximumFractionDigits: 3 })}`);

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
  document.getElementById("depart").value = localInput(start);
  document.getElementById("arrive").value = localInput(new Date(start.getTime() + 6 * 3600000));

  const route = () => ({ type: "LineString", coordinates: waypoints.map((w) => [w.lon, w.lat]) });
  const iso = (id) => new Date(document.getElementById(id).value).toISOString();

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
    const v = document.getElementById("verdict");
    v.className = "verdict verdict-" + lastReport.verdict;
    v.dataset.verdict = lastReport.verdict;
    v.textContent = t("verdict." + lastReport.verdict);
    const ol = document.getElementById("conflicts");
    ol.replaceChildren();
    const conflicts = lastReport.conflicts || [];
    if (!conflicts.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = t("planner.no_conflicts");
      ol.append(li);
    }
    conflicts.forEach((c, i) => {
      const li = document.createElement("li");
      li.className = "conflict effect-" + (c.effect || "");
      li.dataset.id = c.id;
      const head = document.createElement("strong");
      head.textContent = `${fmtNumber(i + 1)}. ${t("layer." + c.layer)} · ${term(c.kind)} · ${term(c.status)}`;
      const facts = document.createElement("span");
      facts.textContent = t("planner.conflict_facts", {
        along: fmtNumber(c.along_m / 1000, { maximumFractionDigits: 1 }),
        distance: fmtNumber(c.distance_m / 1000, { maximumFractionDigits: 1 }),
        eta: fmtDateTime(c.eta),
      });
      li.append(head, document.createElement("br"), facts);
      if (c.reason) {
        const r = document.createElement("div");
        r.className = "muted";
        r.textContent = c.reason;
        li.append(r);
      }
      const f = feed.features.get(c.id);
      li.addEventListener("click", () => {
        if (f) map.fitBounds(L.geoJSON(f).getBounds(), { maxZoom: 11 });
      });
      ol.append(li);
      if (f) {
        const ring = L.geoJSON(f, {
          style: () => ({ color: "#ffffff", weight: 12, opacity: 0.5, fill: false }),
          pointToLayer: (_, latlng) => L.circleMarker(latlng, { radius: 18, color: "#ffffff", weight: 3, fill: false }),
          interactive: false,
        });
        ring.addTo(conflictLayer);
        const center = ring.getBounds().getCenter();
        L.marker(center, {
          icon: L.divIcon({ className: "conflict-number", html: `<span>${fmtNumber(i + 1)}</span>`, iconSize: [26, 26] }),
          interactive: false,
        }).addTo(conflictLayer);
      }
    });
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
