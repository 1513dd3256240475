// Select: picking several messages of the open chat (a checkbox on each
// text and file message; a tap on the message picks it too) to forward them
// one by one or merged into one bundle. A bar takes the composer's place
// while it is on; Escape or Cancel ends it.

import { h, t, tf } from "../dom.js";
import { box } from "../state.js";
import { toast } from "../ui.js";
import { MAX_BUNDLE, openForward } from "./forward.js";

export class Selection {
  constructor(view) {
    this.view = view;
    this.ids = new Set();
    this.active = false;
    this.count = h("span.select-count", { role: "status" });
    this.oneByOne = h("button.btn.btn-small", { type: "button", onclick: () => this.forward(false) }, t("Forward one by one"));
    this.merged = h("button.btn.btn-small.btn-primary", { type: "button", onclick: () => this.forward(true) }, t("Merge and forward"));
    this.node = h(
      "div.select-bar",
      { role: "group", "aria-label": t("Selected messages"), hidden: true },
      this.count,
      h("div.select-actions", this.oneByOne, this.merged),
      h("button.btn.btn-small.select-cancel", { type: "button", onclick: () => this.stop() }, t("Cancel")),
    );
    this.node.addEventListener("keydown", (event) => event.key === "Escape" && this.stop());
  }

  start(message) {
    this.active = true;
    this.ids = new Set([message.id]);
    this.view.composer.node.hidden = true;
    this.node.hidden = false;
    this.view.messages.drawAll();
    this.update();
    this.view.messages.list.querySelector(`[data-id="${message.id}"] .msg-check`)?.focus();
  }

  stop() {
    if (!this.active) return;
    this.active = false;
    this.ids.clear();
    this.node.hidden = true;
    this.view.composer.node.hidden = false;
    this.view.messages.drawAll();
    this.view.composer.focus();
  }

  has(id) {
    return this.ids.has(id);
  }

  toggle(message) {
    if (this.ids.has(message.id)) this.ids.delete(message.id);
    else if (this.ids.size >= MAX_BUNDLE) toast(tf("At most %(n)s messages at once.", { n: MAX_BUNDLE }), { kind: "error" });
    else this.ids.add(message.id);
    this.view.messages.redraw(message);
    this.update();
  }

  update() {
    const n = this.ids.size;
    this.count.textContent = tf("%(n)s selected", { n });
    this.oneByOne.disabled = n === 0;
    // A bundle holds 2 to 100 messages.
    this.merged.disabled = n < 2;
  }

  picked() {
    return [...box(this.view.id).bySeq.values()].filter((m) => this.ids.has(m.id) && !m.recalled);
  }

  forward(merged) {
    const messages = this.picked();
    if (!messages.length) return;
    openForward({ messages, merged, onSent: () => this.stop() });
  }
}
