import sys
import time

from django.core.management.base import BaseCommand

from search import backends
from search.indexer import rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the search index from the messages, in batches, while the server serves (the live indexer "
        "keeps indexing new messages meanwhile). --fresh drops the index table first and creates it anew, "
        "as Mroonga when the server has it: use it after `enable_search`."
    )

    def add_arguments(self, parser):
        parser.add_argument("--fresh", action="store_true", help="drop and recreate the index table first")
        parser.add_argument("--batch", type=int, default=2000, help="messages per batch (default 2000)")

    def handle(self, *args, **options):
        started = time.monotonic()
        tty = sys.stderr.isatty()
        shown = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if not tty and now - shown[0] < 5 and done < total:
                return
            shown[0] = now
            share = done / total if total else 1.0
            bar = "#" * int(share * 30)
            rate = done / max(now - started, 1e-6)
            line = f"[{bar:<30}] {done:,}/{total:,} messages ({share:.0%}, {rate:,.0f}/s)"
            self.stderr.write("\r" + line if tty else line, ending="")
            if not tty:
                self.stderr.write("")

        counts = rebuild(fresh=options["fresh"], batch=max(1, options["batch"]), progress=progress)
        if tty:
            self.stderr.write("")
        took = time.monotonic() - started
        self.stdout.write(
            f"search index ({counts['index']}, read with {backends.get_backend().name}): "
            f"{counts['indexed']:,} of {counts['messages']:,} messages indexed, "
            f"{counts['orphans_removed']:,} stale rows removed, in {took:.1f} s"
        )
