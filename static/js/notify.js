// Notifications: the person's settings (GET/PATCH /me/notifications), push
// on this device (the permission, the browser's subscription and the
// server's list), desktop notifications while the tab is hidden (by the
// rules push follows), and closing a chat's notifications once it is read,
// here or on another device.

import { api, apiAll } from "./api.js";
import { t, tf } from "./dom.js";
import { conversationTitle, emit, nameOf, on, state } from "./state.js";
import { excerptOf, mentionsMe } from "./chats.js";
import { iBlock } from "./chat/mentions.js";
import { pathOf } from "./ui.js";
import { ready } from "./pwa.js";

export const DEFAULTS = { push: true, preview: "full", quiet_hours: null };
let settings = { ...DEFAULTS };

const APP_ICON = "/static/img/icon-192.png";
const BADGE = "/static/img/badge-96.png";
// Messages a reconnect's `sync` brings after a long absence are not news.
const FRESH_MS = 5 * 60 * 1000;
const NOTIFY_KINDS = new Set(["text", "file", "bundle", "call"]);

// ------------------------------------------------------------------ settings

export function currentSettings() {
  return settings;
}

export async function loadSettings() {
  try {
    settings = { ...DEFAULTS, ...(await api("GET", "me/notifications")) };
  } catch (err) {
    // Kept as it was (the defaults at first): the next connect reads it again.
  }
  emit("notify-settings", settings);
  return settings;
}

export async function saveSettings(changes) {
  settings = { ...DEFAULTS, ...(await api("PATCH", "me/notifications", changes)) };
  emit("notify-settings", settings);
  return settings;
}

// Whether `now` falls in the quiet hours `q` ({start, end, tz}; over midnight when end < start).
export function inQuietHours(q, now = new Date()) {
  if (!q || !q.start || !q.end || q.start === q.end) return false;
  let hm;
  try {
    hm = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: q.tz || undefined }).format(now);
  } catch (err) {
    hm = `${String(now.getHours()).padStart(2, "0")}:${String(now.getMinutes()).padStart(2, "0")}`;
  }
  const minutes = (text) => {
    const [h, m] = text.split(":").map(Number);
    return h * 60 + m;
  };
  const n = minutes(hm);
  const start = minutes(q.start);
  const end = minutes(q.end);
  return start < end ? n >= start && n < end : n >= start || n < end;
}

// ------------------------------------------------------------------ push on this device

export class PushError extends Error {
  // reason: "unsupported" (no push in this browser), "denied" (blocked for
  // the site), "dismissed" (the question was closed), "subscribe" (the push
  // service refused or cannot be reached)
  constructor(reason, cause) {
    super(reason);
    this.reason = reason;
    this.cause = cause;
  }
}

export function pushSupported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

export function permission() {
  return "Notification" in window ? Notification.permission : "unsupported";
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(base64url.length / 4) * 4, "=");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function sameKey(buffer, bytes) {
  if (!buffer) return false;
  const a = new Uint8Array(buffer);
  return a.length === bytes.length && a.every((v, i) => v === bytes[i]);
}

// What the server stores of a subscription: its endpoint and keys.
function subscriptionBody(subscription) {
  const json = subscription.toJSON();
  return { endpoint: json.endpoint, keys: { p256dh: json.keys.p256dh, auth: json.keys.auth } };
}

async function browserSubscription() {
  const registration = await ready();
  return registration ? registration.pushManager.getSubscription() : null;
}

async function subscribe(registration) {
  const { vapid_public_key: key } = await api("GET", "push/key");
  const bytes = keyBytes(key);
  try {
    let subscription = await registration.pushManager.getSubscription();
    if (subscription && !sameKey(subscription.options.applicationServerKey, bytes)) {
      // Made for another server key (the server's changed): it cannot be used.
      await subscription.unsubscribe();
      subscription = null;
    }
    return subscription || (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: bytes }));
  } catch (err) {
    throw new PushError("subscribe", err);
  }
}

// Whether this device gets pushes: the browser's subscription is one the
// server lists for this login session.
export async function deviceSubscribed() {
  if (!pushSupported() || permission() !== "granted") return false;
  const subscription = await browserSubscription();
  if (!subscription) return false;
  const listed = await apiAll("push/subscriptions");
  return listed.some((s) => s.endpoint === subscription.endpoint);
}

// The switch is about this device: turning it off here keeps the person's
// other devices notified (the account's `push` setting goes off only with
// the last of them). Remembered in this browser.
const DEVICE_OFF = "wsc.notify.deviceOff";

export function deviceOff() {
  try {
    return localStorage.getItem(DEVICE_OFF) === "1";
  } catch (err) {
    return false;
  }
}

function setDeviceOff(off) {
  try {
    if (off) localStorage.setItem(DEVICE_OFF, "1");
    else localStorage.removeItem(DEVICE_OFF);
  } catch (err) {
    // Private mode without storage: the account setting decides.
  }
}

// Turning push on: the browser asks for the permission now (never before),
// then the subscription is made and given to the server, and the setting
// saved. Throws PushError or ApiError.
export async function enablePush() {
  if (!pushSupported()) throw new PushError("unsupported");
  let answer = Notification.permission;
  if (answer === "default") answer = await Notification.requestPermission();
  if (answer === "denied") throw new PushError("denied");
  if (answer !== "granted") throw new PushError("dismissed");
  const registration = await ready();
  if (!registration) throw new PushError("unsupported");
  setDeviceOff(false);
  const subscription = await subscribe(registration);
  await api("POST", "push/subscriptions", subscriptionBody(subscription));
  return saveSettings({ push: true });
}

// Turning push off: this device's subscription goes (browser and server)
// and this browser stops showing notifications; the account's setting goes
// off only when no other device of the person still gets pushes.
export async function disablePush() {
  setDeviceOff(true);
  const subscription = pushSupported() ? await browserSubscription() : null;
  let listed = await apiAll("push/subscriptions");
  if (subscription) {
    for (const s of listed.filter((x) => x.endpoint === subscription.endpoint)) await api("DELETE", `push/subscriptions/${s.id}`);
    listed = listed.filter((x) => x.endpoint !== subscription.endpoint);
    await subscription.unsubscribe().catch(() => {});
  }
  if (listed.length) {
    emit("notify-settings", settings);
    return settings;
  }
  return saveSettings({ push: false });
}

// At start: a subscription the push service renewed (or the browser lost)
// replaces the one the server has for this login session. The server marks
// this session's own subscriptions `current`; nothing happens where push was
// not turned on in this session (none is), so another person's sign-in on
// this browser never inherits a subscription.
export async function syncSubscription() {
  if (!pushSupported() || permission() !== "granted" || !settings.push || deviceOff()) return;
  const registration = await ready();
  if (!registration) return;
  const listed = await apiAll("push/subscriptions");
  const mine = listed.filter((s) => s.current === true);
  let subscription = await registration.pushManager.getSubscription();
  if (!mine.length || (subscription && listed.some((s) => s.endpoint === subscription.endpoint))) return;
  subscription = subscription || (await subscribe(registration));
  await api("POST", "push/subscriptions", subscriptionBody(subscription));
  for (const s of mine) if (s.endpoint !== subscription.endpoint) await api("DELETE", `push/subscriptions/${s.id}`);
}

// Signing out: the next person to sign in on this browser must not get
// this one's pushes (the server drops the session's subscriptions too).
export async function forgetDevice() {
  setDeviceOff(false);
  if (!pushSupported()) return;
  const subscription = await browserSubscription();
  if (subscription) await subscription.unsubscribe();
}

// ------------------------------------------------------------------ desktop notifications

const shown = new Set(); // "message:<id>", "call:<id>", "request:<id>" already shown by this tab
const plain = new Map(); // message id -> the Notification this tab made for it without a service worker

function away() {
  return document.visibilityState !== "visible";
}

// The push rules: the setting on, the permission given, the sender not
// someone I block (onMessage), the chat not muted unless the message
// mentions me, not in quiet hours unless it is a call.
function allowed({ conv = null, mention = false, call = false } = {}) {
  if (permission() !== "granted" || !settings.push || deviceOff()) return false;
  if (conv && conv.muted && !mention) return false;
  if (!call && inQuietHours(settings.quiet_hours)) return false;
  return true;
}

async function show(title, options) {
  const full = { icon: APP_ICON, badge: BADGE, timestamp: Date.now(), ...options };
  const registration = await ready();
  if (registration) {
    // A newer message of the chat replaces the older one and sounds again;
    // the same message (a push after this) replaces it silently.
    const older = await registration.getNotifications({ tag: full.tag });
    const same = older.some((n) => n.data && n.data.message && n.data.message === full.data.message);
    await registration.showNotification(title, { ...full, renotify: older.length > 0 && !same });
    return;
  }
  const notification = new Notification(title, full);
  notification.onclick = () => {
    window.focus();
    openPath(full.data.url);
    notification.close();
  };
  // A newer one of the chat replaces it (the same tag): only the newest is kept.
  for (const [key, n] of plain) if (n.tag === full.tag) plain.delete(key);
  if (full.data.message) plain.set(full.data.message, notification);
  notification.onclose = () => {
    if (plain.get(full.data.message) === notification) plain.delete(full.data.message);
  };
}

// A recalled message's notification goes (this tab's, or a push's): its
// words must not stay on the screen.
async function closeRecalled(conversationId, messageId) {
  if (!messageId) return;
  const own = plain.get(messageId);
  if (own) {
    plain.delete(messageId);
    own.close();
  }
  const registration = await ready();
  if (!registration) return;
  const tag = conversationId ? `chat-${conversationId}` : undefined;
  for (const n of await registration.getNotifications(tag ? { tag } : {})) if (n.data && n.data.message === messageId) n.close();
}

async function close(tag) {
  const registration = await ready();
  if (!registration) return;
  for (const n of await registration.getNotifications({ tag })) n.close();
}

let openPath = () => {};

// The words of a notification follow the preview setting, as the server's
// pushes do (notifications/delivery.py), so a push for the same message
// replaces this one with the same text.
function messageNotice(conv, message, mention) {
  const group = conv.kind === "group";
  const sender = nameOf(message.sender);
  let title = t("New message");
  let body = "";
  let icon = APP_ICON;
  if (settings.preview !== "none") {
    let what = t("Sent a message");
    if (settings.preview === "full") {
      what = excerptOf(message);
      if (mention) what = tf("[Mentioned you] %(text)s", { text: what });
    }
    title = conversationTitle(conv);
    body = group ? `${sender}: ${what}` : what;
    icon = (group ? conv.group && conv.group.avatar : message.sender && message.sender.avatar) || APP_ICON;
  }
  return {
    title,
    options: {
      body,
      icon,
      tag: `chat-${conv.id}`,
      data: { type: "message", url: pathOf("chats", conv.id), conversation: conv.id, message: message.id, seq: message.seq },
    },
  };
}

function onMessage(message, again = false) {
  // A recall that comes as its event (a reconnect's sync) closes it too.
  if (message && message.kind === "system" && message.content && message.content.event === "recall")
    closeRecalled(message.conversation, (message.content.changes || {}).message).catch(() => {});
  if (!message || !message.sender || message.sender.id === state.me.id || shown.has(`message:${message.id}`)) return;
  // Someone I block: their group messages come, but never notify (as no push does).
  if (iBlock(message.sender)) return;
  if (!NOTIFY_KINDS.has(message.kind) || message.recalled) return;
  if (message.kind === "call" && !["missed", "cancelled"].includes((message.content || {}).outcome)) return;
  if (Date.now() - new Date(message.created_at).getTime() > FRESH_MS) return;
  const conv = state.conversations.get(message.conversation);
  if (!conv) {
    // A chat the tab does not know yet (the first message of a new contact):
    // the list is being read again; look once more when it has been.
    if (!again) setTimeout(() => onMessage(message, true), 2000);
    return;
  }
  if (message.seq <= (conv.read_seq || 0)) return;
  const mention = mentionsMe(message);
  if (!away() || !allowed({ conv, mention })) return;
  shown.add(`message:${message.id}`);
  const { title, options } = messageNotice(conv, message, mention);
  show(title, options).catch(() => {});
}

function directWith(userId) {
  for (const conv of state.conversations.values()) if (conv.kind === "direct" && conv.peer && conv.peer.id === userId) return conv;
  return null;
}

const callTags = new Map(); // call id -> the tag of its notification

function onCall(frame) {
  const conv = frame.from ? directWith(frame.from.id) : null;
  const tag = `call-${conv ? conv.id : frame.call_id}`;
  // Known even when this tab shows nothing: a push may have shown it.
  callTags.set(frame.call_id, tag);
  if (shown.has(`call:${frame.call_id}`) || !away() || !allowed({ call: true })) return;
  shown.add(`call:${frame.call_id}`);
  const video = frame.media === "video";
  const hidden = settings.preview === "none";
  show(hidden ? t("Incoming call") : nameOf(frame.from), {
    body: hidden ? "" : video ? t("Incoming video call") : t("Incoming voice call"),
    icon: (!hidden && frame.from && frame.from.avatar) || APP_ICON,
    tag,
    requireInteraction: true,
    data: { type: "call", url: conv ? pathOf("chats", conv.id) : pathOf("calls"), conversation: conv ? conv.id : null, message: null },
  }).catch(() => {});
}

function onRequest(request) {
  if (!request || request.status !== "pending" || !request.to || request.to.id !== state.me.id) return;
  if (shown.has(`request:${request.id}`) || !away() || !allowed()) return;
  shown.add(`request:${request.id}`);
  const preview = settings.preview;
  const asks = t("Wants to add you as a contact");
  show(preview === "none" ? t("New contact request") : nameOf(request.from), {
    body: preview === "none" ? "" : preview === "full" ? request.message || asks : asks,
    icon: (preview !== "none" && request.from && request.from.avatar) || APP_ICON,
    tag: "contact-requests",
    data: { type: "contact_request", url: pathOf("contacts", "requests"), conversation: null, message: request.id },
  }).catch(() => {});
}

// Called for every frame, after the sections have taken it in.
export function onFrame(frame) {
  switch (frame.type) {
    case "message.new":
      onMessage(frame.message);
      return;
    case "message.recalled":
      closeRecalled(frame.conversation, frame.message).catch(() => {});
      return;
    case "call.incoming":
      onCall(frame);
      return;
    case "call.ended":
    case "call.answered_elsewhere":
    case "call.accepted": {
      // The ringing stopped: its notification goes (a push's too).
      const tag = callTags.get(frame.call_id);
      if (tag) close(tag).catch(() => {});
      return;
    }
    case "contact.request":
      onRequest(frame.request);
      if (frame.request && frame.request.status !== "pending" && !state.incoming.size) close("contact-requests").catch(() => {});
      return;
    default:
  }
}

// ------------------------------------------------------------------ read chats lose their notifications

const readAt = new Map(); // conversation id -> [read_seq, when this tab saw it]
let sweep = null;

async function closeRead() {
  sweep = null;
  const registration = await ready();
  if (!registration) return;
  for (const n of await registration.getNotifications()) {
    const match = /^chat-(.+)$/.exec(n.tag || "");
    const conv = match && state.conversations.get(match[1]);
    if (!conv || conv.unread || conv.unread_mentions) continue;
    // Read after it was shown (here, or another device's cursor moved).
    const seen = readAt.get(conv.id);
    if (seen && n.timestamp <= seen[1]) n.close();
  }
}

function noteReads() {
  const now = Date.now();
  for (const conv of state.conversations.values()) {
    const seen = readAt.get(conv.id);
    if (!seen || (conv.read_seq || 0) > seen[0]) readAt.set(conv.id, [conv.read_seq || 0, now]);
  }
  if (!sweep) sweep = setTimeout(() => closeRead().catch(() => {}), 300);
}

// `open(path)` shows an address of the app (a notification clicked without a service worker).
export function init({ open }) {
  openPath = open;
  on("conversations", noteReads);
}
