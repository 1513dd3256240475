"""Send grants: after a full check a socket sends plain text to the same
conversation without the database (Connection.grants), until the user's
access changes (a block either way, a contact removed, a group left, a member
removed, a group disabled), when the next send is checked again and refused."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from chatsite.gateway.consumer import local_connections
from conversations.models import Conversation, Message
from messaging import ws_handlers
from messaging.tests.helpers import new_id, send_text

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def full_checks(monkeypatch):
    """How many sends ran the full check (check_send_message)."""
    calls: list[str] = []
    real = ws_handlers.check_send_message

    def counting(**kwargs):
        calls.append(kwargs["client_msg_id"])
        return real(**kwargs)

    monkeypatch.setattr(ws_handlers, "check_send_message", counting)
    return calls


def _plain(conversation: str, text: str = "hi", cmid: str | None = None) -> dict:
    return {
        "type": "message.send",
        "client_msg_id": cmid or new_id(),
        "conversation": conversation,
        "kind": "text",
        "content": text,
    }


async def _grants_dropped(user) -> None:
    """Until every socket of `user` in this process has dropped its grants
    (the `chat.access` the change sent on commit has arrived)."""
    for _ in range(300):
        if not any(c.grants for c in local_connections() if c.user_id == user.pk):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the sockets kept their grants")


async def test_plain_sends_after_the_first_skip_the_check(ws_connect, message_worker, alice, bob, direct, full_checks):
    a, b = await ws_connect(alice), await ws_connect(bob)
    stored = [await send_text(a, direct, f"m{i}") for i in range(3)]
    assert [m["seq"] for m in stored] == [1, 2, 3]
    assert [(await b.expect("message.new", timeout=10))["message"]["content"] for _ in range(3)] == ["m0", "m1", "m2"]
    assert len(full_checks) == 1
    # More than plain text (a reply) is always checked in full; so is another socket's first send.
    await a.send({**_plain(direct, "re"), "reply_to": stored[0]["id"]})
    assert (await a.expect("message.ack", timeout=10))["status"] == "accepted"
    await a.expect("message.ack", timeout=10)
    a2 = await ws_connect(alice)
    await send_text(a2, direct, "from another device")
    assert len(full_checks) == 3


async def test_an_expired_grant_is_checked_again(
    ws_connect, message_worker, alice, bob, direct, full_checks, monkeypatch
):
    monkeypatch.setattr(ws_handlers, "GRANT_TTL_S", 0.0)
    a = await ws_connect(alice)
    for i in range(3):
        await send_text(a, direct, f"m{i}")
    assert len(full_checks) == 3


async def test_a_repeat_on_a_granted_socket_answers_with_the_first_copy(
    ws_connect, message_worker, alice, bob, direct, full_checks
):
    a, b = await ws_connect(alice), await ws_connect(bob)
    cmid = new_id()
    first = await send_text(a, direct, "once", cmid=cmid)
    await b.expect("message.new", timeout=10)
    await a.send(_plain(direct, "changed", cmid=cmid))
    assert (await a.expect("message.ack", timeout=10))["status"] == "accepted"
    again = await a.expect("message.ack", timeout=10)
    assert again["status"] == "stored" and again["message"] == first
    await b.silent(0.5)
    assert len(full_checks) == 1  # the store step found the repeat
    assert await sync_to_async(Message.objects.filter(client_msg_id=cmid).count)() == 1
    # A frame the quick checks refuse goes to the full check, which answers a
    # repeat with its first copy whatever the rest says.
    await a.send(_plain(direct, "   ", cmid=cmid))
    assert (await a.expect("message.ack", timeout=10))["status"] == "accepted"
    assert (await a.expect("message.ack", timeout=10))["message"] == first
    await a.send(_plain(direct, "   "))
    assert (await a.expect("error", timeout=10))["code"] == "invalid"
    assert len(full_checks) == 3


@pytest.mark.parametrize("change", ["bob blocks alice", "alice blocks bob", "bob removes alice"])
async def test_a_change_between_two_people_ends_the_grant(ws_connect, message_worker, alice, bob, direct, change):
    from contacts.services import do_block, do_delete_contact

    a = await ws_connect(alice)
    await send_text(a, direct, "before")
    assert any(c.grants for c in local_connections() if c.user_id == alice.pk)
    if change == "bob blocks alice":
        await sync_to_async(do_block)(user=bob, target_id=str(alice.uuid))
    elif change == "alice blocks bob":
        await sync_to_async(do_block)(user=alice, target_id=str(bob.uuid))
    else:
        await sync_to_async(do_delete_contact)(user=bob, other_id=str(alice.uuid))
    await _grants_dropped(alice)
    await a.send(_plain(direct, "after"))
    # What the change itself tells Alice's devices is passed over: her own
    # block (block.changed), the removal (contact.removed).
    told = ("presence", "contact.removed", "block.changed")
    error = await a.expect("error", timeout=10, skip=told)
    assert error["code"] == ("not_contact" if change == "bob removes alice" else "blocked")
    await a.silent(0.5, skip=told)
    texts = await sync_to_async(lambda: list(Message.objects.values_list("text", flat=True)))()
    assert texts == ["before"]


@pytest.mark.parametrize("change", ["carol leaves", "alice removes carol", "an administrator disables the group"])
async def test_a_change_in_a_group_ends_the_grant(ws_connect, message_worker, alice, carol, group, change):
    from groups.models import GroupStatus
    from groups.services import do_admin_set_group_status, do_leave_group, do_remove_member

    group_id = await sync_to_async(lambda: str(Conversation.objects.get(uuid=group).group.uuid))()
    c = await ws_connect(carol)
    await send_text(c, group, "before")
    assert any(s.grants for s in local_connections() if s.user_id == carol.pk)
    if change == "carol leaves":
        await sync_to_async(do_leave_group)(user=carol, group_id=group_id)
    elif change == "alice removes carol":
        await sync_to_async(do_remove_member)(user=alice, group_id=group_id, member_id=str(carol.uuid))
    else:
        await sync_to_async(do_admin_set_group_status)(group_id=group_id, status=GroupStatus.DISABLED)
    await _grants_dropped(carol)
    await c.send(_plain(group, "after"))
    while (frame := await c.recv(timeout=10))["type"] != "error":
        assert frame["type"] in ("presence", "message.new", "group.member_removed", "group.updated"), frame
    assert frame["code"] == ("group_disabled" if "disables" in change else "not_member")
    texts = await sync_to_async(lambda: list(Message.objects.filter(kind="text").values_list("text", flat=True)))()
    assert texts == ["before"]


class _Socket:
    """The part of a Connection `_checked` uses; its check lands a change
    (a `chat.access`) while it runs."""

    def __init__(self, user) -> None:
        self.user, self.user_id = user, user.pk
        self.grants: dict = {}
        self.grants_epoch = 0
        self.changes = 0

    async def run_sync(self, fn, /, **kwargs):
        result = await sync_to_async(fn)(**kwargs)
        for _ in range(self.changes):
            self.grants.clear()
            self.grants_epoch += 1
        return result


@pytest.mark.parametrize("changes", [0, 1])
async def test_a_check_that_raced_a_change_leaves_no_grant(alice, bob, direct, changes):
    socket = _Socket(alice)
    socket.changes = changes
    draft = await ws_handlers._checked(socket, _plain(direct))
    assert draft.conversation_uuid == direct
    assert (("send", direct) in socket.grants) is (changes == 0)


async def test_a_refused_full_check_ends_the_grant_even_if_the_change_was_not_announced(
    ws_connect, message_worker, alice, bob, direct, monkeypatch
):
    from contacts import services

    monkeypatch.setattr(services, "access_changed_on_commit", lambda **kwargs: None)  # the chat.access is lost
    a = await ws_connect(alice)
    first = await send_text(a, direct, "before")
    await sync_to_async(services.do_block)(user=bob, target_id=str(alice.uuid))
    assert any(c.grants for c in local_connections() if c.user_id == alice.pk)
    # A frame the grant does not cover is checked in full, and refused...
    await a.send({**_plain(direct, "a reply"), "reply_to": first["id"]})
    assert (await a.expect("error", timeout=10))["code"] == "blocked"
    # ...which ends the grant: the next plain text is refused too.
    await a.send(_plain(direct, "after"))
    assert (await a.expect("error", timeout=10))["code"] == "blocked"
    texts = await sync_to_async(lambda: list(Message.objects.values_list("text", flat=True)))()
    assert texts == ["before"]


async def test_an_id_in_capitals_uses_the_same_grant(ws_connect, message_worker, alice, bob, direct, full_checks):
    a = await ws_connect(alice)
    await send_text(a, direct, "lower")
    await send_text(a, direct.upper(), "upper")
    assert len(full_checks) == 1
    [socket] = [c for c in local_connections() if c.user_id == alice.pk]
    assert list(socket.grants) == [("send", direct)]


class _RefusingBus:
    """The bus with its broker down: a submit fails at once, or its future does."""

    def __init__(self, at_once: bool) -> None:
        self.at_once = at_once

    def submit(self, **kwargs):
        from chatsite.errors import Unavailable

        err = Unavailable("The message broker is unavailable; retry later.")
        if self.at_once:
            raise err
        future = asyncio.get_running_loop().create_future()
        future.set_exception(err)
        return future


@pytest.mark.parametrize("at_once", [True, False], ids=["refused-at-once", "refused-later"])
async def test_a_repeat_on_a_grant_is_answered_with_its_first_copy_while_the_broker_is_down(
    ws_connect, message_worker, alice, bob, direct, monkeypatch, at_once
):
    a = await ws_connect(alice)
    cmid = new_id()
    first = await send_text(a, direct, "once", cmid=cmid)
    monkeypatch.setattr(ws_handlers, "get_bus", lambda: _RefusingBus(at_once))
    # The repeat: its first copy's acks, which need no broker.
    await a.send(_plain(direct, "again", cmid=cmid))
    got = await a.expect("message.ack", timeout=10)
    assert got["status"] == "accepted"
    stored = await a.expect("message.ack", timeout=10)
    assert stored["status"] == "stored" and stored["message"] == first
    # A new message: the bus's error.
    await a.send(_plain(direct, "new"))
    assert (await a.expect("error", timeout=10))["code"] == "unavailable"
    await a.silent(0.3)
    assert await sync_to_async(Message.objects.count)() == 1
