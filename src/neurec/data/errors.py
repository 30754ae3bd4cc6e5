"""The error a person gets for bad input data: it names the problem, the column, counts and example rows."""

from __future__ import annotations

import pandas as pd

from neurec.errors import UserError


class DataError(UserError):
    """Bad input data. Command-line entry points print its message and exit non-zero, without a traceback."""


def shorten(value: object, limit: int = 60) -> object:
    """A value as a message shows it: a 10 MB id must not become a 10 MB message."""
    if isinstance(value, (str, bytes)) and len(value) > limit:
        return f"{value[: limit - 20]!r}... ({len(value):,} characters)"
    return value


def examples(frame: pd.DataFrame, mask: pd.Series, n: int = 3) -> str:
    """A few offending rows, numbered as in the file (1 = first data row), for the error message."""
    rows = frame.loc[mask].head(n)
    parts = [f"row {int(i) + 1}: { {k: shorten(v) for k, v in r.items()} }" for i, r in zip(rows.index, rows.to_dict("records"))]
    return "; ".join(parts)
