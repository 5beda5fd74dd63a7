"""Hot read queries compiled once, then run with new parameter values.

Building a queryset and compiling it to SQL costs more Python time than a
small indexed query costs PostgreSQL. A query whose shape never changes (the
product page's gallery, features and sizes by product id) is compiled by the
ORM once per database connection vendor and afterwards executed directly, its
rows returned as dicts keyed by the `.values()` names.

Rows go through the same per-field converters the ORM would apply (decimals,
booleans and datetimes need them on SQLite), so a prepared query returns
exactly what its `.values()` queryset returns.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.db import connections, router
from django.db.models import QuerySet

_INT_SENTINEL = -2_000_000_011
_TEXT_SENTINEL = "\x00prepared\x00"


class PreparedValues:
    """`build(*shape, **params)` → a `.values()` queryset; call the instance with the real values.

    Parameters are integers or strings; each is passed to `build` as a sentinel
    the compiled SQL's parameter list is searched for, so the ORM still writes
    the SQL (quoting, joins, vendor syntax) and only the values change.
    `shape` (hashable: an ordering, a slice's bounds) changes the SQL itself:
    each shape is compiled once, and the `MAX_SHAPES` most recently used are kept.
    """

    MAX_SHAPES = 256

    def __init__(self, build: Callable[..., QuerySet], *, ints: tuple[str, ...] = (), texts=()):
        self.build = build
        self.sentinels: dict[str, Any] = {
            **{name: _INT_SENTINEL - index for index, name in enumerate(ints)},
            **{name: f"{_TEXT_SENTINEL}{name}" for name in texts},
        }
        self._compiled: OrderedDict[tuple, tuple] = OrderedDict()
        self._model = None  # the queryset's model, for the router

    def _compile(self, using: str, shape: tuple):
        queryset = self.build(*shape, **self.sentinels).using(using)
        compiler = queryset.query.get_compiler(using=using)
        sql, params = compiler.as_sql()
        by_sentinel = {value: name for name, value in self.sentinels.items()}
        slots = [(by_sentinel.get(param), param) for param in params]
        missing = set(self.sentinels) - {name for name, _ in slots if name}
        if missing:  # a parameter that did not reach the SQL as a bound value
            raise ValueError(f"PreparedValues: {sorted(missing)} not bound in {sql}")
        converters = list(compiler.get_converters([col for col, _, _ in compiler.select]).items())
        return sql, slots, converters

    def __call__(
        self, using: str | None = None, shape: tuple = (), **values
    ) -> list[dict[str, Any]]:
        if using is None:  # as the ORM: the replica inside a replica scope (main/db_router.py)
            if self._model is None:
                self._model = self.build(*shape, **self.sentinels).model
            using = router.db_for_read(self._model)
        connection = connections[using]
        key = (using, connection.vendor, shape)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._compiled[key] = self._compile(using, shape)
            while len(self._compiled) > self.MAX_SHAPES:  # the least recently used goes
                self._compiled.popitem(last=False)
        else:
            self._compiled.move_to_end(key)
        sql, slots, converters = compiled
        params = [values[name] if name else param for name, param in slots]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        if converters:
            rows = [list(row) for row in rows]
            for row in rows:
                for index, (functions, expression) in converters:
                    value = row[index]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[index] = value
        return [dict(zip(names, row, strict=True)) for row in rows]
