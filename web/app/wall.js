// The wall display: the whole picture the role may see on a full-screen map, counts per layer
// and status, clocks, the age of the last update and a loud warning when the feed stops. Nothing
// to click: it reconnects and resumes by itself, and rotates between saved views when the URL
// asks (`?views=mosul,baghdad&every=60`).

import { requireSession } from "./session.js";
import { fmtAge, fmtClock, fmtDate, fmtNumber, initI18n, onLanguageChange, t, term } from "./i18n.js";
import { LiveFeed } from "./live.js";
import { alertRow, filterAlerts, mergeAlerts } from "./alerts.js";
import { api } from "./session.js";
import { createMap, hiddenFromUrl, ItemLayers, renderLegend } from "./map.js";
import { VIEWS, viewsFromUrl } from "./views.js";
import { initTheme } from "./theme.js";
import { Timeline } from "./timeline.js";

initTheme();

if (requireSession()) {
  await initI18n();
  const rotation = viewsFromUrl();
  const first = VIEWS[rotation.names[0]] || VIEWS.iraq;
  const map = await createMap(document.getElementById("map"), { zoomControl: false, cursor: false, view: first });
  // `?hide=incidents,constraints:open` hides layers or statuses (a wall has no one to click).
  const items = new ItemLayers(map, { scale: 1.5, labels: true, hidden: hiddenFromUrl() });
  let fitted = rotation.names.length > 0;
  let legendKey = null;
  // What the wall draws: the live feed, or the time slider's past moment while it shows one.
  const shown = () => (timeline.active() ? timeline : feed);
  const draw = () => {
    items.sync(shown().features.values());
    syncLegend();
    renderCounts(shown());
    renderAlerts(shown());
  };
  const timeline = new Timeline(document.getElementById("timeline"), { onShow: () => draw() });
  window.cmcopTimeline = timeline;
  const feed = new LiveFeed({
    onChange: () => {
      if (timeline.active()) return;
      draw();
      // Without saved views, the first picture decides the view: all of it, clear of the panels.
      if (!fitted) {
        fitted = true;
        fitPicture(map, items);
      }
    },
    onStatus: () => renderStatus(feed),
  }).start();
  window.cmcopFeed = feed;
  // The conditions active now (live ones follow over the feed), if the role receives alerts.
  api("/api/v1/alerts?state=active")
    .then((r) => {
      mergeAlerts(feed, r.alerts);
      renderAlerts(shown());
    })
    .catch((e) => console.warn("alerts:", e.message));
  renderAlerts(feed);
  setInterval(() => renderAlerts(shown()), 10000);

  // The legend names the layers of the picture over time only while the wall shows them.
  function syncLegend(force = false) {
    const present = new Set();
    for (const f of shown().features.values()) present.add(f.properties.layer);
    const key = ["displacements", "areas"].filter((l) => present.has(l)).join(",");
    if (!force && key === legendKey) return;
    legendKey = key;
    renderLegend(document.getElementById("legend"), { present });
  }
  syncLegend(true);
  onLanguageChange(() => {
    syncLegend(true);
    renderCounts(shown());
    renderAlerts(shown());
    renderStatus(feed);
  });

  let viewIndex = 0;
  const showView = () => {
    const name = rotation.names[viewIndex % rotation.names.length];
    document.getElementById("view-name").textContent = name ? t("wall.view", { name: t("view." + name) }) : "";
    if (name) map.flyTo(VIEWS[name].center, VIEWS[name].zoom, { duration: 2 });
  };
  if (rotation.names.length) showView();
  if (rotation.names.length > 1) {
    setInterval(() => {
      viewIndex += 1;
      showView();
    }, rotation.every * 1000);
  }

  setInterval(() => {
    renderClocks();
    renderStatus(feed);
  }, 1000);
  // Incidents fade with age: restyle now and then even when nothing changes.
  setInterval(() => items.sync(shown().features.values()), 60000);
  renderClocks();
}

function fitPicture(map, items) {
  const bounds = items.group.getBounds();
  if (!bounds.isValid()) return;
  const side = document.querySelector(".wall-side").offsetWidth + 40;
  const top = document.querySelector(".wall-top").offsetHeight + 30;
  const rtl = document.documentElement.dir === "rtl";
  map.fitBounds(bounds, {
    paddingTopLeft: [rtl ? side : 30, top],
    paddingBottomRight: [rtl ? 30 : side, 30],
    maxZoom: 10,
  });
}

/** The wall's alerts: the active ones, newest first, the few that fit (3); the count of all. */
function renderAlerts(feed) {
  const active = filterAlerts(feed.alerts, "active");
  document.getElementById("wall-alerts-list").replaceChildren(...active.slice(0, 3).map((a) => alertRow(a)));
  document.getElementById("wall-alerts-none").hidden = active.length > 0;
  document.getElementById("wall-alerts-count").textContent = active.length ? `(${fmtNumber(active.length)})` : "";
  // Shown only while an alert is active: it covers a corner of the map.
  document.getElementById("wall-alerts").hidden = active.length === 0;
}

function renderClocks() {
  const now = new Date();
  document.getElementById("clock-utc").textContent = fmtClock(now, "UTC");
  document.getElementById("date-utc").textContent = fmtDate(now, "UTC");
  document.getElementById("clock-local").textContent = fmtClock(now);
  document.getElementById("date-local").textContent = fmtDate(now);
}

function renderStatus(feed) {
  const now = Date.now();
  const last = document.getElementById("last-update");
  // Relative and absolute, with its zone: "12 s ago · 08:06:35 UTC".
  last.textContent = feed.lastChangeAt
    ? `${t("age.ago", { age: fmtAge((now - feed.lastChangeAt) / 1000) })} · ${fmtClock(new Date(feed.lastChangeAt), "UTC")} UTC`
    : "—";
  // One state for the panel and the banner, so they never disagree ("Live" only when live).
  const state = feed.state(now);
  const conn = document.getElementById("connection");
  conn.textContent = t("feed." + state);
  conn.className = "connection " + (state === "live" ? "ok" : "down");
  conn.dataset.state = state;
  const warning = document.getElementById("feed-warning");
  const stopped = state === "stopped";
  warning.hidden = !stopped;
  document.body.classList.toggle("feed-stopped", stopped);
  if (stopped) {
    const since = feed.lostAt();
    document.getElementById("feed-warning-detail").textContent = t("wall.stopped_detail", {
      age: fmtAge((now - since) / 1000),
    });
  }
}

const STATUS_ORDER = {
  constraints: ["closed", "restricted", "open", "unknown"],
  movements: ["planned", "en_route", "arrived", "aborted", "cancelled"],
  incidents: ["reported", "confirmed", "refuted"],
  displacements: ["displacement", "return"],
  areas: ["military_operations", "contested", "retaken", "safe_for_return"],
  needs: ["food_security", "health", "wash", "shelter_nfi", "protection", "education", "logistics", "emergency_telecoms"],
  contacts: ["liaison_officer", "duty_desk", "access_negotiation", "security", "logistics", "cluster_coordination", "other"],
};

/** The property a layer's counts are by, where it is not `status`. */
const STATUS_FIELD = { incidents: "verification", displacements: "direction", needs: "sector", contacts: "function" };

function renderCounts(feed) {
  const table = document.getElementById("counts");
  table.replaceChildren();
  let exercises = 0;
  for (const layer of Object.keys(STATUS_ORDER)) {
    const features = feed.layer(layer);
    // The picture over time's layers are counted only while the wall shows some (room).
    if (features.length === 0 && (layer === "displacements" || layer === "areas" || layer === "needs" || layer === "contacts")) continue;
    const by = {};
    let stale = 0;
    let exercise = 0;
    for (const f of features) {
      if (f.properties.exercise) exercise += 1;
      const s = STATUS_FIELD[layer] ? f.properties[STATUS_FIELD[layer]] : f.properties.status;
      by[s] = (by[s] || 0) + 1;
      if (f.properties.stale) stale += 1;
    }
    const head = table.insertRow();
    head.className = "count-layer";
    head.dataset.layer = layer;
    const th = document.createElement("th");
    th.textContent = t("layer." + layer);
    const total = document.createElement("td");
    total.textContent = fmtNumber(features.length);
    total.className = "count-total";
    head.append(th, total);
    const keys = [...STATUS_ORDER[layer], ...Object.keys(by).filter((k) => !STATUS_ORDER[layer].includes(k))];
    for (const k of keys) {
      if (!by[k]) continue;
      const row = table.insertRow();
      row.className = `count-status status-${k}`;
      row.insertCell().textContent = term(k);
      row.insertCell().textContent = fmtNumber(by[k]);
    }
    if (stale) {
      const row = table.insertRow();
      row.className = "count-status stale";
      row.insertCell().textContent = t("stale");
      row.insertCell().textContent = fmtNumber(stale);
    }
    exercises += exercise;
  }
  // Drill items are never mistaken for the live picture: say how many are on the map.
  const note = document.getElementById("exercise-note");
  note.hidden = exercises === 0;
  note.textContent = t("wall.exercise", { n: fmtNumber(exercises) });
}
