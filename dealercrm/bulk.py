"""Writing many rows' changed columns in one statement (the imports' batches).

Django's ``bulk_update`` writes ``SET col = CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END`` for every column: for
a thousand rows most of the time goes into building and compiling those expressions in Python (about 2 s for a
batch of 1,000 leads and their cards on the 2-core machine, most of a base-client import's batch). ``update_rows``
sends the same change as ``UPDATE … FROM unnest(arrays)``: one array per column, adapted as Django adapts the
field's value."""

from __future__ import annotations

from django.db import connections, router


def update_rows(model, objs: list, fields: list[str] | tuple[str, ...], *, batch_size: int = 2000) -> None:
    """Set ``fields`` of each of ``objs`` (saved rows) to the objects' values, as ``model.objects.bulk_update`` does
    (no ``auto_now``, no signals): on PostgreSQL one ``UPDATE … FROM unnest(…)`` per ``batch_size`` rows."""
    if not objs or not fields:
        return
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, list(fields), batch_size=batch_size)
        return
    meta = model._meta
    columns = [meta.pk, *(meta.get_field(name) for name in fields)]
    quote = connection.ops.quote_name
    names = [quote(column.column) for column in columns]
    arrays = ", ".join(f"%s::{column.db_type(connection)}[]" for column in columns)
    sql = (f"UPDATE {quote(meta.db_table)} AS t SET "
           + ", ".join(f"{name} = v.{name}" for name in names[1:])
           + f" FROM unnest({arrays}) AS v({', '.join(names)}) WHERE t.{names[0]} = v.{names[0]}")
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start:start + batch_size]
            cursor.execute(sql, [[column.get_db_prep_save(getattr(obj, column.attname), connection=connection)
                                  for obj in chunk] for column in columns])
