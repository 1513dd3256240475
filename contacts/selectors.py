"""Reads about the social graph: contacts, requests and blocks."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Exists, Q
from django.utils.translation import gettext

from accounts.models import User, UserStatus
from accounts.selectors import parse_login
from accounts.serializers import DELETED_NAME
from chatsite import kv
from chatsite.errors import Blocked, Invalid, NotContact, NotFound, RateLimited
from chatsite.wire import parse_uuid
from contacts import letters
from contacts.models import Block, Contact, ContactRequest, RequestStatus


def contact_user_ids(*, user: User) -> list[int]:
    """Primary keys of everyone `user` has as a contact."""
    return list(Contact.objects.filter(owner=user).values_list("other_id", flat=True))


def profile_audience(user: User) -> list[int]:
    """Who sees `user`'s profile changes besides them: their contacts (a block
    does not hide them: blocked contacts stay listed)."""
    return contact_user_ids(user=user)


# --------------------------------------------------------------------------- the pair rule
#
# Whether two users may talk (message, call, type, see each other online) is
# decided here and only here: they are contacts and neither blocks the other.
# A block wins over the contact relation, which it keeps but makes inactive.


@dataclass(frozen=True)
class Pair:
    """Where `user` stands with `other`."""

    contacts: bool  # `user` has `other` as a contact (the relation is mutual)
    blocks: bool  # `user` blocks `other`
    blocked_by: bool  # `other` blocks `user`

    @property
    def blocked(self) -> bool:
        """A block either way."""
        return self.blocks or self.blocked_by

    @property
    def may_talk(self) -> bool:
        return self.contacts and not self.blocked

    def check_may_talk(self) -> None:
        """`blocked` for a block either way, else `not_contact` unless contacts."""
        if self.blocked:
            raise Blocked()
        if not self.contacts:
            raise NotContact()


def _t(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def pair_sql(user: str, other: str) -> str:
    """SQL for the three columns of a Pair (contacts, blocks, blocked_by)
    between the user-id expressions `user` and `other`: for queries that read
    the pair along with other things in one round trip (the send check)."""
    contact, block = _t(Contact), _t(Block)
    return (
        f"EXISTS(SELECT 1 FROM {contact} WHERE owner_id = {user} AND other_id = {other}), "
        f"EXISTS(SELECT 1 FROM {block} WHERE blocker_id = {user} AND blocked_id = {other}), "
        f"EXISTS(SELECT 1 FROM {block} WHERE blocker_id = {other} AND blocked_id = {user})"
    )


def pair_joins(user: str, other: str) -> tuple[str, str]:
    """The same three columns as joins, for a query where `other` is a column
    of another table: (the columns, the LEFT JOINs). MariaDB runs a
    correlated EXISTS through its subquery cache, a temporary table each;
    the pairs are unique, so each join finds at most one row."""
    contact, block = _t(Contact), _t(Block)
    columns = "pc.id IS NOT NULL, pb.id IS NOT NULL, pbb.id IS NOT NULL"
    joins = (
        f"LEFT JOIN {contact} pc ON pc.owner_id = {user} AND pc.other_id = {other} "
        f"LEFT JOIN {block} pb ON pb.blocker_id = {user} AND pb.blocked_id = {other} "
        f"LEFT JOIN {block} pbb ON pbb.blocker_id = {other} AND pbb.blocked_id = {user} "
    )
    return columns, joins


def get_pair(*, user_id: int, other_id: int) -> Pair:
    """The pair of two users. One query."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {pair_sql('%s', '%s')}", [user_id, other_id, user_id, other_id, other_id, user_id])
        contacts, blocks, blocked_by = cursor.fetchone()
    return Pair(contacts=bool(contacts), blocks=bool(blocks), blocked_by=bool(blocked_by))


def check_may_talk(*, user_id: int, other_id: int) -> None:
    """`blocked` or `not_contact` unless the two may talk. One query."""
    get_pair(user_id=user_id, other_id=other_id).check_may_talk()


def sender_blocked_by(reader: User, sender_ref) -> Exists:
    """The reader blocks the sender (an OuterRef to a user id)."""
    return Exists(Block.objects.filter(blocker=reader, blocked_id=sender_ref))


def blocking_readers(sender_id: int, reader_ids: set[int]) -> set[int]:
    """Of `reader_ids`, those who block `sender_id`. One query."""
    return set(
        Block.objects.filter(blocked_id=sender_id, blocker_id__in=reader_ids).values_list("blocker_id", flat=True)
    )


def blocked_either_way_ids(*, user: User) -> set[int]:
    """Users `user` blocks or is blocked by."""
    pairs = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list("blocker_id", "blocked_id")
    return {b if a == user.pk else a for a, b in pairs}


def blocked_apart(user_id: int, other_id: int) -> bool:
    """A block either way between the two. One query."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def blocked_by_ids(*, user: User) -> set[int]:
    """Users `user` blocks (not those who block `user`)."""
    return set(Block.objects.filter(blocker=user).values_list("blocked_id", flat=True))


def talk_partners(*, user: User, among: list[int] | None = None) -> list[int]:
    """The contacts `user` may talk with (no block either way), optionally
    only those among the user ids `among`. Two queries."""
    contacts = Contact.objects.filter(owner=user)
    if among is not None:
        contacts = contacts.filter(other_id__in=among)
    ids = list(contacts.values_list("other_id", flat=True))
    if not ids:
        return []
    hidden = blocked_either_way_ids(user=user)
    return [uid for uid in ids if uid not in hidden]


def talk_partners_sql() -> str:
    """SQL selecting (the user's uuid, a talk partner's id or NULL) for the
    user id parameter: the audience of the user's presence, in one round trip
    (it runs whenever someone comes online or goes offline)."""
    users, contacts, blocks = _t(User), _t(Contact), _t(Block)
    return (
        f"SELECT u.uuid, c.other_id FROM {users} u LEFT JOIN {contacts} c ON c.owner_id = u.id "
        f"AND NOT EXISTS (SELECT 1 FROM {blocks} b WHERE (b.blocker_id = u.id AND b.blocked_id = c.other_id) "
        f"OR (b.blocker_id = c.other_id AND b.blocked_id = u.id)) WHERE u.id = %s"
    )


# --------------------------------------------------------------------------- finding people


def search_users(*, viewer: User, q: object) -> list[User]:
    """Exact username or phone number only: never a scan. Users in a block
    relation with the viewer, and disabled accounts, are not found."""
    if not isinstance(q, str) or not q.strip() or len(q) > 64:
        raise Invalid.field("q", gettext("Enter a username or a phone number."))
    count, ttl = kv.store().counter_incr(f"search:user:{viewer.pk}", window_s=60)
    if count > settings.LIMIT_SEARCH_PER_MIN:
        raise RateLimited(gettext("Too many searches; wait a moment."), retry_after=ttl)
    name = parse_login(q)
    conditions = []
    if name.phone:
        conditions.append(User.objects.filter(phone=name.phone))
    if name.username:
        conditions.append(User.objects.filter(username=name.username))
    found: dict[int, User] = {}
    for qs in conditions:
        for user in qs.select_related("avatar").filter(status=UserStatus.ACTIVE)[:2]:
            found[user.pk] = user
    if not found:
        return []
    hidden = blocked_either_way_ids(user=viewer)
    return [u for u in found.values() if u.pk not in hidden]


# --------------------------------------------------------------------------- the contact list


@dataclass(frozen=True)
class ContactEntry:
    contact: Contact
    blocked: bool


@dataclass(frozen=True)
class Section:
    letter: str
    entries: list[ContactEntry]


def display_name(contact: Contact) -> str:
    """What the contact list shows and files a contact under: the owner's
    remark, else the contact's nickname, else their username."""

    if contact.remark:
        return contact.remark
    other = contact.other
    if other.status == UserStatus.DELETED:
        return DELETED_NAME
    return other.nickname or other.username or ""


def list_contact_sections(*, user: User) -> list[Section]:
    """Every contact of `user`, grouped by index letter (A–Z in order, then
    `#`), sorted within each section (see contacts.letters). Two queries
    whatever the number of contacts."""
    contacts = list(Contact.objects.filter(owner=user).select_related("other__avatar", "conversation"))
    blocked = blocked_by_ids(user=user) if contacts else set()
    by_letter: dict[str, list[tuple[tuple, ContactEntry]]] = {}
    for contact in contacts:
        name = display_name(contact)
        entry = ContactEntry(contact=contact, blocked=contact.other_id in blocked)
        by_letter.setdefault(letters.index_letter(name), []).append(
            (letters.sort_key(name, str(contact.other.uuid)), entry)
        )
    return [
        Section(letter=letter, entries=[entry for _, entry in sorted(items, key=lambda pair: pair[0])])
        for letter, items in sorted(by_letter.items(), key=lambda kv: letters.section_order(kv[0]))
    ]


def access_contact(*, user: User, other_id: object) -> Contact:
    """`user`'s side of the contact relation with the user `other_id`; NotFound otherwise."""
    uid = parse_uuid(other_id)
    if uid is None:
        raise NotFound(gettext("No such contact."))
    contact = (
        Contact.objects.select_related("other__avatar", "conversation").filter(owner=user, other__uuid=uid).first()
    )
    if contact is None:
        raise NotFound(gettext("No such contact."))
    return contact


# --------------------------------------------------------------------------- requests


BOXES = ("incoming", "outgoing")


def list_contact_requests(
    *, user: User, box: object, after_id: int | None, limit: int, status: object = None, peer: object = None
) -> list[ContactRequest]:
    """Requests to `user` (incoming) or from `user` (outgoing), newest first,
    optionally of one status and with one other person (`peer`, a user id:
    the web app finds the greeting a new contact's chat starts with);
    `limit + 1` rows from the keyset `after_id`. One query."""
    if box not in BOXES:
        raise Invalid.field("box", gettext('Must be "incoming" or "outgoing".'))
    if status is not None and status not in RequestStatus.values:
        raise Invalid.field("status", gettext("One of %(n)s.") % {"n": ", ".join(RequestStatus.values)})
    peer_uuid = None
    if peer is not None:
        peer_uuid = parse_uuid(peer)
        if peer_uuid is None:
            raise Invalid.field("peer", gettext("Must be a user id."))
    qs = ContactRequest.objects.select_related("from_user__avatar", "to_user__avatar")
    qs = qs.filter(to_user=user) if box == "incoming" else qs.filter(from_user=user)
    if peer_uuid is not None:
        qs = qs.filter(from_user__uuid=peer_uuid) if box == "incoming" else qs.filter(to_user__uuid=peer_uuid)
    if status is not None:
        qs = qs.filter(status=status)
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])


def access_contact_request(*, user: User, request_id: object) -> ContactRequest:
    """A contact request `user` sent or received; NotFound for anyone else."""
    uid = parse_uuid(request_id)
    if uid is None:
        raise NotFound(gettext("No such request."))
    request = (
        ContactRequest.objects.select_related("from_user__avatar", "to_user__avatar")
        .filter(Q(from_user=user) | Q(to_user=user), uuid=uid)
        .first()
    )
    if request is None:
        raise NotFound(gettext("No such request."))
    return request


# --------------------------------------------------------------------------- blocks


def list_blocks(*, user: User, after_id: int | None, limit: int) -> list[Block]:
    """The users `user` blocks, most recent first; `limit + 1` rows. One query."""
    qs = Block.objects.select_related("blocked__avatar").filter(blocker=user)
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])
