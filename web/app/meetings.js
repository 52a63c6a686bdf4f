// Coordination meetings (issue 17.2): the meetings the signed-in organisation takes part in; for
// one meeting its agenda (drafted from the picture and edited by the chair), decisions, action
// items with owner, due time and status (overdue flagged), actions carried over from earlier
// meetings of the series, and its minutes. Plain client of /api/v1/meetings: the server decides
// what this reader sees and may do (`may_chair`), and refuses what it may not.

import { api, ApiFailure, requireSession, signOut, token, whoami } from "./session.js";
import { fmtDateTime, fmtNumber, initI18n, language, languageButton, onLanguageChange, t, term } from "./i18n.js";
import { initTheme, themeButton } from "./theme.js";

const $ = (id) => document.getElementById(id);
let ME = null;
let meetings = [];
let current = null;
let editing = null;
let lastWindow = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function say(target, text, bad) {
  target.textContent = text;
  target.className = bad ? "error" : "ok";
}

function failure(e) {
  return t("action.failed", { reason: e instanceof ApiFailure ? e.message : String(e) });
}

/** A `datetime-local` value (the reader's zone) as RFC 3339 UTC. */
function fromLocal(v) {
  return new Date(v).toISOString();
}

function localNow(hours = 0) {
  const d = new Date(Date.now() + hours * 3600e3);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
}

/** The meeting the address names (`/meetings#ID`, as an overdue alert links to it). */
function named() {
  const id = decodeURIComponent(location.hash.slice(1));
  return meetings.some((m) => m.id === id) ? id : null;
}

async function loadList(select) {
  const data = await api("/api/v1/meetings");
  meetings = data.meetings;
  renderList();
  const want = select || (current && current.id) || named() || (meetings[0] && meetings[0].id);
  if (want) await open(want);
}

function renderList() {
  const ul = $("meetings-list");
  ul.replaceChildren();
  $("meetings-count").textContent = meetings.length ? fmtNumber(meetings.length) : "";
  $("meetings-empty").hidden = meetings.length > 0;
  for (const m of meetings) {
    const overdue = m.overdue_actions > 0
      ? el("span", { class: "badge bad" }, t("meetings.overdue_count", { n: fmtNumber(m.overdue_actions) }))
      : null;
    const li = el(
      "li",
      { dataset: { id: m.id }, class: current && current.id === m.id ? "selected" : "" },
      el(
        "button",
        { type: "button", class: "link meeting-link", onclick: () => open(m.id) },
        el("strong", {}, m.title),
        el("span", { class: "muted" }, `${t("meetings.kind." + m.kind)} · ${fmtDateTime(m.starts_at)}`),
      ),
      overdue,
    );
    ul.append(li);
  }
}

async function open(id) {
  current = await api(`/api/v1/meetings/${encodeURIComponent(id)}`);
  editing = null;
  for (const li of $("meetings-list").children) li.classList.toggle("selected", li.dataset.id === id);
  renderMeeting();
}

function renderMeeting() {
  const m = current;
  $("detail-empty").hidden = !!m;
  $("detail-body").hidden = !m;
  if (!m) return;
  $("detail").dataset.id = m.id;
  $("m-title").textContent = m.title;
  $("m-kind").textContent = t("meetings.kind." + m.kind);
  $("m-kind").className = "badge " + (m.kind === "emergency" ? "bad" : "");
  $("m-starts").textContent = fmtDateTime(m.starts_at);
  $("m-chair").textContent = `${m.org} (${m.chair})`;
  $("m-participants").textContent = m.participants.join(", ");
  for (const e of document.querySelectorAll(".chair-only")) e.hidden = !m.may_chair;
  $("agenda-save").hidden = $("agenda-cancel").hidden = !(m.may_chair && editing);
  $("agenda-edit").hidden = !m.may_chair || !!editing;
  $("agenda-draft").hidden = !m.may_chair || !!editing;
  $("agenda-add").hidden = !(m.may_chair && editing);
  $("agenda-window").textContent = lastWindow && lastWindow.id === m.id
    ? t("meetings.window", { from: fmtDateTime(lastWindow.from), to: fmtDateTime(lastWindow.to) })
    : m.drafted_at ? t("meetings.drafted_at", { at: fmtDateTime(m.drafted_at) }) : "";
  renderAgenda();
  const decisions = $("decisions");
  decisions.replaceChildren(...m.decisions.map((d) => el("li", { dataset: { id: d.id } }, d.text, el("span", { class: "muted" }, ` · ${fmtDateTime(d.at)}`))));
  $("decisions-empty").hidden = m.decisions.length > 0;
  renderActions($("actions"), m.actions, $("actions-empty"));
  renderActions($("carried"), m.carried, $("carried-empty"));
  renderContacts(m.contacts || []);
  const open = m.actions.filter((a) => a.status === "open").length;
  $("actions-count").textContent = m.actions.length ? t("meetings.open_of", { open: fmtNumber(open), all: fmtNumber(m.actions.length) }) : "";
  const owner = $("action-owner");
  owner.replaceChildren(...[m.org, ...m.participants.filter((p) => p !== m.org)].map((o) => el("option", { value: o }, o)));
  if (!$("action-due").value) $("action-due").value = localNow(72);
}

/** An agenda item's words in the reader's language: the chair's text, else kind and subject. */
function agendaWords(a) {
  const label = t("meetings.agenda_kind." + a.kind);
  if (a.edited || !a.subject) return [label, a.text];
  return [label, a.subject];
}

function renderAgenda() {
  const ol = $("agenda");
  const items = editing || current.agenda;
  ol.replaceChildren();
  $("agenda-empty").hidden = items.length > 0;
  items.forEach((a, i) => {
    const [label, words] = agendaWords(a);
    const li = el("li", { dataset: { kind: a.kind, ref: a.ref || "" } }, el("span", { class: "tag" }, label));
    if (editing) {
      const input = el("input", { class: "agenda-text", value: a.edited ? a.text : "", placeholder: words, "aria-label": label });
      input.addEventListener("input", () => {
        a.text = input.value;
        a.edited = input.value.trim() !== "";
      });
      const move = (d) => {
        const j = i + d;
        if (j < 0 || j >= editing.length) return;
        [editing[i], editing[j]] = [editing[j], editing[i]];
        renderAgenda();
      };
      li.append(
        input,
        el("span", { class: "row-tools" },
          el("button", { type: "button", class: "secondary small", "aria-label": t("meetings.up"), title: t("meetings.up"), onclick: () => move(-1) }, "↑"),
          el("button", { type: "button", class: "secondary small", "aria-label": t("meetings.down"), title: t("meetings.down"), onclick: () => move(1) }, "↓"),
          el("button", { type: "button", class: "secondary small", "aria-label": t("meetings.remove"), title: t("meetings.remove"), onclick: () => { editing.splice(i, 1); renderAgenda(); } }, "✕"),
        ),
      );
    } else {
      li.append(" ", el("bdi", {}, words));
      if (a.kind !== "other" && a.kind !== "action_open" && a.ref) li.append(" ", el("bdi", { class: "ref muted", dir: "ltr" }, a.ref));
    }
    ol.append(li);
  });
}

function renderActions(table, list, empty) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  table.hidden = list.length === 0;
  empty.hidden = list.length > 0;
  for (const a of list) {
    const status = a.overdue && a.status === "open"
      ? el("span", { class: "badge bad overdue" }, `${term(a.status)} · ${t("meetings.overdue")}`)
      : el("span", { class: a.status === "done" ? "badge ok" : a.status === "cancelled" ? "badge muted" : "badge" }, term(a.status));
    const mayReport = current.may_chair || (ME.org === a.owner_org && a.status !== "cancelled");
    const toggle = mayReport
      ? el("button", { type: "button", class: "secondary small", onclick: () => setStatus(a, a.status === "open" ? "done" : "open") },
        t(a.status === "open" ? "meetings.mark_done" : "meetings.reopen"))
      : null;
    // Cancelling an action is the chair's (its owner reports it done).
    const cancel = current.may_chair && a.status === "open"
      ? el("button", { type: "button", class: "secondary small cancel-action", onclick: () => setStatus(a, "cancelled") }, t("meetings.cancel"))
      : null;
    body.append(el("tr", { dataset: { id: a.id }, class: a.overdue && a.status === "open" ? "overdue-row" : "" },
      el("td", { "data-label": t("meetings.field.action") }, a.text),
      el("td", { "data-label": t("meetings.field.owner") }, a.owner_org),
      el("td", { "data-label": t("meetings.field.due") }, fmtDateTime(a.due)),
      el("td", { "data-label": t("meetings.field.status") }, status),
      el("td", {}, toggle, cancel ? " " : null, cancel)));
  }
}

/**
 * The contact points of each organisation of the meeting, as the server shows them to this
 * reader (a personal field it may not see is simply absent): name, function, how to reach
 * them, duty hours, and a flag when not confirmed for 30 days.
 */
function renderContacts(groups) {
  const box = $("m-contacts");
  box.replaceChildren();
  for (const g of groups) {
    const list = el("ul", { class: "contact-points" });
    for (const p of g.points) {
      const reach = [p.phone, p.radio, p.email].filter(Boolean).map((v) => el("bdi", { dir: "ltr" }, v));
      const line = el("li", { dataset: { id: p.id } },
        el("strong", {}, p.name || p.id),
        p.function ? el("span", { class: "muted" }, ` · ${term(p.function)}`) : null);
      for (const r of reach) line.append(" · ", r);
      if (p.duty_hours) line.append(el("span", { class: "muted" }, ` · ${p.duty_hours}`));
      if (p.unconfirmed) line.append(" ", el("span", { class: "badge bad unconfirmed" }, t("meetings.contacts_unconfirmed", { days: fmtNumber(30) })));
      list.append(line);
    }
    const none = g.points.length ? null : el("p", { class: "muted" }, t("meetings.contacts_none"));
    box.append(el("div", { class: "org-contacts", dataset: { org: g.org } }, el("h4", {}, g.org), g.points.length ? list : none));
  }
}

async function setStatus(a, status) {
  try {
    await api(`/api/v1/meetings/${encodeURIComponent(a.meeting)}/actions/${encodeURIComponent(a.id)}`, { method: "PATCH", body: { status } });
    say($("m-result"), t("meetings.saved"));
    await loadList(current.id);
  } catch (e) {
    say($("m-result"), failure(e), true);
  }
}

async function minutes(ext) {
  const resp = await fetch(`/api/v1/meetings/${encodeURIComponent(current.id)}/minutes.${ext}?lang=${language()}`, {
    headers: { Authorization: "Bearer " + token() },
    cache: "no-store",
  });
  if (!resp.ok) {
    const p = await resp.json().catch(() => null);
    say($("m-result"), t("action.failed", { reason: (p && (p.detail || p.title)) || resp.status }), true);
    return;
  }
  const blob = await resp.blob();
  window.open(URL.createObjectURL(blob), "_blank", "noopener");
}

function bind() {
  $("new-meeting-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const participants = $("nm-participants").value.split(/[,\s،]+/).map((s) => s.trim()).filter(Boolean);
    try {
      const m = await api("/api/v1/meetings", {
        method: "POST",
        body: { title: $("nm-title").value, kind: $("nm-kind").value, starts_at: fromLocal($("nm-starts").value), participants },
      });
      say($("nm-result"), t("meetings.created"));
      $("new-meeting").open = false;
      await loadList(m.id);
    } catch (e) {
      say($("nm-result"), failure(e), true);
    }
  });
  $("agenda-draft").addEventListener("click", async () => {
    try {
      const a = await api(`/api/v1/meetings/${encodeURIComponent(current.id)}/agenda`, { method: "POST", body: {} });
      lastWindow = { id: current.id, ...a.window };
      say($("m-result"), t("meetings.drafted", { n: a.items.length }));
      await open(current.id);
    } catch (e) {
      say($("m-result"), failure(e), true);
    }
  });
  $("agenda-edit").addEventListener("click", () => {
    editing = current.agenda.map((a) => ({ ...a }));
    renderMeeting();
  });
  $("agenda-cancel").addEventListener("click", () => {
    editing = null;
    renderMeeting();
  });
  $("agenda-add").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("agenda-add-text").value.trim();
    if (!text) return;
    editing.push({ kind: "other", text, edited: true });
    $("agenda-add-text").value = "";
    renderAgenda();
  });
  $("agenda-save").addEventListener("click", async () => {
    const items = editing.map((a) => {
      const out = { kind: a.kind };
      if (a.ref) out.ref = a.ref;
      if (a.edited && a.text && a.text.trim()) out.text = a.text.trim();
      if (a.kind === "other" && a.marking) out.marking = a.marking;
      return out;
    });
    try {
      await api(`/api/v1/meetings/${encodeURIComponent(current.id)}/agenda`, { method: "PUT", body: { items } });
      say($("m-result"), t("meetings.saved"));
      await open(current.id);
    } catch (e) {
      say($("m-result"), failure(e), true);
    }
  });
  $("decision-add").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api(`/api/v1/meetings/${encodeURIComponent(current.id)}/decisions`, { method: "POST", body: { text: $("decision-text").value } });
      $("decision-text").value = "";
      await open(current.id);
    } catch (e) {
      say($("m-result"), failure(e), true);
    }
  });
  $("action-add").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api(`/api/v1/meetings/${encodeURIComponent(current.id)}/actions`, {
        method: "POST",
        body: { text: $("action-text").value, owner_org: $("action-owner").value, due: fromLocal($("action-due").value) },
      });
      $("action-text").value = "";
      await loadList(current.id);
    } catch (e) {
      say($("m-result"), failure(e), true);
    }
  });
  $("m-minutes").addEventListener("click", () => minutes("html"));
  $("m-minutes-pdf").addEventListener("click", () => minutes("pdf"));
}

if (requireSession()) {
  initTheme();
  await initI18n();
  languageButton($("lang"));
  themeButton($("theme"));
  $("signout").addEventListener("click", () => signOut());
  ME = await whoami();
  const showWho = () => ($("who").textContent = `${term(ME.role)} · ${ME.org}`);
  showWho();
  $("nm-starts").value = localNow(24);
  bind();
  onLanguageChange(() => {
    showWho();
    renderList();
    if (current) renderMeeting();
  });
  await loadList();
  window.addEventListener("hashchange", () => {
    const id = named();
    if (id) open(id).catch((e) => say($("m-result"), failure(e), true));
  });
  // Overdue flags come from the server's check; look again now and then.
  setInterval(() => loadList().catch(() => {}), 30000);
  window.cmcopMeetings = { ready: true };
}
