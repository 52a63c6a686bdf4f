// The live picture over the WebSocket: a one-use ticket (POST /api/v1/ws/ticket) opens
// /api/v1/ws?ticket=..., so the long-lived token never appears in a URL. The feed keeps the
// features the server sent, by id, and the highest `seq` applied; after a disconnect it
// reconnects by itself and resumes with `since`, so nothing is lost or applied twice.

import { api } from "./session.js";

/** How often the client asks for a `pong`, and when silence means the feed has stopped. */
const PING_MS = 10000;
const SILENT_MS = 25000;
/** A connection down for longer than this counts as a stopped feed. */
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
    return this;
  }

  /** True when the feed is down or silent: the picture on screen may be out of date. */
  stopped(now = Date.now()) {
    if (!this.connected) return now - this.downSince > DOWN_MS;
    return now - this.lastHeardAt > SILENT_MS;
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
    switch (msg.type) {
      case "snapshot": {
        // A snapshot comes in parts (`part` 0, 1, ...; the final one has `last: true`; one
        // without `last` is whole). The picture is replaced only once every part is in, and
        // `seq` moves only then, so a reconnect in the middle asks for the snapshot again.
        if (!msg.part || !this.incoming || this.incoming.seq !== msg.seq) {
          this.incoming = { seq: msg.seq, features: new Map() };
        }
        for (const f of msg.features) this.incoming.features.set(f.id, f);
        if (msg.last === false) return false;
        this.features = this.incoming.features;
        this.incoming = null;
        this.seq = msg.seq;
        return true;
      }
      case "upsert":
        this.features.set(msg.feature.id, msg.feature);
        this.seq = msg.seq;
        return true;
      case "remove":
        this.features.delete(msg.id);
        this.seq = msg.seq;
        return true;
      case "batch": {
        let any = false;
        for (const m of msg.messages) any = this.apply(m) || any;
        return any;
      }
      case "alert":
        this.alerts.unshift({ ...msg.alert, seq: msg.seq, received_at: new Date().toISOString() });
        this.alerts.length = Math.min(this.alerts.length, 200);
        this.seq = msg.seq;
        return true;
      case "error":
        console.warn("feed:", msg.code, msg.message);
        return false;
      default:
        return false;
    }
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
