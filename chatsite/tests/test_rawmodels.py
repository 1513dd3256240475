"""Hand-written hot-path queries give the same instances as the ORM."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from chatsite.testing import image_bytes

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
