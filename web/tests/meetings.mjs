// The meetings page (issue 17.2) in the browser: the chair's view (list, agenda drafted from the
// picture and edited, decisions, action items with overdue flagged, minutes), a civil
// participant's view of the same meeting (no military-only item, no chair controls, its own
// action reported done), each organisation's contact points as the reader may see them, the
// overdue action as an alert on its owner's board, in English and Arabic, on a laptop, a phone
// and a wall screen.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function incident(unique, marking, what) {
  return {
    type: "Feature",
    geometry: { type: "Point", coordinates: [43.7, 36.1] },
    properties: {
      occurred_at: new Date(Date.now() - 3600e3).toISOString(),
      event_type: "explosions_remote_violence",
      sub_event_type: "remote_explosive_landmine_ied",
      severity: 3,
      verification: "reported",
      description: `${what} ${unique}`,
      marking,
    },
  };
}

/** Whether any element of the page sticks out of the viewport sideways. */
async function overflowing(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("body *")].filter((e) => {
      const b = e.getBoundingClientRect();
      return b.width > 0 && (b.right > innerWidth + 1 || b.left < -1);
    }).map((e) => e.id || e.className || e.tagName).slice(0, 5),
  );
}

export async function meetingsTests(h) {
  const { base, tokens, unique, check, shot, rest, newPage, signIn } = h;
  let meeting = null;
  let military = null;
  let joint = null;
  let late = null;
  let own = null;

  await check("meetings: the chair drafts and edits the agenda, records decisions and actions; overdue is flagged", async () => {
    military = await rest("POST", "/api/v1/incidents", tokens.military_liaison, incident(unique, "military", "military-only"));
    joint = await rest("POST", "/api/v1/incidents", tokens.military_liaison, incident(unique, "joint", "shared"));
    meeting = await rest("POST", "/api/v1/meetings", tokens.coordinator, {
      title: `Weekly coordination ${unique}`,
      kind: "periodic",
      starts_at: new Date(Date.now() + 3600e3).toISOString(),
      participants: ["WFP", "IQ-ARMY"],
    });
    late = await rest("POST", `/api/v1/meetings/${meeting.id}/actions`, tokens.coordinator, {
      text: `Clear the Khazer culvert ${unique}`, owner_org: "IQ-ARMY", due: new Date(Date.now() - 86400e3).toISOString(),
    });
    own = await rest("POST", `/api/v1/meetings/${meeting.id}/actions`, tokens.coordinator, {
      text: `Share the convoy list ${unique}`, owner_org: "WFP", due: new Date(Date.now() + 2 * 86400e3).toISOString(),
    });
    await rest("POST", `/api/v1/meetings/${meeting.id}/decisions`, tokens.coordinator, { text: `Convoys resume on Monday ${unique}` });

    const page = await newPage(1366, 768);
    await signIn(page, tokens.coordinator, "/meetings");
    await page.waitForSelector(`#meetings-list li[data-id="${meeting.id}"]`, { timeout: 5000 });
    await page.click(`#meetings-list li[data-id="${meeting.id}"] .meeting-link`);
    await page.waitForFunction((id) => document.getElementById("detail").dataset.id === id, meeting.id, { timeout: 3000 });
    await page.click("#agenda-draft");
    await page.waitForSelector(`#agenda li[data-ref="${military.id}"]`, { timeout: 5000 });
    await page.waitForSelector(`#agenda li[data-ref="${joint.id}"]`, { timeout: 2000 });
    const windowText = await page.textContent("#agenda-window");
    if (!windowText.trim()) throw new Error("the draft does not say what window it looked at");
    // Overdue flagged on the late action, not on the other.
    await page.waitForSelector(`#actions tr[data-id="${late.id}"] .overdue`, { timeout: 2000 });
    if (await page.locator(`#actions tr[data-id="${own.id}"] .overdue`).count()) throw new Error("a future action is flagged overdue");
    // Edit: move the last item first, reword it, add one of the chair's own, save.
    await page.click("#agenda-edit");
    await page.waitForSelector("#agenda input.agenda-text", { timeout: 2000 });
    await page.fill("#agenda-add-text", `Any other business ${unique}`);
    await page.click("#agenda-add button[type=submit]");
    const before = await page.locator("#agenda li").count();
    await page.locator("#agenda li").nth(1).locator("button").first().click();
    await page.locator("#agenda li").first().locator("input.agenda-text").fill(`Reworded ${unique}`);
    await page.click("#agenda-save");
    await page.waitForSelector("#agenda input.agenda-text", { state: "detached", timeout: 3000 });
    const items = await page.$$eval("#agenda li", (lis) => lis.map((l) => l.textContent));
    if (items.length !== before) throw new Error(`saved ${items.length} items, edited ${before}`);
    if (!items[0].includes(`Reworded ${unique}`)) throw new Error(`the first item reads ${items[0]}`);
    if (!items[items.length - 1].includes(`Any other business ${unique}`)) throw new Error("the chair's own item is missing");
    // A decision and an action from the page.
    await page.fill("#decision-text", `Escort plan agreed ${unique}`);
    await page.click("#decision-add button[type=submit]");
    await page.waitForFunction((u) => document.getElementById("decisions").textContent.includes(`Escort plan agreed ${u}`), unique, { timeout: 3000 });
    // The minutes, in the reader's language, hold what the page shows.
    const minutes = await page.evaluate(async (id) => {
      const r = await fetch(`/api/v1/meetings/${id}/minutes.html?lang=ar`, { headers: { Authorization: "Bearer " + sessionStorage.getItem("cmcop.token") } });
      return { status: r.status, text: await r.text() };
    }, meeting.id);
    if (minutes.status !== 200 || !minutes.text.includes('dir="rtl"') || !minutes.text.includes(military.id)) {
      throw new Error(`minutes: ${minutes.status} ${minutes.text.slice(0, 200)}`);
    }
    const pdf = await page.evaluate(async (id) => {
      const r = await fetch(`/api/v1/meetings/${id}/minutes.pdf?lang=ar`, { headers: { Authorization: "Bearer " + sessionStorage.getItem("cmcop.token") } });
      const head = new Uint8Array(await r.arrayBuffer()).slice(0, 4);
      return { status: r.status, type: r.headers.get("content-type"), head: String.fromCharCode(...head) };
    }, meeting.id);
    if (pdf.status !== 200 || pdf.type !== "application/pdf" || pdf.head !== "%PDF") throw new Error(`PDF minutes: ${JSON.stringify(pdf)}`);
    await page.context().close();
  });

  await check("meetings: a civil participant sees no military-only item and no chair controls, and reports its own action", async () => {
    if (!meeting) throw new Error("no meeting from the chair's test");
    const page = await newPage(1366, 768);
    await signIn(page, tokens.convoy_planner, "/meetings");
    await page.waitForSelector(`#meetings-list li[data-id="${meeting.id}"]`, { timeout: 5000 });
    await page.click(`#meetings-list li[data-id="${meeting.id}"] .meeting-link`);
    await page.waitForSelector(`#agenda li[data-ref="${joint.id}"]`, { timeout: 3000 });
    const body = await page.textContent("#detail");
    if (body.includes(military.id) || body.includes("military-only")) throw new Error("a military-only item shows to the civil side");
    if (await page.locator("#agenda-draft:visible, #agenda-edit:visible, #decision-add:visible, #action-add:visible").count()) {
      throw new Error("chair controls show to a participant");
    }
    if (await page.locator(`#actions tr[data-id="${late.id}"] button`).count()) throw new Error("another organisation's action offers a report");
    await page.locator(`#actions tr[data-id="${own.id}"] button`).click();
    await page.waitForFunction((id) => document.querySelector(`#actions tr[data-id="${id}"] .badge.ok`), own.id, { timeout: 3000 });
    const minutes = await page.evaluate(async (id) => {
      const r = await fetch(`/api/v1/meetings/${id}/minutes.html`, { headers: { Authorization: "Bearer " + sessionStorage.getItem("cmcop.token") } });
      return r.text();
    }, meeting.id);
    if (minutes.includes(military.id)) throw new Error("a military-only item is in a civil participant's minutes");
    await page.context().close();
  });

  for (const lang of ["en", "ar"]) {
    await check(`meetings (${lang}): each organisation's contact points as the reader may see them; the overdue action is an alert on the owner's board`, async () => {
      if (!meeting) throw new Error("no meeting from the chair's test");
      const point = (name, phone) => ({
        type: "Feature",
        geometry: { type: "Point", coordinates: [44.01, 36.19] },
        properties: { name: `${name} ${unique}`, function: "liaison_officer", phone, radio: "PAPA 1", duty_hours: "24/7", confirmed_at: new Date(Date.now() - 40 * 86400e3).toISOString() },
      });
      if (lang === "en") {
        await rest("POST", "/api/v1/contacts", tokens.military_liaison, point("Army LO", "+964 780 555 0101"));
        await rest("POST", "/api/v1/contacts", tokens.convoy_planner, point("WFP access", "+964 750 555 0202"));
      }
      // The civil planner, opening the meeting by its address (as an alert links to it).
      const page = await newPage(1366, 768);
      await signIn(page, tokens.convoy_planner, `/meetings?lang=${lang}`);
      await page.goto(`${base}/meetings?lang=${lang}#${encodeURIComponent(meeting.id)}`);
      await page.waitForFunction((id) => document.getElementById("detail").dataset.id === id, meeting.id, { timeout: 5000 });
      await page.waitForSelector('#m-contacts .org-contacts[data-org="IQ-ARMY"] li', { timeout: 3000 });
      const army = await page.textContent('#m-contacts .org-contacts[data-org="IQ-ARMY"]');
      const wfp = await page.textContent('#m-contacts .org-contacts[data-org="WFP"]');
      if (!army.includes(`Army LO ${unique}`) || army.includes("555 0101")) throw new Error(`the army's point as the civil side sees it: ${army}`);
      if (!wfp.includes("555 0202")) throw new Error(`its own point lacks its phone: ${wfp}`);
      const heading = await page.textContent('[data-i18n="meetings.contacts"]');
      if (heading.trim() !== (lang === "ar" ? "جهات الاتصال" : "Contact points")) throw new Error(`heading ${heading}`);
      const flag = await page.textContent('#m-contacts .org-contacts[data-org="WFP"] .unconfirmed');
      if (lang === "ar" ? !/[\u0600-\u06FF]/.test(flag) : !flag.includes("not confirmed")) throw new Error(`unconfirmed flag: ${flag}`);
      await page.context().close();

      // The army owns the late action: its board lists the overdue alert, worded in its language,
      // with a link to the meeting.
      const board = await newPage(1366, 768);
      await signIn(board, tokens.military_liaison, `/board?lang=${lang}`);
      const row = `#alerts-list li[data-meeting="${meeting.id}"]`;
      await board.waitForSelector(row, { timeout: 10000 });
      const words = await board.textContent(`${row} .alert-message`);
      if (!words.includes(`Clear the Khazer culvert ${unique}`)) throw new Error(`the alert reads ${words}`);
      if (lang === "ar" ? !words.includes("تأخر") : !words.includes("is overdue")) throw new Error(`the alert is not in ${lang}: ${words}`);
      const href = await board.getAttribute(`${row} a.alert-meeting`, "href");
      if (href !== `/meetings#${encodeURIComponent(meeting.id)}`) throw new Error(`the alert links to ${href}`);
      await board.context().close();
    });

    await check(`meetings page (${lang}) on a laptop, a phone and a wall screen: nothing sticks out`, async () => {
      if (!meeting) throw new Error("no meeting from the chair's test");
      for (const [w, hgt, name] of [[1366, 768, "laptop"], [390, 844, "phone"], [1920, 1080, "wall"]]) {
        const page = await newPage(w, hgt);
        await signIn(page, tokens.coordinator, `/meetings?lang=${lang}`);
        await page.waitForSelector(`#meetings-list li[data-id="${meeting.id}"]`, { timeout: 5000 });
        await page.click(`#meetings-list li[data-id="${meeting.id}"] .meeting-link`);
        await page.waitForSelector(`#actions tr[data-id="${late.id}"] .overdue`, { timeout: 3000 });
        const dir = await page.evaluate(() => document.documentElement.dir);
        if (dir !== (lang === "ar" ? "rtl" : "ltr")) throw new Error(`dir ${dir}`);
        const out = await overflowing(page);
        if (out.length) throw new Error(`${name}: sticks out: ${out.join(", ")}`);
        await sleep(200);
        await shot(page, `meetings-${name}-${lang}`);
        await page.context().close();
      }
    });
  }
}
