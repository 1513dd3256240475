"""Smart replies on for the test (the suite runs with ASSISTANT=0, see
tests/workers.py), and what computes them: with Kafka a `manage.py
run_assistant` process for the module; embedded, the in-process bus's
`assistant` group (nothing to start)."""

from __future__ import annotations

import pytest

from conftest import REAL_KAFKA


# For a module, not the session: started for the session it would send other
# modules' recipients suggestions they do not expect.
@pytest.fixture(scope="module")
def _assistant_worker(message_worker, django_db_blocker, tmp_path_factory):
    if not REAL_KAFKA:
        yield None
        return
    from chatsite.testing import GroupProcess

    with django_db_blocker.unblock():
        proc = GroupProcess(
            "run_assistant", tmp_path_factory.mktemp("assistant") / "assistant.log", ASSISTANT="1", OMP_NUM_THREADS="1"
        )
    yield proc
    proc.stop()


@pytest.fixture
def assistant_on(settings):
    """ASSISTANT on in this process (the in-process bus's group, and direct calls)."""
    settings.ASSISTANT = True


@pytest.fixture
def smart_replies(assistant_on, _assistant_worker):
    """ASSISTANT on, and the worker that follows the bus running."""
    return _assistant_worker
