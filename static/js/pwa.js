// The installable app, on the page's side: registering the service worker
// (/sw.js, scope "/"), the browser's install prompt, the app's badge, and
// the notification clicks the worker hands to an open window.

import { h, t } from "./dom.js";
import { emit } from "./state.js";

let registration = null; // a promise of the ServiceWorkerRegistration, or null
let deferredPrompt = null; // the `beforeinstallprompt` event kept for "Install app"

export function workerSupported() {
  return "serviceWorker" in navigator && window.isSecureContext;
}

// The registration once it is active (null where there is no service worker).
export function ready() {
  return registration ? registration.then(() => navigator.serviceWorker.ready).catch(() => null) : Promise.resolve(null);
}

// A new worker took over from an older one (a deploy): this page still runs
// the files it loaded, so it offers a reload rather than forcing one (a call
// or a message being written would be lost).
function offerReload() {
  const box = document.getElementById("toasts");
  if (!box || box.querySelector(".toast-update")) return;
  box.append(
    h(
      "div.toast.toast-update",
      { role: "status" },
      h("span", t("A new version of WebsocketChat is ready.")),
      " ",
      h("button.linklike", { type: "button", onclick: () => location.reload() }, t("Reload")),
    ),
  );
}

// `onOpen(path)`: a notification was clicked and this window was chosen to
// show what it is about (the worker focuses it).
export function registerWorker({ onOpen }) {
  window.addEventListener("beforeinstallprompt", (event) => {
    // The browser's own mini-infobar stays away; Me offers "Install app".
    event.preventDefault();
    deferredPrompt = event;
    emit("install");
  });
  window.addEventListener("appinstalled", () => {
    deferredPrompt = null;
    emit("install");
  });
  if (!workerSupported()) return;
  const hadController = Boolean(navigator.serviceWorker.controller);
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (hadController) offerReload();
  });
  navigator.serviceWorker.addEventListener("message", (event) => {
    const data = event.data || {};
    if (data.type === "wsc:open" && typeof data.path === "string" && data.path.startsWith("/")) onOpen(data.path, data.notification);
  });
  registration = navigator.serviceWorker.register("/sw.js", { scope: "/", updateViaCache: "none" });
  registration.catch(() => {
    // No worker (a private window, a browser setting): the app works without it.
  });
}

export function installed() {
  return window.matchMedia("(display-mode: standalone)").matches || window.navigator.standalone === true;
}

export function canInstall() {
  return Boolean(deferredPrompt) && !installed();
}

// Shows the browser's install dialog; true when the person accepted.
export async function install() {
  if (!deferredPrompt) return false;
  const prompt = deferredPrompt;
  deferredPrompt = null; // a prompt can be shown once
  prompt.prompt();
  const choice = await prompt.userChoice.catch(() => ({ outcome: "dismissed" }));
  emit("install");
  return choice.outcome === "accepted";
}

// The unread count on the installed app's icon (where the system has one).
let lastBadge = null;
export function setBadge(unread) {
  if (unread === lastBadge || !navigator.setAppBadge) return;
  lastBadge = unread;
  const done = unread > 0 ? navigator.setAppBadge(unread) : navigator.clearAppBadge();
  done.catch(() => {});
}
