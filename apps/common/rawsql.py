"""Model instances from hand-written SQL, for the few reads too hot to pay for ORM query compiling.

Compiling a queryset costs far more CPU than running it when the query is a primary-key or unique-key
lookup: `ApiKey.objects.select_related("service_account__user").filter(prefix=...)` takes about a
millisecond to compile and a tenth of that to run. Authentication and the gate run such lookups on
every request, so they write the SQL once and build instances here.

`columns(Model, "alias")` lists a model's concrete columns for a SELECT; `instances(row, [...])` cuts a
fetched row into instances of the models in the same order, converting each value the way the ORM
would (e.g. SQLite's text datetimes and JSON), so the instances are indistinguishable from ORM ones.
`insert(instance)` writes one with a cached INSERT; `pipelined()` sends several statements in one
round trip.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model

# Per database connection: each field's converters (what the ORM applies to a fetched value) and each
# model's INSERT statement.
_per_connection: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def columns(model: type[Model], alias: str) -> str:
    """`alias."col1", alias."col2", ...` for every concrete field of `model`, in field order."""
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def _field_converters(connection, field: Field) -> tuple:
    """(the column expression, its converters) as the ORM would apply them on this connection."""
    per_connection = _per_connection.setdefault(connection, {})
    key = (field.model._meta.label, field.attname)
    found = per_connection.get(key)
    if found is None:
        expression = field.get_col(field.model._meta.db_table)
        found = per_connection[key] = (expression, [
            *connection.ops.get_db_converters(expression), *expression.get_db_converters(connection)
        ])
    return found


def instances(row: Sequence, models: Sequence[type[Model]], *, using: str = DEFAULT_DB_ALIAS) -> list[Model]:
    """Instances of `models` from consecutive slices of `row` (each slice = `columns(model)`)."""
    connection = connections[using]
    width = sum(len(model._meta.concrete_fields) for model in models)
    if width != len(row):
        raise ValueError(f"The row has {len(row)} columns; the models take {width}.")
    built = []
    position = 0
    for model in models:
        fields = model._meta.concrete_fields
        values = []
        for field in fields:
            value = row[position]
            position += 1
            expression, converters = _field_converters(connection, field)
            for converter in converters:
                value = converter(value, expression, connection)
            values.append(value)
        built.append(model.from_db(connection.alias, [field.attname for field in fields], values))
    return built


def insert(instance: Model, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """INSERTs a new `instance` whose primary key is already set (e.g. a UUID), with one prepared SQL
    string per model instead of the ORM's per-save compiling. Values are prepared as `save()` would
    (`pre_save`, `get_db_prep_save`); no signals are sent, so use it only for models without receivers."""
    connection = connections[using]
    meta = instance._meta
    if instance.pk is None:
        raise ValueError(f"rawsql.insert needs the primary key of the {meta.verbose_name} set in Python.")
    fields = meta.concrete_fields
    key = (meta.label, "insert")
    per_connection = _per_connection.setdefault(connection, {})
    sql = per_connection.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        sql = per_connection[key] = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
    instance._state.adding = False
    instance._state.db = using


@contextmanager
def pipelined(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Statements executed inside are sent together and answered in one round trip (psycopg's pipeline
    mode on PostgreSQL); fetch their rows after the block. Elsewhere (SQLite) it does nothing.

    PostgreSQL runs them in order: a `set_config(..., true)` sent first applies to those after it. An
    error in one fails the block (PostgreSQL skips the statements after it) as a Django DatabaseError.
    Psycopg sends a transaction's BEGIN on its own round trip, so inside a transaction the block saves
    round trips from its second statement on."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    connection.ensure_connection()
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield
