// The live picture over the WebSocket: a one-use ticket (POST /api/v1/ws/ticket) opens
// /api/v1/ws?ticket=..., so the long-lived token never appears in a URL. The feed keeps the
// features the server sent, by id, and the highest `seq` applied; after a disconnect it
// reconnects by itself and resumes with `since`, so nothing is lost or applied twice.
//
// Silence is a failure too: a socket can stay open with nothing coming through (a dead NAT
// entry, a proxy holding the connection, a server that stopped answering). The server pings at
// the WebSocket level every `hub.ping_seconds` (20 s), which a page cannot see, so the feed asks
// for a `pong` every PING_MS; a socket that has said nothing for SILENT_MS (two pongs missed) is
// closed and a new one opened at once, resuming with `since`. `state()` is the one answer every
// page shows: "live" only when the socket is open and was heard from recently.

import { api } from "./session.js";

/** How often the client asks for a `pong`. */
const PING_MS = 10000;
/** Nothing heard for this long: the socket is no longer trusted as live (one pong missed). */
const QUIET_MS = 15000;
/** Nothing heard for this long: the socket is closed and a new one opened (two pongs missed). */
const SILENT_MS = 20000;
/** How often the watchdog looks at the socket. */
const WATCH_MS = 1000;
/** A feed not live for longer than this counts as stopped (the pages' loud warning). */
const DOWN_MS = 4000;

export class LiveFeed {
  /**
   * @param {{layers?: string[], onChange?: Function, onStatus?: Function}} options
   */
  constructor({ layers, onChange, onStatus } = {}) {
    this.layers = layers;
    this.onChange = onChange || (() => {});
    this.onStatus = onStatus || (() => {});
    this.features = new Map();
    /** A snapshot whose parts are still arriving: `{seq, features}`, or null. */
    this.incoming = null;
    /** Alerts as they arrive (issue #4 defines them), newest first, at most 200. */
    this.alerts = [];
    this.seq = null;
    this.ws = null;
    this.connected = false;
    this.downSince = Date.now();
    this.lastHeardAt = 0;
    this.lastChangeAt = 0;
    this.retryMs = 500;
    this.pending = false;
  }

  start() {
    this.connect();
    setInterval(() => this.ping(), PING_MS);
    setInterval(() => this.watch(), WATCH_MS);
    return this;
  }

  /** True when the socket is open and was heard from within QUIET_MS. */
  live(now = Date.now()) {
    return this.connected && now - this.lastHeardAt <= QUIET_MS;
  }

  /**
   * What the pages show: "live", "reconnecting" (not live, for less than DOWN_MS) or
   * "stopped" (not live for longer: the picture on screen may be out of date).
   */
  state(now = Date.now()) {
    if (this.live(now)) return "live";
    const since = this.connected ? this.lastHeardAt + QUIET_MS : this.downSince;
    return now - since > DOWN_MS ? "stopped" : "reconnecting";
  }

  /** When the feed was last known good: the start of the outage `state()` reports. */
  lostAt() {
    return this.connected ? this.lastHeardAt : this.downSince;
  }

  /** True when the feed is down or silent: the picture on screen may be out of date. */
  stopped(now = Date.now()) {
    return this.state(now) === "stopped";
  }

  /** Closes a socket that has been silent for SILENT_MS and opens a new one at once. */
  watch(now = Date.now()) {
    if (this.ws && this.connected && now - this.lastHeardAt > SILENT_MS) {
      const ws = this.ws;
      // Forget it first: its close event (which may come late, or never, on a dead
      // connection) must not start a second reconnection.
      this.ws = null;
      this.connected = false;
      this.downSince = this.lastHeardAt;
      this.silentCloses = (this.silentCloses || 0) + 1;
      try {
        ws.close(4000, "silent");
      } catch {
        // closing a broken socket may throw; it is forgotten either way
      }
      this.onStatus(this);
      this.retryMs = 500;
      this.connect();
    }
    this.onStatus(this);
  }

  async connect() {
    let ticket;
    try {
      ticket = (await api("/api/v1/ws/ticket", { method: "POST" })).ticket;
    } catch (e) {
      this.retry();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/ws?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    this.incoming = null;
    ws.onopen = () => {
      if (this.ws !== ws) {
        ws.close();
        return;
      }
      this.connected = true;
      this.retryMs = 500;
      this.lastHeardAt = Date.now();
      const sub = { type: "subscribe" };
      if (this.layers) sub.layers = this.layers;
      if (this.seq !== null) sub.since = this.seq;
      ws.send(JSON.stringify(sub));
      this.onStatus(this);
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastHeardAt = Date.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (this.apply(msg)) {
        this.lastChangeAt = Date.now();
        this.changed();
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.connected) this.downSince = Date.now();
      this.connected = false;
      this.onStatus(this);
      this.retry();
    };
  }

  retry() {
    const wait = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 8000);
    setTimeout(() => this.connect(), wait);
  }

  ping() {
    if (this.ws && this.connected) this.ws.send(JSON.stringify({ type: "ping" }));
    this.onStatus(this);
  }

  /** Applies one server message; true when the picture changed. */
  apply(msg) {
    return applyMessage(this, msg);
  }

  /** Coalesces change notifications into one per 50 ms. */
  changed() {
    if (this.pending) return;
    this.pending = true;
    setTimeout(() => {
      this.pending = false;
      this.onChange(this);
    }, 50);
  }

  /** The features of one layer. */
  layer(name) {
    return [...this.features.values()].filter((f) => f.properties.layer === name);
  }
}

/**
 * Applies one server message to a picture holder (`features`, `incoming`, `alerts`, `seq`):
 * the live feed's, or the time slider's replay (app/timeline.js). True when the picture changed.
 */
export function applyMessage(feed, msg) {
  switch (msg.type) {
    case "snapshot": {
      // A snapshot comes in parts (`part` 0, 1, ...; the final one has `last: true`; one
      // without `last` is whole). The picture is replaced only once every part is in, and
      // `seq` moves only then, so a reconnect in the middle asks for the snapshot again.
      if (!msg.part || !feed.incoming || feed.incoming.seq !== msg.seq) {
        feed.incoming = { seq: msg.seq, features: new Map() };
      }
      for (const f of msg.features) feed.incoming.features.set(f.id, f);
      if (msg.last === false) return false;
      feed.features = feed.incoming.features;
      feed.incoming = null;
      feed.seq = msg.seq;
      return true;
    }
    case "upsert":
      feed.features.set(msg.feature.id, msg.feature);
      feed.seq = msg.seq;
      return true;
    case "remove":
      feed.features.delete(msg.id);
      feed.seq = msg.seq;
      return true;
    case "batch": {
      let any = false;
      for (const m of msg.messages) any = applyMessage(feed, m) || any;
      return any;
    }
    case "alert":
      feed.alerts.unshift({ ...msg.alert, seq: msg.seq, received_at: new Date().toISOString() });
      feed.alerts.length = Math.min(feed.alerts.length, 200);
      feed.seq = msg.seq;
      return true;
    case "error":
      console.warn("feed:", msg.code, msg.message);
      return false;
    default:
      return false;
  }
}
