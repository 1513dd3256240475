// One stored message as an item of the message list: a bubble (text with
// its mentions marked, a file, a bundle card, or "unsupported message")
// with what it quotes, where it was forwarded from, its reactions, its time,
// "edited", a pin mark, the receipt (own messages) and the button that opens
// its menu (menu.js); a system line for group events and pins; a call line;
// "X recalled a message". Also what the receipt says. The list (messages.js)
// handles what the controls do: they carry `data-action`.

import { avatar, botBadge, formatDateTime, formatSize, formatTime, h, svgIcon, t, tf } from "../dom.js";
import { nameInSentence, nameOf, state } from "../state.js";
import { bundleCard } from "./bundle.js";
import { textWithMentions } from "./mentions.js";
import { reactionChips } from "./reactions.js";
import { callText, isSilent, KNOWN_KINDS, systemText } from "./text.js";

// *Sent*, *Read* (direct) or *Read by N* (group) under one's own message.
export function receiptText(conv, seq) {
  if (conv.kind === "direct") return (conv.peer_read_seq || 0) >= seq ? t("Read") : t("Sent");
  const reads = state.reads.get(conv.id);
  if (!reads) return t("Sent");
  let n = 0;
  for (const [user, readSeq] of reads) if (user !== state.me.id && readSeq >= seq) n += 1;
  return n ? tf("Read by %(n)s", { n }) : t("Sent");
}

// Messages that Select may pick (to forward one by one or merged).
export function selectable(message) {
  return !message.recalled && (message.kind === "text" || message.kind === "file");
}

// The list item for `message` in `conv`; null for what is not shown (silent
// events: the message they change says it). `selecting`: Select is on, and
// `selected` whether this one is picked.
export function messageNode(conv, message, { selecting = false, selected = false } = {}) {
  // `at` and `sender` let the list put date lines between days and run one
  // sender's messages together (messages.js regroup()).
  const dataset = { id: message.id, seq: String(message.seq), at: message.created_at || "", sender: (message.sender && message.sender.id) || "" };
  if (message.kind === "system") {
    if (isSilent(message)) return null;
    return h("li.msg-system", { dataset }, systemText(message));
  }
  if (message.recalled) {
    const who = message.sender && message.sender.id === state.me.id ? t("You") : nameOf(message.sender);
    return h("li.msg-system", { dataset }, tf("%(who)s recalled a message", { who }));
  }
  if (message.kind === "call") {
    const c = message.content || {};
    return h(
      "li.msg-system.msg-call",
      { dataset },
      svgIcon(c.media === "video" ? "video" : "phone"),
      " ",
      callText(message),
      " · ",
      h("time", { datetime: message.created_at }, formatTime(message.created_at)),
    );
  }
  const mine = message.sender && message.sender.id === state.me.id;
  const meta = h("div.msg-meta", h("time", { datetime: message.created_at }, formatTime(message.created_at)));
  // Only the time: inside a run of one sender it can wait for a hover.
  if (!mine && !message.edited_at && !message.pinned) meta.classList.add("time-only");
  if (message.edited_at) meta.append(" · ", h("span.msg-edited", { title: formatDateTime(message.edited_at) }, t("edited")));
  if (message.pinned) meta.append(" ", h("span.msg-pinned", { title: t("Pinned") }, svgIcon("pin", t("Pinned"))));
  if (mine) meta.append(" · ", h("span.msg-status", receiptText(conv, message.seq)));
  const check =
    selecting && selectable(message)
      ? h("input.msg-check", { type: "checkbox", checked: selected, dataset: { action: "select", focus: "check" }, "aria-label": tf("Select the message from %(name)s", { name: nameOf(message.sender) }) })
      : null;
  const more = h(
    "button.msg-more",
    { type: "button", "aria-label": t("Message actions"), title: t("Message actions"), "aria-haspopup": "menu", "aria-expanded": "false", dataset: { action: "menu", focus: "more" } },
    "⋯",
  );
  return h(
    `li.msg${mine ? ".mine" : ".theirs"}${selected ? ".selected" : ""}`,
    { dataset: { ...dataset, cmid: message.client_msg_id || "" } },
    check,
    mine ? null : avatar(message.sender, { size: 32 }),
    h(
      "div.msg-body",
      conv.kind === "group" && !mine ? h("div.msg-sender", h("span.msg-sender-name", nameOf(message.sender)), botBadge(message.sender)) : null,
      bubble(message),
      reactionChips(message),
      meta,
    ),
    selecting ? null : more,
  );
}

// The quote of a reply, as a button that goes to the original.
export function quoteBlock(reply, { jump = true } = {}) {
  let text = reply.excerpt;
  if (reply.recalled) text = t("Quoted message was recalled");
  else if (!text) text = reply.kind === "call" ? t("[Call]") : t("[Message]");
  const parts = [h("span.sr-only", t("Quoting")), " ", h("span.quote-sender", reply.sender ? nameOf(reply.sender) : t("Deleted user")), " ", h("span.quote-text", text)];
  if (!jump) return h(`div.quote${reply.recalled ? ".quote-recalled" : ""}`, parts);
  return h(
    `button.quote${reply.recalled ? ".quote-recalled" : ""}`,
    { type: "button", title: t("Show the quoted message"), dataset: { action: "quote", target: reply.id, targetSeq: String(reply.seq), focus: "quote" } },
    parts,
  );
}

function forwardedLine(message) {
  const from = message.forwarded_from;
  if (!from) return null;
  return h("p.forwarded", tf("Forwarded from %(name)s", { name: from.sender ? nameInSentence(from.sender) : t("Deleted user") }));
}

function bubble(message) {
  const head = [forwardedLine(message), message.reply_to ? quoteBlock(message.reply_to) : null];
  if (message.kind === "file" && message.file) {
    const f = message.file;
    const parts = [];
    if (f.thumbnail_url) {
      const img = h("img.thumb", { src: f.thumbnail_url, alt: f.name, loading: "lazy" });
      if (f.width && f.height) {
        const scale = Math.min(1, 240 / f.width, 240 / f.height);
        img.width = Math.max(1, Math.round(f.width * scale));
        img.height = Math.max(1, Math.round(f.height * scale));
      }
      parts.push(h("a.thumb-link", { href: f.url, target: "_blank", rel: "noopener", "aria-label": tf("Open image %(name)s", { name: f.name }), dataset: { action: "image", name: f.name } }, img));
    } else {
      parts.push(
        h(
          "a.file-card",
          { href: f.url, target: "_blank", rel: "noopener", download: f.name },
          svgIcon("file"),
          h("span.file-text", h("span.file-name", f.name), h("span.file-size", formatSize(f.size))),
        ),
      );
    }
    if (message.content) parts.push(h("p.caption", message.content));
    return h("div.bubble.bubble-file", head, parts);
  }
  if (message.kind === "bundle") return h("div.bubble.bubble-bundle", head, bundleCard(message));
  if (!KNOWN_KINDS.has(message.kind)) return h("div.bubble", head, h("p.text.muted", t("Unsupported message. Update the app to see it.")));
  return h("div.bubble", head, h("p.text", withLinks(textWithMentions(message))));
}

// http(s) addresses in a message's text become links that open in a new tab
// and tell the target nothing of this page. Only the plain-text parts are
// searched (mention chips stay as they are), and a link is an <a> built from
// the matched text: no markup from the message is ever parsed.
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"]+/giu;
// Punctuation that ends a sentence rather than the address.
const TRAILING = /[.,;:!?)\]}'»。，；：！？）】]+$/u;

export function withLinks(parts) {
  const out = [];
  for (const part of parts) {
    if (typeof part !== "string") {
      out.push(part);
      continue;
    }
    let last = 0;
    for (const match of part.matchAll(URL_PATTERN)) {
      let url = match[0];
      const tail = url.match(TRAILING);
      if (tail) url = url.slice(0, -tail[0].length);
      let safe = null;
      try {
        const parsed = new URL(url);
        if (parsed.protocol === "http:" || parsed.protocol === "https:") safe = parsed.href;
      } catch (err) {
        safe = null;
      }
      if (!safe) continue;
      if (match.index > last) out.push(part.slice(last, match.index));
      out.push(h("a.msg-link", { href: safe, target: "_blank", rel: "noopener noreferrer" }, url));
      last = match.index + url.length;
    }
    if (last < part.length) out.push(part.slice(last));
  }
  return out;
}
