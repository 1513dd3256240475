from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from search import backends


class Command(BaseCommand):
    help = (
        "Enable the Mroonga full-text engine on MariaDB (INSTALL SONAME 'ha_mroonga', when the server has the "
        "plugin package and allows it) and say which search backend the index serves; with --convert, rebuild "
        "an index kept in InnoDB (read with LIKE) as a Mroonga one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--convert", action="store_true", help="rebuild an InnoDB index as Mroonga")

    def handle(self, *args, **options):
        said = backends.enable_mroonga()
        self.stdout.write(said)
        kind = backends.table_kind()
        if kind == "innodb" and backends.mroonga_available():
            if not options["convert"]:
                self.stdout.write(
                    "The index table is InnoDB (searched with LIKE): run this with --convert, or "
                    "`manage.py rebuild_search_index --fresh`, to move it to Mroonga."
                )
                return
            call_command("rebuild_search_index", fresh=True)
        backends.forget_choice()
        try:
            self.stdout.write(f"search backend: {backends.get_backend().name} (index: {backends.table_kind()})")
        except Exception as exc:
            raise CommandError(str(exc)) from exc
