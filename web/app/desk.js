// The coordination desk (issue 17): the needs on a map by severity, the priorities by
// governorate and sector joined with access (the server's `GET /api/v1/needs/priorities`, as
// the policy lets the reader see it), and the directory of contact points with filters and the
// ones unconfirmed for 30 days flagged. Everything shown comes from the API with the reader's
// token: nothing is filtered for policy here.

import { api, requireSession, signOut, whoami } from "./session.js";
import { fmtDate, fmtDateTime, fmtNumber, initI18n, language, languageButton, onLanguageChange, t, term } from "./i18n.js";
import { initTheme, themeButton } from "./theme.js";
import { LiveFeed } from "./live.js";
import { createMap, ItemLayers } from "./map.js";
import { SEVERITY, STATUSES } from "./symbols.js";

/** A contact point unconfirmed for this many days is flagged (the server's rule too). */
export const CONFIRM_WITHIN_DAYS = 30;

/** Whether a contact point is due for confirmation: its last confirmation, or its creation. */
export function unconfirmed(p, now = Date.now()) {
  const since = Date.parse(p.confirmed_at || p.created_at);
  return !Number.isFinite(since) || now - since > CONFIRM_WITHIN_DAYS * 86400 * 1000;
}

const DIRECTORY_COLUMNS = ["name", "function", "org", "side", "governorate", "phone", "radio", "email", "duty_hours", "confirmed_at"];
const MAP_LAYERS = new Set(["needs", "contacts", "constraints"]);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The severity as a badge: its figure on its colour (figure and colour say the same). */
function severityBadge(s) {
  const b = el("span", `sev sev-${s || 0}`, s ? String(s) : "?");
  b.style.background = SEVERITY[s] || "#a1a1aa";
  b.title = `${t("field.severity")} ${s || "?"}`;
  return b;
}

initTheme();

if (requireSession()) {
  await initI18n();
  languageButton(document.getElementById("lang"));
  themeButton(document.getElementById("theme"));
  document.getElementById("signout").addEventListener("click", () => signOut());
  const me = await whoami();
  document.getElementById("who").textContent = `${term(me.role)} · ${me.org}`;

  const map = await createMap(document.getElementById("desk-map"), { zoomControl: true, view: { center: [34.6, 43.6], zoom: 6 } });
  const items = new ItemLayers(map, { scale: 1, onClick: (f) => focus(f.id) });

  /** The governorates, for names in the reader's language and the area filter. */
  let areas = [];
  try {
    areas = (await api("/api/v1/areas/admin?level=1")).features.map((f) => f.properties);
  } catch (e) {
    console.warn("areas:", e.message);
  }
  const areaName = (pcode) => {
    const a = areas.find((x) => x.pcode === pcode);
    if (!a) return pcode || t("desk.no_area");
    return (language() === "ar" && a.name_ar) || a.name_en;
  };

  // --- tabs ---------------------------------------------------------------------------------
  const tabs = ["priorities", "directory"];
  const showTab = (name) => {
    for (const tab of tabs) {
      document.getElementById(tab).hidden = tab !== name;
      document.getElementById(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
    }
    document.body.dataset.tab = name;
  };
  for (const tab of tabs) document.getElementById(`tab-${tab}`).addEventListener("click", () => showTab(tab));
  showTab(new URLSearchParams(location.search).get("tab") === "directory" ? "directory" : "priorities");

  // --- priorities -----------------------------------------------------------------------------
  const areaSelect = document.getElementById("prio-area");
  let priorities = null;
  const fillAreas = () => {
    const value = areaSelect.value;
    areaSelect.replaceChildren(new Option(t("desk.all_areas"), ""), ...areas.map((a) => new Option(areaName(a.pcode), a.pcode)));
    areaSelect.value = value;
  };
  areaSelect.addEventListener("change", () => loadPriorities());
  let loadTimer = null;
  async function loadPriorities() {
    clearTimeout(loadTimer);
    try {
      const q = areaSelect.value ? `?area=${encodeURIComponent(areaSelect.value)}` : "";
      priorities = await api(`/api/v1/needs/priorities${q}`);
      renderPriorities();
    } catch (e) {
      document.getElementById("prio-note").textContent = t("action.failed", { reason: e.message });
    }
  }
  const reloadSoon = () => {
    clearTimeout(loadTimer);
    loadTimer = setTimeout(loadPriorities, 700);
  };

  function constraintLabel(b) {
    const f = feed.features.get(b.id);
    const p = f ? f.properties : {};
    const what = p.restriction || p.description || term(p.kind || b.category || "") || b.id;
    return `${term(b.status)}: ${what}`;
  }

  function renderPriorities() {
    const list = document.getElementById("prio-list");
    list.replaceChildren();
    if (!priorities) return;
    document.getElementById("prio-note").textContent = t("desk.prio_note", { days: fmtNumber(priorities.days), km: fmtNumber(priorities.near_m / 1000) });
    let count = 0;
    for (const g of priorities.governorates) {
      const card = el("section", "prio-gov");
      card.dataset.pcode = g.pcode || "";
      const head = el("h3", "prio-gov-head");
      head.append(severityBadge(g.severity), " ", el("span", "prio-gov-name", areaName(g.pcode)), " ",
        el("span", "muted", t("desk.in_need", { n: fmtNumber(g.people_in_need) })));
      card.append(head);
      const table = el("table", "items prio-table");
      const hr = table.createTHead().insertRow();
      for (const k of ["severity", "sector", "people_in_need", "groups", "priority", "access", "reached"]) {
        hr.append(el("th", "", t(k === "access" ? "desk.access" : k === "reached" ? "desk.reached" : "field." + k)));
      }
      const body = table.createTBody();
      for (const s of g.sectors) {
        for (const n of s.needs) {
          count += 1;
          const p = n.properties;
          const tr = body.insertRow();
          tr.dataset.id = n.id;
          tr.className = `access-${n.access.status}`;
          const cell = (label, content) => {
            const td = tr.insertCell();
            td.dataset.label = label;
            if (content instanceof Node) td.append(content);
            else td.textContent = content ?? "";
            return td;
          };
          cell(t("field.severity"), severityBadge(p.severity));
          cell(t("field.sector"), s.sector ? term(s.sector) : t("desk.hidden"));
          cell(t("field.people_in_need"), p.people_in_need !== undefined ? fmtNumber(p.people_in_need) : "");
          cell(t("field.groups"), (p.groups || []).map(term).join(", "));
          cell(t("field.priority"), p.priority ? term(p.priority) : "");
          const access = el("div", "access");
          access.append(el("span", `access-pill access-${n.access.status}`, t("desk.access_" + n.access.status)));
          for (const b of n.access.behind) access.append(el("div", "behind", constraintLabel(b)));
          cell(t("desk.access"), access);
          const reached = n.access.movements_reached
            ? t("desk.reached_n", { n: fmtNumber(n.access.movements_reached), at: fmtDateTime(n.access.last_reached_at) })
            : t("desk.reached_none");
          cell(t("desk.reached"), reached).className = n.access.movements_reached ? "" : "poor";
        }
      }
      body.addEventListener("click", (e) => {
        const tr = e.target.closest("tr[data-id]");
        if (tr) focus(tr.dataset.id);
      });
      card.append(table);
      list.append(card);
    }
    document.getElementById("prio-empty").hidden = count > 0;
  }

  // --- directory ------------------------------------------------------------------------------
  const filters = { org: "", side: "", governorate: "", function: "", query: "" };
  const dirSelect = (id, key, values, label) => {
    const sel = document.getElementById(id);
    const value = filters[key];
    sel.replaceChildren(new Option(t("desk.any", { what: t(label) }), ""), ...values.map(([v, text]) => new Option(text, v)));
    sel.value = values.some(([v]) => v === value) ? value : "";
    sel.setAttribute("aria-label", t(label));
    sel.onchange = () => {
      filters[key] = sel.value;
      renderDirectory();
    };
  };
  document.getElementById("dir-search").addEventListener("input", (e) => {
    filters.query = e.target.value.trim().toLowerCase();
    renderDirectory();
  });

  function renderDirectory() {
    const contacts = feed.layer("contacts");
    const orgs = [...new Set(contacts.map((f) => f.properties.org))].sort();
    const govs = [...new Set(contacts.map((f) => f.properties.governorate).filter(Boolean))].sort();
    dirSelect("dir-org", "org", orgs.map((o) => [o, o]), "field.org");
    dirSelect("dir-side", "side", ["civil", "military", "coordination"].map((s) => [s, term(s)]), "field.side");
    dirSelect("dir-governorate", "governorate", govs.map((g) => [g, areaName(g)]), "field.governorate");
    dirSelect("dir-function", "function", STATUSES.contacts.map((s) => [s, term(s)]), "field.function");
    const head = document.querySelector("#dir-table thead tr");
    head.replaceChildren(...DIRECTORY_COLUMNS.map((k) => el("th", "", t("field." + k))));
    const body = document.querySelector("#dir-table tbody");
    body.replaceChildren();
    const now = Date.now();
    const rows = contacts
      .filter((f) => {
        const p = f.properties;
        return ["org", "side", "governorate", "function"].every((k) => !filters[k] || p[k] === filters[k]);
      })
      .sort((a, b) => String(a.properties.name).localeCompare(String(b.properties.name)));
    let shown = 0;
    for (const f of rows) {
      const p = f.properties;
      const cells = DIRECTORY_COLUMNS.map((k) => {
        const v = p[k];
        if (v === undefined || v === null) return "";
        if (k === "function" || k === "side") return term(v);
        if (k === "governorate") return areaName(v);
        if (k === "confirmed_at") return fmtDate(new Date(v));
        return String(v);
      });
      if (filters.query && !cells.join(" ").toLowerCase().includes(filters.query)) continue;
      shown += 1;
      const tr = body.insertRow();
      tr.dataset.id = f.id;
      const stale = unconfirmed(p, now);
      if (stale) tr.classList.add("unconfirmed");
      cells.forEach((c, i) => {
        const td = tr.insertCell();
        td.dataset.label = t("field." + DIRECTORY_COLUMNS[i]);
        const key = DIRECTORY_COLUMNS[i];
        if ((key === "phone" || key === "email") && c) {
          const a = el("a", "", c);
          a.href = key === "phone" ? `tel:${c.replace(/[^+\d]/g, "")}` : `mailto:${c}`;
          a.dir = "ltr";
          td.append(a);
        } else {
          td.textContent = c;
        }
        if (key === "radio" || key === "phone") td.dir = "ltr";
        if (key === "confirmed_at" && stale) {
          td.append(" ", el("span", "tag unconfirmed", t("desk.unconfirmed")));
        }
      });
    }
    if (!shown) {
      const td = body.insertRow().insertCell();
      td.colSpan = DIRECTORY_COLUMNS.length;
      td.className = "muted";
      td.textContent = t("board.empty");
    }
    document.getElementById("dir-count").textContent = `${fmtNumber(shown)} / ${fmtNumber(contacts.length)}`;
  }
  document.querySelector("#dir-table tbody").addEventListener("click", (e) => {
    if (e.target.closest("a")) return;
    const tr = e.target.closest("tr[data-id]");
    if (tr) focus(tr.dataset.id);
  });

  /** Brings an item into view on the map and marks its row. */
  function focus(id) {
    for (const tr of document.querySelectorAll("tr.focused")) tr.classList.remove("focused");
    for (const tr of document.querySelectorAll(`tr[data-id="${CSS.escape(id)}"]`)) tr.classList.add("focused");
    const shown = items.shown.get(id);
    if (shown) {
      const b = shown.layer.getBounds();
      if (b.isValid()) map.fitBounds(b, { maxZoom: 10, padding: [30, 30] });
    }
  }

  // --- the feed -------------------------------------------------------------------------------
  const draw = () => {
    items.sync([...feed.features.values()].filter((f) => MAP_LAYERS.has(f.properties.layer)));
    renderDirectory();
  };
  const feed = new LiveFeed({
    onChange: (changed) => {
      draw();
      // The priorities join needs, constraints and movements: any change may move them.
      reloadSoon(changed);
    },
    onStatus: () => {
      const s = feed.state();
      const pill = document.getElementById("feed-state");
      pill.textContent = t("feed." + s);
      pill.className = "feed-pill " + { live: "ok", reconnecting: "warn", stopped: "down" }[s];
      pill.dataset.state = s;
    },
  }).start();
  window.cmcopFeed = feed;
  window.cmcopDesk = { loadPriorities };
  fillAreas();
  loadPriorities();
  onLanguageChange(() => {
    document.getElementById("who").textContent = `${term(me.role)} · ${me.org}`;
    fillAreas();
    renderPriorities();
    renderDirectory();
  });
}
