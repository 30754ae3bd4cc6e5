"""The error a person gets for bad input data: it names the problem, the column, counts and example rows."""

from __future__ import annotations

import pandas as pd

from neurec.errors import UserError


class DataError(UserError):
    """Bad input data. Command-line entry points print its message and exit non-zero, without a traceback."""


def examples(frame: pd.DataFrame, mask: pd.Series, n: int = 3) -> str:
    """A few offending rows, numbered as in the file (1 = first data row), for the error message."""
    rows = frame.loc[mask].head(n)
    parts = [f"row {int(i) + 1}: {dict(r)}" for i, r in zip(rows.index, rows.to_dict("records"))]
    return "; ".join(parts)
