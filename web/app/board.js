// The liaison board: live tables of movements, constraints and incidents, convoy alerts,
// with search, a status filter and sorting over what the server sent; a detail panel with the
// item on a small map; notify and acknowledge for the roles that may; and the notifications
// awaiting the signed-in organisation's acknowledgement.

import { api, requireSession, signOut, whoami } from "./session.js";
import { fmtDateTime, fmtNumber, initI18n, languageButton, onLanguageChange, t, term } from "./i18n.js";
import { initTheme, themeButton } from "./theme.js";
import { LiveFeed } from "./live.js";
import { alertRow, filterAlerts, mergeAlerts, NEW_MS } from "./alerts.js";
import { createMap, ItemLayers } from "./map.js";
import { Timeline } from "./timeline.js";
import { initReports } from "./reports.js";

const TIME_FIELDS = new Set([
  "created_at", "updated_at", "window_start", "window_end", "occurred_at", "valid_from", "valid_until",
  "last_verified", "expires_at", "notified_at", "notification_deadline", "position_at",
]);

/** The tables: columns (property, or a function of the properties) and the status field. */
const TABLES = {
  movements: {
    status: "status",
    statuses: ["planned", "en_route", "arrived", "aborted", "cancelled"],
    columns: [
      ["name", (p) => p.name],
      ["org", (p) => p.org],
      ["status", (p) => p.status, true],
      ["notification", (p) => notificationText(p)],
      ["window_start", (p) => p.window_start],
      ["window_end", (p) => p.window_end],
      ["vehicles", (p) => (p.vehicles ? p.vehicles.count : null)],
    ],
  },
  constraints: {
    status: "status",
    statuses: ["closed", "restricted", "open", "unknown"],
    columns: [
      ["kind", (p) => p.kind, true],
      ["status", (p) => p.status, true],
      ["category", (p) => p.category, true],
      ["restriction", (p) => p.restriction || p.description],
      ["org", (p) => p.org],
      ["updated_at", (p) => p.updated_at],
    ],
  },
  incidents: {
    status: "verification",
    statuses: ["reported", "confirmed", "refuted"],
    columns: [
      ["occurred_at", (p) => p.occurred_at],
      ["event_type", (p) => p.sub_event_type || p.event_type, true],
      ["severity", (p) => p.severity],
      ["fatalities", (p) => p.fatalities],
      ["verification", (p) => p.verification, true],
      ["description", (p) => p.description],
    ],
  },
  displacements: {
    status: "direction",
    statuses: ["displacement", "return"],
    columns: [
      ["reported_on", (p) => p.reported_on],
      ["direction", (p) => p.direction, true],
      ["individuals", (p) => p.individuals],
      ["households", (p) => p.households],
      ["shelter", (p) => p.shelter, true],
      ["origin_area", (p) => p.origin_area || p.origin_place],
      ["destination_area", (p) => p.site || p.destination_area],
      ["source", (p) => p.source],
    ],
  },
  areas: {
    status: "status",
    statuses: ["military_operations", "contested", "retaken", "safe_for_return"],
    columns: [
      ["name", (p) => p.name || p.admin_area],
      ["status", (p) => p.status, true],
      ["as_of", (p) => p.as_of],
      ["admin_area", (p) => p.admin_area],
      ["org", (p) => p.org],
      ["updated_at", (p) => p.updated_at],
    ],
  },
  needs: {
    status: "sector",
    statuses: ["food_security", "health", "wash", "shelter_nfi", "protection", "education", "logistics", "emergency_telecoms"],
    columns: [
      ["sector", (p) => p.sector, true],
      ["severity", (p) => p.severity],
      ["people_in_need", (p) => p.people_in_need],
      ["priority", (p) => p.priority, true],
      ["area", (p) => p.area],
      ["assessed_at", (p) => p.assessed_at],
      ["org", (p) => p.org],
    ],
  },
  contacts: {
    status: "function",
    statuses: ["liaison_officer", "duty_desk", "access_negotiation", "security", "logistics", "cluster_coordination", "other"],
    columns: [
      ["name", (p) => p.name],
      ["function", (p) => p.function, true],
      ["org", (p) => p.org],
      ["side", (p) => p.side, true],
      ["governorate", (p) => p.governorate],
      ["radio", (p) => p.radio],
      ["confirmed_at", (p) => p.confirmed_at],
    ],
  },
};

/** The signed-in user ({role, org, name}), set once the session is known. */
let ME = { role: "", org: "" };
/** Roles that acknowledge notifications (the server's gate decides; this only words the board). */
const ACKNOWLEDGERS = new Set(["military_liaison"]);

/** Who acknowledged a movement's notification, by organisation, and whether it awaits ours. */
function ackState(p) {
  const by = Array.isArray(p.acknowledged_by) ? p.acknowledged_by : [];
  const notified = p.notification && p.notification !== "draft";
  const awaitsMe = Boolean(notified && ACKNOWLEDGERS.has(ME.role) && !by.includes(ME.org));
  const start = Date.parse(p.window_start);
  // A departure already past while the notification still waits: flagged, never silent.
  // En route counts too: a convoy that left unacknowledged matters more, not less.
  const departed = Boolean(
    notified && start < Date.now() && (awaitsMe || by.length === 0) && (!p.status || p.status === "planned" || p.status === "en_route"),
  );
  return { by, notified, awaitsMe, departed };
}

/**
 * The notification cell: "acknowledged" never stands alone; it says by whom, and a row still
 * waiting for the reader's organisation says so (as the "awaiting" list does).
 */
function notificationText(p) {
  if (!p.notification) return "";
  const { by, notified, awaitsMe } = ackState(p);
  if (!notified) return term(p.notification);
  const parts = [by.length ? t("board.ack_by", { orgs: by.join(", ") }) : t("board.ack_none")];
  if (awaitsMe) parts.push(t("board.ack_awaits_yours", { org: ME.org }));
  return parts.join(" · ");
}

function show(key, value, isTerm) {
  if (value === null || value === undefined || value === "") return "";
  if (isTerm) return term(value);
  if (TIME_FIELDS.has(key)) return fmtDateTime(value);
  if (typeof value === "number") return fmtNumber(value);
  return String(value);
}

/**
 * A GeoJSON position ([lon, lat]) as people read it: latitude first, and said so (it was
 * printed longitude first).
 */
function latLon(p) {
  if (!Array.isArray(p) || p.length < 2) return "";
  const n = (c) => fmtNumber(c, { maximumFractionDigits: 4 });
  return t("map.latlon", { lat: n(p[1]), lon: n(p[0]) });
}

/** A property's value in the detail panel, readable in the language. */
function detailValue(key, v) {
  if (typeof v === "boolean") return t(v ? "value.yes" : "value.no");
  if (key === "vehicles" && typeof v === "object") {
    return [v.count !== undefined ? fmtNumber(v.count) : "", (v.plates || []).join(", "), v.markings || ""].filter(Boolean).join(" · ");
  }
  if (key === "waypoints" && Array.isArray(v)) return v.map((w) => w.name || latLon(w.position)).join(" → ");
  if (key === "position" && Array.isArray(v)) return latLon(v);
  if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ");
  if (typeof v === "object") return JSON.stringify(v);
  return show(key, v, typeof v === "string" && /^[a-z_]+$/.test(v) && key !== "org");
}

class Table {
  constructor(layer, spec, onSelect) {
    this.layer = layer;
    this.spec = spec;
    this.onSelect = onSelect;
    this.sort = { key: spec.columns[0][0], dir: layer === "movements" ? 1 : -1 };
    this.query = "";
    this.status = "";
    this.features = [];
    this.selected = null;
    /** The feature object last shown per id, and when each changed (live, after the first picture). */
    this.seen = null;
    this.changedAt = new Map();
    const sec = document.createElement("section");
    sec.className = "board-section";
    sec.id = "section-" + layer;
    sec.innerHTML = `<div class="section-head"><h2></h2><span class="count"></span>
      <input type="search" class="search"><select class="status-filter"></select></div>
      <table class="items" id="table-${layer}"><thead><tr></tr></thead><tbody></tbody></table>`;
    this.el = sec;
    sec.querySelector(".search").addEventListener("input", (e) => {
      this.query = e.target.value.trim().toLowerCase();
      this.render();
    });
    sec.querySelector(".status-filter").addEventListener("change", (e) => {
      this.status = e.target.value;
      this.render();
    });
    sec.querySelector("tbody").addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-id]");
      if (tr) this.onSelect(tr.dataset.id);
    });
  }

  labels() {
    const sec = this.el;
    sec.querySelector("h2").textContent = t("layer." + this.layer);
    sec.querySelector(".search").placeholder = t("board.search");
    sec.querySelector(".search").setAttribute("aria-label", `${t("board.search")} (${t("layer." + this.layer)})`);
    const sel = sec.querySelector(".status-filter");
    sel.setAttribute("aria-label", `${t("board.status_filter")} (${t("layer." + this.layer)})`);
    sel.replaceChildren(new Option(t("board.all_statuses"), ""), ...this.spec.statuses.map((s) => new Option(term(s), s)));
    sel.value = this.status;
    const tr = sec.querySelector("thead tr");
    tr.replaceChildren();
    for (const [key] of this.spec.columns) {
      const th = document.createElement("th");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "sort";
      b.dataset.key = key;
      b.textContent = t("field." + key) + (this.sort.key === key ? (this.sort.dir > 0 ? " ▲" : " ▼") : "");
      b.addEventListener("click", () => {
        this.sort = { key, dir: this.sort.key === key ? -this.sort.dir : 1 };
        this.labels();
        this.render();
      });
      th.append(b);
      tr.append(th);
    }
    this.render();
  }

  update(features) {
    // The feed replaces a feature's object when it changes: a new object is a change.
    const now = Date.now();
    const first = this.seen === null;
    const seen = new Map();
    for (const f of features) {
      seen.set(f.id, f);
      if (!first && this.seen.get(f.id) !== f) this.changedAt.set(f.id, now);
    }
    this.seen = seen;
    for (const [id, at] of this.changedAt) if (now - at > NEW_MS || !seen.has(id)) this.changedAt.delete(id);
    this.features = features;
    this.render();
  }

  render() {
    const cols = this.spec.columns;
    const rows = [];
    for (const f of this.features) {
      const p = f.properties;
      if (this.status && p[this.spec.status] !== this.status) continue;
      const cells = cols.map(([key, get, isTerm]) => show(key, get(p), isTerm));
      if (this.query && !cells.join(" ").toLowerCase().includes(this.query)) continue;
      rows.push({ f, cells });
    }
    const idx = cols.findIndex(([k]) => k === this.sort.key);
    const get = cols[idx][1];
    const dir = this.sort.dir;
    rows.sort((a, b) => {
      const x = get(a.f.properties);
      const y = get(b.f.properties);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
    });
    const body = this.el.querySelector("tbody");
    body.replaceChildren();
    for (const { f, cells } of rows) {
      const tr = body.insertRow();
      tr.dataset.id = f.id;
      const st = f.properties[this.spec.status];
      tr.className = `status-${st}` + (f.properties.stale ? " stale" : "") + (f.id === this.selected ? " selected" : "");
      const ack = this.layer === "movements" ? ackState(f.properties) : null;
      if (ack && ack.awaitsMe) tr.classList.add("awaits-me");
      const fresh = this.changedAt.has(f.id) && Date.now() - this.changedAt.get(f.id) < NEW_MS;
      if (fresh) tr.classList.add("just-changed");
      cells.forEach((c, i) => {
        const td = tr.insertCell();
        td.textContent = c;
        // The column's name, shown before the value when rows become cards (phone size).
        td.dataset.label = t("field." + cols[i][0]);
        if (cols[i][0] === this.spec.status) td.className = "status-cell";
        if (cols[i][0] === "notification") td.className = "notification-cell";
        if (ack && ack.departed && cols[i][0] === "window_start") td.append(" ", departedTag());
        if (i === 0 && fresh) {
          const tag = document.createElement("span");
          tag.className = "tag new";
          tag.textContent = t("tag.new");
          td.prepend(tag, " ");
        }
        if (i === 0 && f.properties.exercise) {
          const tag = document.createElement("span");
          tag.className = "tag exercise";
          tag.textContent = t("tag.exercise");
          td.prepend(tag, " ");
        }
      });
    }
    if (!rows.length) {
      const td = body.insertRow().insertCell();
      td.colSpan = cols.length;
      td.className = "muted";
      td.textContent = t("board.empty");
    }
    this.el.querySelector(".count").textContent = `${fmtNumber(rows.length)} / ${fmtNumber(this.features.length)}`;
  }
}

/** The "departure passed" flag of a movement still waiting for acknowledgement. */
function departedTag() {
  const tag = document.createElement("span");
  tag.className = "tag departed";
  tag.textContent = t("board.departed");
  return tag;
}

initTheme();

if (requireSession()) {
  await initI18n();
  languageButton(document.getElementById("lang"));
  themeButton(document.getElementById("theme"));
  document.getElementById("signout").addEventListener("click", () => signOut());
  const me = await whoami();
  ME = me;
  const whoEl = document.getElementById("who");
  const showWho = () => (whoEl.textContent = `${term(me.role)} · ${me.org}`);
  showWho();
  const reportsPanel = initReports(document.getElementById("section-reports"));
  onLanguageChange(() => reportsPanel.render());

  let selected = null;
  const tables = {};
  const holder = document.getElementById("tables");
  for (const [layer, spec] of Object.entries(TABLES)) {
    tables[layer] = new Table(layer, spec, (id) => select(id));
    holder.append(tables[layer].el);
    tables[layer].labels();
  }

  const detailMap = await createMap(document.getElementById("detail-map"), { zoomControl: true });
  const detailItems = new ItemLayers(detailMap, { scale: 1 });

  const canAwait = me.role === "military_liaison" || me.role === "coordinator";
  // A coordinator's organisation acknowledges nothing: its list is every notified movement
  // with who has acknowledged it so far, and the heading says so (not "your organisation").
  if (me.role === "coordinator") {
    const heading = document.querySelector("#awaiting-section h2");
    heading.dataset.i18n = "board.awaiting_all";
    heading.textContent = t("board.awaiting_all");
  }
  let awaitingTimer = null;
  const refreshAwaiting = () => {
    document.getElementById("awaiting-section").classList.toggle("past-hidden", timeline.active());
    if (!canAwait) return;
    clearTimeout(awaitingTimer);
    awaitingTimer = setTimeout(async () => {
      try {
        const fc = await api("/api/v1/movements?awaiting=acknowledgement");
        renderAwaiting(fc.features || []);
      } catch (e) {
        console.warn("awaiting:", e.message);
      }
    }, 200);
  };
  const renderAwaiting = (features) => {
    document.getElementById("awaiting-section").hidden = false;
    const ul = document.getElementById("awaiting");
    ul.replaceChildren();
    for (const f of features) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = `${f.properties.name || f.id} · ${f.properties.org} · ${fmtDateTime(f.properties.window_start)}`;
      b.addEventListener("click", () => select(f.id));
      li.dataset.id = f.id;
      li.append(b);
      // The list and the row agree: the list says who has acknowledged already.
      const by = Array.isArray(f.properties.acknowledged_by) ? f.properties.acknowledged_by : [];
      if (by.length) {
        const note = document.createElement("span");
        note.className = "muted";
        note.textContent = " · " + t("board.ack_by", { orgs: by.join(", ") });
        li.append(note);
      }
      if (ackState(f.properties).departed) li.append(" ", departedTag());
      ul.append(li);
    }
    document.getElementById("awaiting-empty").hidden = features.length > 0;
  };

  // What the board shows: the live feed, or the time slider's past moment while it shows one
  // (then nothing can be acted on: notify, acknowledge and the to-do list are live only).
  const shown = () => (timeline.active() ? timeline : feed);
  const draw = () => {
    for (const [layer, table] of Object.entries(tables)) table.update(shown().layer(layer));
    renderAlerts();
    renderDetail();
    refreshAwaiting();
  };
  const timeline = new Timeline(document.getElementById("timeline"), {
    onShow: () => {
      // The "new" cues are about live changes: a jump in time is not one.
      for (const table of Object.values(tables)) table.seen = null;
      draw();
    },
  });
  window.cmcopTimeline = timeline;
  const feed = new LiveFeed({
    onChange: () => {
      if (timeline.active()) return;
      draw();
    },
    onStatus: () => renderFeedState(),
  }).start();
  window.cmcopFeed = feed;
  // Alerts logged before this page opened (the most recent, any state); live ones follow.
  api("/api/v1/alerts?state=recent")
    .then((r) => {
      mergeAlerts(feed, r.alerts);
      renderAlerts();
    })
    .catch((e) => console.warn("alerts:", e.message));

  /** The alerts panel at the top: active or ended, newest first; a row opens its movement. */
  const alertsFilter = document.getElementById("alerts-filter");
  alertsFilter.addEventListener("change", () => renderAlerts());
  function renderAlerts() {
    const source = shown();
    const listed = filterAlerts(source.alerts, alertsFilter.value);
    const ul = document.getElementById("alerts-list");
    ul.replaceChildren(...listed.map((a) => alertRow(a, { onOpen: (id) => select(id) })));
    document.getElementById("alerts-empty").hidden = listed.length > 0;
    document.getElementById("alerts-count").textContent = `${fmtNumber(listed.length)} / ${fmtNumber(source.alerts.length)}`;
  }
  // The "new" cues fade: redraw now and then even when nothing changes.
  setInterval(() => {
    renderAlerts();
    for (const table of Object.values(tables)) if (table.changedAt.size) table.render();
  }, 10000);

  function renderFeedState() {
    const el = document.getElementById("feed-state");
    const state = feed.state();
    el.textContent = t("feed." + state);
    el.className = "feed-pill " + { live: "ok", reconnecting: "warn", stopped: "down" }[state];
    el.dataset.state = state;
  }

  function select(id) {
    selected = id;
    confirmFor = null;
    for (const table of Object.values(tables)) {
      table.selected = id;
      table.render();
    }
    document.getElementById("action-result").textContent = "";
    delete document.getElementById("action-result").dataset.key;
    renderDetail(true);
    // On a phone the detail is below the tables: bring it into view.
    if (matchMedia("(max-width: 760px)").matches) document.getElementById("detail").scrollIntoView({ block: "start" });
  }

  function renderDetail(fit = false) {
    const f = selected && shown().features.get(selected);
    document.getElementById("detail-empty").hidden = Boolean(f);
    document.getElementById("detail-body").hidden = !f;
    detailItems.sync(f ? [f] : []);
    if (!f) return;
    const p = f.properties;
    if (fit) {
      const bounds = detailItems.group.getBounds();
      if (bounds.isValid()) detailMap.fitBounds(bounds, { maxZoom: 11, padding: [20, 20] });
    }
    document.getElementById("detail-title").textContent =
      p.name || `${t("layer." + p.layer)} · ${term(p.kind || p.sub_event_type || p.event_type || "")}`;
    const dl = document.getElementById("detail-props");
    dl.replaceChildren();
    for (const [k, v] of Object.entries(p)) {
      if (v === null || v === undefined) continue;
      const dt = document.createElement("dt");
      dt.textContent = t("field." + k) === "field." + k ? k : t("field." + k);
      const dd = document.createElement("dd");
      // The detail says what the row says: who acknowledged, and whether we still have to.
      dd.textContent = k === "notification" ? notificationText(p) : detailValue(k, v);
      // A movement's contact that names a contact point the reader may see links to it.
      const linked = k === "contact" && typeof v === "string" && shown().features.get(v);
      if (linked && linked.properties.layer === "contacts") {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link contact-link";
        b.textContent = t("board.contact_link", { name: linked.properties.name || v });
        b.addEventListener("click", () => select(v));
        dd.replaceChildren(b);
      }
      dl.append(dt, dd);
    }
    // A movement links to its organisation's contact points the reader may see (the feed holds
    // them as the policy shows them).
    if (p.layer === "movements") {
      const points = shown().layer("contacts").filter((c) => c.properties.org === p.org);
      if (points.length) {
        const dt = document.createElement("dt");
        dt.textContent = t("board.org_contacts", { org: p.org });
        const dd = document.createElement("dd");
        dd.className = "org-contacts";
        for (const c of points) {
          const b = document.createElement("button");
          b.type = "button";
          b.className = "link contact-link";
          b.textContent = t("board.contact_link", { name: c.properties.name || c.id });
          b.addEventListener("click", () => select(c.id));
          dd.append(b, " ");
        }
        dl.append(dt, dd);
      }
    }
    const isMovement = p.layer === "movements";
    const civil = me.role === "civil_liaison" || me.role === "convoy_planner";
    const mayNotify = isMovement && p.notification === "draft" && (me.role === "coordinator" || (civil && p.org === me.org));
    const mayAck =
      isMovement && me.role === "military_liaison" && p.notification && p.notification !== "draft" &&
      !(p.acknowledged_by || []).includes(me.org);
    // The past is for reading: no action on it.
    const live = !timeline.active();
    document.getElementById("notify").hidden = !mayNotify || !live;
    const confirming = mayAck && live && confirmFor === selected;
    document.getElementById("acknowledge").hidden = !mayAck || !live || confirming;
    document.getElementById("ack-note").hidden = !mayAck || !live;
    document.getElementById("ack-confirm").hidden = !confirming;
    if (confirming) {
      document.getElementById("ack-confirm-text").textContent = t("action.ack_confirm", { name: p.name || f.id, org: me.org });
    }
  }

  /** The movement whose acknowledgement waits for a second click ("Confirm"), or null. */
  let confirmFor = null;

  async function act(kind) {
    const out = document.getElementById("action-result");
    try {
      await api(`/api/v1/movements/${encodeURIComponent(selected)}/${kind}`, { method: "POST" });
      // Kept as a key so a language switch rewords it ("Receipt acknowledged." stayed English).
      out.dataset.key = kind === "notify" ? "action.notified" : "action.acknowledged";
      out.textContent = t(out.dataset.key);
      out.className = "ok";
    } catch (e) {
      delete out.dataset.key;
      out.textContent = t("action.failed", { reason: e.message });
      out.className = "error";
    }
    refreshAwaiting();
  }
  document.getElementById("notify").addEventListener("click", () => act("notify"));
  // Acknowledging asks first: one stray click must not tell a convoy its notice was received.
  document.getElementById("acknowledge").addEventListener("click", () => {
    confirmFor = selected;
    renderDetail();
    document.getElementById("acknowledge-confirm").focus();
  });
  document.getElementById("acknowledge-confirm").addEventListener("click", () => {
    if (confirmFor !== selected) return;
    confirmFor = null;
    act("acknowledge");
    renderDetail();
  });
  document.getElementById("acknowledge-cancel").addEventListener("click", () => {
    confirmFor = null;
    renderDetail();
  });

  onLanguageChange(() => {
    showWho();
    const result = document.getElementById("action-result");
    if (result.dataset.key) result.textContent = t(result.dataset.key);
    refreshAwaiting();
    for (const table of Object.values(tables)) table.labels();
    renderDetail();
    renderAlerts();
    renderFeedState();
  });
  setInterval(renderFeedState, 1000);
  refreshAwaiting();
}
