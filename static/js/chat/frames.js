// What the socket brings for chats: new messages (live, from `sync` after a
// reconnect, and one's own as its `stored` ack) merged once by id into the
// conversation's box, unread counts and mentions of me, read receipts,
// changes to a message (recall, edit, reactions, pin: live by their own
// frames, and after an absence by the events `sync` brings), typing, and
// conversation changes, slash commands' answers (commands.js), bots'
// answers for me alone (ephemeral.js) and smart replies (suggestions.js).
// The open conversation's view is told what concerns it.

import { api } from "../api.js";
import { emit, on, rememberUser, state } from "../state.js";
import { commandAnswered, forgetCommands } from "./commands.js";
import { dropHidden, forgetHidden, fromServer, reloadConversations } from "./conversations.js";
import { keepEphemeral } from "./ephemeral.js";
import { forwardFailed, forwardStored } from "./forward.js";
import { mentionsMe } from "./mentions.js";
import { sendRefused } from "./pending.js";
import { withMe } from "./reactions.js";
import { dropSuggestionsFor, keepSuggestions, noteMessage } from "./suggestions.js";
import { isSilent } from "./text.js";
import { changeRefused, openView } from "./view.js";

// The open view if it shows `conversationId`.
function viewOf(conversationId) {
  const view = openView();
  return view && view.id === conversationId ? view : null;
}

// Only what people send counts as unread (no system event, silent or not).
const UNREAD_KINDS = new Set(["text", "file", "call", "bundle"]);

function isReading(conversationId) {
  return Boolean(viewOf(conversationId)) && document.visibilityState === "visible";
}

function upsertMessage(message) {
  const conv = state.conversations.get(message.conversation);
  if (message.sender) rememberUser(message.sender);
  // The sender stopped typing when the message came.
  if (message.sender) state.typing.get(message.conversation)?.delete(message.sender.id);
  // A chat not in the list: a message un-hides it (the server lists it again).
  if (!conv || conv.unlisted) {
    reloadConversations();
  }
  if (message.kind === "system" && message.content) applyEvent(message);
  if (message.client_msg_id && message.sender && message.sender.id === state.me.id) forwardStored(message.client_msg_id);
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
  if (isNew && !isSilent(message)) noteMessage(message);
  if (conv && isNew) {
    // The list's counts cover its messages up to its last_seq (listed_seq):
    // a message the list counted already, which `sync` brings after a
    // reconnect, is not counted again. Those beyond it are counted once each
    // (the socket delivers an id once), in whatever order they come, and
    // remembered (`counted`) for the next list to add to its own counts.
    const horizon = conv.listed_seq ?? 0;
    if (message.seq > (conv.last_seq || 0)) {
      conv.last_seq = message.seq;
      if (!isSilent(message)) {
        conv.last_message = message;
        conv.updated_at = message.created_at;
      }
    }
    const mine = message.sender && message.sender.id === state.me.id;
    if (!mine && message.sender) noteSenderRead(conv, message.sender.id, message.seq);
    // They could write to me, or mine was stored: nothing blocks this chat now.
    if (state.refused.has(conv.id) && conv.kind === "direct" && message.kind !== "system" && state.refused.delete(conv.id))
      emit("refused", conv.id);
    if (mine) {
      conv.read_seq = Math.max(conv.read_seq || 0, message.seq);
      // A send clears the sender's draft (on the server, for every device).
      if (conv.draft && message.client_msg_id) {
        conv.draft = null;
        viewOf(conv.id)?.composer.draftChanged(null);
      }
    } else if (UNREAD_KINDS.has(message.kind) && !message.recalled) {
      if (message.seq > horizon && message.seq > (conv.read_seq || 0) && !isReading(conv.id)) {
        const mention = mentionsMe(message);
        conv.unread = (conv.unread || 0) + 1;
        if (mention) conv.unread_mentions = (conv.unread_mentions || 0) + 1;
        (conv.counted ||= []).push({ seq: message.seq, mention });
      }
    }
    emit("conversations");
  }
  const view = viewOf(message.conversation);
  if (view && (isNew || pending)) view.onMessage(message, { pending });
}

// Sending moves the sender's read cursor to their message (without a `read`
// frame): whoever writes has read everything before.
function noteSenderRead(conv, userId, seq) {
  if (conv.kind === "direct") {
    if (seq > (conv.peer_read_seq || 0)) {
      conv.peer_read_seq = seq;
      viewOf(conv.id)?.redrawReceipts();
    }
    return;
  }
  const reads = state.reads.get(conv.id);
  if (reads && seq > (reads.get(userId) || 0)) {
    reads.set(userId, seq);
    viewOf(conv.id)?.redrawReceipts();
  }
}

// ---------------------------------------------------------------- changes to a message

// The stored message `messageId` of a conversation's box, if loaded.
function findInBox(conversationId, messageId) {
  const b = state.boxes.get(conversationId);
  for (const m of b ? b.bySeq.values() : []) if (m.id === messageId) return m;
  return null;
}

// Puts `fresh` in the place of the message with its id (box, chat list) and redraws it.
function replaceMessage(fresh) {
  const b = state.boxes.get(fresh.conversation);
  if (b && findInBox(fresh.conversation, fresh.id)) b.bySeq.set(fresh.seq, fresh);
  viewOf(fresh.conversation)?.redraw(fresh);
  const conv = state.conversations.get(fresh.conversation);
  if (conv && conv.last_message && conv.last_message.id === fresh.id) {
    conv.last_message = fresh;
    emit("conversations");
  }
}

// Edits and reactions apply in seq order: one older than what the tab
// has shown (a `sync` after a live frame) changes nothing.
const changeSeqs = new Map(); // "edit:<id>" / "reaction:<id>" -> seq applied
function newer(key, seq) {
  const known = changeSeqs.get(key) || 0;
  if (seq !== null && seq !== undefined && seq < known) return false;
  if (seq) changeSeqs.set(key, seq);
  return true;
}

// `message.edited` and `message.reactions` stand for their event, which
// comes live in no `message.new`: its seq counts as held, so the next sync
// does not send it again. (It is neither unread nor the chat's preview.)
function holdSeq(conversationId, seq) {
  const conv = state.conversations.get(conversationId);
  if (conv && seq && seq > (conv.last_seq || 0)) conv.last_seq = seq;
}

// A system message changes its target: recall, edit, reaction, pin, unpin.
function applyEvent(message) {
  const c = message.content;
  const changes = c.changes || {};
  const conversationId = message.conversation;
  switch (c.event) {
    case "recall":
      markRecalled(conversationId, changes.message);
      uncountRecalled(conversationId, changes, c.targets);
      return;
    case "edit":
      // The event has no text (and comes only through sync): the message is
      // read again, unless `message.edited` brought it meanwhile.
      refetchEdited(conversationId, changes, message.seq);
      return;
    case "reaction": {
      const target = findInBox(conversationId, changes.message);
      if (target && newer(`reaction:${target.id}`, message.seq))
        replaceMessage({ ...target, reactions: withMe(changes.reactions, target.reactions) });
      return;
    }
    case "pin":
    case "unpin": {
      const pinned = c.event === "pin";
      const view = viewOf(conversationId);
      if (view) view.pinChanged(changes.message, pinned);
      else {
        const target = findInBox(conversationId, changes.message);
        if (target) target.pinned = pinned;
      }
      return;
    }
    default:
  }
}

async function refetchEdited(conversationId, changes, eventSeq) {
  const target = findInBox(conversationId, changes.message);
  const conv = state.conversations.get(conversationId);
  const inList = conv && conv.last_message && conv.last_message.id === changes.message;
  if ((!target && !inList) || (changeSeqs.get(`edit:${changes.message}`) || 0) >= eventSeq) return;
  try {
    const page = await api("GET", `conversations/${conversationId}/messages?after=${changes.seq - 1}&limit=1`);
    const fresh = page.results.find((m) => m.id === changes.message);
    if (fresh) applyEdited(fresh, eventSeq);
  } catch (err) {
    // The next reconnect's sync or a reload shows it.
  }
}

// `message.edited` (or a message read again after an `edit` event): the
// updated message, for every member alike. Replies in the box that quote it
// show its new words.
function applyEdited(fresh, seq) {
  if (!newer(`edit:${fresh.id}`, seq)) return;
  replaceMessage(fresh);
  const b = state.boxes.get(fresh.conversation);
  for (const m of b ? b.bySeq.values() : []) {
    if (m.reply_to && m.reply_to.id === fresh.id && !m.reply_to.recalled) {
      m.reply_to = { ...m.reply_to, excerpt: Array.from(fresh.content || "").slice(0, 100).join("") };
      viewOf(fresh.conversation)?.redraw(m);
    }
  }
  const view = viewOf(fresh.conversation);
  if (view && fresh.pinned) view.pins.refresh();
}

// A recalled message becomes a placeholder, in the open box and as the chat
// list's last message: no text, file, reactions, mentions or pin. Replies
// quoting it say it was recalled; a reply being written to it is dropped.
function markRecalled(conversationId, messageId) {
  const view = viewOf(conversationId);
  const b = state.boxes.get(conversationId);
  for (const m of b ? b.bySeq.values() : []) {
    if (m.id === messageId && !m.recalled) {
      const wasPinned = m.pinned;
      Object.assign(m, { recalled: true, content: null, file: null, reply_to: null, reactions: [], mentions: [], mention_all: false, pinned: false });
      view?.redraw(m);
      if (wasPinned) view?.pins.refresh();
    } else if (m.reply_to && m.reply_to.id === messageId && !m.reply_to.recalled) {
      m.reply_to = { ...m.reply_to, recalled: true, excerpt: "" };
      view?.redraw(m);
    }
  }
  // A recall unpins (no unpin event comes), the message loaded here or not.
  view?.pins.recalled(messageId);
  view?.composer.forgetReplyTo(messageId);
  dropSuggestionsFor(conversationId, messageId);
  const conv = state.conversations.get(conversationId);
  if (conv && conv.last_message && conv.last_message.id === messageId) {
    conv.last_message = { ...conv.last_message, recalled: true, content: null, file: null };
    emit("conversations");
  }
}

// A recalled message stops counting as unread (once, however often its
// recall event arrives: live, then again in a sync).
const uncounted = new Set();
function uncountRecalled(conversationId, changes, targets) {
  const conv = state.conversations.get(conversationId);
  if (!conv || !changes.message || uncounted.has(changes.message)) return;
  uncounted.add(changes.message);
  const fromOther = (targets || [])[0] !== state.me.id;
  if (fromOther && changes.seq > (conv.read_seq || 0) && conv.unread > 0) {
    conv.unread -= 1;
    // Whether it mentioned me only the server knows now.
    if (conv.unread_mentions > 0) reloadConversations();
    emit("conversations");
  }
}

// A group frame changes the group's conversation at once (status, member
// count, my role: null in a removed member's last frame), so an open chat
// follows it before the list is read again.
function applyGroup(frame) {
  const g = frame.group;
  if (!g) return;
  for (const conv of state.conversations.values()) {
    if (conv.kind !== "group" || !conv.group || conv.group.id !== g.id) continue;
    const group = { ...conv.group, ...g };
    if (frame.type === "group.member_removed" && frame.user && frame.user.id === state.me.id) group.my_role = null;
    if (frame.type === "group.dismissed") group.status = "dismissed";
    state.refused.delete(conv.id);
    // A bot that joined or left brings or takes its commands.
    if (frame.type === "group.member_added" || frame.type === "group.member_removed") forgetCommands(conv.id);
    state.conversations.set(conv.id, { ...conv, group });
    emit("conversations");
  }
}

export function onFrame(frame) {
  switch (frame.type) {
    case "message.new":
      upsertMessage(frame.message);
      return;
    case "message.ack":
      // `accepted` changes nothing on screen: the message says Sending…
      // until its `stored` ack brings it.
      if (frame.status === "stored" && frame.message) upsertMessage(frame.message);
      return;
    case "message.recalled":
      markRecalled(frame.conversation, frame.message);
      return;
    case "message.edited":
      holdSeq(frame.conversation, frame.seq);
      if (frame.message) applyEdited(frame.message, frame.seq);
      return;
    case "message.reactions": {
      holdSeq(frame.conversation, frame.seq);
      const target = findInBox(frame.conversation, frame.message);
      if (target && newer(`reaction:${target.id}`, frame.seq)) replaceMessage({ ...target, reactions: frame.reactions || [] });
      return;
    }
    case "error": {
      if (forwardFailed(frame) || commandAnswered(frame)) return;
      // A send refused is kept in its own conversation's box, whichever chat
      // is open (a resend after a reconnect is answered wherever one is):
      // if its chat is open, it says so at once.
      const refused = sendRefused(frame);
      if (refused) viewOf(refused.conversationId)?.pending.refresh(refused.pending);
      else changeRefused(frame); // a recall, edit or reaction refused
      return;
    }
    case "command.ack":
      commandAnswered(frame);
      return;
    case "bot.ephemeral":
      // Never counted as unread: it is no message.
      keepEphemeral(frame);
      viewOf(frame.conversation)?.onEphemeral(frame);
      return;
    case "reply.suggestions":
      keepSuggestions(frame);
      return;
    case "read": {
      const conv = state.conversations.get(frame.conversation);
      if (!conv) return;
      if (conv.kind === "direct") conv.peer_read_seq = Math.max(conv.peer_read_seq || 0, frame.seq);
      else {
        const reads = state.reads.get(conv.id);
        if (reads) reads.set(frame.user, Math.max(reads.get(frame.user) || 0, frame.seq));
      }
      viewOf(conv.id)?.redrawReceipts();
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
      forgetHidden(fresh.id); // opened again (here or elsewhere)
      state.conversations.set(fresh.id, fromServer(fresh));
      emit("conversations");
      return;
    }
    case "contact.added":
    case "contact.removed":
      state.refused.delete(frame.conversation);
      reloadConversations();
      return;
    case "block.changed":
      // Made on another device: the direct chat with them is tried afresh
      // (the server says whether it is refused), and the counts of mentions
      // are the server's again (a blocked person's do not count).
      for (const conv of state.conversations.values()) {
        if (conv.kind === "direct" && conv.peer && conv.peer.id === frame.user.id) state.refused.delete(conv.id);
      }
      reloadConversations();
      return;
    case "group.updated":
    case "group.member_added":
    case "group.member_removed":
    case "group.dismissed":
      applyGroup(frame);
      reloadConversations();
      return;
    default:
  }
}

// After a reconnect's sync the open chat may have more to mark read.
on("synced", () => {
  openView()?.markRead();
});
