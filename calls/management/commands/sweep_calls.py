"""`manage.py sweep_calls`: end due calls (missed, failed) from outside the servers.

Every server process already sweeps while it runs (calls/ws_handlers.py);
this command is for a deployment with no server up for a while, or for a
cron job. It renews no leases (it holds no sockets). `--loop` keeps going.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from calls.services import sweep_due_calls


class Command(BaseCommand):
    help = "End calls whose ring or reconnect timer is due (safe alongside running servers)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", action="store_true", help="sweep every CALL_SWEEP_INTERVAL_S until stopped")

    def handle(self, *args, loop: bool = False, **options) -> None:
        try:
            while True:
                close_old_connections()
                ended = sweep_due_calls()
                for call in ended:
                    self.stdout.write(f"{call.uuid} {call.outcome}")
                if not loop:
                    return
                time.sleep(settings.CALL_SWEEP_INTERVAL_S)
        except KeyboardInterrupt:
            # Ctrl-C is how `--loop` is stopped: a sweep cut short rolled back
            # (each call ends in its own transaction), the next one ends it.
            self.stdout.write("stopped")
