// The app shell: boot, routing between sections, the connection banner and
// the dispatch of WebSocket frames to the sections.

import { api } from "./api.js";
import { avatar, clear, h, t, tf, tn } from "./dom.js";
import { ChatSocket } from "./socket.js";
import { cursors, emit, on, rememberUser, state } from "./state.js";
import { emptyState, markEdited, navigate, parseRoute, pathOf } from "./ui.js";
import * as chats from "./chats.js";
import * as contacts from "./contacts.js";
import * as groups from "./groups.js";
import * as calls from "./calls.js";
import * as profile from "./profile.js";
import * as notify from "./notify.js";
import { registerWorker, setBadge } from "./pwa.js";

const SECTIONS = { chats, contacts, groups, calls, profile };

function readConfig() {
  const node = document.getElementById("app-config");
  return JSON.parse(node.textContent);
}

let listCleanup = null;
let listShown = null; // the section whose list the list pane shows
let mainCleanup = null;
let mainWaiting = false; // the first paint's main pane, until the lists are in

function section() {
  return SECTIONS[state.route.section] || chats;
}

// The list pane and the navigation for the route. The lists draw themselves
// again as their data comes (the sections' events).
function showList() {
  const { section: name, item } = state.route;
  document.body.dataset.section = name;
  document.body.classList.toggle("has-item", Boolean(item));
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const list = document.getElementById("list-pane");
  if (listShown === name) {
    // The same section's list: kept (its scroll, its search box), only the
    // row of the open item marked.
    const here = pathOf(name, item);
    for (const row of list.querySelectorAll("a.conv-item:not([data-message])")) {
      const href = row.getAttribute("href");
      // A row is marked for its item and what is under it (My bots for a bot).
      if (href === here || (item && href !== pathOf(name, null) && here.startsWith(`${href}/`))) row.setAttribute("aria-current", "page");
      else row.removeAttribute("aria-current");
    }
    return;
  }
  if (typeof listCleanup === "function") listCleanup();
  clear(list);
  listCleanup = section().renderList(list);
  listShown = name;
}

// The main pane for the route, drawn once: drawing it again would drop what
// the person has started there (a switch being turned on, words typed).
function showMain() {
  mainWaiting = false;
  if (typeof mainCleanup === "function") mainCleanup();
  const main = document.getElementById("main");
  clear(main);
  const module = section();
  mainCleanup = module.renderMain(main, state.route.item);
  const title = module.title ? module.title() : "";
  document.title = title ? `${title} · ${t("WebsocketChat")}` : t("WebsocketChat");
  updateTitleBadge();
}

let shown = null; // the route the panes show

function sameRoute(a, b) {
  return Boolean(a && b) && a.section === b.section && (a.item || null) === (b.item || null);
}

// The panes for state.route. The route they show already (the open chat's
// row clicked, a notification of it, the image viewer's Back) is left as it
// is, with what the person is doing there: the section is only told
// (`revisit`: a search hit in the open chat jumps to its message). While the
// first paint waits for the lists, only the list pane follows the route.
function render() {
  if (sameRoute(shown, state.route)) {
    // A section may take it as a retry (a chat that said it was not
    // available): its `revisit` says whether it handled it.
    const module = section();
    if (!mainWaiting && module.revisit && !module.revisit(state.route.item)) showMain();
    return;
  }
  const left = shown;
  shown = { ...state.route };
  showList();
  if (mainWaiting) return;
  showMain();
  placeFocus(left);
}

// ------------------------------------------------------------------ focus on a phone

// A phone shows one pane at a time, so the pane the focus was in may just
// have been hidden (a row opened its item, Back closed it): the focus
// would fall to <body>, a screen reader would say nothing, and the next
// Tab would start again at "Skip to content". It goes to the pane now
// shown instead: the item's heading, or on Back the row of the item just
// left. A desktop shows both panes and the focus stays where it is.

function hidden(el) {
  return !el || getComputedStyle(el).display === "none";
}

// The focus is where someone put it on purpose: on something shown (the
// composer a form focuses, a dialog's button), not <body>, not a pane
// itself, not a control that has just been hidden.
function focusPlaced(pane) {
  const active = document.activeElement;
  if (!active || active === document.body || active === pane) return false;
  return active.checkVisibility ? active.checkVisibility() : active.getClientRects().length > 0;
}

// A pane's heading (else the pane), made focusable from script only.
function headingOf(pane) {
  const heading = pane.querySelector(".pane-header h1") || pane.querySelector("h1");
  const target = heading || pane;
  if (!target.hasAttribute("tabindex")) target.tabIndex = -1;
  return target;
}

let stopWatching = null;

function placeFocus(left) {
  if (stopWatching) stopWatching();
  const list = document.getElementById("list-pane");
  const main = document.getElementById("main");
  if (hidden(list) && !hidden(main)) watchHeading(main);
  else if (hidden(main) && !hidden(list) && left && left.item && !focusPlaced(list)) backToRow(list, left);
}

// The item's heading, once it is drawn: many items draw when their data
// comes (a group, a contact not yet known), and draw again as it changes.
// Until the person (or the app) puts the focus somewhere else.
function watchHeading(main) {
  let placed = null;
  const place = () => {
    const active = document.activeElement;
    if (placed && active === placed && placed !== main) return; // (the pane itself while no heading is drawn)
    if (focusPlaced(main) || document.querySelector("dialog[open]")) return stop();
    placed = headingOf(main);
    placed.focus({ preventScroll: true });
  };
  const observer = new MutationObserver(place);
  const moved = (event) => {
    if (event.target !== placed) stop();
  };
  const stop = () => {
    observer.disconnect();
    document.removeEventListener("focusin", moved);
    if (stopWatching === stop) stopWatching = null;
  };
  stopWatching = stop;
  place();
  if (stopWatching !== stop) return; // the focus was where it should be
  observer.observe(main, { childList: true, subtree: true });
  document.addEventListener("focusin", moved);
}

// Back on a phone: the list's row of the item just left (Me's "My bots"
// for one of the bots), else the list's heading.
function backToRow(list, left) {
  const path = pathOf(left.section, left.item);
  const top = pathOf(left.section, null);
  const rows = [...list.querySelectorAll("a.conv-item[href]")];
  const row =
    rows.find((a) => a.getAttribute("href") === path) ||
    rows.find((a) => a.getAttribute("href") !== top && path.startsWith(`${a.getAttribute("href")}/`));
  if (row) row.focus();
  else headingOf(list).focus({ preventScroll: true });
}

// "Skip to content" goes to the pane shown: the main pane, or on a phone
// with no item open the list (the main pane is not shown there).
function skipToContent(event) {
  event.preventDefault();
  const main = document.getElementById("main");
  headingOf(hidden(main) ? document.getElementById("list-pane") : main).focus();
}

function updateTitleBadge() {
  let unread = 0;
  // A muted chat counts only while it mentions me.
  for (const conv of state.conversations.values()) {
    if (!conv.unlisted) unread += conv.muted ? conv.unread_mentions || 0 : conv.unread || 0;
  }
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
    requests.setAttribute("aria-label", tn("%(n)s new request", "%(n)s new requests", state.incoming.size));
  }
  const base = document.title.replace(/^\(\d+\+?\) /, "");
  document.title = unread ? `(${unread > 99 ? "99+" : unread}) ${base}` : base;
  // And on the installed app's icon, where the system shows a count.
  setBadge(unread);
  // The tab's icon gets a red dot while something is unread.
  const icon = document.querySelector('link[rel="icon"][data-unread]');
  if (icon) {
    const want = unread ? icon.dataset.unread : icon.dataset.read;
    if (icon.getAttribute("href") !== want) icon.setAttribute("href", want);
  }
}

// ------------------------------------------------------------------ connection banner

let bannerTimer = null;

// Lost or back: what depends on the connection (presence, messages waiting
// to be sent) is drawn again. While offline nobody shows as online: what the
// tab knew of presence is stale (the presence subscription sent again on
// reconnect brings it back).
function setOffline(offline) {
  if (state.offline === offline) return;
  state.offline = offline;
  if (offline) {
    for (const [id, p] of state.presence) if (p.online) state.presence.set(id, { ...p, online: false, stale: true });
    emit("presence", {});
  }
  emit("connection", { offline });
}

function showStatus({ state: status, retryAt }) {
  const banner = document.getElementById("conn-banner");
  clearInterval(bannerTimer);
  document.body.dataset.connection = status;
  if (status === "offline") setOffline(true);
  else if (status === "online") setOffline(false);
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
      notify.onFrame(frame);
  }
}

// Presence subscriptions belong to a socket: all contacts after each hello
// (`fresh`), then only contacts this socket has not asked for (the server
// answers each id with its status, and each status redraws the lists). A
// blocked contact is asked for again once unblocked.
let presenceAsked = new Set();
function subscribePresence({ fresh = false } = {}) {
  if (fresh) presenceAsked = new Set();
  for (const [id, contact] of state.contacts) if (contact.blocked) presenceAsked.delete(id);
  const room = Math.max(0, 500 - presenceAsked.size);
  const ids = [...state.contacts].filter(([id, contact]) => !contact.blocked && !presenceAsked.has(id)).map(([id]) => id).slice(0, room);
  if (!ids.length) return;
  if (state.socket.send({ type: "presence.subscribe", users: ids })) ids.forEach((id) => presenceAsked.add(id));
}

async function refreshLists() {
  await Promise.allSettled([chats.loadConversations(), contacts.loadContacts(), contacts.loadIncoming(), groups.loadGroups()]);
}

// Signed out by the server (the account disabled, or this session revoked
// by a sign-out, password change or reset elsewhere): the sign-in page says
// why (web/views.py SIGN_OUT_REASONS), then brings the person back here.
let signOutTimer = null;
function signedOut(code) {
  const reason = code === 4403 ? "disabled" : "signed_out";
  // Nothing unsent can go any more: the page does not ask before it leaves.
  state.signedOut = true;
  location.assign(`${state.config.login_url}?reason=${reason}&next=${encodeURIComponent(location.pathname)}`);
}

// A notification was clicked: the app shows what it is about.
function openPath(path) {
  window.focus();
  const route = parseRoute(path);
  navigate(route.section, route.item);
}

async function boot() {
  state.config = readConfig();
  state.me = rememberUser(state.config.user);
  state.route = { section: state.config.section, item: state.config.item };
  registerWorker({ onOpen: openPath });
  notify.init({ open: openPath });
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
  document.querySelector(".skip-link")?.addEventListener("click", skipToContent);
  // What the person changes in a field is kept when its pane is drawn again (ui.js keepEdits).
  document.addEventListener("input", markEdited, true);
  document.addEventListener("change", markEdited, true);
  on("badges", updateTitleBadge);
  on("conversations", updateTitleBadge);
  // A REST call answered 401: the session ended. The socket's close code
  // (4403: disabled, 4401: signed out) says why, if it comes soon.
  window.addEventListener("wsc:signedout", (event) => {
    const code = event.detail && event.detail.code;
    signOutTimer = signOutTimer || setTimeout(() => signedOut(code === "account_disabled" ? 4403 : 4401), 1500);
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
    subscribePresence({ fresh: true });
    if (!first) {
      // Re-read what may have changed meanwhile: blocks, groups, membership
      // (new contacts among them are subscribed to as the list comes).
      state.refused.clear();
      refreshLists();
      calls.reconnected(event.detail);
      notify.loadSettings(); // changed on another device meanwhile, maybe
    }
    first = false;
  });
  socket.addEventListener("synced", () => emit("synced"));
  socket.addEventListener("signedout", (event) => {
    clearTimeout(signOutTimer);
    signOutTimer = setTimeout(() => signedOut(event.detail.code), 1500);
  });
  on("contacts", () => {
    // Presence is not shared across a block: what the tab knew is stale.
    let stale = false;
    for (const [id, contact] of state.contacts) if (contact.blocked && state.presence.delete(id)) stale = true;
    if (stale) emit("presence", {});
    if (socket.ready) subscribePresence();
  });

  const rail = document.querySelector(".rail-me");
  if (rail) clear(rail, avatar(state.me, { size: 36 }), h("span.sr-only", t("Me")));
  // The first paint: the lists fill in as they load; the main pane (which
  // may need them: a chat, a contact, a group's member picker) waits for
  // them (the route the person may have moved to meanwhile).
  mainWaiting = true;
  clear(document.getElementById("main"), emptyState(t("Loading…")));
  render();
  await refreshLists();
  showMain();
  socket.start();
  notify
    .loadSettings()
    .then(() => notify.syncSubscription())
    .catch(() => {});
  calls.init();
  // For diagnostics and the browser tests: the live objects of this tab.
  window.wsc = { state, socket, calls };
}

document.addEventListener("DOMContentLoaded", boot);
