// The signed-in session: a person's token lives in this tab's sessionStorage only (never in a
// URL, never in localStorage), and every API call carries it as a bearer token. A kiosk device
// (a wall PC) is the one exception: enrolled once from a one-use link, it keeps its own device
// token in localStorage, so that the wall comes back after the browser restarts; the server
// can revoke it, and a refused device token is forgotten and the page goes to sign-in.

const KEY = "cmcop.token";
/** The kiosk device's token (localStorage: it must survive a browser restart). */
const DEVICE = "cmcop.device";
/** The last answer of `/web/session`, so a page opened without a network still knows its user. */
const WHO = "cmcop.who";

// Offline after the first visit: the service worker (/sw.js) keeps the page shells and this
// build's assets. Browsers allow service workers on HTTPS and on localhost only; elsewhere the
// pages work as before, online.
if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js").catch((e) => console.warn("service worker:", e.message));
}

export function token() {
  return sessionStorage.getItem(KEY) || localStorage.getItem(DEVICE);
}

/** True when this browser is an enrolled kiosk device (and no person signed in over it). */
export function isDevice() {
  return !sessionStorage.getItem(KEY) && !!localStorage.getItem(DEVICE);
}

/**
 * Enrols this browser as a kiosk device with the secret of a one-use enrolment link; keeps the
 * device token the server gives in exchange. Returns `{role, org, name}`; throws ApiFailure.
 */
export async function enrolDevice(enrolment) {
  const resp = await fetch("/web/enrol", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ enrolment }),
    cache: "no-store",
  });
  const data = await resp.json().catch(() => null);
  if (!resp.ok || !data || !data.token) throw new ApiFailure(resp.status, data);
  sessionStorage.removeItem(KEY);
  localStorage.setItem(DEVICE, data.token);
  localStorage.setItem(WHO, JSON.stringify({ role: data.role, org: data.org, name: data.name }));
  return data;
}

export function signIn(secret) {
  sessionStorage.setItem(KEY, secret.trim());
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WHO);
  localStorage.removeItem(DEVICE);
  localStorage.removeItem(WHO);
  location.assign("/");
}

/** Set once a refusal sends the page to sign-in. */
let leaving = false;

/** A refused token is forgotten; a device's, with a word for the sign-in page. */
function forget() {
  const device = isDevice();
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WHO);
  localStorage.removeItem(DEVICE);
  localStorage.removeItem(WHO);
  return device;
}

/** Sends the user to the sign-in page (and back here afterwards) when there is no token. */
export function requireSession() {
  if (!token()) {
    const next = location.pathname + location.search;
    location.replace("/?next=" + encodeURIComponent(next));
    return false;
  }
  return true;
}

/** An error the API answered with (RFC 9457 problem details when it sent them). */
export class ApiFailure extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Calls the API with the session's token; a 401 ends the session. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, cache: "no-store" };
  const t = token();
  if (t) init.headers.Authorization = "Bearer " + t;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text };
    }
  }
  if (resp.status === 401 && !leaving) {
    // The first refusal decides (several calls may be refused at once; the later ones find
    // the token already forgotten and must not word the sign-in page differently).
    const device = forget();
    if (location.pathname !== "/") {
      leaving = true;
      const next = location.pathname + location.search;
      location.replace(`/?next=${encodeURIComponent(next)}${device ? "&device=revoked" : ""}`);
    }
  }
  if (!resp.ok) throw new ApiFailure(resp.status, data);
  return data;
}

/**
 * Who the token belongs to: `{role, org, name}`. Without a network (the server unreachable,
 * not a refusal) the answer this tab had last, marked `offline`, so the page still opens; the
 * server checks every action anyway.
 */
export async function whoami() {
  try {
    const me = await api("/web/session");
    (isDevice() ? localStorage : sessionStorage).setItem(WHO, JSON.stringify(me));
    return me;
  } catch (e) {
    const kept = (isDevice() ? localStorage : sessionStorage).getItem(WHO);
    if (e instanceof ApiFailure || !kept) throw e;
    return { ...JSON.parse(kept), offline: true };
  }
}
