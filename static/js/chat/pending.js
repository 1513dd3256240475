// This tab's messages that are not stored yet, in the open conversation: the
// composer makes them (text, maybe a reply with mentions, or a file that
// uploads first), the socket's outbox sends them, and until their own stored
// message takes their place they stand at the end of the list as
// *Uploading…*, *Sending…* or *Not sent* (with *Retry* and *Remove*). They are kept in the conversation's box
// (box().pending, by client_msg_id), so they outlive the view: a refusal
// that comes while their chat is not open is kept on them (sendRefused), and
// the chat draws them from what they are when it is shown.

import { upload } from "../api.js";
import { formatSize, h, t, tf, uuid4 } from "../dom.js";
import { box, emit, state } from "../state.js";
import { errorText, toast } from "../ui.js";
import { quoteBlock } from "./message.js";
import { dropSuggestions } from "./suggestions.js";

// Refusals of a send that last until the chat's state changes.
const LASTING = ["blocked", "not_contact", "not_member", "group_disabled"];
// An upload refused for the file itself: trying it again changes nothing.
const REFUSED_FILE = new Set(["too_large", "unsupported_media", "invalid"]);

// An `error` frame about one of this tab's sends, in whichever conversation
// (the outbox resends after a reconnect, whatever chat is open, or none):
// refused for a lasting reason (the socket retries `rate_limited` and
// `unavailable` by itself). The pending message says *Not sent* from now on;
// a refusal no retry can help is kept for its chat (state.refused), whose
// composer says so instead, now or when it opens. Returns the pending
// message and its conversation's id, or null if the frame is about none.
export function sendRefused(frame) {
  if (!frame.ref) return null;
  for (const [conversationId, b] of state.boxes) {
    const p = b.pending.get(frame.ref);
    if (!p) continue;
    p.state = "failed";
    p.error = errorText(frame);
    if (LASTING.includes(frame.code)) {
      state.refused.set(conversationId, frame.code);
      const conv = state.conversations.get(conversationId);
      if (frame.code === "blocked" && conv && conv.peer) {
        // Presence is not shared across a block: what the tab knew is stale.
        state.presence.delete(conv.peer.id);
        emit("presence", {});
      }
      emit("refused", conversationId);
    }
    return { conversationId, pending: p };
  }
  return null;
}

// Whether a message of this tab is still on its way (uploading, or sent and
// not yet stored): leaving the page now would lose it, as nothing is kept in
// the browser's storage.
export function unsentMessages() {
  for (const b of state.boxes.values()) {
    for (const p of b.pending.values()) if (p.state === "uploading" || p.state === "sending") return true;
  }
  return false;
}

// So the browser asks before the page is closed or reloaded with one.
window.addEventListener("beforeunload", (event) => {
  if (state.signedOut || !unsentMessages()) return;
  event.preventDefault();
  event.returnValue = ""; // older browsers ask only when this is set
});

export class PendingMessages {
  constructor(view) {
    this.view = view;
  }

  // `fields`: reply_to, mentions, mention_all; `quote`: the reply's quote to show meanwhile.
  sendText(text, fields = {}, quote = null) {
    const cmid = uuid4();
    const frame = { type: "message.send", client_msg_id: cmid, conversation: this.view.id, kind: "text", content: text, ...fields };
    const pending = { cmid, kind: "text", content: text, quote, frame, state: "sending", created_at: new Date().toISOString() };
    this.add(pending);
    state.socket.sendMessage(frame);
  }

  sendFile(file) {
    // Said here, in the person's language (the server refuses it too, in English).
    if (file.size === 0) {
      toast(tf("“%(name)s” is empty.", { name: file.name }), { kind: "error" });
      return;
    }
    if (file.size > state.config.max_file) {
      toast(tf("“%(name)s” is larger than %(max)s.", { name: file.name, max: formatSize(state.config.max_file) }), { kind: "error" });
      return;
    }
    dropSuggestions(this.view.id);
    const cmid = uuid4();
    const pending = { cmid, kind: "file", file, state: "uploading", progress: 0, created_at: new Date().toISOString() };
    this.add(pending);
    this.startUpload(pending);
  }

  // Uploads a pending file, then sends it; a failed upload can be tried
  // again (Retry) unless the server refused the file itself.
  startUpload(pending) {
    pending.state = "uploading";
    pending.progress = 0;
    pending.error = null;
    const job = upload(pending.file, (fraction) => {
      pending.progress = fraction;
      if (pending.bar) {
        pending.bar.value = fraction;
        pending.bar.textContent = `${Math.round(fraction * 100)}%`;
      }
    });
    pending.abort = job.abort;
    job.promise.then(
      (stored) => {
        pending.state = "sending";
        pending.fileWire = stored;
        this.refresh(pending);
        const frame = { type: "message.send", client_msg_id: pending.cmid, conversation: this.view.id, kind: "file", file: stored.id, content: null };
        pending.frame = frame;
        state.socket.sendMessage(frame);
      },
      (err) => {
        pending.state = "failed";
        pending.error = err.code === "aborted" ? t("Cancelled") : errorText(err);
        pending.refusedFile = REFUSED_FILE.has(err.code);
        this.refresh(pending);
      },
    );
  }

  add(pending) {
    const b = box(this.view.id);
    b.pending.set(pending.cmid, pending);
    pending.node = this.node(pending);
    this.view.messages.list.append(pending.node);
    this.view.messages.scrollToBottom();
  }

  refresh(pending) {
    const node = this.node(pending);
    if (pending.node && pending.node.isConnected) pending.node.replaceWith(node);
    pending.node = node;
  }

  // Its own stored message has come: that takes its place in the list.
  stored(pending) {
    if (pending.node) {
      pending.node.remove();
      if (pending.previewUrl) URL.revokeObjectURL(pending.previewUrl);
    }
  }

  node(p) {
    let body;
    if (p.kind === "text") {
      body = h("div.bubble", p.quote ? quoteBlock(p.quote, { jump: false }) : null, h("p.text", p.content));
    } else {
      const parts = [];
      if (p.file.type.startsWith("image/")) {
        if (!p.previewUrl) p.previewUrl = URL.createObjectURL(p.file);
        parts.push(h("img.thumb", { src: p.previewUrl, alt: p.file.name }));
      }
      parts.push(h("span.file-text", h("span.file-name", p.file.name), h("span.file-size", formatSize(p.file.size))));
      if (p.state === "uploading") {
        p.bar = h("progress", { max: 1, value: p.progress, "aria-label": tf("Uploading %(name)s", { name: p.file.name }) });
        parts.push(p.bar, h("button.linklike", { type: "button", onclick: () => p.abort && p.abort() }, t("Cancel")));
      }
      body = h("div.bubble.bubble-file", parts);
    }
    const status = {
      uploading: t("Uploading…"),
      // The outbox sends it again as soon as the connection is back.
      sending: state.offline ? t("Not sent yet · will send when back online") : t("Sending…"),
      failed: p.error ? tf("Not sent: %(why)s", { why: p.error }) : t("Not sent"),
    }[p.state];
    const meta = h("div.msg-meta", h("span.msg-status", { role: p.state === "failed" ? "alert" : null }, status));
    if (p.state === "failed") {
      if (p.frame || (p.kind === "file" && !p.refusedFile))
        meta.append(" · ", h("button.linklike", { type: "button", onclick: () => this.retry(p) }, t("Retry")));
      meta.append(" · ", h("button.linklike", { type: "button", onclick: () => this.discard(p) }, t("Remove")));
    }
    const waiting = p.state === "sending" && state.offline;
    return h("li.msg.mine.pending", { class: waiting ? "waiting" : null, dataset: { pending: p.cmid } }, h("div.msg-body", body, meta));
  }

  // The connection was lost or is back: each one says whether it waits for it.
  refreshAll() {
    for (const p of box(this.view.id).pending.values()) if (p.node && p.node.isConnected) this.refresh(p);
  }

  retry(p) {
    if (!p.frame) {
      // Its upload failed or was cancelled: upload it again.
      this.startUpload(p);
      this.refresh(p);
      return;
    }
    p.state = "sending";
    p.error = null;
    this.refresh(p);
    state.socket.sendMessage(p.frame);
  }

  discard(p) {
    box(this.view.id).pending.delete(p.cmid);
    if (p.node) p.node.remove();
    if (p.previewUrl) URL.revokeObjectURL(p.previewUrl);
  }
}
