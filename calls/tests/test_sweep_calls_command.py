"""`manage.py sweep_calls --loop`: Ctrl-C is how it stops."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from calls.management.commands import sweep_calls

pytestmark = pytest.mark.django_db(transaction=True)


def test_ctrl_c_stops_the_loop_without_a_traceback(monkeypatch):
    naps = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt  # Ctrl-C while it waits for the next sweep

    monkeypatch.setattr(sweep_calls.time, "sleep", sleep)
    out = StringIO()
    try:
        call_command("sweep_calls", "--loop", stdout=out)
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C ended sweep_calls --loop with a KeyboardInterrupt")
    assert len(naps) == 2 and out.getvalue() == "stopped\n"
