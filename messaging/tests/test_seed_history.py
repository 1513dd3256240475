"""`manage.py seed_history`, the benchmarks' seeder: what it writes reads back
through the history API like any stored message."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from contacts.models import Contact
from conversations.models import Message

pytestmark = pytest.mark.django_db(transaction=True)


def test_seeded_messages_are_gapless_and_read_back_through_the_history_api(api_for):
    out = io.StringIO()
    call_command("seed_history", messages=30, users=4, prefix="seedt", stdout=out)
    assert "seeded 30 messages in 2 conversations" in out.getvalue()

    contact = Contact.objects.select_related("owner", "conversation").get(
        owner__username="seedt0", other__username="seedt1"
    )
    conversation = contact.conversation
    assert conversation.last_seq == 15
    stored = list(Message.objects.filter(conversation=conversation).order_by("seq"))
    assert [m.seq for m in stored] == list(range(1, 16))
    assert {m.kind for m in stored} == {"text"}
    assert not any(m.silent or m.recalled or m.mention_all for m in stored)

    r = api_for(contact.owner).get(f"/api/v1/conversations/{conversation.uuid}/messages", {"before": 11, "limit": 5})
    assert r.status_code == 200, r.content
    body = r.json()
    assert [m["seq"] for m in body["results"]] == [6, 7, 8, 9, 10]
    assert body["has_more"] is True
    assert body["results"][0]["content"] == "seeded message 6 历史消息"
    assert {m["sender"]["username"] for m in body["results"]} == {"seedt0", "seedt1"}


def test_seeding_again_with_the_same_prefix_is_refused_and_adds_nothing():
    call_command("seed_history", messages=4, users=2, prefix="seedu", stdout=io.StringIO())
    with pytest.raises(CommandError, match="exist already"):
        call_command("seed_history", messages=4, users=2, prefix="seedu", stdout=io.StringIO())
    assert Message.objects.filter(conversation__members__user__username="seedu0").count() == 4
