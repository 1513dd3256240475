// A small picker of common emoji (plain Unicode, no images).

import { h, t } from "./dom.js";

export const EMOJI = [
  "😀", "😁", "😂", "🤣", "😊", "😍", "😘", "😎", "🤔", "😅", "😭", "😡",
  "😴", "🥳", "😇", "🙃", "😉", "😬", "🤗", "🙄", "😱", "🤩", "😋", "😢",
  "👍", "👎", "👏", "🙏", "💪", "👌", "✌️", "🤝", "👋", "🙌", "❤️", "💔",
  "🔥", "🎉", "✨", "⭐", "🌹", "🍀", "☕", "🍺", "🍰", "🎂", "🐶", "🐱",
  "🌞", "🌙", "⚡", "☔", "✅", "❌", "❓", "💯", "📎", "📷", "🎵", "🧧",
];

// A toggle button and a popover grid; `onPick(emoji)` inserts one.
export function emojiPicker(onPick) {
  const id = `emoji-${Math.random().toString(36).slice(2, 8)}`;
  const panel = h("div.emoji-panel", { id, role: "group", "aria-label": t("Emoji"), hidden: true });
  const button = h(
    "button.btn-icon.emoji-toggle",
    {
      type: "button",
      "aria-label": t("Emoji"),
      "aria-expanded": "false",
      "aria-controls": id,
      onclick: () => toggle(),
    },
    "😊",
  );
  function toggle(open = panel.hidden) {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open) panel.querySelector("button").focus();
  }
  for (const emoji of EMOJI) {
    panel.append(
      h(
        "button.emoji",
        {
          type: "button",
          onclick: () => {
            onPick(emoji);
          },
        },
        emoji,
      ),
    );
  }
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      toggle(false);
      button.focus();
    }
  });
  return { button, panel, close: () => toggle(false) };
}
