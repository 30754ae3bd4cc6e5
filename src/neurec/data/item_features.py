"""Item side features from the catalogue, as integer ids per model item: what lets the model score an item it never
saw in training, and relate items it did see (same category, same product line, an accessory of a line).

Value vocabularies come from the catalogue, not from events, so they carry no label information. 0 = unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from neurec.schema import ITEM_ID
from neurec.vocab import ItemVocab

# complement_of names a product line, so it shares product_line's values: "accessory of the line you looked at"
# becomes an equality between the candidate's complement_of and a history item's product_line.
SHARED_VALUES = {"complement_of": "product_line"}
PRICE_STEP = 1.5  # price buckets 50 % wide: coarse enough to generalise, fine enough to tell tiers apart


@dataclass(frozen=True)
class ItemFeatures:
    names: tuple[str, ...]
    ids: np.ndarray  # (n_features, n_items) int64, 0 = unknown
    sizes: tuple[int, ...]  # embedding table size per feature, 0 included


def price_bucket(price: pd.Series) -> pd.Series:
    p = pd.to_numeric(price, errors="coerce").astype("float64")
    p = p.where(np.isfinite(p) & (p > 0))  # validation makes such prices unknown; a bucket never overflows
    bucket = 1 + np.floor(np.log1p(p) / np.log(PRICE_STEP))
    return bucket.astype("Int64").astype("string")


def _column(catalog: pd.DataFrame, name: str) -> pd.Series | None:
    if name == "price_bucket":
        return price_bucket(catalog["price"]) if "price" in catalog.columns else None
    if name not in catalog.columns:
        return None
    values = catalog[name].astype("string").str.strip()
    return values.where(values.notna() & values.ne(""))


def build_item_features(catalog: pd.DataFrame, vocab: ItemVocab, names: list[str]) -> ItemFeatures:
    """Ids for every feature in `names` the catalogue has; features it lacks are left out (never invented)."""
    rows = vocab.encode(catalog[ITEM_ID].to_numpy())
    columns = {n: c for n in names if (c := _column(catalog, n)) is not None}
    value_ids: dict[str, dict[str, int]] = {}
    for name, col in columns.items():
        key = SHARED_VALUES.get(name, name)
        table = value_ids.setdefault(key, {})
        for value in sorted(col.dropna().unique()):
            table.setdefault(value, len(table) + 1)
    kept = tuple(columns)
    ids = np.zeros((len(kept), len(vocab)), dtype=np.int64)
    for f, name in enumerate(kept):
        table = value_ids[SHARED_VALUES.get(name, name)]
        mapped = columns[name].map(table).fillna(0).astype(np.int64).to_numpy()
        ok = rows >= 2
        ids[f, rows[ok]] = mapped[ok]
    sizes = tuple(len(value_ids[SHARED_VALUES.get(n, n)]) + 1 for n in kept)
    return ItemFeatures(kept, ids, sizes)
