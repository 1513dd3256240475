// Mentions: the member picker that `@` opens in a group's composer (arrow
// keys, Enter or Tab, Escape; or a tap; after `/invite`, my contacts not in
// the group, by username), what the composer then sends
// (`mentions`, `mention_all`), and the text of a bubble with its mentions
// marked (mine stronger). The text holds what the sender typed, "@Name";
// the ids travel beside it, so a mark is drawn only for a name whose id the
// message names.

import { apiAll } from "../api.js";
import { avatar, botBadge, displayName, h, t } from "../dom.js";
import { newest, on, state } from "../state.js";
import { ComposerPicker } from "./picker.js";

// What "@all" is written as: the sender's language decides, every reader marks both.
const ALL_WORDS = ["all", "所有人"];
const allWord = () => (document.documentElement.lang.toLowerCase().startsWith("zh") ? ALL_WORDS[1] : ALL_WORDS[0]);
const MAX_SHOWN = 50;

export function canMentionAll(conv) {
  return conv.kind === "group" && conv.group && ["owner", "admin"].includes(conv.group.my_role);
}

// The name a mention inserts: the person's own name, not my remark for
// them (every member reads the text).
function publicName(user) {
  return user.nickname || user.username || "";
}

// The picker, bound to the composer's textarea. `composer.mentioned` (id ->
// name) and `composer.mentionAll` record what was picked.
export class MentionPicker extends ComposerPicker {
  constructor(composer) {
    super(composer, { list: "ul.mention-list", id: "mention-list", optionId: "mention-option", label: t("Mention a member") });
    // this.query: {start, text} of the "@..." being typed, or null
  }

  // The "@word" right before the caret, if any.
  findQuery() {
    const el = this.input;
    if (el.selectionStart !== el.selectionEnd) return null;
    const before = el.value.slice(0, el.selectionStart);
    const match = /(^|\s)@([^\s@]{0,32})$/u.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, text: match[2].toLowerCase() };
  }

  candidates(query) {
    const conv = this.composer.view.conv;
    const matches = (user, remark) => !query || [user.nickname, user.username, displayName(user, remark)].some((n) => n && n.toLowerCase().includes(query));
    const members = state.members.get(conv.id) || [];
    const found = [];
    // `/invite @username …` adds my contacts who are not members yet, by username.
    if (/^\/invite\s/.test(this.input.value)) {
      const present = new Set(members.map((m) => m.user.id));
      for (const c of state.contacts.values()) {
        if (c.blocked || present.has(c.user.id) || !c.user.username || !matches(c.user, c.remark)) continue;
        found.push({ user: c.user, label: displayName(c.user, c.remark), insert: c.user.username });
        if (found.length >= MAX_SHOWN) break;
      }
      return found;
    }
    if (canMentionAll(conv) && ALL_WORDS.some((w) => w.startsWith(query) || t("All members").toLowerCase().includes(query)))
      found.push({ all: true, label: t("All members"), insert: allWord() });
    for (const member of members) {
      const user = state.users.get(member.user.id) || member.user;
      if (user.id === state.me.id || !publicName(user)) continue;
      if (!matches(user, state.contacts.get(user.id)?.remark)) continue;
      found.push({ user, label: displayName(user, state.contacts.get(user.id)?.remark), insert: publicName(user) });
      if (found.length >= MAX_SHOWN) break;
    }
    return found;
  }

  update() {
    if (this.composer.view.conv.kind !== "group" || this.composer.editing) return this.close();
    this.query = this.findQuery();
    if (!this.query) return this.close();
    this.options = this.candidates(this.query.text);
    if (!this.options.length) return this.close();
    this.active = Math.min(this.active, this.options.length - 1);
    this.draw();
  }

  renderOption(option) {
    return h(
      "li.mention-option",
      option.all ? h("span.avatar.mention-all-icon", { "aria-hidden": "true" }, "@") : avatar(option.user, { size: 28 }),
      h("span.mention-name", option.label),
      option.all ? null : botBadge(option.user),
      option.all ? null : h("span.muted.small", `@${option.insert}`),
    );
  }

  pick(i) {
    const option = this.options[i];
    const query = this.findQuery() || this.query;
    if (!option || !query) return this.close();
    const el = this.input;
    const text = `@${option.insert} `;
    el.value = el.value.slice(0, query.start) + text + el.value.slice(el.selectionStart);
    el.selectionStart = el.selectionEnd = query.start + text.length;
    if (option.all) this.composer.mentionAll = true;
    else this.composer.mentioned.set(option.user.id, option.insert);
    this.close();
    el.focus();
    el.dispatchEvent(new Event("input"));
  }
}

// What a send carries for the mentions still in `text` (one deleted from
// the text is not sent).
export function mentionFields(text, mentioned, mentionAll) {
  const mentions = [...mentioned].filter(([, name]) => text.includes(`@${name}`)).map(([id]) => id);
  const all = mentionAll && ALL_WORDS.some((w) => text.includes(`@${w}`));
  const out = {};
  if (mentions.length) out.mentions = mentions.slice(0, 50);
  if (all) out.mention_all = true;
  return out;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// The people I block who are not my contacts (GET /blocks; a contact's
// `blocked` says it for my contacts). Read again whenever the contacts are
// (at start, after a reconnect, after a block or unblock here).
let blockedOthers = new Set();
const loadBlocks = newest(
  () => apiAll("blocks?limit=100", { max: 1000 }),
  (users) => {
    blockedOthers = new Set(users.map((u) => u.id));
  },
);
on("contacts", () => {
  loadBlocks().catch(() => {}); // kept as it was: the next read may work
});

// Whether I block `userOrId` (group messages still come from them; they
// neither mention me nor notify: docs/protocol/objects.md `unread_mentions`).
export function iBlock(userOrId) {
  const id = typeof userOrId === "string" ? userOrId : userOrId && userOrId.id;
  if (!id) return false;
  const contact = state.contacts.get(id);
  return contact ? Boolean(contact.blocked) : blockedOthers.has(id);
}

// Whether `message` mentions me (by name or @all) and is someone else's,
// from someone I do not block.
export function mentionsMe(message) {
  if (!message || message.recalled || !message.sender || message.sender.id === state.me.id) return false;
  if (iBlock(message.sender)) return false;
  return Boolean(message.mention_all || (message.mentions || []).includes(state.me.id));
}

// The text of a message as nodes: "@Name" of a mentioned person (and
// "@all" when the message mentions everyone) marked, the rest plain text.
export function textWithMentions(message) {
  const text = message.content || "";
  const names = new Map(); // "@name" -> whether it is me
  for (const id of message.mentions || []) {
    const user = state.users.get(id);
    const remark = state.contacts.get(id)?.remark;
    for (const name of [user?.nickname, user?.username, remark]) if (name) names.set(`@${name}`, id === state.me.id);
  }
  if (message.mention_all) for (const word of ALL_WORDS) names.set(`@${word}`, true);
  if (!names.size) return [text];
  const pattern = new RegExp([...names.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp).join("|"), "gu");
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h(`span.mention${names.get(match[0]) ? ".mention-me" : ""}`, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}
