"""Reads about the social graph: contacts, requests and blocks."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from accounts.models import User
from chatsite.errors import Invalid, NotFound
from chatsite.wire import parse_uuid
from contacts import letters
from contacts.models import Block, Contact, ContactRequest, RequestStatus


def contact_user_ids(*, user: User) -> list[int]:
    """Primary keys of everyone `user` has as a contact."""
    return list(Contact.objects.filter(owner=user).values_list("other_id", flat=True))


def are_contacts(*, user_id: int, other_id: int) -> bool:
    return Contact.objects.filter(owner_id=user_id, other_id=other_id).exists()


def is_blocked_between(*, user_id: int, other_id: int) -> bool:
    """True when either user blocks the other."""
    return Block.objects.filter(
        Q(blocker_id=user_id, blocked_id=other_id) | Q(blocker_id=other_id, blocked_id=user_id)
    ).exists()


def blocked_either_way_ids(*, user: User) -> set[int]:
    """Users `user` blocks or is blocked by."""
    pairs = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).values_list("blocker_id", "blocked_id")
    return {b if a == user.pk else a for a, b in pairs}


def blocked_by_ids(*, user: User) -> set[int]:
    """Users `user` blocks (not those who block `user`)."""
    return set(Block.objects.filter(blocker=user).values_list("blocked_id", flat=True))


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
    from accounts.models import UserStatus
    from accounts.serializers import DELETED_NAME

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
        raise NotFound("No such contact.")
    contact = (
        Contact.objects.select_related("other__avatar", "conversation").filter(owner=user, other__uuid=uid).first()
    )
    if contact is None:
        raise NotFound("No such contact.")
    return contact


# --------------------------------------------------------------------------- requests


BOXES = ("incoming", "outgoing")


def list_contact_requests(
    *, user: User, box: object, after_id: int | None, limit: int, status: object = None
) -> list[ContactRequest]:
    """Requests to `user` (incoming) or from `user` (outgoing), newest first,
    optionally of one status; `limit + 1` rows from the keyset `after_id`.
    One query."""
    if box not in BOXES:
        raise Invalid.field("box", 'Must be "incoming" or "outgoing".')
    if status is not None and status not in RequestStatus.values:
        raise Invalid.field("status", f"One of {', '.join(RequestStatus.values)}.")
    qs = ContactRequest.objects.select_related("from_user__avatar", "to_user__avatar")
    qs = qs.filter(to_user=user) if box == "incoming" else qs.filter(from_user=user)
    if status is not None:
        qs = qs.filter(status=status)
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])


def access_contact_request(*, user: User, request_id: object) -> ContactRequest:
    """A contact request `user` sent or received; NotFound for anyone else."""
    uid = parse_uuid(request_id)
    if uid is None:
        raise NotFound("No such request.")
    request = (
        ContactRequest.objects.select_related("from_user__avatar", "to_user__avatar")
        .filter(Q(from_user=user) | Q(to_user=user), uuid=uid)
        .first()
    )
    if request is None:
        raise NotFound("No such request.")
    return request


# --------------------------------------------------------------------------- blocks


def list_blocks(*, user: User, after_id: int | None, limit: int) -> list[Block]:
    """The users `user` blocks, most recent first; `limit + 1` rows. One query."""
    qs = Block.objects.select_related("blocked__avatar").filter(blocker=user)
    if after_id is not None:
        qs = qs.filter(pk__lt=after_id)
    return list(qs.order_by("-pk")[: limit + 1])
