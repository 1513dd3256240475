// The WebSocket client: one socket per tab, authenticated by the session
// cookie. It reconnects with exponential backoff and jitter, sends `sync`
// with the caller's cursors after every (re)connect, drops message.new
// frames whose id it already has, and keeps unacknowledged sends in an
// outbox that is resent with the same client_msg_id after a reconnect (the
// server stores a client_msg_id once, so nothing is stored twice).

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
    this.outbox = new Map(); // client_msg_id -> frame, until its `stored` ack
    this.seen = new Set(); // message ids already delivered to the app
    this.syncRound = 0;
    this.retryAt = 0;
    this.limits = null; // from hello
    this.due = new Map(); // client_msg_id -> when it may be (re)sent; absent while its answer is awaited
    this.tries = new Map(); // client_msg_id -> `unavailable` answers in a row
    this.tokens = null; // the send bucket (null: full)
    this.tokensAt = 0;
    this.pumpTimer = null;
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

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // A message.send frame: kept until its `stored` ack, resent after reconnects.
  sendMessage(frame) {
    this.outbox.set(frame.client_msg_id, frame);
    this.due.set(frame.client_msg_id, 0);
    this.pump();
  }

  // The message is stored (or given up): nothing more to send for it. If it
  // was waiting for a retry, the ones behind it need not wait any longer.
  forget(cmid) {
    this.outbox.delete(cmid);
    this.tries.delete(cmid);
    if (this.due.delete(cmid)) this.pump();
  }

  // Sends what is due, in the order it was written, within the message limit
  // that hello announced (a token bucket like the server's): a tab never sends
  // faster than it may, so its messages are not refused and then overtaken by
  // the next one. A message refused anyway (the user's other tabs share the
  // limit, or the broker is away) holds the ones after it until its retry.
  pump() {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.ready) return; // hello pumps again
    // A little under the limit: the server's clock sees our frames a little
    // bunched up or spread out by the network.
    const rate = ((this.limits && this.limits.messages_per_s) || 10) * 0.9;
    const burst = (this.limits && this.limits.messages_burst) || 60;
    for (const [cmid, frame] of this.outbox) {
      if (!this.due.has(cmid)) continue; // sent, waiting for its answer
      const now = Date.now();
      this.tokens = this.tokens === null ? burst : Math.min(burst, this.tokens + ((now - this.tokensAt) / 1000) * rate);
      this.tokensAt = now;
      const wait = Math.max(this.due.get(cmid) - now, this.tokens >= 1 ? 0 : ((1 - this.tokens) / rate) * 1000);
      if (wait > 0) {
        this.pumpTimer = setTimeout(() => this.pump(), wait);
        return;
      }
      if (!this.send(frame)) return;
      this.tokens -= 1;
      this.due.delete(cmid);
    }
  }

  // Refused for a passing reason: send it again after retry_after. A
  // `rate_limited` also says the server's bucket is empty, so ours is too.
  // `unavailable` again and again backs off (doubling up to a minute): the
  // outbox keeps the message through an outage, without knocking every second.
  scheduleResend(cmid, afterS, { limited = false } = {}) {
    let wait = afterS;
    if (limited) {
      this.tokens = 0;
      this.tokensAt = Date.now();
    } else {
      const tries = (this.tries.get(cmid) || 0) + 1;
      this.tries.set(cmid, tries);
      wait = Math.max(afterS, Math.min(60, 0.5 * 2 ** (tries - 1)));
    }
    this.due.set(cmid, Date.now() + wait * 1000);
    this.pump();
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
        this.limits = frame.limits || null;
        this.startHeartbeat();
        this.emit("status", { state: "online" });
        this.emit("hello", frame);
        this.sync();
        // Messages never acked as stored: same client_msg_id, so the server
        // answers a stored one with its acks and stores the rest once.
        for (const cmid of this.outbox.keys()) this.due.set(cmid, 0);
        this.tries.clear();
        this.pump();
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
            this.scheduleResend(frame.ref, frame.retry_after || 2, { limited: frame.code === "rate_limited" });
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
