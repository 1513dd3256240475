"""Hand-written hot-path queries give the same instances as the ORM."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models.signals import post_init

from chatsite.rawmodels import Columns, _New
from chatsite.testing import image_bytes
from conversations.models import Conversation, Message
from messaging.tests.helpers import store_text_sync

pytestmark = pytest.mark.django_db


def test_the_session_query_matches_the_orm(alice):
    from accounts.actions.profile import do_update_profile
    from accounts.actions.sessions import Client, _session_with_user, start_session
    from accounts.models import LoginSession
    from files.services import do_upload_file

    avatar = do_upload_file(owner=alice, upload=SimpleUploadedFile("me.png", image_bytes(size=(4, 4))))
    do_update_profile(user=alice, avatar=str(avatar.uuid), nickname="Älice 😀")
    session = start_session(user=alice, client=Client(ip="10.0.0.1", device="phone")).session
    raw = _session_with_user(str(session.uuid))
    orm = LoginSession.objects.select_related("user", "user__avatar").get(pk=session.pk)
    for field in LoginSession._meta.concrete_fields:
        assert getattr(raw, field.attname) == getattr(orm, field.attname), field.name
    for field in type(alice)._meta.concrete_fields:
        assert getattr(raw.user, field.attname) == getattr(orm.user, field.attname), field.name
    assert raw.user.avatar.uuid == orm.user.avatar.uuid and raw.user.avatar.name == "me.png"
    assert raw.created_at.tzinfo is not None and raw.user.nickname == "Älice 😀"
    assert _session_with_user("not-a-uuid") is None
    assert _session_with_user("5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00") is None


def test_a_user_without_avatar(bob):
    from accounts.actions.sessions import Client, _session_with_user, start_session

    session = start_session(user=bob, client=Client()).session
    assert _session_with_user(str(session.uuid)).user.avatar is None


def _raw(model, alias: str, pk: int):
    columns = Columns(model, alias)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns.sql} FROM {columns.table} WHERE {alias}.id = %s", [pk])
        row = cursor.fetchone()
    return columns.load(row)


def test_a_loaded_message_equals_the_orms_field_by_field_and_behaves_like_it(alice, bob, direct):
    stored = store_text_sync(sender=alice, conversation_uuid=direct, text="hello 你好")
    Message.objects.filter(pk=stored.pk).update(
        mentions=[str(bob.uuid)],
        forwarded_from={"sender": None, "created_at": "2026-01-02T03:04:05.000Z"},
        edited_at=dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=dt.UTC),
    )
    orm = Message.objects.get(pk=stored.pk)
    raw = _raw(Message, "rawtest_msg", stored.pk)

    assert type(raw) is Message
    for field in Message._meta.concrete_fields:
        assert getattr(raw, field.attname) == getattr(orm, field.attname), field.name
        assert type(getattr(raw, field.attname)) is type(getattr(orm, field.attname)), field.name
    assert raw.edited_at.tzinfo is not None and raw.mentions == [str(bob.uuid)]
    assert raw._state.adding is False and raw._state.db == "default"
    # Relations load lazily, and a save is an UPDATE of the same row.
    assert raw.sender == alice and raw.conversation.uuid == orm.conversation.uuid
    raw.text = "changed"
    raw.save(update_fields=["text"])
    assert Message.objects.get(pk=stored.pk).text == "changed"
    assert Message.objects.count() == 1
    raw.refresh_from_db()
    assert raw.text == "changed"


def test_a_row_whose_key_is_null_is_no_instance():
    columns = Columns(Conversation, "rawtest_null")
    assert columns.load([None] * columns.width) is None


def test_a_model_with_post_init_receivers_is_made_through_its_init(alice, bob, direct):
    stored = store_text_sync(sender=alice, conversation_uuid=direct, text="seen by a receiver")
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Message)
    try:
        raw = _raw(Message, "rawtest_signal", stored.pk)
    finally:
        post_init.disconnect(receiver, sender=Message)
    assert seen == [raw] and raw.text == "seen by a receiver"


def test_the_sync_memberships_query_matches_the_orm(alice, bob, direct):
    """`sync`'s hand-written membership read gives what the ORM query it
    replaced gives: current memberships, and a left group only when named."""
    from django.db.models import Q

    from conversations.models import Member
    from conversations.selectors import _sync_members
    from groups.services import do_create_group, do_leave_group

    left = do_create_group(owner=bob, name="Left", members=[str(alice.uuid)])
    do_create_group(owner=bob, name="Stayed", members=[str(alice.uuid)])
    do_leave_group(user=alice, group_id=str(left.uuid))

    gone = str(left.conversation.uuid)
    for named in ([], [gone], [gone, "5b0f1ad4-0c4e-4a57-9d2a-0d6f0d7c1f00"]):
        raw = sorted(_sync_members(alice, named), key=lambda m: m.pk)
        orm = list(
            Member.objects.select_related("conversation")
            .filter(Q(conversation__uuid__in=named) | Q(left_seq__isnull=True), user=alice)
            .order_by("pk")
        )
        assert [m.pk for m in raw] == [m.pk for m in orm] and len(raw) == (3 if named else 2), named
        for r, o in zip(raw, orm, strict=True):
            for field in Member._meta.concrete_fields:
                assert getattr(r, field.attname) == getattr(o, field.attname), field.name
            for field in type(o.conversation)._meta.concrete_fields:
                assert getattr(r.conversation, field.attname) == getattr(o.conversation, field.attname), field.name


def test_a_null_skips_converters_only_where_they_keep_null_as_none(alice, bob, direct):
    """A NULL column skips its converters when they all turn NULL into None
    (Django's do); a field whose converter makes something of a NULL still
    gets it, as from the ORM."""
    from unittest import mock

    from django.db.models import JSONField

    from chatsite.rawmodels import _Columns

    stored = store_text_sync(sender=alice, conversation_uuid=direct, text="plain")
    assert Message.objects.get(pk=stored.pk).data is None
    plain = _Columns(Message, "p")
    data_index = plain.attnames.index("data")
    assert any(i == data_index and keeps_none for i, _, _, keeps_none in plain._converters)
    assert _raw(Message, "msg", stored.pk).data is None

    def empty_for_null(field, value, expression, connection):
        return {} if value is None else value

    with mock.patch.object(JSONField, "from_db_value", empty_for_null):
        fresh = _Columns(Message, "q")
        assert any(i == data_index and not keeps_none for i, _, _, keeps_none in fresh._converters)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {fresh.sql} FROM {fresh.table} WHERE q.id = %s", [stored.pk])
            row = cursor.fetchone()
        assert fresh.load(row).data == {} == Message.objects.get(pk=stored.pk).data


def test_a_new_instance_is_what_the_models_init_makes(alice, bob, direct):
    from django.utils import timezone

    new = _New(Message)
    conversation = Conversation.objects.get(uuid=direct)
    at = timezone.now()
    values = {"conversation_id": conversation.pk, "seq": 1, "sender_id": alice.pk, "kind": "text", "text": "hi"}
    made, orms = new({**values, "created_at": at}), Message(**values, created_at=at)
    assert {k: v for k, v in made.__dict__.items() if k not in ("_state", "uuid")} == {
        k: v for k, v in orms.__dict__.items() if k not in ("_state", "uuid")
    }
    assert made._state.adding and made._state.db is None and made.pk is None
    # A callable default is called for each instance, and only when not given.
    again = new(values)
    assert made.uuid != again.uuid and again.created_at > at and made.created_at == at
    assert made.conversation == conversation and made.sender == alice
    made.save()
    assert Message.objects.get(pk=made.pk).text == "hi"
    with pytest.raises(TypeError, match="conversation"):
        new({"conversation": conversation})


def test_a_new_instance_of_a_model_with_post_init_receivers_goes_through_its_init():
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance)

    post_init.connect(receiver, sender=Message)
    try:
        made = _New(Message)({"text": "seen"})
    finally:
        post_init.disconnect(receiver, sender=Message)
    assert seen == [made] and made.text == "seen"
