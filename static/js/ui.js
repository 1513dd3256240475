// Navigation, toasts and dialogs shared by every section.

import { upload } from "./api.js";
import { h, t } from "./dom.js";
import { emit, state } from "./state.js";

export function parseRoute(pathname) {
  const parts = pathname.replace(/^\/+|\/+$/g, "").split("/");
  const map = { "": "chats", chats: "chats", contacts: "contacts", groups: "groups", calls: "calls", profile: "profile" };
  const section = map[parts[0]] || "chats";
  // An item may have a part of its own: /profile/bots/<id> is "bots/<id>".
  const item = parts.slice(1).filter(Boolean).map(decodeURIComponent).join("/");
  return { section, item: item || null };
}

export function pathOf(section, item) {
  const base = section === "chats" ? (item ? "/chats" : "/") : `/${section}`;
  return item ? `${base}/${item.split("/").map(encodeURIComponent).join("/")}` : base;
}

export function navigate(section, item = null, { replace = false } = {}) {
  const path = pathOf(section, item);
  if (replace) history.replaceState({}, "", path);
  else if (location.pathname !== path) history.pushState({}, "", path);
  state.route = { section, item };
  emit("route", state.route);
}

// Links inside the app move without reloading the page (the socket and a
// call stay up); modified clicks keep their usual meaning.
export function appLink(section, item, children, attrs = {}) {
  return h(
    "a",
    {
      href: pathOf(section, item),
      onclick: (event) => {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
        event.preventDefault();
        navigate(section, item);
      },
      ...attrs,
    },
    children,
  );
}

export function toast(text, { kind = "info", timeout = 5000 } = {}) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const node = h(`div.toast.toast-${kind}`, { role: kind === "error" ? "alert" : "status" }, text);
  // At most three at once: a burst of events must not cover the screen.
  while (box.childElementCount >= 3) box.firstElementChild.remove();
  box.append(node);
  setTimeout(() => node.remove(), timeout);
}

// "Change picture": a button-styled label for a hidden image input, and a
// progress bar while the picture uploads; `save(fileId)` stores the upload
// (PATCH /me, PATCH /groups/{id}) and `saved()` redraws.
export function pictureUpload({ id, label = t("Change picture"), save, saved }) {
  const input = h("input.sr-only", { type: "file", accept: "image/png,image/jpeg,image/gif,image/webp", id });
  const progress = h("progress", { max: 1, value: 0, hidden: true, "aria-label": t("Uploading the picture") });
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (!file) return;
    progress.hidden = false;
    try {
      const stored = await upload(file, (f) => (progress.value = f)).promise;
      saved(await save(stored.id));
      toast(t("Saved."));
    } catch (err) {
      toast(errorText(err), { kind: "error" });
    } finally {
      progress.hidden = true;
      input.value = "";
    }
  });
  return [h("label.btn.btn-small", { for: id }, label), input, progress];
}

// invalid_credentials too: the server says which ("The current password is
// wrong.", "Wrong or expired code."), where one sentence here fitted none.
const GENERIC_CODES = new Set(["forbidden", "conflict", "not_found", "too_large", "invalid_credentials"]);

export function errorText(err) {
  const byCode = {
    network: t("No connection to the server."),
    not_contact: t("You are not contacts (any more)."),
    blocked: t("One of you has blocked the other."),
    not_member: t("You are not a member of this group."),
    group_disabled: t("This group is disabled or dismissed."),
    forbidden: t("You are not allowed to do this."),
    not_found: t("Not found."),
    conflict: t("Already done, or not possible in the current state."),
    too_large: t("Too large."),
    unsupported_media: t("This type of file is refused."),
    rate_limited: t("Too many requests. Wait a moment and try again."),
    unavailable: t("The service is unavailable right now. Try again in a moment."),
    invalid_credentials: t("Wrong password or code."),
    busy: t("Busy: already in a call."),
    call_state: t("The call has already ended."),
  };
  if (err && err.code === "invalid" && err.fields) {
    return Object.values(err.fields).flat().join(" ");
  }
  // For the catch-all codes the server's own sentence says more ("You can
  // only recall your own messages within 2 minutes.", "This file does not
  // fit in your storage quota."), and it is in the
  // person's language as the page is.
  if (err && err.message && GENERIC_CODES.has(err.code)) return err.message;
  return (err && byCode[err.code]) || (err && err.message) || t("Something went wrong.");
}

// ---------------------------------------------------------------- a form's errors

// Where a form says what went wrong that belongs to no field.
export function formProblem() {
  return h("p.alert.form-problem", { role: "alert", hidden: true });
}

export function clearErrors(inputs, problem) {
  for (const input of Object.values(inputs)) {
    input.removeAttribute("aria-invalid");
    const list = document.getElementById(`${input.id}-errors`);
    if (list) list.remove();
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== `${input.id}-errors`);
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));
    else input.removeAttribute("aria-describedby");
  }
  problem.hidden = true;
  problem.textContent = "";
}

// A refusal: each field's messages under its input (`inputs`: the API's
// field name -> input), anything else in `problem`; the first field named
// takes the focus.
export function showErrors(err, inputs, problem) {
  clearErrors(inputs, problem);
  const fields = err.code === "invalid" && err.fields ? { ...err.fields } : {};
  let first = null;
  for (const [name, input] of Object.entries(inputs)) {
    const messages = fields[name];
    if (!messages) continue;
    delete fields[name];
    const list = h("ul.field-errors", { id: `${input.id}-errors` }, [].concat(messages).map((m) => h("li", m)));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", [input.getAttribute("aria-describedby"), list.id].filter(Boolean).join(" "));
    (input.closest(".field") || input.parentNode).append(list);
    first = first || input;
  }
  const rest = Object.values(fields).flat();
  let text = rest.join(" ");
  if (!first && !text) text = err.code === "conflict" && err.message ? err.message : errorText(err);
  problem.textContent = text;
  problem.hidden = !text;
  if (first) first.focus();
}

export function confirmDialog(message, { ok = t("OK"), danger = false } = {}) {
  return new Promise((resolve) => {
    const okButton = h(`button.btn${danger ? ".btn-danger" : ".btn-primary"}`, { type: "submit", value: "ok" }, ok);
    const dialog = h(
      "dialog.dialog",
      { "aria-labelledby": "confirm-text" },
      h(
        "form",
        { method: "dialog" },
        h("p", { id: "confirm-text" }, message),
        h(
          "div.dialog-actions",
          h("button.btn", { type: "submit", value: "cancel" }, t("Cancel")),
          okButton,
        ),
      ),
    );
    dialog.addEventListener("close", () => {
      resolve(dialog.returnValue === "ok");
      dialog.remove();
    });
    document.body.append(dialog);
    dialog.showModal();
    okButton.focus();
  });
}

// A switch: a button with role "switch" (Space and Enter toggle it).
export function switchButton(labelId, describedBy) {
  return h(
    "button.switch",
    { type: "button", role: "switch", "aria-checked": "false", "aria-labelledby": labelId, "aria-describedby": describedBy },
    h("span.switch-knob"),
  );
}

export function setSwitch(button, on) {
  button.setAttribute("aria-checked", on ? "true" : "false");
}

export function emptyState(text) {
  return h("div.empty", h("p", text));
}

export function backButton() {
  return h(
    "button.btn-icon.back",
    { type: "button", "aria-label": t("Back"), onclick: () => navigate(state.route.section, null) },
    "‹",
  );
}

// ---------------------------------------------------------------- the newest answer wins

// For a form that asks the server again each time it is sent (a search, a
// lookup): `const ask = newestAsk()`, then `const current = ask()` before each
// request, and its answer is shown only while `current()` is true, so a slow
// answer to an earlier question never replaces the answer to the later one.
export function newestAsk() {
  let asked = 0;
  return () => {
    const mine = ++asked;
    return () => mine === asked;
  };
}

// ---------------------------------------------------------------- edits kept across a redraw

// Fields the person has changed carry `data-edited` (app.js marks them on
// their input). A pane drawn again because something came (a contact's
// presence, a group's new member) keeps them: `keepEdits(root)` notes the
// edited fields of `root` (by `data-keep`, else their id) and the focus, and
// the function it returns puts them into what is drawn in their place.
export function keepEdits(root) {
  const kept = new Map();
  for (const el of root.querySelectorAll("[data-edited]")) {
    const key = el.dataset.keep || el.id;
    if (key) kept.set(key, el.type === "checkbox" || el.type === "radio" ? { checked: el.checked } : { value: el.value });
  }
  const active = document.activeElement;
  const inside = active && active !== root && root.contains(active);
  const focused = inside ? active.dataset.keep || active.id || null : null;
  // A control with neither (a member's "Make admin", Save, Accept): found
  // again by its place, the same kind of element at the same path of child
  // positions, else the nearest control before it, so a keyboard user is
  // never thrown back to the top of the page by a redraw.
  const place = inside && !focused ? pathTo(root, active) : null;
  const find = (fresh, key) => fresh.querySelector(`[data-keep="${CSS.escape(key)}"]`) || fresh.querySelector(`#${CSS.escape(key)}`);
  return (fresh) => {
    for (const [key, saved] of kept) {
      const el = find(fresh, key);
      if (!el) continue;
      if ("checked" in saved) el.checked = saved.checked;
      else el.value = saved.value;
      el.dataset.edited = "1";
    }
    const el = focused ? find(fresh, focused) : place ? atPath(fresh, place, active.tagName) : null;
    if (el) el.focus({ preventScroll: true });
  };
}

function pathTo(root, el) {
  const path = [];
  for (let node = el; node && node !== root; node = node.parentElement) path.unshift([...node.parentElement.children].indexOf(node));
  return path;
}

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

function atPath(root, path, tagName) {
  let node = root;
  for (const i of path) {
    const next = node.children[i];
    if (!next) break;
    node = next;
  }
  if (node !== root && node.tagName === tagName && node.matches(FOCUSABLE)) return node;
  // Gone (a member removed): the last control before where it was.
  const all = [...root.querySelectorAll(FOCUSABLE)];
  const before = all.filter((c) => c === node || c.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING);
  return before[before.length - 1] || all[0] || null;
}

export function markEdited(event) {
  const el = event.target;
  if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement) el.dataset.edited = "1";
}

