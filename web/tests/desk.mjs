// The coordination desk (issue 17), in the browser: the needs priorities ordered by severity
// and people in need with their access (a closed constraint named, only what the reader may
// see), the directory with its filters, personal numbers kept on their side and unconfirmed
// contact points flagged, and a movement's contact linking to its contact point on the board.
// Screenshots of the desk on a wall (1920×1080), a laptop (1366×768) and a phone (390×844), in
// English and Arabic.

const MOSUL = [43.13, 36.34];
const BAGHDAD = [44.366, 33.315];
const ERBIL = [44.01, 36.19];

function need(unique, props, coordinates) {
  return {
    type: "Feature",
    geometry: coordinates ? { type: "Point", coordinates } : null,
    properties: { assessed_at: new Date(Date.now() - 2 * 86400e3).toISOString(), source: `MSNA ${unique}`, marking: "joint", ...props },
  };
}

function contact(props, coordinates) {
  return { type: "Feature", geometry: { type: "Point", coordinates }, properties: { marking: "joint", ...props } };
}

/** The need ids of the priorities list, in order, and each one's access pill. */
async function priorityRows(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("#prio-list tr[data-id]")].map((tr) => ({
      id: tr.dataset.id,
      access: tr.querySelector(".access-pill").className.replace("access-pill ", ""),
      behind: [...tr.querySelectorAll(".behind")].map((b) => b.textContent),
    })),
  );
}

export async function deskTests(h) {
  const { tokens, unique, check, shot, rest, newPage, signIn } = h;
  const ids = {};

  await check("the desk orders needs by severity and people in need, with their access as the reader may see it", async () => {
    ids.site = (await rest("POST", "/api/v1/needs", tokens.coordinator, need(unique, { sector: "wash", severity: 4, people_in_need: 12000, groups: ["children"], priority: "high", area: "IQG15" }, MOSUL))).id;
    ids.area = (await rest("POST", "/api/v1/needs", tokens.coordinator, need(unique, { sector: "health", severity: 5, people_in_need: 40000, area: "IQG15" }))).id;
    ids.food = (await rest("POST", "/api/v1/needs", tokens.coordinator, need(unique, { sector: "food_security", severity: 3, people_in_need: 70000, priority: "medium" }, BAGHDAD))).id;
    ids.closed = (
      await rest("POST", "/api/v1/constraints", tokens.military_liaison, {
        type: "Feature",
        geometry: { type: "Point", coordinates: [MOSUL[0] + 0.01, MOSUL[1]] },
        properties: { category: "movement_restriction", kind: "checkpoint", status: "closed", restriction: `bridge closed ${unique}`, marking: "joint" },
      })
    ).id;
    ids.secret = (
      await rest("POST", "/api/v1/constraints", tokens.military_liaison, {
        type: "Feature",
        geometry: { type: "Point", coordinates: [MOSUL[0] - 0.01, MOSUL[1]] },
        properties: { category: "hostilities", kind: "checkpoint", status: "restricted", restriction: `secret ${unique}`, marking: "military" },
      })
    ).id;

    for (const [who, token, seesSecret] of [["coordinator", tokens.coordinator, true], ["convoy planner", tokens.convoy_planner, false]]) {
      const page = await newPage(1600, 1000);
      await signIn(page, token, "/desk");
      await page.waitForSelector(`#prio-list tr[data-id="${ids.food}"]`, { timeout: 5000 });
      // Constraints are worded from the live feed, which may arrive after the priorities.
      await page
        .waitForFunction((text) => document.getElementById("prio-list").textContent.includes(text), `bridge closed ${unique}`, { timeout: 3000 })
        .catch(() => {});
      const rows = await priorityRows(page);
      const order = rows.map((r) => r.id).filter((id) => [ids.site, ids.area, ids.food].includes(id));
      // Ninewa (health 5, then wash 4) before Baghdad (food 3).
      if (order.join() !== [ids.area, ids.site, ids.food].join()) throw new Error(`${who}: order ${order}`);
      const site = rows.find((r) => r.id === ids.site);
      if (site.access !== "access-closed") throw new Error(`${who}: the site's access is ${site.access}`);
      if (!site.behind.some((b) => b.includes(`bridge closed ${unique}`))) throw new Error(`${who}: the closed bridge is not named: ${site.behind}`);
      const text = await page.textContent("#prio-list");
      if (text.includes(`secret ${unique}`) !== seesSecret) throw new Error(`${who}: the military constraint is ${seesSecret ? "missing" : "shown"}`);
      // The needs are on the map, drawn by severity.
      await page.waitForSelector(".sym.severity-4", { timeout: 3000 });
      await page.context().close();
    }
  });

  await check("the directory filters by organisation, side, governorate and function, keeps numbers on their side and flags the unconfirmed", async () => {
    ids.wfpDesk = (
      await rest("POST", "/api/v1/contacts", tokens.convoy_planner, contact({ name: `WFP access desk ${unique}`, function: "duty_desk", governorate: "IQG11", phone: "+964 750 111 2222", radio: "PAPA 1", email: "access.iraq@wfp.example.org", duty_hours: "08:00-16:00 Sun-Thu", confirmed_at: new Date().toISOString() }, ERBIL))
    ).id;
    ids.armyLo = (
      await rest("POST", "/api/v1/contacts", tokens.military_liaison, contact({ name: `Army liaison officer ${unique}`, function: "liaison_officer", governorate: "IQG15", phone: "+964 770 333 4444", radio: "KILO 7", duty_hours: "24/7", confirmed_at: new Date(Date.now() - 40 * 86400e3).toISOString() }, MOSUL))
    ).id;
    const page = await newPage(1600, 1000);
    await signIn(page, tokens.convoy_planner, "/desk?tab=directory");
    await page.waitForSelector(`#dir-table tr[data-id="${ids.armyLo}"]`, { timeout: 5000 });
    const row = (id) => page.locator(`#dir-table tr[data-id="${id}"]`);
    const army = await row(ids.armyLo).textContent();
    if (army.includes("333 4444")) throw new Error("the military liaison's number reached the civil side");
    if (!army.includes("KILO 7")) throw new Error(`the call sign is missing: ${army}`);
    if ((await row(ids.armyLo).locator(".tag.unconfirmed").count()) !== 1) throw new Error("a contact unconfirmed for 40 days is not flagged");
    const wfp = await row(ids.wfpDesk).textContent();
    if (!wfp.includes("111 2222")) throw new Error("the own organisation's number is missing");
    if (await row(ids.wfpDesk).locator(".tag.unconfirmed").count()) throw new Error("a contact confirmed today is flagged");
    const visible = () => page.evaluate(() => [...document.querySelectorAll("#dir-table tr[data-id]")].map((tr) => tr.dataset.id));
    await page.selectOption("#dir-side", "military");
    let shown = await visible();
    if (!shown.includes(ids.armyLo) || shown.includes(ids.wfpDesk)) throw new Error(`side filter: ${shown}`);
    await page.selectOption("#dir-side", "");
    await page.selectOption("#dir-org", "WFP");
    shown = await visible();
    if (!shown.includes(ids.wfpDesk) || shown.includes(ids.armyLo)) throw new Error(`organisation filter: ${shown}`);
    await page.selectOption("#dir-org", "");
    await page.selectOption("#dir-governorate", "IQG15");
    await page.selectOption("#dir-function", "liaison_officer");
    shown = await visible();
    if (!shown.includes(ids.armyLo) || shown.includes(ids.wfpDesk)) throw new Error(`governorate and function filters: ${shown}`);
    await page.context().close();
    // And the military side does not get the civil desk's number.
    const mil = await newPage(1600, 1000);
    await signIn(mil, tokens.military_liaison, "/desk?tab=directory");
    await mil.waitForSelector(`#dir-table tr[data-id="${ids.wfpDesk}"]`, { timeout: 5000 });
    if ((await mil.locator(`#dir-table tr[data-id="${ids.wfpDesk}"]`).textContent()).includes("111 2222")) throw new Error("the civil desk's number reached the military side");
    await mil.context().close();
  });

  await check("a movement's contact links to its contact point on the board", async () => {
    const m = await rest("POST", "/api/v1/movements", tokens.convoy_planner, {
      type: "Feature",
      geometry: { type: "LineString", coordinates: [ERBIL, MOSUL] },
      properties: { name: `Convoy with a desk ${unique}`, window_start: "2030-01-10T06:00:00Z", window_end: "2030-01-10T12:00:00Z", contact: ids.wfpDesk, marking: "joint" },
    });
    const page = await newPage(1600, 1000);
    await signIn(page, tokens.convoy_planner, "/board");
    await page.waitForSelector(`#table-movements tr[data-id="${m.id}"]`, { timeout: 5000 });
    await page.click(`#table-movements tr[data-id="${m.id}"]`);
    await page.waitForSelector(".contact-link", { timeout: 3000 });
    await page.click(".contact-link");
    await page.waitForFunction((name) => document.getElementById("detail-title").textContent === name, `WFP access desk ${unique}`, { timeout: 3000 });
    await page.context().close();
  });

  for (const lang of ["en", "ar"]) {
    await check(`the desk (${lang}) on a wall, a laptop and a phone: nothing outside the screen`, async () => {
      for (const [w, hgt, name] of [[1920, 1080, "wall"], [1366, 768, "laptop"], [390, 844, "phone"]]) {
        for (const tab of ["priorities", "directory"]) {
          const page = await newPage(w, hgt);
          await signIn(page, tokens.coordinator, `/desk?lang=${lang}&tab=${tab}`);
          await page.waitForFunction((l) => document.documentElement.lang === l, lang, { timeout: 3000 });
          await page.waitForSelector(tab === "priorities" ? `#prio-list tr[data-id="${ids.site}"]` : `#dir-table tr[data-id="${ids.armyLo}"]`, { timeout: 5000 });
          await page.waitForTimeout(600);
          const outside = await page.evaluate(() =>
            [...document.querySelectorAll(".desk-panels *")].filter((e) => {
              const b = e.getBoundingClientRect();
              return b.width > 0 && (b.right > innerWidth + 1 || b.left < -1);
            }).map((e) => e.tagName + "." + e.className),
          );
          if (outside.length) throw new Error(`${name} ${tab}: outside the screen: ${outside.slice(0, 5)}`);
          await shot(page, `desk-${tab}-${name}-${lang}`);
          await page.context().close();
        }
      }
    });
  }
}
