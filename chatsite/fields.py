"""Model fields the apps share."""

from __future__ import annotations

from django.db import models


class ExactCharField(models.CharField):
    """Text compared code point by code point, on every database.

    MariaDB's default utf8mb4 collations compare many characters as equal:
    `utf8mb4_general_ci` weighs every character outside the BMP alike, so
    "😀" = "😁" and a unique key on emoji refuses the second one. This
    field asks MySQL/MariaDB for `utf8mb4_bin`; SQLite compares bytes
    already."""

    def db_parameters(self, connection):
        params = super().db_parameters(connection)
        if connection.vendor == "mysql":
            params["collation"] = "utf8mb4_bin"
        return params
