"""Slack incoming-webhook payloads: every accepted shape, every error."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from bots.slack import Rendered, SlackPayloadError, mrkdwn_to_plain, parse_request, render

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def text_of(payload: dict) -> str:
    return render(payload).text


def error_of(call, *args) -> SlackPayloadError:
    with pytest.raises(SlackPayloadError) as caught:
        call(*args)
    assert caught.value.status == 400
    return caught.value


# --------------------------------------------------------------------------- parse_request


def test_json_body():
    assert parse_request(JSON, b'{"text": "hello"}') == {"text": "hello"}


def test_json_body_with_charset_and_case():
    assert parse_request("Application/JSON; charset=utf-8", '{"text": "你好"}'.encode()) == {"text": "你好"}


def test_json_body_with_bom():
    assert parse_request(JSON, b'\xef\xbb\xbf{"text": "hi"}') == {"text": "hi"}


def test_form_payload():
    body = urlencode({"payload": json.dumps({"text": "a & b 你好", "username": "CI"})}).encode()
    assert parse_request(FORM, body) == {"text": "a & b 你好", "username": "CI"}


def test_form_payload_ignores_other_fields():
    body = urlencode({"payload": '{"text": "x"}', "other": "y"}).encode()
    assert parse_request(f"{FORM}; charset=utf-8", body) == {"text": "x"}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", b'{"text": "x"}'),
        ("", b'{"text": "x"}'),
        ("multipart/form-data; boundary=x", b'{"text": "x"}'),
        (JSON, b""),
        (JSON, b'{"text": "x"'),
        (JSON, b"\xff\xfe{}"),
        (JSON, b'["text"]'),
        (JSON, b'"text"'),
        (JSON, b"null"),
        (JSON, b"[" * 100_000),
        (FORM, b""),
        (FORM, b"text=hello"),
        (FORM, b"payload=%7B&payload=%7B%7D"),
        (FORM, b"payload=not-json"),
        (FORM, b"payload=%5B1%5D"),
        (FORM, b"payload=%FF%FE"),
        (FORM, b"payload=\xff"),
        (FORM, b"&".join(b"f%d=1" % i for i in range(100)) + b"&payload=%7B%7D"),
    ],
)
def test_invalid_payload(content_type, body):
    error = error_of(parse_request, content_type, body)
    assert error.code == "invalid_payload"
    assert error.message


# --------------------------------------------------------------------------- text and mrkdwn


def test_plain_text():
    assert render({"text": "deploy finished"}) == Rendered(text="deploy finished", username=None, icon_url=None)


def test_chinese_text():
    assert text_of({"text": "部署完成 ✅ <https://example.com/构建/1|查看构建>"}) == (
        "部署完成 ✅ 查看构建 (https://example.com/构建/1)"
    )


@pytest.mark.parametrize(
    ("mrkdwn", "plain"),
    [
        ("<https://x.example/a|the label>", "the label (https://x.example/a)"),
        ("<https://x.example/a>", "https://x.example/a"),
        ("<https://x.example/a|https://x.example/a>", "https://x.example/a"),
        ("<https://x.example/?a=1&amp;b=2|a &amp; b>", "a & b (https://x.example/?a=1&b=2)"),
        ("<mailto:bob@example.com|bob@example.com>", "bob@example.com"),
        ("<mailto:bob@example.com|Bob>", "Bob (mailto:bob@example.com)"),
        ("hi <@U123>", "hi @U123"),
        ("hi <@U123|bob>", "hi @bob"),
        ("join <#C024BE7LR|general>", "join #general"),
        ("join <#C024BE7LR>", "join #C024BE7LR"),
        ("<!channel> <!here> <!everyone>", "@channel @here @everyone"),
        ("<!here|here>", "@here"),
        ("<!subteam^SAZ94GDB8|@oncall> look", "@oncall look"),
        ("<!subteam^SAZ94GDB8>", "@SAZ94GDB8"),
        ("<!date^1392734382^{date_short}|Feb 18, 2014>", "Feb 18, 2014"),
        ("<!date^1392734382^{date_short}>", "2014-02-18 14:39 UTC"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
        ("&amp;lt; stays", "&lt; stays"),
        ("*bold* _it_ :tada:", "*bold* _it_ :tada:"),
        ("5 > 3 and 2 < 4", "5 > 3 and 2 < 4"),
    ],
)
def test_mrkdwn_to_plain(mrkdwn, plain):
    assert mrkdwn_to_plain(mrkdwn) == plain


def test_control_characters_stripped_from_text():
    assert text_of({"text": "a\x00b\x07c\r\nd\re\tf\x1b[31m"}) == "abc\nd\ne\tf[31m"


def test_line_of_control_characters_dropped():
    payload = {
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "\x00\x01"}}],
        "attachments": [{"text": "att"}],
    }
    assert text_of(payload) == "att"


def test_lone_surrogate_stripped():
    payload = parse_request(JSON, b'{"text": "ok\\ud800 done"}')
    assert text_of(payload) == "ok done"


# --------------------------------------------------------------------------- blocks


def test_blocks_replace_text():
    # Slack: with blocks, `text` is only the notification fallback.
    payload = {
        "text": "fallback only",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*Build* <https://ci.example/1|#1> ok"}}],
    }
    assert text_of(payload) == "*Build* #1 (https://ci.example/1) ok"


def test_text_used_when_no_block_renders():
    payload = {"text": "fallback", "blocks": [{"type": "input"}, {"type": "divider"}, {"no": "type"}]}
    assert text_of(payload) == "fallback"


def test_section_with_fields_and_accessories():
    blocks = [
        {
            "type": "section",
            "text": {"type": "plain_text", "text": "Plain <not a link> &amp;"},
            "fields": [{"type": "mrkdwn", "text": "*Env:* prod"}, {"type": "plain_text", "text": "Region: 华东"}],
            "accessory": {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": "https://x.example"},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "with picture"},
            "accessory": {"type": "image", "image_url": "https://img.example/a.png", "alt_text": "a cat"},
        },
    ]
    assert text_of({"blocks": blocks}) == (
        "Plain <not a link> &amp;\n*Env:* prod\nRegion: 华东\nOpen (https://x.example)\n"
        "with picture\na cat (https://img.example/a.png)"
    )


def test_header_context_divider_image_actions():
    blocks = [
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Incident 42"}},
        {"type": "divider"},
        {"type": "divider"},
        {
            "type": "context",
            "elements": [
                {"type": "image", "image_url": "javascript:alert(1)", "alt_text": "icon"},
                {"type": "mrkdwn", "text": "by <@U1|ann>"},
                {"type": "plain_text", "text": "2 min ago"},
            ],
        },
        {"type": "image", "image_url": "https://img.example/graph.png", "alt_text": "CPU graph"},
        {
            "type": "image",
            "title": {"type": "plain_text", "text": "Memory"},
            "slack_file": {"id": "F1"},
            "alt_text": "m",
        },
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "url": "https://x.example/ack"},
                {"type": "button", "text": {"type": "plain_text", "text": "Later"}, "action_id": "later"},
                {"type": "static_select", "placeholder": {"type": "plain_text", "text": "Pick"}},
            ],
        },
        {"type": "video", "title": {"type": "plain_text", "text": "ignored"}},
        {"type": "divider"},
    ]
    assert text_of({"blocks": blocks}) == (
        "Incident 42\n---\nicon by @ann 2 min ago\nCPU graph (https://img.example/graph.png)\nMemory\nm\n"
        "Ack (https://x.example/ack) | Later"
    )


def test_rich_text():
    block = {
        "type": "rich_text",
        "elements": [
            {
                "type": "rich_text_section",
                "elements": [
                    {"type": "text", "text": "Hi ", "style": {"bold": True}},
                    {"type": "user", "user_id": "U1"},
                    {"type": "text", "text": " see "},
                    {"type": "link", "url": "https://x.example", "text": "this"},
                    {"type": "text", "text": " in "},
                    {"type": "channel", "channel_id": "C1"},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "name": "thumbsup", "unicode": "1f44d"},
                    {"type": "emoji", "name": "party_parrot"},
                    {"type": "text", "text": " &amp; <b>"},
                    {"type": "broadcast", "range": "here"},
                    {"type": "usergroup", "usergroup_id": "S1"},
                    {"type": "date", "timestamp": 1392734382, "format": "{date}", "fallback": "Feb 18"},
                    {"type": "color", "value": "#F405B3"},
                    {"type": "unknown", "text": "dropped"},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "bullet",
                "elements": [
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "one"}]},
                    {"type": "rich_text_section", "elements": [{"type": "text", "text": "two"}]},
                ],
            },
            {
                "type": "rich_text_list",
                "style": "ordered",
                "indent": 1,
                "offset": 2,
                "elements": [{"type": "rich_text_section", "elements": [{"type": "text", "text": "three"}]}],
            },
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "x = 1\ny = 2"}]},
            {"type": "rich_text_quote", "elements": [{"type": "text", "text": "quoted\nlines"}]},
        ],
    }
    assert text_of({"blocks": [block]}) == (
        "Hi @U1 see this (https://x.example) in #C1 👍:party_parrot: &amp; <b>@here@S1Feb 18#F405B3\n"
        "• one\n• two\n  3. three\nx = 1\ny = 2\n> quoted\n> lines"
    )


def test_markdown_block():
    assert text_of({"blocks": [{"type": "markdown", "text": "**bold** [x](https://x.example)"}]}) == (
        "**bold** [x](https://x.example)"
    )


def test_blocks_as_json_string():
    payload = {"blocks": json.dumps([{"type": "header", "text": {"type": "plain_text", "text": "T"}}])}
    assert text_of(payload) == "T"


def test_malformed_nested_values_are_skipped():
    blocks = [
        {"type": "section", "text": "raw string", "fields": "nope", "accessory": [1]},
        {"type": "section", "text": {"type": "mrkdwn", "text": 5}},
        {"type": "context", "elements": "nope"},
        {"type": "actions", "elements": [None, {"type": "button"}]},
        {"type": "rich_text", "elements": [None, {"type": "rich_text_list", "elements": "x"}]},
    ]
    assert text_of({"blocks": blocks}) == "raw string"


# --------------------------------------------------------------------------- attachments


def test_attachments():
    payload = {
        "text": "Alert <!channel>",
        "attachments": [
            {
                "fallback": "not shown",
                "pretext": "Pre",
                "author_name": "Grafana",
                "title": "CPU &gt; 90%",
                "title_link": "https://g.example/d?a=1&amp;b=2",
                "text": "on <https://h.example|host-1>",
                "fields": [
                    {"title": "Priority", "value": "High", "short": False},
                    {"title": "Only title"},
                    {"value": "only value"},
                    {"title": "", "value": ""},
                    "junk",
                ],
                "actions": [{"type": "button", "text": "Silence", "url": "https://g.example/s"}],
                "footer": "Grafana v10",
            },
            {"fallback": "Second: summary only", "color": "#f00"},
            {"blocks": [{"type": "section", "text": {"type": "plain_text", "text": "block in attachment"}}]},
            {},
        ],
    }
    assert text_of(payload) == (
        "Alert @channel\nPre\nGrafana\nCPU > 90% (https://g.example/d?a=1&b=2)\non host-1 (https://h.example)\n"
        "Priority: High\nOnly title\nonly value\nSilence (https://g.example/s)\nGrafana v10\n"
        "Second: summary only\nblock in attachment"
    )


def test_attachments_with_blocks_and_text():
    payload = {
        "text": "fallback",
        "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "Head"}}],
        "attachments": [{"text": "att"}],
    }
    assert text_of(payload) == "Head\natt"


def test_attachments_as_json_string():
    assert text_of({"attachments": '[{"text": "att"}]'}) == "att"


# --------------------------------------------------------------------------- username and icon


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("Deploy Bot", "Deploy Bot"),
        ("  部署机器人  ", "部署机器人"),
        ("a\x00b\x1bc\u202ed", "abcd"),
        ("line\nbreak\ttab", "line break tab"),
        ("x" * 200, "x" * 80),
        ("\x00\n ", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_username(username, expected):
    assert render({"text": "t", "username": username}).username == expected


@pytest.mark.parametrize(
    ("icon_url", "expected"),
    [
        ("https://img.example/i.png", "https://img.example/i.png"),
        ("http://img.example/i.png", "http://img.example/i.png"),
        ("HTTPS://img.example/i.png", "HTTPS://img.example/i.png"),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,AAAA", None),
        ("ftp://img.example/i.png", None),
        ("/relative.png", None),
        ("https://", None),
        ("https://img.example/a b.png", None),
        ("https://img.example/\x00.png", None),
        ("https://[::1", None),
        ("https://img.example/" + "a" * 3000, None),
        (["https://img.example/i.png"], None),
    ],
)
def test_icon_url(icon_url, expected):
    assert render({"text": "t", "icon_url": icon_url}).icon_url == expected


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"text": ""},
        {"text": "  \n\t "},
        {"text": "\x00\x01"},
        {"text": None, "blocks": None, "attachments": None},
        {"blocks": [{"type": "divider"}, {"type": "input"}]},
        {"attachments": [{}, {"color": "good"}]},
        {"blocks": [], "attachments": []},
        {"blocks": "", "username": "bot"},
    ],
)
def test_no_text(payload):
    assert error_of(render, payload).code == "no_text"


@pytest.mark.parametrize(
    "payload",
    [
        {"text": 5},
        {"text": ["a"]},
        {"text": "a", "attachments": {"text": "x"}},
        {"text": "a", "attachments": ["x"]},
        {"text": "a", "attachments": "{not json"},
    ],
)
def test_invalid_payload_shapes(payload):
    assert error_of(render, payload).code == "invalid_payload"


@pytest.mark.parametrize("blocks", [{"type": "divider"}, [1], ["section"], "[oops", 5])
def test_invalid_blocks_format(blocks):
    assert error_of(render, {"text": "a", "blocks": blocks}).code == "invalid_blocks_format"


def test_too_many_blocks():
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "x"}}] * 51
    assert error_of(render, {"blocks": blocks}).code == "invalid_blocks"
    assert text_of({"blocks": blocks[:50]}) == "\n".join(["x"] * 50)


def test_too_many_attachments():
    assert error_of(render, {"text": "a", "attachments": [{"text": "x"}] * 101}).code == "too_many_attachments"
    assert text_of({"attachments": [{"text": "x"}] * 100}) == "\n".join(["x"] * 100)


# --------------------------------------------------------------------------- size


def test_at_the_limit_is_kept(settings):
    settings.MAX_TEXT = 10
    rendered = render({"text": "一二三四五六七八九十"})
    assert (rendered.text, rendered.truncated) == ("一二三四五六七八九十", False)


def test_over_the_limit_is_truncated_like_slack(settings):
    settings.MAX_TEXT = 10
    rendered = render({"text": "一二三四五六七八九十十一"})
    assert (rendered.text, rendered.truncated) == ("一二三四五六七八九…", True)
    assert len(rendered.text) == 10


def test_limit_counts_the_rendered_text():
    # The limit applies to what is shown ("label (https://x.example/long)"), not the markup.
    rendered = render({"text": "<https://x.example/long|label>"}, max_len=12)
    assert rendered.truncated
    assert rendered.text == "label (http…"


def test_max_text_from_settings_by_default(settings):
    settings.MAX_TEXT = 5000
    rendered = render({"text": "x" * 6000})
    assert len(rendered.text) == 5000
    assert rendered.truncated
