"""`manage.py seed_history` never leaves a conversation's last_seq behind its
messages: bad counts are refused, and a run stopped midway is consistent."""

from __future__ import annotations

import io
import types

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Max

from conversations.models import Conversation, Message
from messaging.management.commands import seed_history

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("messages", [-5, 0, 1])
def test_a_message_count_below_one_per_conversation_is_refused(messages):
    with pytest.raises(CommandError, match="--messages must be at least one per conversation"):
        call_command("seed_history", messages=messages, users=4, prefix="seedb", stdout=io.StringIO())
    assert not Conversation.objects.filter(last_seq__lt=0).exists()
    assert not Message.objects.exists()


def test_a_run_stopped_midway_leaves_last_seq_with_the_messages(monkeypatch):
    monkeypatch.setattr(seed_history, "CHUNK", 5)
    real_uuid4 = seed_history.uuid.uuid4
    calls = {"n": 0}

    def uuid4():
        # Ctrl-C in the middle of the second chunk (two uuids per row).
        calls["n"] += 1
        if calls["n"] == 2 * 7 + 1:
            raise KeyboardInterrupt
        return real_uuid4()

    # The command's own reference to the module only.
    monkeypatch.setattr(seed_history, "uuid", types.SimpleNamespace(uuid4=uuid4))
    with pytest.raises(KeyboardInterrupt):
        call_command("seed_history", messages=30, users=4, prefix="seedc", stdout=io.StringIO())
    monkeypatch.undo()
    seeded = (
        Conversation.objects.filter(members__user__username="seedc0")
        .annotate(n=Count("messages"), top=Max("messages__seq"))
        .get()
    )
    assert seeded.n == 5 and seeded.last_seq == seeded.top == 5
