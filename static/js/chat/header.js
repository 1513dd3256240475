// The open conversation's header: back, picture, name, a subtitle (who is
// typing, the peer's presence or the group's size) and the actions: call
// (direct chats), pin, mute, hide, and details of the contact or group.

import { api } from "../api.js";
import { avatar, formatTime, h, svgIcon, t, tf } from "../dom.js";
import { conversationTitle, emit, nameOf, state } from "../state.js";
import { appLink, backButton, errorText, navigate, toast } from "../ui.js";
import { startCall } from "../calls.js";
import { dropHidden } from "./conversations.js";

export class ChatHeader {
  constructor(view) {
    this.view = view;
    const conv = view.conv;
    const name = conversationTitle(conv);
    this.subtitle = h("p.subtitle", { "aria-live": "polite" });
    const actions = h("div.header-actions");
    if (conv.kind === "direct" && conv.peer) {
      actions.append(
        h("button.btn-icon", { type: "button", "aria-label": t("Voice call"), title: t("Voice call"), onclick: () => startCall(conv.peer, "audio") }, svgIcon("phone")),
        h("button.btn-icon", { type: "button", "aria-label": t("Video call"), title: t("Video call"), onclick: () => startCall(conv.peer, "video") }, svgIcon("video")),
      );
    }
    this.pinButton = h("button.btn-icon", { type: "button", onclick: () => this.toggle("pinned") }, svgIcon("pin"));
    this.muteButton = h("button.btn-icon", { type: "button", onclick: () => this.toggle("muted") }, svgIcon("mute"));
    const hideButton = h("button.btn-icon", { type: "button", "aria-label": t("Hide chat"), title: t("Hide chat"), onclick: () => this.hide() }, svgIcon("hide"));
    actions.append(this.pinButton, this.muteButton, hideButton);
    if (conv.kind === "group" && conv.group) {
      actions.append(appLink("groups", conv.group.id, svgIcon("info"), { class: "btn-icon", "aria-label": t("Group details"), title: t("Group details") }));
    } else if (conv.peer) {
      actions.append(appLink("contacts", conv.peer.id, svgIcon("info"), { class: "btn-icon", "aria-label": t("Contact details"), title: t("Contact details") }));
    }
    const avatarUser = conv.kind === "group" ? { id: conv.id, avatar: conv.group && conv.group.avatar } : conv.peer;
    this.node = h(
      "header.pane-header.chat-header",
      backButton(),
      avatar(avatarUser, { name, size: 36 }),
      h("div.chat-title", h("h1", name), this.subtitle),
      actions,
    );
  }

  update() {
    const conv = this.view.conv;
    const typing = state.typing.get(conv.id);
    const typers = typing ? [...typing.entries()].filter(([, until]) => until > Date.now()).map(([id]) => id) : [];
    let text = "";
    if (typers.length) {
      text = this.view.group ? tf("%(who)s is typing…", { who: typers.map((id) => nameOf(id)).join(t(", ")) }) : t("typing…");
    } else if (conv.kind === "direct" && conv.peer) {
      const p = state.presence.get(conv.peer.id);
      if (p) text = p.online ? t("Online") : p.last_seen ? tf("Last seen %(when)s", { when: formatTime(p.last_seen) }) : t("Offline");
    } else if (conv.group) {
      text = tf("%(n)s members", { n: conv.group.member_count });
    }
    this.subtitle.textContent = text;
    this.pinButton.setAttribute("aria-pressed", String(Boolean(conv.pinned)));
    this.pinButton.setAttribute("aria-label", conv.pinned ? t("Unpin chat") : t("Pin chat"));
    this.pinButton.title = this.pinButton.getAttribute("aria-label");
    this.muteButton.setAttribute("aria-pressed", String(Boolean(conv.muted)));
    this.muteButton.setAttribute("aria-label", conv.muted ? t("Unmute chat") : t("Mute chat"));
    this.muteButton.title = this.muteButton.getAttribute("aria-label");
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
      state.conversations.set(fresh.id, { ...fresh, last_seq: Math.max(fresh.last_seq, view.conv.last_seq) });
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
