"""Finding messages: the query, its filters and the caller's access, all in
one SQL statement over the index (search.backends) joined to the messages
and the caller's memberships, so a page is full and `next` right. A message
edited since the index last saw it is kept only if its current text still
matches (the page is topped up for those dropped): it is found by its current
text only, however far behind the indexer is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from django.conf import settings
from django.utils.translation import gettext

from accounts.models import User
from chatsite import kv
from chatsite.errors import Invalid, RateLimited
from chatsite.wire import parse_moment, parse_uuid, whole_number
from conversations.models import Conversation, Member, Message
from search import backends
from search.backends import HAS_FILE, HAS_IMAGE
from search.text import Term, best_match, matches, parse_query

PAGE = 20
Q_MAX = 100
HAS = {"file": HAS_FILE, "image": HAS_IMAGE}
# A page with hits dropped (edited since the index saw them) is topped up from
# the index at most this many times.
TOP_UP_ROUNDS = 4


@dataclass
class Found:
    messages: list[Message]  # each with .reader_visible_from and .match
    next: list | None  # the keyset after the last one (created_at, id), when there is more


def _query_terms(q: object) -> list[Term]:
    if not isinstance(q, str) or not q.strip():
        raise Invalid.field("q", gettext("From 1 to 100 characters."))
    if len(q) > Q_MAX:
        raise Invalid.field("q", gettext("From 1 to 100 characters."))
    if "\x00" in q:
        raise Invalid.field("q", gettext("Must not contain NUL characters."))
    return parse_query(q)


def _moment(value: object, field: str) -> dt.datetime | None:
    """An ISO 8601 timestamp (UTC when it names no offset) or a date (its
    midnight, UTC)."""
    if value in (None, ""):
        return None
    moment = parse_moment(value, dates=True)
    if moment is None:
        raise Invalid.field(field, gettext("Must be an ISO 8601 timestamp, such as 2026-12-01T00:00:00Z."))
    return moment


def _after_key(cursor: list | None) -> tuple[dt.datetime, int] | None:
    if cursor is None:
        return None
    created, pk = cursor
    moment = parse_moment(created)
    if moment is None or whole_number(pk) is None:
        raise Invalid.field("cursor", gettext("Not a cursor from this list."))
    return moment, pk


def search_messages(
    *,
    user: User,
    q: object,
    conversation: object = None,
    sender: object = None,
    after: object = None,
    before: object = None,
    has: object = None,
    cursor: list | None = None,
    backend: str | None = None,
    limit: int = PAGE,
) -> Found:
    """Messages the user may read (each conversation within their window, never
    recalled) that contain every term of `q`, newest first (`created_at`, then
    id), a page of `limit` after the keyset `cursor`."""
    terms = _query_terms(q)
    count, ttl = kv.store().counter_incr(f"search:messages:{user.pk}", window_s=60)
    if count > settings.LIMIT_MESSAGE_SEARCH_PER_MIN:
        raise RateLimited(gettext("Too many searches; wait a moment."), retry_after=ttl)
    since, until = _moment(after, "after"), _moment(before, "before")
    if has not in (None, "") and has not in HAS:
        raise Invalid.field("has", gettext("Must be file or image."))
    keyset = _after_key(cursor)
    # Every filter's shape first: a malformed one is `invalid` whatever the others find.
    keys = []
    for model, value, field, refusal in (
        (Conversation, conversation, "conversation", gettext("Must be a conversation id.")),
        (User, sender, "from", gettext("Must be a user id.")),
    ):
        if value in (None, ""):
            continue
        key = parse_uuid(value)
        if key is None:
            raise Invalid.field(field, refusal)
        keys.append((model, key, field))
    pks: dict[str, int] = {}
    for model, key, field in keys:
        pk = model.objects.filter(uuid=key).values_list("pk", flat=True).first()
        if pk is None:  # unknown: nothing of it to find (never an error that tells what exists)
            return Found([], None)
        pks[field] = pk
    if not terms:  # nothing searchable in q (`%`, `!!`): nothing matches
        return Found([], None)
    engine = backends.get_backend(backend)
    # The caller's windows: every conversation they belong or belonged to.
    members = Member.objects.filter(user=user)
    if "conversation" in pks:
        members = members.filter(conversation_id=pks["conversation"])
    windows = {
        cid: (start, end) for cid, start, end in members.values_list("conversation_id", "visible_from_seq", "left_seq")
    }
    if not windows:
        return Found([], None)
    query = backends.Query(
        user_id=user.pk,
        terms=terms,
        windows=windows,
        conversation_id=pks.get("conversation"),
        sender_id=pks.get("from"),
        since=since,
        until=until,
        has=HAS[has] if has else None,
        after=keyset,
        limit=limit + 1,
    )
    found: list[Message] = []
    for _ in range(TOP_UP_ROUNDS):
        ids = engine.find(query)
        loaded = Message.objects.select_related("conversation", "sender__avatar", "file").in_bulk(ids)
        for pk in ids:
            m = loaded.get(pk)
            if m is None:  # deleted since
                continue
            names = [m.file.name] if m.file_id is not None and m.file is not None else []
            if m.edited_at is not None and not matches(m.text, names, terms):
                # Edited since the index last saw it: found by its old text only.
                continue
            m.reader_visible_from = windows[m.conversation_id][0]
            m.match = best_match(m.text, names, terms)
            found.append(m)
        last = next((loaded[pk] for pk in reversed(ids) if pk in loaded), None)
        if len(found) > limit or len(ids) <= limit or last is None:
            break
        # Some were dropped: the page is topped up from after the last one read.
        query = replace(query, after=(last.created_at, last.pk))
    more = len(found) > limit
    found = found[:limit]
    nxt = None
    if more and found:
        last = found[-1]
        nxt = [last.created_at.astimezone(dt.UTC).isoformat(), last.pk]
    return Found(found, nxt)
