// Reactions: the chips under a bubble (emoji and count, mine pressed, the
// names in their tooltip), a tap that adds or takes back mine
// (`message.react`; the chips change when `message.reactions` comes back, for
// every member alike), and the dialog of who reacted (GET
// /messages/{id}/reactions), opened by a long press or a right click on a
// chip, or from the message menu.

import { api } from "../api.js";
import { h, t, tf } from "../dom.js";
import { nameOf, rememberUser, state } from "../state.js";
import { errorText, toast } from "../ui.js";

export const QUICK_REACTIONS = ["👍", "❤️", "😂", "😮", "😢", "🙏"];

function names(reaction) {
  const shown = reaction.users.map((id) => nameOf(id));
  const more = reaction.count - shown.length;
  return more > 0 ? tf("%(names)s and %(n)s more", { names: shown.join(t(", ")), n: more }) : shown.join(t(", "));
}

// The chips of `message` (null when it has none).
export function reactionChips(message) {
  const reactions = message.reactions || [];
  if (!reactions.length || message.recalled) return null;
  return h(
    "div.reactions",
    { role: "group", "aria-label": t("Reactions") },
    reactions.map((r) =>
      h(
        "button.reaction",
        {
          type: "button",
          title: names(r),
          "aria-pressed": String(Boolean(r.me)),
          dataset: { action: "react", emoji: r.emoji, focus: `react:${r.emoji}` },
        },
        h("span.reaction-emoji", r.emoji),
        " ",
        h("span.reaction-count", String(r.count)),
        h("span.sr-only", `: ${names(r)}`),
      ),
    ),
  );
}

// Adds my `emoji` to `message`, or takes it back if it is there.
export function toggleReaction(message, emoji) {
  const mine = (message.reactions || []).some((r) => r.emoji === emoji && r.me);
  const frame = { type: "message.react", message: message.id, emoji, op: mine ? "remove" : "add", ref: `react-${message.id.slice(0, 8)}` };
  if (!state.socket.send(frame)) toast(t("Not connected. Try again when the connection is back."), { kind: "error" });
}

// A reaction list from a `reaction` event (stored without `me`): mine is
// known from `users` (the first 20), else kept from what the tab knew.
export function withMe(reactions, before) {
  return (reactions || []).map((r) => {
    const known = (before || []).find((b) => b.emoji === r.emoji);
    const me = r.users.includes(state.me.id) || Boolean(r.users.length < r.count && known && known.me);
    return { ...r, me };
  });
}

// Who reacted to `message`, emoji by emoji, in a dialog.
export async function showReactors(message, firstEmoji = null) {
  const reactions = [...(message.reactions || [])];
  if (!reactions.length) return;
  if (firstEmoji) reactions.sort((a, b) => (a.emoji === firstEmoji ? -1 : b.emoji === firstEmoji ? 1 : 0));
  const body = h("div.reactors");
  const dialog = h(
    "dialog.dialog.reactors-dialog",
    { "aria-labelledby": "reactors-title" },
    h("h2", { id: "reactors-title" }, t("Reactions")),
    body,
    h("form.dialog-actions", { method: "dialog" }, h("button.btn", { type: "submit" }, t("Close"))),
  );
  dialog.addEventListener("close", () => dialog.remove());
  for (const r of reactions) {
    const list = h("ul.reactor-list", r.users.map((id) => h("li", nameOf(id))));
    body.append(h("section.reactor-group", h("h3", h("span.reaction-emoji", r.emoji), " ", String(r.count)), list));
    api("GET", `messages/${message.id}/reactions?emoji=${encodeURIComponent(r.emoji)}&limit=100`)
      .then((page) => {
        list.replaceChildren(...page.results.map((user) => h("li", nameOf(rememberUser(user)))));
        if (page.next) list.append(h("li.muted", tf("and %(n)s more", { n: r.count - page.results.length })));
      })
      .catch((err) => {
        // The first 20 from the message itself are still shown.
        if (err.status !== 404) toast(errorText(err), { kind: "error" });
      });
  }
  document.body.append(dialog);
  dialog.showModal();
}
