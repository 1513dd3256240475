// A completion list under the composer's text box (the @-mention picker and
// the slash-command list): arrow keys move, Enter or Tab picks, Escape
// closes, a tap picks; the focus and the caret stay in the text box. A
// picker says what to offer (`update`), how an option looks
// (`renderOption`) and what picking does (`pick`).

import { h } from "../dom.js";

export class ComposerPicker {
  // `list`: the `ul` selector ("ul.mention-list"); `id`: the list's id, and
  // its options' ids are `${optionId}-${i}`.
  constructor(composer, { list, id, optionId, label }) {
    this.composer = composer;
    this.input = composer.input;
    this.options = [];
    this.active = 0;
    this.query = null;
    this.optionId = optionId;
    this.list = h(list, { id, role: "listbox", "aria-label": label, hidden: true });
    // Before the composer's own keydown (Enter sends): a pick comes first.
    this.input.addEventListener("keydown", (event) => this.onKey(event));
    this.input.addEventListener("input", () => this.update());
    this.input.addEventListener("click", () => this.update());
    this.input.addEventListener("blur", () => setTimeout(() => this.close(), 150));
  }

  get open() {
    return !this.list.hidden;
  }

  draw() {
    this.list.replaceChildren(
      ...this.options.map((option, i) => {
        const item = this.renderOption(option, i);
        item.id = `${this.optionId}-${i}`;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", String(i === this.active));
        // Keep the focus (and the caret) in the text box.
        item.addEventListener("pointerdown", (event) => event.preventDefault());
        item.addEventListener("click", () => this.pick(i));
        return item;
      }),
    );
    this.list.hidden = false;
    this.input.setAttribute("aria-activedescendant", `${this.optionId}-${this.active}`);
    this.list.children[this.active]?.scrollIntoView({ block: "nearest" });
  }

  close() {
    if (this.list.hidden) return;
    this.list.hidden = true;
    this.query = null;
    this.active = 0;
    this.input.removeAttribute("aria-activedescendant");
  }

  // Whether Enter should go to the composer instead of picking (a picker
  // whose typed text is already complete says so).
  entersThrough() {
    return false;
  }

  onKey(event) {
    if (!this.open || event.isComposing) return;
    const n = this.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.draw();
    } else if (event.key === "Enter" && !event.shiftKey && this.entersThrough()) {
      this.close();
      return;
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.pick(this.active);
    } else if (event.key === "Escape") {
      this.close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}
