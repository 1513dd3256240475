// Profile: avatar, nickname, signature, smart replies, password, sessions,
// language, sign out; notifications (notifications.js), my bots (bots.js)
// and installing the app.

import { api } from "./api.js";
import { avatar, clear, displayName, field, formatDateTime, h, svgIcon, t, tf } from "./dom.js";
import { emit, on, rememberUser, state } from "./state.js";
import { actionRow, listPane, mainHeader } from "./panes.js";
import { clearErrors, emptyState, errorText, formProblem, pictureUpload, setSwitch, showErrors, switchButton, toast } from "./ui.js";
import { canInstall, install } from "./pwa.js";
import { forgetDevice } from "./notify.js";
import { renderNotifications } from "./notifications.js";
import { renderBots } from "./bots.js";
import { forgetSuggestions } from "./chats.js";

export function title() {
  const item = state.route.item || "";
  if (item === "notifications") return t("Notifications");
  if (item === "bots" || item.startsWith("bots/")) return t("My bots");
  return t("Me");
}

function fromTemplate(id) {
  const tpl = document.getElementById(id);
  return tpl ? tpl.content.cloneNode(true) : null;
}

function setMe(user) {
  state.me = rememberUser({ ...state.me, ...user });
  const rail = document.querySelector(".rail-me");
  if (rail) clear(rail, avatar(state.me, { size: 36 }), h("span.sr-only", t("Me")));
  emit("users", state.me);
  // The Me card beside the form shows the new name and signature at once.
  for (const node of document.querySelectorAll('[data-me="name"]')) node.textContent = displayName(state.me);
  for (const node of document.querySelectorAll('[data-me="signature"]')) {
    node.textContent = state.me.signature || "";
    node.hidden = !state.me.signature;
  }
}

export function renderList(pane) {
  const me = state.me;
  const pic = h("div.avatar-edit", avatar(me, { size: 96 }));
  const picture = pictureUpload({
    id: "avatar-file",
    save: (fileId) => api("PATCH", "me", { avatar: fileId }),
    saved: (user) => {
      setMe(user);
      clear(pic, avatar(state.me, { size: 96 }));
    },
  });
  const body = listPane(pane, t("Me"), { scroll: "div.list-scroll.pad" });
  clear(
    body,
    h(
      "div.card.center",
      pic,
      ...picture,
      h("h2", { dataset: { me: "name" } }, displayName(me)),
      h("p.muted", `@${me.username}`),
      h("p.signature", { dataset: { me: "signature" }, hidden: !me.signature }, me.signature || ""),
      me.phone ? h("p.muted", me.phone) : null,
    ),
    h(
      "ul.conv-list.card.flush",
      actionRow("profile", "settings", "user", t("Profile, password and devices")),
      actionRow("profile", "notifications", "bell", t("Notifications")),
      botsRow(),
    ),
    h("div.install-slot", canInstall() ? installCard() : null),
    me.is_admin ? h("p", h("a.btn.btn-block", { href: "/admin/" }, t("Administration"))) : null,
    h("div.card", fromTemplate("tpl-language")),
    h("div.card", fromTemplate("tpl-logout")),
  );
  // Signing out also ends this browser's push subscription, so the next
  // person to sign in here never gets this one's notifications.
  const logout = pane.querySelector(".logout-form");
  if (logout) {
    logout.addEventListener("submit", (event) => {
      if (logout.dataset.forgotten) return;
      event.preventDefault();
      logout.dataset.forgotten = "1";
      const timeout = new Promise((resolve) => setTimeout(resolve, 1500));
      Promise.race([forgetDevice().catch(() => {}), timeout]).then(() => logout.submit());
    });
  }
  // Come back to this page in the new language.
  const next = pane.querySelector('.lang-form input[name="next"]');
  if (next) next.value = location.pathname;
  const select = pane.querySelector("[data-autosubmit]");
  if (select)
    select.addEventListener("change", () => {
      if (next) next.value = location.pathname; // the page open now (the list is kept)
      select.form.requestSubmit();
    });
  pane.querySelectorAll(".js-hide").forEach((el) => (el.hidden = true));
  return on("install", () => {
    const slot = pane.querySelector(".install-slot");
    if (slot) clear(slot, canInstall() ? installCard() : null);
  });
}

// Me › My bots: marked while the list or one of the bots is open.
function botsRow() {
  const row = actionRow("profile", "bots", "bot", t("My bots"));
  if ((state.route.item || "").startsWith("bots/")) row.querySelector("a").setAttribute("aria-current", "page");
  return row;
}

// "Install app": only where the browser offers it (`beforeinstallprompt`),
// and not once installed.
function installCard() {
  const button = h(
    "button.btn.btn-primary",
    {
      type: "button",
      onclick: async () => {
        if (await install()) toast(t("WebsocketChat is being installed."));
      },
    },
    svgIcon("install"),
    t("Install app"),
  );
  return h(
    "div.card.install-card",
    h("img", { src: "/static/img/icon-192.png", alt: "", width: 48, height: 48 }),
    h("div.grow", h("h2", t("Install WebsocketChat")), h("p.hint", t("Open it from your desktop or home screen, in its own window, with notifications even when it is closed."))),
    button,
  );
}

// Smart replies (GET and PATCH /me/assistant): whether the messages I receive
// in direct chats get suggested answers, which means the server reads them
// for that. An account's setting about its messages, so it is here beside
// the profile rather than among the notifications (which are about being
// told while away). Where the server offers none, the switch is disabled
// and says why.
function smartRepliesCard() {
  const toggle = switchButton("smart-replies-label", "smart-replies-hint smart-replies-status");
  toggle.disabled = true;
  const status = h("p.setting-status", { id: "smart-replies-status", role: "status" });
  const say = (text, kind = "") => {
    status.textContent = text;
    status.className = `setting-status${kind ? ` setting-${kind}` : ""}`;
    status.setAttribute("role", kind === "error" ? "alert" : "status");
  };
  const draw = (settings) => {
    setSwitch(toggle, settings.smart_replies);
    toggle.disabled = !settings.available;
    if (!settings.available) say(t("This server doesn't offer smart replies: its administrator has turned them off."));
    else if (!settings.smart_replies) say(t("Off. The messages you receive are not used for suggestions, and what was kept from earlier ones has been deleted."));
    else say("");
  };
  api("GET", "me/assistant").then(draw, (err) => say(errorText(err), "error"));
  toggle.addEventListener("click", async () => {
    const turnOn = toggle.getAttribute("aria-checked") !== "true";
    toggle.disabled = true;
    toggle.setAttribute("aria-busy", "true");
    try {
      const settings = await api("PATCH", "me/assistant", { smart_replies: turnOn });
      draw(settings);
      if (!settings.smart_replies) forgetSuggestions();
      toast(t("Saved."));
    } catch (err) {
      toggle.disabled = false;
      say(err.code === "conflict" && err.message ? err.message : errorText(err), "error");
    } finally {
      toggle.removeAttribute("aria-busy");
    }
  });
  return h(
    "section.card.settings-card",
    { "aria-labelledby": "smart-replies-label" },
    h(
      "div.setting-row",
      h(
        "div.grow",
        h("h2", { id: "smart-replies-label" }, t("Smart replies")),
        h("p.hint", { id: "smart-replies-hint" }, t("Suggested answers in direct chats, from how you answered similar messages before. Tapping one puts it in the message box: nothing is sent until you press Send.")),
      ),
      toggle,
    ),
    status,
  );
}

// "Chrome on Linux" from a user agent (the full string is in the tooltip).
function deviceName(session) {
  const ua = session.device || "";
  const browser = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"], ["Safari/", "Safari"]].find(([k]) => ua.includes(k));
  const os = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"], ["Windows", "Windows"], ["Mac OS", "macOS"], ["Linux", "Linux"]].find(([k]) => ua.includes(k));
  if (browser && os) return `${browser[1]} · ${os[1]}`;
  return ua.slice(0, 60) || (session.kind === "web" ? t("Browser") : t("App"));
}

export function renderMain(main, item) {
  if (item === "notifications") return renderNotifications(main);
  if (item === "bots" || (item && item.startsWith("bots/"))) return renderBots(main, item);
  const me = state.me;
  // The limits are the server's (accounts.models NICKNAME_MAX, SIGNATURE_MAX).
  // A signature is one line: an input, so Enter saves the form.
  const nickname = h("input", { value: me.nickname || "", maxLength: 64, autocomplete: "nickname" });
  const signature = h("input", { value: me.signature || "", maxLength: 200, autocomplete: "off" });
  const profileInputs = { nickname, signature };
  const profileProblem = formProblem();
  const profileForm = h(
    "form.form.card",
    h("h2", t("Profile")),
    field(t("Nickname"), nickname).field,
    field(t("Signature"), signature).field,
    profileProblem,
    h("button.btn.btn-primary", { type: "submit" }, t("Save")),
  );
  profileForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(profileInputs, profileProblem);
    try {
      setMe(await api("PATCH", "me", { nickname: nickname.value, signature: signature.value }));
      toast(t("Saved."));
    } catch (err) {
      showErrors(err, profileInputs, profileProblem);
    }
  });
  const oldPw = h("input", { type: "password", autocomplete: "current-password", required: true });
  const newPw = h("input", { type: "password", autocomplete: "new-password", required: true, minLength: 8 });
  const newPw2 = h("input", { type: "password", autocomplete: "new-password", required: true });
  // By the API's field names; new_password2 is this form's own.
  const pwInputs = { old_password: oldPw, new_password: newPw, new_password2: newPw2 };
  const pwProblem = formProblem();
  const pwForm = h(
    "form.form.card",
    h("h2", t("Password")),
    h("input.sr-only", { type: "text", autocomplete: "username", value: me.username, tabindex: "-1", "aria-hidden": "true", readOnly: true }),
    field(t("Current password"), oldPw).field,
    field(t("New password"), newPw, t("At least 8 characters, not all digits, not your username.")).field,
    field(t("Repeat the new password"), newPw2).field,
    pwProblem,
    h("button.btn", { type: "submit" }, t("Change password")),
  );
  pwForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(pwInputs, pwProblem);
    if (newPw.value !== newPw2.value) {
      showErrors({ code: "invalid", fields: { new_password2: [t("The two passwords differ.")] } }, pwInputs, pwProblem);
      return;
    }
    try {
      await api("POST", "me/password", { old_password: oldPw.value, new_password: newPw.value });
      oldPw.value = newPw.value = newPw2.value = "";
      toast(t("Password changed. Your other sessions were signed out."));
      drawSessions();
    } catch (err) {
      // A wrong current password is that field's error (the server's sentence).
      const shown = err.code === "invalid_credentials" ? { code: "invalid", fields: { old_password: [errorText(err)] } } : err;
      showErrors(shown, pwInputs, pwProblem);
    }
  });
  const sessions = h("ul.request-list", { "aria-label": t("Where you are signed in") });
  const drawSessions = async () => {
    try {
      const data = await api("GET", "me/sessions");
      clear(
        sessions,
        data.results.map((s) =>
          h(
            "li.request",
            h("div.grow", h("strong", { title: s.device }, deviceName(s)), h("p.muted.small", `${s.ip || ""} · ${formatDateTime(s.last_seen_at)}`)),
            s.current
              ? h("span.tag", t("This browser"))
              : h(
                  "button.btn.btn-small",
                  {
                    type: "button",
                    // Not just "Sign out", the name of the main Sign out: which device.
                    "aria-label": tf("Sign out %(device)s", { device: deviceName(s) }),
                    onclick: async () => {
                      try {
                        await api("DELETE", `me/sessions/${s.id}`);
                        drawSessions();
                      } catch (err) {
                        toast(errorText(err), { kind: "error" });
                      }
                    },
                  },
                  t("Sign out"),
                ),
          ),
        ),
      );
    } catch (err) {
      clear(sessions, h("li.alert", errorText(err)));
    }
  };
  drawSessions();
  main.append(
    mainHeader(t("Settings")),
    h("div.pane-scroll", profileForm, smartRepliesCard(), pwForm, h("section.card", h("h2", t("Where you are signed in")), sessions)),
  );
  if (!main.childElementCount) main.append(emptyState(""));
  return null;
}
