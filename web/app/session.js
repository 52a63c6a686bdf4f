// The signed-in session: the token lives in this tab's sessionStorage only (never in a URL,
// never in localStorage), and every API call carries it as a bearer token.

const KEY = "cmcop.token";

export function token() {
  return sessionStorage.getItem(KEY);
}

export function signIn(secret) {
  sessionStorage.setItem(KEY, secret.trim());
}

export function signOut() {
  sessionStorage.removeItem(KEY);
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
    if (location.pathname !== "/") requireSession();
  }
  if (!resp.ok) throw new ApiFailure(resp.status, data);
  return data;
}

/** Who the token belongs to: `{role, org, name}`. */
export function whoami() {
  return api("/web/session");
}
