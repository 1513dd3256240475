// Small DOM and text helpers. Every node is built from data with textContent:
// user strings never go through innerHTML.

export function t(text) {
  return window.django && window.django.gettext ? window.django.gettext(text) : text;
}

// t() with %(name)s placeholders filled from `values` (plain text, not HTML).
export function tf(text, values) {
  return t(text).replace(/%\((\w+)\)s/g, (_, key) => (key in values ? String(values[key]) : ""));
}

// The plural form of a string for `n` (gettext's plural rules: English has
// two forms, Chinese one), with its placeholders filled like tf(); `n` is
// also available as %(n)s.
export function tn(singular, plural, n, values = {}) {
  const text = window.django && window.django.ngettext ? window.django.ngettext(singular, plural, n) : n === 1 ? singular : plural;
  const all = { n, ...values };
  return text.replace(/%\((\w+)\)s/g, (_, key) => (key in all ? String(all[key]) : ""));
}

// h("button.btn.primary", {type: "button", onclick: fn, "aria-label": "..."}, "text", child, ...)
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split(".");
  const node = document.createElement(tag || "div");
  if (classes.length) node.className = classes.join(" ");
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className += (node.className ? " " : "") + value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key === "text") {
      node.textContent = value;
    } else if (key in node && !key.includes("-") && key !== "list" && key !== "form") {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const ICONS = document.querySelector('meta[name="icons"]')?.content || "/static/img/icons.svg";

export function svgIcon(name, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("focusable", "false");
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const use = document.createElementNS(ns, "use");
  use.setAttribute("href", `${ICONS}#${name}`);
  svg.append(use);
  return svg;
}

// "BOT" beside the name of a bot account (User.is_bot), wherever a user is shown.
export function botBadge(user) {
  return user && user.is_bot ? h("span.bot-badge", { title: t("This account is a bot") }, t("BOT")) : null;
}

export function displayName(user, remark) {
  if (!user) return t("Someone");
  return remark || user.nickname || user.username || t("Deleted user");
}

// A round avatar: the picture when there is one, else the first letter.
export function avatar(user, { size = 40, name } = {}) {
  const label = name || displayName(user);
  const box = h("span.avatar", { "aria-hidden": "true" });
  box.style.setProperty("--size", `${size}px`);
  if (user && user.avatar) {
    box.append(h("img", { src: user.avatar, alt: "", width: size, height: size, loading: "lazy" }));
  } else {
    box.textContent = Array.from(label.trim())[0] || "?";
    box.dataset.hue = String(hueOf(user ? user.id || label : label));
  }
  return box;
}

function hueOf(text) {
  let n = 0;
  for (const ch of String(text)) n = (n * 31 + ch.codePointAt(0)) % 8;
  return n;
}

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const mm = Math.floor(s / 60);
  const ss = String(s % 60).padStart(2, "0");
  return mm >= 60 ? `${Math.floor(mm / 60)}:${String(mm % 60).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

function lang() {
  return document.documentElement.lang || "en";
}

export function formatTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const now = new Date();
  const sameDay = when.toDateString() === now.toDateString();
  const opts = sameDay ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" };
  return new Intl.DateTimeFormat(lang(), opts).format(when);
}

// When something happened, as short as a list row needs: "10:30" today,
// "Yesterday", a weekday within the week, then a date (with the year only
// when it is not this year's).
export function formatWhen(iso, now = new Date()) {
  if (!iso) return "";
  const when = new Date(iso);
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(when)) / 86400000);
  if (days <= 0) return new Intl.DateTimeFormat(lang(), { hour: "2-digit", minute: "2-digit" }).format(when);
  if (days === 1) return t("Yesterday");
  if (days < 7) return new Intl.DateTimeFormat(lang(), { weekday: "short" }).format(when);
  const opts = when.getFullYear() === now.getFullYear() ? { month: "short", day: "numeric" } : { year: "numeric", month: "numeric", day: "numeric" };
  return new Intl.DateTimeFormat(lang(), opts).format(when);
}

export function formatDateTime(iso) {
  if (!iso) return "";
  return new Intl.DateTimeFormat(lang(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(iso));
}

export function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// A labelled form field: returns {field, input}.
export function field(labelText, input, hint) {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  const parts = [h("label", { for: id }, labelText), input];
  if (hint) {
    const hintId = `${id}-hint`;
    input.setAttribute("aria-describedby", hintId);
    parts.push(h("p.hint", { id: hintId }, hint));
  }
  return { field: h("div.field", parts), input };
}
