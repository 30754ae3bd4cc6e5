"""The item table as the rules read it: numbers as float arrays, strings as integer codes, groups as row lists.

Built once per bundle. A column the table lacks becomes its neutral value (NaN, -1, False) and is left out of
`columns`, which is what `effective_rules` reads to switch the dependent rules off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TRUE = {"true", "1", "yes", "y", "t"}


@dataclass(frozen=True)
class Catalog:
    ids: np.ndarray  # (N,) raw item ids (str objects)
    row_of: dict[str, int]
    model_idx: np.ndarray  # (N,) int64 model ids (OOV_ID: the model cannot score it)
    columns: frozenset[str]  # catalogue columns the table actually has
    price: np.ndarray  # (N,) float64, NaN unknown
    margin: np.ndarray
    stock: np.ndarray
    tier: np.ndarray
    category: np.ndarray  # (N,) int64 codes, -1 unknown
    line: np.ndarray  # product_line codes, -1 none
    complement_of: np.ndarray  # codes in the same space as `line`, so "complements line L" is an integer compare
    strategic: np.ndarray  # (N,) bool
    consumable: np.ndarray  # (N,) bool: kind == "consumable"
    by_line: dict[int, np.ndarray]  # line code -> rows of that line
    by_complement: dict[int, np.ndarray]  # line code -> rows that complement it
    by_category: dict[int, np.ndarray]

    @classmethod
    def from_items(cls, items: dict[str, np.ndarray]) -> "Catalog":
        ids = items["item_id"]
        n = len(ids)
        present = {col for col, values in items.items() if not _all_missing(values)}

        def numbers(col: str) -> np.ndarray:
            return np.asarray(items[col], dtype=np.float64) if col in items else np.full(n, np.nan)

        lines: dict[str, int] = {}  # product_line and complement_of share one code space
        line = _codes(items.get("product_line"), n, lines)
        complement_of = _codes(items.get("complement_of"), n, lines)
        category = _codes(items.get("category"), n, {})
        kind = items.get("kind")
        return cls(
            ids=ids,
            row_of={item_id: row for row, item_id in enumerate(ids.tolist())},
            model_idx=items["index"],
            columns=frozenset(present),
            price=numbers("price"),
            margin=numbers("margin"),
            stock=numbers("stock"),
            tier=numbers("tier"),
            category=category,
            line=line,
            complement_of=complement_of,
            strategic=_flags(items.get("strategic"), n),
            consumable=np.zeros(n, bool) if kind is None else np.array([k == "consumable" for k in kind], bool),
            by_line=group_rows(line),
            by_complement=group_rows(complement_of),
            by_category=group_rows(category),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: list[str]) -> np.ndarray:
        """Item-table rows of raw ids; -1 for ids the table does not hold."""
        get = self.row_of.get
        return np.fromiter((get(i, -1) for i in ids), dtype=np.int64, count=len(ids))


def _all_missing(values: np.ndarray) -> bool:
    """A column of nulls (or empty strings) carries no information: treat it as absent."""
    if values.dtype.kind == "f":
        return bool(np.isnan(values).all())
    return all(v is None or v == "" for v in values.tolist())


def _codes(values: np.ndarray | None, n: int, vocabulary: dict[str, int]) -> np.ndarray:
    """Strings to integer codes, extending `vocabulary`; None, "" and non-strings become -1."""
    if values is None:
        return np.full(n, -1, dtype=np.int64)
    out = np.full(n, -1, dtype=np.int64)
    for row, v in enumerate(values.tolist()):
        if v is None or v == "" or (isinstance(v, float) and v != v):
            continue
        out[row] = vocabulary.setdefault(str(v), len(vocabulary))
    return out


def _flags(values: np.ndarray | None, n: int) -> np.ndarray:
    """Booleans as shops spell them (true, 1, "yes"); anything else, null included, is False."""
    if values is None:
        return np.zeros(n, dtype=bool)
    return np.array([v is True or (isinstance(v, (int, float)) and v == 1) or str(v).strip().lower() in _TRUE
                     for v in values.tolist()], dtype=bool)


def group_rows(codes: np.ndarray) -> dict[int, np.ndarray]:
    """Code -> ascending rows holding it; -1 (missing) is no group."""
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    cuts = np.flatnonzero(sorted_codes[1:] != sorted_codes[:-1]) + 1
    return {int(part_codes[0]): part for part, part_codes in zip(np.split(order, cuts), np.split(sorted_codes, cuts))
            if part.size and part_codes[0] >= 0}
