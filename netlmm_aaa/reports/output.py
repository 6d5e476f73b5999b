"""Report tables as aligned text, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from netlmm_aaa.printable import printable
from netlmm_aaa.reports.queries import Table

FORMATS = ("table", "csv", "json")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return printable(str(value))


def render(tables: list[Table], fmt: str) -> str:
    """The tables in ``fmt`` (``table``, ``csv`` or ``json``)."""
    if fmt == "json":
        return json.dumps(
            {t.title: [dict(zip(t.columns, row, strict=True)) for row in t.rows] for t in tables},
            indent=2,
            default=str,
        )
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for i, t in enumerate(tables):
            if i:
                out.write("\n")
            writer.writerow([f"# {t.title}"])
            writer.writerow(t.columns)
            writer.writerows([["" if v is None else v for v in row] for row in t.rows])
        return out.getvalue().rstrip("\n")
    parts = []
    for t in tables:
        cells = [[_cell(v) for v in row] for row in t.rows]
        widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(t.columns)]
        lines = [t.title, "  ".join(c.ljust(w) for c, w in zip(t.columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
        if not cells:
            lines.append("(none)")
        parts.append("\n".join(line.rstrip() for line in lines))
    return "\n\n".join(parts)
