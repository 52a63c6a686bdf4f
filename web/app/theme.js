// The pages' themes: "dark" (the default, high contrast), "day" (light, for a bright room) and
// "night" (dimmed, for a darkened operations room at night). `?theme=` in the URL wins (a wall
// has no one to click); otherwise the choice kept in localStorage.

import { onLanguageChange, t } from "./i18n.js";

export const THEMES = ["dark", "day", "night"];
const KEY = "cmcop.theme";

function apply(theme) {
  document.documentElement.dataset.theme = theme;
}

export function theme() {
  return document.documentElement.dataset.theme || "dark";
}

/** Sets the theme from the URL or the kept choice; call before the page draws. */
export function initTheme() {
  const asked = new URLSearchParams(location.search).get("theme");
  const kept = localStorage.getItem(KEY);
  apply(THEMES.includes(asked) ? asked : THEMES.includes(kept) ? kept : "dark");
}

/** Wires a button that cycles dark → day → night, keeping the choice. */
export function themeButton(button) {
  const label = () => {
    button.textContent = t("theme." + theme());
    button.title = t("theme.switch");
    button.setAttribute("aria-label", `${t("theme.switch")}: ${t("theme." + theme())}`);
  };
  button.addEventListener("click", () => {
    const next = THEMES[(THEMES.indexOf(theme()) + 1) % THEMES.length];
    localStorage.setItem(KEY, next);
    apply(next);
    label();
  });
  onLanguageChange(label);
  label();
}
