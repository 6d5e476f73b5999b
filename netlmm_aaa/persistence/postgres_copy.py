"""PostgreSQL COPY of report rows: binary, so the server parses no text (timestamps above all)
and the driver's C dumpers format the rows; a table whose rows do not fit the binary form of
its columns is written as text COPY from then on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, LargeBinary, String

from netlmm_aaa.persistence.models import Base
from netlmm_aaa.persistence.report_rows import Row


class BinaryCopyRefused(Exception):
    """A row did not fit the binary COPY of its table (a value of another Python type than its
    column's, or an integer out of range); the transaction is rolled back and written again."""


_BINARY_TYPES: dict[tuple[str, tuple[str, ...]], tuple[list[str], tuple[int, ...]]] = {}


def _binary_copy_types(table: str, columns: tuple[str, ...]) -> tuple[list[str], tuple[int, ...]]:
    """The PostgreSQL type of each column for a binary COPY (from the models), and the
    positions of the ``integer`` columns. Strings go as ``text``, which is also the binary
    form of ``varchar`` and ``json``."""
    known = _BINARY_TYPES.get((table, columns))
    if known is None:
        types: list[str] = []
        for name in columns:
            kind = Base.metadata.tables[table].columns[name].type
            if isinstance(kind, DateTime):
                types.append("timestamptz" if kind.timezone else "timestamp")
            elif isinstance(kind, BigInteger):
                types.append("int8")
            elif isinstance(kind, Integer):
                types.append("int4")
            elif isinstance(kind, Float):
                types.append("float8")
            elif isinstance(kind, Boolean):
                types.append("bool")
            elif isinstance(kind, LargeBinary):
                types.append("bytea")
            elif isinstance(kind, String | JSON):  # Text is a String
                types.append("text")
            else:
                raise TypeError(f"no binary COPY type for {table}.{name} ({kind})")
        int4 = tuple(i for i, t in enumerate(types) if t == "int4")
        known = _BINARY_TYPES[(table, columns)] = (types, int4)
    return known


def copy_rows(
    cursor: Any, table: str, columns: tuple[str, ...], rows: list[Row], text_copy: set[str]
) -> None:
    """COPY ``rows`` into ``table`` (psycopg 3 cursor). ``text_copy``: the tables already known
    not to fit a binary COPY; a table found not to fit is added and :class:`BinaryCopyRefused`
    raised (the caller rolls back and writes the batch again)."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    if table in text_copy:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    try:
        types, int4 = _binary_copy_types(table, columns)
        # The binary int4 dumper keeps the low 32 bits of a larger integer (text COPY is
        # refused by the server instead): check the range first.
        for row in rows:
            for i in int4:
                value = row[i]
                if value is not None and not -2147483648 <= value <= 2147483647:
                    raise OverflowError(f"{columns[i]} = {value!r} is out of range")
        with cursor.copy(sql + " (FORMAT BINARY)") as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)
    except (TypeError, ValueError, OverflowError) as exc:
        text_copy.add(table)
        raise BinaryCopyRefused(f"{table}: {exc}") from exc
