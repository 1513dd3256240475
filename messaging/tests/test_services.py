"""The send check's fast path: one query answers everything for a conversation id."""

from __future__ import annotations

import pytest
from django.db import connection

from chatsite.errors import Blocked, NotContact, NotFound, NotMember
from messaging.actions.send import check_send_message
from messaging.tests.helpers import new_id

pytestmark = pytest.mark.django_db


def check(sender, conversation, **kw):
    return check_send_message(
        sender=sender, client_msg_id=new_id(), kind="text", content="hi", conversation=conversation, **kw
    )


def test_a_direct_message_is_checked_in_one_query(alice, direct, django_assert_num_queries):
    with django_assert_num_queries(1):
        draft = check(alice, direct)
    assert draft.conversation_uuid == direct and draft.existing is None


@pytest.mark.skipif(connection.vendor != "mysql", reason="MariaDB's plan (the real-services run)")
def test_that_query_builds_no_temporary_table(alice, bob, direct, group):
    """MariaDB ran each correlated EXISTS of the first form through its
    subquery cache, three temporary tables per message sent."""

    def created() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SHOW SESSION STATUS LIKE 'Created_tmp_tables'")
            return int(cursor.fetchone()[1])

    check(alice, direct)  # warm: the first query of a connection may differ
    before = created()
    for _ in range(5):
        check(alice, direct)
        check(bob, group)
    # SHOW STATUS itself builds one.
    assert created() - before <= 1


def test_blocks_and_removed_contacts_are_caught_by_that_query(alice, bob, direct, django_assert_num_queries):
    from contacts.models import Block, Contact

    Block.objects.create(blocker=bob, blocked=alice)
    with django_assert_num_queries(1), pytest.raises(Blocked):
        check(alice, direct)
    Block.objects.all().delete()
    Contact.objects.filter(owner=alice).delete()
    with django_assert_num_queries(1), pytest.raises(NotContact):
        check(alice, direct)


def test_strangers_and_former_group_members(alice, bob, carol, direct, user_factory):
    from contacts.services import do_connect
    from conversations.members import leave_conversation
    from groups.services import do_create_group

    with pytest.raises(NotFound):
        check(carol, direct)
    dave = user_factory("dave")
    do_connect(user=alice, other=dave)
    group = do_create_group(owner=alice, name="g", members=[str(bob.uuid), str(dave.uuid)])
    assert check(bob, str(group.conversation.uuid)).conversation_id == group.conversation.pk
    leave_conversation(conversation=group.conversation, user=bob)
    with pytest.raises(NotMember):
        check(bob, str(group.conversation.uuid))


def test_a_resent_client_msg_id_finds_the_first_copy(alice, direct):
    from messaging.tests.helpers import store_text_sync

    cmid = new_id()
    first = store_text_sync(sender=alice, conversation_uuid=direct, text="x", cmid=cmid)
    draft = check_send_message(sender=alice, client_msg_id=cmid, kind="text", content="other", conversation=direct)
    assert draft.existing.pk == first.pk
