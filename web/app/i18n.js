// Translations (web/i18n/*.json) and formatting for the chosen language. The language is a
// preference kept in localStorage; Arabic lays the page out right-to-left.

const listeners = [];
let dict = {};
let lang = "en";

export const LANGS = ["en", "ar"];

export function language() {
  return lang;
}

/** The locale for Intl: Iraqi Arabic or British English (24-hour clock, day-month order). */
export function locale() {
  return lang === "ar" ? "ar-IQ" : "en-GB";
}

export async function initI18n() {
  // `?lang=ar` in the URL wins (a wall display has no one to click the switch).
  const asked = new URLSearchParams(location.search).get("lang");
  const saved = LANGS.includes(asked) ? asked : localStorage.getItem("cmcop.lang");
  const wanted = LANGS.includes(saved) ? saved : (navigator.language || "").startsWith("ar") ? "ar" : "en";
  await load(wanted);
}

export async function setLanguage(next) {
  localStorage.setItem("cmcop.lang", next);
  await load(next);
}

async function load(next) {
  const resp = await fetch(new URL(`../i18n/${next}.json`, import.meta.url));
  dict = await resp.json();
  lang = next;
  document.documentElement.lang = next;
  document.documentElement.dir = next === "ar" ? "rtl" : "ltr";
  translateDom();
  for (const f of listeners) f();
}

export function onLanguageChange(f) {
  listeners.push(f);
}

/** The text for `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  let s = dict[key];
  if (s === undefined) s = key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, v);
  return s;
}

/** True when the language's file has `key`. */
export function has(key) {
  return dict[key] !== undefined;
}

/**
 * A server-made message (src/message.rs: a key and its parameters) in the language, or null
 * when this file does not know the key (the caller shows the server's English then). Names
 * and ids are isolated (U+2068…U+2069), so a Latin name in an Arabic sentence keeps its order.
 */
export function message(key, params) {
  if (!key || !has(key)) return null;
  const vars = {};
  for (const [name, v] of Object.entries(params || {})) vars[name] = messageParam(v);
  return t(key, vars);
}

function messageParam(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return fmtNumber(v, { maximumFractionDigits: 1 });
  if (typeof v === "string") return `\u2068${v}\u2069`;
  if (v.term !== undefined) return term(v.term);
  if (v.time !== undefined) return fmtDateTimeZone(v.time);
  if (v.key !== undefined) return message(v.key, v.params) ?? "";
  return "";
}

/** A vocabulary value (a status, a kind...), translated when the file knows it. */
export function term(value) {
  if (value === null || value === undefined || value === "") return "";
  const key = "term." + value;
  return dict[key] === undefined ? String(value).replaceAll("_", " ") : dict[key];
}

export function translateDom(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = t(title.dataset.i18n);
}

export function fmtNumber(n, opts) {
  if (n === null || n === undefined || n === "") return "";
  return new Intl.NumberFormat(locale(), opts).format(n);
}

/** A time as date and time in `timeZone` (default: the browser's). */
export function fmtDateTime(value, timeZone) {
  if (!value) return "";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), {
    dateStyle: "short",
    timeStyle: "short",
    hourCycle: "h23",
    timeZone,
  }).format(d);
}

/** A time as date, time and its zone ("07/12/2026, 09:14 GMT+3"): never ambiguous on a row. */
export function fmtDateTimeZone(value, timeZone) {
  if (!value) return "";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
    timeZone,
  }).format(d);
}

export function fmtClock(d, timeZone) {
  return new Intl.DateTimeFormat(locale(), {
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZone,
  }).format(d);
}

export function fmtDate(d, timeZone) {
  return new Intl.DateTimeFormat(locale(), { weekday: "short", day: "numeric", month: "short", timeZone }).format(d);
}

/** An age in seconds as "42 s", "5 min", "3 h" in the language. */
export function fmtAge(seconds) {
  const unit = seconds < 120 ? "second" : seconds < 7200 ? "minute" : seconds < 172800 ? "hour" : "day";
  const div = { second: 1, minute: 60, hour: 3600, day: 86400 }[unit];
  return new Intl.NumberFormat(locale(), { style: "unit", unit, unitDisplay: "short", maximumFractionDigits: 0 }).format(
    Math.floor(seconds / div),
  );
}

/** Wires a button that switches between the two languages. */
export function languageButton(button) {
  const label = () => {
    button.textContent = lang === "ar" ? "English" : "العربية";
    button.lang = lang === "ar" ? "en" : "ar";
  };
  button.addEventListener("click", () => setLanguage(lang === "ar" ? "en" : "ar"));
  onLanguageChange(label);
  label();
}
