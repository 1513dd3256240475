// What one may do with a stored message, and doing it: the items of its menu
// (menu.js) — reply, forward, copy, react, edit, pin or unpin, recall,
// select, who reacted — each offered only where the server would accept it.

import { api } from "../api.js";
import { t } from "../dom.js";
import { state } from "../state.js";
import { confirmDialog, errorText, toast } from "../ui.js";
import { openForward } from "./forward.js";
import { openMenu } from "./menu.js";
import { selectable } from "./message.js";
import { QUICK_REACTIONS, showReactors, toggleReaction } from "./reactions.js";

function isManager(conv) {
  return conv.kind === "group" && conv.group && ["owner", "admin"].includes(conv.group.my_role);
}

function isMine(message) {
  return Boolean(message.sender && message.sender.id === state.me.id);
}

function ageS(message) {
  return (Date.now() - new Date(message.created_at).getTime()) / 1000;
}

// One's own message inside the recall window; in a group, owners and admins any.
export function canRecall(conv, message) {
  if (message.recalled || message.kind === "system" || message.kind === "call") return false;
  if (isManager(conv)) return true;
  return isMine(message) && ageS(message) < state.config.recall_window_s - 2;
}

// One's own text, not a forwarded copy, inside hello's edit window.
export function canEdit(message) {
  const windowS = (state.limits && state.limits.edit_window_s) || 900;
  return isMine(message) && message.kind === "text" && !message.recalled && !message.forwarded_from && ageS(message) < windowS - 2;
}

// Direct: either person; group: owners and admins.
export function canPin(conv) {
  return conv.kind === "direct" || isManager(conv);
}

async function recall(message) {
  const ok = await confirmDialog(t("Recall this message for everyone?"), { ok: t("Recall") });
  if (!ok) return;
  if (!state.socket.send({ type: "message.recall", message: message.id, ref: `recall-${message.id.slice(0, 8)}` })) {
    toast(t("Not connected. Try again when the connection is back."), { kind: "error" });
  }
}

// Sends the new text of `message` (`message.edited` brings it back to everyone).
export function sendEdit(message, content) {
  if (!state.socket.send({ type: "message.edit", message: message.id, content, ref: `edit-${message.id.slice(0, 8)}` })) {
    toast(t("Not connected. Try again when the connection is back."), { kind: "error" });
    return false;
  }
  return true;
}

export async function setPinned(view, message, pinned) {
  try {
    if (pinned) await api("POST", `conversations/${view.id}/pins`, { message: message.id });
    else await api("DELETE", `conversations/${view.id}/pins/${message.id}`);
  } catch (err) {
    toast(errorText(err), { kind: "error" });
    return;
  }
  view.pinChanged(message.id, pinned);
  toast(pinned ? t("Pinned.") : t("Unpinned."));
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    // No clipboard permission (an insecure origin, an old browser): the old way.
    const area = Object.assign(document.createElement("textarea"), { value: text, readOnly: true });
    area.className = "sr-only";
    document.body.append(area);
    area.select();
    const done = document.execCommand("copy");
    area.remove();
    if (!done) {
      toast(t("Could not copy."), { kind: "error" });
      return;
    }
  }
  toast(t("Copied."));
}

// The menu of `message` in the open `view`, placed by `anchor`.
export function openMessageMenu(view, message, { anchor, opener }) {
  const conv = view.conv;
  const writable = view.composer.writable;
  const sent = message.kind === "text" || message.kind === "file" || message.kind === "bundle";
  const items = [];
  if (writable && sent) items.push({ label: t("Reply"), run: () => view.composer.replyTo(message) });
  if (selectable(message)) items.push({ label: t("Forward"), run: () => openForward({ messages: [message] }) });
  if (message.kind === "text") items.push({ label: t("Copy"), run: () => copyText(message.content || "") });
  if (writable && canEdit(message)) items.push({ label: t("Edit"), run: () => view.composer.startEdit(message) });
  if (writable && sent && canPin(conv))
    items.push(message.pinned ? { label: t("Unpin"), run: () => setPinned(view, message, false) } : { label: t("Pin"), run: () => setPinned(view, message, true) });
  if ((message.reactions || []).length) items.push({ label: t("Who reacted"), run: () => showReactors(message) });
  if (selectable(message)) items.push({ label: t("Select"), run: () => view.select.start(message) });
  if (canRecall(conv, message)) items.push({ label: t("Recall"), run: () => recall(message), danger: true });
  const reactions =
    writable && sent
      ? { quick: QUICK_REACTIONS, mine: new Set((message.reactions || []).filter((r) => r.me).map((r) => r.emoji)), pick: (emoji) => toggleReaction(message, emoji) }
      : null;
  return openMenu({ anchor, opener, label: t("Message actions"), reactions, items });
}
