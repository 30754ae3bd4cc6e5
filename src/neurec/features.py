"""History encoding shared by training and serving, so both feed the model exactly the same numbers.

numpy only: `neurec.serving` imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurec.schema import GAP_FIRST, GAP_PAD, N_GAP_BUCKETS, PAD_ID, EventType


def gap_buckets(timestamps_s: np.ndarray) -> np.ndarray:
    """Bucket the time since the previous event of one history window.

    The first event of the window has no predecessor (GAP_FIRST); after that a log2 scale in seconds, because
    "seconds apart" (same page visit) and "days apart" (a new intent) matter, not the exact count.
    """
    ts = np.asarray(timestamps_s, dtype=np.float64)
    out = np.full(ts.shape, GAP_FIRST, dtype=np.int64)
    if ts.size > 1:
        out[1:] = bucket_of_gap(np.diff(ts))
    return out


def bucket_of_gap(gap_s: np.ndarray) -> np.ndarray:
    """Gap in seconds to its bucket (any shape). Out-of-order logs count as simultaneous, not negative."""
    gaps = np.clip(np.asarray(gap_s, dtype=np.float64), 0.0, None)
    return np.minimum(2 + np.floor(np.log2(1.0 + gaps)).astype(np.int64), N_GAP_BUCKETS - 1)


@dataclass(frozen=True)
class History:
    """One customer's encoded history window, oldest first, unpadded."""

    items: np.ndarray  # (L,) int64 model ids
    types: np.ndarray  # (L,) int64 EventType values
    gaps: np.ndarray  # (L,) int64 gap buckets

    def __len__(self) -> int:
        return int(self.items.shape[0])


def encode_history(item_idx: np.ndarray, event_types: np.ndarray, timestamps_s: np.ndarray, max_len: int) -> History:
    """Keep the newest `max_len` events (inputs must be in time order) and bucket gaps within that window."""
    item_idx = np.asarray(item_idx, dtype=np.int64)[-max_len:]
    types = np.asarray(event_types, dtype=np.int64)[-max_len:]
    ts = np.asarray(timestamps_s, dtype=np.float64)[-max_len:]
    if not (item_idx.shape == types.shape == ts.shape):
        raise ValueError("history items, event types and timestamps must have the same length")
    if types.size and (types.min() < EventType.VIEW or types.max() > EventType.PURCHASE):
        raise ValueError("history event types must be view, add_to_cart or purchase")
    return History(items=item_idx, types=types, gaps=gap_buckets(ts))


def pad_histories(histories: list[History], length: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left-pad histories to one length, so the newest event is always the last position: (B, L) x 3.

    An empty history still gets one padded position; the model lets every position attend to itself, so
    that row stays finite.
    """
    length = max([len(h) for h in histories] + [1]) if length is None else length
    batch = len(histories)
    items = np.full((batch, length), PAD_ID, dtype=np.int64)
    types = np.full((batch, length), EventType.PAD, dtype=np.int64)
    gaps = np.full((batch, length), GAP_PAD, dtype=np.int64)
    for row, h in enumerate(histories):
        n = min(len(h), length)
        if n:
            items[row, length - n :] = h.items[-n:]
            types[row, length - n :] = h.types[-n:]
            gaps[row, length - n :] = h.gaps[-n:]
    return items, types, gaps
