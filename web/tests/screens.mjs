// Screenshots compared against committed references (issue 18): the wall, the board and the
// planner, in English and Arabic, at 1080p (1920x1080), 4K (3840x2160) and phone size (390x844).
//
//   node web/tests/screens.mjs BASE_URL coordinator=TOKEN military_liaison=TOKEN \
//        convoy_planner=TOKEN wall_display=TOKEN
//
// tests/web.rs runs this against a server of its own (fresh database, alerts off) so that the
// scene is exactly the items written here, with fixed times. Every page opens with its clock
// frozen at SCENE_TIME (playwright's `clock.setFixedTime`: Date is fixed, timers still run), in
// the Asia/Baghdad time zone and with reduced motion (the map jumps instead of animating), so
// the clocks, "last update", relative times, incidents' fading and the time slider are the same
// on every run.
//
// Masked (drawn over in one colour before comparing, on the reference too): the board's
// "updated" cells of the constraints table, the one time the server stamps when it stores an
// item (the run's real time). Nothing else is hidden.
//
// Comparison: pixelmatch with a per-pixel colour threshold of PIXEL_THRESHOLD (anti-aliased
// pixels not counted), and at most MAX_DIFF_RATIO of an image's pixels may differ. The 4K
// capture is compared and kept at half scale (1920x1080, each pixel the mean of a 2x2 block):
// the 4K layout (its larger text and symbols) is what is compared, at a quarter of the bytes.
// On a mismatch the actual image and a diff image are written to test-output/screenshots/compare/
// and the failure names the page, language and size.
//
// References live in web/tests/references/. They are replaced only on purpose:
//
//   CMCOP_UPDATE_REFERENCES=1 cargo test --features browser-tests --test web
//
// writes every capture as its new reference (nothing is compared then). Look at them before
// committing. A mismatch never refreshes a reference.
//
// `CMCOP_SCREENS=wall-ar,planner` takes only the captures whose name (page-lang-size) starts
// with one of those prefixes, while working on a page; the suite itself runs all 18.

import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import pixelmatch from "pixelmatch";
import { PNG } from "pngjs";

const here = dirname(fileURLToPath(import.meta.url));
const REFERENCES = join(here, "references");
const OUT = resolve(here, "../../test-output/screenshots/compare");
const UPDATE = process.env.CMCOP_UPDATE_REFERENCES === "1";
const ONLY = (process.env.CMCOP_SCREENS || "").split(",").filter(Boolean);

/** pixelmatch's threshold: how far two pixels' colours may be apart (YIQ, 0..1) and match. */
const PIXEL_THRESHOLD = 0.1;
/**
 * The share of an image's pixels that may differ beyond the threshold: 41 pixels at 1920x1080,
 * 6 at 390x844. Repeated runs on the same machine are pixel-identical (0 differing pixels); one
 * word changed in one cell of the board (anti-aliased edges not counted) differs in 55 to 612
 * pixels, so a ratio of 0.0001 would already let it through.
 */
const MAX_DIFF_RATIO = 0.00002;

/** The moment every page believes it is (Date frozen): a Monday morning in Baghdad. */
const SCENE_TIME = Date.parse("2026-12-07T09:00:00Z");
const at = (minutes) => new Date(SCENE_TIME + minutes * 60000).toISOString();

const SIZES = [
  { name: "1080p", width: 1920, height: 1080, scale: 1 },
  { name: "4k", width: 3840, height: 2160, scale: 2 },
  { name: "phone", width: 390, height: 844, scale: 1 },
];
const LANGS = ["en", "ar"];

const [base, ...args] = process.argv.slice(2);
const tokens = Object.fromEntries(args.map((a) => a.split("=", 2)));
for (const role of ["coordinator", "military_liaison", "convoy_planner", "wall_display"]) {
  if (!base || !tokens[role]) {
    console.error(`usage: screens.mjs BASE_URL coordinator=T military_liaison=T convoy_planner=T wall_display=T (missing ${role})`);
    process.exit(2);
  }
}

async function rest(method, path, token, body) {
  const resp = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * The scene, written through the API in a fixed order: constraints in each status (points, a
 * road closure, an operation area), incidents reported and confirmed, a military liaison's
 * checkpoint and incident (APP-6 symbols), and three convoys, one notified. Every time in it is
 * fixed relative to SCENE_TIME; the server's alerter is off, so no alert depends on the real
 * time of the run.
 */
async function writeScene() {
  const constraint = (token, geometry, props) =>
    rest("POST", "/api/v1/constraints", token, {
      type: "Feature",
      geometry,
      properties: { category: "movement_restriction", kind: "checkpoint", marking: "joint", ...props },
    });
  const point = (lon, lat) => ({ type: "Point", coordinates: [lon, lat] });
  await constraint(tokens.coordinator, point(43.35, 36.4), { status: "restricted", restriction: "Escort required north of Mosul" });
  await constraint(tokens.coordinator, point(44.05, 35.55), { status: "open", restriction: "Kirkuk south gate open 06:00-18:00" });
  await constraint(tokens.coordinator, point(43.9, 34.6), { status: "unknown", restriction: "Tikrit bridge: no report" });
  await constraint(
    tokens.coordinator,
    { type: "LineString", coordinates: [[43.6, 36.2572], [43.5, 36.2734]] },
    { category: "hostilities", kind: "road_closure", status: "closed", description: "Khazer bridge closed" },
  );
  await constraint(
    tokens.coordinator,
    { type: "Polygon", coordinates: [[[42.2, 34.2], [42.9, 34.2], [42.9, 34.6], [42.2, 34.6], [42.2, 34.2]]] },
    { category: "hostilities", kind: "operation_area", status: "closed", description: "Operations west of Haditha" },
  );
  await constraint(tokens.military_liaison, point(44.4, 33.6), { status: "closed", restriction: "Army checkpoint: closed to traffic" });

  const incident = (token, lon, lat, minutes, verification, description) =>
    rest("POST", "/api/v1/incidents", token, {
      type: "Feature",
      geometry: point(lon, lat),
      properties: {
        occurred_at: at(minutes),
        event_type: "explosions_remote_violence",
        sub_event_type: "remote_explosive_landmine_ied",
        severity: 3,
        fatalities: 0,
        verification,
        marking: "joint",
        description,
      },
    });
  await incident(tokens.convoy_planner, 43.75, 35.1, -40, "reported", "IED reported near Baiji road");
  await incident(tokens.convoy_planner, 44.6, 34.0, -300, "confirmed", "Roadside IED, Diyala");
  await incident(tokens.military_liaison, 43.3, 33.4, -120, "confirmed", "Army: device found near Ramadi");

  const movement = (name, coordinates, start, hours, count) =>
    rest("POST", "/api/v1/movements", tokens.convoy_planner, {
      type: "Feature",
      geometry: { type: "LineString", coordinates },
      properties: {
        name,
        mode: "road",
        window_start: at(start),
        window_end: at(start + hours * 60),
        marking: "joint",
        vehicles: { count },
      },
    });
  const erbil = await movement("WFP Erbil to Kirkuk", [[44.01, 36.19], [44.39, 35.47]], 120, 4, 6);
  await rest("POST", `/api/v1/movements/${erbil.id}/notify`, tokens.convoy_planner);
  await movement("WFP Baghdad to Ramadi", [[44.36, 33.31], [43.78, 33.35], [43.3, 33.42]], 240, 5, 4);
  await movement("WFP Mosul to Dohuk", [[43.13, 36.34], [43.0, 36.87]], 1440, 3, 3);
}

/** A page of the scene: its path, the role that reads it, and what it waits for. */
const PAGES = [
  { name: "wall", path: "/wall?views=iraq", token: "wall_display", items: 12 },
  { name: "board", path: "/board", token: "coordinator", items: 12 },
  // The planner's feed carries constraints and incidents only.
  { name: "planner", path: "/planner", token: "convoy_planner", items: 9, route: ["erbil", "kirkuk"] },
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--font-render-hinting=none"],
});

/** Opens `page` in `lang` at `size` with the frozen clock and returns the capture (a PNG). */
async function capture(spec, lang, size) {
  const context = await browser.newContext({
    viewport: { width: size.width, height: size.height },
    deviceScaleFactor: 1,
    locale: lang === "ar" ? "ar-IQ" : "en-GB",
    timezoneId: "Asia/Baghdad",
    reducedMotion: "reduce",
  });
  try {
    await context.clock.setFixedTime(SCENE_TIME);
    await context.addInitScript((t) => sessionStorage.setItem("cmcop.token", t), tokens[spec.token]);
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const sep = spec.path.includes("?") ? "&" : "?";
    // The first load of a fresh browser on a busy machine may be slow: loading is not under test.
    await page.goto(`${base}${spec.path}${sep}lang=${lang}`, { timeout: 90000 });
    await page.waitForFunction(
      ([n, lang]) =>
        window.cmcopFeed &&
        window.cmcopFeed.seq !== null &&
        window.cmcopFeed.features.size === n &&
        window.cmcopFeed.state() === "live" &&
        document.documentElement.lang === lang &&
        document.querySelectorAll(".leaflet-basemap-pane path, .leaflet-overlay-pane path").length > 50,
      [spec.items, lang],
      { timeout: 30000, polling: 100 },
    );
    if (spec.route) {
      for (const place of spec.route) {
        await page.selectOption("#place", place);
        await page.click("#add-place");
      }
    }
    await page.evaluate(() => document.fonts.ready);
    // The once-a-second renders (clocks, feed state) have run at the frozen time.
    await page.waitForTimeout(1500);
    if (errors.length) throw new Error(`script errors: ${errors.join("; ")}`);
    const mask = [];
    if (spec.name === "board") {
      const col = await page.evaluate(() => [...document.querySelectorAll("#table-constraints thead th")].findIndex((th) => th.querySelector('[data-key="updated_at"]')));
      if (col < 0) throw new Error("the board's constraints table has no updated_at column to mask");
      mask.push(page.locator(`#table-constraints tbody td:nth-child(${col + 1})`));
    }
    return await page.screenshot({ animations: "disabled", caret: "hide", mask, maskColor: "#ff00ff" });
  } finally {
    await context.close();
  }
}

/** Halves an image in each direction, each pixel the mean of a 2x2 block. */
function halve(png) {
  const w = png.width >> 1;
  const h = png.height >> 1;
  const out = new PNG({ width: w, height: h });
  const src = png.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      const a = (2 * y * png.width + 2 * x) * 4;
      const b = a + png.width * 4;
      for (let c = 0; c < 4; c++) out.data[o + c] = (src[a + c] + src[a + 4 + c] + src[b + c] + src[b + 4 + c] + 2) >> 2;
    }
  }
  return out;
}

const encode = (png) => PNG.sync.write(png, { deflateLevel: 9, deflateStrategy: 1 });

let passed = 0;
let failed = 0;
const ratios = [];
try {
  await writeScene();
  mkdirSync(OUT, { recursive: true });
  mkdirSync(REFERENCES, { recursive: true });
  for (const spec of PAGES) {
    for (const lang of LANGS) {
      for (const size of SIZES) {
        const id = `${spec.name}-${lang}-${size.name}`;
        if (ONLY.length && !ONLY.some((p) => id.startsWith(p))) continue;
        const what = `${spec.name} page, ${lang === "ar" ? "Arabic" : "English"}, ${size.name} (${size.width}x${size.height})`;
        try {
          let png = PNG.sync.read(await capture(spec, lang, size));
          if (size.scale === 2) png = halve(png);
          const ref = join(REFERENCES, `${id}.png`);
          if (UPDATE) {
            writeFileSync(ref, encode(png));
            console.log(`UPDATED ${ref}`);
            passed += 1;
            continue;
          }
          if (!existsSync(ref)) throw new Error(`no reference ${ref}: make it with CMCOP_UPDATE_REFERENCES=1 and look at it before committing`);
          const expected = PNG.sync.read(readFileSync(ref));
          if (expected.width !== png.width || expected.height !== png.height) {
            writeFileSync(join(OUT, `${id}-actual.png`), encode(png));
            throw new Error(`the capture is ${png.width}x${png.height}, the reference ${expected.width}x${expected.height}`);
          }
          const diff = new PNG({ width: png.width, height: png.height });
          const n = pixelmatch(expected.data, png.data, diff.data, png.width, png.height, { threshold: PIXEL_THRESHOLD });
          const ratio = n / (png.width * png.height);
          ratios.push(ratio);
          console.log(`DIFF ${id} ${n} pixels ratio=${ratio.toFixed(6)}`);
          if (ratio > MAX_DIFF_RATIO) {
            writeFileSync(join(OUT, `${id}-actual.png`), encode(png));
            writeFileSync(join(OUT, `${id}-diff.png`), encode(diff));
            throw new Error(
              `differs from its reference in ${n} pixels (${(ratio * 100).toFixed(4)} %, at most ${(MAX_DIFF_RATIO * 100).toFixed(4)} % allowed); ` +
                `see ${join(OUT, `${id}-actual.png`)} and ${id}-diff.png`,
            );
          }
          passed += 1;
          console.log(`ok   ${what} matches its reference`);
        } catch (e) {
          failed += 1;
          console.log(`FAIL ${what}: ${e.message}`);
        }
      }
    }
  }
} finally {
  await browser.close();
}
if (ratios.length) console.log(`largest diff ratio ${Math.max(...ratios).toFixed(6)} (allowed ${MAX_DIFF_RATIO})`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
