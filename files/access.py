"""Who may read a stored file, and whether anything still uses it, answered
by the apps that use files: `files` knows none of them.

- A *reader* says whether a user may read a file for its reason (a message
  in a conversation the user may read, an avatar any signed-in user may
  load). Its uploader always may.
- A *holder* says whether its app still uses a file, as a subquery on the
  file's key (`Exists(...)` over `OuterRef("pk")`): a file nothing holds may
  be deleted (a recalled message's file, uploads never sent).

Apps register theirs in AppConfig.ready(). Checked on every access, so a
change of membership takes effect at the next request.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Exists, OuterRef, Q

from files.models import File

Reader = Callable[[object, File], bool]
Holder = Callable[[OuterRef], Exists]

_readers: list[Reader] = []
_holders: list[Holder] = []


def register(*, reader: Reader | None = None, holder: Holder | None = None) -> None:
    if reader is not None and reader not in _readers:
        _readers.append(reader)
    if holder is not None and holder not in _holders:
        _holders.append(holder)


def may_read_file(*, user, file: File) -> bool:
    """Its uploader, or a signed-in user any reader lets in."""
    if not user.is_authenticated:
        return False
    if file.owner_id == user.pk:
        return True
    return any(reader(user, file) for reader in _readers)


def held() -> Q:
    """A condition on File rows: something still uses the file."""
    condition = Q(pk__in=[])
    for holder in _holders:
        condition |= Q(holder(OuterRef("pk")))
    return condition


def is_held(*, file: File) -> bool:
    """Something still uses the file. One query."""
    return File.objects.filter(pk=file.pk).filter(held()).exists()
