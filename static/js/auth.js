// Sign-in and sign-up pages: tabs without a reload, "send code" with a countdown.

import { api } from "./api.js";
import { t, tf } from "./dom.js";

function setupTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"][data-tab]')];
  const select = (tab) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    history.replaceState({}, "", `?tab=${tab.dataset.tab}`);
  };
  tabs.forEach((tab, i) => {
    tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
    tab.addEventListener("click", (event) => {
      event.preventDefault();
      select(tab);
    });
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
}

// What "Send code" may truthfully say: a code goes only where it can be used
// (sign-in and reset: a number with an account; sign-up: a free number), and
// the page must not tell which numbers have accounts.
const SENT = {
  login: () => t("If this number has an account, a code is on its way (valid for 5 minutes). No account yet? Create one below."),
  reset: () => t("If this number has an account, a code is on its way (valid for 5 minutes)."),
  register: () => t("If this number is free, a code is on its way (valid for 5 minutes). Already registered? Sign in instead."),
};

function setupSendCode() {
  for (const button of document.querySelectorAll("[data-send-code]")) {
    const phone = document.getElementById(button.dataset.phone);
    const status = document.getElementById(button.getAttribute("aria-describedby"));
    const label = button.textContent;
    let timer = null;
    const countdown = (seconds) => {
      clearInterval(timer);
      let left = seconds;
      button.disabled = true;
      const tick = () => {
        if (left <= 0) {
          clearInterval(timer);
          button.disabled = false;
          button.textContent = label;
          return;
        }
        button.textContent = tf("Resend in %(s)s s", { s: left });
        left -= 1;
      };
      tick();
      timer = setInterval(tick, 1000);
    };
    // The page came back from the server (a wrong code, say) while a code's cooldown runs.
    const running = parseInt(button.dataset.cooldown || "0", 10);
    if (running > 0) countdown(running);
    button.addEventListener("click", async () => {
      const number = phone.value.trim();
      if (!number) {
        status.textContent = t("Enter your phone number first.");
        phone.focus();
        return;
      }
      button.disabled = true;
      try {
        await api("POST", "auth/sms/send", { phone: number, purpose: button.dataset.purpose });
        status.textContent = (SENT[button.dataset.purpose] || SENT.login)();
        countdown(60);
      } catch (err) {
        if (err.code === "rate_limited") {
          status.textContent = t("A code was sent a moment ago. Wait before asking again.");
          countdown(err.retryAfter || 60);
        } else {
          status.textContent = err.code === "invalid" ? t("This does not look like a phone number.") : t("The code could not be sent. Try again later.");
          button.disabled = false;
        }
      }
    });
  }
}

function setupLanguage() {
  for (const select of document.querySelectorAll("[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.requestSubmit());
  }
  document.querySelectorAll(".js-hide").forEach((el) => (el.hidden = true));
}

document.addEventListener("DOMContentLoaded", () => {
  setupTabs();
  setupSendCode();
  setupLanguage();
});
