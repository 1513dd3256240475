"""Model instances from hand-written SQL, for the few hottest reads.

On this hardware the ORM spends ~0.5-1 ms of CPU compiling each query with
joins (more than MariaDB spends answering it). For a handful of queries that
run on nearly every request (authentication, the history page) we write the
SQL once and still get proper model instances: `Columns` renders a model's
column list under an alias and `Columns.load` turns its slice of a row into
an instance through the same database converters and `Model.from_db` the ORM
uses (so UUIDs, aware datetimes and JSON come out exactly as from the ORM).
"""

from __future__ import annotations

from functools import cache, cached_property

from django.db import connection
from django.db.models import Model
from django.db.models.expressions import Col


class _Columns:
    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.alias = alias
        self._pk_index = next(i for i, f in enumerate(model._meta.concrete_fields) if f.primary_key)

    @cached_property
    def fields(self) -> list:
        return [f for f in self.model._meta.concrete_fields]

    @cached_property
    def sql(self) -> str:
        q = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{q(f.column)}" for f in self.fields)

    @property
    def table(self) -> str:
        return f"{connection.ops.quote_name(self.model._meta.db_table)} {self.alias}"

    @cached_property
    def width(self) -> int:
        return len(self.fields)

    @cached_property
    def _converters(self) -> list[tuple[list, Col]]:
        out = []
        for field in self.fields:
            expression = Col(self.alias, field)
            out.append((connection.ops.get_db_converters(expression) + field.get_db_converters(connection), expression))
        return out

    def load(self, row, start: int = 0) -> Model | None:
        """The instance in row[start:start + width]; None when the row's key is NULL (an outer join that found nothing)."""
        values = list(row[start : start + self.width])
        if values[self._pk_index] is None:
            return None
        for i, (converters, expression) in enumerate(self._converters):
            value = values[i]
            for converter in converters:
                value = converter(value, expression, connection)
            values[i] = value
        return self.model.from_db(connection.alias, [f.attname for f in self.fields], values)


@cache
def Columns(model: type[Model], alias: str) -> _Columns:  # noqa: N802 (reads as a class at call sites)
    """The (cached) column list of `model` under `alias`."""
    return _Columns(model, alias)
