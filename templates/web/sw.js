// WebsocketChat's service worker (scope "/"), rendered by web/pwa.py.
//
// - Keeps the app's static files and the offline shell in a cache named by
//   the version of the deployed files; a deploy changes this script, so the
//   browser installs the new worker, which deletes the old caches.
// - Pages: the network first; when it cannot be reached, the offline shell.
//   Static files: the cache first. Everything else (the API, downloads, the
//   socket, the admin) is left to the network and never stored.
// - Push: one notification per chat (tag "chat-<conversation>"), one per
//   ringing call ("call-<conversation>"), the app's badge set to the unread
//   count; a click brings an open window of the app to the chat, or opens one.
{% autoescape off %}const CONFIG = {{ config }};{% endautoescape %}
{% verbatim %}
const CACHE = CONFIG.cache;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // Past the HTTP cache: the files of this version, as the server has them now.
      await cache.addAll(CONFIG.precache.map((url) => new Request(url, { cache: "reload", credentials: "same-origin" })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CONFIG.cache_prefix) && name !== CACHE) await caches.delete(name);
      }
      if (self.registration.navigationPreload) {
        try {
          await self.registration.navigationPreload.enable();
        } catch (err) {
          // Not available: pages are fetched by the worker instead.
        }
      }
      await self.clients.claim();
    })(),
  );
});

// ------------------------------------------------------------------ fetch

function networkOnly(url) {
  return CONFIG.network_only.some((prefix) => url.pathname.startsWith(prefix));
}

async function page(event) {
  try {
    const preloaded = await event.preloadResponse;
    if (preloaded) return preloaded;
    return await fetch(event.request);
  } catch (err) {
    const shell = await caches.match(CONFIG.offline, { cacheName: CACHE });
    return shell || Response.error();
  }
}

async function staticFile(request) {
  const cached = await caches.match(request, { cacheName: CACHE, ignoreSearch: true });
  return cached || fetch(request);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || networkOnly(url)) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (url.pathname.startsWith(CONFIG.static_prefix)) {
    event.respondWith(staticFile(request));
  }
  // Anything else goes to the network as if there were no worker.
});

// ------------------------------------------------------------------ push

function chatUrl(conversation) {
  return CONFIG.chat.replace("CONVERSATION", encodeURIComponent(conversation));
}

// What a push payload shows: {title, options} (docs/web.md, "Push").
function notificationFor(data) {
  const base = {
    body: typeof data.body === "string" ? data.body : "",
    icon: data.icon || CONFIG.icon,
    badge: CONFIG.badge,
    timestamp: Date.now(),
  };
  const conversation = typeof data.conversation === "string" && data.conversation ? data.conversation : null;
  switch (data.type) {
    case "message":
      return {
        title: data.title || CONFIG.words.message,
        options: {
          ...base,
          tag: conversation ? `chat-${conversation}` : "chat",
          data: {
            type: "message",
            url: conversation ? chatUrl(conversation) : CONFIG.home,
            conversation,
            message: data.message || null,
            seq: typeof data.seq === "number" ? data.seq : null,
          },
        },
      };
    case "call":
      return {
        title: data.title || CONFIG.words.call,
        options: {
          ...base,
          tag: conversation ? `call-${conversation}` : "call",
          requireInteraction: true,
          data: { type: "call", url: conversation ? chatUrl(conversation) : CONFIG.home, conversation, message: data.message || null },
        },
      };
    case "contact_request":
      return {
        title: data.title || CONFIG.words.request,
        options: { ...base, tag: "contact-requests", data: { type: "contact_request", url: CONFIG.requests, conversation: null, message: null } },
      };
    default:
      return {
        title: data.title || CONFIG.words.app,
        options: { ...base, body: base.body || CONFIG.words.generic, tag: "wsc", data: { type: "other", url: CONFIG.home, conversation, message: null } },
      };
  }
}

// Shows a notification in place of the one with the same tag: a newer
// message of the chat replaces the older one and sounds again; the same
// message again (a push after the open tab's own notification) replaces
// it silently; an older one (its push came after the tab showed a later
// message of the chat) is not shown at all: it would put older words over
// newer ones and ring once more.
async function show(title, options) {
  const older = await self.registration.getNotifications({ tag: options.tag });
  const seq = options.data && options.data.seq;
  if (typeof seq === "number" && older.some((n) => n.data && typeof n.data.seq === "number" && n.data.seq > seq)) return;
  const same = older.some((n) => n.data && options.data && n.data.message && n.data.message === options.data.message);
  const renotify = older.length > 0 && !same;
  await self.registration.showNotification(title, { ...options, renotify });
}

async function setBadge(unread) {
  if (typeof unread !== "number" || !self.navigator.setAppBadge) return;
  try {
    if (unread > 0) await self.navigator.setAppBadge(unread);
    else await self.navigator.clearAppBadge();
  } catch (err) {
    // Not allowed here (no installed app): nothing to show it on.
  }
}

// A window of the app the person is looking at shows the message itself.
async function seenInApp() {
  const windows = await self.clients.matchAll({ type: "window" });
  return windows.some((w) => w.visibilityState === "visible" && w.focused);
}

// A call rings 45 s at most. Its notification asks to be answered, so it
// stays; the app closes it when it hears the call ended, and any later push
// closes one that has been showing for longer than a call can ring. (The
// worker does not wait the 45 s itself: a push event kept open would hold
// back the pushes after it.)
const CALL_RING_MS = 45000;

async function closeStaleCalls() {
  for (const n of await self.registration.getNotifications()) {
    if (n.data && n.data.type === "call" && Date.now() - n.timestamp > CALL_RING_MS) n.close();
  }
}

async function onPush(data) {
  await closeStaleCalls();
  await setBadge(data.unread);
  const { title, options } = notificationFor(data);
  if (await seenInApp()) return; // the app in front shows it itself (a call: its ringing dialog)
  await show(title, options);
}

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (err) {
    data = { body: event.data ? event.data.text() : "" };
  }
  if (!data || typeof data !== "object") data = {};
  event.waitUntil(onPush(data));
});

// ------------------------------------------------------------------ clicks

// The app's own windows (not the sign-in or admin pages), the focused first.
async function appWindows() {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const own = windows.filter((w) => {
    const path = new URL(w.url).pathname;
    return !/^\/(login|register|reset|admin|offline|api)(\/|$)/.test(path);
  });
  return own.sort((a, b) => Number(b.focused) - Number(a.focused) || Number(b.visibilityState === "visible") - Number(a.visibilityState === "visible"));
}

async function openFromNotification(data) {
  const target = new URL((data && data.url) || CONFIG.home, self.location.origin);
  const [win] = await appWindows();
  if (win) {
    // The page moves to the chat itself (app.js), keeping its socket and a call.
    win.postMessage({ type: "wsc:open", path: target.pathname, notification: data || null });
    try {
      await win.focus();
    } catch (err) {
      // Focus is the browser's to give; the page has moved all the same.
    }
    return;
  }
  await self.clients.openWindow(target.href);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const done = openFromNotification(event.notification.data);
  // (A synthetic event, as the browser tests dispatch, cannot be extended.)
  if (event.isTrusted) event.waitUntil(done);
});

// A renewed subscription (`pushsubscriptionchange`) is posted by the app
// the next time it opens: it compares the browser's subscription with the
// server's list (static/js/pwa.js).
{% endverbatim %}
