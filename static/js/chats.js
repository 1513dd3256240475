// Chats, the section app.js shows at / and /chats/<id>: the conversation
// list and the open conversation. The code is in chat/ (see docs/web.md,
// "Client code layout"); this is what the rest of the app uses of it.

import { conversationTitle, state } from "./state.js";
import { t } from "./dom.js";

export { renderList } from "./chat/list.js";
export { renderMain, revisit } from "./chat/view.js";
export { onFrame } from "./chat/frames.js";
export { loadConversations, openConversationWith } from "./chat/conversations.js";
export { excerptOf } from "./chat/text.js";
export { mentionsMe } from "./chat/mentions.js";
export { forgetCommands } from "./chat/commands.js";
export { forgetSuggestions } from "./chat/suggestions.js";

export function title() {
  const conv = state.route.item && state.conversations.get(state.route.item);
  return conv ? conversationTitle(conv) : t("Chats");
}
