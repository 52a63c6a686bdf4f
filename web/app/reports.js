// The situation reports panel of the board: the reports made for the reader's audience (its
// role and organisation), newest first, each opened as HTML or PDF with the reader's token
// (fetched, then shown from a blob, since a link cannot carry the token); buttons ask for a
// daily, weekly or monthly report in the page's language; a made report's map and charts open
// as SVG or PNG. A report that becomes ready while the page is open is announced in the panel
// (and, to its audience, as a `report` alert in the alerts list).

import { api, token } from "./session.js";
import { fmtDateTime, language, t } from "./i18n.js";

const POLL_MS = 30000;

/** Opens a report's rendering (or a figure) in a new tab, fetched with the reader's token. */
export async function openReport(path, mime) {
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token() }, cache: "no-store" });
  if (!resp.ok) throw new Error(`${resp.status}`);
  const blob = new Blob([await resp.arrayBuffer()], { type: mime });
  const url = URL.createObjectURL(blob);
  window.open(url, "_blank", "noopener");
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function initReports(section) {
  const list = section.querySelector("#reports-list");
  const empty = section.querySelector("#reports-empty");
  const status = section.querySelector("#reports-status");
  let known = null;
  let reports = [];

  function row(r) {
    const li = document.createElement("li");
    li.className = "report-row";
    const title = document.createElement("span");
    title.textContent = `${t("reports." + r.kind)} · ${fmtDateTime(r.from)} – ${fmtDateTime(r.to)} · ${r.lang.toUpperCase()}`;
    li.append(title, " ");
    if (r.status === "done") {
      for (const [kind, mime] of [["html", "text/html"], ["pdf", "application/pdf"]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = t("reports." + kind);
        b.addEventListener("click", () =>
          openReport(r.links[kind], mime).catch((e) => (status.textContent = t("reports.open_failed", { status: e.message }))),
        );
        li.append(b, " ");
      }
      if (r.links.figures) li.append(figures(r.links.figures));
    } else {
      const s = document.createElement("span");
      s.className = "muted";
      s.textContent = t("reports." + r.status);
      li.append(s);
    }
    return li;
  }

  // The map and the charts as files of their own, SVG and PNG.
  function figures(links) {
    const d = document.createElement("details");
    d.className = "report-figures";
    const summary = document.createElement("summary");
    summary.textContent = t("reports.figures");
    const ul = document.createElement("ul");
    for (const [name, files] of Object.entries(links)) {
      const li = document.createElement("li");
      li.append(t("reports.figure." + name), " ");
      for (const [ext, mime] of [["svg", "image/svg+xml"], ["png", "image/png"]]) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = ext.toUpperCase();
        b.addEventListener("click", () =>
          openReport(files[ext], mime).catch((e) => (status.textContent = t("reports.open_failed", { status: e.message }))),
        );
        li.append(b, " ");
      }
      ul.append(li);
    }
    d.append(summary, ul);
    return d;
  }

  function render() {
    list.replaceChildren(...reports.slice(0, 10).map(row));
    empty.hidden = reports.length > 0;
  }

  async function refresh() {
    try {
      const r = await api("/api/v1/reports?limit=10");
      const done = new Set(r.reports.filter((x) => x.status === "done").map((x) => x.id));
      if (known) {
        const fresh = r.reports.filter((x) => done.has(x.id) && !known.has(x.id));
        if (fresh.length) status.textContent = t("reports.ready", { kind: t("reports." + fresh[0].kind) });
      }
      known = done;
      reports = r.reports;
      render();
    } catch (e) {
      console.warn("reports:", e.message);
    }
  }

  for (const b of section.querySelectorAll("button[data-kind]")) {
    b.addEventListener("click", async () => {
      try {
        await api("/api/v1/reports", { method: "POST", body: { kind: b.dataset.kind, lang: language() } });
        status.textContent = t("reports.requested");
        setTimeout(refresh, 3000);
      } catch (e) {
        status.textContent = e.message;
      }
    });
  }
  refresh();
  setInterval(refresh, POLL_MS);
  return { render };
}
