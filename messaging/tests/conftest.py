"""Fixtures the messaging tests share."""

from __future__ import annotations

import pytest


@pytest.fixture
def group(alice, bob, carol):
    """alice (owner), bob and carol in a group; returns its conversation id."""
    from contacts.services import do_connect
    from groups.services import do_create_group

    do_connect(user=alice, other=carol)
    g = do_create_group(owner=alice, name="Team", members=[str(bob.uuid), str(carol.uuid)])
    return str(g.conversation.uuid)
