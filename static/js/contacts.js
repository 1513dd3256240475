// Contacts: the A–Z list, requests, adding by username or phone, remarks,
// blocks; a bot's public card (its description and commands) and adding a
// bot, which takes no request.

import { api, apiAll } from "./api.js";
import { avatar, botBadge, clear, displayName, field, formatDateTime, h, svgIcon, t, tf, tn } from "./dom.js";
import { emit, nameOf, newest, on, rememberUser, state } from "./state.js";
import { actionRow, headerLink, listPane, listRow, mainHeader, refill } from "./panes.js";
import { appLink, confirmDialog, emptyState, errorText, keepEdits, navigate, newestAsk, toast } from "./ui.js";
import { startCall } from "./calls.js";
import { openConversationWith } from "./chats.js";

export function title() {
  return t("Contacts");
}

export const loadContacts = newest(() => api("GET", "contacts"), (data) => {
  state.sections = data.sections;
  const map = new Map();
  for (const section of data.sections) {
    for (const contact of section.contacts) {
      map.set(contact.user.id, contact);
      rememberUser(contact.user);
    }
  }
  state.contacts = map;
  emit("contacts");
});

export const loadIncoming = newest(() => apiAll("contact-requests?box=incoming&status=pending&limit=100", { max: 500 }), (list) => {
  state.incoming = new Map(list.map((r) => [r.id, r]));
  list.forEach((r) => rememberUser(r.from));
  emit("requests");
  emit("badges");
});

export function onFrame(frame) {
  switch (frame.type) {
    case "contact.request": {
      const r = frame.request;
      const toMe = r.to && r.to.id === state.me.id;
      if (toMe && r.status === "pending") {
        if (!state.incoming.has(r.id)) toast(tf("%(who)s wants to add you as a contact.", { who: displayName(r.from) }));
        state.incoming.set(r.id, r);
      } else {
        state.incoming.delete(r.id);
        if (!toMe && r.status === "rejected") toast(tf("%(who)s declined your request.", { who: displayName(r.to) }));
      }
      emit("requests");
      emit("badges");
      return;
    }
    case "contact.added":
      toast(tf("You and %(who)s are now contacts.", { who: displayName(frame.user) }));
      loadContacts().catch(() => {});
      return;
    case "contact.removed":
    case "contact.updated": // a remark changed on another device
    case "block.changed": // blocked or unblocked on another device (the notifications follow it)
      loadContacts().catch(() => {});
      return;
    default:
  }
}

// ------------------------------------------------------------------ list

export function renderList(pane) {
  const scroll = listPane(pane, t("Contacts"), { action: headerLink("contacts", "add", "add-user", t("Add a contact")) });
  const draw = () => {
    const current = state.route.item;
    const requestsBadge = state.incoming.size
      ? h("span.badge", { "aria-label": tn("%(n)s new request", "%(n)s new requests", state.incoming.size) }, String(state.incoming.size))
      : null;
    const top = h(
      "ul.conv-list",
      actionRow("contacts", "requests", "inbox", t("New requests"), requestsBadge),
      actionRow("contacts", "add", "add-user", t("Add a contact")),
      actionRow("contacts", "blocked", "block", t("Blocked")),
    );
    const parts = [top];
    if (!state.sections.length) parts.push(emptyState(t("No contacts yet.")));
    const index = h("nav.az-index", { "aria-label": t("Jump to letter") });
    for (const section of state.sections) {
      const id = `letter-${section.letter === "#" ? "other" : section.letter}`;
      index.append(h("a", { href: `#${id}`, onclick: (e) => { e.preventDefault(); document.getElementById(id)?.scrollIntoView(); } }, section.letter));
      const ul = h("ul.conv-list", { "aria-labelledby": id });
      for (const contact of section.contacts) {
        const u = contact.user;
        const p = state.presence.get(u.id);
        ul.append(
          listRow(
            "contacts",
            u.id,
            [
              h("span.avatar-wrap", avatar(u, { name: displayName(u, contact.remark) }), p && p.online ? h("span.dot-online", { title: t("Online") }) : null),
              h("span.conv-text", h("span.conv-top", h("span.conv-name", displayName(u, contact.remark)), botBadge(u)), contact.remark ? h("span.conv-preview", displayName(u)) : null),
              contact.blocked ? h("span.tag", t("Blocked")) : null,
            ],
            { current: current === u.id, dataset: { contact: u.id } },
          ),
        );
      }
      parts.push(h("section.letter-section", h("h2.letter", { id }, section.letter), ul));
    }
    refill(scroll, parts);
    pane.querySelector(".az-index")?.remove();
    pane.classList.toggle("has-index", state.sections.length > 1);
    if (state.sections.length > 1) pane.append(index);
  };
  draw();
  const offs = [on("contacts", draw), on("requests", draw), on("presence", draw), on("users", draw)];
  return () => {
    offs.forEach((off) => off());
    pane.classList.remove("has-index");
  };
}

// ------------------------------------------------------------------ main

export function renderMain(main, item) {
  if (!item) {
    main.append(emptyState(t("Choose a contact, or add one.")));
    return null;
  }
  if (item === "add") return renderAdd(main);
  if (item === "requests") return renderRequests(main);
  if (item === "blocked") return renderBlocked(main);
  return renderContact(main, item);
}

function renderAdd(main) {
  const input = h("input", { type: "search", name: "q", autocomplete: "off", required: true, maxLength: 64, id: "add-contact-q" });
  const results = h("div.results", { "aria-live": "polite" });
  const form = h(
    "form.form.card",
    { role: "search" },
    field(t("Username or phone number"), input, t("Enter the exact username or phone number.")).field,
    h("button.btn.btn-primary", { type: "submit" }, t("Search")),
  );
  const ask = newestAsk();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = input.value.trim();
    if (!q) return;
    const current = ask();
    clear(results, h("p.muted", t("Searching…")));
    try {
      const data = await api("GET", `users/search?q=${encodeURIComponent(q)}`);
      if (!current()) return;
      if (!data.results.length) {
        clear(results, h("p.muted", t("Nobody found with this username or phone number.")));
        return;
      }
      clear(results, data.results.map((u) => userResult(rememberUser(u))));
    } catch (err) {
      if (current()) clear(results, h("p.alert", { role: "alert" }, errorText(err)));
    }
  });
  main.append(mainHeader(t("Add a contact")), h("div.pane-scroll", form, results));
  input.focus();
  return null;
}

function sendMessageButton(userId, primary = false) {
  return h(`button.btn${primary ? ".btn-primary" : ""}`, { type: "button", onclick: () => openConversationWith({ peer: userId }).catch((e) => toast(errorText(e), { kind: "error" })) }, t("Send message"));
}

// A person or a bot found by a search (or a card of someone who is not a
// contact): a person gets a contact request, a bot is added at once.
function userResult(user) {
  const card = h("div.card.user-result", h("div.user-line", avatar(user, { size: 48 }), h("div", h("strong", displayName(user)), " ", botBadge(user), h("p.muted", `@${user.username}`))));
  if (user.id === state.me.id) {
    card.append(h("p.muted", t("This is you.")));
  } else if (state.contacts.has(user.id)) {
    card.append(h("p.muted", t("Already a contact.")), sendMessageButton(user.id));
  } else if (user.is_bot) {
    card.append(addBotButton(user));
  } else {
    const message = h("input", { maxLength: 200, value: tf("Hi, I am %(name)s.", { name: displayName(state.me) }) });
    const send = h("button.btn.btn-primary", { type: "submit" }, t("Send request"));
    const form = h("form.form", field(t("Message (optional)"), message).field, send);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      send.disabled = true;
      try {
        const r = await api("POST", "contact-requests", { to: user.id, message: message.value });
        if (r.status === "accepted") {
          toast(tf("You and %(who)s are now contacts.", { who: displayName(user) }));
          loadContacts().catch(() => {});
        }
        form.replaceWith(h("p.ok", { role: "status" }, r.status === "accepted" ? t("You are now contacts.") : t("Request sent. You will be told when it is answered.")));
      } catch (err) {
        send.disabled = false;
        toast(errorText(err), { kind: "error" });
      }
    });
    card.append(form);
  }
  return card;
}

// ------------------------------------------------------------------ bots

// Adds a bot to my contacts (POST /bots/{id}/add: no request to accept; its
// owner, the people it allows, or anyone for a public bot may); our direct
// chat exists from then on.
export async function addBot(botId) {
  const contact = await api("POST", `bots/${botId}/add`);
  rememberUser(contact.user);
  await loadContacts();
  return contact;
}

// "Add bot", then what it did: the chat with it, or why it was refused.
function addBotButton(user) {
  const status = h("p.small", { role: "status" });
  const button = h("button.btn.btn-primary", { type: "button" }, t("Add bot"));
  const box = h("div.add-bot", button, status);
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "";
    try {
      await addBot(user.id);
      clear(box, h("p.ok", { role: "status" }, tf("%(who)s is now in your contacts.", { who: displayName(user) })), sendMessageButton(user.id, true));
    } catch (err) {
      button.disabled = false;
      status.className = "alert small";
      // A private bot: only its owner and the people they allow may add it.
      status.textContent = err.code === "forbidden" || err.code === "not_found" ? t("This bot is private: only its owner and the people they allow can add it.") : errorText(err);
    }
  });
  return box;
}

// What a bot says of itself to anyone who may see it (GET /bots/{id}): its
// description and slash commands. Null when there is nothing to say.
export function botDetails(bot) {
  const parts = [];
  if (bot.description) parts.push(h("p.signature", bot.description));
  if (bot.commands && bot.commands.length) {
    parts.push(
      h("h3.bot-commands-title", t("Slash commands")),
      h(
        "ul.bot-commands",
        bot.commands.map((c) => h("li", h("code", `/${c.name}`), c.usage ? h("span.muted", ` ${c.usage}`) : null, c.description ? h("span", ` · ${c.description}`) : null)),
      ),
    );
  }
  return parts.length ? h("div.bot-details", parts) : null;
}

function requestItem(r, box) {
  const other = box === "incoming" ? r.from : r.to;
  const actions = h("div.actions");
  if (r.status === "pending" && box === "incoming") {
    actions.append(
      h("button.btn", { type: "button", onclick: () => decide(r, "reject") }, t("Reject")),
      h("button.btn.btn-primary", { type: "button", onclick: () => decide(r, "accept") }, t("Accept")),
    );
  } else if (r.status === "pending") {
    actions.append(h("button.btn", { type: "button", onclick: () => cancel(r) }, t("Cancel request")));
  } else {
    const labels = { accepted: t("Accepted"), rejected: t("Rejected"), cancelled: t("Cancelled") };
    actions.append(h("span.tag", labels[r.status] || r.status));
  }
  return h(
    "li.request",
    { dataset: { request: r.id } },
    avatar(other, { size: 44 }),
    h("div.grow", h("strong", displayName(other)), h("p.muted", `@${other.username}`), r.message ? h("p.request-message", r.message) : null, h("p.muted.small", formatDateTime(r.created_at))),
    actions,
  );
}

async function decide(r, action) {
  try {
    await api("POST", `contact-requests/${r.id}/${action}`);
    state.incoming.delete(r.id);
    emit("requests");
    emit("badges");
    if (action === "accept") await loadContacts();
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}

async function cancel(r) {
  try {
    await api("DELETE", `contact-requests/${r.id}`);
    emit("requests");
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}

function renderRequests(main) {
  const incomingBox = h("ul.request-list", { "aria-label": t("Received") });
  const outgoingBox = h("ul.request-list", { "aria-label": t("Sent") });
  main.append(
    mainHeader(t("New requests")),
    h("div.pane-scroll", h("h2.list-heading", t("Received")), incomingBox, h("h2.list-heading", t("Sent")), outgoingBox),
  );
  const draw = async () => {
    try {
      const [inc, out] = await Promise.all([
        apiAll("contact-requests?box=incoming&limit=100", { max: 200 }),
        apiAll("contact-requests?box=outgoing&limit=100", { max: 200 }),
      ]);
      const carry = keepEdits(main); // the request the keyboard was on (Accept pressed: the next one)
      clear(incomingBox, inc.length ? inc.map((r) => requestItem(r, "incoming")) : h("li.muted.pad", t("No requests.")));
      clear(outgoingBox, out.length ? out.map((r) => requestItem(r, "outgoing")) : h("li.muted.pad", t("No requests.")));
      carry(main);
    } catch (err) {
      clear(incomingBox, h("li.alert", errorText(err)));
    }
  };
  draw();
  return on("requests", draw);
}

function renderBlocked(main) {
  const list = h("ul.request-list", { "aria-label": t("Blocked") });
  main.append(
    mainHeader(t("Blocked")),
    h("div.pane-scroll", h("p.muted.pad", t("People you block cannot message you, call you or send you requests.")), list),
  );
  const draw = async () => {
    try {
      const users = await apiAll("blocks?limit=100", { max: 1000 });
      clear(
        list,
        users.length
          ? users.map((u) =>
              h(
                "li.request",
                avatar(u, { size: 40 }),
                h("div.grow", h("strong", displayName(u)), " ", botBadge(u), h("p.muted", `@${u.username}`)),
                h("button.btn", { type: "button", onclick: () => unblock(u).then(draw) }, t("Unblock")),
              ),
            )
          : h("li.muted.pad", t("You block nobody.")),
      );
    } catch (err) {
      clear(list, h("li.alert", errorText(err)));
    }
  };
  draw();
  return on("contacts", draw);
}

async function block(user) {
  const ok = await confirmDialog(tf("Block %(who)s? You will not get their messages, calls or requests.", { who: nameOf(user) }), { ok: t("Block"), danger: true });
  if (!ok) return;
  try {
    await api("POST", "blocks", { user: user.id });
    await loadContacts();
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}

async function unblock(user) {
  try {
    await api("DELETE", `blocks/${user.id}`);
    await loadContacts();
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}

// The Bot object of a bot I may see (mine, a public one, one I may add or
// have as a contact), or null. A bot I may not see answers 404: that means
// no details, and it is remembered for the page's life, since the card is
// drawn again at every presence or contacts change and the browser logs each
// refusal. Looks under way are shared by the draws that want them.
const withoutDetails = new Set();
const looking = new Map(); // bot id -> its Bot object (or null), being read
function botOf(userId) {
  if (withoutDetails.has(userId)) return Promise.resolve(null);
  if (!looking.has(userId)) {
    const read = api("GET", `bots/${userId}`)
      .catch((err) => {
        if (err.status === 404) withoutDetails.add(userId);
        return null;
      })
      .finally(() => looking.delete(userId));
    looking.set(userId, read);
  }
  return looking.get(userId);
}

function renderContact(main, userId) {
  let alive = true;
  const draw = async () => {
    let contact = state.contacts.get(userId);
    let user = contact ? contact.user : state.users.get(userId);
    if (!user) {
      try {
        user = rememberUser(await api("GET", `users/${userId}`));
      } catch (err) {
        if (alive) clear(main, mainHeader(), emptyState(errorText(err)));
        return;
      }
    }
    contact = state.contacts.get(userId);
    const status = presenceText();
    // A bot's card also says what it does, to anyone who may see it (its
    // owner, or anyone for a public bot); its owner gets a way to manage it.
    const bot = user.is_bot ? await botOf(userId) : null;
    if (!alive) return;
    const card = h(
      "div.card.profile-card",
      h("div.user-line", avatar(user, { size: 72 }), h("div", h("div.name-line", h("h2", displayName(user, contact && contact.remark)), botBadge(user)), user.nickname && contact && contact.remark ? h("p", tf("Nickname: %(name)s", { name: user.nickname })) : null, h("p.muted", `@${user.username}`), h("p.muted.contact-status", { hidden: !status }, status))),
      user.signature ? h("p.signature", user.signature) : null,
      bot ? botDetails(bot) : null,
      bot && "signing_secret" in bot ? h("p", appLink("profile", `bots/${userId}`, t("Manage this bot"))) : null,
    );
    const body = [card];
    if (contact) {
      const actions = h(
        "div.actions",
        h("button.btn.btn-primary", { type: "button", onclick: () => openConversationWith({ peer: userId }).catch((e) => toast(errorText(e), { kind: "error" })) }, svgIcon("chat"), " ", t("Send message")),
        // A bot is a program: nobody answers a call.
        user.is_bot ? null : h("button.btn", { type: "button", onclick: () => startCall(user, "audio"), disabled: contact.blocked }, svgIcon("phone"), " ", t("Voice call")),
        user.is_bot ? null : h("button.btn", { type: "button", onclick: () => startCall(user, "video"), disabled: contact.blocked }, svgIcon("video"), " ", t("Video call")),
      );
      const remark = h("input", { value: contact.remark, maxLength: 64, dataset: { keep: "remark" } });
      const remarkForm = h("form.form.card", field(t("Remark (only you see it)"), remark).field, h("button.btn", { type: "submit" }, t("Save remark")));
      remarkForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api("PATCH", `contacts/${userId}`, { remark: remark.value });
          delete remark.dataset.edited; // saved: what the server has now is drawn
          await loadContacts();
          toast(t("Saved."));
        } catch (err) {
          toast(errorText(err), { kind: "error" });
        }
      });
      const danger = h(
        "div.actions.danger-zone",
        contact.blocked
          ? h("button.btn", { type: "button", onclick: () => unblock(user) }, t("Unblock"))
          : h("button.btn", { type: "button", onclick: () => block(user) }, t("Block")),
        h(
          "button.btn.btn-danger",
          {
            type: "button",
            onclick: async () => {
              if (!(await confirmDialog(tf("Delete %(who)s from your contacts?", { who: nameOf(user) }), { ok: t("Delete"), danger: true }))) return;
              try {
                await api("DELETE", `contacts/${userId}`);
                await loadContacts();
                navigate("contacts", null);
              } catch (err) {
                toast(errorText(err), { kind: "error" });
              }
            },
          },
          t("Delete contact"),
        ),
      );
      if (contact.blocked) body.push(h("p.alert", t("You block this contact.")));
      body.push(actions, remarkForm, danger);
    } else if (userId !== state.me.id) {
      body.push(userResult(user));
    }
    const carry = keepEdits(main);
    clear(main, mainHeader(displayName(user, contact && contact.remark)), h("div.pane-scroll", body));
    carry(main);
  };
  const presenceText = () => {
    const p = state.presence.get(userId);
    return p ? (p.online ? t("Online") : t("Offline")) : "";
  };
  // Presence changes only the status line: the page (a remark being typed) stays.
  const drawPresence = () => {
    const line = main.querySelector(".contact-status");
    if (!line) return;
    line.textContent = presenceText();
    line.hidden = !line.textContent;
  };
  draw();
  const offs = [on("contacts", draw), on("presence", (f) => (!f || !f.user || f.user === userId) && drawPresence())];
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}
