"""A user with their avatar, for the hand-written queries that render users
(a session's holder, message senders): the columns, the avatar's join and the
loading live here once (chatsite.rawmodels explains why such queries exist)."""

from __future__ import annotations

from functools import cache

from django.db import connection

from accounts.models import User
from chatsite.rawmodels import Columns, set_related
from files.models import File


class _UserWithAvatar:
    def __init__(self, alias: str) -> None:
        self.user = Columns(User, alias)
        self.avatar = Columns(File, f"{alias}_avatar")
        self.alias = alias

    @property
    def sql(self) -> str:
        """The user's columns, then the avatar's."""
        return f"{self.user.sql}, {self.avatar.sql}"

    @property
    def width(self) -> int:
        return self.user.width + self.avatar.width

    def join(self, on: str) -> str:
        """`JOIN`s that bring the user whose id is `on`, and their avatar."""
        return f"LEFT JOIN {self.user.table} ON {self.alias}.id = {on} {self.avatar_join}"

    @property
    def avatar_join(self) -> str:
        """The avatar's `JOIN`, for a query whose FROM is the user table itself."""
        return f"LEFT JOIN {self.avatar.table} ON {self.avatar.alias}.id = {self.alias}.avatar_id"

    def load(self, row, start: int = 0) -> User | None:
        user = self.user.load(row, start)
        if user is not None:
            set_related(user, "avatar", self.avatar.load(row, start + self.user.width))
        return user

    def by_id(self, ids: set[int]) -> dict[int, User]:
        """The users with these ids and their avatars, in one query."""
        if not ids:
            return {}
        sql = (
            f"SELECT {self.sql} FROM {self.user.table} {self.avatar_join} "
            f"WHERE {self.alias}.id IN ({', '.join(['%s'] * len(ids))})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, list(ids))
            rows = cursor.fetchall()
        users = (self.load(row) for row in rows)
        return {user.pk: user for user in users if user is not None}


@cache
def UserWithAvatar(alias: str = "u") -> _UserWithAvatar:  # noqa: N802 (reads as a class at call sites)
    return _UserWithAvatar(alias)
