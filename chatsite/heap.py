"""The garbage collector in the long-running processes (the server, the workers).

A server process holds some 340,000 objects from its start (Django, the
apps, their modules and URL patterns) that live as long as it does, and
CPython's full collection walks every one of them each time, with the GIL
held. Measured on a node serving history pages at 100 requests/s: a full
collection every 10-20 s, each taking 80-170 ms, with every request in
flight waiting behind it (that was the p99).

`freeze_startup_heap()`, called once the process has loaded what it
serves, moves those objects to the collector's permanent generation, which
no collection walks. What is allocated afterwards is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect once, then leave everything alive now out of later collections."""
    gc.collect()
    gc.freeze()
