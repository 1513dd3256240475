// A bundle (a merged forward): a card in the chat ("Chat history of A and
// B", its first lines) that opens every item in a dialog. The items are a
// snapshot taken when it was sent: sender, kind, content, file, time.

import { formatDateTime, formatSize, h, svgIcon, t, tf, tn } from "../dom.js";
import { nameOf } from "../state.js";
import { bundleTitle } from "./text.js";

const CARD_LINES = 4;

// The server's English title in the reader's language when it is one of its
// two forms; any other is shown as written.
export function localTitle(message) {
  const title = bundleTitle(message);
  if (title === "Group chat history") return t("Group chat history");
  const pair = /^Chat history of (.+) and (.+)$/.exec(title);
  if (pair) return tf("Chat history of %(a)s and %(b)s", { a: pair[1], b: pair[2] });
  const one = /^Chat history of (.+)$/.exec(title);
  if (one) return tf("Chat history of %(a)s", { a: one[1] });
  return title;
}

function itemsOf(message) {
  const items = message.content && message.content.items;
  return Array.isArray(items) ? items : [];
}

function itemLine(item) {
  switch (item.kind) {
    case "text":
      return item.content || "";
    case "file":
      return item.file && item.file.thumbnail_url ? t("[Image]") : tf("[File] %(name)s", { name: item.file ? item.file.name : "" });
    default:
      return t("[Unsupported message]");
  }
}

// The card inside the bubble: a button that opens the dialog.
export function bundleCard(message) {
  const items = itemsOf(message);
  return h(
    "button.bundle-card",
    { type: "button", title: t("Open the chat history"), dataset: { action: "bundle", focus: "bundle" } },
    h("span.bundle-title", localTitle(message)),
    h(
      "span.bundle-lines",
      items.slice(0, CARD_LINES).map((item) => h("span.bundle-line", `${nameOf(item.sender)}: ${itemLine(item)}`)),
    ),
    h("span.bundle-footer", tn("Chat history · %(n)s message", "Chat history · %(n)s messages", items.length)),
  );
}

function itemBody(item) {
  if (item.kind === "text") return h("p.text", item.content || "");
  if (item.kind === "file" && item.file) {
    const f = item.file;
    const parts = [];
    if (f.thumbnail_url) {
      parts.push(h("a.thumb-link", { href: f.url, target: "_blank", rel: "noopener", "aria-label": tf("Open image %(name)s", { name: f.name }) }, h("img.thumb", { src: f.thumbnail_url, alt: f.name, loading: "lazy" })));
    } else {
      parts.push(h("a.file-card", { href: f.url, target: "_blank", rel: "noopener", download: f.name }, svgIcon("file"), h("span.file-text", h("span.file-name", f.name), h("span.file-size", formatSize(f.size)))));
    }
    if (item.content) parts.push(h("p.caption", item.content));
    return h("div.bubble-file", parts);
  }
  return h("p.muted", t("[Unsupported message]"));
}

// Every item of the bundle, in a dialog.
export function openBundle(message) {
  const list = h(
    "ol.bundle-items",
    itemsOf(message).map((item) =>
      h(
        "li.bundle-item",
        h("div.bundle-item-head", h("span.bundle-item-sender", nameOf(item.sender)), h("time.muted.small", { datetime: item.created_at }, formatDateTime(item.created_at))),
        itemBody(item),
      ),
    ),
  );
  const dialog = h(
    "dialog.dialog.bundle-dialog",
    { "aria-labelledby": "bundle-title" },
    h("h2", { id: "bundle-title" }, localTitle(message)),
    list,
    h("form.dialog-actions", { method: "dialog" }, h("button.btn", { type: "submit" }, t("Close"))),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
