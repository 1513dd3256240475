// Me › Notifications (/profile/notifications): notifications on this
// device (push: the permission is asked only when the switch is turned on),
// what they show (the preview), and quiet hours. Saved with PATCH
// /me/notifications; the rules themselves are in notify.js.

import { errorText, setSwitch, switchButton, toast } from "./ui.js";
import { field, h, t } from "./dom.js";
import { on } from "./state.js";
import { mainHeader } from "./panes.js";
import {
  PushError,
  currentSettings,
  deviceSubscribed,
  deviceOff,
  disablePush,
  enablePush,
  loadSettings,
  permission,
  pushSupported,
  saveSettings,
} from "./notify.js";

const QUIET_DEFAULT = { start: "22:00", end: "07:00" };

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (err) {
    return "UTC";
  }
}

// Why push cannot be turned on, in words the person can act on.
function pushProblem(err) {
  if (!(err instanceof PushError)) return errorText(err);
  switch (err.reason) {
    case "denied":
      return t("Notifications are blocked for this site. To allow them, open the site's settings (the icon left of the address), set Notifications to Allow, then turn this on again.");
    case "dismissed":
      return t("Notifications were not allowed. Turn this on again to be asked once more.");
    case "subscribe":
      return t("Push isn't available in this browser, so notifications show only while WebsocketChat is open in a tab.");
    default:
      return t("This browser can't show notifications from WebsocketChat.");
  }
}

function timeZoneSelect(value) {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  if (!zones.length) return h("input", { value, autocomplete: "off", spellcheck: false });
  const all = zones.includes(value) ? zones : [value, ...zones];
  return h("select", all.map((zone) => h("option", { value: zone, selected: zone === value }, zone.replace(/_/g, " "))));
}

export function renderNotifications(main) {
  const offs = [];
  // ------------------------------------------------ push on this device
  const pushSwitch = switchButton("push-label", "push-hint push-status");
  const pushStatus = h("p.setting-status", { id: "push-status", role: "status" });
  const pushCard = h(
    "section.card.settings-card",
    { "aria-labelledby": "push-label" },
    h(
      "div.setting-row",
      h("div.grow", h("h2", { id: "push-label" }, t("New message notifications")), h("p.hint", { id: "push-hint" }, t("Messages, calls and contact requests, on this device."))),
      pushSwitch,
    ),
    pushStatus,
  );
  const say = (text, kind = "") => {
    pushStatus.textContent = text;
    pushStatus.className = `setting-status${kind ? ` setting-${kind}` : ""}`;
    pushStatus.setAttribute("role", kind === "error" ? "alert" : "status");
  };
  let failedSubscribe = false; // push itself failed here; tab notifications still work
  // Draws overlap (a settings change redraws while the switch's own handler
  // is still subscribing): only the newest one may write, or an older one
  // that looked before the subscription existed would overwrite its status.
  let draws = 0;
  const drawPush = async () => {
    const mine = ++draws;
    const s = currentSettings();
    if (!("Notification" in window)) {
      setSwitch(pushSwitch, false);
      pushSwitch.disabled = true;
      say(t("This browser can't show notifications from WebsocketChat."));
      return;
    }
    const granted = permission() === "granted";
    setSwitch(pushSwitch, s.push && granted && !deviceOff());
    if (permission() === "denied") {
      say(pushProblem(new PushError("denied")), "error");
      return;
    }
    if (!s.push || !granted || deviceOff()) {
      say(t("Off. Turn it on to be told of new messages when WebsocketChat is in the background."));
      return;
    }
    let subscribed = false;
    try {
      subscribed = pushSupported() && (await deviceSubscribed());
    } catch (err) {
      subscribed = false;
    }
    if (mine !== draws) return;
    if (subscribed) say(t("On. You'll be notified even when WebsocketChat is closed."), "ok");
    else if (failedSubscribe || !pushSupported()) say(pushProblem(new PushError("subscribe")), "warn");
    else say(t("On while WebsocketChat is open. Turn it off and on again to be notified when it is closed too."));
  };
  pushSwitch.addEventListener("click", async () => {
    const turnOn = pushSwitch.getAttribute("aria-checked") !== "true";
    pushSwitch.disabled = true;
    pushSwitch.setAttribute("aria-busy", "true");
    try {
      if (turnOn) {
        try {
          failedSubscribe = false;
          await enablePush();
        } catch (err) {
          if (!(err instanceof PushError) || err.reason !== "subscribe") throw err;
          // The permission is given: notifications still come while a tab is open.
          failedSubscribe = true;
          await saveSettings({ push: true });
        }
      } else {
        await disablePush();
      }
      await drawPush();
    } catch (err) {
      await drawPush();
      say(pushProblem(err), "error");
    } finally {
      pushSwitch.disabled = false;
      pushSwitch.removeAttribute("aria-busy");
    }
  });

  // ------------------------------------------------ preview
  const previews = [
    ["full", t("Name and message"), t("Ann — See you at 7")],
    ["sender", t("Name only"), t("Ann — Sent a message")],
    ["none", t("No details"), t("New message")],
  ];
  const radios = previews.map(([value, label, example]) => {
    const input = h("input", { type: "radio", name: "preview", value, id: `preview-${value}` });
    return h(
      "label.radio-row",
      { for: `preview-${value}` },
      input,
      h("span.grow", h("span.radio-label", label), h("span.hint", example)),
    );
  });
  const previewSet = h(
    "fieldset.card.settings-card.preview-set",
    h("legend", t("Message preview")),
    h("p.hint", t("What a notification shows, on a locked screen too.")),
    radios,
  );
  const drawPreview = () => {
    for (const input of previewSet.querySelectorAll("input")) input.checked = input.value === currentSettings().preview;
  };
  previewSet.addEventListener("change", async (event) => {
    const value = event.target.value;
    try {
      await saveSettings({ preview: value });
      toast(t("Saved."));
    } catch (err) {
      toast(errorText(err), { kind: "error" });
    }
    drawPreview();
  });

  // ------------------------------------------------ quiet hours
  const quietSwitch = switchButton("quiet-label", "quiet-hint");
  const start = h("input", { type: "time", required: true });
  const end = h("input", { type: "time", required: true });
  let zone = timeZoneSelect(browserZone());
  const zoneField = field(t("Time zone"), zone);
  const quietError = h("p.field-errors", { role: "alert" });
  const quietForm = h(
    "form.quiet-times",
    h("div.quiet-range", field(t("From"), start).field, field(t("To"), end).field),
    zoneField.field,
    quietError,
    h("button.btn", { type: "submit" }, t("Save quiet hours")),
  );
  const quietCard = h(
    "section.card.settings-card",
    { "aria-labelledby": "quiet-label" },
    h(
      "div.setting-row",
      h("div.grow", h("h2", { id: "quiet-label" }, t("Quiet hours")), h("p.hint", { id: "quiet-hint" }, t("No notifications at these times, except calls."))),
      quietSwitch,
    ),
    quietForm,
  );
  let drawnQuiet = null; // the quiet hours the form shows, as saved
  const drawQuiet = () => {
    const q = currentSettings().quiet_hours;
    drawnQuiet = JSON.stringify(q || null);
    for (const el of quietForm.querySelectorAll("[data-edited]")) delete el.dataset.edited;
    setSwitch(quietSwitch, Boolean(q));
    quietForm.hidden = !q;
    quietError.textContent = "";
    if (q) {
      start.value = q.start;
      end.value = q.end;
      const fresh = timeZoneSelect(q.tz || browserZone());
      fresh.id = zone.id;
      zone.replaceWith(fresh);
      zone = fresh;
    }
  };
  const saveQuiet = async (value) => {
    try {
      await saveSettings({ quiet_hours: value });
      drawQuiet();
      toast(t("Saved."));
    } catch (err) {
      quietForm.hidden = false;
      quietError.textContent = errorText(err);
    }
  };
  quietSwitch.addEventListener("click", () => {
    const turnOn = quietSwitch.getAttribute("aria-checked") !== "true";
    saveQuiet(turnOn ? { ...QUIET_DEFAULT, tz: browserZone() } : null);
  });
  quietForm.addEventListener("submit", (event) => {
    event.preventDefault();
    quietError.textContent = "";
    if (!start.value || !end.value) {
      quietError.textContent = t("Give a start and an end time.");
      return;
    }
    if (start.value === end.value) {
      quietError.textContent = t("The start and the end must differ.");
      return;
    }
    saveQuiet({ start: start.value, end: end.value, tz: zone.value });
  });

  const draw = () => {
    drawPush();
    drawPreview();
    drawQuiet();
  };
  offs.push(on("notify-settings", () => {
    drawPreview();
    // Another setting saved, or the settings read again: the quiet hours are
    // drawn again only if they changed, and never over times being edited.
    const q = JSON.stringify(currentSettings().quiet_hours || null);
    if (q !== drawnQuiet && !quietForm.contains(document.activeElement) && !quietForm.querySelector("[data-edited]")) drawQuiet();
  }));
  main.append(
    mainHeader(t("Notifications")),
    h(
      "div.pane-scroll",
      pushCard,
      previewSet,
      quietCard,
      h("p.hint.settings-foot", t("To silence a single chat, open it and choose Mute chat.")),
    ),
  );
  draw();
  loadSettings().then(draw);
  return () => offs.forEach((off) => off());
}
