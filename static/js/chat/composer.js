// The composer of the open conversation: the text box (Enter sends,
// Shift+Enter breaks the line, it grows with its text), the emoji picker,
// the @ member picker (groups), the slash commands' completion list and
// running one (commands.js: a refusal is said above the box and the text
// stays), files picked, pasted or dropped on the
// conversation, and `typing` sent at most every typing_interval_s. Above the
// box, the message being replied to (a quote bar with ×) or edited (the box
// holds its text until Save or ×; what was typed before comes back). Above
// it too, smart replies (suggestions.js): buttons that fill the box, never
// send. What is typed and not sent is the draft, with the message it
// replies to: it is saved a moment after typing stops (and when the chat
// closes), so the chat list and the person's other devices show it. A group
// one may no longer write to gets a line saying why instead.

import { api } from "../api.js";
import { clear, h, svgIcon, t, tf } from "../dom.js";
import { emojiPicker } from "../emoji.js";
import { box, emit, nameOf, state } from "../state.js";
import { errorText, toast } from "../ui.js";
import { sendEdit } from "./actions.js";
import { CommandPicker, findCommand, looksLikeCommand, runCommand } from "./commands.js";
import { MentionPicker, mentionFields } from "./mentions.js";
import { dropSuggestions, suggestionsFor } from "./suggestions.js";
import { excerptOf } from "./text.js";

const DRAFT_DELAY_MS = 1000;
// The text box shows how much room is left from this share of max_text on.
const COUNTER_FROM = 0.9;
// Scripts written without spaces between words: a suggestion added to a
// draft in them gets no space before or after it.
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff00-\uffef]/u;

// Whether words put between `left` and `right` (characters, or "" at an end)
// need a space there.
function spaceBetween(left, right) {
  if (!left || !right || /\s/.test(left) || /\s/.test(right)) return false;
  if (UNSPACED.test(left) || UNSPACED.test(right)) return false;
  return !/[.,!?;:)\]}…]/.test(right);
}

export function composerBlock(conv) {
  if (!conv) return null;
  const g = conv.kind === "group" ? conv.group : null;
  if (g && g.status && g.status !== "active")
    return g.status === "dismissed" ? { key: "dismissed", text: t("This group was dismissed.") } : { key: "disabled", text: t("This group is disabled.") };
  if (g && g.my_role === null) return { key: "removed", text: t("You are no longer a member of this group.") };
  const refused = state.refused.get(conv.id);
  if (refused === "group_disabled") return { key: "disabled", text: t("This group is disabled.") };
  if (refused === "not_member") return { key: "removed", text: t("You are no longer a member of this group.") };
  if (conv.kind === "direct" && conv.peer) {
    const contact = state.contacts.get(conv.peer.id);
    if (contact && contact.blocked) {
      const action = h("button.linklike.unblock", { type: "button", onclick: () => unblockPeer(conv.peer.id) }, t("Unblock"));
      return { key: "blocker", text: tf("You blocked %(name)s", { name: nameOf(conv.peer) }), action };
    }
  }
  if (refused === "blocked" || refused === "not_contact") return { key: "refused", text: t("You can't send messages in this chat.") };
  return null;
}

async function unblockPeer(userId) {
  try {
    await api("DELETE", `blocks/${userId}`);
  } catch (err) {
    if (err.status !== 404) {
      toast(errorText(err), { kind: "error" });
      return;
    }
  }
  const contact = state.contacts.get(userId);
  if (contact) state.contacts.set(userId, { ...contact, blocked: false });
  emit("contacts");
}

// The quote a reply shows before the server has rendered it.
function replyStub(message) {
  return { id: message.id, seq: message.seq, sender: message.sender, kind: message.kind, excerpt: excerptOf(message), recalled: false };
}

// What a draft holds: the text and the id of the message it replies to (a
// reply with no text is no draft: "" clears it on the server).
function draftOf(text, replyId) {
  return text.trim() ? { text, reply: replyId || null } : { text: "", reply: null };
}

function sameDraft(a, b) {
  return Boolean(a && b && a.text === b.text && a.reply === b.reply);
}

export class Composer {
  constructor(view) {
    this.view = view;
    this.lastTypingSent = 0;
    this.draftTimer = null;
    this.reply = null; // the message replied to ({id} alone until it is loaded)
    this.editing = null; // the message being edited
    this.stash = null; // what the box held before the edit
    this.mentioned = new Map(); // user id -> the name inserted for them
    this.mentionAll = false;
    this.runningCommand = null; // the text of a command sent and not answered yet
    this.shownSuggestions = null; // the reply.suggestions frame drawn above the box
    this.filled = null; // what a suggestion put in the empty box, while it holds just that
    const draft = view.conv.draft;
    this.saved = draftOf(draft ? draft.text : "", draft && draft.reply_to);
    this.node = this.build();
    if (this.input && this.saved.text) {
      this.input.value = this.saved.text;
      queueMicrotask(() => this.autosize());
    }
    if (this.saved.reply) this.reply = { id: this.saved.reply };
    this.drawContext();
  }

  get writable() {
    return !this.disabledReason();
  }

  focus() {
    if (this.writable) this.input.focus();
  }

  build() {
    const view = this.view;
    const send = (text, fields, quote) => view.pending.sendText(text, fields, quote);
    const sendFile = (file) => view.pending.sendFile(file);
    const form = h("form.composer", { "aria-label": t("Write a message") });
    this.input = h("textarea", {
      id: "composer-input",
      rows: 1,
      maxLength: state.config.max_text,
      placeholder: t("Message"),
      enterKeyHint: "send",
    });
    const label = h("label.sr-only", { for: "composer-input" }, t("Message"));
    // Before the keydown below: Enter picks a member or a command while a list is open.
    this.picker = new MentionPicker(this);
    this.commands = new CommandPicker(this);
    // Why the last command was refused, until the text changes.
    this.problem = h("p.composer-problem", { id: "composer-problem", role: "alert", hidden: true });
    this.context = h("div.composer-context", { hidden: true });
    this.chips = h("div.reply-chips", { role: "group", "aria-label": t("Suggested replies"), hidden: true });
    const picker = emojiPicker((emoji) => this.insert(emoji));
    const fileInput = h("input.sr-only", { type: "file", id: "composer-file", multiple: true, tabindex: "-1", "aria-hidden": "true" });
    const fileButton = h("button.btn-icon", { type: "button", "aria-label": t("Send a file"), title: t("Send a file"), onclick: () => fileInput.click() }, svgIcon("clip"));
    fileInput.addEventListener("change", () => {
      for (const file of fileInput.files) sendFile(file);
      fileInput.value = "";
    });
    const sendButton = h("button.btn.btn-primary.send", { type: "submit" }, t("Send"));
    this.sendButton = sendButton;
    this.counter = h("p.composer-counter", { id: "composer-counter", "aria-live": "polite", hidden: true });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "Escape" && (this.editing || this.reply)) {
        event.preventDefault();
        if (this.editing) this.cancelEdit();
        else this.cancelReply();
      }
    });
    this.input.addEventListener("input", () => {
      this.showProblem(null);
      this.autosize();
      if (!this.editing) this.sendTyping();
      this.scheduleDraft();
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.input.value;
      if (!text.trim()) return;
      picker.close();
      if (this.editing) {
        // Not sent (no connection; sendEdit says so): the box keeps the edit.
        if (text !== this.editing.content && !sendEdit(this.editing, text)) return;
        this.cancelEdit();
        this.input.focus();
        return;
      }
      dropSuggestions(view.id);
      if (looksLikeCommand(text)) {
        this.submitCommand(text, send);
        return;
      }
      this.sendMessage(text, send);
    });
    // Paste or drop files straight into the chat.
    this.input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length) {
        event.preventDefault();
        files.forEach((f) => sendFile(f));
      }
    });
    // Once per view (the composer is made again when the chat's state changes).
    if (!view.dropBound) {
      view.dropBound = true;
      view.main.addEventListener("dragover", (event) => event.preventDefault());
      view.main.addEventListener("drop", (event) => {
        event.preventDefault();
        if (!view.composer.writable) return;
        [...(event.dataTransfer?.files || [])].forEach((f) => view.pending.sendFile(f));
      });
    }
    const disabled = this.disabledReason();
    if (disabled) {
      // Why nothing can be sent here, and the one thing that helps, if any.
      return h("div.composer.composer-disabled", { role: "status", dataset: { reason: disabled.key } }, h("p", disabled.text, disabled.action ? [" · ", disabled.action] : null));
    }
    this.input.setAttribute("aria-controls", "mention-list command-list");
    this.input.setAttribute("aria-autocomplete", "list");
    form.append(picker.panel, this.picker.list, this.commands.list, this.chips, this.context, this.problem, this.counter, h("div.composer-row", picker.button, fileButton, label, this.input, sendButton), fileInput);
    return form;
  }

  sendMessage(text, send) {
    const fields = mentionFields(text, this.mentioned, this.mentionAll);
    if (this.reply) fields.reply_to = this.reply.id;
    send(text, fields, this.reply && this.reply.seq ? replyStub(this.reply) : null);
    // The server clears the draft when the message is stored.
    clearTimeout(this.draftTimer);
    this.saved = draftOf("", null);
    this.setLocalDraft(null);
    this.input.value = "";
    this.filled = null;
    this.reply = null;
    this.mentioned.clear();
    this.mentionAll = false;
    this.drawContext();
    this.autosize();
    this.input.focus();
  }

  // A text that starts like a command ("/name …"): a command if it names one
  // offered here (run over the socket; the text stays until its ack, and
  // stays with the reason after a refusal), else an ordinary message.
  async submitCommand(text, send) {
    if (this.runningCommand) return;
    let command;
    try {
      command = await findCommand(this.view.id, text);
    } catch (err) {
      this.showProblem(errorText(err));
      return;
    }
    if (!command) {
      this.sendMessage(text, send);
      return;
    }
    this.commands.close();
    this.runningCommand = text;
    this.input.setAttribute("aria-busy", "true");
    const done = () => {
      this.runningCommand = null;
      this.input.removeAttribute("aria-busy");
    };
    runCommand({
      conversation: this.view.id,
      text,
      onAck: (ack) => {
        done();
        // Written over meanwhile: what is there now stays.
        if (this.input.value !== text) return;
        this.input.value = "";
        this.mentioned.clear();
        this.mentionAll = false;
        this.autosize();
        if (ack.status === "sent") {
          // A message was sent: the server clears the draft, as for any message.
          clearTimeout(this.draftTimer);
          this.saved = draftOf("", null);
          this.setLocalDraft(null);
        } else {
          this.saveDraft();
        }
      },
      onError: (why) => {
        done();
        this.showProblem(why);
      },
    });
  }

  // Says why a command was refused, above the box (null: nothing to say).
  showProblem(text) {
    if (!this.problem || (!text && this.problem.hidden)) return;
    this.problem.textContent = text || "";
    this.problem.hidden = !text;
  }

  // Why nothing can be sent in this chat now ({key, text, action?}), or
  // null. From the conversation's state as the events keep it (frames.js),
  // the contact's block, and a refusal the server gave a send here (the
  // blocked side learns no more than that: `blocked` says nothing of who).
  disabledReason() {
    return composerBlock(this.view.conv);
  }

  insert(text) {
    const el = this.input;
    const start = el.selectionStart ?? el.value.length;
    const end = el.selectionEnd ?? el.value.length;
    el.value = el.value.slice(0, start) + text + el.value.slice(end);
    el.selectionStart = el.selectionEnd = start + text.length;
    this.autosize();
  }

  // Near max_text: how many characters of how many; at it, why the box takes no more.
  drawCounter() {
    if (!this.counter) return;
    const max = (state.limits && state.limits.max_text) || state.config.max_text;
    const n = this.input.value.length;
    const near = Boolean(max) && n >= Math.floor(max * COUNTER_FROM);
    this.counter.hidden = !near;
    if (!near) {
      this.input.removeAttribute("aria-describedby");
      return;
    }
    this.input.setAttribute("aria-describedby", "composer-counter");
    this.counter.classList.toggle("at-limit", n >= max);
    this.counter.textContent =
      n >= max
        ? tf("%(n)s / %(max)s · A message can have at most %(max)s characters.", { n, max })
        : tf("%(n)s / %(max)s", { n, max });
  }

  autosize() {
    this.drawCounter();
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
  }

  // ---------------------------------------------------------------- reply and edit

  // The bar above the box: what is replied to or edited, and × to cancel it.
  drawContext() {
    if (!this.context) return;
    // The bar takes room from the list: what was at its bottom stays there.
    const stick = this.view.messages && this.view.messages.nearBottom();
    const bar = (label, excerpt, cancelLabel, cancel) => [
      h("div.composer-context-text", h("span.composer-context-label", label), excerpt ? h("span.composer-context-excerpt", excerpt) : null),
      h("button.btn-icon.composer-context-cancel", { type: "button", "aria-label": cancelLabel, title: cancelLabel, onclick: cancel }, "×"),
    ];
    if (this.editing) {
      this.context.replaceChildren(...bar(t("Edit message"), excerptOf(this.editing), t("Cancel editing"), () => this.cancelEdit()));
    } else if (this.reply) {
      const known = this.reply.seq !== undefined;
      const label = known ? tf("Reply to %(name)s", { name: nameOf(this.reply.sender) }) : t("Reply to a message");
      this.context.replaceChildren(...bar(label, known ? excerptOf(this.reply) : "", t("Cancel reply"), () => this.cancelReply()));
    } else {
      this.context.replaceChildren();
    }
    this.context.hidden = !this.editing && !this.reply;
    this.context.classList.toggle("editing", Boolean(this.editing));
    if (this.sendButton) this.sendButton.textContent = this.editing ? t("Save") : t("Send");
    if (stick) this.view.messages.scrollToBottom();
    this.drawSuggestions();
  }

  // ---------------------------------------------------------------- smart replies

  // The server's suggested answers to the chat's newest message, as buttons
  // above the box (not while a message is being edited); redrawn only when
  // they change, so a focused one keeps the focus.
  drawSuggestions() {
    if (!this.chips) return;
    const frame = this.writable && !this.editing ? suggestionsFor(this.view.id) : null;
    if (frame === this.shownSuggestions) return;
    const stick = this.view.messages && this.view.messages.nearBottom();
    const hadFocus = this.chips.contains(document.activeElement);
    this.shownSuggestions = frame;
    clear(
      this.chips,
      frame ? frame.suggestions.map((text) => h("button.reply-chip", { type: "button", onclick: () => this.fill(text) }, text)) : null,
    );
    this.chips.hidden = !frame;
    if (frame) this.chips.dataset.message = frame.message;
    else delete this.chips.dataset.message;
    if (hadFocus && this.input) this.input.focus();
    // The chips take room from the list: what was at its bottom stays there.
    if (stick) this.view.messages.scrollToBottom();
  }

  // A suggestion picked: its words go in the box, which takes the focus;
  // nothing is sent. An empty box, or one still holding just the words of
  // the suggestion picked before, gets these words instead; a draft of the
  // person's own stays, and the words go in where the caret is (with a
  // space where the script needs one), so nothing typed is ever lost.
  fill(text) {
    const el = this.input;
    if (!el.value.trim() || el.value === this.filled) {
      el.value = text;
      el.selectionStart = el.selectionEnd = text.length;
      this.filled = text;
    } else {
      const start = el.selectionStart ?? el.value.length;
      const end = el.selectionEnd ?? el.value.length;
      const left = el.value.slice(0, start).slice(-1);
      const right = el.value.slice(end, end + 1);
      this.insert(`${spaceBetween(left, text[0]) ? " " : ""}${text}${spaceBetween(text.slice(-1), right) ? " " : ""}`);
      this.filled = null;
    }
    this.showProblem(null);
    this.autosize();
    el.focus();
    this.sendTyping();
    this.scheduleDraft();
  }

  replyTo(message) {
    if (this.editing) this.cancelEdit();
    this.reply = message;
    this.drawContext();
    this.input.focus();
    this.scheduleDraft();
  }

  cancelReply() {
    this.reply = null;
    this.drawContext();
    this.input.focus();
    this.scheduleDraft();
  }

  // A draft's reply names only an id: once the history is loaded, the
  // message itself (its sender and excerpt for the bar).
  resolveReply() {
    if (!this.reply || this.reply.seq !== undefined) return;
    const found = [...box(this.view.id).bySeq.values()].find((m) => m.id === this.reply.id);
    if (found) this.reply = found.recalled ? null : found;
    this.drawContext();
  }

  // The message it replies to was recalled: no reply any more (the server
  // has taken it out of the draft too).
  forgetReplyTo(messageId) {
    if (this.reply && this.reply.id === messageId) {
      this.reply = null;
      this.saved = draftOf(this.saved.text, null);
      this.drawContext();
    }
  }

  // Puts the text of `message` in the box; Save sends `message.edit`.
  startEdit(message) {
    if (this.editing) this.cancelEdit();
    this.saveDraft();
    this.stash = { text: this.input.value, reply: this.reply };
    this.reply = null;
    this.editing = message;
    this.picker.close();
    this.commands.close();
    this.input.value = message.content || "";
    this.drawContext();
    this.autosize();
    this.input.focus();
    this.input.selectionStart = this.input.selectionEnd = this.input.value.length;
  }

  cancelEdit() {
    if (!this.editing) return;
    this.editing = null;
    this.input.value = this.stash ? this.stash.text : "";
    this.reply = this.stash ? this.stash.reply : null;
    this.stash = null;
    this.drawContext();
    this.autosize();
    this.input.focus();
  }

  // ---------------------------------------------------------------- the draft

  current() {
    if (this.editing) return this.stash ? draftOf(this.stash.text, this.stash.reply && this.stash.reply.id) : draftOf("", null);
    return draftOf(this.input.value, this.reply && this.reply.id);
  }

  scheduleDraft() {
    clearTimeout(this.draftTimer);
    this.draftTimer = setTimeout(() => this.saveDraft(), DRAFT_DELAY_MS);
  }

  // Saves what the box holds (and the reply), if it differs from what was
  // saved (the chat closing calls it too). Whitespace alone is no draft.
  // While a message is being edited, the draft is what was there before.
  // The request outlives the page: a save the page's closing starts (pagehide,
  // or the composer redrawn as the socket goes) is not cut off with it.
  saveDraft() {
    clearTimeout(this.draftTimer);
    this.draftTimer = null;
    if (!this.input || !this.writable) return;
    const draft = this.current();
    if (sameDraft(draft, this.saved)) return;
    this.saved = draft;
    api("PUT", `conversations/${this.view.id}/draft`, { text: draft.text, reply_to: draft.reply }, { keepalive: true })
      .then((conv) => this.setLocalDraft(conv.draft))
      .catch(() => {
        this.saved = null; // try again on the next change
      });
  }

  setLocalDraft(draft) {
    const conv = state.conversations.get(this.view.id);
    if (conv) {
      conv.draft = draft;
      emit("conversations");
    }
  }

  // Another device changed the draft: show it here unless this box is being
  // written in (its text is no longer the draft it started from).
  draftChanged(draft) {
    if (!this.input) return;
    const fresh = draftOf(draft ? draft.text : "", draft && draft.reply_to);
    const untouched = !this.editing && sameDraft(this.current(), this.saved || draftOf("", null));
    if (untouched && document.activeElement !== this.input && !sameDraft(fresh, this.current())) {
      this.input.value = fresh.text;
      this.reply = fresh.reply ? { id: fresh.reply } : null;
      this.resolveReply();
      this.drawContext();
      this.autosize();
    }
    this.saved = fresh;
  }

  sendTyping() {
    const every = (state.config.typing_interval_s || 3) * 1000;
    if (Date.now() - this.lastTypingSent < every) return;
    this.lastTypingSent = Date.now();
    state.socket.send({ type: "typing", conversation: this.view.id });
  }
}
