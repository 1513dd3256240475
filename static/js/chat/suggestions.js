// Smart replies (`reply.suggestions`): up to three answers the server offers
// the recipient of a direct message. They are kept in memory per
// conversation while the message they answer is still its newest (a chat
// that is not open shows them when it is opened); a newer message from
// anyone, a send from this tab, the message's recall or switching smart
// replies off drops them. The composer draws them as buttons just above the
// box; picking one fills the box and never sends (composer.js). Nothing is
// stored: a reload shows none.

import { emit, state } from "../state.js";

const MAX = 3;
const offered = new Map(); // conversation id -> reply.suggestions frame

// The seq of the newest message the tab knows in the conversation (events
// such as reactions and edits are no message: they leave the chips alone).
function newestSeq(conversationId) {
  const conv = state.conversations.get(conversationId);
  return conv && conv.last_message ? conv.last_message.seq || 0 : 0;
}

function drop(conversationId) {
  if (offered.delete(conversationId)) emit("suggestions", conversationId);
}

export function keepSuggestions(frame) {
  const texts = (Array.isArray(frame.suggestions) ? frame.suggestions : []).filter((s) => typeof s === "string" && s.trim()).slice(0, MAX);
  if (!frame.conversation || !texts.length) return;
  // Late: something newer was said meanwhile.
  if (newestSeq(frame.conversation) > frame.seq) return;
  const known = offered.get(frame.conversation);
  if (known && known.seq > frame.seq) return;
  offered.set(frame.conversation, { ...frame, suggestions: texts });
  emit("suggestions", frame.conversation);
}

// The suggestions to show in the conversation now, or null.
export function suggestionsFor(conversationId) {
  const frame = offered.get(conversationId);
  if (!frame) return null;
  if (newestSeq(conversationId) > frame.seq) {
    offered.delete(conversationId);
    return null;
  }
  return frame;
}

// A message (not a silent event) came in the conversation: anything newer
// than the message the suggestions answer makes them stale.
export function noteMessage(message) {
  const frame = offered.get(message.conversation);
  if (frame && message.seq > frame.seq) drop(message.conversation);
}

// The person sent something here (a message, a file or a command).
export function dropSuggestions(conversationId) {
  drop(conversationId);
}

// The message they answer was recalled.
export function dropSuggestionsFor(conversationId, messageId) {
  const frame = offered.get(conversationId);
  if (frame && frame.message === messageId) drop(conversationId);
}

// Smart replies were switched off (Me › Settings).
export function forgetSuggestions() {
  for (const id of [...offered.keys()]) drop(id);
}
