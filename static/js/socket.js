// The WebSocket client: one socket per tab, authenticated by the session
// cookie. It reconnects with exponential backoff and jitter, sends `sync`
// with the caller's cursors after every (re)connect, drops message.new
// frames whose id it already has, and keeps unacknowledged sends in an
// outbox (outbox.js) that is resent with the same client_msg_id after a
// reconnect (the server stores a client_msg_id once, so nothing is stored
// twice).

import { Outbox } from "./outbox.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30000;
// A lost network is noticed within seconds, not after 2.5 heartbeats: a
// `ping` goes every PROBE_EVERY_MS (and right after a message is sent), and
// a socket that answers nothing within PONG_TIMEOUT_MS is taken for dead.
const PROBE_EVERY_MS = 10000;
const PONG_TIMEOUT_MS = 5000;
// While the browser says it is offline, connecting is tried only this often
// (its `online` event reconnects at once).
const OFFLINE_RETRY_MS = 30000;
// A socket not greeted by `hello` within this is given up and tried again.
const CONNECT_TIMEOUT_MS = 15000;

export class ChatSocket extends EventTarget {
  constructor({ url, cursors }) {
    super();
    this.url = url;
    this.cursors = cursors; // () => {conversation id: last seq the client has}
    this.ws = null;
    this.ready = false; // hello received
    this.attempt = 0;
    this.timer = null;
    this.heartbeat = null;
    this.heartbeatS = 25;
    this.lastFrameAt = 0;
    this.stopped = false;
    this.outbox = new Outbox({ open: () => this.open(), send: (frame) => this.send(frame) });
    this.seen = new Set(); // message ids already delivered to the app
    this.syncRound = 0;
    this.retryAt = 0;
    this.probeTimer = null; // set while a ping (or a send) awaits any answer
    window.addEventListener("online", () => this.reconnectNow());
    // The browser knows first: no need to wait for a missed pong.
    window.addEventListener("offline", () => this.lost());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.stopHeartbeat();
    if (this.ws) this.ws.close(1000);
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.emit("status", { state: "connecting" });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(null);
      return;
    }
    this.ws = ws;
    // A dead network path can leave a new socket connecting for minutes.
    setTimeout(() => {
      if (ws === this.ws && !this.ready) this.lost();
    }, CONNECT_TIMEOUT_MS);
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastFrameAt = Date.now();
      this.answered();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch (err) {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.ready = false;
      this.stopHeartbeat();
      this.onClosed(event.code);
    };
    ws.onerror = () => {};
  }

  onClosed(code) {
    if (this.stopped) return;
    if (code === 4401 || code === 4403) this.stopped = true; // no reconnecting: signed out
    if (code === 4401) {
      this.emit("status", { state: "signedout", code });
      this.emit("signedout", { code });
      return;
    }
    if (code === 4403) {
      this.emit("status", { state: "disabled", code });
      this.emit("signedout", { code });
      return;
    }
    this.scheduleReconnect(code);
  }

  scheduleReconnect(code) {
    if (this.stopped || this.timer) return;
    // Full jitter on an exponential ceiling: a server restart does not bring
    // every client back in the same instant. A flood close waits longer.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.attempt) * (code === 4429 ? 4 : 1);
    let delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    if (navigator.onLine === false) delay = Math.max(delay, OFFLINE_RETRY_MS);
    this.attempt += 1;
    this.retryAt = Date.now() + delay;
    this.emit("status", { state: "offline", code, retryAt: this.retryAt, attempt: this.attempt });
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
  }

  reconnectNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.connect();
  }

  // For tests and for a stuck connection: drop the socket and reconnect.
  drop() {
    if (this.ws) this.ws.close(4000);
  }

  // The connection is gone (the browser went offline, a ping or a send got
  // no answer): drop the socket without waiting for its close, say so at
  // once, and reconnect (sync and the outbox's resend follow the hello).
  lost() {
    if (this.stopped) return;
    const dead = this.ws;
    this.ws = null;
    this.ready = false;
    this.stopHeartbeat();
    if (dead) {
      dead.onclose = null;
      dead.onmessage = null;
      try {
        dead.close();
      } catch (err) {
        // already closing
      }
    }
    if (!this.timer) this.scheduleReconnect(null);
  }

  // Sends a ping unless one is awaited: the socket must answer something
  // (its pong, an ack, any frame) within PONG_TIMEOUT_MS.
  probe() {
    if (this.probeTimer || !this.open()) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      this.lost();
    }, PONG_TIMEOUT_MS);
    this.send({ type: "ping" });
  }

  // A frame came: the socket is alive.
  answered() {
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
  }

  startHeartbeat() {
    this.stopHeartbeat();
    const every = Math.min(PROBE_EVERY_MS, Math.max(5, this.heartbeatS) * 1000);
    this.heartbeat = setInterval(() => {
      if (!this.ws) return;
      this.probe();
    }, every);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
    this.answered();
  }

  // Connected and greeted: frames may go.
  open() {
    return Boolean(this.ws && this.ws.readyState === WebSocket.OPEN && this.ready);
  }

  send(frame) {
    if (!this.open()) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // A message.send frame: kept until its `stored` ack, resent after reconnects.
  sendMessage(frame) {
    this.outbox.add(frame);
    // Its ack (or the pong) must come within seconds, or the network is gone.
    this.probe();
  }

  // The message is stored (or given up): nothing more to send for it.
  forget(cmid) {
    this.outbox.forget(cmid);
  }

  sync() {
    this.syncRound += 1;
    this.send({ type: "sync", cursors: this.cursors(), ref: `sync-${this.syncRound}` });
  }

  onFrame(frame) {
    switch (frame.type) {
      case "hello":
        this.ready = true;
        this.attempt = 0;
        this.heartbeatS = frame.heartbeat_s || 25;
        this.outbox.limits = frame.limits || null;
        this.startHeartbeat();
        this.emit("status", { state: "online" });
        this.emit("hello", frame);
        this.sync();
        this.outbox.resendAll();
        return;
      case "pong":
        return;
      case "sync.done":
        if (frame.more) this.sync();
        else this.emit("synced", frame);
        this.emit("frame", frame);
        return;
      case "message.new":
        if (frame.message && this.seen.has(frame.message.id)) return;
        if (frame.message) this.seen.add(frame.message.id);
        this.emit("frame", frame);
        return;
      case "message.ack":
        if (frame.status === "stored") {
          this.forget(frame.client_msg_id);
          if (frame.message) this.seen.add(frame.message.id);
        }
        this.emit("frame", frame);
        return;
      case "error":
        if (frame.ref && this.outbox.has(frame.ref)) {
          if (frame.code === "rate_limited" || frame.code === "unavailable") {
            this.outbox.scheduleResend(frame.ref, frame.retry_after || 2, { limited: frame.code === "rate_limited" });
            return;
          }
          this.forget(frame.ref);
        }
        this.emit("frame", frame);
        return;
      default:
        this.emit("frame", frame);
    }
  }
}
