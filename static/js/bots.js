// My bots (Me › My bots: /profile/bots and /profile/bots/<id>): the bots I
// own and creating one; one bot's page: its name, description, whether
// anyone may add it and its events URL; who else may add it while it is
// private (picked from my contacts); the secret that signs its events;
// its API keys (a new key is shown once); its slash commands; its incoming
// webhooks (a new URL is shown once); adding it to my contacts; deleting
// it. All through the public REST API (docs/bots.md); a refusal is said
// under the field it is about, else under its form.

import { api, apiAll } from "./api.js";
import { avatar, botBadge, clear, displayName, field, formatDateTime, h, svgIcon, t, tf } from "./dom.js";
import { conversationTitle, nameOf, on, rememberUser, sortedConversations, state } from "./state.js";
import { mainHeader } from "./panes.js";
import { appLink, clearErrors, confirmDialog, emptyState, errorText, formProblem, navigate, showErrors, toast } from "./ui.js";
import { forgetCommands, loadConversations, openConversationWith } from "./chats.js";
import { addBot, botDetails, loadContacts } from "./contacts.js";

export function renderBots(main, item) {
  return item.startsWith("bots/") ? renderBot(main, item.slice("bots/".length)) : renderBotList(main);
}

// ------------------------------------------------------------------ forms and secrets

// A checkbox with its label after it (and a hint under both).
function checkField(labelText, input, hint) {
  input.id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  const parts = [h("div.check-row", input, h("label", { for: input.id }, labelText))];
  if (hint) {
    input.setAttribute("aria-describedby", `${input.id}-hint`);
    parts.push(h("p.hint", { id: `${input.id}-hint` }, hint));
  }
  return h("div.field.check-field", parts);
}

async function copy(text, node) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t("Copied."));
  } catch (err) {
    // No clipboard here (a page not served over HTTPS): the text is
    // selected, to copy by hand.
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    toast(t("Selected: copy it with Ctrl+C."));
  }
}

// A secret with its Copy button.
function secretRow(value, label) {
  const code = h("code.secret-value", { "aria-label": label }, value);
  return h("div.secret-row", code, h("button.btn.btn-small", { type: "button", onclick: () => copy(value, code) }, t("Copy")));
}

// A key or a webhook's URL, in the one answer that has it: shown until
// *Done*, never again.
function shownOnce(title, value) {
  const box = h(
    "div.shown-once",
    { role: "status" },
    h("h3", title),
    h("p.shown-once-warning", t("Copy it now: you won't see it again.")),
    secretRow(value, title),
  );
  box.append(h("button.btn.btn-small", { type: "button", onclick: () => box.remove() }, t("Done")));
  return box;
}

function section(title, hint, ...children) {
  return h("section.card.bot-section", h("h2", title), hint ? h("p.hint", hint) : null, children);
}

// ------------------------------------------------------------------ the list

function botRow(bot) {
  const user = rememberUser(bot.user);
  return h(
    "li",
    appLink(
      "profile",
      `bots/${user.id}`,
      [
        avatar(user),
        h("span.conv-text", h("span.conv-top", h("span.conv-name", displayName(user)), botBadge(user)), h("span.conv-preview", `@${user.username}`)),
        h("span.tag", bot.is_public ? t("Public") : t("Private")),
      ],
      { class: "conv-item", dataset: { bot: user.id } },
    ),
  );
}

function renderBotList(main) {
  let alive = true;
  const list = h("div.bot-list-box", { "aria-live": "polite" }, h("p.muted", t("Loading…")));
  main.append(
    mainHeader(t("My bots")),
    h(
      "div.pane-scroll",
      h("p.muted.bots-intro", t("A bot is an account that a program runs. It talks to its contacts and in its groups like anyone, and can answer slash commands.")),
      section(t("Your bots"), null, list),
      createForm(),
    ),
  );
  (async () => {
    try {
      const data = await api("GET", "bots");
      if (!alive) return;
      clear(list, data.results.length ? h("ul.conv-list.bot-list", { "aria-label": t("Your bots") }, data.results.map(botRow)) : h("p.muted", t("You have no bots yet.")));
    } catch (err) {
      if (alive) clear(list, h("p.alert", errorText(err)));
    }
  })();
  return () => {
    alive = false;
  };
}

function createForm() {
  const username = h("input", { required: true, maxLength: 32, autocomplete: "off", spellcheck: false, autocapitalize: "none" });
  const nickname = h("input", { maxLength: 64, autocomplete: "off" });
  const description = h("textarea", { rows: 3, maxLength: 500 });
  const isPublic = h("input", { type: "checkbox" });
  const problem = formProblem();
  const submit = h("button.btn.btn-primary", { type: "submit" }, t("Create bot"));
  const inputs = { username, nickname, description, is_public: isPublic };
  const form = h(
    "form.form.card.bot-create",
    { "aria-labelledby": "bot-create-title" },
    h("h2", { id: "bot-create-title" }, t("Create a bot")),
    field(t("Username"), username, t("3 to 32 letters (a-z), digits or underscores. It cannot be changed later.")).field,
    field(t("Name (optional)"), nickname).field,
    field(t("Description (optional)"), description, t("What it does, for the people who add it.")).field,
    checkField(t("Public"), isPublic, t("Anyone can find it by its username and add it. Otherwise only you and the people you allow can.")),
    problem,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(inputs, problem);
    submit.disabled = true;
    try {
      const bot = await api("POST", "bots", { username: username.value.trim(), nickname: nickname.value, description: description.value, is_public: isPublic.checked });
      rememberUser(bot.user);
      toast(tf("%(name)s was created. Give it a key to run it.", { name: displayName(bot.user) }));
      navigate("profile", `bots/${bot.user.id}`);
    } catch (err) {
      submit.disabled = false;
      showErrors(err, inputs, problem);
    }
  });
  return form;
}

// ------------------------------------------------------------------ one bot

function backToList() {
  return h(
    "button.btn-icon.back.back-always",
    { type: "button", "aria-label": t("My bots"), title: t("My bots"), onclick: () => navigate("profile", "bots") },
    "‹",
  );
}

function renderBot(main, botId) {
  let alive = true;
  main.append(h("header.pane-header", backToList(), h("h1", t("My bots"))), emptyState(t("Loading…")));
  (async () => {
    let bot;
    try {
      bot = await api("GET", `bots/${botId}`);
    } catch (err) {
      if (alive) clear(main, h("header.pane-header", backToList(), h("h1", t("My bots"))), emptyState(errorText(err)));
      return;
    }
    if (!alive) return;
    if (!("signing_secret" in bot)) {
      // Someone else's public bot: its card is in Contacts.
      navigate("contacts", botId, { replace: true });
      return;
    }
    rememberUser(bot.user);
    const heading = h("h1", displayName(bot.user));
    const summary = h("div");
    const webhooks = webhooksSection(bot, () => alive);
    const allowed = allowedSection(bot, () => alive);
    // Added to my contacts: its chat can take a webhook now.
    const drawSummary = () => clear(summary, summaryCard(bot, () => loadConversations().then(webhooks.refreshChats)));
    drawSummary();
    clear(
      main,
      h("header.pane-header", backToList(), heading),
      h(
        "div.pane-scroll.bot-page",
        summary,
        settingsForm(bot, (fresh) => {
          bot = fresh;
          heading.textContent = displayName(bot.user);
          drawSummary();
          allowed.update(fresh);
        }),
        allowed.node,
        secretSection(bot),
        keysSection(bot, () => alive),
        commandsSection(bot, (commands) => {
          bot.commands = commands;
          drawSummary();
        }),
        webhooks.node,
        h("div.actions.danger-zone", h("button.btn.btn-danger", { type: "button", onclick: () => deleteBot(bot) }, t("Delete bot"))),
      ),
    );
  })();
  return () => {
    alive = false;
  };
}

// Its face, and a way to talk to it: "Add to my contacts", then the chat.
function summaryCard(bot, added) {
  const user = bot.user;
  const contact = state.contacts.get(user.id);
  const actions = h("div.actions");
  const chat = () => openConversationWith({ peer: user.id }).catch((e) => toast(errorText(e), { kind: "error" }));
  if (contact) {
    actions.append(h("button.btn.btn-primary", { type: "button", onclick: chat }, svgIcon("chat"), " ", t("Send message")));
  } else {
    const add = h("button.btn.btn-primary", { type: "button" }, t("Add to my contacts"));
    add.addEventListener("click", async () => {
      add.disabled = true;
      try {
        await addBot(user.id);
        // (The socket's contact.added says so in a toast.)
        added();
        clear(actions, h("button.btn.btn-primary", { type: "button", onclick: chat }, svgIcon("chat"), " ", t("Send message")));
      } catch (err) {
        add.disabled = false;
        toast(errorText(err), { kind: "error" });
      }
    });
    actions.append(add);
  }
  return h(
    "div.card.profile-card",
    h(
      "div.user-line",
      avatar(user, { size: 64 }),
      h("div.grow", h("div.name-line", h("h2", displayName(user)), botBadge(user)), h("p.muted", `@${user.username}`), h("p", h("span.tag", bot.is_public ? t("Public") : t("Private")))),
    ),
    botDetails(bot),
    actions,
  );
}

function settingsForm(bot, saved) {
  const nickname = h("input", { maxLength: 64, value: bot.user.nickname || "", autocomplete: "off" });
  const description = h("textarea", { rows: 3, maxLength: 500 });
  description.value = bot.description || "";
  const eventsUrl = h("input", { type: "url", maxLength: 2000, value: bot.events_url || "", placeholder: "https://", autocomplete: "off", spellcheck: false });
  const isPublic = h("input", { type: "checkbox", checked: bot.is_public });
  const problem = formProblem();
  const inputs = { nickname, description, events_url: eventsUrl, is_public: isPublic };
  const form = h(
    "form.form.card.bot-section",
    { "aria-labelledby": "bot-settings-title", novalidate: true },
    h("h2", { id: "bot-settings-title" }, t("Settings")),
    field(t("Name"), nickname).field,
    field(t("Description"), description).field,
    field(t("Events URL"), eventsUrl, t("Messages to the bot, mentions of it and its commands are POSTed here (http or https). Empty: none.")).field,
    checkField(t("Public"), isPublic, t("Anyone can find it by its username and add it. Otherwise only you and the people you allow can.")),
    problem,
    h("button.btn.btn-primary", { type: "submit" }, t("Save")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(inputs, problem);
    try {
      const fresh = await api("PATCH", `bots/${bot.user.id}`, {
        nickname: nickname.value,
        description: description.value,
        events_url: eventsUrl.value.trim() || null,
        is_public: isPublic.checked,
      });
      rememberUser(fresh.user);
      saved(fresh);
      toast(t("Saved."));
    } catch (err) {
      showErrors(err, inputs, problem);
    }
  });
  return form;
}

// ------------------------------------------------------------------ who may add it

// Who besides me may add the bot while it is private (PUT …/allowed, the
// whole list each time): the list with Remove, and my contacts to add from.
// Hidden while the bot is public (anyone may add it then); a refusal is
// said under the section.
function allowedSection(bot, alive) {
  let people = [...(bot.allowed || [])];
  const list = h("ul.request-list.allowed-list", { "aria-label": t("People who may add this bot") });
  const pick = h("select", { id: "bot-allowed-pick" });
  const submit = h("button.btn", { type: "submit" }, t("Allow"));
  const problem = formProblem();
  problem.id = "bot-allowed-problem";
  const inputs = { users: pick };
  const save = async (ids, done) => {
    clearErrors(inputs, problem);
    try {
      const answer = await api("PUT", `bots/${bot.user.id}/allowed`, { users: ids });
      if (!alive()) return;
      people = answer.results;
      people.forEach(rememberUser);
      bot.allowed = people;
      draw();
      done();
    } catch (err) {
      if (alive()) showErrors(err, inputs, problem);
    }
  };
  const row = (user) =>
    h(
      "li.request",
      { dataset: { allowed: user.id } },
      avatar(user, { size: 36 }),
      h("div.grow", h("strong", nameOf(user)), h("p.muted.small", `@${user.username}`)),
      h(
        "button.btn.btn-small",
        {
          type: "button",
          "aria-label": tf("Remove %(name)s", { name: nameOf(user) }),
          onclick: () => save(people.filter((p) => p.id !== user.id).map((p) => p.id), () => pick.focus()),
        },
        t("Remove"),
      ),
    );
  // My contacts who are people (a bot cannot add a bot) and not on the list yet.
  const choices = () => {
    const listed = new Set(people.map((p) => p.id));
    return [...state.contacts.values()]
      .filter((c) => !c.user.is_bot && !listed.has(c.user.id) && c.user.id !== bot.user.id)
      .sort((a, b) => displayName(a.user, a.remark).localeCompare(displayName(b.user, b.remark)));
  };
  const drawChoices = () => {
    const contacts = choices();
    const chosen = pick.value;
    clear(
      pick,
      contacts.length
        ? [h("option", { value: "" }, t("Choose a contact")), contacts.map((c) => h("option", { value: c.user.id, selected: c.user.id === chosen }, displayName(c.user, c.remark)))]
        : h("option", { value: "" }, t("No more contacts to choose from")),
    );
    submit.disabled = !contacts.length;
  };
  const draw = () => {
    clear(list, people.length ? people.map(row) : h("li.muted.pad", t("Nobody else yet: only you can add it.")));
    drawChoices();
  };
  const form = h("form.form", field(t("Add one of your contacts"), pick).field, submit, problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!pick.value) {
      showErrors({ code: "invalid", fields: { users: [t("Choose a contact.")] } }, inputs, problem);
      return;
    }
    const added = state.contacts.get(pick.value);
    save([...people.map((p) => p.id), pick.value], () => {
      pick.focus();
      if (added) toast(tf("%(name)s may add this bot now.", { name: displayName(added.user, added.remark) }));
    });
  });
  draw();
  // My contacts change while the page is open (a request accepted, one removed).
  const off = on("contacts", () => (alive() ? drawChoices() : off()));
  const node = section(
    t("Who may add this bot"),
    t("While it is private, only you and these people can add it to their contacts. Taking someone off the list does not remove it from their contacts."),
    list,
    form,
  );
  const update = (fresh) => {
    node.hidden = fresh.is_public;
  };
  update(bot);
  return { node, update };
}

function secretSection(bot) {
  const box = h("div");
  const draw = (secret) => clear(box, secretRow(secret, t("Signing secret")));
  draw(bot.signing_secret);
  const regenerate = h("button.btn.btn-small", { type: "button" }, t("Regenerate"));
  regenerate.addEventListener("click", async () => {
    const ok = await confirmDialog(t("Make a new signing secret? The current one stops working at once: your program must use the new one."), { ok: t("Regenerate"), danger: true });
    if (!ok) return;
    try {
      const fresh = await api("POST", `bots/${bot.user.id}/secret`);
      bot.signing_secret = fresh.signing_secret;
      draw(fresh.signing_secret);
      toast(t("A new signing secret is in use."));
    } catch (err) {
      toast(errorText(err), { kind: "error" });
    }
  });
  return section(
    t("Signing secret"),
    t("Each event sent to the events URL is signed with it (Slack's X-Slack-Signature header), so your program can tell it comes from here."),
    box,
    h("div.actions", regenerate),
  );
}

// ------------------------------------------------------------------ keys

function keysSection(bot, alive) {
  const list = h("ul.request-list.key-list", { "aria-label": t("API keys") });
  const once = h("div");
  const name = h("input", { maxLength: 64, autocomplete: "off", placeholder: t("e.g. production") });
  const problem = formProblem();
  const inputs = { name };
  const draw = async () => {
    try {
      const data = await api("GET", `bots/${bot.user.id}/keys`);
      if (!alive()) return;
      clear(list, data.results.length ? data.results.map((k) => keyItem(bot, k, draw)) : h("li.muted.pad", t("No keys yet.")));
    } catch (err) {
      clear(list, h("li.alert", errorText(err)));
    }
  };
  const form = h("form.form", field(t("Name of the new key (optional)"), name).field, h("button.btn", { type: "submit" }, t("Create key")), problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(inputs, problem);
    try {
      const created = await api("POST", `bots/${bot.user.id}/keys`, { name: name.value });
      name.value = "";
      clear(once, shownOnce(t("Your new API key"), created.key));
      once.querySelector(".btn-small")?.focus();
      draw();
    } catch (err) {
      showErrors(err, inputs, problem);
    }
  });
  draw();
  return section(
    t("API keys"),
    t("Your program signs in as the bot with a key: Authorization: Bot <key> over REST, or the WebSocket's bot subprotocol."),
    once,
    list,
    form,
  );
}

function keyItem(bot, key, redraw) {
  const used = key.last_used_at && key.last_used_at !== key.created_at;
  return h(
    "li.request",
    { dataset: { key: key.id } },
    h(
      "div.grow",
      h("strong", key.name || t("Key")),
      " ",
      h("code.key-prefix", `${key.prefix}…`),
      h("p.muted.small", tf("Created %(when)s", { when: formatDateTime(key.created_at) }), used ? [" · ", tf("Last used %(when)s", { when: formatDateTime(key.last_used_at) })] : null),
    ),
    h(
      "div.actions",
      h(
        "button.btn.btn-small.btn-danger",
        {
          type: "button",
          onclick: async () => {
            const ok = await confirmDialog(tf("Revoke the key %(prefix)s…? Programs using it are signed out at once.", { prefix: key.prefix }), { ok: t("Revoke"), danger: true });
            if (!ok) return;
            try {
              await api("DELETE", `bots/${bot.user.id}/keys/${key.id}`);
              redraw();
            } catch (err) {
              toast(errorText(err), { kind: "error" });
            }
          },
        },
        t("Revoke"),
      ),
    ),
  );
}

// ------------------------------------------------------------------ slash commands

function commandsSection(bot, saved) {
  const rows = h("div.command-rows");
  const problem = formProblem();
  const addRow = (command = { name: "", usage: "", description: "" }) => {
    const n = rows.childElementCount + 1;
    const name = h("input.command-name-input", { value: command.name, maxLength: 32, autocomplete: "off", spellcheck: false, autocapitalize: "none", "aria-label": tf("Command %(n)s: name", { n }) });
    const usage = h("input", { value: command.usage, maxLength: 100, autocomplete: "off", placeholder: t("[arguments]"), "aria-label": tf("Command %(n)s: usage", { n }) });
    const description = h("input", { value: command.description, maxLength: 200, autocomplete: "off", placeholder: t("What it does"), "aria-label": tf("Command %(n)s: description", { n }) });
    const row = h(
      "div.command-row",
      { dataset: { command: command.name } },
      h("span.command-slash", { "aria-hidden": "true" }, "/"),
      name,
      usage,
      description,
      h("button.btn-icon.command-remove", { type: "button", "aria-label": tf("Remove command %(n)s", { n }), title: t("Remove"), onclick: () => row.remove() }, "×"),
    );
    rows.append(row);
    return name;
  };
  for (const command of bot.commands) addRow(command);
  const form = h(
    "form.form",
    h("div.command-head", { "aria-hidden": "true" }, h("span"), h("span", t("Name")), h("span", t("Usage")), h("span", t("Description")), h("span")),
    rows,
    problem,
    h(
      "div.actions",
      h("button.btn", { type: "button", onclick: () => addRow().focus() }, t("Add a command")),
      h("button.btn.btn-primary", { type: "submit" }, t("Save commands")),
    ),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const commands = [...rows.children]
      .map((row) => {
        const [name, usage, description] = row.querySelectorAll("input");
        return { name: name.value.trim().replace(/^\//, ""), usage: usage.value.trim(), description: description.value.trim() };
      })
      .filter((c) => c.name || c.usage || c.description);
    clearErrors({}, problem);
    try {
      const answer = await api("PUT", `bots/${bot.user.id}/commands`, { commands });
      clear(rows);
      for (const command of answer.results) addRow(command);
      saved(answer.results);
      // The chats the bot is in offer the new list.
      forgetCommands();
      toast(t("Saved."));
    } catch (err) {
      showErrors(err, {}, problem);
    }
  });
  return section(
    t("Slash commands"),
    t("Typed as /name in a chat the bot is in, a command goes to the events URL; its answer can be visible to the person alone. /me, /shrug, /mute, /unmute and /invite are built in."),
    form,
  );
}

// ------------------------------------------------------------------ incoming webhooks

// The chats I share with the bot, as far as this tab can tell: my direct
// chat with it, and my groups whose members include it.
async function chatsWithBot(botId) {
  const convs = sortedConversations();
  const found = convs.filter((c) => c.kind === "direct" && c.peer && c.peer.id === botId);
  const groups = convs.filter((c) => c.kind === "group" && c.group && c.group.my_role && (c.group.status || "active") === "active");
  const members = await Promise.all(groups.map((c) => apiAll(`groups/${c.group.id}/members?limit=100`, { max: 2000 }).catch(() => [])));
  groups.forEach((c, i) => {
    if (members[i].some((m) => m.user.id === botId)) found.push(c);
  });
  return found;
}

function webhooksSection(bot, alive) {
  const list = h("ul.request-list.webhook-list", { "aria-label": t("Incoming webhooks") });
  const once = h("div");
  const chat = h("select", { required: true }, h("option", { value: "" }, t("Loading…")));
  const problem = formProblem();
  const inputs = { conversation: chat };
  const submit = h("button.btn", { type: "submit", disabled: true }, t("Create webhook"));
  const chatName = (id) => {
    const conv = state.conversations.get(id);
    return conv ? conversationTitle(conv) : t("A chat");
  };
  const draw = async () => {
    try {
      const data = await api("GET", `bots/${bot.user.id}/webhooks`);
      if (!alive()) return;
      clear(
        list,
        data.results.length
          ? data.results.map((w) =>
              h(
                "li.request",
                { dataset: { webhook: String(w.id) } },
                h("div.grow", h("strong", chatName(w.conversation)), " ", h("code.key-prefix", `${w.prefix}…`), h("p.muted.small", tf("Created %(when)s", { when: formatDateTime(w.created_at) }))),
                h(
                  "div.actions",
                  h(
                    "button.btn.btn-small.btn-danger",
                    {
                      type: "button",
                      onclick: async () => {
                        const ok = await confirmDialog(t("Revoke this webhook? Whatever posts to its URL is refused from now on."), { ok: t("Revoke"), danger: true });
                        if (!ok) return;
                        try {
                          await api("DELETE", `bots/${bot.user.id}/webhooks/${w.id}`);
                          draw();
                        } catch (err) {
                          toast(errorText(err), { kind: "error" });
                        }
                      },
                    },
                    t("Revoke"),
                  ),
                ),
              ),
            )
          : h("li.muted.pad", t("No webhooks yet.")),
      );
    } catch (err) {
      clear(list, h("li.alert", errorText(err)));
    }
  };
  const refreshChats = async () => {
    const chats = await chatsWithBot(bot.user.id);
    if (!alive()) return;
    submit.disabled = !chats.length;
    if (!chats.length) clear(chat, h("option", { value: "" }, t("The bot is in none of your chats yet")));
    else clear(chat, h("option", { value: "" }, t("Choose a chat")), chats.map((c) => h("option", { value: c.id }, conversationTitle(c))));
  };
  refreshChats();
  const form = h("form.form", field(t("Post into"), chat, t("A chat the bot is in: add it to your contacts or to a group first.")).field, submit, problem);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(inputs, problem);
    if (!chat.value) {
      showErrors({ code: "invalid", fields: { conversation: [t("Choose a chat.")] } }, inputs, problem);
      return;
    }
    try {
      const created = await api("POST", `bots/${bot.user.id}/webhooks`, { conversation: chat.value });
      clear(once, shownOnce(t("Your new webhook URL"), created.url));
      once.querySelector(".btn-small")?.focus();
      draw();
    } catch (err) {
      showErrors(err, inputs, problem);
    }
  });
  draw();
  const node = section(
    t("Incoming webhooks"),
    t("A secret URL that posts as the bot in one chat. It takes Slack's incoming-webhook messages, so a tool written for Slack works with it."),
    once,
    list,
    form,
  );
  return { node, refreshChats };
}

// ------------------------------------------------------------------ delete

async function deleteBot(bot) {
  const ok = await confirmDialog(
    tf("Delete %(name)s for good? Its keys and webhooks stop working, and it leaves its groups and contacts.", { name: displayName(bot.user) }),
    { ok: t("Delete bot"), danger: true },
  );
  if (!ok) return;
  try {
    await api("DELETE", `bots/${bot.user.id}`);
    toast(tf("%(name)s was deleted.", { name: displayName(bot.user) }));
    loadContacts().catch(() => {});
    navigate("profile", "bots");
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}
