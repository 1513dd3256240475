from django.conf import settings
from django.core.management.base import BaseCommand

from files.services import do_remove_unattached_files


class Command(BaseCommand):
    help = (
        "Remove uploaded files never sent in a message nor made an avatar, older than "
        "FILE_UNATTACHED_GRACE_S (or --grace-seconds), with their thumbnails. Run it from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=None,
            help=f"keep files younger than this (default FILE_UNATTACHED_GRACE_S={settings.FILE_UNATTACHED_GRACE_S})",
        )
        parser.add_argument("--batch", type=int, default=200, help="files removed per transaction")
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")

    def handle(self, *args, **options):
        grace = options["grace_seconds"]
        if grace is not None and grace < 0:
            grace = 0
        count = do_remove_unattached_files(grace_s=grace, batch=max(1, options["batch"]), dry_run=options["dry_run"])
        verb = "would remove" if options["dry_run"] else "removed"
        self.stdout.write(f"{verb} {count} unattached file(s)")
