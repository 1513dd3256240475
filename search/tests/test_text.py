"""The snippet of a hit: never longer than the documented 200 code points,
the `…` marks included, and its ranges still on the terms."""

from __future__ import annotations

import pytest

from search.text import SNIPPET_MAX, match_ranges, parse_query, snippet


@pytest.mark.parametrize("where", [0, 150, 600, 1195])
def test_a_snippet_of_a_long_text_is_at_most_the_limit_with_its_marks(where):
    text = "word " * (where // 5) + "needle" + " filler" * 200
    ranges = match_ranges(text, parse_query("needle"))
    cut = snippet(text, ranges)
    assert len(cut["snippet"]) <= SNIPPET_MAX == 200
    (start, end), *_ = cut["ranges"]
    assert cut["snippet"][start:end] == "needle"
