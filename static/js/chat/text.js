// The words a message stands for where it is not drawn as a bubble: the
// line of a system message (group events, pins), the line of a call, the
// one-line preview in the conversation list and the excerpt of a quote or a
// pin. Also which system events are lines at all.

import { formatDuration, t, tf } from "../dom.js";
import { nameInSentence, nameOf, state } from "../state.js";

// System events shown as a line in the chat. Every other event (recall,
// edit, reaction, and any the client does not know yet) is silent: applied
// to its target, never a line, never unread, never the chat's preview.
const LINE_EVENTS = new Set(["group_created", "member_added", "member_removed", "member_left", "group_updated", "owner_transferred", "pin", "unpin"]);

export function isSilent(message) {
  return message.kind === "system" && !LINE_EVENTS.has(message.content?.event);
}

// The kinds this client draws; any other is an "unsupported message".
export const KNOWN_KINDS = new Set(["text", "file", "call", "system", "bundle"]);

export function systemText(message) {
  const c = message.content || {};
  const actor = nameOf(c.actor);
  // Names after the first word are mid-sentence: "you", not "You".
  const targets = (c.targets || []).map((id) => nameInSentence(id)).join(t(", "));
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
    case "pin":
      return tf("%(actor)s pinned a message", { actor });
    case "unpin":
      return tf("%(actor)s unpinned a message", { actor });
    default:
      return t("The group changed.");
  }
}

export function callText(message) {
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

// A message in one line: its text, "[Image]", "[File] name", a bundle's title.
export function excerptOf(message) {
  if (!message || message.recalled) return "";
  switch (message.kind) {
    case "text":
      return message.content || "";
    case "file":
      return message.file && message.file.thumbnail_url ? t("[Image]") : tf("[File] %(name)s", { name: message.file ? message.file.name : "" });
    case "bundle":
      return tf("[Chat history] %(title)s", { title: bundleTitle(message) });
    case "call":
      return `[${callText(message)}]`;
    case "system":
      return systemText(message);
    default:
      return t("[Unsupported message]");
  }
}

// "Chat history of A and B" as the server titled it (in the sender's words).
export function bundleTitle(message) {
  const c = message.content || {};
  return c.title || t("Chat history");
}

export function previewText(conv, message) {
  if (!message) return "";
  if (message.recalled) return tf("%(who)s recalled a message", { who: nameOf(message.sender) });
  if (message.kind === "system" || message.kind === "call") return excerptOf(message);
  const body = excerptOf(message);
  if (conv && conv.kind === "group" && message.sender && message.sender.id !== state.me.id)
    return `${nameOf(message.sender)}: ${body}`;
  return body;
}
