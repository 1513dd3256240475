// The pinned bar at the top of the open chat: the newest pin (GET
// /conversations/{id}/pins), a tap goes to it and shows the next one, and
// "All pins" lists them with Show and, for who may, Unpin. It is read again
// when a pin or unpin event arrives or a pin is recalled, and hidden while
// there is no pin.

import { api } from "../api.js";
import { debounce, formatDateTime, h, svgIcon, t, tf } from "../dom.js";
import { nameOf } from "../state.js";
import { canPin, setPinned } from "./actions.js";
import { excerptOf } from "./text.js";

export class PinBar {
  constructor(view) {
    this.view = view;
    this.pins = [];
    this.index = 0;
    this.label = h("span.pin-bar-label");
    this.text = h("span.pin-bar-text");
    this.main = h("button.pin-bar-main", { type: "button", title: t("Show the pinned message"), onclick: () => this.jump() }, svgIcon("pin"), h("span.pin-bar-words", this.label, " ", this.text));
    this.all = h("button.btn.btn-small.pin-bar-all", { type: "button", onclick: () => this.openList() }, t("All pins"));
    this.node = h("div.pin-bar", { role: "region", "aria-label": t("Pinned messages"), hidden: true }, this.main, this.all);
    this.refresh = debounce(() => this.load(), 250);
  }

  async load() {
    try {
      const page = await api("GET", `conversations/${this.view.id}/pins`);
      this.pins = Array.isArray(page) ? page : page.results || [];
    } catch (err) {
      this.pins = [];
    }
    this.draw();
  }

  draw() {
    const n = this.pins.length;
    this.node.hidden = n === 0;
    if (!n) return;
    if (this.index >= n) this.index = 0;
    const pin = this.pins[this.index];
    this.label.textContent = n > 1 ? tf("Pinned message %(i)s of %(n)s", { i: this.index + 1, n }) : t("Pinned message");
    this.text.textContent = `${nameOf(pin.sender)}: ${excerptOf(pin)}`;
  }

  // A recalled message is no longer pinned, and no unpin event says so: it
  // leaves the bar at once (loaded in the history or not), then the pins are
  // read again. Whether it was among the pins shown.
  recalled(messageId) {
    if (!this.pins.some((pin) => pin.id === messageId)) return false;
    this.pins = this.pins.filter((pin) => pin.id !== messageId);
    this.draw();
    this.refresh();
    return true;
  }

  // Goes to the pin shown, then shows the next (older) one.
  jump() {
    const pin = this.pins[this.index];
    if (!pin) return;
    this.view.messages.jumpTo(pin.seq);
    this.index = (this.index + 1) % this.pins.length;
    this.draw();
  }

  openList() {
    const mayUnpin = canPin(this.view.conv) && this.view.composer.writable;
    const dialog = h("dialog.dialog.pins-dialog", { "aria-labelledby": "pins-title" });
    const rows = this.pins.map((pin) =>
      h(
        "li.pin-row",
        h(
          "div.pin-row-text",
          h("span.pin-row-head", h("strong", nameOf(pin.sender)), " ", h("time.muted.small", { datetime: pin.created_at }, formatDateTime(pin.created_at))),
          h("span.pin-row-excerpt", excerptOf(pin)),
        ),
        h(
          "div.pin-row-actions",
          h("button.btn.btn-small", { type: "button", onclick: () => (dialog.close(), this.view.messages.jumpTo(pin.seq)) }, t("Show")),
          mayUnpin ? h("button.btn.btn-small.btn-danger", { type: "button", onclick: () => (dialog.close(), setPinned(this.view, pin, false)) }, t("Unpin")) : null,
        ),
      ),
    );
    dialog.append(
      h("h2", { id: "pins-title" }, tf("Pinned messages (%(n)s)", { n: this.pins.length })),
      h("ul.pin-list", rows),
      h("form.dialog-actions", { method: "dialog" }, h("button.btn", { type: "submit" }, t("Close"))),
    );
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    dialog.showModal();
  }
}
