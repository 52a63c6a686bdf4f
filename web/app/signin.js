// The sign-in page: checks a pasted token against the server, keeps it for this tab, then goes
// on to the page the user came from or offers the pages.

import { signIn, signOut, token, whoami } from "./session.js";
import { initI18n, languageButton, onLanguageChange, t, term } from "./i18n.js";

await initI18n();
languageButton(document.getElementById("lang"));

const form = document.getElementById("signin-form");
const error = document.getElementById("signin-error");
const next = new URLSearchParams(location.search).get("next");

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
    error.textContent = t("signin.bad");
    error.dataset.key = "signin.bad";
    error.hidden = false;
  }
});

onLanguageChange(() => {
  if (error.dataset.key) error.textContent = t(error.dataset.key);
});

document.getElementById("signout").addEventListener("click", () => signOut());

if (token()) await showSignedIn();
