// The message list of the open conversation: history read 30 at a time
// (older pages as the reader scrolls up, keeping their place), messages in
// seq order and each once (by id, merged with what the socket brought), the
// pending ones after them, bots' answers for me alone among them by their
// time (ephemeral.js), receipts kept up to date. It handles what the
// bubbles' controls do (menu, quote, reaction chips, bundle cards, Select's
// checkboxes), a long press (touch) or right click that opens a message's
// menu or a chip's reactors, and going to a message (a quote, a pin), reading
// older history until it is there.

import { api, apiAll } from "../api.js";
import { clear, h, t, tf } from "../dom.js";
import { box, nameOf, rememberUser, state } from "../state.js";
import { errorText, toast } from "../ui.js";
import { openMessageMenu } from "./actions.js";
import { openBundle } from "./bundle.js";
import { ephemeralIn, ephemeralNode } from "./ephemeral.js";
import { openImageViewer } from "./viewer.js";
import { swallowNextClick } from "./menu.js";
import { messageNode, receiptText, selectable } from "./message.js";
import { showReactors, toggleReaction } from "./reactions.js";

const PAGE = 30;
const JUMP_PAGE = 100;
// One sender's messages closer together than this are drawn as one run.
const RUN_GAP_MS = 3 * 60 * 1000;

// The day of a date line: "Today", "Yesterday", a weekday within the week,
// else the date.
function formatDay(when, now = new Date()) {
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(when)) / 86400000);
  if (days <= 0) return t("Today");
  if (days === 1) return t("Yesterday");
  const lang = document.documentElement.lang || undefined;
  if (days < 7) return new Intl.DateTimeFormat(lang, { weekday: "long" }).format(when);
  const opts = when.getFullYear() === now.getFullYear() ? { month: "long", day: "numeric" } : { year: "numeric", month: "long", day: "numeric" };
  return new Intl.DateTimeFormat(lang, opts).format(when);
}
const LONG_PRESS_MS = 500;

export class MessageList {
  constructor(view, name) {
    this.view = view;
    this.older = h("div.older", { role: "status", "aria-live": "polite" });
    // Where a chat begins: for a direct chat, the contact request that made it.
    this.start = h("div.chat-start", { hidden: true });
    this.list = h("ol.messages", { "aria-label": t("Messages") });
    this.scroller = h("div.message-scroll", { tabindex: "0", role: "log", "aria-label": tf("Messages with %(name)s", { name }) }, this.older, this.start, this.list);
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < 120) this.loadOlder();
    });
    this.node = this.scroller;
    this.list.addEventListener("click", (event) => this.onClick(event));
    this.list.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.view.select.active) this.view.select.stop();
    });
    this.listenForLongPress();
  }

  get id() {
    return this.view.id;
  }

  // ---------------------------------------------------------------- history

  async load() {
    const b = box(this.id);
    if (!b.loaded) {
      this.older.textContent = t("Loading…");
      try {
        const page = await api("GET", `conversations/${this.id}/messages?limit=${PAGE}`);
        this.absorb(b, page.results);
        b.hasMore = page.has_more;
        b.loaded = true;
      } catch (err) {
        this.older.textContent = errorText(err);
        return;
      }
    }
    if (this.view.closed) return; // left while it loaded (the box keeps the page)
    if (this.view.group) await this.loadGroupContext();
    if (this.view.closed) return;
    this.drawAll();
    this.drawn = true; // a search hit in this chat may jump now (view.js revisit)
    this.showStart(b);
    this.scrollToBottom();
    this.view.composer.resolveReply();
    this.view.markRead();
    // Opened from a search hit: go to that message and mark the words found.
    const goTo = state.goTo;
    if (goTo && goTo.conversation === this.id) {
      state.goTo = null;
      await this.jumpTo(goTo.seq, { words: goTo.words });
      return;
    }
    // A screen taller than one page: fetch more until it can scroll.
    if (b.hasMore && this.scroller.scrollHeight <= this.scroller.clientHeight) this.loadOlder();
  }

  // Once the oldest message is loaded: "This is the beginning of the chat",
  // and in a direct chat the accepted contact request that began it, with
  // its greeting (as WeChat shows it). The request is fetched once per chat,
  // without holding up the chat: it is drawn when it comes.
  showStart(b) {
    this.older.textContent = b.hasMore ? "" : t("This is the beginning of the chat.");
    const conv = this.view.conv;
    if (b.hasMore || !conv || conv.kind !== "direct" || !conv.peer) {
      this.start.hidden = true;
      return;
    }
    if (b.greeting === undefined) this.fetchGreeting(b, conv);
    else this.drawStart(b.greeting, conv);
  }

  async fetchGreeting(b, conv) {
    b.greeting = null; // asked once, even while the answer is on its way
    const peer = encodeURIComponent(conv.peer.id);
    try {
      const pages = await Promise.all(
        ["incoming", "outgoing"].map((side) => api("GET", `contact-requests?box=${side}&status=accepted&peer=${peer}&limit=1`)),
      );
      const found = pages.flatMap((p) => p.results).sort((x, y) => (x.created_at < y.created_at ? 1 : -1));
      b.greeting = found[0] || null;
    } catch (err) {
      // Only a nicety: the chat itself does not depend on it.
      return;
    }
    if (!this.scroller.isConnected || b.hasMore) return;
    // Drawn above what the reader sees: keep their place.
    const before = this.scroller.scrollHeight;
    this.drawStart(b.greeting, conv);
    this.scroller.scrollTop += this.scroller.scrollHeight - before;
  }

  drawStart(r, conv) {
    if (!r) {
      this.start.hidden = true;
      return;
    }
    const mine = r.from.id === state.me.id;
    const line = mine
      ? tf("%(name)s accepted your contact request.", { name: nameOf(conv.peer) })
      : tf("You accepted %(name)s's contact request.", { name: nameOf(conv.peer) });
    clear(
      this.start,
      h("p.msg-system", line),
      r.message
        ? h(
            `figure.greeting${mine ? ".mine" : ""}`,
            h("blockquote", r.message),
            h("figcaption", mine ? t("Your greeting") : tf("%(name)s's greeting", { name: nameOf(conv.peer) })),
          )
        : null,
    );
    this.start.hidden = false;
  }

  // A group's read cursors (for *Read by N*) and its members' names.
  async loadGroupContext() {
    const conv = this.view.conv;
    if (conv.group && conv.group.my_role === null) {
      // A group I left (opened from a search hit): its cursors are members' only.
      state.reads.set(this.id, new Map());
      return;
    }
    try {
      const [reads, members] = await Promise.all([
        api("GET", `conversations/${this.id}/reads`),
        conv.group && conv.group.my_role ? apiAll(`groups/${conv.group.id}/members?limit=100`, { max: 2000 }) : Promise.resolve([]),
      ]);
      const map = new Map();
      for (const r of reads.results) map.set(r.user, r.read_seq);
      state.reads.set(this.id, map);
      for (const m of members) rememberUser(m.user);
      state.members.set(this.id, members);
      // An "@" typed while they were loading finds them now.
      if (document.activeElement === this.view.composer.input) this.view.composer.picker.update();
    } catch (err) {
      state.reads.set(this.id, new Map());
    }
  }

  absorb(b, messages) {
    for (const m of messages) {
      // A message sent from this tab that the history already has is no longer pending.
      const pending = m.client_msg_id && b.pending.get(m.client_msg_id);
      if (pending && m.sender && m.sender.id === state.me.id) {
        b.pending.delete(m.client_msg_id);
        if (pending.node) pending.node.remove();
        state.socket.forget(m.client_msg_id);
      }
      if (b.ids.has(m.id)) continue;
      b.ids.add(m.id);
      b.bySeq.set(m.seq, m);
      if (m.sender) rememberUser(m.sender);
    }
  }

  async loadOlder() {
    const b = box(this.id);
    if (!b.loaded || !b.hasMore || b.loading) return;
    const oldest = Math.min(...b.bySeq.keys());
    if (!Number.isFinite(oldest)) return;
    b.loading = true;
    this.older.textContent = t("Loading earlier messages…");
    try {
      const page = await api("GET", `conversations/${this.id}/messages?before=${oldest}&limit=${PAGE}`);
      const before = this.scroller.scrollHeight;
      this.absorb(b, page.results);
      b.hasMore = page.has_more;
      if (this.view.closed) return;
      this.drawAll();
      this.showStart(b);
      // Keep the message the reader was looking at in place.
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
    } catch (err) {
      this.older.textContent = errorText(err);
    } finally {
      b.loading = false;
    }
  }

  // ---------------------------------------------------------------- drawing

  nodeFor(message) {
    const select = this.view.select;
    return messageNode(this.view.conv, message, { selecting: select.active, selected: select.has(message.id) });
  }

  drawAll() {
    const b = box(this.id);
    const seqs = [...b.bySeq.keys()].sort((x, y) => x - y);
    const nodes = [];
    for (const seq of seqs) {
      const node = this.nodeFor(b.bySeq.get(seq));
      if (node) nodes.push(node);
    }
    // Drawn from what they are now: one may have been refused, or the
    // connection come back, while its chat was not open.
    for (const p of b.pending.values()) nodes.push((p.node = this.view.pending.node(p)));
    clear(this.list, nodes);
    for (const frame of ephemeralIn(this.id)) this.placeEphemeral(ephemeralNode(frame));
    this.list.classList.toggle("selecting", this.view.select.active);
    this.regroup();
  }

  // A line with the day before the first message of each day ("Today",
  // "Yesterday", a weekday, a date), and one sender's messages within
  // RUN_GAP_MS of each other drawn as a run: one avatar and name at its
  // top, the time of its inner messages on hover. Run after every change
  // of the list's items.
  regroup() {
    for (const line of this.list.querySelectorAll(":scope > .date-line")) line.remove();
    let lastDay = null;
    let previous = null;
    for (const item of [...this.list.children]) {
      const at = item.dataset.at ? new Date(item.dataset.at) : null;
      if (at) {
        const day = at.toDateString();
        if (day !== lastDay) {
          item.before(h("li.date-line", h("span", formatDay(at))));
          lastDay = day;
          previous = null;
        }
      }
      const isMsg = item.classList.contains("msg") && !("pending" in item.dataset);
      const joins =
        isMsg && previous && previous.dataset.sender === item.dataset.sender && at && at - new Date(previous.dataset.at) < RUN_GAP_MS;
      item.classList.toggle("run-next", Boolean(joins));
      if (previous) previous.classList.toggle("run-inner", Boolean(joins));
      previous = isMsg ? item : null;
    }
    if (previous) previous.classList.remove("run-inner");
  }

  // A bot's answer for me alone: before the first stored message that is
  // newer, else before the pending ones.
  placeEphemeral(node) {
    const when = new Date(node.dataset.at).getTime();
    const later = [...this.list.querySelectorAll(":scope > [data-seq]")].find((el) => new Date(el.dataset.at).getTime() > when);
    this.list.insertBefore(node, later || this.list.querySelector(":scope > [data-pending]"));
  }

  // One came while this chat is open: it answers what I just did, so the
  // list goes down to it.
  onEphemeral(frame) {
    this.placeEphemeral(ephemeralNode(frame));
    this.regroup();
    this.scrollToBottom();
  }

  nearBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // A new message (or one's own, stored: `pending` is what stood for it).
  onMessage(message, { pending } = {}) {
    const stick = this.nearBottom() || (message.sender && message.sender.id === state.me.id);
    const node = this.nodeFor(message);
    if (pending) this.view.pending.stored(pending);
    if (node && !this.list.querySelector(`[data-id="${message.id}"]`)) {
      // In seq order, before the pending ones: one's own message too takes
      // the place the server gave it, so every member sees the same order.
      const after = [...this.list.querySelectorAll("[data-seq]")].find((el) => Number(el.dataset.seq) > message.seq);
      const firstPending = this.list.querySelector("[data-pending]");
      this.list.insertBefore(node, after || firstPending || null);
      this.regroup();
    }
    if (stick) this.scrollToBottom();
  }

  // `message` changed (edited, reactions, pinned, recalled, picked): its
  // item is drawn again, keeping the focus on the same control.
  redraw(message) {
    const old = this.list.querySelector(`[data-id="${message.id}"]`);
    if (!old) return;
    const focused = old.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    const stick = this.nearBottom();
    const node = this.nodeFor(message);
    if (node) old.replaceWith(node);
    else old.remove();
    this.regroup();
    if (stick) this.scrollToBottom();
    if (focused && node) node.querySelector(`[data-focus="${CSS.escape(focused)}"]`)?.focus({ preventScroll: true });
  }

  redrawReceipts() {
    for (const el of this.list.querySelectorAll(".msg.mine[data-seq]")) {
      const status = el.querySelector(".msg-status");
      if (status) status.textContent = receiptText(this.view.conv, Number(el.dataset.seq));
    }
  }

  // ---------------------------------------------------------------- the bubbles' controls

  // The stored message an element of the list belongs to.
  messageAt(el) {
    const item = el.closest("li[data-seq]");
    const message = item && box(this.id).bySeq.get(Number(item.dataset.seq));
    return message && message.id === item.dataset.id ? { item, message } : {};
  }

  onClick(event) {
    const { message } = this.messageAt(event.target);
    if (!message) return;
    if (this.view.select.active) {
      if (event.target.closest("a")) event.preventDefault();
      if (selectable(message)) this.view.select.toggle(message);
      return;
    }
    const control = event.target.closest("[data-action]");
    if (!control) return;
    switch (control.dataset.action) {
      case "menu":
        openMessageMenu(this.view, message, { anchor: control, opener: control });
        return;
      case "quote":
        this.jumpTo(Number(control.dataset.targetSeq));
        return;
      case "react":
        toggleReaction(message, control.dataset.emoji);
        return;
      case "bundle":
        openBundle(message);
        return;
      case "image":
        // In the app's viewer (a plain click; a middle or modified click still opens a tab).
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        openImageViewer([...this.list.querySelectorAll("a.thumb-link[data-action='image']")], control);
        return;
      default:
    }
  }

  // A long press (touch, pen) or a right click on a bubble opens its menu;
  // on a reaction chip, who reacted. The click that ends a long press does
  // nothing else.
  listenForLongPress() {
    let press = null;
    let pressedAt = 0;
    const cancel = () => {
      if (press) clearTimeout(press.timer);
      press = null;
    };
    const open = (target) => {
      const { item, message } = this.messageAt(target);
      if (!message || this.view.select.active) return false;
      const chip = target.closest(".reaction");
      if (chip) showReactors(message, chip.dataset.emoji);
      else {
        const opener = item.querySelector(".msg-more");
        if (!opener) return false;
        openMessageMenu(this.view, message, { anchor: item.querySelector(".bubble") || opener, opener });
      }
      pressedAt = Date.now();
      return true;
    };
    const targetOf = (event) => event.target.closest(".msg .bubble, .msg .reaction");
    this.list.addEventListener("pointerdown", (event) => {
      cancel();
      const target = event.pointerType !== "mouse" && targetOf(event);
      if (!target) return;
      press = {
        x: event.clientX,
        y: event.clientY,
        timer: setTimeout(() => {
          press = null;
          if (open(target)) swallowNextClick();
        }, LONG_PRESS_MS),
      };
    });
    this.list.addEventListener("pointermove", (event) => {
      if (press && Math.hypot(event.clientX - press.x, event.clientY - press.y) > 10) cancel();
    });
    for (const type of ["pointerup", "pointercancel"]) this.list.addEventListener(type, cancel);
    // A right click; a phone's own long press too (after ours, or instead of it).
    this.list.addEventListener("contextmenu", (event) => {
      const target = targetOf(event);
      if (!target || this.view.select.active) return;
      event.preventDefault();
      cancel();
      if (Date.now() - pressedAt > 800) open(target);
    });
  }

  // ---------------------------------------------------------------- going to a message

  // Shows the message at `seq` and marks it a moment, reading older history
  // first if it is not loaded yet.
  async jumpTo(seq, { words = [] } = {}) {
    const b = box(this.id);
    const find = () => this.list.querySelector(`[data-seq="${seq}"]`);
    while (b.loading) await new Promise((resolve) => setTimeout(resolve, 100));
    let node = find();
    if (!node && b.loaded && b.hasMore && seq < Math.min(...b.bySeq.keys())) {
      b.loading = true;
      this.older.textContent = t("Loading earlier messages…");
      try {
        while (b.hasMore && seq < Math.min(...b.bySeq.keys())) {
          const page = await api("GET", `conversations/${this.id}/messages?before=${Math.min(...b.bySeq.keys())}&limit=${JUMP_PAGE}`);
          this.absorb(b, page.results);
          b.hasMore = page.has_more;
        }
      } catch (err) {
        toast(errorText(err), { kind: "error" });
      } finally {
        b.loading = false;
      }
      if (this.view.closed) return;
      this.drawAll();
      this.showStart(b);
      node = find();
    }
    if (this.view.closed) return;
    if (!node) {
      toast(t("That message is not available."));
      return;
    }
    if (words && words.length) markWords(node.querySelector(".bubble > .text, .bubble .caption"), words);
    node.scrollIntoView({ block: "center" });
    node.tabIndex = -1;
    node.focus({ preventScroll: true });
    node.classList.remove("flash");
    void node.offsetWidth; // restart the highlight
    node.classList.add("flash");
    setTimeout(() => node.classList.remove("flash"), 2000);
  }
}

// Wraps each occurrence of `words` (a string or several; ignoring case) in
// the text nodes under `root` in a <mark>: built from text nodes, never from
// markup. Where two words could match at one place the longer wins.
function markWords(root, words) {
  const needles = [...new Set((Array.isArray(words) ? words : [words]).map((w) => String(w).trim().toLowerCase()).filter(Boolean))].sort(
    (a, b) => b.length - a.length,
  );
  if (!root || !needles.length) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const node of texts) {
    const text = node.nodeValue;
    const lower = text.toLowerCase();
    // toLowerCase() keeps offsets only where it keeps lengths (not for "İ").
    if (lower.length !== text.length) continue;
    const parts = [];
    let from = 0;
    let cursor = 0;
    while (cursor < lower.length) {
      let hit = -1;
      let needle = "";
      for (const n of needles) {
        const at = lower.indexOf(n, cursor);
        if (at >= 0 && (hit < 0 || at < hit)) {
          hit = at;
          needle = n;
        }
      }
      if (hit < 0) break;
      parts.push(document.createTextNode(text.slice(from, hit)), h("mark.found", text.slice(hit, hit + needle.length)));
      from = cursor = hit + needle.length;
    }
    if (!parts.length) continue;
    parts.push(document.createTextNode(text.slice(from)));
    node.replaceWith(...parts);
  }
}
