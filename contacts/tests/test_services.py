"""Contact services: rows written, errors raised, events and their recipients."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import UserStatus
from accounts.serializers import user_to_wire
from chatsite.errors import Blocked, Conflict, Forbidden, Invalid, NotContact, NotFound
from contacts import services
from contacts.models import Block, Contact, ContactRequest, RequestStatus
from contacts.serializers import contact_request_to_wire
from conversations.models import Conversation, Member
from messaging.actions.send import check_send_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def dave(user_factory):
    return user_factory("dave", nickname="Dave")


def send(user, to, message=""):
    return services.do_send_contact_request(user=user, to=str(to.uuid), message=message)


def text_to(user, peer):
    """Whether `user` may send a direct message to `peer` now (the messaging check)."""
    return check_send_message(
        sender=user, client_msg_id=str(uuid.uuid4()), kind="text", content="hi", to={"user": str(peer.uuid)}
    )


# --------------------------------------------------------------------------- sending


def test_send_stores_a_pending_request_and_tells_the_receiver_only(events, alice, carol):
    with events.capture():
        request = send(alice, carol, "  hello, it's Alice\nfrom work ")
    row = ContactRequest.objects.get()
    assert (row.from_user, row.to_user, row.status) == (alice, carol, RequestStatus.PENDING)
    assert row.message == "hello, it's Alice\nfrom work" and row.pending_key == f"{alice.pk}:{carol.pk}"
    assert request.pk == row.pk
    assert events.items == [({carol.pk}, {"type": "contact.request", "request": contact_request_to_wire(row)})]
    assert events.items[0][1]["request"]["status"] == "pending"


@pytest.mark.parametrize(
    "to, error",
    [
        ("self", Invalid),
        ("nobody", NotFound),
        ("not-an-id", Invalid),
        ("disabled", NotFound),
        ("deleted", NotFound),
    ],
)
def test_send_refusals(events, alice, user_factory, to, error):
    target = {
        "self": lambda: str(alice.uuid),
        "nobody": lambda: str(uuid.uuid4()),
        "not-an-id": lambda: "123",
        "disabled": lambda: str(user_factory("dis", status=UserStatus.DISABLED).uuid),
        "deleted": lambda: str(user_factory("gone", status=UserStatus.DELETED).uuid),
    }[to]()
    with events.capture(), pytest.raises(error):
        services.do_send_contact_request(user=alice, to=target)
    assert not ContactRequest.objects.exists() and events.items == []


@pytest.mark.parametrize("blocker", ["sender", "receiver"])
def test_send_is_blocked_both_ways(events, alice, carol, blocker):
    a, b = (alice, carol) if blocker == "sender" else (carol, alice)
    Block.objects.create(blocker=a, blocked=b)
    with events.capture(), pytest.raises(Blocked):
        send(alice, carol)
    with events.capture(), pytest.raises(Blocked):
        send(carol, alice)
    assert not ContactRequest.objects.exists() and events.items == []


def test_send_to_a_contact_is_a_conflict(alice, bob):
    with pytest.raises(Conflict):
        send(alice, bob)


def test_a_second_pending_request_in_the_same_direction_is_a_conflict(alice, carol):
    send(alice, carol)
    with pytest.raises(Conflict):
        send(alice, carol, "again")
    assert ContactRequest.objects.count() == 1


@pytest.mark.parametrize("message", ["x" * 201, "bell\x07", "nul\x00", "rtl\u202eoverride", 42, ["list"]], ids=repr)
def test_send_validates_the_message(alice, carol, message):
    with pytest.raises(Invalid) as info:
        services.do_send_contact_request(user=alice, to=str(carol.uuid), message=message)
    assert list(info.value.fields) == ["message"]


def test_a_message_of_200_characters_with_emoji_is_fine(alice, carol):
    text = "😀" * 200
    assert send(alice, carol, text).message == text


def test_sending_back_accepts_the_pending_request_instead(events, alice, carol):
    theirs = send(carol, alice, "hi")
    with events.capture():
        result = send(alice, carol, "hello back")
    assert result.pk == theirs.pk and result.status == RequestStatus.ACCEPTED
    assert ContactRequest.objects.count() == 1  # no second request
    mine = Contact.objects.get(owner=alice, other=carol)
    other = Contact.objects.get(owner=carol, other=alice)
    assert mine.conversation_id == other.conversation_id is not None
    conv = str(mine.conversation.uuid)
    row = ContactRequest.objects.get()
    assert row.status == RequestStatus.ACCEPTED and row.pending_key is None
    assert events.items == [
        ({alice.pk}, {"type": "contact.added", "user": user_to_wire(carol), "conversation": conv}),
        ({carol.pk}, {"type": "contact.added", "user": user_to_wire(alice), "conversation": conv}),
        ({carol.pk, alice.pk}, {"type": "contact.request", "request": contact_request_to_wire(row)}),
    ]


# --------------------------------------------------------------------------- deciding


def test_accept_makes_contacts_on_both_sides_with_one_direct_conversation(events, alice, carol):
    request = send(carol, alice, "hi")
    with events.capture():
        accepted = services.do_accept_contact_request(user=alice, request_id=str(request.uuid))
    assert accepted.status == RequestStatus.ACCEPTED
    rows = {(c.owner_id, c.other_id): c for c in Contact.objects.all()}
    assert set(rows) == {(alice.pk, carol.pk), (carol.pk, alice.pk)}
    conversation = Conversation.objects.get(direct_key=f"{min(alice.pk, carol.pk)}:{max(alice.pk, carol.pk)}")
    assert {c.conversation_id for c in rows.values()} == {conversation.pk}
    assert set(Member.objects.filter(conversation=conversation).values_list("user_id", flat=True)) == {
        alice.pk,
        carol.pk,
    }
    conv = str(conversation.uuid)
    row = ContactRequest.objects.get()
    assert events.items == [
        ({alice.pk}, {"type": "contact.added", "user": user_to_wire(carol), "conversation": conv}),
        ({carol.pk}, {"type": "contact.added", "user": user_to_wire(alice), "conversation": conv}),
        ({carol.pk, alice.pk}, {"type": "contact.request", "request": contact_request_to_wire(row)}),
    ]
    # And now they can write to each other.
    assert text_to(alice, carol).conversation_uuid == conv
    assert text_to(carol, alice).conversation_uuid == conv


def test_only_the_receiver_decides(alice, carol, dave):
    request = send(carol, alice)
    for user in (carol, dave):  # the sender and a stranger
        for decide in (services.do_accept_contact_request, services.do_reject_contact_request):
            with pytest.raises(NotFound):
                decide(user=user, request_id=str(request.uuid))
    with pytest.raises(NotFound):
        services.do_accept_contact_request(user=alice, request_id="nope")
    assert ContactRequest.objects.get().status == RequestStatus.PENDING


def test_a_decided_request_cannot_be_decided_again(alice, carol):
    request = send(carol, alice)
    services.do_reject_contact_request(user=alice, request_id=str(request.uuid))
    for decide in (services.do_accept_contact_request, services.do_reject_contact_request):
        with pytest.raises(Conflict):
            decide(user=alice, request_id=str(request.uuid))
    with pytest.raises(Conflict):
        services.do_cancel_contact_request(user=carol, request_id=str(request.uuid))


def test_reject_tells_both_and_allows_a_new_request(events, alice, carol):
    request = send(carol, alice)
    with events.capture():
        services.do_reject_contact_request(user=alice, request_id=str(request.uuid))
    row = ContactRequest.objects.get()
    assert row.status == RequestStatus.REJECTED and row.pending_key is None
    assert events.items == [
        ({carol.pk, alice.pk}, {"type": "contact.request", "request": contact_request_to_wire(row)})
    ]
    assert not Contact.objects.exists()
    again = send(carol, alice, "please")
    assert again.status == RequestStatus.PENDING and ContactRequest.objects.count() == 2


def test_accepting_after_a_block_is_refused_and_keeps_the_request(events, alice, carol):
    request = send(carol, alice)
    Block.objects.create(blocker=carol, blocked=alice)
    with events.capture(), pytest.raises(Blocked):
        services.do_accept_contact_request(user=alice, request_id=str(request.uuid))
    assert ContactRequest.objects.get().status == RequestStatus.PENDING
    assert not Contact.objects.exists() and events.items == []


def test_cancel_by_the_sender_only_while_pending(events, alice, carol, dave):
    request = send(alice, carol)
    with pytest.raises(Forbidden):
        services.do_cancel_contact_request(user=carol, request_id=str(request.uuid))
    with pytest.raises(NotFound):
        services.do_cancel_contact_request(user=dave, request_id=str(request.uuid))
    with events.capture():
        services.do_cancel_contact_request(user=alice, request_id=str(request.uuid))
    row = ContactRequest.objects.get()
    assert row.status == RequestStatus.CANCELLED and row.pending_key is None
    assert events.items == [
        ({alice.pk, carol.pk}, {"type": "contact.request", "request": contact_request_to_wire(row)})
    ]
    with pytest.raises(Conflict):
        services.do_cancel_contact_request(user=alice, request_id=str(request.uuid))


# --------------------------------------------------------------------------- contacts


def test_remark_is_per_direction_and_validated(events, alice, bob):
    with events.capture():
        contact = services.do_update_contact(user=alice, other_id=str(bob.uuid), remark="  老板 Bob ")
    assert contact.remark == "老板 Bob"
    # Alice's other devices hear of it; Bob never does (a remark is private).
    assert events.items == [({alice.pk}, {"type": "contact.updated", "user": user_to_wire(bob), "remark": "老板 Bob"})]
    events.clear()
    # Saving the same remark again changes nothing, so no device is told to redraw.
    with events.capture():
        services.do_update_contact(user=alice, other_id=str(bob.uuid), remark="老板 Bob")
    assert events.items == []
    assert Contact.objects.get(owner=bob, other=alice).remark == ""
    assert services.do_update_contact(user=alice, other_id=str(bob.uuid), remark="").remark == ""
    for bad in ("x" * 65, "a\nb", None):
        with pytest.raises(Invalid):
            services.do_update_contact(user=alice, other_id=str(bob.uuid), remark=bad)


def test_remark_for_a_non_contact_is_not_found(alice, carol):
    with pytest.raises(NotFound):
        services.do_update_contact(user=alice, other_id=str(carol.uuid), remark="x")
    with pytest.raises(NotFound):
        services.do_update_contact(user=alice, other_id="garbage", remark="x")


def test_delete_removes_both_directions_keeps_the_conversation_and_tells_both(events, alice, bob):
    conversation = Contact.objects.get(owner=alice, other=bob).conversation
    with events.capture():
        services.do_delete_contact(user=alice, other_id=str(bob.uuid))
    assert not Contact.objects.exists()
    assert Conversation.objects.filter(pk=conversation.pk).exists()
    assert Member.objects.filter(conversation=conversation).count() == 2
    conv = str(conversation.uuid)
    assert events.items == [
        ({alice.pk}, {"type": "contact.removed", "user": user_to_wire(bob), "conversation": conv}),
        ({bob.pk}, {"type": "contact.removed", "user": user_to_wire(alice), "conversation": conv}),
    ]
    with pytest.raises(NotContact):
        text_to(bob, alice)
    with pytest.raises(NotFound):
        services.do_delete_contact(user=bob, other_id=str(alice.uuid))


def test_re_adding_reuses_the_direct_conversation(alice, bob):
    conversation_id = Contact.objects.get(owner=alice, other=bob).conversation_id
    services.do_delete_contact(user=bob, other_id=str(alice.uuid))
    request = send(bob, alice)
    services.do_accept_contact_request(user=alice, request_id=str(request.uuid))
    assert set(Contact.objects.values_list("conversation_id", flat=True)) == {conversation_id}


def test_do_connect_is_idempotent_and_announces_once(events, alice, carol):
    with events.capture():
        services.do_connect(user=alice, other=carol)
        services.do_connect(user=carol, other=alice)
    assert Contact.objects.count() == 2
    assert events.types() == ["contact.added", "contact.added"]


# --------------------------------------------------------------------------- blocks


def test_block_keeps_the_contact_but_stops_messages_both_ways(events, alice, bob):
    with events.capture():
        target = services.do_block(user=alice, target_id=str(bob.uuid))
    assert target == bob and Block.objects.filter(blocker=alice, blocked=bob).exists()
    # Bob is never told; Alice's own devices are, each to stop notifying of
    # him without a reload.
    assert events.items == [({alice.pk}, {"type": "block.changed", "user": user_to_wire(bob), "blocked": True})]
    assert Contact.objects.count() == 2
    for sender, peer in ((alice, bob), (bob, alice)):
        with pytest.raises(Blocked):
            text_to(sender, peer)
    events.items.clear()
    with events.capture():
        services.do_unblock(user=alice, target_id=str(bob.uuid))
    assert not Block.objects.exists()
    assert events.items == [({alice.pk}, {"type": "block.changed", "user": user_to_wire(bob), "blocked": False})]
    # Lifting a block that is not there tells nobody.
    events.items.clear()
    with events.capture(), pytest.raises(NotFound):
        services.do_unblock(user=alice, target_id=str(bob.uuid))
    assert events.items == []
    assert text_to(alice, bob) and text_to(bob, alice)


def test_block_refusals(alice, bob):
    with pytest.raises(Invalid):
        services.do_block(user=alice, target_id=str(alice.uuid))
    with pytest.raises(NotFound):
        services.do_block(user=alice, target_id=str(uuid.uuid4()))
    with pytest.raises(Invalid):
        services.do_block(user=alice, target_id="x")
    services.do_block(user=alice, target_id=str(bob.uuid))
    with pytest.raises(Conflict):
        services.do_block(user=alice, target_id=str(bob.uuid))
    with pytest.raises(NotFound):
        services.do_unblock(user=bob, target_id=str(alice.uuid))  # bob does not block alice
    assert Block.objects.count() == 1


def test_each_side_of_a_block_is_lifted_separately(alice, bob):
    services.do_block(user=alice, target_id=str(bob.uuid))
    services.do_block(user=bob, target_id=str(alice.uuid))
    services.do_unblock(user=alice, target_id=str(bob.uuid))
    with pytest.raises(Blocked):
        text_to(alice, bob)
    services.do_unblock(user=bob, target_id=str(alice.uuid))
    assert text_to(alice, bob)


# --------------------------------------------------------------------------- the pair rule


def test_the_pair_rule(alice, bob, carol, django_assert_num_queries):
    """Contacts without a block either way may talk; a block wins over the contact
    relation, whichever side made it; strangers are not_contact."""
    from contacts.selectors import Pair, check_may_talk, get_pair, talk_partners

    with django_assert_num_queries(1):
        assert get_pair(user_id=alice.pk, other_id=bob.pk) == Pair(contacts=True, blocks=False, blocked_by=False)
    assert get_pair(user_id=alice.pk, other_id=carol.pk).may_talk is False
    with pytest.raises(NotContact):
        check_may_talk(user_id=alice.pk, other_id=carol.pk)
    services.do_block(user=bob, target_id=str(alice.uuid))
    mine, theirs = get_pair(user_id=alice.pk, other_id=bob.pk), get_pair(user_id=bob.pk, other_id=alice.pk)
    assert (mine.contacts, mine.blocks, mine.blocked_by) == (True, False, True)
    assert (theirs.contacts, theirs.blocks, theirs.blocked_by) == (True, True, False)
    for a, b in ((alice, bob), (bob, alice)):
        with pytest.raises(Blocked):
            check_may_talk(user_id=a.pk, other_id=b.pk)
    assert talk_partners(user=alice) == [] and talk_partners(user=bob) == []
    services.do_unblock(user=bob, target_id=str(alice.uuid))
    assert talk_partners(user=alice) == [bob.pk]
    assert talk_partners(user=alice, among=[carol.pk]) == []
