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

import datetime as dt
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.utils.translation import gettext

from chatsite.errors import Unavailable
from conversations.models import Member, Message
from search.text import Term

logger = logging.getLogger(__name__)

TABLE = "search_doc"
HAS_NONE, HAS_FILE, HAS_IMAGE = 0, 1, 2
# The index's columns besides the body: what a query filters and sorts on.
COLUMNS = ("message_id", "uuid", "conversation_id", "seq", "sender_id", "created_us", "has", "body")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(moment: dt.datetime) -> int:
    """A moment as whole microseconds since the epoch (how the index keeps `created_at`)."""
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Doc:
    message_id: int
    uuid: str  # hex
    conversation_id: int
    seq: int
    sender_id: int | None
    created_us: int
    has: int
    body: str

    def row(self) -> tuple:
        return tuple(getattr(self, c) for c in COLUMNS)


@dataclass(frozen=True)
class Query:
    """One search: its terms, the caller's windows and the filters."""

    user_id: int
    terms: list[Term]
    # conversation -> (visible_from_seq, left_seq): the caller reads seqs in
    # (visible_from_seq, left_seq], to the end while left_seq is None.
    windows: dict[int, tuple[int, int | None]]
    conversation_id: int | None
    sender_id: int | None
    since: dt.datetime | None  # inclusive
    until: dt.datetime | None  # exclusive
    has: int | None  # HAS_FILE or HAS_IMAGE: at least that
    after: tuple[dt.datetime, int] | None  # the keyset (created_at, id) of the last one seen
    limit: int


def _like_escape(token: str) -> str:
    return token.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Backend:
    name = ""

    def find(self, query: Query) -> list[int]:
        """The ids of up to `query.limit` messages, newest first."""
        raise NotImplementedError


class _Joined(Backend):
    """A backend whose match is a condition on the index in SQL: the query
    joins the index to the messages and the caller's memberships, and MariaDB
    or SQLite drives it from whichever is cheaper."""

    key = "d.message_id"

    def match(self, terms: list[Term]) -> tuple[str, list]:
        raise NotImplementedError

    def find(self, query: Query) -> list[int]:
        match_sql, params = self.match(query.terms)
        where = [match_sql]
        for condition, value in (
            ("m.conversation_id = %s", query.conversation_id),
            ("m.sender_id = %s", query.sender_id),
            ("m.created_at >= %s", _db_time(query.since)),
            ("m.created_at < %s", _db_time(query.until)),
            ("d.has >= %s", query.has),
        ):
            if value is not None:
                where.append(condition)
                params.append(value)
        if query.after is not None:
            moment = _db_time(query.after[0])
            where.append("(m.created_at < %s OR (m.created_at = %s AND m.id < %s))")
            params.extend([moment, moment, query.after[1]])
        sql = (
            f"SELECT m.id FROM {TABLE} d "
            f"JOIN {Message._meta.db_table} m ON m.id = {self.key} AND m.uuid = d.uuid "
            f"JOIN {Member._meta.db_table} mb ON mb.conversation_id = m.conversation_id AND mb.user_id = %s "
            f"WHERE {' AND '.join(where)} AND m.recalled = %s AND m.seq > mb.visible_from_seq "
            "AND (mb.left_seq IS NULL OR m.seq <= mb.left_seq) "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [query.user_id, *params, False, query.limit])
            return [row[0] for row in cursor.fetchall()]


def _db_time(moment: dt.datetime | None):
    return None if moment is None else connection.ops.adapt_datetimefield_value(moment)


class Like(_Joined):
    name = "like"

    def __init__(self, vendor: str) -> None:
        if vendor == "sqlite":
            self.key = "d.rowid"

    def match(self, terms):
        # The body is " tok tok ... ": a term is a run of whole tokens, the
        # last one a prefix when the term is.
        sql, params = [], []
        for term in terms:
            phrase = " ".join(_like_escape(t) for t in term.tokens)
            sql.append("d.body LIKE %s ESCAPE '\\'" if connection.vendor == "sqlite" else "d.body LIKE %s")
            params.append(f"% {phrase}{'' if term.prefix else ' '}%")
        return " AND ".join(sql), params


class Fts5(_Joined):
    name = "fts5"
    key = "d.rowid"

    def match(self, terms):
        parts = []
        for term in terms:
            parts.append(f'"{" ".join(term.tokens)}"' + ("*" if term.prefix else ""))
        return f"{TABLE} MATCH %s", [" AND ".join(parts)]


def _inside(window: tuple[int, int | None], seq: int) -> bool:
    start, end = window
    return seq > start and (end is None or seq <= end)


class Mroonga(Backend):
    """Everything in one Groonga expression (Mroonga's `*SS` script syntax):
    the terms, the caller's windows, the filters and the keyset, sorted and
    cut by Groonga itself (Mroonga's ORDER BY LIMIT optimization), so a query
    reads the caller's matches, not every match in the index. What is checked
    on the page instead, which is topped up when it falls short: the part of a
    conversation outside the caller's window (joined late, left), and what the
    index cannot know yet (a recall the indexer has not reached, a message
    deleted since)."""

    name = "mroonga"

    def expression(self, query: Query, after: tuple[int, int] | None) -> str:
        # Every conversation of the caller in one in_values(), first (Groonga
        # starts from the conversation index); a window that does not cover
        # the whole log (joined late, left) is checked on the page: a seq
        # comparison per conversation here made Groonga scan the whole index
        # for each (bench/search.py: 0.35 s with two of them).
        parts = [f"in_values(conversation_id, {', '.join(str(int(c)) for c in sorted(query.windows))})"]
        for term in query.terms:
            operator = "@^" if term.prefix else "@"
            parts.append(f'body {operator} "{" ".join(term.tokens)}"')
        if query.sender_id is not None:
            parts.append(f"sender_id == {int(query.sender_id)}")
        if query.since is not None:
            parts.append(f"created_us >= {micros(query.since)}")
        if query.until is not None:
            parts.append(f"created_us < {micros(query.until)}")
        if query.has is not None:
            parts.append(f"has >= {int(query.has)}")
        if after is not None:
            # Only the time here: an `||` of the whole keyset made Groonga scan
            # the index (0.16 s); the few rows of the same microsecond are
            # skipped on the page.
            parts.append(f"created_us <= {after[0]}")
        return "*SS " + " && ".join(parts)

    def find(self, query: Query) -> list[int]:
        if not query.windows:
            return []
        after = None if query.after is None else (micros(query.after[0]), query.after[1])
        found: list[int] = []
        size = query.limit
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT message_id, uuid, created_us, conversation_id, seq FROM {TABLE} "
                    "WHERE MATCH(body) AGAINST(%s IN BOOLEAN MODE) "
                    "ORDER BY created_us DESC, message_id DESC LIMIT %s",
                    [self.expression(query, after), size],
                )
                rows = cursor.fetchall()
            if not rows:
                return found
            live = dict(Message.objects.filter(pk__in=[r[0] for r in rows], recalled=False).values_list("pk", "uuid"))
            for pk, uuid, created, cid, seq in rows:
                if after is not None and created == after[0] and pk >= after[1]:
                    continue  # at or before the keyset
                if pk in live and live[pk].hex == uuid and _inside(query.windows[cid], seq):
                    found.append(pk)
                    if len(found) == query.limit:
                        return found
            if len(rows) < size:
                return found
            last = rows[-1]
            after = (last[2], last[0])
            # Much fell outside (a long stretch after the caller left a busy
            # group): read further ahead each time.
            size = min(size * 4, 2000)


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
                "body, uuid UNINDEXED, conversation_id UNINDEXED, seq UNINDEXED, sender_id UNINDEXED, "
                "created_us UNINDEXED, has UNINDEXED, tokenize = 'unicode61 remove_diacritics 2')"
            )
            return "fts5"
        want = engine or ("mroonga" if mroonga_available() else "innodb")
        columns = (
            "message_id BIGINT NOT NULL PRIMARY KEY, uuid CHAR(32) NOT NULL, conversation_id BIGINT NOT NULL, "
            "seq BIGINT NOT NULL, sender_id BIGINT NULL, created_us BIGINT NOT NULL, "
            "has TINYINT NOT NULL DEFAULT 0, body LONGTEXT NOT NULL"
        )
        if want == "mroonga":
            cursor.execute(
                # The conversation index lets Groonga intersect the caller's
                # conversations with the matches instead of testing each match.
                f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns}, KEY conversation_ix (conversation_id), "
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
            row = "(" + ", ".join(["%s"] * len(COLUMNS)) + ")"
            if connection.vendor == "sqlite":
                names = ", ".join(("rowid", *COLUMNS[1:]))
                cursor.executemany(f"INSERT OR REPLACE INTO {TABLE} ({names}) VALUES {row}", [d.row() for d in docs])
            else:
                marks = ", ".join([row] * len(docs))
                params = [v for d in docs for v in d.row()]
                cursor.execute(f"REPLACE INTO {TABLE} ({', '.join(COLUMNS)}) VALUES {marks}", params)


# --------------------------------------------------------------------------- choosing


def available() -> list[str]:
    """The backends this database can serve now."""
    kind = table_kind()
    if kind is None:
        return []
    return {"mroonga": ["mroonga", "like"], "fts5": ["fts5", "like"], "innodb": ["like"]}[kind]


# The choice per database and setting, with when it was made: looked at again
# after CHOICE_TTL_S, so a server notices an index another process converted
# (enable_search --convert, rebuild --fresh) without a restart.
_chosen: dict[str, tuple[Backend, float]] = {}
CHOICE_TTL_S = 60.0


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
    cached = _chosen.get(cache_key)
    if cached is not None and time.monotonic() - cached[1] < CHOICE_TTL_S:
        return cached[0]
    usable = available()
    if not usable:
        raise Unavailable(gettext("The search index is missing: run `manage.py migrate`."))
    if wanted == "auto":
        chosen = usable[0]
    elif wanted in usable:
        chosen = wanted
    else:
        raise Unavailable(
            gettext(
                "SEARCH_BACKEND=%(wanted)s cannot run on this index (%(n)s can): see `manage.py enable_search` and `manage.py rebuild_search_index --fresh`."
            )
            % {"wanted": wanted, "n": ", ".join(usable)}
        )
    backend = _make(chosen)
    _chosen[cache_key] = (backend, time.monotonic())
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
