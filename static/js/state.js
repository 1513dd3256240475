// The app's state, kept in memory for this tab (nothing in localStorage).

import { displayName, t } from "./dom.js";

export const state = {
  config: null,
  limits: null, // hello.limits (edit_window_s, max_text, ...)
  me: null,
  socket: null,
  refused: new Map(), // conversation id -> why the server refused a send there (blocked, not_member, ...), until re-read
  offline: false, // the connection was lost and is not back yet (app.js: showStatus)
  conversations: new Map(), // id -> Conversation
  boxes: new Map(), // conversation id -> loaded messages (see box())
  contacts: new Map(), // user id -> Contact
  sections: [], // the lettered contact list
  users: new Map(), // user id -> User, every user the tab has seen
  groups: new Map(), // group id -> Group
  incoming: new Map(), // pending incoming contact requests, by id
  presence: new Map(), // user id -> {online, last_seen}
  typing: new Map(), // conversation id -> Map(user id -> expiry ms)
  reads: new Map(), // group conversation id -> Map(user id -> read seq)
  members: new Map(), // group conversation id -> [Member] (the @ picker)
  route: { section: "chats", item: null },
  goTo: null, // {conversation, seq, words: [string]}: the chat about to open shows that message with those words marked (a search hit)
};

const bus = new EventTarget();

// A list read again over REST (after an event, a reconnect, an edit) can be
// answered after a later read of the same list: `newest(fetch, apply)` applies
// an answer only if no read started after it was applied first, so an old
// answer never overwrites a newer one.
export function newest(fetch, apply) {
  let started = 0;
  let applied = 0;
  return async (...args) => {
    const mine = ++started;
    const data = await fetch(...args);
    if (mine < applied) return;
    applied = mine;
    apply(data);
  };
}

export function emit(type, detail) {
  bus.dispatchEvent(new CustomEvent(type, { detail }));
}

export function on(type, fn) {
  const handler = (event) => fn(event.detail);
  bus.addEventListener(type, handler);
  return () => bus.removeEventListener(type, handler);
}

export function rememberUser(user) {
  if (user && user.id) state.users.set(user.id, { ...(state.users.get(user.id) || {}), ...user });
  return user;
}

// The name to show for a user: my remark for them, else nickname, else username.
export function nameOf(userOrId) {
  const id = typeof userOrId === "string" ? userOrId : userOrId && userOrId.id;
  if (id && state.me && id === state.me.id) return t("You");
  const contact = id ? state.contacts.get(id) : null;
  const user = (id && state.users.get(id)) || (typeof userOrId === "object" ? userOrId : null);
  if (!user && !contact) return t("a member");
  return displayName(contact ? contact.user : user, contact ? contact.remark : "");
}

// nameOf() for the middle of a sentence: "Ann added you", not "added You".
export function nameInSentence(userOrId) {
  const id = typeof userOrId === "string" ? userOrId : userOrId && userOrId.id;
  return id && state.me && id === state.me.id ? t("you") : nameOf(userOrId);
}

// Whose face a conversation shows: the peer's, or the group's (keyed by the
// group's id, so a group has one colour in Chats and in Groups).
export function conversationFace(conv) {
  if (!conv) return null;
  if (conv.kind !== "group") return conv.peer;
  return { id: conv.group ? conv.group.id : conv.id, avatar: conv.group && conv.group.avatar };
}

export function conversationTitle(conv) {
  if (!conv) return "";
  if (conv.kind === "group") return conv.group ? conv.group.name : t("Group chat");
  return nameOf(conv.peer);
}

export function box(conversationId) {
  let b = state.boxes.get(conversationId);
  if (!b) {
    b = {
      loaded: false,
      loading: false,
      hasMore: true,
      bySeq: new Map(), // seq -> Message
      ids: new Set(),
      pending: new Map(), // client_msg_id -> pending message (not stored yet)
    };
    state.boxes.set(conversationId, b);
  }
  return b;
}

// Cursors for `sync`: the last seq this tab has of each conversation it knows.
export function cursors() {
  const out = {};
  for (const conv of state.conversations.values()) out[conv.id] = conv.last_seq || 0;
  return out;
}

// The chat list, in its order. A chat opened though not listed (a hidden
// one, a group left: `unlisted`, conversations.js openUnlisted) is not in it.
export function sortedConversations() {
  return [...state.conversations.values()].filter((c) => !c.unlisted).sort((a, b) => {
    if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
    return (b.updated_at || "").localeCompare(a.updated_at || "");
  });
}
