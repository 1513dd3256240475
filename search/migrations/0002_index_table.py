"""The index table (search_doc): Mroonga on MariaDB when the server has the
plugin (installing it when the server allows), InnoDB otherwise, FTS5 on
SQLite. See search.backends; `manage.py enable_search` and
`manage.py rebuild_search_index --fresh` change it later."""

from django.conf import settings
from django.db import migrations


def create(apps, schema_editor):
    from search import backends

    if schema_editor.connection.vendor == "mysql" and settings.SEARCH_BACKEND in ("auto", "mroonga"):
        said = backends.enable_mroonga()
        if not backends.mroonga_available():
            print(f"\n  search: {said}")
    backends.create_table()
    backends.forget_choice()


def drop(apps, schema_editor):
    from search import backends

    backends.drop_table()
    backends.forget_choice()


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
