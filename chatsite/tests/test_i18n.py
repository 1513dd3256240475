"""The server's texts for a person (error messages) are in their language:
the account's choice wins on every device, else the browser's (its language
cookie, then Accept-Language), else English; over REST, the server's own
pages and the socket alike (chatsite.i18n)."""

from __future__ import annotations

import threading
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.utils import translation
from django.utils.translation import gettext

pytestmark = pytest.mark.django_db(transaction=True)

WRONG_LOGIN = "Wrong login or password."
EMPTY_TEXT = "Must not be empty."
NO_SUCH_CONVERSATION = "No such conversation."


def chinese(text: str) -> str:
    with translation.override("zh-hans"):
        translated = gettext(text)
    assert translated != text, f"no Chinese for {text!r}"
    return translated


def test_an_anonymous_request_is_answered_in_the_browsers_language(anon):
    wrong = {"login": "nobody_here", "password": "not-the-password"}
    asked = anon.post("/api/v1/auth/login", wrong, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert asked.status_code == 401
    assert asked.json()["error"]["message"] == chinese(WRONG_LOGIN)
    plain = anon.post("/api/v1/auth/login", wrong, format="json")
    assert plain.json()["error"]["message"] == WRONG_LOGIN


def test_the_accounts_language_wins_over_the_clients(api_for, alice):
    from accounts.models import User

    client = api_for(alice)
    missing = f"/api/v1/conversations/{uuid.uuid4()}/messages"
    assert client.get(missing, HTTP_ACCEPT_LANGUAGE="zh-CN").json()["error"]["message"] == chinese(NO_SUCH_CONVERSATION)
    User.objects.filter(pk=alice.pk).update(language="zh-hans")
    # A client that asks for English (or for nothing) still gets Chinese.
    for extra in ({"HTTP_ACCEPT_LANGUAGE": "en"}, {}):
        assert client.get(missing, **extra).json()["error"]["message"] == chinese(NO_SUCH_CONVERSATION)
    # A body that is not JSON, read once the account is known.
    answer = client.patch("/api/v1/me", "{", content_type="application/json")
    assert answer.json()["error"]["message"] == chinese("The body is not valid JSON.")


async def test_a_socket_speaks_the_language_of_its_handshake(ws_connect, alice, bob, direct):
    from accounts.models import User

    frame = {"type": "message.send", "conversation": direct, "kind": "text", "content": "  "}
    english = await ws_connect(alice)
    await english.send({**frame, "client_msg_id": str(uuid.uuid4())})
    error = await english.expect("error")
    assert error["message"] == f"content: {EMPTY_TEXT}", error
    browser = await ws_connect(alice, headers=[(b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.8")])
    await browser.send({**frame, "client_msg_id": str(uuid.uuid4())})
    error = await browser.expect("error")
    assert error["message"] == f"content: {chinese(EMPTY_TEXT)}", error
    # The account's choice wins over the browser's.
    await sync_to_async(User.objects.filter(pk=bob.pk).update)(language="zh-hans")
    chosen = await ws_connect(bob, headers=[(b"accept-language", b"en")])
    await chosen.send(
        {
            "type": "message.send",
            "conversation": str(uuid.uuid4()),
            "kind": "text",
            "content": "hi",
            "client_msg_id": str(uuid.uuid4()),
        }
    )
    error = await chosen.expect("error")
    assert error["code"] == "not_found" and error["message"] == chinese(NO_SUCH_CONVERSATION), error


async def test_a_send_that_fails_off_the_loop_is_refused_in_the_sockets_language(
    ws_connect, alice, direct, monkeypatch
):
    """What makes a send fail can happen on a thread that knows no one's
    language (the Kafka producer's delivery report; the in-process bus's
    store step): the error frame is still in the socket's."""
    from chatsite import bus
    from chatsite.bus import STORE, kafka

    the_bus = bus.get_bus()
    if isinstance(the_bus, kafka.KafkaBus):

        def undelivered(topic, key, value, on_delivery):
            threading.Thread(target=on_delivery, args=("the broker refused it", None)).start()

        monkeypatch.setattr(the_bus, "_produce", undelivered)
        told = "The message broker did not confirm the message; retry later."
    else:

        def failing(records):
            raise RuntimeError("the database went away")

        for topic in bus.topics(group=STORE):
            monkeypatch.setitem(bus._handlers, (STORE, topic), failing)
        told = "Storing failed; retry with the same client_msg_id."
    frame = {"type": "message.send", "conversation": direct, "kind": "text", "content": "hi"}
    for headers, wanted in (([(b"accept-language", b"zh-CN")], chinese(told)), ([], told)):
        socket = await ws_connect(alice, headers=headers)
        await socket.send({**frame, "client_msg_id": str(uuid.uuid4())})
        error = await socket.expect("error", skip=("presence",))
        assert (error["code"], error["message"]) == ("unavailable", wanted), error


def test_the_sign_up_page_says_whats_wrong_in_the_browsers_language(client):
    page = client.post(
        "/register",
        {"username": "newcomer", "password": "short", "password2": "short"},
        HTTP_ACCEPT_LANGUAGE="zh-CN",
    )
    html = page.content.decode()
    assert chinese("At least 8 characters.") in html
    assert "At least 8 characters." not in html


def test_an_error_codes_own_text_is_in_the_language_where_it_is_raised():
    from chatsite.errors import NotFound

    with translation.override("zh-hans"):
        assert NotFound().as_dict() == {"code": "not_found", "message": chinese("Not found.")}
    with translation.override("en"):
        assert NotFound().message == "Not found."


@pytest.mark.parametrize(
    "header, wanted",
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", ["zh-CN", "zh", "en"]),
        ("en;q=0.5, zh-CN", ["zh-CN", "en"]),  # by weight, not by place
        ("fr, de;q=0, en;q=0.3", ["fr", "en"]),  # q=0 means "not this one"
        ("de;q=x, en", ["en"]),  # a weight that is not a number drops its tag
        ("*", ["*"]),
        (" , ;q=1,", []),
        ("", []),
    ],
)
def test_accept_language_is_read_by_weight(header, wanted):
    from chatsite.i18n import accepted_languages

    assert accepted_languages(header) == wanted


def test_a_socket_skips_languages_the_product_has_not_for_the_next_it_has():
    from chatsite.i18n import socket_language

    scope = {"headers": [(b"accept-language", b"fr-FR, de;q=0.9, zh-TW;q=0.8, en;q=0.1")]}
    assert socket_language(None, scope) == translation.get_supported_language_variant("zh-TW")
    assert socket_language(None, {"headers": [(b"accept-language", b"en;q=0.2, zh-CN;q=0.9")]}) == "zh-hans"
    assert socket_language(None, {"headers": []}) == "en"


def test_a_refusal_that_names_a_state_is_one_whole_sentence(api_for, alice, carol):
    """Not a translated state word dropped into an English sentence's order."""
    from accounts.models import User

    User.objects.filter(pk=carol.pk).update(language="zh-hans")
    asked = api_for(alice).post("/api/v1/contact-requests", {"to": str(carol.uuid)}, format="json").json()
    receiver = api_for(carol)
    assert receiver.post(f"/api/v1/contact-requests/{asked['id']}/reject").status_code == 200
    again = receiver.post(f"/api/v1/contact-requests/{asked['id']}/accept")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "该请求已被拒绝。"
