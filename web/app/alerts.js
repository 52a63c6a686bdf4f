// Convoy alerts as the board's and the wall's panels show them (issue 18.5): which conditions
// hold now (the latest alert of each condition is "raised"), which ended, how severe each kind
// is, and which rows just arrived ("new" for NEW_MS after they were received live).

import { fmtDateTimeZone, message, t, term } from "./i18n.js";
import { openReport } from "./reports.js";

/** How long a row received live carries its "new" cue. */
export const NEW_MS = 60000;

/** Severity of each kind: 3 high (the route or the convoy meets a hazard), 1 a notice. */
const SEVERITY = { route_conflict: 3, route_unchecked: 2, geofence: 3, off_route: 2, no_report: 2, unacknowledged: 2, acknowledged: 1, unconfirmed: 1, report: 1, overdue: 2 };
export const severityOf = (a) => SEVERITY[a.kind] || 2;

/** What an alert is about: its movement (or contact point), or an overdue action's meeting. */
const subjectOf = (a) => a.movement || (a.meeting && a.meeting.id) || "";

/** A condition's key: alerts of one condition share it (raised, then ended). */
const conditionKey = (a) => `${subjectOf(a)}|${a.condition || a.kind}`;

/**
 * The alerts to show, newest first: `active` (raised, and not ended since), `ended`, or `all`.
 * `alerts` is the feed's list (newest first).
 */
export function filterAlerts(alerts, which) {
  if (which === "all") return alerts;
  const latest = new Map();
  for (const a of alerts) if (!latest.has(conditionKey(a))) latest.set(conditionKey(a), a);
  if (which === "ended") return alerts.filter((a) => a.state === "ended");
  return alerts.filter((a) => a.state === "raised" && latest.get(conditionKey(a)) === a);
}

/** True for an alert that arrived over the live feed within NEW_MS. */
export function isNew(a, now = Date.now()) {
  return Boolean(a.received_at && now - Date.parse(a.received_at) < NEW_MS);
}

/**
 * One alert as a list row: severity badge, kind and state, time (with its zone), the message,
 * and a "new" tag. `onOpen(id)` (optional) makes the row open the movement, and its item; an
 * overdue action's row links to its meeting instead. A `report` notice (a situation report
 * made for the reader's audience) opens the report.
 */
export function alertRow(a, { onOpen, now = Date.now() } = {}) {
  if (a.report) onOpen = undefined;
  const li = document.createElement("li");
  const sev = severityOf(a);
  li.className = `alert-row sev-${sev} state-${a.state}` + (isNew(a, now) ? " new" : "");
  li.dataset.id = a.id;
  li.dataset.movement = a.movement || "";
  li.dataset.item = (a.item && a.item.id) || "";
  li.dataset.meeting = (a.meeting && a.meeting.id) || "";
  const meeting = onOpen && a.meeting && a.meeting.id;
  if (meeting) onOpen = null;
  // With `onOpen`, the row's words are one button (the list stays a list of items, and no
  // control sits inside another); the item's own button comes after it.
  const main = document.createElement(onOpen ? "button" : "div");
  main.className = "alert-main";
  const head = document.createElement("span");
  head.className = "alert-head";
  const badge = document.createElement("span");
  badge.className = "sev-badge";
  badge.textContent = t("alerts.sev_" + sev);
  const kind = document.createElement("strong");
  kind.textContent = `${term(a.kind)} · ${term(a.state)}`;
  const when = document.createElement("time");
  when.dateTime = a.at || a.received_at;
  when.textContent = fmtDateTimeZone(a.at || a.received_at);
  head.append(badge, " ", kind, " ", when);
  if (isNew(a, now)) {
    const tag = document.createElement("span");
    tag.className = "tag new";
    tag.textContent = t("tag.new");
    head.append(" ", tag);
  }
  const msg = document.createElement("span");
  msg.className = "alert-message";
  msg.setAttribute("dir", "auto");
  // The server's message in the reader's language (its English when the key is unknown).
  msg.textContent = message(a.message_key, a.message_params) ?? (a.message || "");
  main.append(head, msg);
  li.append(main);
  if (a.report && a.report.links) {
    const open = document.createElement("button");
    open.type = "button";
    open.className = "link alert-report";
    open.textContent = t("alerts.open_report");
    open.addEventListener("click", () => openReport(a.report.links.html, "text/html").catch((e) => console.warn("report:", e.message)));
    li.append(open);
  }
  if (meeting) {
    const link = document.createElement("a");
    link.className = "link alert-meeting";
    link.href = `/meetings#${encodeURIComponent(meeting)}`;
    link.textContent = t("alerts.open_meeting");
    li.append(link);
  }
  if (onOpen) {
    main.type = "button";
    main.addEventListener("click", () => onOpen(a.movement));
    if (a.item && a.item.id) {
      const item = document.createElement("button");
      item.type = "button";
      item.className = "link alert-item";
      item.textContent = t("alerts.open_item", { layer: t("layer." + a.item.layer) });
      item.addEventListener("click", () => onOpen(a.item.id));
      li.append(item);
    }
  }
  return li;
}

/** Merges alerts fetched over REST into the feed's list (newest first, no duplicates). */
export function mergeAlerts(feed, fetched) {
  const seen = new Set(feed.alerts.map((a) => a.id));
  for (const a of fetched || []) if (!seen.has(a.id)) feed.alerts.push(a);
  feed.alerts.sort((a, b) => b.id - a.id);
  feed.alerts.length = Math.min(feed.alerts.length, 200);
}
