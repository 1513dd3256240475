"""Message search (GET /messages/search), the same cases against every
backend this database can serve: the index (Mroonga in the real-services run
on MariaDB, FTS5 in the embedded run on SQLite) and LIKE over it.

Messages are stored through the store step and indexed as the bus would
(search.indexer.index_conversations); tests/test_indexer.py covers the
indexer on the bus itself."""

from __future__ import annotations

import datetime as dt

import pytest

from chatsite.drf import encode_cursor
from chatsite.testing import assert_error
from conftest import REAL_MYSQL
from messaging.tests.helpers import new_id, store_text_sync

URL = "/api/v1/messages/search"


@pytest.fixture(params=["index", "like"])
def backend(request, settings):
    from search import backends

    if request.param == "index":
        settings.SEARCH_BACKEND = "mroonga" if REAL_MYSQL else "fts5"
    else:
        settings.SEARCH_BACKEND = "like"
    backends.forget_choice()
    yield settings.SEARCH_BACKEND
    backends.forget_choice()


def index(*conversations) -> None:
    from conversations.models import Conversation
    from search.indexer import index_conversations

    index_conversations(Conversation.objects.filter(uuid__in=conversations).values_list("pk", flat=True))


def say(sender, conversation: str, text: str):
    message = store_text_sync(sender=sender, conversation_uuid=conversation, text=text)
    index(conversation)
    return message


def found(api, q: str, **params) -> list[str]:
    response = api.get(URL, {"q": q, **params})
    assert response.status_code == 200, response.content
    return [m["content"] for m in response.json()["results"]]


def test_the_real_run_searches_with_mroonga(db):
    """make test installs and enables Mroonga on the test MariaDB: without it
    the real run would test LIKE twice and call it Mroonga."""
    from search import backends

    expected = "mroonga" if REAL_MYSQL else "fts5"
    assert backends.table_kind() == expected
    assert backends.available()[0] == expected


def test_chinese_is_found_by_any_substring_of_two_or_more_characters(backend, api, alice, bob, direct):
    say(bob, direct, "我们说中文吧")
    say(bob, direct, "中国的文字")
    assert found(api, "中文") == ["我们说中文吧"]
    assert found(api, "说中文") == ["我们说中文吧"]
    assert found(api, "我们说中文吧") == ["我们说中文吧"]
    assert found(api, "文吧") == ["我们说中文吧"]
    # Characters that are there, but not next to each other.
    assert found(api, "我说") == []
    assert found(api, "中字") == []
    # One character is a substring too.
    assert found(api, "吧") == ["我们说中文吧"]
    assert sorted(found(api, "中")) == sorted(["我们说中文吧", "中国的文字"])


def test_japanese_and_korean_substrings(backend, api, alice, bob, direct):
    say(bob, direct, "日本語のテキストです")
    say(bob, direct, "한국어 메시지입니다")
    assert found(api, "テキスト") == ["日本語のテキストです"]
    assert found(api, "本語") == ["日本語のテキストです"]
    assert found(api, "메시지") == ["한국어 메시지입니다"]


def test_words_match_by_prefix_and_all_must_match(backend, api, alice, bob, direct):
    say(bob, direct, "Did you take the blue umbrella home?")
    say(bob, direct, "the umbrellas are blue")
    say(bob, direct, "a red umbrella")
    assert sorted(found(api, "umbrella")) == sorted(
        ["Did you take the blue umbrella home?", "the umbrellas are blue", "a red umbrella"]
    )
    assert sorted(found(api, "blue umbr")) == sorted(["Did you take the blue umbrella home?", "the umbrellas are blue"])
    # A word inside another word is not a word prefix.
    assert found(api, "brella") == []
    assert found(api, "blue green") == []


def test_case_accents_and_width_are_folded(backend, api, alice, bob, direct):
    say(bob, direct, "Meet me at the Café Crème")
    say(bob, direct, "ＦＵＬＬＷＩＤＴＨ letters")
    assert found(api, "cafe creme") == ["Meet me at the Café Crème"]
    assert found(api, "CAFÉ") == ["Meet me at the Café Crème"]
    assert found(api, "fullwidth") == ["ＦＵＬＬＷＩＤＴＨ letters"]


def test_mixed_chinese_and_english(backend, api, alice, bob, direct):
    say(bob, direct, "明天的meeting改到下午3点")
    say(bob, direct, "meeting notes in English")
    assert found(api, "meeting 下午") == ["明天的meeting改到下午3点"]
    assert sorted(found(api, "meeting")) == sorted(["明天的meeting改到下午3点", "meeting notes in English"])


def test_emoji_are_found_and_variation_selectors_do_not_matter(backend, api, alice, bob, direct):
    say(bob, direct, "party tonight 🎉")
    say(bob, direct, "love it ❤")
    assert found(api, "🎉") == ["party tonight 🎉"]
    assert found(api, "❤️") == ["love it ❤"]
    assert found(api, "🎉 party") == ["party tonight 🎉"]


def test_like_wildcards_and_punctuation_are_literal(backend, api, alice, bob, direct):
    say(bob, direct, "let's meet at 100% 下午三点")
    say(bob, direct, "snake_case_name here")
    say(bob, direct, "plain text")
    assert found(api, "100%") == ["let's meet at 100% 下午三点"]
    assert found(api, "三点") == ["let's meet at 100% 下午三点"]
    # Nothing searchable in q: nothing matches (never everything).
    assert found(api, "%") == []
    assert found(api, "_") == []
    assert found(api, "%_%") == []
    assert found(api, "snake_case") == ["snake_case_name here"]
    assert found(api, "let's") == ["let's meet at 100% 下午三点"]


def test_only_what_the_caller_may_read(backend, api, api_for, alice, bob, carol, direct):
    say(bob, direct, "the quokka plan")
    assert found(api_for(carol), "quokka") == []
    assert found(api_for(bob), "quokka") == ["the quokka plan"]


def test_a_departed_members_window(backend, api_for, alice, bob, user_factory):
    from contacts.services import do_connect
    from groups.services import do_add_members, do_create_group, do_leave_group

    dan = user_factory("dan_window")
    do_connect(user=alice, other=bob)
    do_connect(user=alice, other=dan)
    group = do_create_group(owner=alice, name="Window", members=[str(bob.uuid)])
    conversation = str(group.conversation.uuid)
    say(alice, conversation, "wombat before dan joined")
    do_add_members(user=alice, group_id=str(group.uuid), users=[str(dan.uuid)])
    say(alice, conversation, "wombat while dan is here")
    do_leave_group(user=dan, group_id=str(group.uuid))
    say(alice, conversation, "wombat after dan left")
    assert found(api_for(dan), "wombat") == ["wombat while dan is here"]
    assert len(found(api_for(bob), "wombat")) == 3


def test_a_recalled_message_is_not_found(backend, api, alice, bob, direct):
    from messaging.actions.recall import do_recall_message

    message = say(alice, direct, "recall this kangaroo")
    say(alice, direct, "keep this kangaroo")
    do_recall_message(user=alice, message_id=str(message.uuid))
    # Not even before the indexer has caught up: the query reads `recalled`.
    assert found(api, "kangaroo") == ["keep this kangaroo"]
    index(direct)
    assert found(api, "recall") == []


def test_an_edited_message_is_found_by_its_current_text_only(backend, api, alice, bob, direct):
    from messaging.actions.edit import do_edit_message

    message = say(alice, direct, "meet at the quokka cafe 在老地方")
    do_edit_message(user=alice, message_id=str(message.uuid), content="meet at the wombat bar 在新地方")
    index(direct)
    assert found(api, "quokka") == []
    assert found(api, "老地方") == []
    response = api.get(URL, {"q": "wombat 新地方"}).json()
    [hit] = response["results"]
    assert hit["id"] == str(message.uuid) and hit["edited_at"] is not None
    assert hit["match"]["snippet"] == "meet at the wombat bar 在新地方"


def test_system_messages_calls_and_bundles_are_not_searched(backend, api, alice, bob, user_factory):
    from contacts.services import do_connect
    from groups.services import do_create_group

    do_connect(user=alice, other=bob)
    group = do_create_group(owner=alice, name="Xylophone club", members=[str(bob.uuid)])
    index(str(group.conversation.uuid))
    assert found(api, "xylophone") == []


def test_file_names_and_captions_are_searched_and_has_filters(backend, api, alice, bob, direct):
    from conversations.models import Conversation
    from conversations.store import Incoming, store_messages
    from files.models import File

    conv = Conversation.objects.get(uuid=direct)

    def send_file(name: str, mime: str, caption: str | None):
        f = File.objects.create(owner=bob, name=name, size=10, mime=mime, storage_key=f"k/{new_id()}")
        store_messages(
            [
                Incoming(
                    conversation_id=conv.pk,
                    sender_id=bob.pk,
                    kind="file",
                    text=caption,
                    file_id=f.pk,
                    client_msg_id=new_id(),
                )
            ]
        )

    send_file("quarterly-report.pdf", "application/pdf", None)
    send_file("beach.jpg", "image/jpeg", "the quarterly outing")
    say(bob, direct, "the quarterly numbers")
    index(direct)
    response = api.get(URL, {"q": "quarterly"}).json()
    assert len(response["results"]) == 3
    by_kind = api.get(URL, {"q": "quarterly", "has": "file"}).json()["results"]
    assert sorted(m["kind"] for m in by_kind) == ["file", "file"]
    [image] = api.get(URL, {"q": "quarterly", "has": "image"}).json()["results"]
    assert image["content"] == "the quarterly outing" and image["match"]["snippet"] == "the quarterly outing"
    [report] = api.get(URL, {"q": "report"}).json()["results"]
    # Found by its name: the snippet is the name, with the word marked.
    assert report["match"] == {"snippet": "quarterly-report.pdf", "ranges": [[10, 16]]}
    assert_error(api.get(URL, {"q": "quarterly", "has": "video"}), 400, "invalid")


def test_snippets_and_ranges_are_code_points(backend, api, alice, bob, direct):
    say(bob, direct, "🎉🎉 我们说中文吧 and the Café")
    [hit] = api.get(URL, {"q": "中文 cafe"}).json()["results"]
    snippet, ranges = hit["match"]["snippet"], hit["match"]["ranges"]
    assert [snippet[a:b] for a, b in ranges] == ["中文", "Café"]
    long_text = "word " * 100 + "the hidden aardvark is here " + "tail " * 100
    say(bob, direct, long_text)
    [hit] = api.get(URL, {"q": "aardvark"}).json()["results"]
    snippet, ranges = hit["match"]["snippet"], hit["match"]["ranges"]
    assert len(snippet) <= 202 and snippet.startswith("…") and snippet.endswith("…")
    assert [snippet[a:b] for a, b in ranges] == ["aardvark"]


def test_filters_conversation_sender_and_time(backend, api, alice, bob, user_factory, direct):
    from contacts.services import do_connect
    from conversations.models import Message

    dan = user_factory("dan_filters")
    other = str(do_connect(user=alice, other=dan).conversation.uuid)
    old = store_text_sync(sender=bob, conversation_uuid=direct, text="llama from bob")
    # Sent at noon on New Year's Day (before the indexer sees it: the index keeps created_at).
    Message.objects.filter(pk=old.pk).update(created_at=dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC))
    index(direct)
    say(dan, other, "llama from dan")
    say(alice, other, "llama from alice")
    assert sorted(found(api, "llama", conversation=other)) == ["llama from alice", "llama from dan"]
    assert found(api, "llama", **{"from": str(bob.uuid)}) == ["llama from bob"]
    assert found(api, "llama", before="2026-01-01T12:00:00Z") == []
    assert found(api, "llama", before="2026-01-01T12:00:00.000001Z") == ["llama from bob"]
    assert found(api, "llama", after="2026-01-01T12:00:00Z", before="2026-01-02") == ["llama from bob"]
    assert sorted(found(api, "llama", after="2026-06-01T00:00:00+08:00")) == ["llama from alice", "llama from dan"]
    # Unknown or foreign conversation (or sender): nothing, not an error.
    assert api.get(URL, {"q": "llama", "conversation": new_id()}).json() == {"results": [], "next": None}
    stranger_conv = str(do_connect(user=bob, other=dan).conversation.uuid)
    say(bob, stranger_conv, "llama not for alice")
    assert found(api, "llama", conversation=stranger_conv) == []
    assert found(api, "llama", **{"from": new_id()}) == []
    # Malformed values are `invalid` and say which parameter.
    # A malformed one is `invalid` even beside an unknown one (found by the schema fuzz).
    for params in (
        {"conversation": "nope"},
        {"from": "nope"},
        {"after": "yesterday"},
        {"before": "2026-13-01"},
        # Well formed, but no such moment, or none UTC can hold: not a 500.
        {"after": "2026-02-30"},
        {"before": "2026-06-01T25:00:00Z"},
        {"after": "0001-01-01T00:00:00+01:00"},
        {"before": "9999-12-31T23:59:59-23:00"},
        {"conversation": new_id(), "from": "4.3791359316111384e+16"},
    ):
        response = api.get(URL, {"q": "llama", **params})
        assert_error(response, 400, "invalid")
        name = "from" if "from" in params else next(iter(params))
        assert name in response.json()["error"]["fields"], response.json()


def test_pages_are_full_newest_first_and_stable_while_messages_arrive(backend, api, alice, bob, direct, carol):
    from contacts.services import do_connect

    # Carol's conversation with Bob has many matches Alice may not read: pages stay full.
    hidden = str(do_connect(user=bob, other=carol).conversation.uuid)
    for i in range(30):
        store_text_sync(sender=bob, conversation_uuid=hidden, text=f"ibis hidden {i}")
    for i in range(45):
        store_text_sync(sender=bob, conversation_uuid=direct, text=f"ibis {i}")
    index(direct, hidden)
    first = api.get(URL, {"q": "ibis"}).json()
    assert [m["content"] for m in first["results"]] == [f"ibis {i}" for i in range(44, 24, -1)]
    assert first["next"]
    say(bob, direct, "ibis newer")  # arrives between pages: not on page 2
    second = api.get(URL, {"q": "ibis", "cursor": first["next"]}).json()
    assert [m["content"] for m in second["results"]] == [f"ibis {i}" for i in range(24, 4, -1)]
    third = api.get(URL, {"q": "ibis", "cursor": second["next"]}).json()
    assert [m["content"] for m in third["results"]] == [f"ibis {i}" for i in range(4, -1, -1)]
    assert third["next"] is None
    assert_error(api.get(URL, {"q": "ibis", "cursor": "garbage"}), 400, "invalid")
    # A cursor tampered with: the right shape, an impossible moment.
    for moment in ("2026-02-30T00:00:00Z", "2026-13-01T00:00:00", "0001-01-01T00:00:00+01:00"):
        assert_error(api.get(URL, {"q": "ibis", "cursor": encode_cursor([moment, 1])}), 400, "invalid")
    # ... or an id no database column holds (a 500 on SQLite before).
    for pk in (2**63, 2**64 - 1, -1):
        assert_error(
            api.get(URL, {"q": "ibis", "cursor": encode_cursor(["2026-01-01T00:00:00+00:00", pk])}), 400, "invalid"
        )
    assert api.get(URL, {"q": "nothinglikethis"}).json() == {"results": [], "next": None}


def test_an_edited_message_is_found_by_its_current_text_only_while_the_index_lags(backend, api, alice, bob, direct):
    """Edits reach the index through the indexer, which may be behind (or
    down): a message edited since is not found by its old text meanwhile, and
    the pages stay full and in order all the same."""
    from messaging.actions.edit import do_edit_message

    sent = [store_text_sync(sender=bob, conversation_uuid=direct, text=f"ibis {i}") for i in range(26)]
    index(direct)
    for i in (25, 24, 20, 3):  # the indexer has not seen these edits yet
        do_edit_message(user=bob, message_id=str(sent[i].uuid), content=f"heron {i}")
    first = api.get(URL, {"q": "ibis"}).json()
    second = api.get(URL, {"q": "ibis", "cursor": first["next"]}).json()
    expected = [f"ibis {i}" for i in range(25, -1, -1) if i not in (25, 24, 20, 3)]
    assert [m["content"] for m in first["results"]] == expected[:20]
    assert [m["content"] for m in second["results"]] == expected[20:] and second["next"] is None
    # Its new text: found once the index has it (and the edit still matching: kept).
    assert found(api, "heron") == []
    do_edit_message(user=bob, message_id=str(sent[5].uuid), content="ibis 5, edited")
    assert "ibis 5, edited" in found(api, "ibis")
    index(direct)
    assert found(api, "heron") == ["heron 25", "heron 24", "heron 20", "heron 3"]


def test_q_is_checked(backend, api, alice):
    assert_error(api.get(URL, {"q": ""}), 400, "invalid")
    assert_error(api.get(URL, {"q": "   "}), 400, "invalid")
    assert_error(api.get(URL, {"q": "x" * 101}), 400, "invalid")
    assert_error(api.get(URL, {"q": "a\x00b"}), 400, "invalid")
    assert_error(api.get(URL), 400, "invalid")
    assert api.get(URL, {"q": "x" * 100}).json() == {"results": [], "next": None}


def test_a_conversation_is_indexed_from_its_whole_log_when_first_seen(backend, api, alice, bob, direct):
    """A conversation the indexer has never read (history from before the
    index existed) is read from its start the first time it is caught up."""
    for i in range(3):
        store_text_sync(sender=bob, conversation_uuid=direct, text=f"heron {i}")
    assert found(api, "heron") == []
    index(direct)
    assert len(found(api, "heron")) == 3


def test_searches_are_rate_limited_per_user(api, api_for, bob, settings):
    settings.LIMIT_MESSAGE_SEARCH_PER_MIN = 3
    for _ in range(3):
        assert api.get(URL, {"q": "anything"}).status_code == 200
    refused = api.get(URL, {"q": "anything"})
    assert_error(refused, 429, "rate_limited")
    assert int(refused["Retry-After"]) >= 1
    assert api_for(bob).get(URL, {"q": "anything"}).status_code == 200


def test_a_page_stays_full_when_recalls_the_index_has_not_seen_yet_are_left_out(backend, api, alice, bob, direct):
    from conversations.models import Message

    sent = [say(bob, direct, f"marmot {i}") for i in range(25)]
    # Recalled behind the indexer's back: the index still holds them.
    Message.objects.filter(pk__in=[m.pk for m in sent[-4:]]).update(recalled=True, text=None)
    first = api.get(URL, {"q": "marmot"}).json()
    assert [m["content"] for m in first["results"]] == [f"marmot {i}" for i in range(20, 0, -1)]
    second = api.get(URL, {"q": "marmot", "cursor": first["next"]}).json()
    assert [m["content"] for m in second["results"]] == ["marmot 0"] and second["next"] is None


def test_a_page_costs_the_same_queries_however_many_it_holds(
    backend, api, alice, bob, direct, django_assert_max_num_queries
):
    for i in range(3):
        say(bob, direct, f"weasel {i}")
    with django_assert_max_num_queries(12) as few:
        assert len(api.get(URL, {"q": "weasel"}).json()["results"]) == 3
    for i in range(3, 30):
        say(bob, direct, f"weasel {i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(api.get(URL, {"q": "weasel"}).json()["results"]) == 20
