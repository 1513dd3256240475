// The scaffolding every section's two panes share: the list pane (a header
// with the section's name and an icon link, then a scrolling list of rows
// that link to items) and the header of the main pane (a back button and the
// item's name).

import { clear, h, svgIcon } from "./dom.js";
import { state } from "./state.js";
import { appLink, backButton } from "./ui.js";

// Fills the list pane: its header (`heading`, then `action`), whatever goes
// `above` the list (a search box), and the scrolling list, which it returns.
export function listPane(pane, heading, { action = null, above = null, scroll = "div.list-scroll" } = {}) {
  const body = h(scroll);
  pane.append(h("header.pane-header", h("h1", heading), action));
  if (above) pane.append(above);
  pane.append(body);
  return body;
}

// The icon link in a list pane's header ("New group", "Add a contact").
export function headerLink(section, item, icon, label) {
  return appLink(section, item, [svgIcon(icon), h("span.sr-only", label)], { class: "btn-icon", title: label });
}

// A list drawn again between the press on a row and its release replaces
// the row under the pointer, and the browser then fires no click (the press
// and the release were on different elements): on a busy list (presence,
// typing, new messages) a click would be lost now and then. While a pointer
// is down in a list, its redraw waits until the click has been handled (at
// most PRESS_HOLD_MS: a long press must not freeze the list).
const PRESS_HOLD_MS = 3000;
let pressed = null; // {target, at}: where a pointer is down
const held = new Map(); // container -> its newest redraw, waiting for the release

document.addEventListener("pointerdown", (event) => (pressed = { target: event.target, at: Date.now() }), true);
function released() {
  if (!pressed) return;
  pressed = null;
  // After the click that follows the release.
  setTimeout(() => {
    for (const [container, redraw] of [...held]) {
      held.delete(container);
      redraw();
    }
  }, 0);
}
document.addEventListener("pointerup", released, true);
document.addEventListener("pointercancel", released, true);

// Fills a list again with `children`. Lists are drawn anew when something
// comes (a presence or typing frame, a new message); the row the keyboard was
// on keeps the focus (the same link, or the same id), so a keyboard or screen
// reader user is not thrown back to the top of the page by a frame.
export function refill(container, ...children) {
  if (pressed && Date.now() - pressed.at < PRESS_HOLD_MS && container.contains(pressed.target)) {
    held.set(container, () => refill(container, ...children));
    return container;
  }
  held.delete(container);
  const active = document.activeElement;
  const inside = active && active !== container && container.contains(active);
  const href = inside && active.matches("a[href]") ? active.getAttribute("href") : null;
  const id = inside && !href ? active.id : null;
  clear(container, ...children);
  if (!href && !id) return container;
  const again = href ? [...container.querySelectorAll("a[href]")].find((a) => a.getAttribute("href") === href) : document.getElementById(id);
  if (again && container.contains(again)) again.focus({ preventScroll: true });
  return container;
}

// One row of a list: a link to the item, marked when it is the one open.
export function listRow(section, item, children, { current = false, dataset = null } = {}) {
  return h("li", appLink(section, item, children, { class: "conv-item", "aria-current": current ? "page" : null, dataset }));
}

// A row that leads to an action of the section rather than to an item
// ("New requests", "Join a group"): an icon, a label, maybe a badge.
export function actionRow(section, item, icon, label, extra = null) {
  return listRow(section, item, [h("span.avatar.icon-avatar", svgIcon(icon)), h("span.conv-name.grow", label), extra], {
    current: state.route.item === item,
  });
}

// The main pane's header: back to the list, and the item's name if given.
export function mainHeader(title = null) {
  return h("header.pane-header", backButton(), title === null ? null : h("h1", title));
}
