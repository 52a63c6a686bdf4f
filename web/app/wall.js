// The wall display: the whole picture the role may see on a full-screen map, counts per layer
// and status, clocks, the age of the last update and a loud warning when the feed stops. Nothing
// to click: it reconnects and resumes by itself, and rotates between saved views when the URL
// asks (`?views=mosul,baghdad&every=60`).

import { requireSession } from "./session.js";
import { fmtAge, fmtClock, fmtDate, fmtNumber, initI18n, onLanguageChange, t, term } from "./i18n.js";
import { LiveFeed } from "./live.js";
import { alertRow, filterAlerts, mergeAlerts } from "./alerts.js";
import { api } from "./session.js";
import { createMap, hiddenFromUrl, ItemLayers, perFrame, renderLegend } from "./map.js";
import { VIEWS, viewBounds, viewsFromUrl } from "./views.js";
import { initTheme } from "./theme.js";
import { Timeline } from "./timeline.js";

/** The coordination desk's layers, off the wall unless asked for (declared before the page's
 * top-level code runs). */
const DESK_LAYERS = ["needs", "contacts"];

initTheme();

// Placing labels measures them (a forced layout): once per frame, however often it is asked.
const keepLabelsClear = perFrame(placeLabels);

if (requireSession()) {
  await initI18n();
  const rotation = viewsFromUrl();
  const first = VIEWS[rotation.names[0]] || VIEWS.iraq;
  // Fractions of a zoom level: a view fills the room the panels leave it, at 1080p as at 4K.
  const map = await createMap(document.getElementById("map"), { zoomControl: false, cursor: false, view: first, zoomSnap: 0.1 });
  // `?hide=incidents,constraints:open` hides layers or statuses (a wall has no one to click).
  // The coordination desk's layers (needs, contact points) are the desk's: a wall shows them
  // when its URL asks (`?show=needs,contacts`).
  const hidden = hiddenFromUrl();
  const show = new Set((new URLSearchParams(location.search).get("show") || "").split(","));
  for (const layer of DESK_LAYERS) if (!show.has(layer)) hidden.add(layer);
  const items = new ItemLayers(map, { scale: 1.5, labels: true, hidden });
  let fitted = rotation.names.length > 0;
  let legendKey = null;
  // What the wall draws: the live feed, or the time slider's past moment while it shows one.
  const shown = () => (timeline.active() ? timeline : feed);
  const draw = () => {
    items.sync(shown().features.values());
    syncLegend();
    renderCounts(shown(), items.hidden);
    renderAlerts(shown());
  };
  const timeline = new Timeline(document.getElementById("timeline"), {
    onShow: () => {
      draw();
      keepLabelsClear();
      renderStatus(feed, timeline.active());
    },
  });
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
      keepLabelsClear();
    },
    onStatus: () => renderStatus(feed, timeline.active()),
  }).start();
  window.cmcopFeed = feed;
  window.cmcopMap = map;
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
    for (const f of shown().features.values()) if (!items.hidden.has(f.properties.layer)) present.add(f.properties.layer);
    const key = ["displacements", "areas", ...DESK_LAYERS].filter((l) => present.has(l)).join(",");
    if (!force && key === legendKey) return;
    legendKey = key;
    renderLegend(document.getElementById("legend"), { present });
  }
  syncLegend(true);
  onLanguageChange(() => {
    syncLegend(true);
    renderCounts(shown());
    renderAlerts(shown());
    renderStatus(feed, timeline.active());
  });

  let viewIndex = 0;
  const showView = (animate = true) => {
    const name = rotation.names[viewIndex % rotation.names.length];
    document.getElementById("view-name").textContent = name ? t("wall.view", { name: t("view." + name) }) : "";
    if (!name) return;
    const bounds = viewBounds(VIEWS[name]);
    const options = { ...clearOfPanels(), maxZoom: 15 };
    if (animate) map.flyToBounds(bounds, { ...options, duration: 2 });
    else map.fitBounds(bounds, { ...options, animate: false });
  };
  if (rotation.names.length) showView(false);

  // The map's own corners are the panels': the scale bar and the attribution go to the corners
  // of the room the panels leave, and item labels turn away from a panel they would run under.
  const layout = () => {
    placeMapControls();
    keepLabelsClear();
  };
  layout();
  map.on("zoomend moveend", keepLabelsClear);
  const panels = new ResizeObserver(layout);
  for (const el of overlays()) panels.observe(el);
  // A new screen size: the same view again, fitted to the new room.
  let resizing = null;
  addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      if (rotation.names.length) showView(false);
      else fitPicture(map, items);
      layout();
    }, 200);
  });
  if (rotation.names.length > 1) {
    setInterval(() => {
      viewIndex += 1;
      showView();
    }, rotation.every * 1000);
  }

  setInterval(() => {
    renderClocks();
    renderStatus(feed, timeline.active());
  }, 1000);
  // Incidents fade with age: restyle now and then even when nothing changes.
  setInterval(() => items.sync(shown().features.values()), 60000);
  renderClocks();
}

function fitPicture(map, items) {
  const bounds = items.group.getBounds();
  if (!bounds.isValid()) return;
  map.fitBounds(bounds, { ...clearOfPanels(), maxZoom: 10, animate: false });
}

/** What covers the map all the time: the top bar, the side panel and the time bar. */
function overlays() {
  return [".wall-top", ".wall-side", "#timeline"].map((s) => document.querySelector(s)).filter(Boolean);
}

/**
 * The largest rectangle of the screen no panel covers ({left, top, right, bottom} in px): beside
 * the side panel and between the top and time bars on a large screen, between the time bar and
 * the panel at the bottom on a phone. Each side is the screen's edge or a panel's edge.
 */
function freeArea() {
  const W = innerWidth;
  const H = innerHeight;
  const rects = overlays()
    .map((el) => el.getBoundingClientRect())
    .filter((r) => r.width > 0 && r.height > 0);
  const lefts = [0, ...rects.map((r) => r.right)];
  const rights = [W, ...rects.map((r) => r.left)];
  const tops = [0, ...rects.map((r) => r.bottom)];
  const bottoms = [H, ...rects.map((r) => r.top)];
  let best = { left: 0, top: 0, right: W, bottom: H };
  let bestArea = -1;
  for (const left of lefts) {
    for (const right of rights) {
      if (right <= left) continue;
      for (const top of tops) {
        for (const bottom of bottoms) {
          if (bottom <= top) continue;
          const area = (right - left) * (bottom - top);
          if (area <= bestArea) continue;
          const covered = rects.some((r) => r.left < right - 1 && r.right > left + 1 && r.top < bottom - 1 && r.bottom > top + 1);
          if (!covered) {
            best = { left, top, right, bottom };
            bestArea = area;
          }
        }
      }
    }
  }
  return best;
}

/** Leaflet's padding that keeps a fitted view inside the free area, with a margin around it. */
function clearOfPanels() {
  const f = freeArea();
  const m = Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 1.2);
  return {
    paddingTopLeft: [f.left + m, f.top + m],
    paddingBottomRight: [innerWidth - f.right + m, innerHeight - f.bottom + m],
  };
}

/** The scale bar at the free area's top corner on the reading side, the attribution at its bottom end. */
function placeMapControls() {
  const f = freeArea();
  const rtl = document.documentElement.dir === "rtl";
  const m = Math.round(parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.5);
  const scale = document.querySelector("#map .leaflet-control-scale");
  if (scale) {
    scale.style.insetBlockStart = `${f.top + m}px`;
    scale.style.insetInlineStart = `${(rtl ? innerWidth - f.right : f.left) + m}px`;
  }
  const attribution = document.querySelector("#map .leaflet-control-attribution");
  if (attribution) {
    attribution.style.insetBlockEnd = `${innerHeight - f.bottom + m / 2}px`;
    attribution.style.insetInlineEnd = `${(rtl ? f.left : innerWidth - f.right) + m / 2}px`;
  }
}

/**
 * Item labels stand after their symbol (to the right in English, to the left in Arabic); one
 * that would run under a panel, off the screen or over other items' symbols stands on the other
 * side when it is clearer there.
 */
function placeLabels() {
  const panels = overlays().map((el) => el.getBoundingClientRect());
  const symbols = [...document.querySelectorAll("#map .item-icon")].map((el) => el.getBoundingClientRect());
  const overlap = (a, b) => Math.max(0, Math.min(a.right, b.right) - Math.max(a.left, b.left)) * Math.max(0, Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top));
  const cost = (r) => {
    if (r.left < 0 || r.right > innerWidth || panels.some((o) => overlap(r, o) > 0)) return Infinity;
    return symbols.reduce((sum, o) => sum + overlap(r, o), 0);
  };
  for (const label of document.querySelectorAll("#map .item-label")) {
    const span = label.firstElementChild;
    if (!span) continue;
    label.classList.remove("flip");
    const here = cost(span.getBoundingClientRect());
    if (here === 0) continue;
    label.classList.add("flip");
    if (cost(span.getBoundingClientRect()) >= here) label.classList.remove("flip");
  }
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

/** The feed's state in the side panel; `past` while the time slider shows a past moment. */
function renderStatus(feed, past = false) {
  const now = Date.now();
  const last = document.getElementById("last-update");
  // Relative and absolute, with its zone: "12 s ago · 08:06:35 UTC".
  last.textContent = feed.lastChangeAt
    ? `${t("age.ago", { age: fmtAge((now - feed.lastChangeAt) / 1000) })} · ${fmtClock(new Date(feed.lastChangeAt), "UTC")} UTC`
    : "—";
  // One state for the panel and the banner, so they never disagree ("Live" only when live):
  // while the slider shows a past moment the panel says so, as the NOT LIVE banner does.
  const state = feed.state(now);
  const said = past && state === "live" ? "past" : state;
  const conn = document.getElementById("connection");
  conn.textContent = t("feed." + said);
  conn.className = "connection " + (said === "live" ? "ok" : "down");
  conn.dataset.state = said;
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

function renderCounts(feed, hidden = new Set()) {
  const table = document.getElementById("counts");
  table.replaceChildren();
  let exercises = 0;
  for (const layer of Object.keys(STATUS_ORDER)) {
    const features = feed.layer(layer);
    // The picture over time's layers are counted only while the wall shows some (room).
    if (hidden.has(layer) && DESK_LAYERS.includes(layer)) continue;
    if (features.length === 0 && (layer === "displacements" || layer === "areas" || DESK_LAYERS.includes(layer))) continue;
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
