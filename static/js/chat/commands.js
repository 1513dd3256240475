// Slash commands in the composer: what may be run in a conversation (`GET
// /conversations/{id}/commands`: the built-ins, then the commands of the bots
// in it), read once per conversation while the page lives and again after a
// member joins or leaves; the completion list that "/" at the start of the
// text opens (arrow keys, Enter or Tab, Escape; or a click); and running a
// command: a text whose first word is a command offered here goes as
// `command.run` instead of a message, and its `command.ack` or `error`
// comes back to whoever ran it (by `ref`). A text that starts with "/" but
// names no command here ("/etc/hosts is broken"), the list read again to be
// sure, is an ordinary message.

import { api } from "../api.js";
import { botBadge, displayName, h, t, uuid4 } from "../dom.js";
import { state } from "../state.js";
import { errorText } from "../ui.js";
import { ComposerPicker } from "./picker.js";

// The command's name, as the server reads it: "/name", then a space or the end.
const NAME = /^\/([a-z0-9][a-z0-9_-]{0,31})(?=\s|$)/;
const ACK_TIMEOUT_MS = 15000;
const MAX_SHOWN = 50;

const lists = new Map(); // conversation id -> Promise of [Available]
const known = new Map(); // conversation id -> [Available], once read
const running = new Map(); // ref -> {onAck, onError, timer}

// The commands offered in a conversation: {name, description, usage, bot: User or null}.
export function commandsIn(conversationId) {
  let list = lists.get(conversationId);
  if (!list) {
    list = api("GET", `conversations/${conversationId}/commands`).then((data) => {
      known.set(conversationId, data.results);
      return data.results;
    });
    list.catch(() => lists.delete(conversationId)); // asked again next time
    lists.set(conversationId, list);
  }
  return list;
}

// What is known of a conversation's commands is stale (a bot joined or
// left, or an owner changed a bot's commands): read again when next needed.
export function forgetCommands(conversationId = null) {
  if (conversationId) {
    lists.delete(conversationId);
    known.delete(conversationId);
  } else {
    lists.clear();
    known.clear();
  }
}

// Whether `text` starts as a command does ("/name", then a space or the end).
export function looksLikeCommand(text) {
  return NAME.test(text);
}

// The command that `text` runs, from `list`; null when it names none of them.
export function commandOf(list, text) {
  const match = NAME.exec(text);
  return match ? list.find((c) => c.name === match[1]) || null : null;
}

// The command `text` runs in the conversation, or null for an ordinary
// message. A name the list does not know is looked up once more in a list
// read again (a bot's owner may have added it since): a command must never
// go to everyone as a message.
export async function findCommand(conversationId, text) {
  const found = commandOf(await commandsIn(conversationId), text);
  if (found || !looksLikeCommand(text)) return found;
  forgetCommands(conversationId);
  return commandOf(await commandsIn(conversationId), text);
}

// Sends `command.run`; `onAck(frame)` or `onError(sentence)` follows.
export function runCommand({ conversation, text, onAck, onError }) {
  const ref = `cmd-${uuid4()}`;
  // The client_msg_id names the message of /me or /shrug (the others ignore it).
  const frame = { type: "command.run", conversation, text, client_msg_id: uuid4(), ref };
  if (!state.socket.send(frame)) {
    onError(t("Not connected. Try again when the connection is back."));
    return;
  }
  // Its ack (or the pong) must come within seconds, or the network is gone.
  state.socket.probe();
  const timer = setTimeout(() => {
    running.delete(ref);
    onError(t("No answer from the server. Try again."));
  }, ACK_TIMEOUT_MS);
  running.set(ref, { onAck, onError, timer });
}

// A `command.ack` or an `error` that answers one of this tab's commands.
// Whether it was one.
export function commandAnswered(frame) {
  const run = frame.ref && running.get(frame.ref);
  if (!run) return false;
  running.delete(frame.ref);
  clearTimeout(run.timer);
  if (frame.type === "command.ack") run.onAck(frame);
  else run.onError(errorText(frame));
  return true;
}

// The built-ins' words, in the reader's language (the server says them in English).
function builtinWords(text) {
  const words = {
    "Say what you are doing, in the third person": t("Say what you are doing, in the third person"),
    "Send a message with ¯\\_(ツ)_/¯ at its end": t("Send a message with ¯\\_(ツ)_/¯ at its end"),
    "Mute this conversation": t("Mute this conversation"),
    "Unmute this conversation": t("Unmute this conversation"),
    "Add your contacts to this group": t("Add your contacts to this group"),
    "[action]": t("[action]"),
    "[message]": t("[message]"),
    "@username …": t("@username …"),
  };
  return words[text] || text;
}

// The completion list, bound to the composer's textarea.
export class CommandPicker extends ComposerPicker {
  constructor(composer) {
    super(composer, { list: "ul.mention-list.command-list", id: "command-list", optionId: "command-option", label: t("Slash commands") });
    // this.query: what follows the "/" of the first word, up to the caret
  }

  // The text starts with "/" and the caret is still in that first word.
  findQuery() {
    const el = this.input;
    if (el.selectionStart !== el.selectionEnd) return null;
    const match = /^\/(\S{0,33})$/.exec(el.value.slice(0, el.selectionStart));
    return match ? match[1].toLowerCase() : null;
  }

  update() {
    if (this.composer.editing) return this.close();
    const query = this.findQuery();
    if (query === null) return this.close();
    const id = this.composer.view.id;
    const list = known.get(id);
    if (!list) {
      // Shown once read, if the person is still typing the command.
      commandsIn(id)
        .then(() => document.activeElement === this.input && this.update())
        .catch(() => {});
      return this.close();
    }
    // Names that start with what is typed, then names that contain it.
    const starts = list.filter((c) => c.name.startsWith(query));
    const within = query ? list.filter((c) => !c.name.startsWith(query) && c.name.includes(query)) : [];
    this.options = [...starts, ...within].slice(0, MAX_SHOWN);
    if (!this.options.length) return this.close();
    // A name typed in full is the one Enter runs.
    if (query !== this.query) this.active = Math.max(0, this.options.findIndex((c) => c.name === query));
    this.query = query;
    this.active = Math.min(this.active, this.options.length - 1);
    this.draw();
  }

  renderOption(c) {
    return h(
      "li.mention-option.command-option",
      { dataset: { command: c.name } },
      h(
        "span.command-text",
        h("span.command-line", h("span.command-name", `/${c.name}`), c.usage ? h("span.command-usage", c.bot ? c.usage : builtinWords(c.usage)) : null),
        c.description ? h("span.command-description", c.bot ? c.description : builtinWords(c.description)) : null,
      ),
      c.bot ? h("span.command-bot", h("span.command-bot-name", displayName(c.bot)), botBadge(c.bot)) : null,
    );
  }

  // The command is typed in full: Enter runs it (the composer sends).
  entersThrough() {
    return this.options[this.active]?.name === this.query;
  }

  // Puts "/name " in place of the first word, the caret after it.
  pick(i) {
    const command = this.options[i];
    if (!command) return this.close();
    const el = this.input;
    const rest = el.value.slice(el.selectionStart).replace(/^\S*\s*/, "");
    const head = `/${command.name} `;
    el.value = head + rest;
    el.selectionStart = el.selectionEnd = head.length;
    this.close();
    el.focus();
    el.dispatchEvent(new Event("input"));
  }
}
