// The time slider of the wall and the board (issue 15): any moment of the last 30 days, shown
// as the server rebuilds it (`GET /api/v1/picture?at=`), or played forward from there over a
// WebSocket replay (`{"type": "replay"}`, proto/WEBSOCKET.md) at a few speeds. While it shows
// the past the page says so loudly (a banner with the moment, in the reader's time zone and
// language) and acts on nothing; "Back to live" returns to the live feed, which never stopped
// (it runs on its own socket all along), so live resumes exactly where it is.
//
// The page asks `active()` which picture to draw: this one's (`features`, `alerts`, `layer()`)
// while it shows the past, the live feed's otherwise; `onShow` is called whenever that changes.

import { api } from "./session.js";
import { fmtDateTimeZone, onLanguageChange, t } from "./i18n.js";
import { applyMessage } from "./live.js";

/** How far back the slider reaches (the server replays the last 30 days). */
const WINDOW_S = 30 * 86400;
/** The earliest moment offered is this much inside the window, so it is still inside when asked. */
const MARGIN_S = 120;
/** Replay speeds offered: replayed seconds per second. */
export const SPEEDS = [60, 600, 3600, 86400];

export class Timeline {
  /**
   * @param {HTMLElement} el  the container (empty); the controls are built into it
   * @param {{onShow: Function}} options
   */
  constructor(el, { onShow }) {
    this.el = el;
    this.onShow = onShow || (() => {});
    /** The moment shown (a Date), or null while live. */
    this.at = null;
    this.features = new Map();
    this.incoming = null;
    this.alerts = [];
    this.seq = null;
    /** The replay socket while playing or paused, else null. */
    this.ws = null;
    /** "idle" (a still moment), "loading", "playing", "paused", "ended". */
    this.state = "idle";
    this.speed = SPEEDS[1];
    this.error = "";
    this.request = 0;
    this.build();
    onLanguageChange(() => this.labels());
    this.labels();
    // The window moves with the clock: keep the slider's ends true.
    setInterval(() => this.render(), 30000);
  }

  build() {
    this.el.classList.add("timeline");
    this.el.innerHTML = `
      <div class="timeline-banner" id="past-banner" role="status" aria-live="polite" hidden>
        <strong class="timeline-not-live"></strong>
        <span class="timeline-when"></span>
        <span class="timeline-note"></span>
      </div>
      <div class="timeline-controls">
        <span class="timeline-label" id="tl-label"></span>
        <input type="range" id="tl-slider" class="timeline-slider" min="${MARGIN_S}" max="${WINDOW_S}" step="1" value="${WINDOW_S}">
        <button type="button" id="tl-play" class="secondary timeline-play"></button>
        <select id="tl-speed" class="timeline-speed"></select>
        <button type="button" id="tl-live" class="timeline-live"></button>
      </div>`;
    this.slider = this.el.querySelector("#tl-slider");
    this.playButton = this.el.querySelector("#tl-play");
    this.speedSelect = this.el.querySelector("#tl-speed");
    this.liveButton = this.el.querySelector("#tl-live");
    this.banner = this.el.querySelector("#past-banner");
    this.slider.setAttribute("aria-labelledby", "tl-label");
    this.slider.addEventListener("input", () => this.renderLabel(this.sliderTime()));
    this.slider.addEventListener("change", () => this.picked());
    // Arrows move a minute, Page Up/Down an hour (a second per key press would be useless).
    this.slider.addEventListener("keydown", (e) => {
      const rtl = document.documentElement.dir === "rtl";
      const steps = { ArrowUp: 60, ArrowDown: -60, PageUp: 3600, PageDown: -3600, ArrowRight: rtl ? -60 : 60, ArrowLeft: rtl ? 60 : -60 };
      if (!(e.key in steps)) return;
      e.preventDefault();
      this.slider.value = String(Number(this.slider.value) + steps[e.key]);
      this.renderLabel(this.sliderTime());
      clearTimeout(this.keyTimer);
      this.keyTimer = setTimeout(() => this.picked(), 400);
    });
    this.playButton.addEventListener("click", () => this.togglePlay());
    this.speedSelect.addEventListener("change", () => {
      this.speed = Number(this.speedSelect.value);
      if (this.ws && this.state === "playing") this.send({ type: "play", speed: this.speed });
    });
    this.liveButton.addEventListener("click", () => this.backToLive());
  }

  labels() {
    this.el.setAttribute("aria-label", t("timeline.title"));
    this.liveButton.textContent = t("timeline.back_to_live");
    this.speedSelect.setAttribute("aria-label", t("timeline.speed"));
    this.speedSelect.replaceChildren(...SPEEDS.map((s) => new Option(t(`timeline.speed_${s}`), String(s))));
    this.speedSelect.value = String(this.speed);
    this.render();
  }

  /** True while the page shows the past. */
  active() {
    return this.at !== null;
  }

  /** The features of one layer, as the live feed's `layer()`. */
  layer(name) {
    return [...this.features.values()].filter((f) => f.properties.layer === name);
  }

  /** The window's start (a slider value of 0), in ms. */
  anchor() {
    return Date.now() - WINDOW_S * 1000;
  }

  sliderTime() {
    const v = Number(this.slider.value);
    return v >= WINDOW_S ? null : new Date(this.anchor() + v * 1000);
  }

  /** Shows `at` (a Date) without playing: the server's picture as it was then. */
  async show(at) {
    this.closeReplay();
    this.at = at;
    this.state = "loading";
    this.error = "";
    this.render();
    const mine = ++this.request;
    try {
      const fc = await api(`/api/v1/picture?at=${encodeURIComponent(at.toISOString())}`);
      if (mine !== this.request || this.at !== at) return;
      this.features = new Map(fc.features.map((f) => [f.id, f]));
      this.alerts = [];
      this.seq = fc.seq;
      this.state = "idle";
    } catch (e) {
      if (mine !== this.request) return;
      this.features = new Map();
      this.state = "idle";
      this.error = e.message;
    }
    this.render();
    this.onShow(this);
  }

  /** The slider was let go: a past moment, or live at its end. */
  picked() {
    const at = this.sliderTime();
    if (!at) return this.backToLive();
    // While a replay runs, a moment inside it is a seek; any other restarts from there.
    if (this.ws && this.replay && at >= new Date(this.replay.from) && at <= new Date(this.replay.to)) {
      this.at = at;
      this.send({ type: "seek", at: at.toISOString() });
      this.render();
      return;
    }
    this.show(at);
  }

  togglePlay() {
    if (!this.active()) return;
    if (this.ws && this.state === "playing") {
      this.send({ type: "pause" });
    } else if (this.ws && this.state === "paused") {
      this.send({ type: "play", speed: this.speed });
    } else {
      this.play();
    }
  }

  /** Plays from the moment shown to now over a WebSocket replay. */
  async play() {
    this.closeReplay();
    const from = this.at;
    this.state = "loading";
    this.render();
    let ticket;
    try {
      ticket = (await api("/api/v1/ws/ticket", { method: "POST" })).ticket;
    } catch (e) {
      this.state = "idle";
      this.error = e.message;
      this.render();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    this.incoming = null;
    ws.onopen = () => ws.send(JSON.stringify({ type: "replay", from: from.toISOString(), speed: this.speed }));
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg.type === "replay") return this.onReplay(msg);
      if (msg.type === "error") {
        this.error = msg.message;
        if (this.state === "loading") this.state = "idle";
        this.render();
        return;
      }
      if (applyMessage(this, msg)) this.changed();
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.state !== "ended") this.state = "idle";
      this.render();
    };
  }

  /** The replay's own messages: where its clock stands, and its state. */
  onReplay(msg) {
    this.replay = msg;
    this.at = new Date(msg.at);
    if (msg.state === "started" || msg.state === "seeked") {
      this.alerts = [];
      this.state = "playing";
    } else if (msg.state === "ended") {
      this.state = "ended";
      const ws = this.ws;
      this.ws = null;
      if (ws) ws.close();
    } else {
      this.state = msg.state;
    }
    this.render();
  }

  /** Coalesces redraws of the page to one per 100 ms while a replay streams. */
  changed() {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.onShow(this);
    }, 100);
  }

  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  closeReplay() {
    const ws = this.ws;
    this.ws = null;
    this.replay = null;
    if (ws) ws.close();
  }

  backToLive() {
    this.closeReplay();
    this.request += 1;
    this.at = null;
    this.state = "idle";
    this.error = "";
    this.features = new Map();
    this.alerts = [];
    this.render();
    this.onShow(this);
  }

  renderLabel(at) {
    const label = this.el.querySelector("#tl-label");
    label.textContent = at ? fmtDateTimeZone(at) : t("timeline.live");
  }

  render() {
    const past = this.active();
    document.body.classList.toggle("showing-past", past);
    this.banner.hidden = !past;
    if (document.activeElement !== this.slider) {
      const v = past ? Math.round((this.at.getTime() - this.anchor()) / 1000) : WINDOW_S;
      this.slider.value = String(Math.max(MARGIN_S, Math.min(WINDOW_S, v)));
    }
    this.renderLabel(this.at);
    this.slider.setAttribute("aria-valuetext", past ? fmtDateTimeZone(this.at) : t("timeline.live"));
    this.liveButton.hidden = !past;
    this.playButton.disabled = !past || this.state === "loading";
    const playing = this.ws && this.state === "playing";
    this.playButton.textContent = playing ? t("timeline.pause") : t("timeline.play");
    this.playButton.setAttribute("aria-pressed", String(Boolean(playing)));
    this.el.dataset.state = past ? this.state : "live";
    if (!past) return;
    this.banner.querySelector(".timeline-not-live").textContent = t("timeline.not_live");
    const when = fmtDateTimeZone(this.at);
    const key = { loading: "timeline.loading", playing: "timeline.playing", paused: "timeline.paused", ended: "timeline.ended" }[this.state] || "timeline.as_of";
    this.banner.querySelector(".timeline-when").textContent = t(key, { time: when });
    this.banner.querySelector(".timeline-note").textContent = this.error ? t("timeline.failed", { reason: this.error }) : t("timeline.policy");
  }
}
