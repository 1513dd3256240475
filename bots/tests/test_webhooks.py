"""Incoming webhooks: Slack's payloads post as the bot, through the same
pipeline; Slack's answers and errors; nothing posted on a refusal."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from backoffice.services import do_disable_user
from bots.models import Webhook
from chatsite.testing import assert_error
from conversations.models import Message
from groups.models import Group
from groups.services import do_admin_set_group_status, do_create_group, do_remove_member

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook(api, alice, bob):
    """A bot of alice's in a group with alice and bob, and a webhook into that group."""
    bot = api.post("/api/v1/bots", {"username": "ci_bot", "nickname": "CI"}, format="json").json()
    bid = bot["user"]["id"]
    api.post(f"/api/v1/bots/{bid}/add")
    group = do_create_group(owner=alice, name="Builds", members=[str(bob.uuid), bid])
    r = api.post(f"/api/v1/bots/{bid}/webhooks", {"conversation": str(group.conversation.uuid)}, format="json")
    assert r.status_code == 201, r.content
    created = r.json()
    path = created["url"].split("testserver", 1)[1]
    return {"bot": User.objects.get(uuid=bid), "group": group, "path": path, **created}


def _messages(group: Group, bot: User) -> list[Message]:
    return list(Message.objects.filter(conversation=group.conversation, sender=bot).order_by("seq"))


def _wait_count(group: Group, bot: User, n: int) -> list[Message]:
    deadline = time.monotonic() + 10
    while len(found := _messages(group, bot)) < n:
        assert time.monotonic() < deadline, f"{len(found)} of {n} stored"
        time.sleep(0.05)
    return found


def post_json(path: str, payload, **headers):
    return APIClient().post(path, json.dumps(payload), content_type="application/json", **headers)


def test_the_url_is_shown_once_and_only_its_hash_is_kept(api, hook):
    assert hook["url"].startswith("http://testserver/api/v1/hooks/wsch_")
    token = hook["path"].rsplit("/", 1)[1]
    stored = Webhook.objects.get(uuid=hook["id"])
    assert hook["id"] == str(stored.uuid)  # a public id, not the row's
    assert token not in str(Webhook.objects.filter(pk=stored.pk).values().get())
    listed = api.get(f"/api/v1/bots/{hook['bot'].uuid}/webhooks").json()["results"]
    assert [w["id"] for w in listed] == [hook["id"]] and "url" not in listed[0]
    assert listed[0]["conversation"] == str(hook["group"].conversation.uuid)


def test_the_webhooks_secret_never_reaches_the_log_in_either_format(hook):
    """The access log names the path, and the JSON format writes the path out
    as a field of its own: the secret in it is masked there too."""
    import io
    import logging

    from chatsite.logging import JsonFormatter, RedactSecretsFilter, RequestIdFilter

    token = hook["path"].rsplit("/", 1)[1]
    lines = {"text": io.StringIO(), "json": io.StringIO()}
    handlers = []
    for name, formatter in (("text", logging.Formatter("%(message)s")), ("json", JsonFormatter())):
        handler = logging.StreamHandler(lines[name])
        handler.setFormatter(formatter)
        handler.addFilter(RequestIdFilter())
        handler.addFilter(RedactSecretsFilter())
        handlers.append(handler)
    access = logging.getLogger("chatsite.access")
    level = access.level
    access.setLevel(logging.INFO)
    for handler in handlers:
        access.addHandler(handler)
    try:
        post_json(hook["path"], {"text": "deploy done"})
    finally:
        for handler in handlers:
            access.removeHandler(handler)
        access.setLevel(level)
    written = json.loads(lines["json"].getvalue().splitlines()[-1])
    assert written["path"].startswith("/api/v1/hooks/wsch_") and token not in written["path"], written
    assert "/api/v1/hooks/wsch_" in lines["text"].getvalue()
    for name, out in lines.items():
        assert token not in out.getvalue(), name


def test_a_json_payload_posts_as_the_bot(hook, message_worker):
    r = post_json(hook["path"], {"text": "Build <https://ci.example/42|#42> passed &amp; deployed"})
    assert (r.status_code, r.content, r["Content-Type"]) == (200, b"ok", "text/plain")
    [message] = _wait_count(hook["group"], hook["bot"], 1)
    assert message.text == "Build #42 (https://ci.example/42) passed & deployed"


def test_a_form_payload_blocks_and_attachments_post_as_plain_text(hook, message_worker):
    payload = {
        "text": "fallback only",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "部署完成"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "*main* is green"}},
        ],
        "attachments": [
            {"title": "Logs", "title_link": "https://ci.example/logs", "fields": [{"title": "Time", "value": "3m"}]}
        ],
    }
    r = APIClient().post(
        hook["path"], urlencode({"payload": json.dumps(payload)}), content_type="application/x-www-form-urlencoded"
    )
    assert (r.status_code, r.content) == (200, b"ok"), r.content
    [message] = _wait_count(hook["group"], hook["bot"], 1)
    assert "部署完成" in message.text and "main" in message.text and "https://ci.example/logs" in message.text
    assert "Time: 3m" in message.text and "fallback only" not in message.text


def test_a_username_override_shows_in_the_message(hook, message_worker):
    assert (
        post_json(hook["path"], {"text": "disk 91%", "username": "Monitor", "icon_url": "https://x/i.png"}).status_code
        == 200
    )
    [message] = _wait_count(hook["group"], hook["bot"], 1)
    assert message.text == "Monitor: disk 91%"


def test_the_same_idempotency_key_posts_once(hook, message_worker):
    for _ in range(3):
        r = post_json(hook["path"], {"text": "once"}, HTTP_IDEMPOTENCY_KEY="build-42")
        assert r.status_code == 200, r.content
    assert post_json(hook["path"], {"text": "twice"}, HTTP_IDEMPOTENCY_KEY="build-43").status_code == 200
    found = _wait_count(hook["group"], hook["bot"], 2)
    time.sleep(0.3)
    assert [m.text for m in _messages(hook["group"], hook["bot"])] == ["once", "twice"] == [m.text for m in found]
    assert post_json(hook["path"], {"text": "x"}, HTTP_IDEMPOTENCY_KEY="k" * 256).content == b"invalid_payload"


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"{not json", "application/json", b"invalid_payload"),
        (b"[1, 2]", "application/json", b"invalid_payload"),
        (b"{}", "application/json", b"no_text"),
        (b'{"text": "   "}', "application/json", b"no_text"),
        (b"text=hello", "application/x-www-form-urlencoded", b"invalid_payload"),
        (b"hello", "text/plain", b"invalid_payload"),
        (b'{"blocks": "no"}', "application/json", b"invalid_blocks_format"),
    ],
)
def test_a_bad_payload_is_refused_as_slack_does_and_posts_nothing(hook, body, content_type, code, message_worker):
    r = APIClient().post(hook["path"], body, content_type=content_type)
    assert (r.status_code, r.content) == (400, code)
    time.sleep(0.2)
    assert _messages(hook["group"], hook["bot"]) == []


def test_refusals_by_state(api, alice, admin_user, hook, message_worker):
    unknown = hook["path"][:-4] + "AAAA"
    assert (post_json(unknown, {"text": "x"}).status_code, post_json(unknown, {"text": "x"}).content) == (
        404,
        b"no_service",
    )
    assert post_json("/api/v1/hooks/not-a-token", {"text": "x"}).content == b"no_service"
    # The bot removed from the group: it may no longer post there.
    do_remove_member(user=alice, group_id=str(hook["group"].uuid), member_id=str(hook["bot"].uuid))
    r = post_json(hook["path"], {"text": "x"})
    assert (r.status_code, r.content) == (403, b"action_prohibited")
    assert _messages(hook["group"], hook["bot"]) == []


def test_a_disabled_group_and_a_disabled_owner(api, alice, admin_user, hook, message_worker):
    do_admin_set_group_status(group_id=str(hook["group"].uuid), status="disabled")
    r = post_json(hook["path"], {"text": "x"})
    assert (r.status_code, r.content) == (410, b"channel_is_archived")
    do_admin_set_group_status(group_id=str(hook["group"].uuid), status="active")
    do_disable_user(actor=admin_user, user_id=str(alice.uuid))
    r = post_json(hook["path"], {"text": "x"})
    assert (r.status_code, r.content) == (404, b"no_service")
    assert _messages(hook["group"], hook["bot"]) == []


def test_a_revoked_webhook_stops(api, hook):
    r = api.delete(f"/api/v1/bots/{hook['bot'].uuid}/webhooks/{hook['id']}")
    assert r.status_code == 204
    assert post_json(hook["path"], {"text": "x"}).content == b"no_service"
    assert_error(api.delete(f"/api/v1/bots/{hook['bot'].uuid}/webhooks/{hook['id']}x"), 404, "not_found")
    row = Webhook.objects.get(uuid=hook["id"]).pk
    assert_error(api.delete(f"/api/v1/bots/{hook['bot'].uuid}/webhooks/{row}"), 404, "not_found")


def test_a_webhook_only_into_a_conversation_the_bot_is_in(api, alice, bob):
    bot = api.post("/api/v1/bots", {"username": "lonely_bot"}, format="json").json()
    group = do_create_group(owner=alice, name="No bots", members=[str(bob.uuid)])
    r = api.post(
        f"/api/v1/bots/{bot['user']['id']}/webhooks", {"conversation": str(group.conversation.uuid)}, format="json"
    )
    assert_error(r, 404, "not_found")


def test_webhook_posts_have_the_bots_rate(hook, settings, message_worker):
    settings.LIMIT_BOT_MESSAGES_PER_S, settings.LIMIT_BOT_MESSAGES_BURST = 1, 2
    answers = [post_json(hook["path"], {"text": f"n{i}"}) for i in range(3)]
    assert [(a.status_code, a.content) for a in answers] == [(200, b"ok"), (200, b"ok"), (429, b"rate_limited")]
    assert int(answers[2]["Retry-After"]) >= 1


def test_a_repeated_key_answers_as_the_first_did_and_spends_no_budget(hook, settings, message_worker):
    """The bot's budget nearly spent: repeats of a request already posted
    still answer `ok` (nothing is posted again) and cost nothing, so the
    budget left is there for the next new message."""
    settings.LIMIT_BOT_MESSAGES_PER_S, settings.LIMIT_BOT_MESSAGES_BURST = 0.001, 2
    assert post_json(hook["path"], {"text": "build 42 ok"}, HTTP_IDEMPOTENCY_KEY="k42").content == b"ok"
    _wait_count(hook["group"], hook["bot"], 1)
    repeats = [post_json(hook["path"], {"text": "build 42 ok"}, HTTP_IDEMPOTENCY_KEY="k42") for _ in range(3)]
    assert [(r.status_code, r.content) for r in repeats] == [(200, b"ok")] * 3
    assert post_json(hook["path"], {"text": "build 43 ok"}, HTTP_IDEMPOTENCY_KEY="k43").content == b"ok"
    refused = post_json(hook["path"], {"text": "build 44 ok"}, HTTP_IDEMPOTENCY_KEY="k44")
    assert (refused.status_code, refused.content) == (429, b"rate_limited")
    assert [m.text for m in _wait_count(hook["group"], hook["bot"], 2)] == ["build 42 ok", "build 43 ok"]
