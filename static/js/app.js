// The app shell: boot, routing between sections, the connection banner and
// the dispatch of WebSocket frames to the sections.

import { api } from "./api.js";
import { avatar, clear, h, t, tf } from "./dom.js";
import { ChatSocket } from "./socket.js";
import { cursors, emit, on, rememberUser, state } from "./state.js";
import { navigate, parseRoute } from "./ui.js";
import * as chats from "./chats.js";
import * as contacts from "./contacts.js";
import * as groups from "./groups.js";
import * as calls from "./calls.js";
import * as profile from "./profile.js";

const SECTIONS = { chats, contacts, groups, calls, profile };

function readConfig() {
  const node = document.getElementById("app-config");
  return JSON.parse(node.textContent);
}

let cleanups = [];

function render() {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  const { section, item } = state.route;
  const module = SECTIONS[section] || chats;
  document.body.dataset.section = section;
  document.body.classList.toggle("has-item", Boolean(item));
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const list = document.getElementById("list-pane");
  const main = document.getElementById("main");
  clear(list);
  clear(main);
  cleanups = [module.renderList(list), module.renderMain(main, item)].filter((fn) => typeof fn === "function");
  const title = module.title ? module.title() : "";
  document.title = title ? `${title} · ${t("WebsocketChat")}` : t("WebsocketChat");
  updateTitleBadge();
}

function updateTitleBadge() {
  let unread = 0;
  // A muted chat counts only while it mentions me.
  for (const conv of state.conversations.values()) unread += conv.muted ? conv.unread_mentions || 0 : conv.unread || 0;
  const badge = document.querySelector('[data-badge="chats"]');
  if (badge) {
    badge.hidden = unread === 0;
    badge.textContent = unread > 99 ? "99+" : String(unread);
    badge.setAttribute("aria-label", tf("%(n)s unread", { n: unread }));
  }
  const requests = document.querySelector('[data-badge="contacts"]');
  if (requests) {
    requests.hidden = state.incoming.size === 0;
    requests.textContent = String(state.incoming.size);
    requests.setAttribute("aria-label", tf("%(n)s new requests", { n: state.incoming.size }));
  }
  const base = document.title.replace(/^\(\d+\+?\) /, "");
  document.title = unread ? `(${unread > 99 ? "99+" : unread}) ${base}` : base;
}

// ------------------------------------------------------------------ connection banner

let bannerTimer = null;

function showStatus({ state: status, retryAt }) {
  const banner = document.getElementById("conn-banner");
  clearInterval(bannerTimer);
  document.body.dataset.connection = status;
  if (status === "online") {
    if (!banner.hidden && banner.dataset.state !== "connecting-first") {
      banner.textContent = t("Connected again.");
      banner.className = "conn-banner conn-ok";
      bannerTimer = setTimeout(() => (banner.hidden = true), 1500);
    } else {
      banner.hidden = true;
    }
    banner.dataset.state = "online";
    return;
  }
  banner.className = "conn-banner";
  if (status === "connecting") {
    if (banner.dataset.state === undefined || banner.dataset.state === "connecting-first") {
      banner.dataset.state = "connecting-first";
      return; // the first connection: no banner unless it fails
    }
    banner.hidden = false;
    banner.dataset.state = "connecting";
    banner.textContent = t("Reconnecting…");
    return;
  }
  if (status === "offline") {
    banner.hidden = false;
    banner.dataset.state = "offline";
    const tick = () => {
      const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      clear(
        banner,
        tf("Connection lost. Reconnecting in %(s)s s…", { s }),
        " ",
        h("button.linklike", { type: "button", onclick: () => state.socket.reconnectNow() }, t("Retry now")),
      );
    };
    tick();
    bannerTimer = setInterval(tick, 1000);
    return;
  }
  if (status === "signedout" || status === "disabled") {
    banner.hidden = false;
    banner.dataset.state = status;
    banner.textContent =
      status === "disabled" ? t("This account has been disabled.") : t("You have been signed out.");
  }
}

// ------------------------------------------------------------------ frames

function onFrame(frame) {
  switch (frame.type) {
    case "presence":
      state.presence.set(frame.user, { online: frame.online, last_seen: frame.last_seen });
      emit("presence", frame);
      return;
    case "user.updated":
      rememberUser(frame.user);
      if (frame.user.id === state.me.id) state.me = { ...state.me, ...frame.user };
      for (const c of state.contacts.values()) if (c.user.id === frame.user.id) c.user = frame.user;
      for (const conv of state.conversations.values())
        if (conv.peer && conv.peer.id === frame.user.id) conv.peer = frame.user;
      emit("users", frame.user);
      return;
    default:
      chats.onFrame(frame);
      contacts.onFrame(frame);
      groups.onFrame(frame);
      calls.onFrame(frame);
  }
}

function subscribePresence() {
  const ids = [...state.contacts.keys()].slice(0, 500);
  if (ids.length) state.socket.send({ type: "presence.subscribe", users: ids });
}

async function refreshLists() {
  await Promise.allSettled([chats.loadConversations(), contacts.loadContacts(), contacts.loadIncoming(), groups.loadGroups()]);
}

async function boot() {
  state.config = readConfig();
  state.me = rememberUser(state.config.user);
  state.route = { section: state.config.section, item: state.config.item };
  window.addEventListener("popstate", () => {
    state.route = parseRoute(location.pathname);
    render();
  });
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      navigate(link.dataset.nav, null);
    });
  }
  on("route", render);
  on("badges", updateTitleBadge);
  on("conversations", updateTitleBadge);
  window.addEventListener("wsc:signedout", () => {
    location.assign(`${state.config.login_url}?next=${encodeURIComponent(location.pathname)}`);
  });

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new ChatSocket({ url: `${scheme}://${location.host}/ws/`, cursors });
  state.socket = socket;
  socket.addEventListener("status", (event) => showStatus(event.detail));
  socket.addEventListener("frame", (event) => onFrame(event.detail));
  let first = true;
  socket.addEventListener("hello", (event) => {
    state.me = rememberUser({ ...state.me, ...event.detail.user });
    state.limits = event.detail.limits || null;
    subscribePresence();
    if (!first) refreshLists().then(subscribePresence);
    first = false;
  });
  socket.addEventListener("synced", () => emit("synced"));
  socket.addEventListener("signedout", () => {
    setTimeout(() => location.assign(`${state.config.login_url}`), 1500);
  });
  on("contacts", () => {
    if (socket.ready) subscribePresence();
  });

  const rail = document.querySelector(".rail-me");
  if (rail) clear(rail, avatar(state.me, { size: 36 }), h("span.sr-only", t("Me")));
  render();
  await refreshLists();
  render();
  socket.start();
  calls.init();
  // For diagnostics and the browser tests: the live objects of this tab.
  window.wsc = { state, socket, calls };
}

document.addEventListener("DOMContentLoaded", boot);
