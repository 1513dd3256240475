// The conversations the tab knows (state.conversations): the list read over
// REST, chats hidden here or in another tab, and opening a chat with a
// contact or a group.

import { api, apiAll } from "../api.js";
import { debounce } from "../dom.js";
import { emit, newest, rememberUser, state } from "../state.js";
import { navigate } from "../ui.js";

// Conversation id -> when it was hidden: a list read that started before
// that still has it, and must not bring it back.
const hiddenAt = new Map();

export function dropHidden(id) {
  hiddenAt.set(id, Date.now());
  state.conversations.delete(id);
  emit("conversations");
}

// Opened again (here or elsewhere): a later list read may show it.
export function forgetHidden(id) {
  hiddenAt.delete(id);
}

// A conversation as the server sent it (the list, a PATCH's answer, a
// `conversation.updated` frame), with what the tab knows that is newer.
export function fromServer(conv) {
  conv.listed_seq = conv.last_seq || 0;
  const known = state.conversations.get(conv.id);
  if (known) keepNewer(conv, known);
  return conv;
}

// What the socket told the tab after the server read the list: a newer
// last message, a read made here, and the messages it counted beyond the
// list's last_seq (added to the list's counts, each once).
function keepNewer(conv, known) {
  if ((known.last_seq || 0) > conv.last_seq) {
    for (const key of ["last_seq", "last_message", "updated_at"]) conv[key] = known[key];
  }
  if ((known.read_seq || 0) > (conv.read_seq || 0)) {
    conv.read_seq = known.read_seq;
    if (conv.read_seq >= conv.listed_seq) conv.unread = conv.unread_mentions = 0;
  }
  const beyond = (known.counted || []).filter((c) => c.seq > conv.listed_seq && c.seq > (conv.read_seq || 0));
  conv.unread = (conv.unread || 0) + beyond.length;
  conv.unread_mentions = (conv.unread_mentions || 0) + beyond.filter((c) => c.mention).length;
  conv.counted = beyond;
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
      fresh.set(conv.id, fromServer(conv));
      if (conv.peer) rememberUser(conv.peer);
      if (conv.last_message && conv.last_message.sender) rememberUser(conv.last_message.sender);
    }
    // A chat open though not listed stays known while it is open.
    const open = state.conversations.get(state.route && state.route.item);
    if (open && open.unlisted && !fresh.has(open.id)) fresh.set(open.id, open);
    state.conversations = fresh;
    emit("conversations");
  },
);

// A chat of mine that the list leaves out (hidden, or a group I left, whose
// history I still read up to my leaving): read on its own to be shown, a
// search hit or an address there. Stays out of the list (`unlisted`) until
// a list read has it. Null when it is no chat of mine.
export async function openUnlisted(id) {
  let conv;
  try {
    conv = await api("GET", `conversations/${id}`);
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
  if (state.conversations.has(conv.id)) return state.conversations.get(conv.id);
  const known = fromServer(conv);
  known.unlisted = true;
  if (known.peer) rememberUser(known.peer);
  state.conversations.set(known.id, known);
  return known;
}

export const reloadConversations = debounce(() => loadConversations().catch(() => {}), 300);

export function openConversationWith({ peer, group }) {
  return api("POST", "conversations", peer ? { peer } : { group }).then((conv) => {
    hiddenAt.delete(conv.id);
    if (!state.conversations.has(conv.id)) state.conversations.set(conv.id, fromServer(conv));
    emit("conversations");
    navigate("chats", conv.id);
  });
}
