// A bot's answer for me alone (`bot.ephemeral`): never stored, so it lives
// only in this page. It is drawn in its conversation among the messages by
// its time, greyed and marked "Only visible to you"; a conversation that is
// not open keeps it for when it is opened. It is never unread, never the
// chat's preview, and a reload forgets it.

import { avatar, botBadge, displayName, formatDateTime, formatTime, h, t } from "../dom.js";
import { rememberUser } from "../state.js";
import { withLinks } from "./message.js";

const answers = new Map(); // conversation id -> [bot.ephemeral frame], oldest first

export function keepEphemeral(frame) {
  if (frame.bot) rememberUser(frame.bot);
  let list = answers.get(frame.conversation);
  if (!list) answers.set(frame.conversation, (list = []));
  list.push(frame);
}

export function ephemeralIn(conversationId) {
  return answers.get(conversationId) || [];
}

export function ephemeralNode(frame) {
  const at = frame.created_at || new Date().toISOString();
  return h(
    "li.msg-ephemeral",
    { dataset: { at, ephemeral: "" } },
    avatar(frame.bot, { size: 32 }),
    h(
      "div.ephemeral-body",
      h(
        "div.ephemeral-head",
        h("span.ephemeral-bot", displayName(frame.bot)),
        botBadge(frame.bot),
        frame.command ? h("code.ephemeral-command", frame.command) : null,
      ),
      h("p.text", withLinks([frame.text || ""])),
      h(
        "div.msg-meta",
        h("span.ephemeral-note", t("Only visible to you")),
        " · ",
        h("time", { datetime: at, title: formatDateTime(at) }, formatTime(at)),
      ),
    ),
  );
}
