"""Administration: what an administrator may do to users and groups, and the
audit log of it.

Every action is one transaction that

1. locks the target's row (users: the User row; groups: the Group row);
2. checks the actor: an active administrator (else `forbidden`); nobody
   disables, deletes or removes the admin right of themselves (`conflict`,
   errors.md "removing one's own admin right"); only a superuser does any of
   that to a superuser (`forbidden`), so staff administrators cannot lock the
   superusers out;
3. makes the change through the services that own it (accounts' session
   revocation, contacts' and groups' services, groups'
   `do_admin_set_group_status`, calls' ending of a live call), so events and their recipients are the same
   as when users act themselves;
4. appends one `AuditEntry` (who, what, target, when, reason, how), in the
   same transaction: a change that rolls back leaves no entry, and no change
   goes unrecorded.

An action that finds its target already in the requested state changes
nothing, records nothing and returns the target as it is (like groups'
`do_admin_set_group_status`). A deleted account cannot be changed any more
(`conflict`), except that deleting it again is such a no-op.

The REST API (backoffice.api) and the Django admin's actions (accounts/admin.py,
groups/admin.py) are the two callers; they pass `via` so the log says which.

Why here and not in accounts/actions/: accounts keeps what a status means
(disabled accounts cannot log in and their tokens stop working, deleted ones
are gone: `ensure_active`, `authenticate_access_token`) and how sessions end
(`do_revoke_user_sessions`). Deciding that a status changes is an
administrator's act that needs the actor's checks and the audit entry in the
same transaction, and deleting an account also unwinds contacts, requests and
group memberships: putting that in accounts would make the lowest app depend
on contacts, groups and the audit log.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext, gettext_lazy

from accounts.actions.profile import announce_profile
from accounts.actions.sessions import CLOSE_DISABLED, do_revoke_user_sessions
from accounts.models import User, UserStatus
from backoffice.models import REASON_MAX, AuditAction, AuditEntry, AuditTargetType, AuditVia
from bots.models import Bot
from bots.services import do_delete_bot
from calls.services import REASON_ACCOUNT_DELETED, REASON_ACCOUNT_DISABLED, do_end_calls_of_user
from chatsite.errors import Conflict, Forbidden, NotFound
from chatsite.events import close_sockets_on_commit
from chatsite.text import clean_text
from chatsite.wire import parse_uuid
from groups.departure import anonymise, do_unwind_account, lock_with_contacts
from groups.models import Group, GroupStatus
from groups.services import do_admin_set_group_status

logger = logging.getLogger(__name__)


GROUP_STATUS_ACTIONS = {
    GroupStatus.DISABLED: AuditAction.GROUP_DISABLE,
    GroupStatus.ACTIVE: AuditAction.GROUP_ENABLE,
    GroupStatus.DISMISSED: AuditAction.GROUP_DISMISS,
}


# --------------------------------------------------------------------------- plumbing


def clean_reason(value: object) -> str:
    """The optional reason: 0–500 characters, newlines allowed (None → "")."""
    if value is None:
        return ""
    return clean_text(value, field="reason", max_len=REASON_MAX, allow_empty=True, multiline=True)


def _clean_via(via: str) -> str:
    if via not in AuditVia.values:
        raise ValueError(f"via must be one of {AuditVia.values}")
    return via


def require_admin(actor: User) -> None:
    """Only an active administrator may use the back office (`forbidden`)."""
    if not (actor.is_authenticated and actor.is_admin and actor.status == UserStatus.ACTIVE):
        raise Forbidden(gettext("Only administrators may do this."))


def user_label(user: User) -> str:
    return user.username or f"deleted user {user.uuid}"


def record(
    *,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: str,
    target_label: str,
    reason: str = "",
    via: str,
    metadata: dict | None = None,
) -> AuditEntry:
    """Append one audit entry (in the caller's transaction)."""
    return AuditEntry.objects.create(
        actor=actor,
        actor_label=user_label(actor)[:150] if actor is not None else "system",
        action=action,
        target_type=target_type,
        target_id=target_id,
        target_label=target_label[:200],
        reason=reason,
        via=_clean_via(via),
        metadata=metadata or {},
    )


def _lock_user(user_id: object) -> User:
    uid = parse_uuid(user_id)
    user = User.objects.select_for_update().filter(uuid=uid).first() if uid else None
    if user is None:
        raise NotFound(gettext("No such user."))
    return user


# Each action's refusals, as whole sentences (a translation cannot build one
# from a verb): acting on oneself, and a non-superuser on a superuser.
_REFUSALS = {
    "disable": (
        gettext_lazy("You cannot disable yourself."),
        gettext_lazy("Only a superuser may disable a superuser."),
    ),
    "revoke_admin": (
        gettext_lazy("You cannot remove your own administrator right."),
        gettext_lazy("Only a superuser may remove a superuser's administrator right."),
    ),
    "delete": (
        gettext_lazy("You cannot delete yourself."),
        gettext_lazy("Only a superuser may delete a superuser."),
    ),
}


def _check_target(actor: User, target: User, *, action: str) -> None:
    """The rules of step 2 (see the module docstring) for acting on `target`."""
    on_self, on_superuser = _REFUSALS[action]
    if target.pk == actor.pk:
        raise Conflict(str(on_self))
    if target.is_superuser and not actor.is_superuser:
        raise Forbidden(str(on_superuser))


def _refuse_deleted(target: User) -> None:
    if target.status == UserStatus.DELETED:
        raise Conflict(gettext("This account is deleted."))


# --------------------------------------------------------------------------- users


@transaction.atomic
def do_disable_user(*, actor: User, user_id: object, reason: object = "", via: str = AuditVia.API) -> User:
    """Disable an account: every login session of the user is revoked and
    every socket of theirs, on every node, closes with 4403 when this commits;
    from then on login and tokens answer 403 `account_disabled` until an
    administrator enables the account again. A live call of theirs ends at
    once (`failed`, reason `account_disabled`: the other party is told).
    Audited as `user.disable`."""
    require_admin(actor)
    text = clean_reason(reason)
    target = _lock_user(user_id)
    _refuse_deleted(target)
    _check_target(actor, target, action="disable")
    if target.status == UserStatus.DISABLED:
        return target
    target.status = UserStatus.DISABLED
    target.save(update_fields=["status", "updated_at"])
    revoked = do_revoke_user_sessions(user=target, reason="disabled", close_code=CLOSE_DISABLED)
    do_end_calls_of_user(user=target, reason=REASON_ACCOUNT_DISABLED)
    # Their bots stop with them (their keys refuse while the owner is
    # disabled, and work again when the owner is enabled).
    bots = list(User.objects.filter(bot_owner=target, is_bot=True).values_list("pk", flat=True))
    if bots:
        close_sockets_on_commit(user_ids=bots, code=CLOSE_DISABLED)
    record(
        actor=actor,
        action=AuditAction.USER_DISABLE,
        target_type=AuditTargetType.USER,
        target_id=str(target.uuid),
        target_label=user_label(target),
        reason=text,
        via=via,
        metadata={"sessions_revoked": revoked},
    )
    logger.info("user %s disabled by %s", target.pk, actor.pk)
    return target


@transaction.atomic
def do_enable_user(*, actor: User, user_id: object, reason: object = "", via: str = AuditVia.API) -> User:
    """Enable a disabled account: the user may log in again (no session comes
    back: they log in afresh). Audited as `user.enable`."""
    require_admin(actor)
    text = clean_reason(reason)
    target = _lock_user(user_id)
    _refuse_deleted(target)
    if target.status == UserStatus.ACTIVE:
        return target
    target.status = UserStatus.ACTIVE
    target.save(update_fields=["status", "updated_at"])
    record(
        actor=actor,
        action=AuditAction.USER_ENABLE,
        target_type=AuditTargetType.USER,
        target_id=str(target.uuid),
        target_label=user_label(target),
        reason=text,
        via=via,
    )
    logger.info("user %s enabled by %s", target.pk, actor.pk)
    return target


@transaction.atomic
def do_set_admin(*, actor: User, user_id: object, admin: bool, reason: object = "", via: str = AuditVia.API) -> User:
    """Give (`admin=True`) or take away the administrator right.

    Giving sets `is_staff` (a superuser is already an administrator and stays
    one). Taking it away clears `is_staff` and `is_superuser`, so `is_admin`
    is false afterwards whatever the account was; only a superuser may do that
    to a superuser (`forbidden`), and nobody to themselves (`conflict`), so
    the actor always remains an administrator. The user and their contacts
    get `user.updated` (`is_admin` changed). Audited as `user.set_admin` /
    `user.unset_admin`, with the flags before the change."""
    require_admin(actor)
    text = clean_reason(reason)
    target = _lock_user(user_id)
    _refuse_deleted(target)
    before = {"is_staff": target.is_staff, "is_superuser": target.is_superuser}
    if admin:
        if target.is_admin:
            return target
        if target.is_bot:
            raise Conflict(gettext("A bot cannot be an administrator."))
        target.is_staff = True
    else:
        _check_target(actor, target, action="revoke_admin")
        if not target.is_admin:
            return target
        target.is_staff = target.is_superuser = False
    target.save(update_fields=["is_staff", "is_superuser", "updated_at"])
    announce_profile(target)
    record(
        actor=actor,
        action=AuditAction.USER_SET_ADMIN if admin else AuditAction.USER_UNSET_ADMIN,
        target_type=AuditTargetType.USER,
        target_id=str(target.uuid),
        target_label=user_label(target),
        reason=text,
        via=via,
        metadata={"before": before},
    )
    logger.info("user %s admin=%s by %s", target.pk, admin, actor.pk)
    return target


@transaction.atomic
def do_delete_user(*, actor: User, user_id: object, reason: object = "", via: str = AuditVia.API) -> User:
    """Deactivate and anonymise an account (it is never removed: messages keep
    their sender, shown as "Deleted user").

    - The User row: username and phone set to NULL (both can be taken again),
      nickname, signature and avatar wiped, the password made unusable, the
      administrator flags cleared, status `deleted`.
    - Every login session is revoked; every socket closes with 4403.
    - A live call of theirs ends (`failed`, reason `account_deleted`).
    - Contacts: the relation is removed on both sides through contacts'
      `do_delete_contact`, so each former contact gets `contact.removed`
      (the user shows as "Deleted user"); blocks either way are removed;
      pending contact requests are cancelled (sent ones) or rejected
      (received ones), and the other party gets `contact.request`.
    - Groups: in an active group the user owns, ownership passes to the
      longest-serving admin, else the longest-serving member, and then the
      user leaves; a group where the user is the only member is dismissed.
      From every other group the user leaves (groups' services: system
      messages and `group.member_removed` as for anyone leaving). A disabled
      or dismissed group the user owns keeps them as its owner (nothing can
      change in it; an administrator who enables it again should dismiss it
      or it stays without an active owner). Pending join requests are
      cancelled.
    - Their bots are deleted with them (bots' `do_delete_bot`).
    - Audited as `user.delete`; the entry keeps the username the account had
      (the audit label), with what was unwound in `metadata`.

    The row and the relations are `groups.departure`'s `anonymise` and
    `do_unwind_account`, which a bot's deletion shares."""

    require_admin(actor)
    text = clean_reason(reason)
    uid = parse_uuid(user_id)
    if uid is None:
        raise NotFound(gettext("No such user."))
    pk = User.objects.filter(uuid=uid).values_list("pk", flat=True).first()
    if pk is None:
        raise NotFound(gettext("No such user."))
    lock_with_contacts(user_pk=pk)
    target = User.objects.get(pk=pk)
    _check_target(actor, target, action="delete")
    if target.status == UserStatus.DELETED:
        return target
    label = user_label(target)

    # First the account itself, so every event below shows "Deleted user".
    anonymise(user=target)
    revoked = do_revoke_user_sessions(user=target, reason="deleted", close_code=CLOSE_DISABLED)
    # Before the contacts go (which would end it as the user's own doing).
    do_end_calls_of_user(user=target, reason=REASON_ACCOUNT_DELETED)
    unwound = do_unwind_account(user=target)
    # A person's bots go with them.
    bots = list(Bot.objects.filter(user__bot_owner=target).exclude(user__status=UserStatus.DELETED))
    for bot in bots:
        do_delete_bot(user=target, bot_id=str(bot.user.uuid))

    record(
        actor=actor,
        action=AuditAction.USER_DELETE,
        target_type=AuditTargetType.USER,
        target_id=str(target.uuid),
        target_label=label,
        reason=text,
        via=via,
        metadata={
            "sessions_revoked": revoked,
            "contacts_removed": unwound.contacts_removed,
            "blocks_removed": unwound.blocks_removed,
            "requests_closed": unwound.requests_closed,
            "groups_left": unwound.groups.left,
            "groups_transferred": unwound.groups.transferred,
            "groups_dismissed": unwound.groups.dismissed,
            "groups_kept": unwound.groups.kept,
            "join_requests_cancelled": unwound.join_requests_cancelled,
            "bots_deleted": len(bots),
        },
    )
    logger.info("user %s deleted by %s", target.pk, actor.pk)
    return target


# --------------------------------------------------------------------------- groups


@transaction.atomic
def do_set_group_status(
    *, actor: User, group_id: object, status: str, reason: object = "", via: str = AuditVia.API
) -> Group:
    """Disable, enable or dismiss any group as an administrator (groups'
    `do_admin_set_group_status`: members get `group.updated` or
    `group.dismissed`; a dismissed group cannot change any more, `conflict`).
    Audited as `group.disable` / `group.enable` / `group.dismiss`, with the
    status before the change."""
    require_admin(actor)
    text = clean_reason(reason)

    uid = parse_uuid(group_id)
    locked = Group.objects.select_for_update().filter(uuid=uid).values_list("status", flat=True) if uid else None
    before = locked.first() if locked is not None else None
    if before is None:
        raise NotFound(gettext("No such group."))
    group = do_admin_set_group_status(group_id=str(uid), status=status)
    if group.status != before:
        record(
            actor=actor,
            action=GROUP_STATUS_ACTIONS[group.status],
            target_type=AuditTargetType.GROUP,
            target_id=str(group.uuid),
            target_label=group.name,
            reason=text,
            via=via,
            metadata={"before": before},
        )
        logger.info("group %s set to %s by %s", group.pk, group.status, actor.pk)
    return group


def record_message_view(*, actor: User, message, via: str) -> AuditEntry:
    """An administrator opened a message (its text and earlier versions) in
    the back office: people's messages are read only on a report, and every
    look is on the record."""
    return record(
        actor=actor,
        action=AuditAction.MESSAGE_VIEW,
        target_type=AuditTargetType.MESSAGE,
        target_id=str(message.uuid),
        target_label=f"message {message.seq} of conversation {message.conversation.uuid}",
        via=via,
        metadata={"versions": message.versions.count(), "edited": message.edited_at is not None},
    )
