"""Concurrent writers on MariaDB: the row locks keep counts and relations exact."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections, connection

from contacts import services as contact_services
from contacts.models import Contact, ContactRequest
from conversations.models import Member, Message
from groups import services
from groups.models import Group
from groups.tests.factories import make_group

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.real_services]


def run_together(*fns) -> list[BaseException]:
    """Run each function in its own thread (own connection), released at once."""
    barrier = threading.Barrier(len(fns))
    errors: list[BaseException] = []

    def wrap(fn):
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return errors


def test_concurrent_joins_and_leaves_keep_member_count_exact(alice, user_factory):
    stayers = [user_factory(f"stay{n}") for n in range(3)]
    group = make_group(alice, members=stayers, join_mode="open")
    joiners = [user_factory(f"join{n}") for n in range(8)]
    gid = str(group.uuid)
    errors = run_together(
        *(lambda u=u: services.do_join_group(user=u, group_id=gid) for u in joiners),
        *(lambda u=u: services.do_leave_group(user=u, group_id=gid) for u in stayers),
    )
    assert errors == []
    group = Group.objects.get(pk=group.pk)
    assert (
        group.member_count
        == Member.objects.filter(conversation_id=group.conversation_id, left_seq__isnull=True).count()
        == 1 + len(joiners)
    )
    seqs = list(Message.objects.filter(conversation__group=group).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # one system message each, gapless
    assert len(seqs) == 1 + len(joiners) + len(stayers)


def test_crossing_contact_requests_make_one_friendship(alice, carol):
    errors = run_together(
        lambda: contact_services.do_send_contact_request(user=alice, to=str(carol.uuid)),
        lambda: contact_services.do_send_contact_request(user=carol, to=str(alice.uuid)),
    )
    assert errors == []
    assert Contact.objects.count() == 2
    assert ContactRequest.objects.count() == 1
    assert ContactRequest.objects.get().status == "accepted"
