// Chats: the conversation list and the open conversation.

import { api, apiAll, upload } from "./api.js";
import { avatar, clear, debounce, formatDuration, formatSize, formatTime, h, svgIcon, t, tf, uuid4 } from "./dom.js";
import { emojiPicker } from "./emoji.js";
import {
  box,
  conversationTitle,
  emit,
  nameOf,
  newest,
  on,
  rememberUser,
  sortedConversations,
  state,
} from "./state.js";
import { appLink, backButton, confirmDialog, emptyState, errorText, navigate, toast } from "./ui.js";
import { startCall } from "./calls.js";

const PAGE = 30;
let listQuery = "";
let view = null; // the open conversation's view, if any

export function title() {
  const conv = state.route.item && state.conversations.get(state.route.item);
  return conv ? conversationTitle(conv) : t("Chats");
}

// ------------------------------------------------------------------ loading

// Conversation id -> when it was hidden: a list read that started before
// that still has it, and must not bring it back.
const hiddenAt = new Map();

function dropHidden(id) {
  hiddenAt.set(id, Date.now());
  state.conversations.delete(id);
  emit("conversations");
}

export const loadConversations = newest(
  async () => {
    const startedAt = Date.now();
    return { list: await apiAll("conversations?limit=200"), startedAt };
  },
  ({ list, startedAt }) => {
    const fresh = new Map();
    for (const conv of list) {
      if ((hiddenAt.get(conv.id) || 0) >= startedAt) continue;
      const known = state.conversations.get(conv.id);
      // Keep what the socket already told us if it is newer than the list.
      if (known && known.last_seq > conv.last_seq) conv.last_seq = known.last_seq;
      fresh.set(conv.id, conv);
      if (conv.peer) rememberUser(conv.peer);
      if (conv.last_message && conv.last_message.sender) rememberUser(conv.last_message.sender);
    }
    state.conversations = fresh;
    emit("conversations");
  },
);

const reloadConversations = debounce(() => loadConversations().catch(() => {}), 300);

// ------------------------------------------------------------------ text of messages

function systemText(message) {
  const c = message.content || {};
  const actor = nameOf(c.actor);
  const targets = (c.targets || []).map((id) => nameOf(id)).join(t(", "));
  const changes = c.changes || {};
  switch (c.event) {
    case "group_created":
      return tf("%(actor)s created the group “%(name)s”", { actor, name: changes.name || "" });
    case "member_added":
      if ((c.targets || []).length === 1 && c.targets[0] === c.actor) return tf("%(who)s joined the group", { who: actor });
      return tf("%(actor)s added %(targets)s", { actor, targets });
    case "member_removed":
      return tf("%(actor)s removed %(targets)s", { actor, targets });
    case "member_left":
      return tf("%(actor)s left the group", { actor });
    case "group_updated":
      if ("name" in changes) return tf("%(actor)s renamed the group to “%(name)s”", { actor, name: changes.name });
      if ("notice" in changes) return tf("%(actor)s changed the group notice", { actor });
      if ("avatar" in changes) return tf("%(actor)s changed the group picture", { actor });
      return tf("%(actor)s changed the group settings", { actor });
    case "owner_transferred":
      return tf("%(actor)s made %(targets)s the owner", { actor, targets });
    case "recall":
      return tf("%(actor)s recalled a message", { actor });
    default:
      return t("The group changed.");
  }
}

function callText(message) {
  const c = message.content || {};
  const video = c.media === "video";
  const mine = message.sender && message.sender.id === state.me.id;
  switch (c.outcome) {
    case "completed":
      return tf(video ? "Video call · %(d)s" : "Voice call · %(d)s", { d: formatDuration(c.duration_s) });
    case "missed":
      return mine ? t("No answer") : video ? t("Missed video call") : t("Missed voice call");
    case "rejected":
      return mine ? t("Call declined") : t("You declined the call");
    case "cancelled":
      return mine ? t("Call cancelled") : video ? t("Missed video call") : t("Missed voice call");
    case "busy":
      return t("Busy");
    case "failed":
      return t("Call failed");
    default:
      return video ? t("Video call") : t("Voice call");
  }
}

export function previewText(conv, message) {
  if (!message) return "";
  if (message.recalled) return tf("%(who)s recalled a message", { who: nameOf(message.sender) });
  let body;
  if (message.kind === "text") body = message.content || "";
  else if (message.kind === "file")
    body = message.file && message.file.thumbnail_url ? t("[Image]") : tf("[File] %(name)s", { name: message.file ? message.file.name : "" });
  else if (message.kind === "call") return `[${callText(message)}]`;
  else return systemText(message);
  if (conv && conv.kind === "group" && message.sender && message.sender.id !== state.me.id)
    return `${nameOf(message.sender)}: ${body}`;
  return body;
}

// ------------------------------------------------------------------ the list

export function renderList(pane) {
  const search = h("input", {
    type: "search",
    id: "chat-search",
    placeholder: t("Search"),
    value: listQuery,
    autocomplete: "off",
  });
  const results = h("div.list-scroll");
  pane.append(
    h(
      "header.pane-header",
      h("h1", t("Chats")),
      appLink("groups", "new", [svgIcon("plus"), h("span.sr-only", t("New group"))], {
        class: "btn-icon",
        title: t("New group"),
      }),
    ),
    h("div.search", h("label.sr-only", { for: "chat-search" }, t("Search chats and messages")), search),
    results,
  );
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
  clear(container, convs.length ? list : emptyState(q ? t("No chat matches.") : t("No chats yet. Add a contact to start.")));
  if (keep && q) container.append(keep);
}

function conversationItem(conv) {
  const current = state.route.section === "chats" && state.route.item === conv.id;
  const typing = state.typing.get(conv.id);
  const someoneTyping = typing && [...typing.values()].some((until) => until > Date.now());
  const name = conversationTitle(conv);
  const avatarUser = conv.kind === "group" ? { id: conv.id, avatar: conv.group && conv.group.avatar } : conv.peer;
  const online = conv.peer && state.presence.get(conv.peer.id) && state.presence.get(conv.peer.id).online;
  const pic = h("span.avatar-wrap", avatar(avatarUser, { name }), online ? h("span.dot-online", { title: t("Online") }) : null);
  const badge =
    conv.unread > 0
      ? h(`span.badge${conv.muted ? ".badge-muted" : ""}`, { "aria-label": tf("%(n)s unread", { n: conv.unread }) }, conv.unread > 99 ? "99+" : String(conv.unread))
      : null;
  const preview = someoneTyping ? t("typing…") : previewText(conv, conv.last_message);
  return h(
    "li",
    appLink(
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
      { class: "conv-item", "aria-current": current ? "page" : null, dataset: { conversation: conv.id } },
    ),
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
    list.append(
      h(
        "li",
        appLink("chats", m.conversation, [
          avatar(m.sender),
          h(
            "span.conv-text",
            h("span.conv-top", h("span.conv-name", conv ? conversationTitle(conv) : nameOf(m.sender)), h("time.conv-time", formatTime(m.created_at))),
            h("span.conv-bottom", h("span.conv-preview", `${nameOf(m.sender)}: ${m.content || ""}`)),
          ),
        ], { class: "conv-item" }),
      ),
    );
  }
  section.append(list);
  container.append(section);
}

// ------------------------------------------------------------------ frames

function upsertMessage(message, { fromSync = false } = {}) {
  const conv = state.conversations.get(message.conversation);
  if (message.sender) rememberUser(message.sender);
  // The sender stopped typing when the message came.
  if (message.sender) state.typing.get(message.conversation)?.delete(message.sender.id);
  if (!conv) {
    reloadConversations();
  }
  if (message.kind === "system" && message.content && message.content.event === "recall") {
    markRecalled(message.conversation, message.content.changes && message.content.changes.message);
  }
  // A conversation that was opened keeps its messages, even those that come
  // while its history is still loading (the history merges by id).
  const b = state.boxes.get(message.conversation);
  let isNew = true;
  let pending = null;
  if (b) {
    if (b.ids.has(message.id)) isNew = false;
    else {
      b.ids.add(message.id);
      b.bySeq.set(message.seq, message);
    }
    if (message.client_msg_id && b.pending.has(message.client_msg_id)) {
      pending = b.pending.get(message.client_msg_id);
      b.pending.delete(message.client_msg_id);
    }
  }
  if (conv && isNew) {
    if (message.seq > (conv.last_seq || 0)) {
      conv.last_seq = message.seq;
      conv.last_message = message;
      conv.updated_at = message.created_at;
    }
    const mine = message.sender && message.sender.id === state.me.id;
    if (!mine && message.sender) noteSenderRead(conv, message.sender.id, message.seq);
    if (mine) {
      conv.read_seq = Math.max(conv.read_seq || 0, message.seq);
    } else if (message.kind !== "system" || message.content?.event !== "recall") {
      if (message.seq > (conv.read_seq || 0) && !isReading(conv.id)) conv.unread = (conv.unread || 0) + 1;
    }
    emit("conversations");
  }
  if (view && view.id === message.conversation && (isNew || pending)) view.onMessage(message, { pending });
}

// Sending moves the sender's read cursor to their message (without a `read`
// frame): whoever writes has read everything before.
function noteSenderRead(conv, userId, seq) {
  if (conv.kind === "direct") {
    if (seq > (conv.peer_read_seq || 0)) {
      conv.peer_read_seq = seq;
      if (view && view.id === conv.id) view.redrawReceipts();
    }
    return;
  }
  const reads = state.reads.get(conv.id);
  if (reads && seq > (reads.get(userId) || 0)) {
    reads.set(userId, seq);
    if (view && view.id === conv.id) view.redrawReceipts();
  }
}

function markRecalled(conversationId, messageId) {
  const b = state.boxes.get(conversationId);
  if (!b) return;
  for (const m of b.bySeq.values()) {
    if (m.id === messageId) {
      m.recalled = true;
      m.content = null;
      m.file = null;
      if (view && view.id === conversationId) view.redraw(m);
    }
  }
  const conv = state.conversations.get(conversationId);
  if (conv && conv.last_message && conv.last_message.id === messageId) {
    conv.last_message = { ...conv.last_message, recalled: true, content: null, file: null };
    emit("conversations");
  }
}

function isReading(conversationId) {
  return view && view.id === conversationId && document.visibilityState === "visible";
}

export function onFrame(frame) {
  switch (frame.type) {
    case "message.new":
      upsertMessage(frame.message, { fromSync: Boolean(frame.sync) });
      return;
    case "message.ack":
      if (frame.status === "stored" && frame.message) upsertMessage(frame.message);
      else if (view) view.onAck(frame);
      return;
    case "message.recalled":
      markRecalled(frame.conversation, frame.message);
      return;
    case "error":
      if (view) view.onError(frame);
      return;
    case "read": {
      const conv = state.conversations.get(frame.conversation);
      if (!conv) return;
      if (conv.kind === "direct") conv.peer_read_seq = Math.max(conv.peer_read_seq || 0, frame.seq);
      else {
        const reads = state.reads.get(conv.id);
        if (reads) reads.set(frame.user, Math.max(reads.get(frame.user) || 0, frame.seq));
      }
      if (view && view.id === conv.id) view.redrawReceipts();
      return;
    }
    case "typing": {
      let map = state.typing.get(frame.conversation);
      if (!map) state.typing.set(frame.conversation, (map = new Map()));
      map.set(frame.user, Date.now() + 5000);
      emit("typing", frame);
      setTimeout(() => emit("typing", frame), 5100);
      return;
    }
    case "conversation.updated": {
      const fresh = frame.conversation;
      if (fresh.hidden) {
        // Hidden here or in another tab: out of the list until a new message.
        dropHidden(fresh.id);
        return;
      }
      hiddenAt.delete(fresh.id); // opened again (here or elsewhere)
      const known = state.conversations.get(fresh.id);
      if (known && known.last_seq > fresh.last_seq) {
        fresh.last_seq = known.last_seq;
        fresh.last_message = known.last_message;
      }
      state.conversations.set(fresh.id, fresh);
      emit("conversations");
      return;
    }
    case "contact.added":
    case "contact.removed":
    case "group.updated":
    case "group.member_added":
    case "group.member_removed":
    case "group.dismissed":
      reloadConversations();
      return;
    default:
  }
}

on("synced", () => {
  if (view) view.markRead();
});

// ------------------------------------------------------------------ the open conversation

function closeView() {
  if (view) view.detach();
  view = null;
}

export function renderMain(main, item) {
  closeView();
  if (!item) {
    main.append(emptyState(t("Choose a chat to start messaging.")));
    return closeView;
  }
  const conv = state.conversations.get(item);
  if (!conv) {
    main.append(emptyState(t("Loading…")));
    loadConversations()
      .then(() => {
        if (state.route.item !== item) return;
        clear(main);
        if (state.conversations.get(item)) renderMain(main, item);
        else main.append(backButton(), emptyState(t("This chat is not available.")));
      })
      .catch(() => {});
    return closeView;
  }
  view = new ConversationView(main, conv);
  return closeView;
}

class ConversationView {
  constructor(main, conv) {
    this.id = conv.id;
    this.conv = conv;
    this.main = main;
    this.offs = [];
    this.lastTypingSent = 0;
    this.readTimer = null;
    this.build();
    this.load();
  }

  get group() {
    return this.conv.kind === "group";
  }

  canRecallAny() {
    return this.group && this.conv.group && ["owner", "admin"].includes(this.conv.group.my_role);
  }

  build() {
    const conv = this.conv;
    const name = conversationTitle(conv);
    this.subtitle = h("p.subtitle", { "aria-live": "polite" });
    const actions = h("div.header-actions");
    if (conv.kind === "direct" && conv.peer) {
      actions.append(
        h("button.btn-icon", { type: "button", "aria-label": t("Voice call"), title: t("Voice call"), onclick: () => startCall(conv.peer, "audio") }, svgIcon("phone")),
        h("button.btn-icon", { type: "button", "aria-label": t("Video call"), title: t("Video call"), onclick: () => startCall(conv.peer, "video") }, svgIcon("video")),
      );
    }
    this.pinButton = h("button.btn-icon", { type: "button", onclick: () => this.toggle("pinned") }, svgIcon("pin"));
    this.muteButton = h("button.btn-icon", { type: "button", onclick: () => this.toggle("muted") }, svgIcon("mute"));
    const hideButton = h("button.btn-icon", { type: "button", "aria-label": t("Hide chat"), title: t("Hide chat"), onclick: () => this.hide() }, svgIcon("hide"));
    actions.append(this.pinButton, this.muteButton, hideButton);
    if (conv.kind === "group" && conv.group) {
      actions.append(appLink("groups", conv.group.id, svgIcon("info"), { class: "btn-icon", "aria-label": t("Group details"), title: t("Group details") }));
    } else if (conv.peer) {
      actions.append(appLink("contacts", conv.peer.id, svgIcon("info"), { class: "btn-icon", "aria-label": t("Contact details"), title: t("Contact details") }));
    }
    const avatarUser = conv.kind === "group" ? { id: conv.id, avatar: conv.group && conv.group.avatar } : conv.peer;
    this.header = h(
      "header.pane-header.chat-header",
      backButton(),
      avatar(avatarUser, { name, size: 36 }),
      h("div.chat-title", h("h1", name), this.subtitle),
      actions,
    );
    this.older = h("div.older", { role: "status", "aria-live": "polite" });
    this.list = h("ol.messages", { "aria-label": t("Messages") });
    this.scroller = h("div.message-scroll", { tabindex: "0", role: "log", "aria-label": tf("Messages with %(name)s", { name }) }, this.older, this.list);
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < 120) this.loadOlder();
    });
    this.main.append(this.header, this.scroller, this.composer());
    this.updateHeader();
    this.offs.push(on("presence", () => this.updateHeader()));
    this.offs.push(on("typing", (f) => f.conversation === this.id && this.updateHeader()));
    this.offs.push(on("conversations", () => {
      const fresh = state.conversations.get(this.id);
      if (fresh && fresh !== this.conv) {
        this.conv = fresh;
        this.redrawReceipts();
      }
      this.updateHeader();
    }));
    this.onVisible = () => this.markRead();
    document.addEventListener("visibilitychange", this.onVisible);
    this.recallTimer = setInterval(() => this.refreshRecallButtons(), 15000);
  }

  detach() {
    this.offs.forEach((off) => off());
    document.removeEventListener("visibilitychange", this.onVisible);
    clearInterval(this.recallTimer);
  }

  updateHeader() {
    const conv = this.conv;
    const typing = state.typing.get(conv.id);
    const typers = typing ? [...typing.entries()].filter(([, until]) => until > Date.now()).map(([id]) => id) : [];
    let text = "";
    if (typers.length) {
      text = this.group ? tf("%(who)s is typing…", { who: typers.map((id) => nameOf(id)).join(t(", ")) }) : t("typing…");
    } else if (conv.kind === "direct" && conv.peer) {
      const p = state.presence.get(conv.peer.id);
      if (p) text = p.online ? t("Online") : p.last_seen ? tf("Last seen %(when)s", { when: formatTime(p.last_seen) }) : t("Offline");
    } else if (conv.group) {
      text = tf("%(n)s members", { n: conv.group.member_count });
    }
    this.subtitle.textContent = text;
    this.pinButton.setAttribute("aria-pressed", String(Boolean(conv.pinned)));
    this.pinButton.setAttribute("aria-label", conv.pinned ? t("Unpin chat") : t("Pin chat"));
    this.pinButton.title = this.pinButton.getAttribute("aria-label");
    this.muteButton.setAttribute("aria-pressed", String(Boolean(conv.muted)));
    this.muteButton.setAttribute("aria-label", conv.muted ? t("Unmute chat") : t("Mute chat"));
    this.muteButton.title = this.muteButton.getAttribute("aria-label");
  }

  async toggle(field) {
    try {
      const fresh = await api("PATCH", `conversations/${this.id}`, { [field]: !this.conv[field] });
      if (fresh.hidden) {
        dropHidden(fresh.id); // hidden in another tab meanwhile
        return;
      }
      state.conversations.set(fresh.id, { ...fresh, last_seq: Math.max(fresh.last_seq, this.conv.last_seq) });
      this.conv = state.conversations.get(fresh.id);
      emit("conversations");
    } catch (err) {
      toast(errorText(err), { kind: "error" });
    }
  }

  // Out of the chat list until a new message arrives; the messages are kept
  // and the chat opens again from the contact or the group.
  async hide() {
    try {
      await api("DELETE", `conversations/${this.id}`);
    } catch (err) {
      toast(errorText(err), { kind: "error" });
      return;
    }
    dropHidden(this.id);
    navigate("chats");
    toast(t("Chat hidden. It comes back with the next message."));
  }

  composer() {
    const form = h("form.composer", { "aria-label": t("Write a message") });
    this.input = h("textarea", {
      id: "composer-input",
      rows: 1,
      maxLength: state.config.max_text,
      placeholder: t("Message"),
      enterKeyHint: "send",
    });
    const label = h("label.sr-only", { for: "composer-input" }, t("Message"));
    const picker = emojiPicker((emoji) => this.insert(emoji));
    const fileInput = h("input.sr-only", { type: "file", id: "composer-file", multiple: true, tabindex: "-1", "aria-hidden": "true" });
    const fileButton = h("button.btn-icon", { type: "button", "aria-label": t("Send a file"), title: t("Send a file"), onclick: () => fileInput.click() }, svgIcon("clip"));
    fileInput.addEventListener("change", () => {
      for (const file of fileInput.files) this.sendFile(file);
      fileInput.value = "";
    });
    const send = h("button.btn.btn-primary.send", { type: "submit" }, t("Send"));
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    this.input.addEventListener("input", () => {
      this.autosize();
      this.sendTyping();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.input.value;
      if (!text.trim()) return;
      this.sendText(text);
      this.input.value = "";
      this.autosize();
      picker.close();
      this.input.focus();
    });
    // Paste or drop files straight into the chat.
    this.input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length) {
        event.preventDefault();
        files.forEach((f) => this.sendFile(f));
      }
    });
    this.main.addEventListener("dragover", (event) => event.preventDefault());
    this.main.addEventListener("drop", (event) => {
      event.preventDefault();
      [...(event.dataTransfer?.files || [])].forEach((f) => this.sendFile(f));
    });
    const disabled = this.sendDisabledReason();
    if (disabled) {
      return h("div.composer.composer-disabled", h("p", disabled));
    }
    form.append(picker.panel, h("div.composer-row", picker.button, fileButton, label, this.input, send), fileInput);
    return form;
  }

  sendDisabledReason() {
    const conv = this.conv;
    if (conv.kind === "group" && conv.group && conv.group.status && conv.group.status !== "active")
      return conv.group.status === "dismissed" ? t("This group was dismissed.") : t("This group is disabled.");
    if (conv.kind === "group" && conv.group && conv.group.my_role === null) return t("You are no longer a member of this group.");
    return null;
  }

  insert(text) {
    const el = this.input;
    const start = el.selectionStart ?? el.value.length;
    const end = el.selectionEnd ?? el.value.length;
    el.value = el.value.slice(0, start) + text + el.value.slice(end);
    el.selectionStart = el.selectionEnd = start + text.length;
    this.autosize();
  }

  autosize() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  sendTyping() {
    const every = (state.config.typing_interval_s || 3) * 1000;
    if (Date.now() - this.lastTypingSent < every) return;
    this.lastTypingSent = Date.now();
    state.socket.send({ type: "typing", conversation: this.id });
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
    if (this.group) await this.loadGroupContext();
    this.older.textContent = b.hasMore ? "" : t("This is the beginning of the chat.");
    this.drawAll();
    this.scrollToBottom();
    this.markRead();
    // A screen taller than one page: fetch more until it can scroll.
    if (b.hasMore && this.scroller.scrollHeight <= this.scroller.clientHeight) this.loadOlder();
  }

  async loadGroupContext() {
    const conv = this.conv;
    try {
      const [reads, members] = await Promise.all([
        api("GET", `conversations/${this.id}/reads`),
        conv.group && conv.group.my_role ? apiAll(`groups/${conv.group.id}/members?limit=100`, { max: 2000 }) : Promise.resolve([]),
      ]);
      const map = new Map();
      for (const r of reads.results) map.set(r.user, r.read_seq);
      state.reads.set(this.id, map);
      for (const m of members) rememberUser(m.user);
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
      this.drawAll();
      // Keep the message the reader was looking at in place.
      this.scroller.scrollTop += this.scroller.scrollHeight - before;
      this.older.textContent = b.hasMore ? "" : t("This is the beginning of the chat.");
    } catch (err) {
      this.older.textContent = errorText(err);
    } finally {
      b.loading = false;
    }
  }

  // ---------------------------------------------------------------- drawing

  drawAll() {
    const b = box(this.id);
    const seqs = [...b.bySeq.keys()].sort((x, y) => x - y);
    const nodes = [];
    for (const seq of seqs) {
      const node = this.messageNode(b.bySeq.get(seq));
      if (node) nodes.push(node);
    }
    for (const p of b.pending.values()) nodes.push(p.node || (p.node = this.pendingNode(p)));
    clear(this.list, nodes);
  }

  nearBottom() {
    return this.scroller.scrollHeight - this.scroller.scrollTop - this.scroller.clientHeight < 120;
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  onMessage(message, { pending } = {}) {
    const stick = this.nearBottom() || (message.sender && message.sender.id === state.me.id);
    const node = this.messageNode(message);
    if (pending && pending.node) {
      pending.node.remove();
      if (pending.previewUrl) URL.revokeObjectURL(pending.previewUrl);
    }
    if (node && !this.list.querySelector(`[data-id="${message.id}"]`)) {
      // In seq order, before the pending ones: one's own message too takes
      // the place the server gave it, so every member sees the same order.
      const after = [...this.list.querySelectorAll("[data-seq]")].find((el) => Number(el.dataset.seq) > message.seq);
      const firstPending = this.list.querySelector("[data-pending]");
      this.list.insertBefore(node, after || firstPending || null);
    }
    if (stick) this.scrollToBottom();
    this.markRead();
  }

  findPending(cmid) {
    return box(this.id).pending.get(cmid);
  }

  redraw(message) {
    const old = this.list.querySelector(`[data-id="${message.id}"]`);
    const node = this.messageNode(message);
    if (old && node) old.replaceWith(node);
    else if (old) old.remove();
  }

  redrawReceipts() {
    for (const el of this.list.querySelectorAll(".msg.mine[data-seq]")) {
      const status = el.querySelector(".msg-status");
      if (status) status.textContent = this.receiptText(Number(el.dataset.seq));
    }
  }

  refreshRecallButtons() {
    for (const el of this.list.querySelectorAll(".recall")) {
      const seq = Number(el.closest("[data-seq]")?.dataset.seq);
      const message = box(this.id).bySeq.get(seq);
      if (message && !this.canRecall(message)) el.remove();
    }
  }

  receiptText(seq) {
    if (this.conv.kind === "direct") return (this.conv.peer_read_seq || 0) >= seq ? t("Read") : t("Sent");
    const reads = state.reads.get(this.id);
    if (!reads) return t("Sent");
    let n = 0;
    for (const [user, readSeq] of reads) if (user !== state.me.id && readSeq >= seq) n += 1;
    return n ? tf("Read by %(n)s", { n }) : t("Sent");
  }

  canRecall(message) {
    if (message.recalled || message.kind === "system" || message.kind === "call") return false;
    if (this.canRecallAny()) return true;
    const mine = message.sender && message.sender.id === state.me.id;
    const age = (Date.now() - new Date(message.created_at).getTime()) / 1000;
    return mine && age < state.config.recall_window_s - 2;
  }

  messageNode(message) {
    if (message.kind === "system") {
      if (message.content && message.content.event === "recall") return null;
      return h("li.msg-system", { dataset: { id: message.id, seq: String(message.seq) } }, systemText(message));
    }
    if (message.recalled) {
      const who = message.sender && message.sender.id === state.me.id ? t("You") : nameOf(message.sender);
      return h("li.msg-system", { dataset: { id: message.id, seq: String(message.seq) } }, tf("%(who)s recalled a message", { who }));
    }
    if (message.kind === "call") {
      const c = message.content || {};
      return h(
        "li.msg-system.msg-call",
        { dataset: { id: message.id, seq: String(message.seq) } },
        svgIcon(c.media === "video" ? "video" : "phone"),
        " ",
        callText(message),
        " · ",
        h("time", { datetime: message.created_at }, formatTime(message.created_at)),
      );
    }
    const mine = message.sender && message.sender.id === state.me.id;
    const meta = h("div.msg-meta", h("time", { datetime: message.created_at }, formatTime(message.created_at)));
    if (mine) meta.append(" · ", h("span.msg-status", this.receiptText(message.seq)));
    if (this.canRecall(message)) {
      meta.append(
        " · ",
        h("button.linklike.recall", { type: "button", onclick: () => this.recall(message) }, t("Recall")),
      );
    }
    return h(
      `li.msg${mine ? ".mine" : ".theirs"}`,
      { dataset: { id: message.id, seq: String(message.seq), cmid: message.client_msg_id || "" } },
      mine ? null : avatar(message.sender, { size: 32 }),
      h(
        "div.msg-body",
        this.group && !mine ? h("div.msg-sender", nameOf(message.sender)) : null,
        this.bubble(message),
        meta,
      ),
    );
  }

  bubble(message) {
    if (message.kind === "file" && message.file) {
      const f = message.file;
      const parts = [];
      if (f.thumbnail_url) {
        const img = h("img.thumb", { src: f.thumbnail_url, alt: f.name, loading: "lazy" });
        if (f.width && f.height) {
          const scale = Math.min(1, 240 / f.width, 240 / f.height);
          img.width = Math.max(1, Math.round(f.width * scale));
          img.height = Math.max(1, Math.round(f.height * scale));
        }
        parts.push(h("a.thumb-link", { href: f.url, target: "_blank", rel: "noopener", "aria-label": tf("Open image %(name)s", { name: f.name }) }, img));
      } else {
        parts.push(
          h(
            "a.file-card",
            { href: f.url, target: "_blank", rel: "noopener", download: f.name },
            svgIcon("file"),
            h("span.file-text", h("span.file-name", f.name), h("span.file-size", formatSize(f.size))),
          ),
        );
      }
      if (message.content) parts.push(h("p.caption", message.content));
      return h("div.bubble.bubble-file", parts);
    }
    return h("div.bubble", h("p.text", message.content || ""));
  }

  async recall(message) {
    const ok = await confirmDialog(t("Recall this message for everyone?"), { ok: t("Recall") });
    if (!ok) return;
    if (!state.socket.send({ type: "message.recall", message: message.id, ref: `recall-${message.id.slice(0, 8)}` })) {
      toast(t("Not connected. Try again when the connection is back."), { kind: "error" });
    }
  }

  // ---------------------------------------------------------------- sending

  sendText(text) {
    const cmid = uuid4();
    const frame = { type: "message.send", client_msg_id: cmid, conversation: this.id, kind: "text", content: text };
    const pending = { cmid, kind: "text", content: text, frame, state: "sending", created_at: new Date().toISOString() };
    this.addPending(pending);
    state.socket.sendMessage(frame);
  }

  sendFile(file) {
    if (file.size > state.config.max_file) {
      toast(tf("“%(name)s” is larger than %(max)s.", { name: file.name, max: formatSize(state.config.max_file) }), { kind: "error" });
      return;
    }
    const cmid = uuid4();
    const pending = { cmid, kind: "file", file, state: "uploading", progress: 0, created_at: new Date().toISOString() };
    this.addPending(pending);
    const job = upload(file, (fraction) => {
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
        this.refreshPending(pending);
        const frame = { type: "message.send", client_msg_id: cmid, conversation: this.id, kind: "file", file: stored.id, content: null };
        pending.frame = frame;
        state.socket.sendMessage(frame);
      },
      (err) => {
        pending.state = "failed";
        pending.error = err.code === "aborted" ? t("Cancelled") : errorText(err);
        this.refreshPending(pending);
      },
    );
  }

  addPending(pending) {
    const b = box(this.id);
    b.pending.set(pending.cmid, pending);
    pending.node = this.pendingNode(pending);
    this.list.append(pending.node);
    this.scrollToBottom();
  }

  refreshPending(pending) {
    const node = this.pendingNode(pending);
    if (pending.node && pending.node.isConnected) pending.node.replaceWith(node);
    pending.node = node;
  }

  pendingNode(p) {
    let body;
    if (p.kind === "text") {
      body = h("div.bubble", h("p.text", p.content));
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
      sending: t("Sending…"),
      failed: p.error ? tf("Not sent: %(why)s", { why: p.error }) : t("Not sent"),
    }[p.state];
    const meta = h("div.msg-meta", h("span.msg-status", { role: p.state === "failed" ? "alert" : null }, status));
    if (p.state === "failed") {
      if (p.frame) meta.append(" · ", h("button.linklike", { type: "button", onclick: () => this.retry(p) }, t("Retry")));
      meta.append(" · ", h("button.linklike", { type: "button", onclick: () => this.discard(p) }, t("Remove")));
    }
    return h("li.msg.mine.pending", { dataset: { pending: p.cmid } }, h("div.msg-body", body, meta));
  }

  retry(p) {
    p.state = "sending";
    p.error = null;
    this.refreshPending(p);
    state.socket.sendMessage(p.frame);
  }

  discard(p) {
    box(this.id).pending.delete(p.cmid);
    if (p.node) p.node.remove();
    if (p.previewUrl) URL.revokeObjectURL(p.previewUrl);
  }

  onAck() {}

  onError(frame) {
    const p = frame.ref && box(this.id).pending.get(frame.ref);
    if (p) {
      p.state = "failed";
      p.error = errorText(frame);
      this.refreshPending(p);
      return;
    }
    if (frame.ref && frame.ref.startsWith("recall-")) toast(errorText(frame), { kind: "error" });
  }

  // ---------------------------------------------------------------- read receipts

  markRead() {
    if (document.visibilityState !== "visible") return;
    const conv = state.conversations.get(this.id) || this.conv;
    const b = box(this.id);
    const top = Math.max(conv.last_seq || 0, ...b.bySeq.keys());
    if (top <= (conv.read_seq || 0) && !conv.unread) return;
    if (this.readTimer) return;
    const send = () => {
      this.readTimer = null;
      this.lastReadAt = Date.now();
      const c = state.conversations.get(this.id) || this.conv;
      const seq = Math.max(c.last_seq || 0, ...box(this.id).bySeq.keys());
      if (state.socket.send({ type: "read", conversation: this.id, seq })) {
        c.read_seq = Math.max(c.read_seq || 0, seq);
        c.unread = 0;
        emit("conversations");
      }
    };
    // At once when the chat opens; then at most about once a second.
    const wait = 1000 - (Date.now() - (this.lastReadAt || 0));
    if (wait <= 0) send();
    else this.readTimer = setTimeout(send, wait);
  }
}

export function openConversationWith({ peer, group }) {
  return api("POST", "conversations", peer ? { peer } : { group }).then((conv) => {
    hiddenAt.delete(conv.id);
    const known = state.conversations.get(conv.id);
    if (!known) state.conversations.set(conv.id, conv);
    emit("conversations");
    navigate("chats", conv.id);
  });
}
