"""Contacts, contact requests and blocks: the rules of the social graph.

The REST views (and later the web pages and the admin) call these. Writes
that concern a pair of users lock both user rows in primary-key order first,
so two requests crossing each other (A → B while B → A), an accept racing a
block, or a delete racing an accept are serialised and never leave half a
relation behind.

A friendship is two `Contact` rows, one per direction (see contacts.models):
the remark is per direction, "my contacts" is one index range on `owner`, and
both rows are written and deleted together in one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import User, UserStatus
from accounts.serializers import user_to_wire
from chatsite.errors import Blocked, Conflict, Forbidden, Invalid, NotFound
from chatsite.events import access_changed_on_commit, notify_on_commit, send_event_on_commit, send_events_on_commit
from chatsite.i18n import request_closed_text
from chatsite.text import clean_text
from chatsite.wire import parse_uuid
from contacts.models import REMARK_MAX, REQUEST_MESSAGE_MAX, Block, Contact, ContactRequest, RequestStatus
from contacts.selectors import access_contact, access_contact_request, get_pair
from contacts.serializers import contact_request_to_wire
from conversations.members import ensure_direct_conversation

logger = logging.getLogger(__name__)


def _lock_pair(a: User, b: User) -> None:
    """Row-lock both users, lower primary key first (no deadlock between pairs)."""
    list(User.objects.select_for_update().filter(pk__in=sorted({a.pk, b.pk})).order_by("pk").values_list("pk"))


def _find_user(user_id: object, *, field: str, active_only: bool) -> User:
    uid = parse_uuid(user_id)
    if uid is None:
        raise Invalid.field(field, gettext("Must be a user id."))
    user = User.objects.select_related("avatar").filter(uuid=uid).first()
    if user is None or user.status == UserStatus.DELETED or (active_only and user.status != UserStatus.ACTIVE):
        raise NotFound(gettext("No such user."))
    return user


# --------------------------------------------------------------------------- contacts


def _connect(user: User, other: User) -> tuple[Contact, bool]:
    """Both Contact rows and the direct conversation; (user's side, created?).
    Announces `contact.added` to both when the relation is new."""
    conversation = ensure_direct_conversation(user=user, other=other)
    now = timezone.now()
    mine, created_mine = Contact.objects.get_or_create(
        owner=user, other=other, defaults={"since": now, "conversation": conversation}
    )
    _, created_theirs = Contact.objects.get_or_create(
        owner=other, other=user, defaults={"since": now, "conversation": conversation}
    )
    if mine.conversation_id is None:
        Contact.objects.filter(owner__in=(user, other), other__in=(user, other)).update(conversation=conversation)
        mine.conversation = conversation
    created = created_mine or created_theirs
    if created:
        conv = str(conversation.uuid)
        send_events_on_commit(
            [
                ([user.pk], {"type": "contact.added", "user": user_to_wire(other), "conversation": conv}),
                ([other.pk], {"type": "contact.added", "user": user_to_wire(user), "conversation": conv}),
            ]
        )
    return mine, created


@transaction.atomic
def do_connect(*, user: User, other: User) -> Contact:
    """Make `user` and `other` contacts of each other (both directions) and open
    their direct conversation. Idempotent. Returns `user`'s side; both get
    `contact.added` when the relation is new. No checks: the request flow
    (do_send_contact_request / do_accept_contact_request) is the product's way
    in; this is for it, fixtures and administrative tools."""
    if user.pk == other.pk:
        raise Invalid.field("to", gettext("You cannot add yourself."))
    _lock_pair(user, other)
    contact, _ = _connect(user, other)
    return contact


def do_update_contact(*, user: User, other_id: object, remark: object) -> Contact:
    """Set (or clear, with "") `user`'s remark for a contact. Only `user`'s side changes."""
    contact = access_contact(user=user, other_id=other_id)
    cleaned = clean_text(remark, field="remark", max_len=REMARK_MAX, allow_empty=True)
    if cleaned == contact.remark:
        return contact  # nothing to save, nothing for the other devices to redraw
    contact.remark = cleaned
    contact.save(update_fields=["remark"])
    # Private: only the user's own devices hear of it, each shows it at once.
    send_event_on_commit(
        user_ids=[user.pk],
        frame={"type": "contact.updated", "user": user_to_wire(contact.other), "remark": contact.remark},
    )
    return contact


@transaction.atomic
def do_delete_contact(*, user: User, other_id: object) -> None:
    """Remove the relation on both sides. The direct conversation stays (its
    history stays readable; sending fails with `not_contact`). Both users get
    `contact.removed`, and what the two had going ends at once, as for a
    block (`react_to_parting`: a live call between them)."""
    contact = access_contact(user=user, other_id=other_id)
    other = contact.other
    _lock_pair(user, other)
    deleted, _ = Contact.objects.filter(owner__in=(user, other), other__in=(user, other)).delete()
    if not deleted:  # removed meanwhile by the other side
        raise NotFound(gettext("No such contact."))
    conv = str(contact.conversation.uuid) if contact.conversation_id else None
    access_changed_on_commit(user_ids=(user.pk, other.pk))
    _parted(user=user, other=other)
    send_events_on_commit(
        [
            ([user.pk], {"type": "contact.removed", "user": user_to_wire(other), "conversation": conv}),
            ([other.pk], {"type": "contact.removed", "user": user_to_wire(user), "conversation": conv}),
        ]
    )
    logger.info("contact removed: %s <-> %s", user.pk, other.pk)


# --------------------------------------------------------------------------- requests


def _request_event(request: ContactRequest, user_ids) -> None:
    send_event_on_commit(
        user_ids=user_ids, frame={"type": "contact.request", "request": contact_request_to_wire(request)}
    )


def _close(request: ContactRequest, status: str) -> None:
    request.status = status
    request.pending_key = None
    request.save(update_fields=["status", "pending_key", "updated_at"])


def _accept(request: ContactRequest) -> None:
    """Accept a pending request (caller holds the pair lock): the contact on both
    sides, the direct conversation, `contact.request` to both, `contact.added` to both."""
    if get_pair(user_id=request.from_user_id, other_id=request.to_user_id).blocked:
        raise Blocked()
    _close(request, RequestStatus.ACCEPTED)
    # A request the other way, if any, is answered by this too.
    for other in ContactRequest.objects.select_related("from_user__avatar", "to_user__avatar").filter(
        from_user=request.to_user, to_user=request.from_user, status=RequestStatus.PENDING
    ):
        _close(other, RequestStatus.ACCEPTED)
        _request_event(other, [other.from_user_id, other.to_user_id])
    _connect(request.to_user, request.from_user)
    _request_event(request, [request.from_user_id, request.to_user_id])


@transaction.atomic
def do_send_contact_request(*, user: User, to: object, message: object = "") -> ContactRequest:
    """Ask `to` to become a contact.

    - yourself → `invalid`; a missing, deleted or disabled user → `not_found`;
    - a block either way → `blocked`; already contacts → `conflict`;
    - when `to` has a pending request to `user`, that request is accepted
      instead and returned (`status: "accepted"`; both get `contact.added`);
    - a pending request from `user` to `to` already → `conflict`;
    - a bot neither sends nor gets requests (`forbidden`): who may add a bot
      is its owner's choice (bots.services.do_add_bot).
    Otherwise a pending request is stored and `to` gets `contact.request`."""
    target = _find_user(to, field="to", active_only=True)
    if target.pk == user.pk:
        raise Invalid.field("to", gettext("You cannot add yourself."))
    if user.is_bot:
        raise Forbidden(gettext("A bot cannot send contact requests."))
    if target.is_bot:
        raise Forbidden(gettext("A bot is added from its page (POST /bots/{id}/add), not by request."))
    text = clean_text(
        "" if message is None else message,
        field="message",
        max_len=REQUEST_MESSAGE_MAX,
        allow_empty=True,
        multiline=True,
    )
    _lock_pair(user, target)
    pair = get_pair(user_id=user.pk, other_id=target.pk)
    if pair.blocked:
        raise Blocked()
    if pair.contacts:
        raise Conflict(gettext("You are already contacts."))
    reverse = (
        ContactRequest.objects.select_related("from_user__avatar", "to_user__avatar")
        .filter(from_user=target, to_user=user, status=RequestStatus.PENDING)
        .first()
    )
    if reverse is not None:
        _accept(reverse)
        return reverse
    try:
        with transaction.atomic():
            request = ContactRequest.objects.create(
                from_user=user, to_user=target, message=text, pending_key=f"{user.pk}:{target.pk}"
            )
    except IntegrityError:
        raise Conflict(gettext("You already have a pending request to this user.")) from None
    request.from_user, request.to_user = user, target
    _request_event(request, [target.pk])
    # Someone with no app open hears of it by push (notifications).
    notify_on_commit(kind="contact_request", object_id=request.pk, key=f"{target.pk}")
    return request


def _decide(*, user: User, request_id: object) -> ContactRequest:
    """The pending request `user` received, locked with its pair."""
    request = access_contact_request(user=user, request_id=request_id)
    if request.to_user_id != user.pk:
        raise NotFound(gettext("No such request."))  # the sender may not decide (rest.md: others get 404)
    _lock_pair(request.from_user, request.to_user)
    request.refresh_from_db(fields=["status", "pending_key"])
    if request.status != RequestStatus.PENDING:
        raise Conflict(request_closed_text(request.status))
    return request


@transaction.atomic
def do_accept_contact_request(*, user: User, request_id: object) -> ContactRequest:
    """The receiver accepts: contacts on both sides and their direct
    conversation; `contact.request` (accepted) and `contact.added` to both.
    Not pending → `conflict`; a block either way → `blocked`."""
    request = _decide(user=user, request_id=request_id)
    _accept(request)
    return request


@transaction.atomic
def do_reject_contact_request(*, user: User, request_id: object) -> ContactRequest:
    """The receiver rejects; both get `contact.request` (rejected). Not pending → `conflict`."""
    request = _decide(user=user, request_id=request_id)
    _close(request, RequestStatus.REJECTED)
    _request_event(request, [request.from_user_id, request.to_user_id])
    return request


@transaction.atomic
def do_cancel_contact_request(*, user: User, request_id: object) -> ContactRequest:
    """The sender withdraws a pending request; both get `contact.request`
    (cancelled). The receiver → `forbidden`; anyone else → `not_found`; not
    pending → `conflict`."""
    request = access_contact_request(user=user, request_id=request_id)
    if request.from_user_id != user.pk:
        raise Forbidden(gettext("Only the sender may cancel a request."))
    _lock_pair(request.from_user, request.to_user)
    request.refresh_from_db(fields=["status", "pending_key"])
    if request.status != RequestStatus.PENDING:
        raise Conflict(request_closed_text(request.status))
    _close(request, RequestStatus.CANCELLED)
    _request_event(request, [request.from_user_id, request.to_user_id])
    return request


# --------------------------------------------------------------------------- blocks


# Apps built on contacts that must act the moment two users may no longer
# talk, because one blocks the other or removes the contact, register here
# from their AppConfig.ready() (calls ends a live call). Each runs inside the
# block's or the removal's transaction, after the pair's rows are locked and
# changed, with `user` (who acted) and `other`.
_parting_reactions: list[Callable[..., object]] = []


def react_to_parting(fn: Callable[..., object]) -> None:
    if fn not in _parting_reactions:
        _parting_reactions.append(fn)


def _parted(*, user: User, other: User) -> None:
    for react in _parting_reactions:
        react(user=user, other=other)


@transaction.atomic
def do_block(*, user: User, target_id: object) -> User:
    """`user` blocks `target`: from now on neither can send the other a contact
    request, a direct message or a call, and neither finds the other in user
    search. The contact relation (if any) is kept, inactive, and works again
    after unblocking. Nobody is told. Yourself → `invalid`; already → `conflict`."""
    target = _find_user(target_id, field="user", active_only=False)
    if target.pk == user.pk:
        raise Invalid.field("user", gettext("You cannot block yourself."))
    _lock_pair(user, target)
    try:
        with transaction.atomic():
            Block.objects.create(blocker=user, blocked=target)
    except IntegrityError:
        raise Conflict(gettext("You already block this user.")) from None
    # A block takes effect at once: what the two have going ends now (a live
    # call), and neither's sockets send to the other on what they cached.
    access_changed_on_commit(user_ids=(user.pk, target.pk))
    _parted(user=user, other=target)
    _tell_own_devices(user=user, target=target, blocked=True)
    logger.info("user %s blocks %s", user.pk, target.pk)
    return target


@transaction.atomic
def do_unblock(*, user: User, target_id: object) -> None:
    """Lift `user`'s block of `target` (a block `target` holds on `user` stays).
    Not blocked → `not_found`."""
    uid = parse_uuid(target_id)
    block = (
        Block.objects.filter(blocker=user, blocked__uuid=uid).select_related("blocked").first()
        if uid is not None
        else None
    )
    if block is None or not Block.objects.filter(pk=block.pk).delete()[0]:
        raise NotFound(gettext("You do not block this user."))
    _tell_own_devices(user=user, target=block.blocked, blocked=False)
    logger.info("user %s unblocked %s", user.pk, uid)


def _tell_own_devices(*, user: User, target: User, blocked: bool) -> None:
    # The blocker's own devices (the block is private: the other is never
    # told), so each stops notifying of the person, or starts again, and
    # shows the block without being reloaded.
    send_event_on_commit(
        user_ids=[user.pk], frame={"type": "block.changed", "user": user_to_wire(target), "blocked": blocked}
    )
