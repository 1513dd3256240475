// The message menu: a popover by the message on a desktop, a sheet at the
// bottom of a phone's screen. A row of emoji to react with (six, and "+"
// for the whole picker), then the actions. One at a time; arrow keys move,
// Escape or Tab closes it and gives the focus back to what opened it, and a
// tap outside or a resize of the window closes it too. When the chat
// scrolls (the reader, or the chat itself: a message arriving at the
// bottom, a picture loading) the popover follows what it was opened from,
// and closes once that is out of view or was drawn again; the phone's
// sheet only in the latter case. (What the items are and do is
// actions.js's.)

import { h, t, tf } from "../dom.js";
import { EMOJI } from "../emoji.js";

let current = null; // {node, close}

export function closeMenu() {
  if (current) current.close(false);
}

const PHONE = window.matchMedia("(max-width: 760px)");

// The click a touch ends with when that touch already did something (a long
// press opened a menu, a tap on the backdrop closed one): it must not go on
// to whatever is under the finger now. The next touch ends this.
export function swallowNextClick() {
  const stop = (event) => {
    event.preventDefault();
    event.stopPropagation();
    done();
  };
  const done = () => {
    document.removeEventListener("click", stop, true);
    document.removeEventListener("pointerdown", done, true);
  };
  document.addEventListener("click", stop, true);
  document.addEventListener("pointerdown", done, true);
  setTimeout(done, 1000);
}

// `anchor`: the element to place it by; `opener`: what gets the focus back
// (and aria-expanded). `reactions`: {mine: Set of my emoji, pick(emoji)} or
// null; `items`: [{label, run, danger}].
export function openMenu({ anchor, opener, label, reactions, items, onClose }) {
  closeMenu();
  const sheet = PHONE.matches;
  const entries = [];
  const menu = h(`div.msg-menu${sheet ? ".msg-menu-sheet" : ""}`, { role: "menu", "aria-label": label, tabindex: "-1" });
  const choose = (run) => {
    close(true);
    run();
  };
  if (reactions) {
    const emojiButton = (emoji) =>
      h(
        "button.menu-emoji-button",
        {
          type: "button",
          role: "menuitemcheckbox",
          "aria-checked": String(reactions.mine.has(emoji)),
          "aria-label": tf("React with %(emoji)s", { emoji }),
          onclick: () => choose(() => reactions.pick(emoji)),
        },
        emoji,
      );
    const grid = h("div.menu-emoji-grid", { role: "group", "aria-label": t("All emoji"), hidden: true });
    const more = h(
      "button.menu-emoji-button.menu-emoji-more",
      {
        type: "button",
        role: "menuitem",
        "aria-label": t("More emoji"),
        "aria-expanded": "false",
        onclick: () => {
          if (!grid.childElementCount) grid.append(...EMOJI.map(emojiButton));
          grid.hidden = !grid.hidden;
          more.setAttribute("aria-expanded", String(!grid.hidden));
          if (!grid.hidden) grid.firstElementChild.focus();
          place();
        },
      },
      "+",
    );
    menu.append(h("div.menu-emoji", { role: "group", "aria-label": t("React") }, reactions.quick.map(emojiButton), more), grid);
  }
  const list = h("div.menu-items", { role: "group" });
  for (const item of items) {
    list.append(h(`button.menu-item${item.danger ? ".menu-danger" : ""}`, { type: "button", role: "menuitem", onclick: () => choose(item.run) }, item.label));
  }
  menu.append(list);
  // A new touch on the backdrop closes the sheet (not a click: the one that
  // ends the long press which opened it lands there), and the click it
  // makes does nothing below.
  const backdrop = sheet
    ? h("div.menu-backdrop", {
        onpointerdown: (event) => {
          event.preventDefault();
          close(true);
          swallowNextClick();
        },
      })
    : null;

  function focusables() {
    return [...menu.querySelectorAll("[role^=menuitem]")].filter((el) => el.offsetParent !== null);
  }
  // On the document: a touch may have left the focus outside the menu.
  function onKey(event) {
    const all = focusables();
    const i = all.indexOf(document.activeElement);
    const moves = { ArrowDown: i + 1, ArrowRight: i + 1, ArrowUp: i - 1, ArrowLeft: i - 1, Home: 0, End: all.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      all[(moves[event.key] + all.length) % all.length]?.focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      event.preventDefault();
      close(true);
    }
  }
  function onOutside(event) {
    if (!menu.contains(event.target) && !opener.contains(event.target) && event.target !== backdrop) close(false);
  }
  function place() {
    if (sheet) return;
    const r = anchor.getBoundingClientRect();
    const w = menu.offsetWidth;
    const hgt = menu.offsetHeight;
    const below = r.bottom + 4 + hgt <= window.innerHeight - 8;
    const top = below ? r.bottom + 4 : Math.max(8, r.top - 4 - hgt);
    const left = Math.min(Math.max(8, r.left), window.innerWidth - w - 8);
    menu.style.top = `${Math.round(top)}px`;
    menu.style.left = `${Math.round(left)}px`;
  }
  const scroller = anchor.closest(".message-scroll");
  function inView() {
    if (!anchor.isConnected) return false;
    const r = anchor.getBoundingClientRect();
    const s = scroller.getBoundingClientRect();
    return r.bottom > s.top && r.top < s.bottom;
  }
  // A sheet does not stand by its message: only the anchor's leaving the
  // list (the message drawn again, or gone) closes it.
  const onScroll = () => {
    if (sheet ? !anchor.isConnected : !inView()) close(false);
    else place();
  };
  const onResize = () => close(false);
  function close(refocus) {
    if (current?.node !== menu) return;
    current = null;
    menu.remove();
    backdrop?.remove();
    document.removeEventListener("pointerdown", onOutside, true);
    document.removeEventListener("keydown", onKey);
    window.removeEventListener("resize", onResize);
    scroller?.removeEventListener("scroll", onScroll);
    opener.setAttribute("aria-expanded", "false");
    if (refocus && opener.isConnected) opener.focus();
    onClose?.();
  }
  document.addEventListener("keydown", onKey);
  if (backdrop) document.body.append(backdrop);
  document.body.append(menu);
  place();
  current = { node: menu, close };
  opener.setAttribute("aria-expanded", "true");
  // After the event that opened it (a long press's own pointer events).
  setTimeout(() => {
    if (current?.node !== menu) return;
    document.addEventListener("pointerdown", onOutside, true);
    window.addEventListener("resize", onResize);
    scroller?.addEventListener("scroll", onScroll, { passive: true });
  }, 0);
  (focusables().find((el) => el.classList.contains("menu-item")) || focusables()[0])?.focus({ preventScroll: true });
  return close;
}
