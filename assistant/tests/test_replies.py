"""Smart replies with the real model (loaded once per process; the built-in
examples are embedded on first use, ~1.5 s)."""

from __future__ import annotations

import pytest

from assistant import coldstart, embedding
from assistant.language import detect_language
from assistant.replies import (
    MAX_REPLY_CHARS,
    HistoryPair,
    is_suggestable,
    normalize_reply,
    suggest_replies,
)

# The model and the suggestion rules alone, no database or service: the same in either run.
pytestmark = pytest.mark.one_config


def history(*pairs: tuple[str, str]) -> list[HistoryPair]:
    vectors = embedding.embed([incoming for incoming, _ in pairs])
    return [HistoryPair(incoming, vector, reply) for (incoming, reply), vector in zip(pairs, vectors, strict=True)]


def suggest(text: str, pairs: list[HistoryPair] | None = None, **kwargs) -> list:
    return suggest_replies(text=text, vector=embedding.embed_one(text), history=pairs or [], **kwargs)


def intent(name: str) -> coldstart.Intent:
    return next(i for i in coldstart.INTENTS if i.name == name)


@pytest.fixture(scope="module")
def alice_history() -> list[HistoryPair]:
    return history(
        ("what time is the meeting tomorrow?", "10am, room 4"),
        ("did you buy the concert tickets?", "Yes, two of them"),
        ("你吃饭了吗", "刚吃完，你呢"),
        ("报告写完了吗", "还差一点"),
    )


def test_an_english_paraphrase_finds_what_she_answered(alice_history):
    suggestions = suggest("when do we meet tomorrow?", alice_history)

    assert suggestions[0].text == "10am, room 4"
    assert suggestions[0].source == "history"
    assert all(s.text != "Yes, two of them" for s in suggestions)


def test_a_chinese_paraphrase_finds_what_she_answered(alice_history):
    suggestions = suggest("吃了吗？", alice_history)

    assert suggestions[0].text == "刚吃完，你呢"
    assert suggestions[0].source == "history"
    assert all(s.text != "还差一点" for s in suggestions)


def test_history_comes_first_then_built_in_replies_fill_up(alice_history):
    suggestions = suggest("吃了吗？", alice_history)

    assert [s.source for s in suggestions] == ["history", "coldstart", "coldstart"]
    assert {s.text for s in suggestions[1:]} <= set(intent("have_you_eaten").replies["zh"])


def test_unrelated_history_is_not_suggested(alice_history):
    assert suggest("I bought new shoes yesterday", alice_history) == []
    assert suggest("我家的猫把花盆打翻了", alice_history) == []


@pytest.mark.parametrize(
    ("text", "language", "intent_name"),
    [
        ("thanks a lot!", "en", "thanks"),
        ("谢谢你！", "zh", "thanks"),
        ("你现在在哪儿？", "zh", "where_are_you"),
        ("¿dónde estás ahora?", "es", "where_are_you"),
        ("merci beaucoup !", "fr", "thanks"),
        ("Gute Nacht!", "de", "good_night"),
        ("спасибо большое", "ru", "thanks"),
        ("おやすみなさい", "ja", "good_night"),
    ],
)
def test_cold_start_answers_in_the_language_of_the_message(text, language, intent_name):
    suggestions = suggest(text)

    assert [s.text for s in suggestions] == list(intent(intent_name).replies[language])
    assert {s.source for s in suggestions} == {"coldstart"}


def test_a_language_without_built_in_replies_gets_none_rather_than_english():
    assert suggest("감사합니다") == []


def test_a_message_without_letters_answers_in_the_fallback_language():
    suggestions = suggest("😂😂😂", fallback_language="zh-Hans")

    assert [s.text for s in suggestions] == list(intent("laughter").replies["zh"])


def test_acknowledgements_and_statements_get_no_built_in_reply():
    for text in ("ok", "好的", "the server crashed again, check the logs", "这个项目下周要交"):
        assert suggest(text) == [], text


def test_replies_are_deduplicated_in_normalised_form():
    pairs = history(
        ("see you at 7?", "OK!"),
        ("see you at 7 then?", "ok"),
        ("see you at seven?", "Ok."),
        ("see you at 7pm?", "sure thing"),
    )

    texts = [s.text for s in suggest("see you at 7?", pairs)]

    assert texts[0] == "OK!"  # the closest pair's spelling wins
    assert [normalize_reply(t) for t in texts].count("ok") == 1
    assert len(set(map(normalize_reply, texts))) == len(texts)


def test_a_history_reply_equal_to_a_built_in_one_is_offered_once():
    pairs = history(("thank you so much!", "No problem!"))

    texts = [s.text for s in suggest("thank you so much!!", pairs)]

    assert texts == ["No problem!", "You're welcome!", "Anytime 😊"]


def test_at_most_three_ordered_by_score():
    pairs = history(
        ("what time is the meeting?", "3pm"),
        ("what time is the meeting today?", "at 3, in room 2"),
        ("when is the meeting?", "after lunch"),
        ("what time's the meeting?", "I think 3pm"),
        ("what time is our meeting?", "3 o'clock"),
    )

    suggestions = suggest("what time is the meeting?", pairs)

    assert len(suggestions) == 3
    assert {s.source for s in suggestions} == {"history"}
    assert suggestions[0].text == "3pm"
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert len(suggest("what time is the meeting?", pairs, limit=1)) == 1


def test_a_long_or_personal_reply_is_never_suggested():
    long_reply = "Sure, " + "x" * MAX_REPLY_CHARS
    pairs = history(
        ("can you send me the report?", long_reply),
        ("can you send me the report please", "here: https://files.example.com/r/9f2"),
        ("could you send me the report?", "call me on 415 555 0199"),
        ("can you send the report to me?", "report-final.pdf"),
    )

    texts = [s.text for s in suggest("can you send me the report?", pairs)]

    assert texts and all(s in intent("favour").replies["en"] for s in texts)


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        ("Sure, see you at 10:30!", True),
        ("好的，马上到", True),
        ("x" * MAX_REPLY_CHARS, True),
        ("x" * (MAX_REPLY_CHARS + 1), False),
        ("", False),
        ("two\nlines", False),
        ("look at www.example.org", False),
        ("see example.com", False),
        ("mail me: bob@example.com", False),
        ("the code is 493021", False),
        ("+1 415-555-0199", False),
        ("IMG_2041.JPG", False),
        ("[image]", False),
    ],
)
def test_is_suggestable(reply, ok):
    assert is_suggestable(reply) is ok


def test_only_the_history_given_is_used(alice_history):
    # The function has no state across calls: Bob, with no history, never gets Alice's replies.
    assert suggest("when do we meet tomorrow?", alice_history)[0].text == "10am, room 4"

    assert all(s.source == "coldstart" for s in suggest("when do we meet tomorrow?", []))


def test_an_empty_message_gets_nothing(alice_history):
    assert suggest_replies(text="  ", vector=embedding.embed_one("x"), history=alice_history) == []


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("what time is it?", "en"),
        ("你吃饭了吗", "zh"),
        ("OK 好的", "zh"),
        ("今日は暑いですね", "ja"),
        ("¿qué hora es?", "es"),
        ("bonjour, ça va ?", "fr"),
        ("Wie geht's dir?", "de"),
        ("tudo bem? você vem?", "pt"),
        ("привет", "ru"),
        ("안녕하세요", "ko"),
        ("مرحبا", "ar"),
        ("qwerty", "en"),
        ("👍 123", None),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language
