// Message search in the chat list pane: the query and its filters (this chat
// only, from a person, a date range, has a file or an image), the results of
// `GET /messages/search` a page at a time (newest first, more on scroll or
// with *More results*), each a snippet with the words found marked, and what
// the pane says while it searches, finds nothing or is refused.
//
// The query, the filters and the pages already loaded live in this module,
// not in the DOM: the list pane is drawn again when another section's list
// was shown meanwhile, and the search comes back as it was without asking
// the server again.

import { api } from "../api.js";
import { avatar, formatDateTime, formatWhen, h, t, tf } from "../dom.js";
import { listRow } from "../panes.js";
import { conversationFace, conversationTitle, emit, nameOf, state } from "../state.js";
import { errorText, navigate } from "../ui.js";
import { excerptOf } from "./text.js";

const MAX_QUERY = 100; // code points, as the server counts them
const WINDOW_BEFORE = 16; // code points of context kept before a hit far into a long text

export const search = {
  query: "",
  // `after` and `before` are the days picked (YYYY-MM-DD, the person's own
  // calendar), both included; they become UTC instants when sent.
  filters: { conversation: null, from: "", after: "", before: "", has: "" },
  panelOpen: false,
  found: null, // {key, results, next, loading, error, pages}
  scrollTop: 0, // where the results were scrolled to, for when the list is drawn again
};

let run = 0; // the newest search started: older answers are dropped
// The pane drawn last: an answer that comes after the list was drawn again
// (another section visited meanwhile) is shown in the new one, not the
// detached old one.
let redrawLatest = () => {};

// ---------------------------------------------------------------- the request

function dayStart(ymd, plusDays = 0) {
  const [y, m, d] = ymd.split("-").map(Number);
  // Local midnight of that day, sent as UTC without milliseconds.
  return new Date(y, m - 1, d + plusDays).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function activeFilterCount() {
  const f = search.filters;
  return [f.conversation, f.from, f.after, f.before, f.has].filter(Boolean).length;
}

function queryString(cursor = null) {
  const f = search.filters;
  const params = new URLSearchParams({ q: Array.from(search.query.trim()).slice(0, MAX_QUERY).join("") });
  if (f.conversation) params.set("conversation", f.conversation);
  if (f.from) params.set("from", f.from);
  if (f.after) params.set("after", dayStart(f.after));
  // "Until 5 December" includes that day: the server's `before` excludes its instant.
  if (f.before) params.set("before", dayStart(f.before, 1));
  if (f.has) params.set("has", f.has);
  if (cursor) params.set("cursor", cursor);
  return params.toString();
}

// Runs the search for the current query and filters unless its first page
// is already here; `redraw()` is called whenever what is shown changes.
export async function runSearch(redraw, { force = false } = {}) {
  redrawLatest = redraw;
  const q = search.query.trim();
  if (!q) {
    run += 1;
    search.found = null;
    redraw();
    return;
  }
  const key = queryString();
  const f = search.filters;
  if (f.after && f.before && f.after > f.before) {
    // Said here rather than sent: the range can only be empty.
    run += 1;
    search.found = { key, results: [], next: null, loading: false, error: { code: "dates_reversed" }, pages: 0 };
    redraw();
    return;
  }
  if (!force && search.found && search.found.key === key && !search.found.error) {
    redraw();
    return;
  }
  const mine = ++run;
  search.scrollTop = 0;
  search.found = { key, results: [], next: null, loading: true, error: null };
  redraw();
  try {
    const page = await api("GET", `messages/search?${key}`);
    if (mine !== run) return;
    search.found = { key, results: page.results || [], next: page.next || null, loading: false, error: null, pages: 1 };
  } catch (err) {
    if (mine !== run) return;
    search.found = { key, results: [], next: null, loading: false, error: err };
  }
  redrawLatest();
}

// The next page, appended; one at a time.
export async function loadMore(redraw) {
  redrawLatest = redraw;
  const found = search.found;
  if (!found || found.loading || !found.next) return;
  const mine = run;
  found.loading = true;
  found.error = null;
  redraw();
  try {
    const page = await api("GET", `messages/search?${queryString(found.next)}`);
    if (mine !== run || search.found !== found) return;
    const known = new Set(found.results.map((m) => m.id));
    found.results.push(...(page.results || []).filter((m) => !known.has(m.id)));
    found.next = page.next || null;
    found.pages += 1;
  } catch (err) {
    if (mine !== run || search.found !== found) return;
    found.error = err;
  } finally {
    found.loading = false;
  }
  redrawLatest();
}

// "Search in this chat" (the chat's header): the filter set to that chat and
// the search box ready; a phone goes back to the list, where the box is.
export function searchInChat(conversationId) {
  search.filters.conversation = conversationId;
  search.panelOpen = true;
  if (window.matchMedia("(max-width: 760px)").matches) navigate("chats");
  emit("search-scope");
  document.getElementById("chat-search")?.focus();
}

// ---------------------------------------------------------------- snippets

// `ranges` are half-open offsets in code points (what the server counts);
// JavaScript strings index UTF-16 units, so the text is split into code
// points first and an emoji or a rare CJK character counts as one.
// Returns the pieces: strings and <mark> nodes, never parsed markup.
export function highlighted(text, ranges) {
  const points = Array.from(text || "");
  const clean = (Array.isArray(ranges) ? ranges : [])
    .filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]))
    .map(([s, e]) => [Math.max(0, s), Math.min(points.length, e)])
    .filter(([s, e]) => s < e)
    .sort((a, b) => a[0] - b[0]);
  const parts = [];
  let at = 0;
  for (const [s, e] of clean) {
    const start = Math.max(s, at);
    if (start >= e) continue; // overlaps one already marked
    if (start > at) parts.push(points.slice(at, start).join(""));
    parts.push(h("mark.found", points.slice(start, e).join("")));
    at = e;
  }
  if (at < points.length) parts.push(points.slice(at).join(""));
  return parts;
}

// What a hit shows and marks: the server's `match` when it sends one; else
// the message's own words with the query (and each of its words) found in
// them here, in any case, cut to start shortly before the first hit.
export function snippetOf(message, query) {
  const match = message.match;
  if (match && typeof match.snippet === "string") {
    return nearFirstHit(match.snippet, Array.isArray(match.ranges) ? match.ranges : []);
  }
  const own = typeof message.content === "string" ? message.content : "";
  const text = message.kind === "file" ? [excerptOf(message), own].filter(Boolean).join(" ") : own || excerptOf(message) || "";
  const points = Array.from(text);
  const lower = points.map((p) => p.toLowerCase());
  // The whole query first, then each of its words: the longer wins a place.
  const needles = [query.trim(), ...query.trim().split(/\s+/)]
    .map((w) => Array.from(w.toLowerCase()))
    .filter((w) => w.length)
    .sort((a, b) => b.length - a.length);
  const taken = new Array(points.length).fill(false);
  const ranges = [];
  for (const needle of needles) {
    for (let i = 0; i + needle.length <= lower.length; i++) {
      let same = true;
      for (let j = 0; j < needle.length && same; j++) same = lower[i + j] === needle[j] && !taken[i + j];
      if (!same) continue;
      ranges.push([i, i + needle.length]);
      for (let j = i; j < i + needle.length; j++) taken[j] = true;
      i += needle.length - 1;
    }
  }
  return nearFirstHit(text, ranges);
}

// A hit gets two lines of a narrow list: a snippet whose first mark is far
// in is cut to start a little before it ("…" where it was cut), or the mark
// would be past what shows. Offsets stay in code points.
function nearFirstHit(snippet, ranges) {
  const valid = ranges.filter((r) => Array.isArray(r) && Number.isInteger(r[0]) && Number.isInteger(r[1]) && r[0] < r[1]);
  if (!valid.length) return { snippet, ranges: valid };
  const first = Math.min(...valid.map((r) => r[0]));
  if (first <= WINDOW_BEFORE * 2) return { snippet, ranges: valid };
  const points = Array.from(snippet);
  let cut = first - WINDOW_BEFORE;
  // Start at a word where there is one (not in Chinese, which has no spaces).
  const space = points.slice(cut, first).findIndex((p) => /\s/u.test(p));
  if (space >= 0) cut += space + 1;
  return { snippet: `…${points.slice(cut).join("")}`, ranges: valid.map(([s, e]) => [Math.max(s - cut, 0) + 1, e - cut + 1]) };
}

// The words to mark in the opened message: the marked parts of the snippet.
export function markedWords(snippet, ranges) {
  const points = Array.from(snippet || "");
  const words = new Set();
  for (const r of ranges || []) {
    if (!Array.isArray(r)) continue;
    const word = points.slice(Math.max(0, r[0]), r[1]).join("").trim();
    if (word) words.add(word);
  }
  return [...words];
}

// ---------------------------------------------------------------- the results

// "[Image] " or "[File] " before a file's snippet from the server (its name
// or caption); the text made here already starts with "[File] name".
function fileTag(m) {
  if (m.kind !== "file" || !m.match) return null;
  return `${m.file && m.file.thumbnail_url ? t("[Image]") : t("[File]")} `;
}

// One hit: the chat's face and name, the date, then "Sender: snippet".
function hitRow(m, q) {
  const conv = state.conversations.get(m.conversation);
  const { snippet, ranges } = snippetOf(m, q);
  const row = listRow(
    "chats",
    m.conversation,
    [
      // The chat's face (the friend, the group), not the sender's: mine would be on every row.
      conv ? avatar(conversationFace(conv), { name: conversationTitle(conv) }) : avatar(m.sender),
      h(
        "span.conv-text",
        h(
          "span.conv-top",
          h("span.conv-name", conv ? conversationTitle(conv) : nameOf(m.sender)),
          h("time.conv-time", { datetime: m.created_at, title: formatDateTime(m.created_at) }, formatWhen(m.created_at)),
        ),
        h("span.conv-bottom", h("span.conv-preview.hit-snippet", `${nameOf(m.sender)}: `, fileTag(m), highlighted(snippet, ranges))),
      ),
    ],
    { dataset: { message: m.id } },
  );
  const words = ranges.length ? markedWords(snippet, ranges) : [q];
  // The chat opens at this message with the words found marked (messages.js),
  // not at the bottom. Capture: before the link's own click navigates.
  row.addEventListener("click", () => (state.goTo = { conversation: m.conversation, seq: m.seq, words }), true);
  return row;
}

// Why a search was refused, in words a person can act on.
function searchErrorText(err) {
  if (err.code === "invalid") {
    const labels = {
      q: t("the words searched"),
      conversation: t("the chat"),
      from: t("the sender"),
      after: t("the dates"),
      before: t("the dates"),
      has: t("the kind of message"),
      cursor: t("the page of results"),
    };
    const which = [...new Set(Object.keys(err.fields || {}).map((k) => labels[k]).filter(Boolean))];
    return which.length
      ? tf("This search can't be done: check %(what)s.", { what: which.join(t(", ")) })
      : t("This search can't be done: check the words and the filters.");
  }
  if (err.code === "dates_reversed") return t("The first day is after the last: change Since or Until.");
  if (err.code === "rate_limited") return t("Too many searches. Wait a moment and try again.");
  return errorText(err);
}

// The "Messages" section under the chats that match by name: the hits, then
// the state (searching, nothing found, an error) and *More results*.
export function messageResults(redraw) {
  const found = search.found;
  const q = search.query.trim();
  const section = h("section.message-results", { "aria-label": t("Messages found"), "aria-busy": found && found.loading ? "true" : "false" });
  section.append(h("h2.list-heading", t("Messages")));
  if (!found) return section;
  if (found.results.length) {
    const list = h("ul.conv-list.search-hits");
    for (const m of found.results) list.append(hitRow(m, q));
    section.append(list);
  }
  const status = h("p.search-status.muted.pad", { role: "status" });
  if (found.loading) status.textContent = found.results.length ? t("Loading more results…") : t("Searching…");
  else if (!found.error && !found.results.length) status.textContent = activeFilterCount() ? t("No messages found. Try fewer filters.") : t("No messages found.");
  else if (!found.error && !found.next && found.pages > 1) status.textContent = t("No more results.");
  section.append(status);
  if (found.error) {
    section.append(
      h(
        "div.search-error.pad",
        h("p.alert", { role: "alert" }, searchErrorText(found.error)),
        found.error.code === "dates_reversed"
          ? null
          : h("button.btn.btn-small", { type: "button", onclick: () => (found.results.length ? loadMore(redraw) : runSearch(redraw, { force: true })) }, t("Try again")),
      ),
    );
  } else if (found.next) {
    // aria-disabled rather than disabled while a page loads: it keeps the focus.
    const more = h("button.btn.btn-small.search-more", { type: "button", "aria-disabled": found.loading ? "true" : null, onclick: () => loadMore(redraw) }, t("More results"));
    section.append(h("div.search-more-wrap", more));
    // Scrolling to the end of the list loads the next page by itself; not
    // while the button has the focus: a keyboard that tabbed to it (which
    // scrolls it into view) presses it, and a page loading by itself would
    // move the focus on to its first hit just before that Enter, which would
    // then open that hit rather than load more.
    if ("IntersectionObserver" in window) {
      const seen = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting) && more.isConnected && !found.loading && document.activeElement !== more) {
          seen.disconnect();
          loadMore(redraw);
        }
      });
      requestAnimationFrame(() => more.isConnected && seen.observe(more));
      // Left without being pressed: observed afresh (the first report says
      // whether it is in view now).
      more.addEventListener("blur", () => {
        if (!more.isConnected) return;
        seen.unobserve(more);
        seen.observe(more);
      });
    }
  }
  return section;
}

// ---------------------------------------------------------------- the filters

// The people a search can be limited to: me, the chat's members (when it is
// limited to one chat and they are known), then my contacts; by name.
function senderChoices() {
  const people = new Map();
  const add = (user) => user && user.id && user.id !== state.me.id && !people.has(user.id) && people.set(user.id, user);
  const conv = search.filters.conversation && state.conversations.get(search.filters.conversation);
  if (conv && conv.peer) add(conv.peer);
  if (conv) for (const member of state.members.get(conv.id) || []) add(member.user);
  for (const contact of state.contacts.values()) add(contact.user);
  const chosen = search.filters.from;
  if (chosen && chosen !== state.me.id && !people.has(chosen)) add(state.users.get(chosen) || { id: chosen });
  const sorted = [...people.values()].sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  return [{ id: state.me.id, label: t("Me") }, ...sorted.map((u) => ({ id: u.id, label: nameOf(u) }))];
}

// The panel under the search box; `changed()` runs the search again.
export function filterPanel(changed) {
  const f = search.filters;
  const panel = h("div.search-filters", { id: "search-filters", role: "group", "aria-label": t("Search filters"), hidden: !search.panelOpen });
  const openChat = state.route.section === "chats" && state.route.item && state.conversations.get(state.route.item);
  // The chat chosen, else the one open (a chosen chat may be hidden since: then it has no name here).
  const scopeChat = f.conversation ? state.conversations.get(f.conversation) || null : openChat;
  if (scopeChat || f.conversation) {
    const box = h("input", { type: "checkbox", id: "search-this-chat", checked: Boolean(f.conversation) });
    box.addEventListener("change", () => {
      f.conversation = box.checked && scopeChat ? scopeChat.id : null;
      changed(true);
    });
    const name = scopeChat ? conversationTitle(scopeChat) : t("this chat");
    panel.append(h("div.filter-check", box, h("label", { for: "search-this-chat" }, tf("Only in %(chat)s", { chat: name }))));
  }
  const from = h("select", { id: "search-from" }, h("option", { value: "" }, t("Anyone")));
  for (const choice of senderChoices()) from.append(h("option", { value: choice.id, selected: choice.id === f.from }, choice.label));
  from.addEventListener("change", () => {
    f.from = from.value;
    changed();
  });
  const has = h(
    "select",
    { id: "search-has" },
    h("option", { value: "" }, t("Any message")),
    h("option", { value: "file", selected: f.has === "file" }, t("Has a file")),
    h("option", { value: "image", selected: f.has === "image" }, t("Has an image")),
  );
  has.addEventListener("change", () => {
    f.has = has.value;
    changed();
  });
  const after = h("input", { type: "date", id: "search-after", value: f.after, max: f.before || null });
  const before = h("input", { type: "date", id: "search-before", value: f.before, min: f.after || null });
  const dates = () => {
    f.after = after.value;
    f.before = before.value;
    after.max = f.before;
    before.min = f.after;
    changed();
  };
  after.addEventListener("change", dates);
  before.addEventListener("change", dates);
  const field = (id, label, input) => h("div.filter-field", h("label", { for: id }, label), input);
  panel.append(
    h(
      "div.filter-grid",
      field("search-from", t("Sent by"), from),
      field("search-has", t("Contains"), has),
      field("search-after", t("Since"), after),
      field("search-before", t("Until"), before),
    ),
  );
  if (activeFilterCount()) {
    panel.append(
      h(
        "button.linklike.filter-clear",
        {
          type: "button",
          onclick: () => {
            search.filters = { conversation: null, from: "", after: "", before: "", has: "" };
            changed(true);
          },
        },
        t("Clear filters"),
      ),
    );
  }
  return panel;
}

// The button beside the search box that shows the filters, with how many are on.
export function filterToggle(onToggle) {
  const n = activeFilterCount();
  const label = n ? tf("Filters (%(n)s)", { n }) : t("Filters");
  return h(
    `button.btn.btn-small.filter-toggle${n ? ".on" : ""}`,
    {
      type: "button",
      "aria-expanded": String(search.panelOpen),
      "aria-controls": "search-filters",
      onclick: () => {
        search.panelOpen = !search.panelOpen;
        onToggle();
      },
    },
    label,
  );
}

// A magnifier drawn here (the icon sprite has none), for "Search in this chat".
export function searchIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [k, v] of Object.entries({ class: "icon", width: "20", height: "20", viewBox: "0 0 24 24", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "aria-hidden": "true", focusable: "false" })) svg.setAttribute(k, v);
  const circle = document.createElementNS(ns, "circle");
  for (const [k, v] of Object.entries({ cx: "11", cy: "11", r: "6.5" })) circle.setAttribute(k, v);
  const line = document.createElementNS(ns, "path");
  line.setAttribute("d", "M16 16l4.5 4.5");
  svg.append(circle, line);
  return svg;
}
