// The conversation list pane: the chats, pinned first then newest, each with
// its picture, presence, preview (or "typing…", "[Draft]", and "[@me]" while
// a mention of me is unread), time, pin/mute marks and unread badge (grey
// when muted, unless I am mentioned); the search box filters them by name
// and, below them, lists the messages that match, with the filters of
// search.js.

import { avatar, botBadge, clear, debounce, formatTime, h, svgIcon, t, tf } from "../dom.js";
import { headerLink, listPane, listRow, refill } from "../panes.js";
import { conversationFace, conversationTitle, on, sortedConversations, state } from "../state.js";
import { appLink, emptyState } from "../ui.js";
import { previewText } from "./text.js";
import { openView } from "./view.js";
import { filterPanel, filterToggle, messageResults, runSearch, search } from "./search.js";

export function renderList(pane) {
  const input = h("input", {
    type: "search",
    id: "chat-search",
    placeholder: t("Search"),
    value: search.query,
    autocomplete: "off",
    enterKeyHint: "search",
  });
  const controls = h("div.search-controls");
  const box = h(
    "div.search",
    { role: "search" },
    h("div.search-row", h("label.sr-only", { for: "chat-search" }, t("Search chats and messages")), input, controls),
  );
  const results = listPane(pane, t("Chats"), {
    action: headerLink("groups", "new", "plus", t("New group")),
    above: box,
  });
  const chatsPart = h("div.chat-matches");
  const messagesPart = h("div.message-part");
  results.append(chatsPart, messagesPart);

  const drawChats = () => drawList(chatsPart);
  const drawMessages = () => {
    const q = search.query.trim();
    if (!q) {
      clear(messagesPart);
      return;
    }
    // The section is replaced on every draw, and a keyboard keeps its place:
    // a focused hit stays focused (the next page may load by itself while it
    // is), and "More results" keeps the focus while its page loads, then the
    // first hit of the new page takes it; never the top of the document.
    const active = document.activeElement;
    const inPart = Boolean(active && messagesPart.contains(active));
    const onMore = inPart && active.classList.contains("search-more");
    const onHit = inPart && active.dataset.message ? active.dataset.message : null;
    const shown = messagesPart.querySelectorAll(".search-hits a").length;
    const section = messageResults(drawMessages);
    clear(messagesPart, section);
    if (onHit) {
      const same = [...section.querySelectorAll(".search-hits a")].find((a) => a.dataset.message === onHit);
      same?.focus({ preventScroll: true });
      return;
    }
    if (!onMore) return;
    const links = messagesPart.querySelectorAll(".search-hits a");
    const more = section.querySelector(".search-more");
    if (search.found && search.found.loading && more) more.focus({ preventScroll: true });
    else (links[shown] || more || links[links.length - 1])?.focus();
  };
  // The toggle and the panel are drawn again on every change; the control
  // that had the focus keeps it (the same id), else the toggle takes it.
  const drawControls = () => {
    const focused = document.activeElement && box.contains(document.activeElement) && document.activeElement !== input ? document.activeElement.id : null;
    clear(controls, filterToggle(drawControls));
    controls.querySelector(".filter-toggle").id = "search-filters-toggle";
    box.querySelector(".search-filters")?.remove();
    box.append(filterPanel(filtersChanged));
    if (focused) (document.getElementById(focused) || document.getElementById("search-filters-toggle")).focus();
  };
  const filtersChanged = () => {
    drawControls();
    drawChats();
    runSearch(drawMessages);
  };
  const searchSoon = debounce(() => runSearch(drawMessages), 300);
  input.addEventListener("input", () => {
    search.query = input.value;
    drawChats();
    if (!search.query.trim()) runSearch(drawMessages);
    else searchSoon();
  });
  input.addEventListener("keydown", (event) => {
    // Down from the box goes to the first result.
    if (event.key === "ArrowDown") {
      const first = results.querySelector("a");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    } else if (event.key === "Enter") {
      runSearch(drawMessages);
    }
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && search.panelOpen && event.target !== input) {
      search.panelOpen = false;
      drawControls();
      document.getElementById("search-filters-toggle")?.focus();
    }
  });
  drawControls();
  drawChats();
  runSearch(drawMessages);
  // Back from a hit: the results where they were (drawn from what is kept).
  if (search.query.trim()) results.scrollTop = search.scrollTop || 0;
  results.addEventListener("scroll", () => (search.scrollTop = results.scrollTop), { passive: true });
  const offs = [
    on("conversations", drawChats),
    on("presence", drawChats),
    on("users", drawChats),
    on("contacts", drawChats), // a remark changed (here or on another device)
    on("typing", drawChats),
    on("search-scope", filtersChanged),
    // Another chat opened (the list is kept): its row's draft, the filter's
    // "Only in this chat".
    on("route", () => {
      drawControls();
      drawChats();
    }),
  ];
  return () => offs.forEach((off) => off());
}

function drawList(container) {
  const q = search.query.trim().toLowerCase();
  let convs = sortedConversations();
  if (!q) {
    const list = h("ul.conv-list", { "aria-label": t("Conversations") });
    for (const conv of convs) list.append(conversationItem(conv));
    refill(container, convs.length ? list : noChatsYet());
    return;
  }
  // Searching: the chats whose name matches, unless the search is about one chat.
  convs = search.filters.conversation ? [] : convs.filter((c) => conversationTitle(c).toLowerCase().includes(q));
  if (!convs.length) {
    clear(container);
    return;
  }
  const list = h("ul.conv-list", { "aria-label": t("Conversations") });
  for (const conv of convs) list.append(conversationItem(conv));
  refill(container, h("h2.list-heading", t("Chats")), list);
}

// An empty list says what to do next, with the button that does it.
function noChatsYet() {
  const empty = emptyState(t("No chats yet. Add a contact to start."));
  empty.append(appLink("contacts", "add", t("Add a contact"), { class: "btn btn-primary" }));
  return empty;
}

function conversationItem(conv) {
  const current = state.route.section === "chats" && state.route.item === conv.id;
  const typing = state.typing.get(conv.id);
  const someoneTyping = typing && [...typing.values()].some((until) => until > Date.now());
  const name = conversationTitle(conv);
  const avatarUser = conversationFace(conv);
  const online = conv.peer && state.presence.get(conv.peer.id) && state.presence.get(conv.peer.id).online;
  const pic = h("span.avatar-wrap", avatar(avatarUser, { name }), online ? h("span.dot-online", { title: t("Online") }) : null);
  const mentioned = conv.unread_mentions > 0;
  const count = Math.max(conv.unread || 0, conv.unread_mentions || 0);
  const badge =
    count > 0
      ? h(
          `span.badge${conv.muted && !mentioned ? ".badge-muted" : ""}`,
          { "aria-label": mentioned ? tf("%(n)s unread, you were mentioned", { n: count }) : tf("%(n)s unread", { n: count }) },
          count > 99 ? "99+" : String(count),
        )
      : null;
  const draft = conv.draft && openView()?.id !== conv.id ? conv.draft.text : null;
  const preview = someoneTyping
    ? t("typing…")
    : draft
      ? h("span", h("span.draft-mark", t("[Draft]")), " ", draft)
      : mentioned
        ? h("span", h("span.mention-mark", t("[@me]")), " ", previewText(conv, conv.last_message))
        : previewText(conv, conv.last_message);
  return listRow(
    "chats",
    conv.id,
    [
      pic,
      h(
        "span.conv-text",
        h(
          "span.conv-top",
          h("span.conv-name", name),
          conv.kind === "direct" ? botBadge(conv.peer) : null,
          conv.pinned ? h("span.pin", { title: t("Pinned") }, svgIcon("pin", t("Pinned"))) : null,
          conv.muted ? h("span.pin", { title: t("Muted") }, svgIcon("mute", t("Muted"))) : null,
          h("time.conv-time", { datetime: conv.updated_at }, formatTime(conv.last_message ? conv.last_message.created_at : conv.updated_at)),
        ),
        h("span.conv-bottom", h(`span.conv-preview${someoneTyping ? ".typing" : ""}`, preview), badge),
      ),
    ],
    { current, dataset: { conversation: conv.id } },
  );
}
