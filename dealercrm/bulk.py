"""Writing many rows in one statement from arrays (the imports' batches), without Django building a model instance
and an SQL expression per row and column.

Django's ``bulk_update`` writes ``SET col = CASE WHEN id = 1 THEN … WHEN id = 2 THEN … END`` for every column: for
a thousand rows most of the time goes into building and compiling those expressions in Python (about 2 s for a
batch of 1,000 leads and their cards on the 2-core machine, most of a base-client import's batch). ``update_rows``
sends the same change as ``UPDATE … FROM unnest(arrays)``: one array per column, adapted as Django adapts the
field's value. Likewise ``bulk_create`` spends most of a lead import in Python (pre_save, adapting and compiling one
placeholder per row and column, ~114k instances for 50,000 rows): ``insert_rows`` sends ``INSERT … SELECT … FROM
unnest(arrays)``, and ``insert_history`` writes django-simple-history's rows for many objects the same way."""

from __future__ import annotations

import inspect
import re
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connections, router
from django.db.models import F, Lookup
from django.db.models.base import ModelState
from django.db.models.lookups import In
from django.utils import timezone


def _cast_type(field, connection) -> str:
    """The column's type for a cast of the values sent: a ``varchar(n)`` without its length, so that a value too
    long is refused by the column as an INSERT or UPDATE of the value itself would be (an explicit cast to
    varchar(n) truncates)."""
    return re.sub(r"^(varchar|character varying)\(\d+\)$", r"\1", field.db_type(connection))


# The field types whose values of exactly these Python types Django sends to PostgreSQL unchanged (their
# ``get_db_prep_save`` is the identity for them): such a column is sent as it is, without a call per value.
_PLAIN = {"CharField": str, "TextField": str, "IntegerField": int, "BigIntegerField": int, "SmallIntegerField": int,
          "PositiveIntegerField": int, "PositiveSmallIntegerField": int, "PositiveBigIntegerField": int,
          "AutoField": int, "BigAutoField": int, "SmallAutoField": int, "BooleanField": bool, "DateField": date,
          "DecimalField": Decimal, "DateTimeField": datetime}


_FOLDABLE = (type(None), str, int, bool, date, datetime)


def _plain_type(field) -> type | None:
    return _PLAIN.get((field.target_field if field.is_relation else field).get_internal_type())


def _element(value) -> str:
    """One value in PostgreSQL's array syntax (``_literal``); TypeError for a type it does not write."""
    kind = type(value)
    if value is None:
        return "NULL"
    if isinstance(value, str):  # a choices enum too: its characters are its value
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if kind is datetime or kind is date or kind is Decimal:
        return '"' + (value.isoformat() if kind is not Decimal else str(value)) + '"'
    raise TypeError(kind)


def _literal(values: list):
    """The values as one array literal (``{"a","b\\"c",NULL}``), sent as a single string and cast by the statement:
    psycopg quotes a Python list element by element in Python (a regex and a dumper call each, a fifth of a lead
    batch's CPU); this is one join. The list itself when a value is of another type (psycopg adapts it then).
    Two shapes of column without a call per value: text with nothing to escape (names, codes, ISO datetimes) and
    whole numbers (keys), with or without NULLs."""
    kinds = set(map(type, values))
    if kinds and all(issubclass(kind, str) for kind in kinds):
        text = '","'.join(values)
        if '"' not in text and "\\" not in text:
            return '{"' + text + '"}'
    elif kinds == {int}:
        return "{" + ",".join(map(str, values)) + "}"
    elif kinds == {int, type(None)}:
        return "{" + ",".join(["NULL" if value is None else str(value) for value in values]) + "}"
    try:
        return "{" + ",".join([_element(value) for value in values]) + "}"
    except TypeError:
        return values


def _adapted(field, values: list, connection) -> list:
    """``values`` as Django adapts them for ``field``'s column (``get_db_prep_save``), with two shortcuts: values
    already in the form Django would send are not converted one by one, and aware datetimes go as ISO text (the
    column's cast parses them; psycopg quotes a datetime ~4x slower than a string, most of a lead batch's
    quoting)."""
    plain = _plain_type(field)
    if plain is datetime:
        if all(value is None or (type(value) is datetime and value.tzinfo is not None) for value in values):
            return [None if value is None else value.isoformat() for value in values]
    elif plain is not None and set(map(type, values)) <= {plain, type(None)}:
        return values
    prep = field.get_db_prep_save
    return [prep(value, connection=connection) for value in values]


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
    arrays = ", ".join(f"%s::{_cast_type(column, connection)}[]" for column in columns)
    sql = (f"UPDATE {quote(meta.db_table)} AS t SET "
           + ", ".join(f"{name} = v.{name}" for name in names[1:])
           + f" FROM unnest({arrays}) AS v({', '.join(names)}) WHERE t.{names[0]} = v.{names[0]}")
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch_size):
            chunk = objs[start:start + batch_size]
            cursor.execute(sql, [_literal(_adapted(column, [getattr(obj, column.attname) for obj in chunk],
                                                   connection)) for column in columns])


def insert_rows(model, columns: dict[str, list], *, constants: dict | None = None, returning: bool = False,
                ignore_conflicts: bool = False, batch_size: int = 5000) -> list | None:
    """Insert one row of ``model`` per position of ``columns`` (field attname → equal-length lists of values), with
    ``constants`` (attname → value) the same in every row, as ``model.objects.bulk_create`` would insert model
    instances with those values (no ``save()``, no signals): a field given neither way takes what a new instance
    would (``auto_now`` / ``auto_now_add``: now; else the field's default), an auto primary key its sequence's next
    value. The rows go in in the lists' order; with ``returning`` the new primary keys, in that order (a model with
    other ``db_returning`` fields, such as a generated column: a tuple per row, the key first).
    ``ignore_conflicts``: ``ON CONFLICT DO NOTHING``, as ``bulk_create(ignore_conflicts=True)`` (not with
    ``returning``: the rows skipped return nothing).

    On PostgreSQL one ``INSERT … SELECT … FROM unnest(…) WITH ORDINALITY`` per ``batch_size`` rows (statement-level
    triggers see each as one statement, as they see a ``bulk_create`` batch); elsewhere ``bulk_create``."""
    if returning and ignore_conflicts:
        raise ValueError("insert_rows: returning and ignore_conflicts together cannot say which row got which key")
    columns, constants = dict(columns), dict(constants or {})
    count = len(next(iter(columns.values()))) if columns else 0
    if not count:
        return [] if returning else None
    meta = model._meta
    given = {*columns, *constants}
    fields = {f.attname: f for f in meta.concrete_fields if not getattr(f, "generated", False)}
    unknown = given - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    if any(len(values) != count for values in columns.values()):
        raise ValueError("insert_rows: the columns differ in length")
    now = timezone.now()
    for name, field in fields.items():
        if name in given or (field.primary_key and getattr(field, "db_returning", False)):
            continue
        constants[name] = now if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) \
            else field.get_default()
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(columns, values, strict=True)), **constants) for values in zip(*columns.values())]
        model.objects.bulk_create(objs, batch_size=batch_size, ignore_conflicts=ignore_conflicts)
        back = meta.db_returning_fields
        if not returning:
            return None
        return [obj.pk for obj in objs] if len(back) == 1 else [tuple(getattr(obj, f.attname) for f in back)
                                                                 for obj in objs]
    if count <= batch_size:
        # A column with one value in every row (a batch's store, author, the blank fields) is sent once. Values of
        # simple types only: two equal Decimals may differ in their digits (1.0, 1.00), which a column keeps.
        for name, values in list(columns.items()):
            first = values[0]
            if len(columns) > 1 and type(first) in _FOLDABLE and all(
                    value == first and type(value) is type(first) for value in values):
                constants[name] = first
                del columns[name]
    quote = connection.ops.quote_name
    back = [meta.pk, *(f for f in meta.db_returning_fields if not f.primary_key)]
    array_fields = [fields[name] for name in columns]
    constant_fields = [fields[name] for name in constants]
    aliases = [f"c{i}" for i in range(len(array_fields))]
    select = [f"v.{alias}" for alias in aliases] + [f"%s::{_cast_type(f, connection)}" for f in constant_fields]
    arrays = ", ".join(f"%s::{_cast_type(f, connection)}[]" for f in array_fields)
    sql = (f"INSERT INTO {quote(meta.db_table)} "
           f"({', '.join(quote(f.column) for f in array_fields + constant_fields)}) "
           f"SELECT {', '.join(select)} FROM unnest({arrays}) WITH ORDINALITY AS v({', '.join(aliases)}, n) "
           f"ORDER BY v.n" + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
           + (f" RETURNING {', '.join(quote(f.column) for f in back)}" if returning else ""))
    fixed = [f.get_db_prep_save(constants[f.attname], connection=connection) for f in constant_fields]
    ids: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, count, batch_size):
            cursor.execute(sql, [*fixed, *(_literal(_adapted(f, columns[f.attname][start:start + batch_size],
                                                             connection))
                                           for f in array_fields)])  # in the statement's order: SELECT, FROM
            if returning:
                # The keys come from the sequence in the order the rows go in (the SELECT's ORDER BY): sorted,
                # they are the rows' in the lists' order, whatever order RETURNING lists them in.
                rows = sorted(cursor.fetchall())
                ids += [row[0] for row in rows] if len(back) == 1 else rows
    return ids if returning else None


def _related_keys(obj, meta, relations: list) -> None:
    """``obj._prepare_related_fields_for_save("bulk_create")`` for the related objects cached on ``obj``
    (``relations``: the model's concrete relation fields): an unsaved one is refused, one saved since it was assigned
    gives its key, one whose key changed is dropped from the cache. The same checks, visiting only the relations
    (Django's visits every field, a fifth of a sales round's work on instances)."""
    if meta.private_fields:  # a generic foreign key: Django's own checks
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        return
    cache = obj._state.fields_cache
    for field in relations:
        if field.cache_name not in cache:
            continue
        related = cache[field.cache_name]
        if not related:
            continue
        if not related._is_pk_set():
            if not field.remote_field.multiple:
                field.remote_field.delete_cached_value(related)
            raise ValueError(f"bulk_create() prohibited to prevent data loss due to unsaved related object "
                             f"'{field.name}'.")
        if getattr(obj, field.attname) in field.empty_values:
            setattr(obj, field.name, related)
        if getattr(related, field.target_field.attname) != getattr(obj, field.attname):
            field.delete_cached_value(obj)


class _Blank:
    """What ``unsaved`` needs of a model, worked out once: each field's default, static or made per instance."""

    def __init__(self, model):
        from django.db.models import signals
        from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

        self.static: dict = {}
        self.made: list[tuple[str, object]] = []  # (attname, the field's default maker) for callable defaults
        # The constructor, when something must see the instance built (an init signal, a field whose descriptor
        # does work on assignment, as a file field's does): ``unsaved`` is then ``model(**values)``.
        self.plain = not (signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model))
        for field in model._meta.concrete_fields:
            if field.column is None or getattr(field, "generated", False):
                continue  # as ``Model.__init__``: not set, read from the database when asked
            descriptor = inspect.getattr_static(model, field.attname, None)
            if hasattr(descriptor, "__set__") and not isinstance(descriptor, ForeignKeyDeferredAttribute):
                self.plain = False
            if field.has_default() and callable(field.default):
                self.made.append((field.attname, field.get_default))
            else:
                self.static[field.attname] = field.get_default()


_BLANKS: dict[type, _Blank] = {}


def unsaved(model, values: dict, related: dict | None = None):
    """An unsaved instance of ``model``, as ``model(**values)`` makes it (``values``: attname → value; every other
    field its default; ``related``: field name → related instance, cached on it as ``model(field=instance)`` caches
    it, its key being in ``values``), built as Django unpickles an instance: ``__new__`` and the instance's dict,
    without ``__init__``. For the imports' rows: ``Model.__init__`` pops each field from its keyword arguments and
    asks each missing one for its default through the field's descriptors (~35 µs for a lead on the 2-core machine,
    ~1.5 µs so). The constructor itself while an init signal has a receiver for the model or a field's descriptor
    does work on assignment."""
    blank = _BLANKS.get(model)
    if blank is None:
        blank = _BLANKS[model] = _Blank(model)
    if not blank.plain:
        obj = model(**values)
    else:
        obj = model.__new__(model)
        obj._state = ModelState()
        state = obj.__dict__
        state.update(blank.static)
        for name, make in blank.made:
            if name not in values:
                state[name] = make()
        state.update(values)
    for name, instance in (related or {}).items():
        model._meta.get_field(name).set_cached_value(obj, instance)
    return obj


def insert_objects(objs: list, *, ignore_conflicts: bool = False, batch_size: int = 5000, now=None) -> None:
    """``bulk_create(objs)`` for unsaved instances of one model, written from arrays (``insert_rows``), leaving the
    instances as ``bulk_create`` does: related objects saved since they were assigned give their keys, ``auto_now``
    / ``auto_now_add`` fields are now (``now``: that moment instead, for rows the caller dates with it elsewhere), and
    (without ``ignore_conflicts``) each instance has its primary key and other returned columns (a generated one),
    and is in the database."""
    if not objs:
        return
    model = type(objs[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    now = now or timezone.now()
    fields = [f for f in meta.concrete_fields if not getattr(f, "generated", False)
              and not (f.primary_key and getattr(f, "db_returning", False))]
    stamped = [f.attname for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
    relations = [f for f in meta.concrete_fields if f.is_relation]
    for obj in objs:
        _related_keys(obj, meta, relations)
        for name in stamped:
            setattr(obj, name, now)
    back = [meta.pk, *(f for f in meta.db_returning_fields if not f.primary_key)]
    returned = insert_rows(model, {f.attname: [getattr(obj, f.attname) for obj in objs] for f in fields},
                           returning=not ignore_conflicts, ignore_conflicts=ignore_conflicts, batch_size=batch_size)
    for n, obj in enumerate(objs):
        if returned is not None:
            values = returned[n] if len(back) > 1 else (returned[n],)
            for field, value in zip(back, values, strict=True):
                setattr(obj, field.attname, value)
        obj._state.adding, obj._state.db = False, connection.alias


def insert_history(model, objs: list, *, history_type: str, user_id: int | None, change_reason: str | None = None,
                   overrides: dict[str, list] | None = None) -> None:
    """django-simple-history's rows for ``objs`` (instances of ``model``, saved), as
    ``model.history.bulk_history_create(objs, update=history_type == "~", default_user=…,
    default_change_reason=…)`` writes them (each object's tracked fields, now as the history date), from arrays
    (``insert_rows``). ``overrides``: tracked field attname → a value per object, for a row that records an object
    as it was before a later change in the same batch."""
    if not objs or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return
    history = model.history.model
    overrides = overrides or {}
    columns = {field.attname: overrides[field.attname] if field.attname in overrides
               else [getattr(obj, field.attname) for obj in objs] for field in history.tracked_fields}
    insert_rows(history, columns, constants={
        "history_date": timezone.now(), "history_type": history_type, "history_user_id": user_id,
        "history_change_reason": change_reason})


class AnyOf(Lookup):
    """``column = ANY(array)``: ``column IN (…)`` with the values as one array parameter. Django compiles ``__in``
    with a placeholder per value, each value prepared and then quoted by psycopg and the statement split again per
    execution: for the look-ups of an import round (hundreds of ids, phones or VINs each, ~95,000 values for 5,000
    sales) that was a tenth of the sales import's CPU. The values as ``__in`` takes them; none: no rows, and no query,
    as ``__in``. Elsewhere than on PostgreSQL it is ``__in``. Use through ``any_of``."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        values = list(self.rhs)
        if not values:
            raise EmptyResultSet
        if connection.vendor != "postgresql":
            return In(self.lhs, values).as_sql(compiler, connection)
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        array = _literal(_adapted(field, values, connection))
        return f"{lhs_sql} = ANY(%s::{_cast_type(field, connection)}[])", (*lhs_params, array)


def any_of(name: str, values) -> AnyOf:
    """A filter ``name = ANY(values)`` (``AnyOf``): ``queryset.filter(any_of("phone", phones))`` selects what
    ``filter(phone__in=phones)`` selects."""
    return AnyOf(F(name), list(values))


# A bulk rewrite of this many rows leaves the table's pages full of dead row versions and its statistics stale:
# the writer tidies up rather than leaving the next readers to wait for autovacuum.
TIDY_AFTER = 10_000
# A long drain (the nightly jobs' marks: millions at two million leads) vacuums and analyses its marks table every so
# many removed marks, not only at its end: the readers' probes of the marks walked every removed one meanwhile (a group
# dashboard's ladder read ran ten minutes beside the nightly reconciliation, 2.5M dead marks).
TIDY_MARKS_EVERY = 20_000


def tidy_marks_meanwhile(table: str, *, removed: int, just_removed: int, using: str = "default") -> None:
    """A drain's call after each batch: tidy its marks table each time the marks it has removed so far (``removed``,
    of which ``just_removed`` by the last batch) pass another ``TIDY_MARKS_EVERY``."""
    if removed // TIDY_MARKS_EVERY > (removed - just_removed) // TIDY_MARKS_EVERY:
        tidy([table], using=using)


def tidy(tables: list[str], *, vacuum: bool = True, using: str = "default") -> None:
    """``VACUUM (ANALYZE)`` the tables after a bulk rewrite (PostgreSQL): the dead row versions a delete-and-insert
    left go (an index range over 300k live rows had walked 1.2M dead ones: 170 ms instead of 2 ms) and the planner
    sees the table as it is. ``vacuum`` False, or inside a transaction (where VACUUM cannot run): ANALYZE only."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    command = "VACUUM (ANALYZE)" if vacuum and not connection.in_atomic_block else "ANALYZE"
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"{command} {connection.ops.quote_name(table)}")
