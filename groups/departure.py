"""An account that goes away (a person an administrator deletes, a bot its
owner deletes): its row made anonymous, and what it leaves of its relations
unwound through each app's own actions. It lives in `groups`, the lowest
layer that sees both contacts and groups; backoffice's `do_delete_user`
and bots' `do_delete_bot` both call it, so a bot leaves the way a person
does."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db.models import Q
from django.utils import timezone

from accounts.models import User, UserStatus
from chatsite.events import send_event_on_commit
from contacts.models import Block, Contact, ContactRequest, RequestStatus
from contacts.services import do_cancel_contact_request, do_delete_contact, do_reject_contact_request
from groups.models import Group, JoinRequest
from groups.selectors import MANAGERS, member_roles
from groups.serializers import join_request_to_wire
from groups.services import GroupsReleased, do_release_groups


@dataclass(frozen=True)
class Unwound:
    """What a departing account's relations came to (counts, and its groups)."""

    contacts_removed: int
    blocks_removed: int
    requests_closed: int
    join_requests_cancelled: int
    groups: GroupsReleased


def lock_with_contacts(*, user_pk: int) -> None:
    """Lock the account together with everyone it has a contact or a pending
    contact request with, in primary-key order (the order contacts' pair
    locks take), so unwinding its contacts cannot deadlock with a contact
    change of one of them running at the same time."""
    others = set(Contact.objects.filter(owner_id=user_pk).values_list("other_id", flat=True))
    for a, b in ContactRequest.objects.filter(
        Q(from_user_id=user_pk) | Q(to_user_id=user_pk), status=RequestStatus.PENDING
    ).values_list("from_user_id", "to_user_id"):
        others |= {a, b}
    list(User.objects.select_for_update().filter(pk__in={user_pk, *others}).order_by("pk").values_list("pk"))


def anonymise(*, user: User) -> None:
    """The account keeps nothing that names it: username and phone NULL (both
    can be taken again), nickname, signature and avatar wiped, the password
    unusable, the administrator flags cleared, status `deleted`. Its messages
    keep it as their sender, shown as "Deleted user". First, so that every
    event the unwinding sends shows it so."""
    user.username = None
    user.phone = None
    user.nickname = ""
    user.signature = ""
    user.avatar = None
    user.status = UserStatus.DELETED
    user.is_staff = user.is_superuser = False
    user.password = make_password(None)
    user.save()


def do_unwind_account(*, user: User) -> Unwound:
    """Everything of `user`'s relations, each through the ordinary action
    (its lock, its system message, its events), after `anonymise`:

    - contacts removed on both sides (`contact.removed` to each);
    - blocks either way removed;
    - pending contact requests cancelled (sent) or rejected (received);
    - pending join requests cancelled, before the memberships (an accept
      that wins the group lock first makes a membership the next step ends);
    - every group left, handed over or dismissed (`do_release_groups`)."""
    contacts = list(Contact.objects.select_related("other").filter(owner=user).order_by("pk"))
    for contact in contacts:
        do_delete_contact(user=user, other_id=str(contact.other.uuid))
    blocks, _ = Block.objects.filter(Q(blocker=user) | Q(blocked=user)).delete()
    pending = list(
        ContactRequest.objects.filter(Q(from_user=user) | Q(to_user=user), status=RequestStatus.PENDING)
        .only("uuid", "from_user_id")
        .order_by("pk")
    )
    for request in pending:
        if request.from_user_id == user.pk:
            do_cancel_contact_request(user=user, request_id=str(request.uuid))
        else:
            do_reject_contact_request(user=user, request_id=str(request.uuid))
    cancelled_joins = _cancel_join_requests(user)
    return Unwound(
        contacts_removed=len(contacts),
        blocks_removed=blocks,
        requests_closed=len(pending),
        join_requests_cancelled=cancelled_joins,
        groups=do_release_groups(user=user),
    )


def _cancel_join_requests(user: User) -> int:
    """Cancel `user`'s pending join requests, each under its group's lock (the
    lock groups' accept and reject take); the group's owner and admins get
    `group.join_request` with the cancelled request."""

    cancelled = 0
    pending = JoinRequest.objects.select_related("group__avatar").filter(user=user, status=RequestStatus.PENDING)
    for request in list(pending.order_by("pk")):
        list(Group.objects.select_for_update().filter(pk=request.group_id).values_list("pk"))
        done = JoinRequest.objects.filter(pk=request.pk, status=RequestStatus.PENDING).update(
            status=RequestStatus.CANCELLED, pending_key=None, updated_at=timezone.now()
        )
        if not done:
            continue
        cancelled += 1
        request.status, request.user = RequestStatus.CANCELLED, user
        managers = [uid for uid, role in member_roles(group=request.group).items() if role in MANAGERS]
        send_event_on_commit(
            user_ids=managers, frame={"type": "group.join_request", "request": join_request_to_wire(request)}
        )
    return cancelled
