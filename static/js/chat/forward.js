// Forwarding: a dialog to pick the chats (several, found by a search box)
// that messages go to, each message as a copy of its own (`forward_of`), or
// all of them as one bundle (`kind: "bundle"`: a merged forward). They go
// through the socket's outbox like any message (acked, sent again after a
// reconnect, each stored once); a refusal is a toast, since the chat they
// went to may not be open.

import { avatar, h, t, tf, tn, uuid4 } from "../dom.js";
import { conversationFace, conversationTitle, sortedConversations, state } from "../state.js";
import { errorText, toast } from "../ui.js";
import { excerptOf } from "./text.js";

export const MAX_BUNDLE = 100;
const forwards = new Set(); // client_msg_ids of forwards not stored yet

// An `error` frame about one of this tab's forwards: says so. Whether it was one.
export function forwardFailed(frame) {
  if (!frame.ref || !forwards.has(frame.ref)) return false;
  forwards.delete(frame.ref);
  toast(tf("Not forwarded: %(why)s", { why: errorText(frame) }), { kind: "error" });
  return true;
}

export function forwardStored(cmid) {
  forwards.delete(cmid);
}

// The chats one may write to.
function targets() {
  return sortedConversations().filter((c) => c.kind === "direct" || (c.group && c.group.my_role && (c.group.status || "active") === "active"));
}

function send(conversation, fields) {
  const cmid = uuid4();
  forwards.add(cmid);
  state.socket.sendMessage({ type: "message.send", client_msg_id: cmid, conversation, ...fields });
}

// `messages` in seq order; `merged`: as one bundle. `onSent()` after sending.
export function openForward({ messages, merged = false, onSent = null }) {
  const picked = new Set();
  const ordered = [...messages].sort((a, b) => a.seq - b.seq);
  const search = h("input", { type: "search", id: "forward-search", autocomplete: "off", placeholder: t("Search") });
  const list = h("ul.forward-list", { "aria-label": t("Chats") });
  const sendButton = h("button.btn.btn-primary", { type: "submit", disabled: true }, t("Send"));
  const summary =
    ordered.length === 1
      ? excerptOf(ordered[0])
      : merged
        ? tn("%(n)s message as one chat history", "%(n)s messages as one chat history", ordered.length)
        : tn("%(n)s message, one by one", "%(n)s messages, one by one", ordered.length);
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const rows = targets()
      .filter((c) => !q || conversationTitle(c).toLowerCase().includes(q))
      .map((c) => {
        const name = conversationTitle(c);
        const box = h("input", { type: "checkbox", checked: picked.has(c.id), dataset: { conversation: c.id } });
        box.addEventListener("change", () => {
          if (box.checked) picked.add(c.id);
          else picked.delete(c.id);
          sendButton.disabled = picked.size === 0;
          sendButton.textContent = picked.size ? tf("Send (%(n)s)", { n: picked.size }) : t("Send");
        });
        const pic = avatar(conversationFace(c), { name, size: 32 });
        return h("li", h("label.pick", box, pic, h("span.conv-name", name)));
      });
    list.replaceChildren(...(rows.length ? rows : [h("li.muted.pad", t("No chat matches."))]));
  };
  search.addEventListener("input", draw);
  draw();
  const form = h(
    "form.forward-form",
    h("h2", { id: "forward-title" }, t("Forward to")),
    h("p.forward-summary.muted", summary),
    h("div.search", h("label.sr-only", { for: "forward-search" }, t("Search chats")), search),
    list,
    h("div.dialog-actions", h("button.btn", { type: "button", onclick: () => dialog.close() }, t("Cancel")), sendButton),
  );
  const dialog = h("dialog.dialog.forward-dialog", { "aria-labelledby": "forward-title" }, form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!picked.size) return;
    for (const conversation of picked) {
      if (merged) send(conversation, { kind: "bundle", bundle: ordered.map((m) => m.id) });
      else for (const m of ordered) send(conversation, { forward_of: m.id });
    }
    toast(picked.size === 1 ? t("Forwarded.") : tf("Forwarded to %(n)s chats.", { n: picked.size }));
    dialog.close();
    onSent?.();
  });
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  search.focus();
}
