// The open conversation's header: back, picture, name, a subtitle (who is
// typing, the peer's presence or the group's size) and the actions: call
// (direct chats), search in this chat, pin, mute, hide, and details of the
// contact or group.

import { api } from "../api.js";
import { avatar, botBadge, formatTime, h, svgIcon, t, tf, tn } from "../dom.js";
import { conversationFace, conversationTitle, emit, nameOf, state } from "../state.js";
import { appLink, backButton, errorText, navigate, toast } from "../ui.js";
import { startCall } from "../calls.js";
import { dropHidden, fromServer } from "./conversations.js";
import { searchIcon, searchInChat } from "./search.js";

export class ChatHeader {
  constructor(view) {
    this.view = view;
    const conv = view.conv;
    const name = conversationTitle(conv);
    this.subtitle = h("p.subtitle", { "aria-live": "polite" });
    const actions = h("div.header-actions");
    // A bot is a program: nobody answers a call.
    if (conv.kind === "direct" && conv.peer && !conv.peer.is_bot) {
      actions.append(
        h("button.btn-icon", { type: "button", "aria-label": t("Voice call"), title: t("Voice call"), onclick: () => startCall(conv.peer, "audio") }, svgIcon("phone")),
        h("button.btn-icon", { type: "button", "aria-label": t("Video call"), title: t("Video call"), onclick: () => startCall(conv.peer, "video") }, svgIcon("video")),
      );
    }
    // Pin, mute and hide: in the header on a wide screen; on a phone behind
    // one "More" button, in a small menu (the chat's name needs the room)
    // that stays open to show what a toggle did.
    this.pinButtons = [];
    this.muteButtons = [];
    const trio = (labelled) => {
      const label = (text) => (labelled ? h("span.menu-label", text || "") : null);
      const pin = h("button.btn-icon", { type: "button", onclick: () => this.toggle("pinned") }, svgIcon("pin"), label());
      const mute = h("button.btn-icon", { type: "button", onclick: () => this.toggle("muted") }, svgIcon("mute"), label());
      const hide = h("button.btn-icon", { type: "button", "aria-label": t("Hide chat"), title: t("Hide chat"), onclick: () => this.hide() }, svgIcon("hide"), label(t("Hide chat")));
      const find = h(
        "button.btn-icon.search-in-chat",
        { type: "button", "aria-label": t("Search in this chat"), title: t("Search in this chat"), onclick: () => (this.toggleMenu(false), searchInChat(conv.id)) },
        searchIcon(),
        label(t("Search in this chat")),
      );
      this.pinButtons.push(pin);
      this.muteButtons.push(mute);
      return [pin, mute, hide, find];
    };
    actions.append(h("span.header-extra", trio(false)));
    this.menu = h("div.header-menu", { id: `chat-menu-${conv.id}`, hidden: true }, trio(true));
    this.moreButton = h(
      "button.btn-icon.header-more",
      { type: "button", "aria-label": t("More"), title: t("More"), "aria-expanded": "false", "aria-controls": this.menu.id, onclick: () => this.toggleMenu() },
      h("span", { "aria-hidden": "true" }, "⋯"),
    );
    this.menu.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.toggleMenu(false, true);
    });
    actions.append(h("span.header-more-wrap", this.moreButton, this.menu));
    if (conv.kind === "group" && conv.group) {
      actions.append(appLink("groups", conv.group.id, svgIcon("info"), { class: "btn-icon", "aria-label": t("Group details"), title: t("Group details") }));
    } else if (conv.peer) {
      actions.append(appLink("contacts", conv.peer.id, svgIcon("info"), { class: "btn-icon", "aria-label": t("Contact details"), title: t("Contact details") }));
    }
    this.title = h("h1", name);
    this.picture = avatar(conversationFace(conv), { name, size: 36 });
    this.shown = this.identity().key;
    this.node = h(
      "header.pane-header.chat-header",
      backButton(),
      this.picture,
      h("div.chat-title", h("div.name-line", this.title, conv.kind === "direct" ? botBadge(conv.peer) : null), this.subtitle),
      actions,
    );
  }

  // The chat's name and picture as they are now: a group renamed or given a
  // picture (its own event may come before the conversation is read again),
  // a contact's new remark or nickname.
  identity() {
    const conv = this.view.conv;
    const g = conv.kind === "group" && conv.group ? state.groups.get(conv.group.id) : null;
    const shown = g && g.name ? { ...conv, group: { ...conv.group, name: g.name, avatar: g.avatar } } : conv;
    const name = conversationTitle(shown);
    const face = conversationFace(shown);
    return { name, face, key: JSON.stringify([name, face && face.id, face && face.avatar]) };
  }

  drawIdentity() {
    const now = this.identity();
    if (now.key === this.shown) return;
    this.shown = now.key;
    this.title.textContent = now.name;
    const picture = avatar(now.face, { name: now.name, size: 36 });
    this.picture.replaceWith(picture);
    this.picture = picture;
  }

  update() {
    this.drawIdentity();
    const conv = this.view.conv;
    const typing = state.typing.get(conv.id);
    const typers = typing ? [...typing.entries()].filter(([, until]) => until > Date.now()).map(([id]) => id) : [];
    let text = "";
    if (typers.length) {
      text = this.view.group ? tf("%(who)s is typing…", { who: typers.map((id) => nameOf(id)).join(t(", ")) }) : t("typing…");
    } else if (conv.kind === "direct" && conv.peer && state.offline) {
      // What the tab knew is stale: nobody shows as online meanwhile.
      text = t("Status unknown while you are offline");
    } else if (conv.kind === "direct" && conv.peer) {
      const p = state.presence.get(conv.peer.id);
      if (p) text = p.online ? t("Online") : p.last_seen ? tf("Last seen %(when)s", { when: formatTime(p.last_seen) }) : t("Offline");
    } else if (conv.group) {
      // The freshest count: the group's own event, else the conversation's copy.
      const g = state.groups.get(conv.group.id);
      const fresh = g && g.my_role !== null && g.member_count !== undefined ? g : conv.group;
      text = tn("%(n)s member", "%(n)s members", fresh.member_count);
    }
    this.subtitle.textContent = text;
    this.subtitle.classList.toggle("stale", state.offline && conv.kind === "direct");
    const mark = (button, on, label) => {
      button.setAttribute("aria-pressed", String(on));
      button.setAttribute("aria-label", label);
      button.title = label;
      const span = button.querySelector(".menu-label");
      if (span) span.textContent = label;
    };
    for (const b of this.pinButtons) mark(b, Boolean(conv.pinned), conv.pinned ? t("Unpin chat") : t("Pin chat"));
    for (const b of this.muteButtons) mark(b, Boolean(conv.muted), conv.muted ? t("Unmute chat") : t("Mute chat"));
  }

  // The phone's menu of pin, mute and hide: open or shut.
  toggleMenu(open = this.menu.hidden, refocus = false) {
    this.menu.hidden = !open;
    this.moreButton.setAttribute("aria-expanded", String(open));
    if (this.outside) document.removeEventListener("click", this.outside, true);
    this.outside = null;
    if (open) {
      this.outside = (event) => {
        if (!event.target.closest || !event.target.closest(".header-more-wrap")) this.toggleMenu(false);
      };
      document.addEventListener("click", this.outside, true);
      this.menu.querySelector("button").focus();
    } else if (refocus) this.moreButton.focus();
  }

  // Pin or mute (`field`), as the server answers.
  async toggle(field) {
    const view = this.view;
    try {
      const fresh = await api("PATCH", `conversations/${view.id}`, { [field]: !view.conv[field] });
      if (fresh.hidden) {
        dropHidden(fresh.id); // hidden in another tab meanwhile
        return;
      }
      state.conversations.set(fresh.id, fromServer(fresh));
      view.conv = state.conversations.get(fresh.id);
      emit("conversations");
    } catch (err) {
      toast(errorText(err), { kind: "error" });
    }
  }

  // Out of the chat list until a new message arrives; the messages are kept
  // and the chat opens again from the contact or the group.
  async hide() {
    try {
      await api("DELETE", `conversations/${this.view.id}`);
    } catch (err) {
      toast(errorText(err), { kind: "error" });
      return;
    }
    dropHidden(this.view.id);
    navigate("chats");
    toast(t("Chat hidden. It comes back with the next message."));
  }
}
