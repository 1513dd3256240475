"""The oracle of the fault tests (checklist §3), read straight from MySQL so it
works on the test database and on a private server alike:

- every message that got `accepted` is stored, exactly once;
- every conversation's seq runs 1..n with no gap and no duplicate;
- every member's client holds every stored message of the conversation, once
  (clients drop repeats by id), and nothing that is not stored;
- nothing is left unacknowledged in a client's outbox.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

from tests.client import ChatClient


def connect(url: str):
    """A DB-API connection (autocommit) to a mysql:// URL."""
    import MySQLdb

    parts = urlparse(url)
    return MySQLdb.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        passwd=unquote(parts.password or ""),
        db=parts.path.lstrip("/"),
        charset="utf8mb4",
        autocommit=True,
        connect_timeout=5,
    )


@dataclass(frozen=True)
class Row:
    seq: int
    id: str
    sender: str | None
    client_msg_id: str | None


def rows(url: str, conversation: str) -> list[Row]:
    conn = connect(url)
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT m.seq, m.uuid, u.uuid, m.client_msg_id FROM conversations_message m "
            "JOIN conversations_conversation c ON c.id = m.conversation_id "
            "LEFT JOIN accounts_user u ON u.id = m.sender_id "
            "WHERE c.uuid = %s ORDER BY m.seq",
            (conversation,),
        )
        return [Row(int(seq), str(mid), str(sender) if sender else None, cmid) for seq, mid, sender, cmid in cur]
    finally:
        conn.close()


def stored_count(url: str, conversations: list[str]) -> int:
    conn = connect(url)
    try:
        cur = conn.cursor()
        marks = ",".join(["%s"] * len(conversations))
        cur.execute(
            "SELECT COUNT(*) FROM conversations_message m JOIN conversations_conversation c ON c.id = m.conversation_id "
            f"WHERE c.uuid IN ({marks})",
            tuple(conversations),
        )
        return int(cur.fetchone()[0])
    finally:
        conn.close()


@dataclass
class Report:
    stored: int = 0
    accepted: int = 0
    repeats: int = 0  # message.new frames clients dropped as already held
    errors: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.stored} stored, {self.accepted} accepted, {self.repeats} repeats dropped by clients, "
            f"errors {dict(self.errors)}"
        )


def check(url: str, *, members: dict[str, list[str]], clients: list[ChatClient]) -> Report:
    """`members`: conversation id → the user ids of its members. Every client
    must have connected at least once (it knows its user)."""
    report = Report()
    by_conversation = {conversation: rows(url, conversation) for conversation in members}
    stored_ids: dict[str, Row] = {}
    sent: Counter[tuple[str | None, str]] = Counter()
    for conversation, found in by_conversation.items():
        report.stored += len(found)
        seqs = [r.seq for r in found]
        if seqs != list(range(1, len(found) + 1)):
            missing = sorted(set(range(1, max(seqs, default=0) + 1)) - set(seqs))
            report.problems.append(f"{conversation}: seq not 1..{len(found)} (missing {missing[:10]})")
        for r in found:
            stored_ids[r.id] = r
            if r.client_msg_id:
                sent[(r.sender, r.client_msg_id)] += 1
    twice = [key for key, n in sent.items() if n > 1]
    if twice:
        report.problems.append(f"{len(twice)} client_msg_ids stored more than once, e.g. {twice[:3]}")
    member_of: dict[str, set[str]] = {}
    for conversation, users in members.items():
        for user in users:
            member_of.setdefault(user, set()).add(conversation)
    for client in clients:
        assert client.user is not None, f"{client.name} never connected"
        uid = client.user["id"]
        report.repeats += client.repeats
        report.errors.update(client.errors)
        report.accepted += len(client.accepted)
        lost = [cmid for cmid in client.accepted if (uid, cmid) not in sent]
        if lost:
            report.problems.append(f"{client.name}: {len(lost)} accepted messages not stored, e.g. {lost[:3]}")
        if client.outbox:
            report.problems.append(f"{client.name}: {len(client.outbox)} messages never acknowledged")
        expected = {mid for c in member_of.get(uid, ()) for mid in (r.id for r in by_conversation[c])}
        held = {mid for mid, m in client.messages.items() if m["conversation"] in members}
        if expected - held:
            report.problems.append(f"{client.name}: misses {len(expected - held)} of {len(expected)} stored messages")
        if held - expected:
            report.problems.append(f"{client.name}: holds {len(held - expected)} messages that are not stored")
    return report


def expected_by_user(url: str, members: dict[str, list[str]]) -> dict[str, set[str]]:
    """User id → the ids of every message stored in their conversations."""
    expected: dict[str, set[str]] = {}
    for conversation, users in members.items():
        ids = {r.id for r in rows(url, conversation)}
        for user in users:
            expected.setdefault(user, set()).update(ids)
    return expected


def delivered(clients: list[ChatClient], expected: dict[str, set[str]]) -> bool:
    """Every client holds what `expected_by_user` said its user should."""
    return all(c.user is not None and expected.get(c.user["id"], set()) <= c.messages.keys() for c in clients)
