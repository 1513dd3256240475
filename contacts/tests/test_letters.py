"""Index letters and order of the contact list (contacts.letters)."""

from __future__ import annotations

import pytest

from contacts.letters import index_letter, section_order, sort_key


@pytest.mark.parametrize(
    "name, letter",
    [
        ("张三", "Z"),
        ("王小明", "W"),
        ("李", "L"),
        ("阿凡达", "A"),
        ("〇号", "L"),  # 〇 reads ling
        ("alice", "A"),
        ("Bob", "B"),
        ("Émile", "E"),
        ("éclair", "E"),
        ("Øystein", "O"),
        ("ßtraße", "S"),
        ("Łukasz", "L"),
        ("Ｚｅｄ", "Z"),  # full-width Latin
        ("Zoë 张", "Z"),
        ("😀 smile", "#"),
        ("123abc", "#"),
        ("9", "#"),
        ("_under", "#"),
        ("Привет", "#"),
        ("Ωmega", "#"),
        ("", "#"),
        ("   ", "#"),
    ],
)
def test_index_letter(name, letter):
    assert index_letter(name) == letter


def test_section_order_puts_hash_last():
    assert sorted(["#", "Z", "A", "M"], key=section_order) == ["A", "M", "Z", "#"]


def test_names_sort_by_pinyin_and_folded_latin_together():
    names = ["刘", "Lily", "李明", "lemon", "Léa", "李", "Lü"]
    ordered = sorted(names, key=sort_key)
    # le-a, lemon, li, li ming, lily, liu, lu: Chinese by syllables, Latin folded.
    assert ordered == ["Léa", "lemon", "李", "李明", "Lily", "刘", "Lü"]


def test_same_pinyin_breaks_ties_by_tone_then_text_then_id():
    # 张 zhang1, 章 zhang1, 掌 zhang3: the tone first, then the characters.
    assert sorted(["掌", "章", "张"], key=sort_key) == sorted(["张", "章"]) + ["掌"]
    assert sort_key("Amy", "b") > sort_key("Amy", "a")


def test_accented_and_plain_interleave():
    assert sorted(["Zoe", "Émile", "eve", "Ada"], key=sort_key) == ["Ada", "Émile", "eve", "Zoe"]
