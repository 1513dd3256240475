// The outbox: message.send frames kept by client_msg_id until their `stored`
// ack, sent in the order written through a token bucket that mirrors the
// limits `hello` announced, sent again with the same client_msg_id after
// every reconnect (the server stores a client_msg_id once) and, after a
// `rate_limited` or `unavailable` refusal, when retry_after has passed.

export class Outbox {
  // `link.open()`: whether frames can go now; `link.send(frame)`: sends one,
  // false if it could not.
  constructor(link) {
    this.link = link;
    this.frames = new Map(); // client_msg_id -> frame, until its `stored` ack
    this.limits = null; // from hello
    this.due = new Map(); // client_msg_id -> when it may be (re)sent; absent while its answer is awaited
    this.tries = new Map(); // client_msg_id -> `unavailable` answers in a row
    this.tokens = null; // the send bucket (null: full)
    this.tokensAt = 0;
    this.pumpTimer = null;
  }

  has(cmid) {
    return this.frames.has(cmid);
  }

  add(frame) {
    this.frames.set(frame.client_msg_id, frame);
    this.due.set(frame.client_msg_id, 0);
    this.pump();
  }

  // The message is stored (or given up): nothing more to send for it. If it
  // was waiting for a retry, the ones behind it need not wait any longer.
  forget(cmid) {
    this.frames.delete(cmid);
    this.tries.delete(cmid);
    if (this.due.delete(cmid)) this.pump();
  }

  // A new connection: messages never acked as stored go again (same
  // client_msg_id, so the server answers a stored one with its acks and
  // stores the rest once).
  resendAll() {
    for (const cmid of this.frames.keys()) this.due.set(cmid, 0);
    this.tries.clear();
    this.pump();
  }

  // Sends what is due, in the order it was written, within the message limit
  // that hello announced (a token bucket like the server's): a tab never sends
  // faster than it may, so its messages are not refused and then overtaken by
  // the next one. A message refused anyway (the user's other tabs share the
  // limit, or the broker is away) holds the ones after it until its retry.
  pump() {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = null;
    if (!this.link.open()) return; // hello pumps again
    // A little under the limit: the server's clock sees our frames a little
    // bunched up or spread out by the network.
    const rate = ((this.limits && this.limits.messages_per_s) || 10) * 0.9;
    const burst = (this.limits && this.limits.messages_burst) || 60;
    for (const [cmid, frame] of this.frames) {
      if (!this.due.has(cmid)) continue; // sent, waiting for its answer
      const now = Date.now();
      this.tokens = this.tokens === null ? burst : Math.min(burst, this.tokens + ((now - this.tokensAt) / 1000) * rate);
      this.tokensAt = now;
      const wait = Math.max(this.due.get(cmid) - now, this.tokens >= 1 ? 0 : ((1 - this.tokens) / rate) * 1000);
      if (wait > 0) {
        this.pumpTimer = setTimeout(() => this.pump(), wait);
        return;
      }
      if (!this.link.send(frame)) return;
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
}
