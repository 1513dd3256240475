"""Where the search index lives and how a query reads it.

One index table, `search_doc`, a rebuildable copy of the searchable messages
(never the record): one row per message with its index body (search.text),
its uuid (a row left over from a message that no longer exists never matches
another one) and whether it carries a file or an image. Its physical form
follows the database:

- MariaDB with the Mroonga plugin: a Mroonga table with a full-text index
  (TokenDelimit: the body is already tokenized). Not transactional, which is
  fine for a copy the indexer rewrites idempotently.
- MariaDB without Mroonga: an InnoDB table, read with LIKE (a scan: fine for
  a small history, not for a large one).
- SQLite (the embedded default): an FTS5 virtual table.

A backend is the way a query reads the table: `mroonga` (MATCH ... AGAINST in
boolean mode), `fts5` (MATCH), `like` (LIKE over the body, on either
database). SEARCH_BACKEND picks one; `auto` takes the index the table has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError

from chatsite.errors import Unavailable
from search.text import Term

logger = logging.getLogger(__name__)

TABLE = "search_doc"
HAS_NONE, HAS_FILE, HAS_IMAGE = 0, 1, 2


@dataclass(frozen=True)
class Doc:
    message_id: int
    uuid: str  # hex
    body: str
    has: int


def _like_escape(token: str) -> str:
    return token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Backend:
    name = ""
    # How a query joins the table to conversations_message (`d` and `m`).
    join = "m.id = d.message_id"

    def match(self, terms: list[Term]) -> tuple[str, list]:
        raise NotImplementedError


class Like(Backend):
    name = "like"

    def __init__(self, vendor: str) -> None:
        if vendor == "sqlite":
            self.join = "m.id = d.rowid"

    def match(self, terms):
        # The body is " tok tok ... ": a term is a run of whole tokens, the
        # last one a prefix when the term is.
        sql, params = [], []
        for term in terms:
            phrase = " ".join(_like_escape(t) for t in term.tokens)
            sql.append("d.body LIKE %s ESCAPE '\\'" if connection.vendor == "sqlite" else "d.body LIKE %s")
            params.append(f"% {phrase}{'' if term.prefix else ' '}%")
        return " AND ".join(sql), params


class Mroonga(Backend):
    name = "mroonga"

    def match(self, terms):
        parts = []
        # Phrases first: Mroonga (10.11's) finds nothing for a prefix term
        # followed by a phrase (`+wombat* +"新地 地方"`), though it finds the
        # same terms the other way round.
        for term in sorted(terms, key=lambda t: (len(t.tokens) == 1, t.prefix)):
            phrase = " ".join(term.tokens)
            if len(term.tokens) > 1:
                parts.append(f'+"{phrase}"')
            else:
                parts.append(f"+{phrase}{'*' if term.prefix else ''}")
        return "MATCH(d.body) AGAINST(%s IN BOOLEAN MODE)", [" ".join(parts)]


class Fts5(Backend):
    name = "fts5"
    join = "m.id = d.rowid"

    def match(self, terms):
        parts = []
        for term in terms:
            parts.append(f'"{" ".join(term.tokens)}"' + ("*" if term.prefix else ""))
        return f"{TABLE} MATCH %s", [" AND ".join(parts)]


# --------------------------------------------------------------------------- the table


def table_kind() -> str | None:
    """`mroonga`, `innodb` or `fts5`: what the index table is here (None: missing)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = %s", [TABLE])
            row = cursor.fetchone()
            return None if row is None else "fts5"
        cursor.execute(
            "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s",
            [TABLE],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return "mroonga" if (row[0] or "").lower() == "mroonga" else "innodb"


def mroonga_available() -> bool:
    if connection.vendor != "mysql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE = 'Mroonga'")
        row = cursor.fetchone()
    return row is not None and row[0] in ("YES", "DEFAULT")


def enable_mroonga() -> str:
    """Install the Mroonga plugin when the server has it and allows it; a
    sentence saying what happened."""
    if connection.vendor != "mysql":
        return "Mroonga is a MariaDB plugin; this database is not MariaDB."
    if mroonga_available():
        return "Mroonga is enabled."
    try:
        with connection.cursor() as cursor:
            cursor.execute("INSTALL SONAME 'ha_mroonga'")
    except DatabaseError as exc:
        return (
            f"Mroonga could not be enabled ({exc}). Install the server's plugin package "
            "(Debian: apt-get install mariadb-plugin-mroonga) and let an administrator run "
            "INSTALL SONAME 'ha_mroonga'; until then search reads the index with LIKE."
        )
    return "Mroonga is enabled." if mroonga_available() else "Mroonga was installed but is not active."


def create_table(*, engine: str | None = None) -> str:
    """Create the index table if it is missing: Mroonga when the server has it
    (or `engine` says so), else InnoDB; FTS5 on SQLite. Returns its kind."""
    existing = table_kind()
    if existing is not None:
        return existing
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5("
                "body, uuid UNINDEXED, has UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
            )
            return "fts5"
        want = engine or ("mroonga" if mroonga_available() else "innodb")
        columns = (
            "message_id BIGINT NOT NULL PRIMARY KEY, uuid CHAR(32) NOT NULL, has TINYINT NOT NULL DEFAULT 0, "
            "body LONGTEXT NOT NULL"
        )
        if want == "mroonga":
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns}, "
                "FULLTEXT INDEX body_ft (body) COMMENT 'tokenizer \"TokenDelimit\"') "
                "ENGINE=Mroonga DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            )
        else:
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns}) "
                "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
            )
    return table_kind() or want


def drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def write(docs: list[Doc], gone: list[int]) -> None:
    """Upsert `docs` and delete the rows of the messages `gone`."""
    with connection.cursor() as cursor:
        if gone:
            key = "rowid" if connection.vendor == "sqlite" else "message_id"
            marks = ", ".join(["%s"] * len(gone))
            cursor.execute(f"DELETE FROM {TABLE} WHERE {key} IN ({marks})", gone)
        if docs:
            if connection.vendor == "sqlite":
                cursor.executemany(
                    f"INSERT OR REPLACE INTO {TABLE} (rowid, uuid, has, body) VALUES (%s, %s, %s, %s)",
                    [(d.message_id, d.uuid, d.has, d.body) for d in docs],
                )
            else:
                marks = ", ".join(["(%s, %s, %s, %s)"] * len(docs))
                params = [v for d in docs for v in (d.message_id, d.uuid, d.has, d.body)]
                cursor.execute(f"REPLACE INTO {TABLE} (message_id, uuid, has, body) VALUES {marks}", params)


# --------------------------------------------------------------------------- choosing


def available() -> list[str]:
    """The backends this database can serve now."""
    kind = table_kind()
    if kind is None:
        return []
    return {"mroonga": ["mroonga", "like"], "fts5": ["fts5", "like"], "innodb": ["like"]}[kind]


_chosen: dict[str, Backend] = {}


def _make(name: str) -> Backend:
    if name == "mroonga":
        return Mroonga()
    if name == "fts5":
        return Fts5()
    return Like(connection.vendor)


def get_backend(name: str | None = None) -> Backend:
    """The backend SEARCH_BACKEND names (`auto`: the best the table allows).
    A backend the index cannot serve is 503 `unavailable`, never a silent scan."""
    wanted = name or settings.SEARCH_BACKEND
    cache_key = f"{connection.alias}:{wanted}"
    if cache_key in _chosen:
        return _chosen[cache_key]
    usable = available()
    if not usable:
        raise Unavailable("The search index is missing: run `manage.py migrate`.")
    if wanted == "auto":
        chosen = usable[0]
    elif wanted in usable:
        chosen = wanted
    else:
        raise Unavailable(
            f"SEARCH_BACKEND={wanted} cannot run on this index ({', '.join(usable)} can): "
            "see `manage.py enable_search` and `manage.py rebuild_search_index --fresh`."
        )
    backend = _make(chosen)
    _chosen[cache_key] = backend
    return backend


def forget_choice() -> None:
    """After the table changed (rebuild --fresh, tests)."""
    _chosen.clear()


def readiness() -> str:
    """For /readyz: the backend that serves searches (`mroonga`, `fts5`,
    `like`); raises when none can."""
    return get_backend().name


def describe() -> str:
    """For `manage.py status`."""
    try:
        backend = get_backend().name
    except Exception as exc:  # a missing table, a backend the index cannot serve
        return f"search: unavailable ({exc})"
    kind = table_kind()
    note = " (a scan: not for large histories; see `manage.py enable_search`)" if backend == "like" else ""
    return f"search: {backend} over a {kind} index (SEARCH_BACKEND={settings.SEARCH_BACKEND}){note}"
