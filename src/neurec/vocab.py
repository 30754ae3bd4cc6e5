"""Item vocabulary: raw shop item ids (as strings) to contiguous model ids, fit on the training period only."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from neurec.schema import N_RESERVED_IDS, OOV_ID, PAD_ID


def normalize_id(value: object) -> str:
    """One spelling per id, whatever the file format: 42, 42.0, "42" and np.int64(42) all become "42"."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value)


class ItemVocab:
    """Ids 0 and 1 are reserved (padding, unknown); then the items seen in training, most frequent first; then
    catalogue items never seen in training (they get a model id so side features can still score them)."""

    def __init__(self, items: list[str], n_trained: int | None = None):
        self._items = list(items)
        self._index = {item: i + N_RESERVED_IDS for i, item in enumerate(self._items)}
        if len(self._index) != len(self._items):
            raise ValueError("vocabulary items must be unique")
        self.n_trained = len(self._items) if n_trained is None else int(n_trained)

    @classmethod
    def fit(cls, item_ids: Iterable[object], min_count: int = 1, catalog_only: Iterable[object] = ()) -> "ItemVocab":
        return cls.from_counts(Counter(normalize_id(x) for x in item_ids), min_count, catalog_only)

    @classmethod
    def from_counts(cls, counts: dict[str, int], min_count: int = 1, catalog_only: Iterable[object] = ()) -> "ItemVocab":
        """From training-period event counts per (normalised) item id, counted wherever they were: `fit` counts
        in memory, out-of-core preparation in a database."""
        # Frequency order keeps hot items together in the embedding table; the id breaks ties deterministically.
        ordered = sorted((item for item, c in counts.items() if c >= min_count), key=lambda i: (-counts[i], i))
        known = set(ordered)
        extra = sorted({normalize_id(x) for x in catalog_only} - known)
        return cls(ordered + extra, n_trained=len(ordered))

    @property
    def trained_end(self) -> int:
        """First model id of the catalogue-only items: training samples negatives below it."""
        return N_RESERVED_IDS + self.n_trained

    def __len__(self) -> int:
        """Size of the embedding table, reserved ids included."""
        return len(self._items) + N_RESERVED_IDS

    @property
    def items(self) -> list[str]:
        return list(self._items)

    def __contains__(self, item: object) -> bool:
        return normalize_id(item) in self._index

    def encode(self, item_ids: Iterable[object]) -> np.ndarray:
        """Raw ids to model ids; unknown items map to OOV_ID."""
        get = self._index.get
        return np.fromiter((get(normalize_id(x), OOV_ID) for x in item_ids), dtype=np.int64)

    def decode(self, idx: Iterable[int]) -> list[str | None]:
        """Model ids back to raw ids; reserved ids decode to None."""
        out: list[str | None] = []
        for i in idx:
            i = int(i)
            out.append(self._items[i - N_RESERVED_IDS] if i >= N_RESERVED_IDS and i < len(self) else None)
        return out

    def to_json(self) -> str:
        return json.dumps({"pad_id": PAD_ID, "oov_id": OOV_ID, "n_trained": self.n_trained, "items": self._items}, separators=(",", ":"))

    def sha256(self) -> str:
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "ItemVocab":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("pad_id") != PAD_ID or data.get("oov_id") != OOV_ID or not isinstance(data.get("items"), list):
            raise ValueError(f"{path}: not an item vocabulary written by this version of neurec")
        return cls([str(x) for x in data["items"]], data.get("n_trained"))
