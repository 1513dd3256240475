"""Per-worker services for `pytest -n N` (pytest-xdist), loaded before Django
reads its settings (pytest.ini: `-p tests.workers`).

Each xdist worker runs its own sessions of everything a test session owns: a
message worker and an indexer consuming the session's topics, Redis keys
cleared after every test, media and SQLite files. So each gets its own Redis
key prefix, Kafka topic prefix (and with it the consumer group) and VAR_DIR,
derived from the ones the run was given. pytest-django already gives each
worker its own test database (NAME_gw0, NAME_gw1, ...)."""

from __future__ import annotations

import os

# Smart replies are off unless a test turns them on (assistant/tests): their
# frames would come between the frames other tests expect, and every direct
# message would be embedded. Servers and workers the tests start inherit it.
os.environ.setdefault("ASSISTANT", "0")

_worker = os.environ.get("PYTEST_XDIST_WORKER")
if _worker:
    for _name in ("REDIS_KEY_PREFIX", "KAFKA_TOPIC_PREFIX"):
        os.environ[_name] = f"{os.environ.get(_name, 'wsct')}-{_worker}"
    os.environ["VAR_DIR"] = os.path.join(os.environ.get("VAR_DIR", "var"), _worker)
