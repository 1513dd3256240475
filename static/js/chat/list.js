// The conversation list pane: the chats, pinned first then newest, each with
// its picture, presence, preview (or "typing…", "[Draft]", and "[@me]" while
// a mention of me is unread), time, pin/mute marks and unread badge (grey
// when muted, unless I am mentioned); the search box filters them by name
// and, below them, lists the messages that match.

import { api } from "../api.js";
import { avatar, clear, debounce, formatTime, h, svgIcon, t, tf } from "../dom.js";
import { headerLink, listPane, listRow } from "../panes.js";
import { conversationFace, conversationTitle, nameOf, on, sortedConversations, state } from "../state.js";
import { appLink, emptyState } from "../ui.js";
import { previewText } from "./text.js";
import { openView } from "./view.js";

let listQuery = "";

export function renderList(pane) {
  const search = h("input", {
    type: "search",
    id: "chat-search",
    placeholder: t("Search"),
    value: listQuery,
    autocomplete: "off",
  });
  const results = listPane(pane, t("Chats"), {
    action: headerLink("groups", "new", "plus", t("New group")),
    above: h("div.search", h("label.sr-only", { for: "chat-search" }, t("Search chats and messages")), search),
  });
  const draw = () => drawList(results);
  const searchMessages = debounce(() => drawMessageResults(results), 350);
  search.addEventListener("input", () => {
    listQuery = search.value;
    draw();
    searchMessages();
  });
  draw();
  if (listQuery.trim()) searchMessages();
  const offs = [on("conversations", draw), on("presence", draw), on("users", draw), on("typing", draw)];
  return () => offs.forEach((off) => off());
}

function drawList(container) {
  const q = listQuery.trim().toLowerCase();
  let convs = sortedConversations();
  if (q) convs = convs.filter((c) => conversationTitle(c).toLowerCase().includes(q));
  const keep = container.querySelector(".message-results");
  const list = h("ul.conv-list", { "aria-label": t("Conversations") });
  for (const conv of convs) list.append(conversationItem(conv));
  clear(container, convs.length ? list : q ? emptyState(t("No chat matches.")) : noChatsYet());
  if (keep && q) container.append(keep);
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

async function drawMessageResults(container) {
  const q = listQuery.trim();
  container.querySelector(".message-results")?.remove();
  if (!q) return;
  let found;
  try {
    found = await api("GET", `messages/search?q=${encodeURIComponent(q.slice(0, 100))}`);
  } catch (err) {
    return;
  }
  if (listQuery.trim() !== q) return;
  container.querySelector(".message-results")?.remove();
  const section = h("section.message-results", { "aria-label": t("Messages found") }, h("h2.list-heading", t("Messages")));
  if (!found.results.length) section.append(h("p.muted.pad", t("No message matches.")));
  const list = h("ul.conv-list");
  for (const m of found.results) {
    const conv = state.conversations.get(m.conversation);
    const row = listRow("chats", m.conversation, [
        // The chat's face (the friend, the group), not the sender's: mine would be on every row.
        conv ? avatar(conversationFace(conv), { name: conversationTitle(conv) }) : avatar(m.sender),
        h(
          "span.conv-text",
          h("span.conv-top", h("span.conv-name", conv ? conversationTitle(conv) : nameOf(m.sender)), h("time.conv-time", formatTime(m.created_at))),
          h("span.conv-bottom", h("span.conv-preview", `${nameOf(m.sender)}: ${m.content || ""}`)),
        ),
    ]);
    // The chat opens at this message with the words found marked (messages.js),
    // not at the bottom. Capture: before the link's own click navigates.
    row.addEventListener("click", () => (state.goTo = { conversation: m.conversation, seq: m.seq, words: q }), true);
    list.append(row);
  }
  section.append(list);
  container.append(section);
}
