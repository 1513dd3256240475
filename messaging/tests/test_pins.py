"""Pins over REST (contract v3 §4, §8) and who reacted (GET /messages/{id}/reactions)."""

from __future__ import annotations

import pytest

from chatsite.testing import ISO, assert_error
from conversations.models import Message, Reaction
from messaging.tests.helpers import store_text_sync

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(alice, bob, carol):
    """alice owns it; bob is an admin; carol a plain member."""
    from contacts.services import do_connect
    from groups.services import do_create_group, do_set_member_role

    do_connect(user=alice, other=carol)
    group = do_create_group(owner=alice, name="Team", members=[str(bob.uuid), str(carol.uuid)])
    do_set_member_role(user=alice, group_id=str(group.uuid), member_id=str(bob.uuid), role="admin")
    return group


def pins_of(client, conversation: str) -> list[dict]:
    r = client.get(f"/api/v1/conversations/{conversation}/pins")
    assert r.status_code == 200, r.content
    return r.json()["results"]


def test_either_person_pins_in_a_direct_conversation_and_everyone_sees_the_line(
    api, api_for, alice, bob, direct, events
):
    message = store_text_sync(sender=bob, conversation_uuid=direct, text="the address")
    with events.capture():
        r = api.post(f"/api/v1/conversations/{direct}/pins", {"message": str(message.uuid)}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["id"] == str(message.uuid) and body["pinned"] is True
    assert body["pinned_by"] == str(alice.uuid) and ISO.match(body["pinned_at"])
    # The pin is a `system` line every member gets, not silent, never unread.
    sent = events.of_type("message.new")
    assert set().union(*(uids for uids, _ in sent)) == {alice.pk, bob.pk}
    assert len({str(frame) for _, frame in sent}) == 1
    event = sent[0][1]["message"]
    assert event["kind"] == "system" and event["content"] == {
        "event": "pin",
        "actor": str(alice.uuid),
        "targets": [str(bob.uuid)],
        "changes": {"message": str(message.uuid), "seq": message.seq},
    }
    bobs = api_for(bob).get("/api/v1/conversations").json()["results"][0]
    assert bobs["last_message"]["id"] == event["id"] and bobs["unread"] == 0
    # Pinning it again answers 200 with it and stores nothing.
    again = api_for(bob).post(f"/api/v1/conversations/{direct}/pins", {"message": str(message.uuid)}, format="json")
    assert again.status_code == 200 and again.json()["pinned_by"] == str(alice.uuid)
    assert Message.objects.filter(kind="system").count() == 1

    later = store_text_sync(sender=alice, conversation_uuid=direct, text="the time")
    api_for(bob).post(f"/api/v1/conversations/{direct}/pins", {"message": str(later.uuid)}, format="json")
    assert [m["id"] for m in pins_of(api_for(bob), direct)] == [str(later.uuid), str(message.uuid)]
    history = api.get(f"/api/v1/conversations/{direct}/messages").json()["results"]
    assert {m["id"]: m["pinned"] for m in history if m["kind"] == "text"} == {
        str(message.uuid): True,
        str(later.uuid): True,
    }

    # Unpinning: 204 and an `unpin` line; a message that is not pinned is 404.
    assert api_for(bob).delete(f"/api/v1/conversations/{direct}/pins/{message.uuid}").status_code == 204
    assert_error(api.delete(f"/api/v1/conversations/{direct}/pins/{message.uuid}"), 404, "not_found")
    assert [m["id"] for m in pins_of(api, direct)] == [str(later.uuid)]
    assert [
        m["content"]["event"]
        for m in api.get(f"/api/v1/conversations/{direct}/messages").json()["results"]
        if m["kind"] == "system"
    ] == ["pin", "pin", "unpin"]


def test_in_a_group_owners_and_admins_pin(api_for, alice, bob, carol, team, user_factory):
    conversation = str(team.conversation.uuid)
    message = store_text_sync(sender=carol, conversation_uuid=conversation, text="agenda")
    body = {"message": str(message.uuid)}
    assert_error(
        api_for(carol).post(f"/api/v1/conversations/{conversation}/pins", body, format="json"), 403, "forbidden"
    )
    assert api_for(bob).post(f"/api/v1/conversations/{conversation}/pins", body, format="json").status_code == 201
    assert_error(api_for(carol).delete(f"/api/v1/conversations/{conversation}/pins/{message.uuid}"), 403, "forbidden")
    # Members see the pins; strangers do not even see the conversation.
    assert [m["id"] for m in pins_of(api_for(carol), conversation)] == [str(message.uuid)]
    stranger = user_factory("stranger")
    assert_error(api_for(stranger).get(f"/api/v1/conversations/{conversation}/pins"), 404, "not_found")
    assert_error(
        api_for(stranger).post(f"/api/v1/conversations/{conversation}/pins", body, format="json"), 404, "not_found"
    )


def test_pin_refusals_and_the_limit(api, alice, bob, direct, team, settings):
    from messaging.actions import pins

    conversation = str(team.conversation.uuid)
    in_group = store_text_sync(sender=alice, conversation_uuid=conversation, text="elsewhere")
    # A message of another conversation, through this conversation's path.
    assert_error(
        api.post(f"/api/v1/conversations/{direct}/pins", {"message": str(in_group.uuid)}, format="json"),
        404,
        "not_found",
    )
    system = Message.objects.filter(conversation=team.conversation, kind="system").first()
    assert_error(
        api.post(f"/api/v1/conversations/{conversation}/pins", {"message": str(system.uuid)}, format="json"),
        400,
        "invalid",
    )
    assert_error(api.post(f"/api/v1/conversations/{direct}/pins", {"message": "x"}, format="json"), 400, "invalid")
    monkey_max = 3
    pins.MAX_PINS, old = monkey_max, pins.MAX_PINS
    try:
        for n in range(monkey_max):
            m = store_text_sync(sender=alice, conversation_uuid=direct, text=f"m{n}")
            assert (
                api.post(f"/api/v1/conversations/{direct}/pins", {"message": str(m.uuid)}, format="json").status_code
                == 201
            )
        extra = store_text_sync(sender=alice, conversation_uuid=direct, text="one too many")
        assert_error(
            api.post(f"/api/v1/conversations/{direct}/pins", {"message": str(extra.uuid)}, format="json"),
            409,
            "conflict",
        )
    finally:
        pins.MAX_PINS = old


def test_a_recall_unpins_without_an_event_of_its_own(api, alice, bob, direct):
    from messaging.actions.recall import do_recall_message

    message = store_text_sync(sender=alice, conversation_uuid=direct, text="oops")
    api.post(f"/api/v1/conversations/{direct}/pins", {"message": str(message.uuid)}, format="json")
    do_recall_message(user=alice, message_id=str(message.uuid))
    assert pins_of(api, direct) == []
    events = [
        m["content"]["event"]
        for m in api.get(f"/api/v1/conversations/{direct}/messages").json()["results"]
        if m["kind"] == "system"
    ]
    assert events == ["pin", "recall"]


def test_a_blocked_pair_cannot_pin(api, alice, bob, direct):
    from contacts.services import do_block

    message = store_text_sync(sender=bob, conversation_uuid=direct, text="x")
    do_block(user=bob, target_id=str(alice.uuid))
    assert_error(
        api.post(f"/api/v1/conversations/{direct}/pins", {"message": str(message.uuid)}, format="json"), 403, "blocked"
    )


def test_who_reacted_is_a_paged_list_for_those_who_may_read_the_message(api, api_for, alice, bob, direct, user_factory):
    message = store_text_sync(sender=alice, conversation_uuid=direct, text="vote")
    Reaction.objects.create(message=message, user=bob, emoji="👍")
    Reaction.objects.create(message=message, user=alice, emoji="👍")
    Reaction.objects.create(message=message, user=alice, emoji="❤️")
    first = api.get(f"/api/v1/messages/{message.uuid}/reactions", {"emoji": "👍", "limit": 1})
    assert first.status_code == 200, first.content
    page1 = first.json()
    assert [u["id"] for u in page1["results"]] == [str(bob.uuid)] and page1["next"]
    page2 = api.get(
        f"/api/v1/messages/{message.uuid}/reactions", {"emoji": "👍", "limit": 1, "cursor": page1["next"]}
    ).json()
    assert [u["id"] for u in page2["results"]] == [str(alice.uuid)] and page2["next"] is None
    # ❤ is ❤️.
    hearts = api.get(f"/api/v1/messages/{message.uuid}/reactions", {"emoji": "❤"}).json()
    assert [u["id"] for u in hearts["results"]] == [str(alice.uuid)]
    assert_error(api.get(f"/api/v1/messages/{message.uuid}/reactions", {"emoji": "nope"}), 400, "invalid")
    stranger = user_factory("stranger")
    assert_error(api_for(stranger).get(f"/api/v1/messages/{message.uuid}/reactions", {"emoji": "👍"}), 404, "not_found")
