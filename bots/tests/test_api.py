"""Bots over REST: owning them, their keys, who may add them, their rate."""

from __future__ import annotations

import hashlib
import time
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import LoginSession, SessionKind, User, UserStatus
from backoffice.services import do_delete_user, do_disable_user, do_enable_user
from bots.models import Bot
from chatsite.testing import assert_error
from contacts.models import Contact
from conversations.models import Member, Message
from groups.services import do_create_group
from messaging.tests.helpers import new_id

pytestmark = pytest.mark.django_db(transaction=True)


def bot_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bot {key}")
    return client


def create_bot(api, username="helper_bot", **extra) -> dict:
    r = api.post("/api/v1/bots", {"username": username, **extra}, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def new_key(api, bot: dict, name="ci") -> dict:
    r = api.post(f"/api/v1/bots/{bot['user']['id']}/keys", {"name": name}, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def wait_stored(cmid: str) -> Message:
    deadline = time.monotonic() + 10
    while (message := Message.objects.filter(client_msg_id=cmid).first()) is None:
        assert time.monotonic() < deadline, "never stored"
        time.sleep(0.05)
    return message


# --------------------------------------------------------------------------- owning bots


def test_a_person_creates_lists_edits_and_reads_a_bot(api, alice):
    bot = create_bot(api, nickname="Build Bot", description="Posts CI results.\nGreen or red.")
    assert bot["user"]["username"] == "helper_bot"
    assert bot["user"]["nickname"] == "Build Bot"
    assert bot["user"]["is_bot"] is True
    assert bot["is_public"] is False and bot["commands"] == [] and bot["events_url"] is None
    assert len(bot["signing_secret"]) == 64
    account = User.objects.get(uuid=bot["user"]["id"])
    assert account.is_bot and account.bot_owner == alice and not account.has_usable_password()

    listed = api.get("/api/v1/bots").json()["results"]
    assert [b["user"]["id"] for b in listed] == [bot["user"]["id"]]
    r = api.patch(
        f"/api/v1/bots/{bot['user']['id']}",
        {"nickname": "CI", "is_public": True, "description": ""},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["user"]["nickname"] == "CI" and r.json()["is_public"] is True
    rotated = api.post(f"/api/v1/bots/{bot['user']['id']}/secret").json()["signing_secret"]
    assert rotated != bot["signing_secret"] and len(rotated) == 64


def test_someone_else_sees_a_public_bot_without_its_secrets_and_never_a_private_one(api, api_for, carol):
    private = create_bot(api, "private_bot")
    public = create_bot(api, "public_bot", is_public=True)
    theirs = api_for(carol)
    assert_error(theirs.get(f"/api/v1/bots/{private['user']['id']}"), 404, "not_found")
    card = theirs.get(f"/api/v1/bots/{public['user']['id']}").json()
    assert set(card) == {"user", "description", "is_public", "commands", "created_at"}
    # Nor can they change, key or delete either.
    for bot in (private, public):
        bid = bot["user"]["id"]
        assert_error(theirs.patch(f"/api/v1/bots/{bid}", {"nickname": "x"}, format="json"), 404, "not_found")
        assert_error(theirs.post(f"/api/v1/bots/{bid}/keys", {}, format="json"), 404, "not_found")
        assert_error(theirs.delete(f"/api/v1/bots/{bid}"), 404, "not_found")
    assert theirs.get("/api/v1/bots").json()["results"] == []


def test_bad_bot_input_is_refused_and_changes_nothing(api, alice, settings):
    assert_error(api.post("/api/v1/bots", {"username": "no spaces"}, format="json"), 400, "invalid")
    assert_error(api.post("/api/v1/bots", {"username": "fine_bot", "is_public": "yes"}, format="json"), 400, "invalid")
    assert_error(api.post("/api/v1/bots", {"username": "alice"}, format="json"), 409, "conflict")
    bot = create_bot(api)
    bid = bot["user"]["id"]
    assert_error(api.patch(f"/api/v1/bots/{bid}", {"events_url": "ftp://example.com/x"}, format="json"), 400, "invalid")
    assert_error(
        api.put(f"/api/v1/bots/{bid}/commands", {"commands": [{"name": "shrug"}]}, format="json"), 400, "invalid"
    )
    assert_error(
        api.put(f"/api/v1/bots/{bid}/commands", {"commands": [{"name": "Bad Name"}]}, format="json"), 400, "invalid"
    )
    assert Bot.objects.get(user__uuid=bid).events_url == ""
    settings.BOTS_MAX_PER_OWNER = 1
    assert_error(api.post("/api/v1/bots", {"username": "second_bot"}, format="json"), 409, "conflict")
    assert User.objects.filter(is_bot=True).count() == 1


def test_commands_are_replaced_whole(api):
    bot = create_bot(api)
    url = f"/api/v1/bots/{bot['user']['id']}/commands"
    r = api.put(
        url, {"commands": [{"name": "weather", "description": "The forecast", "usage": "[city]"}]}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["results"] == [{"name": "weather", "description": "The forecast", "usage": "[city]"}]
    api.put(url, {"commands": [{"name": "deploy"}, {"name": "status"}]}, format="json")
    shown = api.get(f"/api/v1/bots/{bot['user']['id']}").json()["commands"]
    assert [c["name"] for c in shown] == ["deploy", "status"]


# --------------------------------------------------------------------------- keys


def test_a_key_is_shown_once_stored_hashed_and_signs_the_bot_in(api):
    bot = create_bot(api)
    key = new_key(api, bot)
    raw = key["key"]
    assert raw.startswith("wscb_") and len(raw) > 40
    session = LoginSession.objects.get(uuid=key["id"])
    assert session.kind == SessionKind.BOT and session.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in str(LoginSession.objects.filter(pk=session.pk).values().get())
    listed = api.get(f"/api/v1/bots/{bot['user']['id']}/keys").json()["results"]
    assert [k["id"] for k in listed] == [key["id"]] and "key" not in listed[0]
    assert listed[0]["prefix"] == raw[:11] and listed[0]["name"] == "ci"

    me = bot_client(raw).get("/api/v1/me")
    assert me.status_code == 200, me.content
    assert me.json()["id"] == bot["user"]["id"] and me.json()["is_bot"] is True
    # A wrong key, a key under the Bearer scheme, a token under the Bot scheme: all 401.
    assert_error(bot_client(raw[:-1] + ("A" if raw[-1] != "A" else "B")).get("/api/v1/me"), 401, "not_authenticated")
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert_error(bearer.get("/api/v1/me"), 401, "not_authenticated")
    assert_error(bot_client("eyJhbGciOi.x.y").get("/api/v1/me"), 401, "not_authenticated")


def test_several_keys_at_once_and_a_revoked_one_stops(api, closes):
    bot = create_bot(api)
    first, second = new_key(api, bot, "one"), new_key(api, bot, "two")
    r = api.delete(f"/api/v1/bots/{bot['user']['id']}/keys/{first['id']}")
    assert r.status_code == 204
    assert_error(bot_client(first["key"]).get("/api/v1/me"), 401, "not_authenticated")
    assert bot_client(second["key"]).get("/api/v1/me").status_code == 200
    # Its sockets were told to close, that session's only.
    assert any(item[2] == first["id"] for item in closes.items)
    assert_error(api.delete(f"/api/v1/bots/{bot['user']['id']}/keys/{first['id']}x"), 404, "not_found")


def test_keys_are_capped(api, settings):
    settings.BOT_KEYS_MAX = 2
    bot = create_bot(api)
    new_key(api, bot)
    new_key(api, bot)
    assert_error(api.post(f"/api/v1/bots/{bot['user']['id']}/keys", {}, format="json"), 409, "conflict")


def test_a_disabled_owner_stops_their_bots_until_enabled(api, alice, admin_user, closes):
    bot = create_bot(api)
    key = new_key(api, bot)["key"]
    bot_pk = User.objects.get(uuid=bot["user"]["id"]).pk
    do_disable_user(actor=admin_user, user_id=str(alice.uuid))
    assert_error(bot_client(key).get("/api/v1/me"), 403, "account_disabled")
    assert any(bot_pk in item[0] and item[1] == 4403 for item in closes.items)
    do_enable_user(actor=admin_user, user_id=str(alice.uuid))
    assert bot_client(key).get("/api/v1/me").status_code == 200


def test_a_bot_cannot_sign_in_with_a_password_or_own_bots(api, anon):
    bot = create_bot(api)
    key = new_key(api, bot)["key"]
    r = anon.post("/api/v1/auth/login", {"login": "helper_bot", "password": "anything-at-all"}, format="json")
    assert r.status_code == 401
    assert_error(bot_client(key).post("/api/v1/bots", {"username": "child_bot"}, format="json"), 403, "forbidden")


# --------------------------------------------------------------------------- who may add a bot


def test_the_owner_adds_a_private_bot_and_others_cannot(api, api_for, alice, carol):
    bot = create_bot(api)
    bid = bot["user"]["id"]
    r = api.post(f"/api/v1/bots/{bid}/add")
    assert r.status_code == 200, r.content
    assert r.json()["user"]["id"] == bid and r.json()["conversation"]
    assert Contact.objects.filter(owner=alice, other__uuid=bid).exists()
    assert api.post(f"/api/v1/bots/{bid}/add").status_code == 200  # idempotent
    assert_error(api_for(carol).post(f"/api/v1/bots/{bid}/add"), 404, "not_found")
    # Nor by a contact request, either way.
    assert_error(api_for(carol).post("/api/v1/contact-requests", {"to": bid}, format="json"), 403, "forbidden")
    key = new_key(api, bot)["key"]
    assert_error(
        bot_client(key).post("/api/v1/contact-requests", {"to": str(carol.uuid)}, format="json"), 403, "forbidden"
    )


def test_anyone_adds_a_public_bot_unless_blocked(api, api_for, carol):
    bot = create_bot(api, is_public=True)
    bid = bot["user"]["id"]
    theirs = api_for(carol)
    assert theirs.post(f"/api/v1/bots/{bid}/add").status_code == 200
    key = new_key(api, bot)["key"]
    # The bot blocks carol: she can neither add it again nor reach it.
    assert bot_client(key).post("/api/v1/blocks", {"user": str(carol.uuid)}, format="json").status_code in (200, 201)
    assert_error(theirs.post(f"/api/v1/bots/{bid}/add"), 403, "blocked")


def test_a_bot_talks_in_its_direct_chat_and_in_a_group_it_was_added_to(api, alice, bob, message_worker):
    bot = create_bot(api)
    bid = bot["user"]["id"]
    direct = api.post(f"/api/v1/bots/{bid}/add").json()["conversation"]
    key = new_key(api, bot)["key"]
    cmid = new_id()
    r = bot_client(key).post(
        f"/api/v1/conversations/{direct}/messages",
        {"kind": "text", "content": "Build 42 passed", "client_msg_id": cmid},
        format="json",
    )
    assert r.status_code == 202, r.content
    stored = wait_stored(cmid)
    assert stored.sender.uuid.hex == bid.replace("-", "") and stored.text == "Build 42 passed"

    account = User.objects.get(uuid=bid)
    group = do_create_group(owner=alice, name="Team", members=[str(bob.uuid), bid])
    conv = str(group.conversation.uuid)
    assert Member.objects.filter(conversation=group.conversation, user=account, left_seq__isnull=True).exists()
    cmid = new_id()
    r = bot_client(key).post(
        f"/api/v1/conversations/{conv}/messages",
        {"kind": "text", "content": "Deployed", "client_msg_id": cmid},
        format="json",
    )
    assert r.status_code == 202, r.content
    assert wait_stored(cmid).conversation_id == group.conversation_id
    # What bob sees of the sender says it is a bot.
    page = api.get(f"/api/v1/conversations/{conv}/messages").json()["results"]
    assert any(m["sender"]["id"] == bid and m["sender"]["is_bot"] for m in page)


def test_a_bot_has_a_message_budget_of_its_own(api, settings, message_worker):
    settings.LIMIT_BOT_MESSAGES_PER_S = 1
    settings.LIMIT_BOT_MESSAGES_BURST = 2
    bot = create_bot(api)
    direct = api.post(f"/api/v1/bots/{bot['user']['id']}/add").json()["conversation"]
    client = bot_client(new_key(api, bot)["key"])
    statuses = [
        client.post(
            f"/api/v1/conversations/{direct}/messages",
            {"kind": "text", "content": f"n{i}", "client_msg_id": new_id()},
            format="json",
        ).status_code
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]
    # A person's budget is untouched by the bot's.
    r = api.post(
        f"/api/v1/conversations/{direct}/messages",
        {"kind": "text", "content": "me", "client_msg_id": new_id()},
        format="json",
    )
    assert r.status_code == 202


# --------------------------------------------------------------------------- deleting


def test_the_owner_deletes_a_bot_and_everything_of_it_stops(api, alice, closes):
    bot = create_bot(api)
    bid = bot["user"]["id"]
    api.post(f"/api/v1/bots/{bid}/add")
    key = new_key(api, bot)["key"]
    assert api.delete(f"/api/v1/bots/{bid}").status_code == 204
    account = User.objects.get(uuid=bid)
    assert account.status == UserStatus.DELETED and account.username is None
    # Its sockets close with 4403, "disabled or deleted" (4401 is a bad token).
    assert any(account.pk in item[0] and item[1] == 4403 for item in closes.items), closes.items
    assert_error(bot_client(key).get("/api/v1/me"), 401, "not_authenticated")
    assert not Contact.objects.filter(owner=alice, other=account).exists()
    assert api.get("/api/v1/bots").json()["results"] == []
    assert_error(api.delete(f"/api/v1/bots/{bid}"), 404, "not_found")
    # The name is free again.
    create_bot(api)


def test_a_deleted_bot_leaves_as_a_deleted_person_does(api, alice, bob, events):
    """The same unwinding as a person's deletion (groups.departure): the row
    is anonymous before any event, so its former contact and its groups
    see "Deleted user", and it has left the group."""
    from accounts.serializers import user_to_wire

    bot = create_bot(api)
    bid = bot["user"]["id"]
    api.post(f"/api/v1/bots/{bid}/add")
    account = User.objects.get(uuid=bid)
    group = do_create_group(owner=alice, name="Team", members=[str(bob.uuid), bid])
    with events.capture():
        assert api.delete(f"/api/v1/bots/{bid}").status_code == 204
    account.refresh_from_db()
    deleted_wire = user_to_wire(account)
    assert deleted_wire["nickname"] == "Deleted user" and account.phone is None
    assert not account.has_usable_password()
    removed = events.of_type("contact.removed")
    assert removed and all(frame["user"] == deleted_wire for _, frame in removed if frame["user"]["id"] == bid)
    assert alice.pk in events.recipients("contact.removed")
    left = [frame for _, frame in events.of_type("group.member_removed")]
    assert left and all(frame["user"]["nickname"] == "Deleted user" for frame in left if frame["user"]["id"] == bid)
    assert not Member.objects.filter(conversation=group.conversation, user=account, left_seq__isnull=True).exists()
    assert Member.objects.filter(conversation=group.conversation, user=bob, left_seq__isnull=True).exists()


def test_deleting_a_person_deletes_their_bots(api, alice, admin_user):
    bot = create_bot(api)
    do_delete_user(actor=admin_user, user_id=str(alice.uuid))
    assert User.objects.get(uuid=bot["user"]["id"]).status == UserStatus.DELETED


def test_the_owner_allows_some_people_to_add_a_private_bot(api, api_for, alice, bob, carol):
    bot = create_bot(api)
    bid = bot["user"]["id"]
    assert_error(api_for(carol).post(f"/api/v1/bots/{bid}/add"), 404, "not_found")
    r = api.put(f"/api/v1/bots/{bid}/allowed", {"users": [str(carol.uuid)]}, format="json")
    assert r.status_code == 200, r.content
    assert [u["id"] for u in r.json()["results"]] == [str(carol.uuid)]
    assert [u["id"] for u in api.get(f"/api/v1/bots/{bid}").json()["allowed"]] == [str(carol.uuid)]
    # Allowed, carol sees its card (without its secrets), and adds it.
    card = api_for(carol).get(f"/api/v1/bots/{bid}").json()
    assert card["user"]["id"] == bid and "signing_secret" not in card and "allowed" not in card
    assert api_for(carol).post(f"/api/v1/bots/{bid}/add").status_code == 200
    assert_error(api_for(bob).post(f"/api/v1/bots/{bid}/add"), 404, "not_found")
    assert_error(api_for(bob).get(f"/api/v1/bots/{bid}"), 404, "not_found")
    # Bad lists change nothing.
    for users in (["not-an-id"], [str(carol.uuid), "00000000-0000-0000-0000-000000000000"], [bid]):
        r = api.put(f"/api/v1/bots/{bid}/allowed", {"users": users}, format="json")
        assert r.status_code in (400, 404), r.content
    assert [u["id"] for u in api.get(f"/api/v1/bots/{bid}").json()["allowed"]] == [str(carol.uuid)]
    # Taken off the list: may not add it again, keeps it if added (as any contact).
    api.put(f"/api/v1/bots/{bid}/allowed", {"users": []}, format="json")
    assert Contact.objects.filter(owner=carol, other__uuid=bid).exists()
    assert_error(api_for(bob).put(f"/api/v1/bots/{bid}/allowed", {"users": []}, format="json"), 404, "not_found")


def test_the_schema_describes_a_webhook_as_the_server_sends_it(api, alice):
    """OpenAPI's WebhookOut against a real answer: the same fields, and `id`
    a UUID string (the public id), not the row's integer."""
    bot = create_bot(api, "hook_bot")
    api.post(f"/api/v1/bots/{bot['user']['id']}/add")
    group = do_create_group(owner=alice, name="Builds", members=[bot["user"]["id"]])
    r = api.post(
        f"/api/v1/bots/{bot['user']['id']}/webhooks", {"conversation": str(group.conversation.uuid)}, format="json"
    )
    assert r.status_code == 201, r.content
    sent = r.json()
    schema = api.get("/api/schema/?format=json").json()["components"]["schemas"]["WebhookOut"]
    assert set(sent) == set(schema["properties"])
    assert schema["properties"]["id"] == {"type": "string", "format": "uuid"}
    assert str(uuid.UUID(sent["id"])) == sent["id"]
    assert schema["properties"]["conversation"] == {"type": "string", "format": "uuid"}
