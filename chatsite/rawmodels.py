"""Model instances from hand-written SQL, for the few hottest reads.

On this hardware the ORM spends ~0.5-1 ms of CPU compiling each query with
joins (more than MariaDB spends answering it). For a handful of queries that
run on nearly every request (authentication, the history page) we write the
SQL once and still get proper model instances: `Columns` renders a model's
column list under an alias and `Columns.load` turns its slice of a row into
an instance through the same database converters the ORM uses (so UUIDs,
aware datetimes and JSON come out exactly as from the ORM).

The instance is made as `Model.from_db` makes it, less its per-field
`__init__` work: the values go straight into the instance's `__dict__` (where
`__init__` would put them through each field's descriptor, and a fresh
instance has nothing cached for a descriptor to clear) and `_state` says it
came from the database. Only for a model that has no `__init__` of its own and
no `pre_init`/`post_init` receivers (an `ImageField` would connect one); any
other goes through `from_db`. Making a history page's 51 messages takes a
third of the time it took through `from_db` (0.5 against 1.5-1.8 ms).
"""

from __future__ import annotations

from functools import cache, cached_property

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.expressions import Col
from django.db.models.signals import post_init, pre_init


def _plain(model: type[Model]) -> bool:
    """Whether an instance of `model` may be made without `__init__` (see the
    module docstring); asked at first use (and kept), when every model's
    fields have connected their receivers."""
    return model.__init__ is Model.__init__ and not pre_init.has_listeners(model) and not post_init.has_listeners(model)


class _Columns:
    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.alias = alias
        self._pk_index = next(i for i, f in enumerate(model._meta.concrete_fields) if f.primary_key)

    @cached_property
    def fields(self) -> list:
        return [f for f in self.model._meta.concrete_fields]

    @cached_property
    def plain(self) -> bool:
        return _plain(self.model)

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
    def attnames(self) -> list[str]:
        return [f.attname for f in self.fields]

    @cached_property
    def _converters(self) -> list[tuple[int, list, Col, bool]]:
        """(index, converters, expression, keeps_none) of each field that has
        converters. `keeps_none`: its converters turn NULL into None (Django's
        all do; asked once, here), so a NULL skips them: a message row has
        half a dozen NULL columns that would each call one for nothing."""
        out = []
        for i, field in enumerate(self.fields):
            expression = Col(self.alias, field)
            converters = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
            if converters:
                keeps_none = all(converter(None, expression, connection) is None for converter in converters)
                out.append((i, converters, expression, keeps_none))
        return out

    def load(self, row, start: int = 0) -> Model | None:
        """The instance in row[start:start + width]; None when the row's key is NULL (an outer join that found nothing)."""
        if row[start + self._pk_index] is None:
            return None
        values = list(row[start : start + self.width])
        for i, converters, expression, keeps_none in self._converters:
            value = values[i]
            if value is None and keeps_none:
                continue
            for converter in converters:
                value = converter(value, expression, connection)
            values[i] = value
        if not self.plain:
            return self.model.from_db(connection.alias, self.attnames, values)
        instance = self.model.__new__(self.model)
        instance.__dict__.update(zip(self.attnames, values, strict=True))
        state = instance._state = ModelState()
        state.adding = False
        state.db = DEFAULT_DB_ALIAS  # `connection` is the default database's
        return instance


class _New:
    """Unsaved instances of one model, made as `Model(**values)` makes them,
    less its per-field work: the fields' defaults (a callable one called
    only for a field not given), then the values, into `__dict__`. The
    store step makes one per message (40 against 8 µs each here)."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        fields = model._meta.concrete_fields
        self.attnames = frozenset(f.attname for f in fields)
        self.static = {f.attname: f.get_default() for f in fields if not (f.has_default() and callable(f.default))}
        self.made = [(f.attname, f.default) for f in fields if f.has_default() and callable(f.default)]

    @cached_property
    def plain(self) -> bool:
        return _plain(self.model)

    def __call__(self, values: dict) -> Model:
        if not self.attnames.issuperset(values):
            raise TypeError(f"not columns of {self.model.__name__}: {sorted(set(values) - self.attnames)}")
        if not self.plain:
            return self.model(**values)
        instance = self.model.__new__(self.model)
        instance._state = ModelState()
        fresh = instance.__dict__
        fresh.update(self.static)
        for name, default in self.made:
            if name not in values:
                fresh[name] = default()
        fresh.update(values)
        return instance


@cache
def new_instance_of(model: type[Model]) -> _New:
    """`new_instance_of(Model)({attname: value, ...})`: an unsaved instance
    (by column attribute names only: `conversation_id`, not `conversation`)."""
    return _New(model)


def set_related(instance: Model, name: str, value: Model | None) -> None:
    """Put the object of the foreign key `name` in the instance's cache, as
    `instance.<name> = value` would for the object its id column names
    already (without the descriptor's checks: the id came from the same row)."""
    instance._state.fields_cache[name] = value


@cache
def Columns(model: type[Model], alias: str) -> _Columns:  # noqa: N802 (reads as a class at call sites)
    """The (cached) column list of `model` under `alias`."""
    return _Columns(model, alias)
