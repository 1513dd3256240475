// The open conversation (one at a time): it puts the header, the pinned
// bar, the message list and the composer (or Select's bar) together in the
// main pane, keeps them in step with the conversation (state.conversations
// may replace it), sends read receipts, and is where frames.js hands what
// the socket brings for it.

import { clear, t } from "../dom.js";
import { box, conversationTitle, emit, on, state } from "../state.js";
import { backButton, emptyState, errorText, toast } from "../ui.js";
import { Composer } from "./composer.js";
import { loadConversations, openUnlisted } from "./conversations.js";
import { ChatHeader } from "./header.js";
import { closeMenu } from "./menu.js";
import { MessageList } from "./messages.js";
import { PendingMessages } from "./pending.js";
import { PinBar } from "./pins.js";
import { Selection } from "./select.js";

// Frames about one message that answer a `ref` of ours: refused, they say
// why, whether or not its chat is still open (the person may have moved on
// before the answer came). True when `frame` was one.
const REFUSABLE = ["recall-", "edit-", "react-"];

export function changeRefused(frame) {
  if (!frame.ref || !REFUSABLE.some((prefix) => frame.ref.startsWith(prefix))) return false;
  toast(errorText(frame), { kind: "error" });
  return true;
}

let view = null; // the open conversation's view, if any

export function openView() {
  return view;
}

function closeView() {
  if (view) view.detach();
  view = null;
}

// The open chat's route shown again (its row clicked, a notification of
// it): the view stays as it is; a search hit in it jumps to its message
// (while the first page loads, `load` takes the jump itself).
export function revisit(item) {
  if (!view || view.id !== item) return false; // not open (loading, or not available): drawn again
  const goTo = state.goTo;
  if (goTo && goTo.conversation === item && view.messages.drawn) {
    state.goTo = null;
    view.messages.jumpTo(goTo.seq, { words: goTo.words });
  }
  return true;
}

export function renderMain(main, item) {
  closeView();
  if (!item) {
    main.append(emptyState(t("Choose a chat to start messaging.")));
    return closeView;
  }
  const conv = state.conversations.get(item);
  if (!conv) {
    main.append(emptyState(t("Loading…")));
    loadConversations()
      .then(() => (state.conversations.get(item) ? null : openUnlisted(item)))
      .then(() => {
        if (state.route.item !== item) return;
        clear(main);
        if (state.conversations.get(item)) renderMain(main, item);
        else main.append(backButton(), emptyState(t("This chat is not available.")));
      })
      .catch(() => {
        if (state.route.item !== item) return;
        clear(main);
        main.append(backButton(), emptyState(t("This chat could not be loaded. Check your connection and try again.")));
      });
    return closeView;
  }
  view = new ConversationView(main, conv);
  return closeView;
}

class ConversationView {
  constructor(main, conv) {
    this.id = conv.id;
    this.conv = conv;
    this.main = main;
    this.offs = [];
    this.readTimer = null;
    this.header = new ChatHeader(this);
    this.select = new Selection(this);
    this.pins = new PinBar(this);
    this.messages = new MessageList(this, conversationTitle(conv));
    this.pending = new PendingMessages(this);
    this.composer = new Composer(this);
    this.composerReason = this.composer.disabledReason();
    this.main.append(this.header.node, this.pins.node, this.messages.node, this.composer.node, this.select.node);
    this.header.update();
    this.offs.push(on("presence", () => this.header.update()));
    this.offs.push(on("typing", (f) => f.conversation === this.id && this.header.update()));
    this.offs.push(on("conversations", () => {
      const fresh = state.conversations.get(this.id);
      if (fresh && fresh !== this.conv) {
        const draft = (c) => (c.draft ? `${c.draft.text}\u0000${c.draft.reply_to || ""}` : "");
        if (draft(fresh) !== draft(this.conv)) this.composer.draftChanged(fresh.draft);
        this.conv = fresh;
        this.redrawReceipts();
      }
      this.header.update();
      this.refreshComposer();
      this.composer.drawSuggestions();
    }));
    // The chat follows its state live: a block, the group's status or my
    // membership changed, the connection was lost or came back.
    this.offs.push(on("contacts", () => {
      this.header.update();
      this.refreshComposer();
    }));
    this.offs.push(on("groups", () => {
      this.header.update();
      this.refreshComposer();
    }));
    this.offs.push(on("refused", (id) => id === this.id && this.refreshComposer()));
    this.offs.push(on("suggestions", (id) => id === this.id && this.composer.drawSuggestions()));
    this.offs.push(on("connection", () => {
      this.header.update();
      this.pending.refreshAll();
    }));
    this.onVisible = () => this.markRead();
    document.addEventListener("visibilitychange", this.onVisible);
    // The page closes or reloads (no detach then): the draft typed in the
    // last second is saved all the same, by a request that outlives the page
    // (started as early as the page knows it is going; the second is a no-op).
    this.onLeave = () => this.composer.saveDraft();
    window.addEventListener("beforeunload", this.onLeave);
    window.addEventListener("pagehide", this.onLeave);
    this.messages.load();
    this.pins.load();
  }

  // The composer again when what blocks it (or nothing) changed: the reason
  // and its one action instead of the text box, or the text box back.
  refreshComposer() {
    const key = (reason) => (reason ? `${reason.key}\u0000${reason.text}` : "");
    if (key(this.composer.disabledReason()) === key(this.composerReason)) return;
    const old = this.composer;
    if (!this.composerReason) old.saveDraft(); // a disabled one holds no text of its own
    clearTimeout(old.draftTimer);
    old.picker.close();
    this.composer = new Composer(this);
    this.composerReason = this.composer.disabledReason();
    this.composer.node.hidden = old.node.hidden; // Select's bar may stand in its place
    old.node.replaceWith(this.composer.node);
  }

  get group() {
    return this.conv.kind === "group";
  }

  detach() {
    // What is still loading for it finds it closed: nothing is drawn, and no
    // `read` goes for messages the person never saw; a search hit's jump
    // it did not make is not made later.
    this.closed = true;
    if (state.goTo && state.goTo.conversation === this.id) state.goTo = null;
    clearTimeout(this.readTimer);
    this.readTimer = null;
    closeMenu();
    if (this.header.outside) this.header.toggleMenu(false);
    this.composer.saveDraft();
    this.offs.forEach((off) => off());
    document.removeEventListener("visibilitychange", this.onVisible);
    window.removeEventListener("beforeunload", this.onLeave);
    window.removeEventListener("pagehide", this.onLeave);
  }

  // ---------------------------------------------------------------- from frames.js

  onMessage(message, { pending } = {}) {
    this.messages.onMessage(message, { pending });
    this.markRead();
  }

  redraw(message) {
    this.messages.redraw(message);
  }

  onEphemeral(frame) {
    this.messages.onEphemeral(frame);
  }

  redrawReceipts() {
    this.messages.redrawReceipts();
  }

  // A message of this chat was pinned or unpinned (here, or an event).
  pinChanged(messageId, pinned) {
    for (const m of box(this.id).bySeq.values()) {
      if (m.id === messageId && m.pinned !== pinned) {
        m.pinned = pinned;
        this.redraw(m);
      }
    }
    this.pins.refresh();
  }

  // ---------------------------------------------------------------- read receipts

  // Tells the server this tab has read up to the newest message, when the
  // chat is visible: at once when it opens, then at most about once a second.
  markRead() {
    if (this.closed || document.visibilityState !== "visible") return;
    const conv = state.conversations.get(this.id) || this.conv;
    const b = box(this.id);
    const top = Math.max(conv.last_seq || 0, ...b.bySeq.keys());
    if (top <= (conv.read_seq || 0) && !conv.unread) return;
    if (this.readTimer) return;
    const send = () => {
      this.readTimer = null;
      this.lastReadAt = Date.now();
      const c = state.conversations.get(this.id) || this.conv;
      const seq = Math.max(c.last_seq || 0, ...box(this.id).bySeq.keys());
      if (state.socket.send({ type: "read", conversation: this.id, seq })) {
        c.read_seq = Math.max(c.read_seq || 0, seq);
        c.unread = 0;
        c.unread_mentions = 0;
        c.counted = [];
        emit("conversations");
      }
    };
    const wait = 1000 - (Date.now() - (this.lastReadAt || 0));
    if (wait <= 0) send();
    else this.readTimer = setTimeout(send, wait);
  }
}
