"""The store step takes a whole poll of the bus in one transaction, and its
statements cover the batch: the cost of a batch does not grow with the number
of conversations in it (issue 19). Guarantees stay: gapless seq per
conversation, idempotency, the senders' read cursors, one bad record
isolated from its neighbours."""

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext

from chatsite import realtime
from chatsite.bus import Record
from conversations.models import Conversation, Member, Mention, Message
from messaging.actions.send import SendDraft
from messaging.bus_handlers import handle_messages
from messaging.tests.helpers import new_id

pytestmark = pytest.mark.django_db


def _record(sender, conversation: Conversation, *, text="hi", cmid=None, **extra) -> Record:
    draft = SendDraft(
        conversation_id=conversation.pk,
        conversation_uuid=str(conversation.uuid),
        sender_id=sender.pk,
        kind="text",
        text=text,
        file_id=None,
        client_msg_id=cmid or new_id(),
        **extra,
    )
    return Record(topic="messages", key=str(conversation.uuid), value=draft.record(socket_id="s1", ref="r"))


@pytest.fixture
def pairs(alice, user_factory):
    """alice and 12 contacts: their direct conversations."""
    from contacts.models import Contact
    from contacts.services import do_connect

    out = []
    for _ in range(12):
        other = user_factory()
        do_connect(user=alice, other=other)
        out.append((other, Contact.objects.get(owner=alice, other=other).conversation))
    return out


@pytest.fixture
def deliveries(monkeypatch):
    """What the store step hands the channel layer on commit (still delivered)."""
    seen: list = []
    original = realtime.deliver_many

    def record(items):
        items = list(items)
        seen.append(items)
        return original(items)

    monkeypatch.setattr(realtime, "deliver_many", record)
    return seen


def _queries(records) -> tuple[int, list]:
    # The on-commit work (the fan-out) runs as the batch's commit would run it.
    with TestCase.captureOnCommitCallbacks(execute=True), CaptureQueriesContext(connection) as ctx:
        rejected = handle_messages(records)
    assert rejected == []
    return len(ctx.captured_queries), ctx.captured_queries


def test_a_batch_over_many_conversations_costs_what_one_conversation_costs(alice, pairs):
    few = [_record(alice, conv) for _, conv in pairs[:2]]
    many = [_record(alice, conv) for _, conv in pairs[2:]]
    few_count, _ = _queries(few)
    many_count, captured = _queries(many)
    assert many_count == few_count, [q["sql"][:80] for q in captured]
    # One transaction for the batch (a savepoint inside the test's own),
    # nothing per conversation.
    assert sum(q["sql"].startswith("SAVEPOINT") for q in captured) == 1
    for _, conv in pairs:
        assert list(Message.objects.filter(conversation=conv).values_list("seq", flat=True)) == [1]


def test_a_batch_is_five_statements_and_its_senders_come_with_its_members(alice, pairs, deliveries, user_factory):
    """Each round trip is a good part of a small batch's time: the repeats'
    lookup, the seq UPDATE, one read of the conversations, their members and
    the senders, the INSERT, the read cursors' UPDATE. The senders on the
    wire are what a separate read of them gives, avatars included."""
    from accounts.serializers import user_to_wire
    from conversations.store import Incoming, store_messages
    from files.models import File

    (bob, one), (carol, two) = pairs[:2]
    dave = user_factory()
    carol.avatar = File.objects.create(owner=carol, name="me.png", mime="image/png", size=3, storage_key=new_id())
    carol.save(update_fields=["avatar"])
    batch = [_record(alice, one), _record(bob, one), _record(carol, two)]
    _, captured = _queries(batch)
    # (An executemany is captured as "3 times: INSERT ...", and is one statement.)
    verbs = [re.sub(r"^\d+ times: ", "", q["sql"]).split(" ", 1)[0] for q in captured]
    statements = [verb for verb in verbs if verb not in ("SAVEPOINT", "RELEASE")]
    assert statements == ["SELECT", "UPDATE", "SELECT", "INSERT", "UPDATE"], [q["sql"][:80] for q in captured]

    items = [
        Incoming(conversation_id=one.pk, sender_id=bob.pk, kind="text", text="a", client_msg_id=new_id()),
        Incoming(conversation_id=two.pk, sender_id=carol.pk, kind="text", text="b", client_msg_id=new_id()),
        # Not a member of `one`, but of `two`: her columns come on that row.
        Incoming(conversation_id=one.pk, sender_id=carol.pk, kind="text", text="c", client_msg_id=new_id()),
        # A member of none of the batch's conversations (the send check
        # would refuse him; the store step still renders whoever sent a
        # record): read apart.
        Incoming(conversation_id=one.pk, sender_id=dave.pk, kind="text", text="d", client_msg_id=new_id()),
        Incoming(conversation_id=one.pk, sender_id=None, kind="system", data={"event": "x"}),
    ]
    with CaptureQueriesContext(connection) as ctx:
        results = store_messages(items, need_keys=False)
    bob.refresh_from_db()
    carol.refresh_from_db()
    wires = [r.wire["sender"] for r in results]
    assert wires == [user_to_wire(bob), user_to_wire(carol), user_to_wire(carol), user_to_wire(dave), None]
    assert wires[1]["avatar"], wires[1]
    # The read apart is the one statement more.
    assert sum(" FROM " in q["sql"] and "u_avatar" in q["sql"] for q in ctx.captured_queries) == 2


def test_seqs_stay_gapless_and_in_order_per_conversation_across_interleaved_batches(alice, pairs, deliveries):
    (bob, one), (carol, two) = pairs[:2]
    batch = [
        _record(alice, one, text="1a"),
        _record(bob, one, text="1b"),
        _record(alice, two, text="2a"),
        _record(alice, one, text="1c"),
        _record(carol, two, text="2b"),
    ]
    _queries(batch)
    _queries([_record(bob, one, text="1d"), _record(carol, two, text="2c")])
    assert list(Message.objects.filter(conversation=one).order_by("seq").values_list("seq", "text")) == [
        (1, "1a"),
        (2, "1b"),
        (3, "1c"),
        (4, "1d"),
    ]
    assert list(Message.objects.filter(conversation=two).order_by("seq").values_list("seq", "text")) == [
        (1, "2a"),
        (2, "2b"),
        (3, "2c"),
    ]
    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.last_seq, two.last_seq) == (4, 3)
    # Each sender's read cursor is at their own last message.
    cursors = dict(Member.objects.filter(conversation=one).values_list("user_id", "read_seq"))
    assert cursors == {alice.pk: 3, bob.pk: 4}
    # Every message reached both members: the other as message.new, the
    # sender as the `stored` ack on its socket.
    frames = [(sorted(uids), env) for call in deliveries for uids, env in call]
    new = [json.loads(env["text"])["message"]["content"] for uids, env in frames if env["type"] == "chat.frame"]
    acks = [json.loads(env["own"])["message"]["content"] for uids, env in frames if env["type"] == "chat.split"]
    assert sorted(new) == sorted(acks) == ["1a", "1b", "1c", "1d", "2a", "2b", "2c"]


def test_repeats_in_and_across_batches_are_stored_once(alice, pairs, deliveries):
    (bob, one), (carol, two) = pairs[:2]
    cmid, other = new_id(), new_id()
    _queries([_record(alice, one, text="first", cmid=cmid)])
    _queries(
        [
            _record(alice, one, text="again", cmid=cmid),  # stored before
            _record(alice, two, text="x", cmid=other),
            _record(alice, two, text="x again", cmid=other),  # earlier in this batch
            _record(carol, two, text="y"),
        ]
    )
    assert Message.objects.filter(sender=alice, client_msg_id=cmid).count() == 1
    assert list(Message.objects.filter(conversation=two).order_by("seq").values_list("seq", "text")) == [
        (1, "x"),
        (2, "y"),
    ]
    # The resend of the first copy is answered with that copy.
    acks = [json.loads(env["own"]) for call in deliveries for _, env in call if env["type"] == "chat.split"]
    assert [a["message"]["content"] for a in acks if a["client_msg_id"] == cmid] == ["first", "first"]
    assert [a["message"]["seq"] for a in acks if a["client_msg_id"] == other] == [1, 1]


def test_a_bad_record_is_rejected_and_its_neighbours_stored(alice, pairs):
    (bob, one), (carol, two) = pairs[:2]
    gone = Conversation.objects.create(kind="direct", direct_key="0:0")
    bad = _record(alice, gone)
    gone.delete()
    batch = [_record(alice, one, text="ok 1"), bad, _record(carol, two, text="ok 2")]
    rejected = handle_messages(batch)
    assert [r for r, _ in rejected] == [bad]
    assert "DoesNotExist" in rejected[0][1]
    assert Message.objects.filter(text__in=["ok 1", "ok 2"]).count() == 2


def test_mentions_hidden_conversations_and_drafts_in_one_batch(alice, bob, carol, pairs):
    from contacts.services import do_connect
    from groups.services import do_create_group

    do_connect(user=alice, other=carol)
    group = do_create_group(owner=alice, name="g", members=[str(bob.uuid), str(carol.uuid)]).conversation
    (dave, one) = pairs[0]
    Member.objects.filter(conversation=one, user=dave).update(hidden=True)
    Member.objects.filter(conversation=group, user=alice).update(draft_text="half a thought")
    group.refresh_from_db()
    start = group.last_seq
    _queries(
        [
            _record(alice, group, text="@bob", mentions=(str(bob.uuid),), mention_ids=(bob.pk,)),
            _record(alice, one, text="wake up"),
            _record(carol, group, text="@all", mention_all=True),
        ]
    )
    mentions = sorted(Mention.objects.filter(conversation=group).values_list("seq", "user_id"))
    assert mentions == sorted([(start + 1, bob.pk), (start + 2, alice.pk), (start + 2, bob.pk)])
    assert not Member.objects.get(conversation=one, user=dave).hidden
    me = Member.objects.get(conversation=group, user=alice)
    assert (me.draft_text, me.read_seq) == ("", start + 1)


def test_a_poll_of_a_thousand_finds_its_repeats_past_the_first_chunk(alice, pairs):
    """A poll may hold more than a thousand. The repeat lookup goes in chunks (SQLite refuses an expression deeper
    than 1,000 terms); a repeat in any chunk is still caught."""
    (bob, one) = pairs[0]
    cmids = [new_id() for _ in range(1050)]
    assert handle_messages([_record(alice, one, text=str(n), cmid=c) for n, c in enumerate(cmids)]) == []
    again = [_record(alice, one, text="again", cmid=c) for c in cmids] + [_record(alice, one, text="new")]
    assert handle_messages(again) == []
    assert Message.objects.filter(conversation=one).count() == 1051
    assert list(Message.objects.filter(conversation=one).order_by("-seq").values_list("seq", "text")[:1]) == [
        (1051, "new")
    ]
