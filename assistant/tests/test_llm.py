"""The chat-completions client against the local stand-in server."""

from __future__ import annotations

import logging
import socket

import pytest

from assistant.llm import LLMConfig, LLMRejected, LLMUnavailable, chat_completions_url, complete
from assistant.tests.llm_standin import LLMStandIn

KEY = "sk-test-secret-key-123"
MESSAGES = [
    {"role": "system", "content": "Summarise the unread messages."},
    {"role": "user", "content": "alice: 明天开会\nbob: ok, 10:00?"},
]


@pytest.fixture
def standin():
    with LLMStandIn() as server:
        yield server


def ask(server: LLMStandIn, *, url: str | None = None, api_key: str | None = KEY, **kwargs) -> str:
    options = {"model": "test-model", "timeout_s": 5.0, "max_tokens": 64, **kwargs}
    return complete(MESSAGES, url=url or server.url, api_key=api_key, **options)


def test_answer(standin):
    assert ask(standin) == "summary of 1 messages: alice: 明天开会\nbob: ok, 10:00?"
    (request,) = standin.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"model": "test-model", "messages": MESSAGES, "max_tokens": 64, "stream": False}


def test_model_and_max_tokens_sent(standin):
    ask(standin, model="qwen2.5-7b-instruct", max_tokens=300)
    assert standin.requests[-1].body["model"] == "qwen2.5-7b-instruct"
    assert standin.requests[-1].body["max_tokens"] == 300


def test_bearer_key_sent(standin):
    ask(standin)
    assert standin.requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("api_key", [None, ""])
def test_no_key_no_authorization_header(standin, api_key):
    ask(standin, api_key=api_key)
    assert "authorization" not in standin.requests[-1].headers


@pytest.mark.parametrize(
    ("given", "endpoint"),
    [
        ("http://h:1/v1/chat/completions", "http://h:1/v1/chat/completions"),
        ("http://h:1/v1/chat/completions/", "http://h:1/v1/chat/completions"),
        ("https://api.example.com/v1", "https://api.example.com/v1/chat/completions"),
        ("https://api.example.com/v1/", "https://api.example.com/v1/chat/completions"),
        (
            "https://h/openai/deployments/x?api-version=1",
            "https://h/openai/deployments/x/chat/completions?api-version=1",
        ),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/v1/chat/completions"),
    ],
)
def test_chat_completions_url(given, endpoint):
    assert chat_completions_url(given) == endpoint


@pytest.mark.parametrize("bad", ["", "api.example.com/v1", "ftp://h/v1", "http:///v1", "file:///etc/passwd"])
def test_bad_url_refused(bad):
    with pytest.raises(ValueError):
        chat_completions_url(bad)


def test_full_url_and_bare_host_reach_the_same_endpoint(standin):
    ask(standin, url=standin.completions_url)
    ask(standin, url=standin.base_url)
    assert [r.path for r in standin.requests] == ["/v1/chat/completions", "/v1/chat/completions"]


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_are_unavailable(standin, status):
    standin.status = status
    with pytest.raises(LLMUnavailable) as caught:
        ask(standin)
    assert caught.value.status == status
    assert caught.value.reason == f"HTTP {status}"


@pytest.mark.parametrize(("status", "word"), [(401, "API key"), (403, "API key"), (400, "model"), (404, "model")])
def test_refusals_are_rejected(standin, status, word):
    standin.status = status
    with pytest.raises(LLMRejected) as caught:
        ask(standin)
    assert caught.value.status == status
    assert word in caught.value.reason


def test_wrong_path_is_rejected(standin):
    with pytest.raises(LLMRejected) as caught:
        ask(standin, url=standin.base_url + "/nowhere/chat/completions")
    assert caught.value.status == 404


def test_timeout(standin):
    standin.delay_s = 10
    with pytest.raises(LLMUnavailable) as caught:
        ask(standin, timeout_s=0.3)
    assert caught.value.reason == "timed out after 0.3s"


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LLMUnavailable) as caught:
        complete(MESSAGES, url=f"http://127.0.0.1:{port}/v1", api_key=KEY, model="m", timeout_s=2, max_tokens=8)
    assert caught.value.reason == "network error (ConnectError)"
    assert caught.value.status is None


def test_malformed_json(standin):
    standin.malformed = True
    with pytest.raises(LLMUnavailable) as caught:
        ask(standin)
    assert caught.value.reason == "malformed response: not JSON"


@pytest.mark.parametrize(
    "reply",
    [
        {},
        [],
        "text",
        {"choices": []},
        {"choices": [{}]},
        {"choices": [{"message": {"role": "assistant"}}]},
        {"choices": [{"message": {"role": "assistant", "content": None, "tool_calls": []}}]},
        {"choices": [{"message": {"content": 5}}]},
        {"choices": [{"message": {"content": [{"type": "image_url"}]}}]},
    ],
)
def test_not_a_completion(standin, reply):
    standin.reply = reply
    with pytest.raises(LLMUnavailable) as caught:
        ask(standin)
    assert caught.value.reason == "malformed response: no choices[0].message.content"


def test_empty_answer(standin):
    standin.reply = {"choices": [{"message": {"content": "  \n"}}]}
    with pytest.raises(LLMUnavailable, match="empty answer"):
        ask(standin)


def test_content_parts_joined(standin):
    standin.reply = {
        "choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}]
    }
    assert ask(standin) == "ab"


def test_failures_never_carry_key_or_content(standin, caplog):
    caplog.set_level(logging.INFO, logger="assistant.llm")
    ask(standin)
    for setting in ({"status": 500}, {"status": 401}, {"malformed": True}):
        standin.status, standin.malformed = 200, False
        for name, value in setting.items():
            setattr(standin, name, value)
        with pytest.raises((LLMUnavailable, LLMRejected)) as caught:
            ask(standin)
        assert KEY not in str(caught.value) and "明天" not in str(caught.value)
    assert caplog.records
    assert all(KEY not in r.getMessage() and "明天" not in r.getMessage() for r in caplog.records)


def test_config(standin):
    config = LLMConfig(url=standin.url, model="m", api_key=KEY, timeout_s=5, max_tokens=10)
    assert config.complete(MESSAGES).startswith("summary of 1 messages")
    assert standin.requests[-1].body["max_tokens"] == 10
    assert KEY not in repr(config)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"url": "not a url", "model": "m"},
        {"url": "http://h/v1", "model": ""},
        {"url": "http://h/v1", "model": "m", "timeout_s": 0},
        {"url": "http://h/v1", "model": "m", "max_tokens": 0},
    ],
)
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        LLMConfig(**kwargs)


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "tool", "content": "x"}], [{"role": "user"}], [{"role": "user", "content": 1}], ["hi"]],
)
def test_bad_messages_refused_before_sending(standin, messages):
    with pytest.raises(ValueError):
        complete(messages, url=standin.url, api_key=None, model="m", timeout_s=5, max_tokens=8)
    assert standin.requests == []
