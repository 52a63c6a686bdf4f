// Browser tests of cmcop's pages, in Debian's headless Chromium driven by playwright-core.
//
//   node web/tests/run.mjs BASE_URL coordinator=TOKEN military_liaison=TOKEN \
//        convoy_planner=TOKEN wall_display=TOKEN
//
// tests/web.rs starts the real server and runs this. Changes are written through the REST API
// (as any client would) and must show on the pages within 2 s. At the end the wall stays open,
// this script prints `STOP_SERVER` and waits for a line on stdin: the caller stops the server,
// and the wall must raise its stale-feed warning. Screenshots go to test-output/screenshots/
// (their paths are printed). The last line is `N passed, N failed`; the exit code is 0 only when
// every check passed.
//
// Field conditions (issue #9): each page's first load, in a fresh browser context (empty cache),
// is measured in bytes on the wire (`FIRST_LOAD` lines) and must stay within 1 MB; then the
// context goes offline and the page is reloaded: its shell and the basemap must render from
// the service worker. After the server stops, a page opens from the worker again.

import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { facesTests } from "./faces.mjs";
import { meetingsTests } from "./meetings.mjs";
import { timelineTests } from "./timeline.mjs";
import { deskTests } from "./desk.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const shots = resolve(here, "../../test-output/screenshots");
mkdirSync(shots, { recursive: true });

const [base, ...args] = process.argv.slice(2);
const tokens = Object.fromEntries(args.map((a) => a.split("=", 2)));
for (const role of ["coordinator", "military_liaison", "convoy_planner", "wall_display", "kiosk"]) {
  if (!base || !tokens[role]) {
    console.error(`usage: run.mjs BASE_URL coordinator=T military_liaison=T convoy_planner=T wall_display=T kiosk=ENROLMENT (missing ${role})`);
    process.exit(2);
  }
}

const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let passed = 0;
let failed = 0;
const results = [];

async function check(name, f) {
  const started = Date.now();
  try {
    await f();
    passed += 1;
    results.push(`ok   ${name} (${Date.now() - started} ms)`);
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    results.push(`FAIL ${name}: ${e.message}`);
    console.log(`FAIL ${name}: ${e.stack || e.message}`);
  }
}

async function rest(method, path, token, body) {
  const resp = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  return data;
}

async function shot(page, name) {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path });
  console.log(`screenshot ${path}`);
}

/** Signs in through the sign-in page, in this page's tab, and goes on to `next`. */
async function signIn(page, token, next) {
  await page.goto(`${base}/?next=${encodeURIComponent(next)}`);
  await page.fill("#token", token);
  await page.click("#signin-submit");
  await page.waitForURL(`${base}${next}`, { timeout: 5000 });
}

const unique = `t${Date.now().toString(36)}`;
/** The first load of a page may bring at most this much over the network. */
const FIRST_LOAD_BUDGET = 1024 * 1024;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: CHROMIUM_FLAGS,
});
const errors = [];
async function newPage(width, height) {
  const context = await browser.newContext({ viewport: { width, height }, locale: "en-GB" });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && errors.push(`${page.url()}: ${m.text()}`));
  return page;
}

/**
 * Opens `path` in a fresh context (nothing cached; the session's token set before any script
 * runs, as sign-in leaves it) and counts the bytes of its first load: every response the page
 * got from the network (CDP `Network.loadingFinished` encodedDataLength: headers and body as
 * sent, so compressed), what the service worker fetched to fill its cache (requests from the
 * worker, headers and encoded body), and the payload of the WebSocket frames (the live
 * picture). The load is over when the worker is active and has filled its cache, the live feed
 * has its picture (map pages) and the network has been quiet for a moment.
 */
async function firstLoad(path, token, ready) {
  const context = await browser.newContext({ viewport: { width: 1600, height: 1000 }, locale: "en-GB" });
  if (token) await context.addInitScript((t) => sessionStorage.setItem("cmcop.token", t), token);
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: false });
  const bytes = { page: 0, worker: 0, websocket: 0, requests: 0, workerRequests: 0 };
  cdp.on("Network.loadingFinished", (e) => {
    bytes.page += e.encodedDataLength;
    bytes.requests += 1;
  });
  cdp.on("Network.webSocketFrameReceived", (e) => (bytes.websocket += e.response.payloadData.length));
  cdp.on("Network.webSocketFrameSent", (e) => (bytes.websocket += e.response.payloadData.length));
  const pending = [];
  context.on("requestfinished", (request) => {
    if (!request.serviceWorker()) return;
    pending.push(
      request.sizes().then((s) => {
        bytes.worker += s.responseHeadersSize + s.responseBodySize;
        bytes.workerRequests += 1;
      }),
    );
  });
  await page.goto(base + path);
  await ready(page);
  const active = await page.evaluate(() =>
    Promise.race([navigator.serviceWorker.ready.then(() => true), new Promise((r) => setTimeout(() => r(false), 15000))]),
  );
  if (!active) throw new Error(`no service worker became active for ${path} within 15 s`);
  await page.waitForLoadState("networkidle");
  await page.waitForTimeout(500);
  await Promise.all(pending);
  bytes.total = bytes.page + bytes.worker + bytes.websocket;
  return { context, page, bytes };
}

const mapPainted = (page) =>
  page.waitForFunction(() => document.querySelectorAll(".leaflet-basemap-pane path, .leaflet-overlay-pane path").length > 50, null, { timeout: 10000 });
const feedReady = (page) => page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 10000 });
/** Every stylesheet the page links was loaded (an offline page without them is unstyled). */
const styled = (page) =>
  page.evaluate(() => [...document.querySelectorAll('link[rel="stylesheet"]')].every((l) => l.sheet && l.sheet.cssRules.length > 0));

const FIRST_LOADS = [
  {
    path: "/",
    token: null,
    ready: (page) => page.waitForFunction(() => document.documentElement.lang === "en" && document.getElementById("signin-submit").textContent.trim() !== ""),
    shell: (page) => page.waitForSelector("#signin-form:not([hidden]) #token", { timeout: 10000 }),
  },
  {
    path: "/wall",
    token: "wall_display",
    ready: async (page) => {
      await feedReady(page);
      await mapPainted(page);
    },
    shell: async (page) => {
      await page.waitForSelector("#counts", { state: "attached", timeout: 10000 });
      await mapPainted(page);
    },
  },
  {
    path: "/board",
    token: "military_liaison",
    ready: async (page) => {
      await feedReady(page);
      await mapPainted(page);
    },
    shell: async (page) => {
      await page.waitForSelector("#table-constraints", { timeout: 10000 });
      await mapPainted(page);
    },
  },
  {
    path: "/planner",
    token: "convoy_planner",
    ready: async (page) => {
      await feedReady(page);
      await mapPainted(page);
    },
    shell: async (page) => {
      await page.waitForSelector("#place option[value=erbil]", { state: "attached", timeout: 10000 });
      await mapPainted(page);
    },
  },
];

/** The board's tab from the offline check, kept for after the server stops. */
let offlineBoard = null;

try {
  // --- first load and offline (issue #9) ----------------------------------------------------
  for (const spec of FIRST_LOADS) {
    await check(`${spec.path}: the first load is at most 1 MB, then the page opens offline`, async () => {
      const { context, page, bytes } = await firstLoad(spec.path, spec.token && tokens[spec.token], spec.ready);
      console.log(
        `FIRST_LOAD ${spec.path} total=${bytes.total} page=${bytes.page} (${bytes.requests} responses) ` +
          `worker=${bytes.worker} (${bytes.workerRequests} requests) websocket=${bytes.websocket}`,
      );
      if (bytes.page <= 0 || bytes.requests < 3) throw new Error(`nothing measured: ${JSON.stringify(bytes)}`);
      if (bytes.total > FIRST_LOAD_BUDGET) throw new Error(`first load of ${spec.path} is ${bytes.total} bytes, over 1 MB`);

      // Loaded once, then from the cache: a reload brings only the revalidated shell, the
      // session and the live feed over the network.
      const before = bytes.page + bytes.worker;
      await page.reload();
      await spec.ready(page);
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(300);
      const again = bytes.page + bytes.worker - before;
      console.log(`REPEAT_LOAD ${spec.path} http=${again}`);
      if (again * 4 > bytes.total) throw new Error(`the reload brought ${again} bytes: not from the cache`);

      await context.setOffline(true);
      const online = await page.evaluate(() => fetch("/healthz", { cache: "no-store" }).then(() => true, () => false));
      if (online) throw new Error("the context is not offline");
      const response = await page.reload();
      if (!response || !response.fromServiceWorker()) throw new Error("the offline page did not come from the service worker");
      await spec.shell(page);
      if (!(await styled(page))) throw new Error("a stylesheet did not load offline");
      const title = await page.title();
      if (!title.startsWith("cmcop")) throw new Error(`title ${title}`);
      await shot(page, `offline${spec.path === "/" ? "-signin" : spec.path.replace("/", "-")}`);
      if (spec.path === "/board") {
        await context.setOffline(false);
        offlineBoard = page;
      } else {
        await context.close();
      }
    });
  }

  // --- sign-in ------------------------------------------------------------------------------
  const signinPage = await newPage(1280, 800);
  await check("sign-in refuses a bad token and accepts a good one", async () => {
    await signinPage.goto(base + "/");
    await signinPage.fill("#token", "cmcop_not_a_real_token");
    await signinPage.click("#signin-submit");
    await signinPage.waitForSelector("#signin-error:not([hidden])", { timeout: 5000 });
    await shot(signinPage, "signin");
    await signinPage.fill("#token", tokens.coordinator);
    await signinPage.click("#signin-submit");
    await signinPage.waitForSelector("#signed-in:not([hidden])", { timeout: 5000 });
    const stored = await signinPage.evaluate(() => ({
      session: sessionStorage.getItem("cmcop.token"),
      local: JSON.stringify(localStorage),
      url: location.href,
    }));
    if (!stored.session) throw new Error("the token is not in sessionStorage");
    if (stored.local.includes("cmcop_")) throw new Error("a token is in localStorage");
    if (stored.url.includes("cmcop_")) throw new Error("a token is in the URL");
  });

  // --- board: a change written through the API shows within 2 s -----------------------------
  const board = await newPage(1600, 1000);
  await check("the board shows a constraint written through the API within 2 s", async () => {
    await signIn(board, tokens.military_liaison, "/board");
    await board.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    const created = await rest("POST", "/api/v1/constraints", tokens.military_liaison, {
      type: "Feature",
      geometry: { type: "Point", coordinates: [43.7, 36.2] },
      properties: {
        category: "movement_restriction",
        kind: "checkpoint",
        status: "restricted",
        restriction: `escort required ${unique}`,
        marking: "joint",
      },
    });
    const started = Date.now();
    await board.waitForSelector(`#table-constraints tr[data-id="${created.id}"]`, { timeout: 2000 });
    console.log(`     board showed it after ${Date.now() - started} ms`);
    await board.fill("#section-constraints .search", unique);
    const rows = await board.locator("#table-constraints tbody tr[data-id]").count();
    if (rows !== 1) throw new Error(`search for ${unique} shows ${rows} rows`);
    await board.fill("#section-constraints .search", "");
    await board.click(`#table-constraints tr[data-id="${created.id}"]`);
    await board.waitForSelector("#detail-body:not([hidden])");
  });

  // --- wall: the same within 2 s ------------------------------------------------------------
  const wall = await newPage(1920, 1080);
  const incidentsCount = () =>
    wall.evaluate(() => {
      const cell = document.querySelector('tr.count-layer[data-layer="incidents"] td.count-total');
      return cell ? Number(cell.textContent.replace(/\D/g, "")) : -1;
    });
  await check("the wall shows an incident written through the API within 2 s", async () => {
    await signIn(wall, tokens.wall_display, "/wall");
    await wall.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    await wall.waitForSelector('tr.count-layer[data-layer="incidents"]', { timeout: 5000 });
    const before = await incidentsCount();
    const created = await rest("POST", "/api/v1/incidents", tokens.coordinator, {
      type: "Feature",
      geometry: { type: "Point", coordinates: [43.3, 36.25] },
      properties: {
        occurred_at: new Date(Date.now() - 3600000).toISOString(),
        event_type: "explosions_remote_violence",
        sub_event_type: "remote_explosive_landmine_ied",
        severity: 4,
        fatalities: 0,
        verification: "reported",
        marking: "joint",
        description: `IED ${unique}`,
      },
    });
    const started = Date.now();
    await wall.waitForFunction(
      ([id, n]) => {
        const cell = document.querySelector('tr.count-layer[data-layer="incidents"] td.count-total');
        return window.cmcopFeed.features.has(id) && cell && Number(cell.textContent.replace(/\D/g, "")) === n;
      },
      [created.id, before + 1],
      { timeout: 2000 },
    );
    console.log(`     wall showed it after ${Date.now() - started} ms`);
    const warning = await wall.isVisible("#feed-warning");
    if (warning) throw new Error("the stale-feed warning shows while the feed is live");
    await wall.waitForTimeout(500);
    await shot(wall, "wall");
  });

  // --- wall: a silent socket is closed and replaced (issue 18.1) ----------------------------
  await check("the wall reconnects a silent socket within 30 s, resuming with since; banner and status agree", async () => {
    const page = await newPage(1920, 1080);
    // Every WebSocket of the page goes through this route; connections opened up to
    // `mutedUpTo` are kept open but pass nothing either way, as a dead NAT entry would.
    let opened = 0;
    let mutedUpTo = 0;
    const subscribes = [];
    await page.routeWebSocket(/\/api\/v1\/ws/, (ws) => {
      const n = ++opened;
      const server = ws.connectToServer();
      const muted = () => n <= mutedUpTo;
      ws.onMessage((m) => {
        if (muted()) return;
        try {
          const msg = JSON.parse(m);
          if (msg.type === "subscribe") subscribes.push({ n, since: msg.since ?? null });
        } catch {}
        server.send(m);
      });
      server.onMessage((m) => {
        if (!muted()) ws.send(m);
      });
    });
    await signIn(page, tokens.wall_display, "/wall");
    await page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    await page.waitForSelector('#connection[data-state="live"]', { timeout: 3000 });
    const seqBefore = await page.evaluate(() => window.cmcopFeed.seq);
    mutedUpTo = opened;
    const silentFrom = Date.now();
    // While the socket is silent, sample what the wall says: "Live" never next to the banner.
    const seen = new Set();
    let bannerShot = false;
    while (Date.now() - silentFrom < 30000) {
      const s = await page.evaluate(() => ({
        state: document.getElementById("connection").dataset.state,
        text: document.getElementById("connection").textContent,
        banner: !document.getElementById("feed-warning").hidden,
        reconnected: window.cmcopFeed.silentCloses || 0,
      }));
      seen.add(s.state);
      if (s.banner && s.state !== "stopped") throw new Error(`the banner shows while the status says ${s.state} (${s.text})`);
      if (s.state === "stopped" && !s.banner) throw new Error("the status says stopped without the banner");
      if (s.banner && !bannerShot) {
        bannerShot = true;
        await shot(page, "wall-silent");
      }
      if (s.reconnected >= 1 && s.state === "live" && opened > mutedUpTo) break;
      await page.waitForTimeout(250);
    }
    const after = Date.now() - silentFrom;
    console.log(`     silent for ${after} ms; states seen: ${[...seen].join(", ")}; sockets opened: ${opened}`);
    if (after >= 30000) throw new Error(`no live socket 30 s after the feed went silent (states ${[...seen].join(", ")})`);
    if (!seen.has("reconnecting") && !seen.has("stopped")) throw new Error("the wall said live all through the silence");
    const resumed = subscribes.find((s) => s.n > mutedUpTo);
    if (!resumed) throw new Error("the new socket sent no subscribe");
    if (resumed.since === null || resumed.since < seqBefore) throw new Error(`resumed with since=${resumed.since}, expected >= ${seqBefore}`);
    if (await page.isVisible("#feed-warning")) throw new Error("the banner still shows once live again");
    // And the new socket carries changes.
    const created = await rest("POST", "/api/v1/incidents", tokens.coordinator, {
      type: "Feature",
      geometry: { type: "Point", coordinates: [44.1, 36.1] },
      properties: {
        occurred_at: new Date(Date.now() - 600000).toISOString(),
        event_type: "violence_against_civilians",
        sub_event_type: "attack",
        severity: 2,
        fatalities: 0,
        verification: "reported",
        marking: "joint",
        description: `after silence ${unique}`,
      },
    });
    await page.waitForFunction((id) => window.cmcopFeed.features.has(id), created.id, { timeout: 2000 });
    await page.context().close();
  });

  // --- alerts: on the wall within 2 s, and at the top of the board (issue 18.5) ------------
  await check("an alert shows on the wall within 2 s and at the top of the board, clickable, filterable, new", async () => {
    const coordBoard = await newPage(1600, 1000);
    await signIn(coordBoard, tokens.coordinator, "/board");
    await coordBoard.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    // The alerts panel is the first thing on the board.
    const first = await coordBoard.evaluate(() => document.querySelector(".board-tables").firstElementChild.id);
    if (first !== "section-alerts") throw new Error(`the board starts with ${first}, not the alerts`);
    // The first picture is drawn (what arrives with it is not "new"; what comes after is).
    await coordBoard.waitForTimeout(500);
    const mv = await rest("POST", "/api/v1/movements", tokens.convoy_planner, {
      type: "Feature",
      geometry: { type: "LineString", coordinates: [[44.2, 35.4], [44.6, 35.1]] },
      properties: {
        name: `Alerted run ${unique}`,
        mode: "road",
        window_start: new Date(Date.now() + 3 * 3600000).toISOString(),
        window_end: new Date(Date.now() + 9 * 3600000).toISOString(),
        marking: "joint",
        vehicles: { count: 2 },
      },
    });
    await rest("POST", `/api/v1/movements/${mv.id}/notify`, tokens.convoy_planner);
    const closure = await rest("POST", "/api/v1/constraints", tokens.military_liaison, {
      type: "Feature",
      geometry: { type: "Point", coordinates: [44.4, 35.25] },
      properties: { category: "hostilities", kind: "checkpoint", status: "closed", description: `Alert closure ${unique}`, marking: "joint" },
    });
    const started = Date.now();
    const row = `#wall-alerts-list li.alert-row[data-movement="${mv.id}"][data-item="${closure.id}"]`;
    await wall.waitForSelector(row, { timeout: 2000 });
    console.log(`     the wall showed the alert after ${Date.now() - started} ms`);
    const text = await wall.textContent(row);
    if (!text.includes(`Alerted run ${unique}`)) throw new Error(`the wall's alert says: ${text}`);
    if (!(await wall.locator(`${row}.new`).count())) throw new Error("the wall's new alert has no new cue");
    await shot(wall, "wall-alert");

    const boardRow = `#alerts-list li.alert-row[data-movement="${mv.id}"][data-item="${closure.id}"]`;
    await coordBoard.waitForSelector(`${boardRow}.new .tag.new`, { timeout: 3000 });
    await coordBoard.click(boardRow);
    await coordBoard.waitForFunction((name) => document.getElementById("detail-title").textContent.includes(name), `Alerted run ${unique}`, { timeout: 3000 });
    // The movement's row says it just changed.
    await coordBoard.waitForSelector(`#table-movements tr.just-changed[data-id="${mv.id}"]`, { timeout: 3000 });
    await shot(coordBoard, "board-alerts");
    // Retired closure: the alert ends; "active" drops it, "ended" shows it.
    const del = await fetch(`${base}/api/v1/constraints/${closure.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${tokens.military_liaison}` } });
    if (del.status !== 204) throw new Error(`retire: ${del.status}`);
    await coordBoard.waitForSelector(boardRow, { state: "detached", timeout: 3000 });
    await wall.waitForSelector(row, { state: "detached", timeout: 3000 });
    await coordBoard.selectOption("#alerts-filter", "ended");
    await coordBoard.waitForSelector(`${boardRow}.state-ended`, { timeout: 2000 });
    await coordBoard.selectOption("#alerts-filter", "active");
    await coordBoard.context().close();
  });

  // --- planner: a closed road blocks the route ----------------------------------------------
  const planner = await newPage(1600, 1000);
  let savedId = null;
  await check("the planner checks a route across a closed road: blocked", async () => {
    // A closure on the Erbil-Mosul road, on the straight line between the two towns.
    await rest("POST", "/api/v1/constraints", tokens.military_liaison, {
      type: "Feature",
      geometry: { type: "LineString", coordinates: [[43.6, 36.2572], [43.5, 36.2734]] },
      properties: {
        category: "hostilities",
        kind: "road_closure",
        status: "closed",
        description: `Khazer bridge closed ${unique}`,
        marking: "joint",
      },
    });
    await signIn(planner, tokens.convoy_planner, "/planner");
    await planner.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    // Straight lines: the closure lies on the straight line between the two towns.
    await planner.uncheck("#follow-roads");
    await planner.selectOption("#place", "erbil");
    await planner.click("#add-place");
    await planner.selectOption("#place", "mosul");
    await planner.click("#add-place");
    await planner.click("#check");
    await planner.waitForSelector("#verdict[data-verdict]", { timeout: 5000 });
    const verdict = await planner.getAttribute("#verdict", "data-verdict");
    if (verdict !== "blocked") throw new Error(`verdict ${verdict}, expected blocked`);
    const conflicts = await planner.locator("#conflicts li.conflict").count();
    if (conflicts < 1) throw new Error("no conflict listed");
    // Issue 18.2: the closure is drawn as blocked (red, striped, its own badge) and named.
    const name = `Khazer bridge closed ${unique}`;
    const by = await planner.textContent("#verdict .verdict-by");
    if (!by || !by.includes(name)) throw new Error(`the verdict does not name what blocks: ${by}`);
    const row = planner.locator("#conflicts li.conflict.effect-blocked", { hasText: name });
    if ((await row.count()) !== 1) throw new Error("the closure is not listed as blocked by its description");
    const look = await row.evaluate((li) => {
      const cs = getComputedStyle(li);
      return { border: cs.borderInlineStartColor, image: cs.backgroundImage, badge: li.querySelector(".effect-badge").textContent };
    });
    if (look.border !== "rgb(255, 59, 48)") throw new Error(`blocked row border ${look.border}`);
    if (!look.image.includes("repeating-linear-gradient")) throw new Error("the blocked row has no pattern");
    if (!/block/i.test(look.badge)) throw new Error(`badge ${look.badge}`);
    const caution = planner.locator("#conflicts li.conflict.effect-caution");
    if ((await caution.count()) > 0) {
      const b = await caution.first().evaluate((li) => getComputedStyle(li).borderInlineStartColor);
      if (b === "rgb(255, 59, 48)") throw new Error("a caution row is red");
    }
    if ((await planner.locator(".conflict-number.conflict-blocked").count()) < 1) throw new Error("no blocked marker on the map");
    // Numbered markers never hide each other.
    await planner.waitForTimeout(600);
    const boxes = await planner.$$eval(".conflict-number", (els) => els.map((e) => e.getBoundingClientRect().toJSON()));
    for (let i = 0; i < boxes.length; i++)
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i];
        const b = boxes[j];
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > a.width / 2 && h > a.height / 2) throw new Error(`markers ${i + 1} and ${j + 1} cover each other`);
      }
    await shot(planner, "planner");
  });

  await check("the planner saves the route as a movement and notifies it", async () => {
    await planner.fill("#mv-name", `Convoy ${unique}`);
    await planner.click("#save");
    await planner.waitForSelector("#save-result.ok", { timeout: 5000 });
    savedId = await planner.evaluate(() => document.getElementById("save-result").textContent.match(/[0-9a-f-]{36}/)?.[0]);
    await planner.click("#notify");
    await planner.waitForFunction(() => document.getElementById("notify").disabled, null, { timeout: 5000 });
    const mv = await rest("GET", `/api/v1/movements/${savedId}`, tokens.convoy_planner);
    if (mv.properties.notification !== "notified") throw new Error(`notification ${mv.properties.notification}`);
  });

  await check("the military liaison sees it awaiting acknowledgement and acknowledges it", async () => {
    await board.waitForSelector(`#awaiting button:has-text("Convoy ${unique}")`, { timeout: 3000 });
    await board.click(`#awaiting button:has-text("Convoy ${unique}")`);
    await board.waitForSelector("#acknowledge:not([hidden])", { timeout: 3000 });
    await shot(board, "board");
    await board.click("#acknowledge");
    // Acknowledging asks first (issue 18.6): nothing is sent until it is confirmed.
    await board.waitForSelector("#ack-confirm:not([hidden])", { timeout: 3000 });
    const before = await rest("GET", `/api/v1/movements/${savedId}`, tokens.military_liaison);
    if ((before.properties.acknowledged_by || []).includes("IQ-ARMY")) throw new Error("acknowledged before the confirmation");
    await board.click("#acknowledge-confirm");
    await board.waitForSelector("#action-result.ok", { timeout: 3000 });
    await board.waitForFunction(
      (name) => ![...document.querySelectorAll("#awaiting button")].some((b) => b.textContent.includes(name)),
      `Convoy ${unique}`,
      { timeout: 3000 },
    );
  });

  await check("acknowledgement is per organisation; a passed departure is flagged; cancel sends nothing", async () => {
    // Notified, departed an hour ago, acknowledged by PESHMERGA only: IQ-ARMY still owes it.
    const mv = await rest("POST", "/api/v1/movements", tokens.convoy_planner, {
      type: "Feature",
      geometry: { type: "LineString", coordinates: [[44.01, 36.19], [43.15, 36.34]] },
      properties: {
        name: `Late run ${unique}`,
        mode: "road",
        window_start: new Date(Date.now() - 3600000).toISOString(),
        window_end: new Date(Date.now() + 5 * 3600000).toISOString(),
        marking: "joint",
        vehicles: { count: 3 },
      },
    });
    await rest("POST", `/api/v1/movements/${mv.id}/notify`, tokens.convoy_planner);
    await rest("POST", `/api/v1/movements/${mv.id}/acknowledge`, tokens.military_liaison_2);
    const row = `#table-movements tr[data-id="${mv.id}"]`;
    await board.waitForFunction(
      (sel) => {
        const cell = document.querySelector(`${sel} .notification-cell`);
        return cell && cell.textContent.includes("PESHMERGA");
      },
      row,
      { timeout: 3000 },
    );
    const cell = await board.textContent(`${row} .notification-cell`);
    if (!/acknowledged by PESHMERGA/.test(cell) || !/awaiting IQ-ARMY/.test(cell)) throw new Error(`the row says: ${cell}`);
    if (!(await board.locator(`${row}.awaits-me`).count())) throw new Error("the row is not marked as awaiting us");
    if (!(await board.locator(`${row} .tag.departed`).count())) throw new Error("the passed departure is not flagged on the row");
    // The to-do list agrees with the row, and flags the departure too.
    const item = `#awaiting li[data-id="${mv.id}"]`;
    await board.waitForSelector(item, { timeout: 3000 });
    const listed = await board.textContent(item);
    if (!listed.includes("PESHMERGA")) throw new Error(`the awaiting list says: ${listed}`);
    if (!(await board.locator(`${item} .tag.departed`).count())) throw new Error("the passed departure is not flagged in the list");
    // Cancel sends nothing.
    await board.click(`${item} button`);
    await board.click("#acknowledge");
    await board.waitForSelector("#ack-confirm:not([hidden])", { timeout: 3000 });
    const detail = await board.textContent("#detail-props");
    if (!/acknowledged by PESHMERGA · awaiting IQ-ARMY/.test(detail)) throw new Error("the detail's notification does not say who acknowledged");
    const text = await board.textContent("#ack-confirm-text");
    if (!text.includes(`Late run ${unique}`) || !text.includes("IQ-ARMY")) throw new Error(`the confirmation says: ${text}`);
    await shot(board, "board-ack-confirm");
    await board.click("#acknowledge-cancel");
    await board.waitForSelector("#ack-confirm", { state: "hidden", timeout: 3000 });
    await board.waitForTimeout(300);
    const after = await rest("GET", `/api/v1/movements/${mv.id}`, tokens.military_liaison);
    if ((after.properties.acknowledged_by || []).includes("IQ-ARMY")) throw new Error("cancel acknowledged it");
    // A movement nobody else acknowledged reads "not acknowledged", never plain "acknowledged".
    const plain = await board.$$eval("#table-movements .notification-cell", (cells) => cells.map((c) => c.textContent.trim()));
    if (plain.some((c) => c === "acknowledged")) throw new Error("a row says plain 'acknowledged'");
  });

  // --- Arabic -------------------------------------------------------------------------------
  await check("the planner follows roads, compares alternatives and saves the chosen one to a loaded movement", async () => {
    // A movement drawn as one straight line from Baghdad to Mosul.
    const start = new Date(Date.now() + 3 * 3600000);
    const mv = await rest("POST", "/api/v1/movements", tokens.convoy_planner, {
      type: "Feature",
      geometry: { type: "LineString", coordinates: [[44.366, 33.315], [43.119, 36.335]] },
      properties: {
        name: `Road run ${unique}`,
        mode: "road",
        window_start: start.toISOString(),
        window_end: new Date(start.getTime() + 8 * 3600000).toISOString(),
        marking: "joint",
        vehicles: { count: 2 },
      },
    });
    await planner.reload();
    await planner.waitForFunction(
      (id) => [...document.querySelectorAll("#load-movement option")].some((o) => o.value === id),
      mv.id,
      { timeout: 5000 },
    );
    await planner.check("#follow-roads");
    await planner.selectOption("#alt-count", "2");
    await planner.selectOption("#load-movement", mv.id);
    await planner.click("#load");
    await planner.waitForSelector("#load-result.ok", { timeout: 5000 });
    if ((await planner.locator("#waypoints li").count()) !== 2) throw new Error("the movement's ends are not the waypoints");
    await planner.click("#check");
    await planner.waitForSelector("#alternatives li.alternative", { timeout: 10000 });
    // The test network has three ways from Baghdad to Mosul: listed side by side, the
    // shortest first and chosen, each with its length and its own verdict.
    const alts = await planner.$$eval("#alternatives li.alternative", (els) =>
      els.map((e) => ({ rank: e.dataset.rank, verdict: e.dataset.verdict, chosen: e.classList.contains("chosen"), text: e.textContent })),
    );
    if (alts.length !== 3) throw new Error(`${alts.length} alternatives listed`);
    if (!alts[0].chosen || alts.some((a, i) => i > 0 && a.chosen)) throw new Error("the shortest is not the one chosen");
    if (alts.some((a) => !a.verdict || !/km/.test(a.text))) throw new Error(`an alternative lacks its length or verdict: ${JSON.stringify(alts)}`);
    if ((await planner.getAttribute("#roads-note", "data-network")) !== "loaded") throw new Error("the note does not name the road network");
    await planner.click('#alternatives li[data-rank="1"] button');
    await planner.waitForSelector('#alternatives li.chosen[data-rank="1"]', { timeout: 3000 });
    const verdict = await planner.getAttribute("#verdict", "data-verdict");
    if (verdict !== alts[1].verdict) throw new Error(`the verdict shown is ${verdict}, the chosen route's is ${alts[1].verdict}`);
    await shot(planner, "planner-roads");
    await planner.click("#save-back");
    await planner.waitForSelector("#save-result.ok", { timeout: 5000 });
    const after = await rest("GET", `/api/v1/movements/${mv.id}`, tokens.convoy_planner);
    if (after.geometry.coordinates.length < 5) throw new Error("the saved route does not follow the roads");
    if (after.properties.version < 2) throw new Error("the movement was not changed");
  });

  await check("Arabic lays the board out right to left", async () => {
    await board.click("#lang");
    await board.waitForFunction(() => document.documentElement.dir === "rtl" && document.documentElement.lang === "ar", null, {
      timeout: 3000,
    });
    const heading = await board.textContent("#section-movements h2");
    if (!/[\u0600-\u06FF]/.test(heading)) throw new Error(`the heading is not Arabic: ${heading}`);
    // Issue 18.11: strings that stayed English switch too (Leaflet's zoom titles here).
    const zoom = await board.getAttribute("#detail-map .leaflet-control-zoom-in", "title");
    if (!/[\u0600-\u06FF]/.test(zoom || "")) throw new Error(`the zoom button's title is not Arabic: ${zoom}`);
    await shot(board, "board-ar");
    await board.click("#lang");
    await board.waitForFunction(() => document.documentElement.dir === "ltr");
  });

  await check("the wall in Arabic (?lang=ar) is right to left", async () => {
    const page = await newPage(1920, 1080);
    await signIn(page, tokens.wall_display, "/wall?lang=ar&views=mosul,erbil&every=30");
    await page.waitForFunction(() => document.documentElement.dir === "rtl", null, { timeout: 3000 });
    await page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    await page.waitForTimeout(2500);
    await shot(page, "wall-ar");
    await page.context().close();
  });

  // --- phone size (issue 18.7) -------------------------------------------------------------
  for (const lang of ["en", "ar"]) {
    await check(`at 390 px (${lang}) the board, planner and wall have no horizontal overflow and usable tables`, async () => {
      for (const [path, token] of [["/board", tokens.coordinator], ["/planner", tokens.convoy_planner], ["/wall", tokens.wall_display]]) {
        const page = await newPage(390, 844);
        await signIn(page, token, `${path}?lang=${lang}`);
        await page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
        if (lang === "ar" && path !== "/wall") {
          if ((await page.evaluate(() => document.documentElement.lang)) !== "ar") {
            await page.click("#lang");
          }
          await page.waitForFunction(() => document.documentElement.dir === "rtl", null, { timeout: 3000 });
        }
        await page.waitForTimeout(800);
        const m = await page.evaluate(() => {
          const wide = [...document.querySelectorAll("body *")]
            .filter((e) => {
              const r = e.getBoundingClientRect();
              return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1) && !e.closest(".leaflet-container");
            })
            .slice(0, 3)
            .map((e) => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().left)}..${Math.round(e.getBoundingClientRect().right)}`);
          const table = document.querySelector("#table-movements tbody tr[data-id]");
          return {
            width: document.documentElement.scrollWidth,
            wide,
            row: table ? table.getBoundingClientRect().width : null,
          };
        });
        if (m.width > 390) throw new Error(`${path} lays out ${m.width} px wide: ${m.wide.join("; ")}`);
        if (m.wide.length) throw new Error(`${path}: elements outside the screen: ${m.wide.join("; ")}`);
        if (path === "/board" && !(m.row > 300)) throw new Error(`a board row is ${m.row} px wide`);
        await shot(page, `phone${path.replace("/", "-")}-${lang}`);
        await page.context().close();
      }
    });
  }

  // --- the time slider (issue 15) -----------------------------------------------------------
  await timelineTests({ base, tokens, unique, check, shot, rest, newPage, signIn });

  // --- the coordination desk (issue 17) ------------------------------------------------------
  await deskTests({ base, tokens, unique, check, shot, rest, newPage, signIn });

  // --- coordination meetings (issue 17.2) ----------------------------------------------------
  await meetingsTests({ base, tokens, unique, check, shot, rest, newPage, signIn });

  // --- symbols, legibility, kiosk, accessibility (issue 18: 8, 9, 12) ----------------------
  await facesTests({ base, tokens, unique, check, shot, rest, newPage, signIn, browser, chromium, CHROMIUM_FLAGS, createInterface });

  // --- the feed stops: the wall warns -------------------------------------------------------
  await check("the wall warns loudly when the server stops", async () => {
    console.log("STOP_SERVER");
    const rl = createInterface({ input: process.stdin });
    // A line, or the end of stdin, says the server has stopped.
    await new Promise((done) => {
      rl.once("line", done);
      rl.once("close", done);
    });
    rl.close();
    await wall.waitForSelector("#feed-warning:not([hidden])", { timeout: 15000 });
    await wall.waitForTimeout(300);
    await shot(wall, "wall-stopped");
  });

  await check("after the server stopped, the board still opens from the service worker", async () => {
    if (!offlineBoard) throw new Error("no board context from the offline check");
    const page = offlineBoard;
    const response = await page.reload();
    if (!response || !response.fromServiceWorker()) throw new Error("the board did not come from the service worker");
    await page.waitForSelector("#table-constraints", { timeout: 10000 });
    await mapPainted(page);
    if (!(await styled(page))) throw new Error("a stylesheet did not load");
    await shot(page, "board-server-stopped");
    await page.context().close();
  });

  await check("no script errors on any page", async () => {
    // Network errors after the server stopped are expected; anything else is a bug.
    const real = errors.filter((e) => !/ERR_CONNECTION_REFUSED|Failed to load resource|WebSocket/.test(e));
    if (real.length) throw new Error(real.join("\n"));
  });
} finally {
  await browser.close();
}

console.log(results.join("\n"));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
