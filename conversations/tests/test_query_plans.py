"""The history page and `sync` read a conversation's messages through the
unique `(conversation_id, seq)` index, in seq order: no filesort, no
temporary table (docs/mariadb.md, "The hot queries").

The statements checked are the ones the product sends, captured while
`history_page` and `sync_for` run, and EXPLAINed on MariaDB. The plan is
MariaDB's, so these run in the real-services run only. Without the index
MariaDB reads the conversation by another index and sorts it: they fail.

The second test is the stronger property, that a page reads only its own
rows (which needs the index hint in `_page`).
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.db import connection
from django.db.models import UniqueConstraint
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Message
from conversations.selectors import HISTORY_DEFAULT, access_conversation, history_page, sync_for
from conversations.store import Incoming, store_messages

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "mysql", reason="MariaDB's plan (the real-services run)"),
]

# Four pages in each of two conversations: the index has something to choose
# between, and a page is a part of the range.
MESSAGES = 4 * HISTORY_DEFAULT
PAGE = HISTORY_DEFAULT + 1  # a page and the row that says there is more


def seq_index() -> UniqueConstraint:
    """The unique (conversation, seq) constraint: its index is the one the reads go by."""
    (constraint,) = [
        c
        for c in Message._meta.constraints
        if isinstance(c, UniqueConstraint) and tuple(c.fields) == ("conversation", "seq")
    ]
    return constraint


def fill(conversation: Conversation, sender_id: int) -> None:
    """MESSAGES text messages, through the store step as the worker stores them."""
    store_messages(
        [
            Incoming(
                conversation_id=conversation.pk,
                sender_id=sender_id,
                kind="text",
                text=f"message {n}",
                client_msg_id=str(uuid.uuid4()),
            )
            for n in range(MESSAGES)
        ],
        need_keys=False,
    )


@pytest.fixture
def chats(alice, bob, carol, direct):
    """alice and bob's direct conversation and alice and carol's, each with
    MESSAGES messages (alice sent them all: bob's read cursor stays at 0)."""
    # contacts sits above conversations: only this fixture needs it (a second conversation).
    from contacts.services import do_connect

    mine = Conversation.objects.get(uuid=direct)
    fill(mine, alice.pk)
    fill(do_connect(user=alice, other=carol).conversation, alice.pk)
    mine.refresh_from_db()
    return mine


def message_read(fn, **kwargs) -> str:
    """The one statement reading the messages table that `fn(**kwargs)` sends."""
    table = connection.ops.quote_name(Message._meta.db_table)
    with CaptureQueriesContext(connection) as captured:
        fn(**kwargs)
    reads = [
        q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT") and f"FROM {table}" in q["sql"]
    ]
    assert len(reads) == 1, f"{fn.__name__} read the messages {len(reads)} times"
    return reads[0]


def reads(alice, bob, chats: Conversation) -> dict[str, tuple[str, int]]:
    """Each hot read's statement, and the most rows it needs to read."""
    access = access_conversation(user=alice, conversation_id=str(chats.uuid))
    pages = {
        "history, the newest page": {},
        "history, a page older": {"before": chats.last_seq - HISTORY_DEFAULT},
        "history, the oldest page": {"before": HISTORY_DEFAULT},
        "history, a page newer": {"after": HISTORY_DEFAULT},
    }
    out = {name: (message_read(history_page, access=access, **where), PAGE) for name, where in pages.items()}
    # bob's read cursor is at 0: everything after it, up to the frame limit.
    out["sync after the read cursor"] = (message_read(sync_for, user=bob, cursors={}, max_frames=HISTORY_DEFAULT), PAGE)
    out["sync after a named cursor"] = (
        message_read(sync_for, user=bob, cursors={str(chats.uuid): chats.last_seq - 10}),
        10,
    )
    return out


def explain(sql: str) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        columns = [c[0] for c in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def test_history_and_sync_read_by_the_seq_index_without_sorting(alice, bob, chats):
    for name, (sql, _) in reads(alice, bob, chats).items():
        plan = explain(sql)
        shown = f"{name}:\n" + "\n".join(str(row) for row in plan)
        # The messages table drives the query (each row's file is joined to it).
        assert plan[0]["key"] == seq_index().name, shown
        assert plan[0]["type"] in ("range", "ref"), shown
        for row in plan:
            assert "filesort" not in (row["Extra"] or ""), shown
            assert "temporary" not in (row["Extra"] or ""), shown


def test_a_page_reads_no_more_rows_than_the_page(alice, bob, chats):
    """MariaDB 10.11 would often take `ref` on conversation_id alone (key_len 8)
    rather than the range on (conversation_id, seq), so a page deep in a long
    conversation read every newer row; the page's index hint (FORCE INDEX)
    keeps each read within its page."""
    columns = [Message._meta.get_field(name).column for name in seq_index().fields]
    for name, (sql, asked) in reads(alice, bob, chats).items():
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE FORMAT=JSON {sql}")
            block = json.loads(cursor.fetchone()[0])["query_block"]
        messages = block["nested_loop"][0]["table"] if "nested_loop" in block else block["table"]
        assert messages["used_key_parts"] == columns, f"{name}: {messages}"
        assert messages["r_rows"] <= asked, f"{name}: {messages}"


def test_a_message_by_client_msg_id_is_read_by_its_own_unique_index(alice, bob, chats):
    """The page's index hint is for seq ranges only: the lookup of one message
    by (sender, client_msg_id) keeps its unique index, one row, wherever the
    message sits in a long conversation."""
    access = access_conversation(user=alice, conversation_id=str(chats.uuid))
    (last,) = Message.objects.filter(conversation=chats, seq=chats.last_seq)
    sql = message_read(history_page, access=access, client_msg_id=str(last.client_msg_id))
    (constraint,) = [c for c in Message._meta.constraints if tuple(c.fields) == ("sender", "client_msg_id")]
    plan = explain(sql)
    assert plan[0]["key"] == constraint.name and plan[0]["type"] == "const", plan
    assert history_page(access=access, client_msg_id=str(last.client_msg_id))[0] == [last]
