// The sign-in page: checks a pasted token against the server, keeps it for this tab, then goes
// on to the page the user came from or offers the pages.

import { enrolDevice, signIn, signOut, token, whoami } from "./session.js";
import { initI18n, languageButton, onLanguageChange, t, term } from "./i18n.js";

await initI18n();
languageButton(document.getElementById("lang"));

const form = document.getElementById("signin-form");
const error = document.getElementById("signin-error");
const query = new URLSearchParams(location.search);
const next = query.get("next");

/** Shows a message by its key, worded again when the language changes. */
function say(key) {
  error.textContent = t(key);
  error.dataset.key = key;
  error.hidden = false;
}

async function showSignedIn() {
  try {
    const me = await whoami();
    form.hidden = true;
    document.getElementById("signed-in").hidden = false;
    const who = () => (document.getElementById("who").textContent = t("signin.as", { role: term(me.role), org: me.org, name: me.name }));
    who();
    // Worded again when the language changes (it stayed English after switching).
    onLanguageChange(who);
    if (next && next.startsWith("/") && !next.startsWith("//")) location.replace(next);
    return true;
  } catch {
    return false;
  }
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  error.hidden = true;
  signIn(document.getElementById("token").value);
  document.getElementById("token").value = "";
  if (!(await showSignedIn())) {
    sessionStorage.clear();
    say("signin.bad");
  }
});

// A kiosk's enrolment link (`cmcop token create --kiosk`): `/#enrol=SECRET`. The secret is in
// the fragment, which no request carries; it is taken out of the address bar and history at
// once, traded for the device's own token, and the device goes to the wall.
async function enrolFromLink() {
  const m = location.hash.match(/^#enrol=(cmcop_[A-Za-z0-9_-]+)$/);
  if (!m) return false;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    await enrolDevice(m[1]);
  } catch (e) {
    say(e.status === 403 ? "signin.enrol_refused" : "signin.enrol_failed");
    return true;
  }
  location.replace(next && next.startsWith("/") && !next.startsWith("//") ? next : "/wall");
  return true;
}

onLanguageChange(() => {
  if (error.dataset.key) error.textContent = t(error.dataset.key);
});

document.getElementById("signout").addEventListener("click", () => signOut());

if (query.get("device") === "revoked") say("signin.device_revoked");
if (!(await enrolFromLink()) && token()) await showSignedIn();
