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
    window.addEventListener("online", () => this.reconnectNow());
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
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      this.lastFrameAt = Date.now();
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
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
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

  startHeartbeat() {
    this.stopHeartbeat();
    const every = Math.max(5, this.heartbeatS) * 1000;
    this.heartbeat = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastFrameAt > every * 2.5) {
        // Nothing heard for too long (a dead network path): start over.
        const dead = this.ws;
        this.ws = null;
        this.ready = false;
        dead.onclose = null;
        dead.close();
        this.stopHeartbeat();
        this.scheduleReconnect(null);
        return;
      }
      this.send({ type: "ping" });
    }, every);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
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
