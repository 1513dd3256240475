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

export const reloadConversations = debounce(() => loadConversations().catch(() => {}), 300);

export function openConversationWith({ peer, group }) {
  return api("POST", "conversations", peer ? { peer } : { group }).then((conv) => {
    hiddenAt.delete(conv.id);
    const known = state.conversations.get(conv.id);
    if (!known) state.conversations.set(conv.id, conv);
    emit("conversations");
    navigate("chats", conv.id);
  });
}
