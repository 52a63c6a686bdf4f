// The signed-in session: the token lives in this tab's sessionStorage only (never in a URL,
// never in localStorage), and every API call carries it as a bearer token.

const KEY = "cmcop.token";
/** The last answer of `/web/session`, so a page opened without a network still knows its user. */
const WHO = "cmcop.who";

// Offline after the first visit: the service worker (/sw.js) keeps the page shells and this
// build's assets. Browsers allow service workers on HTTPS and on localhost only; elsewhere the
// pages work as before, online.
if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js").catch((e) => console.warn("service worker:", e.message));
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(secret) {
  sessionStorage.setItem(KEY, secret.trim());
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  sessionStorage.removeItem(WHO);
  location.assign("/");
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
  if (resp.status === 401) {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(WHO);
    if (location.pathname !== "/") requireSession();
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
    sessionStorage.setItem(WHO, JSON.stringify(me));
    return me;
  } catch (e) {
    const kept = sessionStorage.getItem(WHO);
    if (e instanceof ApiFailure || !kept) throw e;
    return { ...JSON.parse(kept), offline: true };
  }
}
