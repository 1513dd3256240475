// Groups: create from contacts, members and roles, edit, join requests,
// leave, dismiss and transfer.

import { api, apiAll } from "./api.js";
import { avatar, botBadge, clear, displayName, field, formatDateTime, h, svgIcon, t, tf, tn } from "./dom.js";
import { emit, nameOf, newest, on, rememberUser, state } from "./state.js";
import { actionRow, headerLink, listPane, listRow, mainHeader, refill } from "./panes.js";
import { confirmDialog, emptyState, errorText, keepEdits, navigate, newestAsk, pictureUpload, toast } from "./ui.js";
import { openConversationWith } from "./chats.js";

export function title() {
  const g = state.route.item && state.groups.get(state.route.item);
  return g ? g.name : t("Groups");
}

export const loadGroups = newest(() => apiAll("groups?limit=100", { max: 2000 }), (list) => {
  state.groups = new Map(list.map((g) => [g.id, g]));
  emit("groups");
});

export function onFrame(frame) {
  switch (frame.type) {
    case "group.updated":
      state.groups.set(frame.group.id, frame.group);
      emit("groups", frame.group);
      return;
    case "group.member_added":
      state.groups.set(frame.group.id, frame.group);
      rememberUser(frame.user);
      if (frame.user.id === state.me.id && frame.by !== state.me.id)
        toast(tf("You were added to the group “%(name)s”.", { name: frame.group.name }));
      emit("groups", frame.group);
      return;
    case "group.member_removed":
      if (frame.user.id === state.me.id) {
        state.groups.delete(frame.group.id);
        if (frame.by !== state.me.id) toast(tf("You were removed from the group “%(name)s”.", { name: frame.group.name }));
      } else {
        state.groups.set(frame.group.id, frame.group);
      }
      emit("groups", frame.group);
      return;
    case "group.dismissed":
      state.groups.set(frame.group.id, frame.group);
      toast(tf("The group “%(name)s” was dismissed.", { name: frame.group.name }));
      emit("groups", frame.group);
      return;
    case "group.join_request":
      if (frame.request.status === "pending" && frame.request.from.id !== state.me.id)
        toast(tf("%(who)s asks to join “%(name)s”.", { who: displayName(frame.request.from), name: frame.request.group.name }));
      if (frame.request.from.id === state.me.id && frame.request.status !== "pending") {
        const accepted = frame.request.status === "accepted";
        toast(accepted ? tf("You joined “%(name)s”.", { name: frame.request.group.name }) : tf("Your request to join “%(name)s” was declined.", { name: frame.request.group.name }));
        if (accepted) loadGroups().catch(() => {});
      }
      emit("join_requests", frame.request);
      return;
    default:
  }
}

// ------------------------------------------------------------------ list

export function renderList(pane) {
  const scroll = listPane(pane, t("Groups"), { action: headerLink("groups", "new", "plus", t("New group")) });
  const draw = () => {
    const current = state.route.item;
    const list = h("ul.conv-list", actionRow("groups", "new", "plus", t("New group")), actionRow("groups", "join", "enter", t("Join a group")));
    const mine = h("ul.conv-list", { "aria-label": t("My groups") });
    const groups = [...state.groups.values()].sort((a, b) => a.name.localeCompare(b.name));
    for (const g of groups) {
      mine.append(
        listRow(
          "groups",
          g.id,
          [
            avatar({ id: g.id, avatar: g.avatar }, { name: g.name }),
            h("span.conv-text", h("span.conv-name", g.name), h("span.conv-preview", tn("%(n)s member", "%(n)s members", g.member_count))),
            g.status !== "active" ? h("span.tag", g.status === "dismissed" ? t("Dismissed") : t("Disabled")) : null,
          ],
          { current: current === g.id, dataset: { group: g.id } },
        ),
      );
    }
    refill(scroll, list, h("h2.list-heading", t("My groups")), groups.length ? mine : emptyState(t("No groups yet.")));
  };
  draw();
  return on("groups", draw);
}

// ------------------------------------------------------------------ main

export function renderMain(main, item) {
  if (!item) {
    main.append(emptyState(t("Choose a group, or create one.")));
    return null;
  }
  if (item === "new") return renderCreate(main);
  if (item === "join") return renderJoin(main);
  return renderGroup(main, item);
}

function contactPicker(legend, exclude = new Set()) {
  const boxes = [];
  const set = h("fieldset.field-group.picker", h("legend", legend));
  const contacts = [...state.contacts.values()].filter((c) => !exclude.has(c.user.id) && !c.blocked);
  if (!contacts.length) set.append(h("p.muted", t("No contacts to choose from.")));
  for (const c of contacts.sort((a, b) => displayName(a.user, a.remark).localeCompare(displayName(b.user, b.remark)))) {
    const input = h("input", { type: "checkbox", value: c.user.id, id: `pick-${c.user.id}` });
    boxes.push(input);
    set.append(h("label.pick", { for: input.id }, input, avatar(c.user, { size: 28 }), h("span", displayName(c.user, c.remark)), botBadge(c.user)));
  }
  return { set, chosen: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

function joinModeSelect(value = "approval") {
  return h(
    "select",
    h("option", { value: "approval", selected: value === "approval" }, t("Owner or admins approve who joins")),
    h("option", { value: "open", selected: value === "open" }, t("Anyone with the group ID can join")),
  );
}

function renderCreate(main) {
  const name = h("input", { required: true, maxLength: 64, autocomplete: "off" });
  const notice = h("textarea", { maxLength: 2000, rows: 3 });
  const mode = joinModeSelect();
  const picker = contactPicker(t("Members"));
  const submit = h("button.btn.btn-primary", { type: "submit" }, t("Create group"));
  const form = h(
    "form.form.card",
    field(t("Group name"), name).field,
    picker.set,
    field(t("Notice (optional)"), notice).field,
    field(t("Who can join"), mode).field,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) {
      name.setAttribute("aria-invalid", "true");
      toast(t("Give the group a name."), { kind: "error" });
      name.focus();
      return;
    }
    submit.disabled = true;
    try {
      const group = await api("POST", "groups", { name: name.value, members: picker.chosen(), notice: notice.value, join_mode: mode.value });
      state.groups.set(group.id, group);
      emit("groups", group);
      await openConversationWith({ group: group.id });
    } catch (err) {
      submit.disabled = false;
      toast(errorText(err), { kind: "error" });
    }
  });
  main.append(mainHeader(t("New group")), h("div.pane-scroll", form));
  name.focus();
  return null;
}

function renderJoin(main) {
  const gid = h("input", { required: true, autocomplete: "off", spellcheck: false });
  const result = h("div", { "aria-live": "polite" });
  const form = h("form.form.card", field(t("Group ID"), gid, t("Ask a member for the group ID.")).field, h("button.btn.btn-primary", { type: "submit" }, t("Find group")));
  const ask = newestAsk();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const current = ask();
    clear(result, h("p.muted", t("Searching…")));
    try {
      const g = await api("GET", `groups/${encodeURIComponent(gid.value.trim())}`);
      if (!current()) return;
      if (g.my_role) {
        navigate("groups", g.id);
        return;
      }
      const face = h("div.user-line", avatar({ id: g.id, avatar: g.avatar }, { name: g.name, size: 48 }), h("div", h("strong", g.name), h("p.muted", tn("%(n)s member", "%(n)s members", g.member_count))));
      if (g.status && g.status !== "active") {
        // Nobody joins a dismissed or disabled group: no form to find that out with.
        clear(result, h("div.card", face, h("p.muted", { role: "status" }, t("This group is disabled or dismissed."))));
        return;
      }
      const message = h("input", { maxLength: 200 });
      const join = h("form.form", g.join_mode === "approval" ? field(t("Message to the admins (optional)"), message).field : null, h("button.btn.btn-primary", { type: "submit" }, g.join_mode === "open" ? t("Join") : t("Ask to join")));
      join.addEventListener("submit", async (e) => {
        e.preventDefault();
        try {
          const r = await api("POST", `groups/${g.id}/join`, { message: message.value });
          if (r.role) {
            await loadGroups();
            await openConversationWith({ group: g.id });
          } else {
            join.replaceWith(h("p.ok", { role: "status" }, t("Request sent. An admin will answer it.")));
          }
        } catch (err) {
          toast(errorText(err), { kind: "error" });
        }
      });
      clear(result, h("div.card", face, join));
    } catch (err) {
      if (current()) clear(result, h("p.alert", { role: "alert" }, errorText(err)));
    }
  });
  main.append(mainHeader(t("Join a group")), h("div.pane-scroll", form, result));
  return null;
}

const ROLE = () => ({ owner: t("Owner"), admin: t("Admin"), member: t("Member") });

function renderGroup(main, groupId) {
  let alive = true;
  const ask = newestAsk(); // only the newest draw writes: an older, slower one would show older state
  const draw = async () => {
    const newest = ask();
    const current = () => alive && newest();
    let g = state.groups.get(groupId);
    try {
      g = await api("GET", `groups/${groupId}`);
    } catch (err) {
      if (!g) {
        if (current()) clear(main, mainHeader(), emptyState(errorText(err)));
        return;
      }
    }
    if (!current()) return;
    if (g.my_role) state.groups.set(g.id, g);
    const role = g.my_role;
    const manager = role === "owner" || role === "admin";
    const active = g.status === "active";
    const body = [];
    body.push(
      h(
        "div.card.profile-card",
        h("div.user-line", avatar({ id: g.id, avatar: g.avatar }, { name: g.name, size: 64 }), h("div", h("h2", g.name), h("p.muted", tn("%(n)s member", "%(n)s members", g.member_count)), role ? h("p.muted", tf("Your role: %(role)s", { role: ROLE()[role] })) : null)),
        g.notice ? h("div.notice", h("h3", t("Notice")), h("p.signature", g.notice)) : null,
        h(
          "p.muted.small.group-id",
          t("Group ID"),
          ": ",
          h("code", g.id),
          " ",
          navigator.clipboard
            ? h("button.linklike", { type: "button", onclick: () => navigator.clipboard.writeText(g.id).then(() => toast(t("Copied."))) }, t("Copy"))
            : null,
        ),
        !active ? h("p.alert", g.status === "dismissed" ? t("This group was dismissed.") : t("This group is disabled.")) : null,
      ),
    );
    if (!role) {
      body.push(h("p.muted", t("You are not a member of this group.")));
      clear(main, mainHeader(g.name), h("div.pane-scroll", body));
      return;
    }
    body.push(h("div.actions", h("button.btn.btn-primary", { type: "button", onclick: () => openConversationWith({ group: g.id }).catch((e) => toast(errorText(e), { kind: "error" })) }, svgIcon("chat"), " ", t("Open chat"))));
    if (manager && active) body.push(editForm(g));
    const members = await apiAll(`groups/${g.id}/members?limit=100`, { max: 2000 }).catch(() => []);
    if (!current()) return;
    members.forEach((m) => rememberUser(m.user));
    const ul = h("ul.request-list", { "aria-label": t("Members") });
    for (const m of members) ul.append(memberItem(g, m));
    body.push(h("h2.list-heading", tf("Members (%(n)s)", { n: members.length })), ul);
    if (active && (manager || g.join_mode === "open")) body.push(addMembersForm(g, new Set(members.map((m) => m.user.id))));
    if (manager && active) body.push(await joinRequests(g));
    const danger = h("div.actions.danger-zone");
    // The owner hands the group over before leaving it, but a dismissed one can only be dropped.
    if (role !== "owner" || g.status === "dismissed") danger.append(h("button.btn.btn-danger", { type: "button", onclick: () => leave(g) }, t("Leave group")));
    if (role === "owner" && active) danger.append(h("button.btn.btn-danger", { type: "button", onclick: () => dismiss(g) }, t("Dismiss group")));
    body.push(danger);
    if (!current()) return;
    const scroll = main.querySelector(".pane-scroll");
    const top = scroll ? scroll.scrollTop : 0;
    const carry = keepEdits(main); // a name or notice being written, members being ticked
    clear(main, mainHeader(g.name), h("div.pane-scroll", body));
    carry(main);
    main.querySelector(".pane-scroll").scrollTop = top;
  };
  draw();
  const offs = [
    on("groups", (g) => (!g || g.id === groupId) && draw()),
    on("join_requests", (r) => r.group && r.group.id === groupId && draw()),
  ];
  return () => {
    alive = false;
    offs.forEach((off) => off());
  };
}

function editForm(g) {
  const name = h("input", { value: g.name, maxLength: 64, required: true, dataset: { keep: "group-name" } });
  const notice = h("textarea", { maxLength: 2000, rows: 3, dataset: { keep: "group-notice" } });
  notice.value = g.notice || "";
  const mode = joinModeSelect(g.join_mode);
  mode.dataset.keep = "group-join-mode";
  const picture = h(
    "div.user-line",
    avatar({ id: g.id, avatar: g.avatar }, { name: g.name, size: 48 }),
    ...pictureUpload({
      id: `group-avatar-${g.id}`,
      label: t("Change the group picture"),
      save: (fileId) => api("PATCH", `groups/${g.id}`, { avatar: fileId }),
      saved: (fresh) => {
        state.groups.set(fresh.id, fresh);
        emit("groups", fresh);
      },
    }),
  );
  const form = h("form.form.card", h("h3", t("Edit group")), picture, field(t("Group name"), name).field, field(t("Notice"), notice).field, field(t("Who can join"), mode).field, h("button.btn", { type: "submit" }, t("Save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = {};
    if (name.value !== g.name) changes.name = name.value;
    if (notice.value !== (g.notice || "")) changes.notice = notice.value;
    if (mode.value !== g.join_mode) changes.join_mode = mode.value;
    if (!Object.keys(changes).length) return;
    try {
      const fresh = await api("PATCH", `groups/${g.id}`, changes);
      for (const el of form.querySelectorAll("[data-edited]")) delete el.dataset.edited; // saved
      state.groups.set(fresh.id, fresh);
      emit("groups", fresh);
      toast(t("Saved."));
    } catch (err) {
      toast(errorText(err), { kind: "error" });
    }
  });
  return form;
}

function memberItem(g, m) {
  const role = g.my_role;
  const isMe = m.user.id === state.me.id;
  const actions = h("div.actions");
  const act = (label, fn, danger) => h(`button.btn.btn-small${danger ? ".btn-danger" : ""}`, { type: "button", onclick: fn }, label);
  if (!isMe && g.status === "active") {
    if (role === "owner") {
      if (m.role === "member") actions.append(act(t("Make admin"), () => setRole(g, m, "admin")));
      if (m.role === "admin") actions.append(act(t("Remove admin"), () => setRole(g, m, "member")));
      actions.append(act(t("Make owner"), () => transfer(g, m)));
    }
    if ((role === "owner" && m.role !== "owner") || (role === "admin" && m.role === "member")) actions.append(act(t("Remove"), () => remove(g, m), true));
  }
  return h(
    "li.request",
    { dataset: { member: m.user.id } },
    avatar(m.user, { size: 36 }),
    h("div.grow", h("strong", nameOf(m.user)), " ", botBadge(m.user), " ", m.role !== "member" ? h("span.tag", ROLE()[m.role]) : null),
    actions,
  );
}

async function run(promise, done) {
  try {
    await promise;
    if (done) toast(done);
    await loadGroups();
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}

function setRole(g, m, role) {
  return run(api("PATCH", `groups/${g.id}/members/${m.user.id}`, { role }));
}

async function transfer(g, m) {
  if (!(await confirmDialog(tf("Make %(who)s the owner? You will become an admin.", { who: nameOf(m.user) }), { ok: t("Make owner") }))) return;
  return run(api("POST", `groups/${g.id}/transfer`, { user: m.user.id }));
}

async function remove(g, m) {
  if (!(await confirmDialog(tf("Remove %(who)s from the group?", { who: nameOf(m.user) }), { ok: t("Remove"), danger: true }))) return;
  return run(api("DELETE", `groups/${g.id}/members/${m.user.id}`));
}

async function leave(g) {
  if (!(await confirmDialog(tf("Leave “%(name)s”?", { name: g.name }), { ok: t("Leave"), danger: true }))) return;
  try {
    await api("POST", `groups/${g.id}/leave`);
    state.groups.delete(g.id);
    emit("groups");
    navigate("groups", null);
  } catch (err) {
    toast(errorText(err), { kind: "error" });
  }
}

async function dismiss(g) {
  if (!(await confirmDialog(tf("Dismiss “%(name)s” for everyone? Nobody can send to it any more.", { name: g.name }), { ok: t("Dismiss"), danger: true }))) return;
  return run(api("DELETE", `groups/${g.id}`));
}

function addMembersForm(g, present) {
  const picker = contactPicker(t("Add members"), present);
  const form = h("form.form.card", picker.set, h("button.btn", { type: "submit" }, t("Add")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const users = picker.chosen();
    if (!users.length) return;
    await run(api("POST", `groups/${g.id}/members`, { users }));
  });
  return form;
}

async function joinRequests(g) {
  const section = h("section", h("h2.list-heading", t("Join requests")));
  let list = [];
  try {
    list = await apiAll(`groups/${g.id}/join-requests?status=pending&limit=100`, { max: 500 });
  } catch (err) {
    section.append(h("p.alert", errorText(err)));
    return section;
  }
  if (!list.length) {
    section.append(h("p.muted.pad", t("No requests.")));
    return section;
  }
  const ul = h("ul.request-list");
  for (const r of list) {
    ul.append(
      h(
        "li.request",
        { dataset: { request: r.id } },
        avatar(r.from, { size: 36 }),
        h("div.grow", h("strong", displayName(r.from)), r.message ? h("p.request-message", r.message) : null, h("p.muted.small", formatDateTime(r.created_at))),
        h(
          "div.actions",
          h("button.btn.btn-small", { type: "button", onclick: () => run(api("POST", `groups/${g.id}/join-requests/${r.id}/reject`)).then(() => emit("join_requests", r)) }, t("Reject")),
          h("button.btn.btn-small.btn-primary", { type: "button", onclick: () => run(api("POST", `groups/${g.id}/join-requests/${r.id}/accept`)).then(() => emit("join_requests", r)) }, t("Accept")),
        ),
      ),
    );
  }
  section.append(ul);
  return section;
}
