// The time slider of the board and the wall (issue 15), in the browser: moved to a past moment
// it shows the picture as it was then, marked "not live" with the moment in the reader's zone;
// played at the fastest speed it replays forward over the WebSocket; "Back to live" returns to
// the live picture exactly, including what changed meanwhile. Screenshots of the past on the
// wall at 1080p, 4K and 390 px and on the board, in English and Arabic.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Moves the page's slider to `at` (ms) and lets go, as a drag does. */
async function slideTo(page, at) {
  await page.evaluate((ms) => {
    const s = document.getElementById("tl-slider");
    const anchor = Date.now() - 30 * 86400 * 1000;
    s.value = String(Math.round((ms - anchor) / 1000));
    s.dispatchEvent(new Event("input", { bubbles: true }));
    s.dispatchEvent(new Event("change", { bubbles: true }));
  }, at);
}

function constraint(unique, what) {
  return {
    type: "Feature",
    geometry: { type: "Point", coordinates: [43.9, 36.05] },
    properties: {
      category: "movement_restriction",
      kind: "checkpoint",
      status: "restricted",
      restriction: `${what} ${unique}`,
      marking: "joint",
    },
  };
}

export async function timelineTests(h) {
  const { base, tokens, unique, check, shot, rest, newPage, signIn } = h;
  let at = null;
  let then = null;
  let later = null;

  await check("the board's time slider shows the past, plays it forward and returns to live exactly", async () => {
    const page = await newPage(1600, 1000);
    await signIn(page, tokens.coordinator, "/board");
    await page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
    then = await rest("POST", "/api/v1/constraints", tokens.military_liaison, constraint(unique, "then"));
    await sleep(1500);
    at = Date.now();
    await sleep(1500);
    const gone = await fetch(`${base}/api/v1/constraints/${then.id}`, { method: "DELETE", headers: { Authorization: `Bearer ${tokens.military_liaison}` } });
    if (gone.status !== 204) throw new Error(`retire: ${gone.status}`);
    later = await rest("POST", "/api/v1/constraints", tokens.military_liaison, constraint(unique, "later"));
    const row = (id) => `#table-constraints tr[data-id="${id}"]`;
    await page.waitForSelector(row(later.id), { timeout: 2000 });
    if (await page.locator("#past-banner:not([hidden])").count()) throw new Error("the banner shows while live");

    await slideTo(page, at);
    await page.waitForSelector("#past-banner:not([hidden])", { timeout: 3000 });
    await page.waitForSelector(row(then.id), { timeout: 5000 });
    if (await page.locator(row(later.id)).count()) throw new Error("the past shows a constraint made later");
    const banner = await page.textContent("#past-banner");
    const hhmm = await page.evaluate(
      (ms) => new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(new Date(ms)),
      at,
    );
    if (!/not live/i.test(banner) || !banner.includes(hhmm)) throw new Error(`the banner says: ${banner} (expected ${hhmm})`);
    // Nothing can be done to the past.
    await page.click(row(then.id));
    await page.waitForSelector("#detail-body:not([hidden])", { timeout: 3000 });
    if (await page.locator("#notify:not([hidden]), #acknowledge:not([hidden])").count()) throw new Error("an action is offered on the past");
    await shot(page, "board-past");

    // A change made now does not reach the past on screen...
    const meanwhile = await rest("POST", "/api/v1/constraints", tokens.military_liaison, constraint(unique, "meanwhile"));
    await sleep(700);
    if (await page.locator(row(meanwhile.id)).count()) throw new Error("a live change reached the past");

    // ... played forward at a day per second, the retirement and the later ones arrive.
    await page.selectOption("#tl-speed", "86400");
    await page.click("#tl-play");
    await page.waitForSelector(row(later.id), { timeout: 10000 });
    await page.waitForSelector(row(then.id), { state: "detached", timeout: 10000 });
    await page.waitForFunction(() => ["playing", "ended"].includes(document.getElementById("timeline").dataset.state), null, { timeout: 5000 });
    if (!(await page.isVisible("#past-banner"))) throw new Error("a replay is not marked as not live");

    // Back to live: the live picture exactly, with what changed meanwhile.
    await page.click("#tl-live");
    await page.waitForSelector("#past-banner", { state: "hidden", timeout: 2000 });
    await page.waitForSelector(row(meanwhile.id), { timeout: 2000 });
    await page.waitForSelector(row(later.id), { timeout: 2000 });
    if (await page.locator(row(then.id)).count()) throw new Error("live shows a retired constraint");
    const same = await page.evaluate(() => {
      const rows = [...document.querySelectorAll("#table-constraints tbody tr[data-id]")].map((r) => r.dataset.id).sort();
      const live = window.cmcopFeed.layer("constraints").map((f) => f.id).sort();
      return JSON.stringify(rows) === JSON.stringify(live);
    });
    if (!same) throw new Error("the board's rows are not the live feed's constraints");
    // And live changes flow again.
    const after = await rest("POST", "/api/v1/constraints", tokens.military_liaison, constraint(unique, "after"));
    await page.waitForSelector(row(after.id), { timeout: 2000 });
    await page.context().close();
  });

  for (const lang of ["en", "ar"]) {
    await check(`the past on the wall (${lang}) at 1080p, 4K and 390 px and on the board: marked, readable, nothing outside`, async () => {
      if (!at) throw new Error("no moment from the board's test");
      for (const [w, hgt, name] of [[1920, 1080, "1080p"], [3840, 2160, "4k"], [390, 844, "phone"]]) {
        const page = await newPage(w, hgt);
        await signIn(page, tokens.wall_display, `/wall?lang=${lang}&views=mosul`);
        await page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
        await slideTo(page, at);
        await page.waitForSelector("#past-banner:not([hidden])", { timeout: 3000 });
        await page.waitForFunction((id) => window.cmcopTimeline.features.has(id), then.id, { timeout: 5000 });
        await page.waitForTimeout(1500);
        // The side panel agrees with the banner: not "Live" while the past shows.
        const conn = await page.evaluate(() => document.getElementById("connection").dataset.state);
        if (conn !== "past") throw new Error(`${name}: the side panel's feed state is ${conn} beside the NOT LIVE banner`);
        const m = await page.evaluate(() => {
          const r = (sel) => document.querySelector(sel).getBoundingClientRect();
          const tl = r("#timeline");
          const side = r(".wall-side");
          const outside = [...document.querySelectorAll("#timeline *")].filter((e) => {
            const b = e.getBoundingClientRect();
            return b.width > 0 && (b.right > innerWidth + 1 || b.left < -1 || b.bottom > innerHeight + 1);
          }).length;
          const overlap = Math.min(tl.right, side.right) - Math.max(tl.left, side.left) > 0 && Math.min(tl.bottom, side.bottom) - Math.max(tl.top, side.top) > 0;
          const banner = getComputedStyle(document.querySelector(".timeline-when"));
          return { outside, overlap, fontPx: parseFloat(banner.fontSize), dir: document.documentElement.dir, text: document.getElementById("past-banner").textContent };
        });
        if (m.outside) throw new Error(`${name}: ${m.outside} timeline elements outside the screen`);
        if (m.overlap && name !== "phone") throw new Error(`${name}: the timeline covers the side panel`);
        if (name === "4k" && m.fontPx < 30) throw new Error(`4K: the banner's text is ${m.fontPx} px`);
        if (lang === "ar" && (m.dir !== "rtl" || !/[\u0600-\u06FF]/.test(m.text))) throw new Error(`not Arabic right to left: ${m.dir} ${m.text}`);
        await shot(page, `wall-past-${name}-${lang}`);
        await page.context().close();
      }
      for (const [w, hgt, name] of [[1600, 1000, "laptop"], [390, 844, "phone"]]) {
        const page = await newPage(w, hgt);
        await signIn(page, tokens.coordinator, `/board?lang=${lang}`);
        await page.waitForFunction(() => window.cmcopFeed && window.cmcopFeed.seq !== null, null, { timeout: 5000 });
        if (lang === "ar" && (await page.evaluate(() => document.documentElement.lang)) !== "ar") await page.click("#lang");
        await slideTo(page, at);
        await page.waitForSelector(`#table-constraints tr[data-id="${then.id}"]`, { timeout: 5000 });
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > w) throw new Error(`board ${name}: ${wide} px wide`);
        await shot(page, `board-past-${name}-${lang}`);
        await page.context().close();
      }
    });
  }
}
